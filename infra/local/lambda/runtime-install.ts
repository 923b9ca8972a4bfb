/**
 * The pinned pieces of Lambda's runtime the sandbox runs, installed by the project's own setup and cached
 * like the LocalStack venv (~/.cache/didit-kms-gateway):
 *  - the Runtime Interface Emulator, built from the Go module proxy (its GitHub release downloads are not
 *    reachable from these machines) at an exact pseudo-version;
 *  - the Node runtime interface client, npm `aws-lambda-ric` (pinned devDependency). Its npm package ships no
 *    binary: its install scripts compile `rapid-client.node` (curl and aws-lambda-cpp with cmake, then
 *    node-gyp, about two minutes). The project does not let npm run them (`allowScripts`); this setup runs
 *    them once and caches the result per RIC version, platform and architecture.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const RIE_MODULE = 'github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie';
/** Newest commit published on the module proxy when this was written (2026-10-30). */
export const RIE_VERSION = 'v0.0.0-20261030222936-bef5c4ba774d';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function cacheDir(): string {
  return process.env['DIDIT_CACHE_DIR'] ?? join(homedir(), '.cache', 'didit-kms-gateway');
}

export function rieBinary(): string {
  return join(cacheDir(), `aws-lambda-rie-${RIE_VERSION}`, 'bin', 'aws-lambda-rie');
}

/** The RIC entry point (the npm package's index.mjs, which loads its prebuilt rapid-client.node). */
export function ricEntry(): string {
  return join(root, 'node_modules', 'aws-lambda-ric', 'index.mjs');
}

/** Builds the RIE into the cache if it is not there (about a minute; needs `go` and the module proxy). */
export async function installRuntime(log: (line: string) => void = () => {}): Promise<{ rie: string; ric: string }> {
  const rie = rieBinary();
  if (!existsSync(rie)) {
    const dir = join(cacheDir(), `aws-lambda-rie-${RIE_VERSION}`);
    await mkdir(dir, { recursive: true });
    log(`[lambda] building ${RIE_MODULE}@${RIE_VERSION} into ${dir} (go install, about a minute)…`);
    await run('go', ['install', `${RIE_MODULE}@${RIE_VERSION}`], {
      env: {
        ...process.env,
        GOPATH: join(dir, 'gopath'),
        GOBIN: join(dir, 'bin'),
        GOFLAGS: '-mod=mod',
        CGO_ENABLED: '0',
        GOTOOLCHAIN: 'local',
      },
      maxBuffer: 16 * 1024 * 1024,
    });
  }
  const ric = ricEntry();
  if (!existsSync(ric)) throw new Error(`aws-lambda-ric is not installed (${ric}): run npm ci`);
  await ensureRicNativeClient(log);
  return { rie, ric };
}

/** The RIC's native client, compiled once into the cache, then copied next to its index.mjs. */
async function ensureRicNativeClient(log: (line: string) => void): Promise<void> {
  const pkgDir = dirname(ricEntry());
  const target = join(pkgDir, 'rapid-client.node');
  if (existsSync(target)) return;
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const cached = join(cacheDir(), `aws-lambda-ric-${version}-${process.platform}-${process.arch}`, 'rapid-client.node');
  if (!existsSync(cached)) {
    log(`[lambda] compiling aws-lambda-ric ${version}'s native client (cmake + node-gyp, about two minutes)…`);
    // Its own scripts, with this project's Node first on PATH (node-gyp builds for the running Node).
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env['PATH'] ?? ''}` };
    // node-gyp needs the running Node's headers. The npm package `node` ships them beside its binary; without
    // pointing node-gyp there it downloads them from nodejs.org, which a fresh CI machine here cannot reach.
    // (node_modules/node/bin/node is a copy of node_modules/node/node_modules/node-<platform>-<arch>/bin/node.)
    const home = dirname(dirname(process.execPath));
    const nodeDir = [home, join(home, 'node_modules', `node-${process.platform}-${process.arch}`)].find((d) =>
      existsSync(join(d, 'include', 'node', 'node.h')),
    );
    if (nodeDir !== undefined) env['npm_config_nodedir'] = nodeDir;
    for (const script of ['scripts/preinstall.sh', 'scripts/postinstall.sh']) {
      await run('sh', [script], { cwd: pkgDir, env, maxBuffer: 64 * 1024 * 1024 });
    }
    if (!existsSync(target)) throw new Error('aws-lambda-ric: the build finished without rapid-client.node');
    await mkdir(dirname(cached), { recursive: true });
    await copyFile(target, cached);
    return;
  }
  await copyFile(cached, target);
}
