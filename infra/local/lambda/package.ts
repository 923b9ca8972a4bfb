/**
 * The package the sandbox runs, in a folder nobody else writes to. Every `sls package` deletes the
 * repository's `.serverless/` (osls's temp-dir cleanup), and other tests package the stack while the lambda
 * tests run; so the zips are packaged into (or copied to) a private folder once, and read from there.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TEMPLATE_FILE } from './template.ts';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface PreparedPackage {
  readonly dir: string;
  cleanup(): Promise<void>;
}

/**
 * `from` (e.g. DIDIT_LAMBDA_PACKAGE_DIR) copied to a private folder, or, without it, a fresh
 * `sls package --stage build` (arm64 zips, sodium-native installed as for a deployment) into one.
 */
export async function preparePackage(from: string | undefined, log: (line: string) => void = () => {}): Promise<PreparedPackage> {
  const dir = await mkdtemp(join(tmpdir(), 'didit-lambda-package-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    if (from) {
      if (!existsSync(join(from, TEMPLATE_FILE))) throw new Error(`${from} holds no ${TEMPLATE_FILE}`);
      await cp(from, dir, { recursive: true });
      return { dir, cleanup };
    }
    const t0 = Date.now();
    log('[lambda] sls package --stage build …');
    const env: NodeJS.ProcessEnv = { ...process.env, DIDIT_ESBUILD_WORK_FOLDER: join(dir, '.esbuild'), SLS_TELEMETRY_DISABLED: '1' };
    // Packaging needs no AWS credentials or endpoints.
    for (const name of Object.keys(env)) if (name.startsWith('AWS_')) delete env[name];
    await run(join(root, 'node_modules', '.bin', 'sls'), ['package', '--stage', 'build', '--package', dir], {
      cwd: root,
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    log(`[lambda] packaged in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { dir, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
