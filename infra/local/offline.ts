/**
 * Start serverless-offline (osls 3 + serverless-offline 13, `sls offline start`) as a child process and
 * wait until its HTTP port answers. Used by `npm start` (infra/local/start.ts) and the offline
 * integration test.
 *
 * - The child gets only non-secret configuration through its environment: the Secrets Manager id of the
 *   sealed key, the emulator endpoint, the sandbox URL and CA file. Never put the Didit key here.
 *   serverless.yml's `local` stage reads those variables (`${env:...}`) into `provider.environment`;
 *   serverless-offline then hands each handler worker that environment plus every `AWS_*` variable of
 *   the child (AWS_ENDPOINT_URL, credentials), and nothing else from the parent.
 * - Inherited `AWS_*` variables and the gateway's own config variables are dropped from the parent's
 *   environment first, so a developer's real AWS profile or credentials never reach the offline functions.
 * - The child runs in its own process group (killed as a group on `stop()` and when this process exits)
 *   and preloads `offline-watchdog.ts`, which ends it if this process dies without stopping it.
 * - Each run bundles into its own folder under `.cache/offline/` (git-ignored), removed on stop, so
 *   concurrent runs and `sls package` (which deletes `.esbuild/` when done) do not clobber each other.
 * - IAM authorisation is not emulated: serverless.yml sets `noAuth` for offline; bind to 127.0.0.1 only.
 *
 * @example
 * ```ts
 * const offline = await startOffline({ env: { SEALED_KEY_SECRET_ID: id, AWS_ENDPOINT_URL: em.endpoint, ... } });
 * await fetch(`${offline.url}/v1/sessions`, { method: 'POST', ... });
 * await offline.stop();
 * ```
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SLS_BIN = join(REPO_ROOT, 'node_modules', 'osls', 'bin', 'serverless.js');
const WATCHDOG = join(REPO_ROOT, 'infra', 'local', 'offline-watchdog.ts');

/** Variables the gateway reads (lib/runtime/config.ts): taken only from `opts.env`, never inherited. */
const CONFIG_VARIABLES = new Set([
  'STAGE',
  'SERVICE_NAME',
  'SEALED_KEY_SECRET_ID',
  'KMS_KEY_ID',
  'DIDIT_BASE_URL',
  'DIDIT_CA_FILE',
  'CIPHERTEXT_TTL_SECONDS',
  // serverless.yml's `local` params of the webhook, job, upload and trigger functions.
  'WEBHOOK_SECRET_SECRET_ID',
  'IDEMPOTENCY_TABLE',
  'EVENT_BUS_NAME',
  'JOBS_TABLE',
  'JOBS_QUEUE_URL',
  'UPLOAD_BUCKET',
  'UPLOAD_KMS_KEY_ID',
  'DAILY_PAID_CALL_CAP',
  'SPEND_CAP_TABLE',
  'OFFLINE_HTTP_PORT',
  'OFFLINE_LAMBDA_PORT',
  'DIDIT_ESBUILD_WORK_FOLDER',
  'DIDIT_OFFLINE_PARENT_PID',
]);

export interface StartOfflineOptions {
  /**
   * Environment for the offline functions: AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
   * AWS_SECRET_ACCESS_KEY, SEALED_KEY_SECRET_ID, KMS_KEY_ID, DIDIT_BASE_URL, DIDIT_CA_FILE, ...
   * Non-secret values only.
   */
  env: Record<string, string | undefined>;
  /** Default: a free port. */
  httpPort?: number;
  /** serverless-offline's Lambda invoke endpoint. Default: a free port. */
  lambdaPort?: number;
  /** Default 'local' (the stage serverless.yml feeds from the environment). */
  stage?: string;
  /** Each output line of the child (serverless-offline banner, request logs, handler logs). */
  log?: (line: string) => void;
  /** How long to wait for the HTTP port, default 120 s (the first run bundles with esbuild). */
  startTimeoutMs?: number;
}

export interface Offline {
  /** Base URL including the stage, e.g. http://127.0.0.1:3000/local (no trailing slash). */
  readonly url: string;
  readonly httpPort: number;
  readonly lambdaPort: number;
  readonly pid: number;
  /** Resolves with the exit code (-1 when killed by a signal) when the child exits, for whatever reason. */
  readonly exited: Promise<number | null>;
  /** The last lines of output (for error messages). */
  output(): string;
  /** Stops the child (SIGTERM, then SIGKILL after 10 s) and removes its build folder. Idempotent. */
  stop(): Promise<void>;
}

