/**
 * Vitest global setup of the `lambda` project: packages the functions once per run, exactly as a deployment
 * does (`sls package --stage build`, arm64 zips with sodium-native installed by `npm ci`), and hands the
 * folder to the tests. DIDIT_LAMBDA_PACKAGE_DIR reuses a folder already packaged (CI packages right before
 * `npm test`; local reruns skip the ~50 s).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { TEMPLATE_FILE } from '../../infra/local/lambda/template.ts';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export default async function setup(project: TestProject): Promise<void> {
  const reuse = process.env['DIDIT_LAMBDA_PACKAGE_DIR'];
  if (reuse) {
    if (!existsSync(join(reuse, TEMPLATE_FILE))) throw new Error(`DIDIT_LAMBDA_PACKAGE_DIR=${reuse} holds no ${TEMPLATE_FILE}`);
    project.provide('lambdaPackageDir', reuse);
    return;
  }
  const t0 = Date.now();
  process.stderr.write('[lambda] sls package --stage build …\n');
  await run(join(root, 'node_modules', '.bin', 'sls'), ['package', '--stage', 'build'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  process.stderr.write(`[lambda] packaged in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  project.provide('lambdaPackageDir', join(root, '.serverless'));
}