export async function startOffline(opts: StartOfflineOptions): Promise<Offline> {
  const fixedPorts = opts.httpPort !== undefined || opts.lambdaPort !== undefined;
  for (let attempt = 1; ; attempt++) {
    const httpPort = opts.httpPort ?? (await freePort());
    const lambdaPort = opts.lambdaPort ?? (await freePort([httpPort]));
    try {
      return await launch(opts, httpPort, lambdaPort);
    } catch (err) {
      if (!fixedPorts && attempt < 3 && err instanceof PortInUseError) continue;
      throw err;
    }
  }
}

class PortInUseError extends Error {}

/**
 * The environment of an `sls` child: this process's, without inherited `AWS_*` variables and the
 * gateway's config variables (a developer's real AWS credentials or stage settings never reach it), plus
 * `extra`.
 */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('AWS_') || CONFIG_VARIABLES.has(name)) continue;
    env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) env[name] = value;
  }
  return env;
}

async function launch(opts: StartOfflineOptions, httpPort: number, lambdaPort: number): Promise<Offline> {
  const stage = opts.stage ?? 'local';
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  // Not under .esbuild/: `sls package` deletes its whole work folder when done, which would pull the bundle
  // from under a running offline. `.cache/` is git-ignored.
  const workFolder = join('.cache', 'offline', `${process.pid}-${randomBytes(4).toString('hex')}`);
  const removeWorkFolder = (): void => rmSync(join(REPO_ROOT, workFolder), { recursive: true, force: true });

  const env = childEnv(opts.env);
  Object.assign(env, {
    STAGE: stage,
    DIDIT_OFFLINE_PARENT_PID: String(process.pid),
    DIDIT_ESBUILD_WORK_FOLDER: workFolder,
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    FORCE_COLOR: '0',
  });

  const args = [
    '--import',
    pathToFileURL(WATCHDOG).href,
    SLS_BIN,
    'offline',
    'start',
    '--stage',
    stage,
    '--host',
    '127.0.0.1',
    '--httpPort',
    String(httpPort),
    '--lambdaPort',
    String(lambdaPort),
    '--noSponsor',
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env,
    detached: true, // own process group: stop() kills the whole group
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    await new Promise((r) => child.once('error', r));
    throw new Error(`could not start ${process.execPath} ${SLS_BIN}`);
  }

  const tail: string[] = [];
  let ready = false;
  let portInUse = false;
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 200) tail.shift();
    if (line.includes('Server ready:')) ready = true;
    if (line.includes('EADDRINUSE')) portInUse = true;
    log(line);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n/);
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    stream.on('end', () => {
      if (partial) onLine(partial);
      partial = '';
    });
  }

  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolveExit();
    });
  });

  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const onParentExit = (): void => {
    killGroup('SIGKILL');
    removeWorkFolder();
  };
  process.once('exit', onParentExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', onParentExit);
      if (exitCode === undefined) {
        killGroup('SIGTERM');
        const timer = new Promise<'timeout'>((r) => setTimeout(r, 10_000, 'timeout').unref());
        if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout') {
          log('[offline] did not stop within 10 s, sending SIGKILL');
          killGroup('SIGKILL');
          await exited;
        }
      }
      killGroup('SIGKILL'); // anything left in the group (esbuild service, ...)
      removeWorkFolder();
    })();
    return stopping;
  };

  const output = (): string => tail.slice(-60).join('\n');
  const base = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (exitCode !== undefined) {
        if (portInUse) {
          throw new PortInUseError(`serverless-offline could not bind port ${httpPort} or ${lambdaPort}: already in use`);
        }
        throw new Error(`serverless-offline exited with code ${exitCode} before it was ready:\n${output()}`);
      }
      if (ready && (await answers(base))) break;
      if (Date.now() > deadline) {
        throw new Error(`serverless-offline did not answer on ${base} within ${timeoutMs / 1000} s:\n${output()}`);
      }
      await sleep(250);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return { url: `${base}/${stage}`, httpPort, lambdaPort, pid, exited: exited.then(() => exitCode ?? null), output, stop };
}

/** True once anything answers HTTP on the port (serverless-offline 404s unknown paths). */
async function answers(base: string): Promise<boolean> {
  try {
    const res = await fetch(`${base}/`, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export function freePort(avoid: number[] = []): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => {
        if (!port) reject(new Error('could not pick a free port'));
        else if (avoid.includes(port)) freePort(avoid).then(resolvePort, reject);
        else resolvePort(port);
      });
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
