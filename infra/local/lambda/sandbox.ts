/**
 * A Lambda execution environment on the host, without Docker: one packaged function zip, exactly as
 * `sls package` built it, run by the Runtime Interface Emulator (RIE) and the Node runtime interface
 * client (RIC) with the configuration the packaged template gives it.
 *
 * What it reproduces of Lambda:
 *  - the zip unpacked read-only as LAMBDA_TASK_ROOT, the template's handler, environment, memory and timeout;
 *  - Lambda's environment variables (AWS_LAMBDA_FUNCTION_*, AWS_LAMBDA_INITIALIZATION_TYPE=on-demand,
 *    AWS_EXECUTION_ENV, AWS_LAMBDA_LOG_FORMAT, TZ, LAMBDA_TASK_ROOT…) and nothing of the caller's own;
 *    Node started with the heap limits Lambda's nodejs22.x bootstrap derives from the memory size;
 *  - a cgroup per environment (v1): CPU quota memory/1769 of a core, memory limit = memory size (no swap),
 *    frozen (cgroup freezer) between invocations, so timers do not run and peers may close idle sockets;
 *  - one invocation at a time per environment; past its timeout the RIE kills the runtime (as Lambda does)
 *    and the next invocation starts a fresh one;
 *  - several environments side by side (Lambda's concurrency, see pool.ts): each RIE serves its runtime's
 *    Runtime API on its own loopback port (`--runtime-api-address`, which the RIE passes to the runtime as
 *    AWS_LAMBDA_RUNTIME_API), so no network namespace is needed; each has its own cgroups.
 * What it does not: the Firecracker VM and its network (the function reaches the host's loopback), IAM
 * (the overrides give emulator credentials), /tmp size, arm64 (the host's x64 sodium-native prebuild is
 * added to the unpacked package, see {@link addHostPrebuild}).
 *
 * The Didit key never passes through here: the function decrypts it from the emulator like in AWS.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { installRuntime } from './runtime-install.ts';
import {
  readFunction,
  readPackagedTemplate,
  resolveEnvironment,
  type FunctionDefinition,
  type PackagedTemplate,
  type ResourceMap,
} from './template.ts';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CGROUP_ROOT = process.env['DIDIT_CGROUP_ROOT'] ?? '/sys/fs/cgroup';
/** Lambda: one full vCPU at 1,769 MB, proportionally less below. */
export const MB_PER_VCPU = 1769;
const CFS_PERIOD_US = 100_000;

export interface LambdaSandboxOptions {
  /** serverless's function key, e.g. `jobWorker`. */
  readonly functionName: string;
  /** The packaging output folder (default `.serverless` at the repository root). */
  readonly packageDir?: string;
  readonly template?: PackagedTemplate;
  /** Emulator values of the template's Refs/GetAtts used by the function's environment. */
  readonly resources: ResourceMap;
  /**
   * Environment the deployment would not have and the sandbox needs: the emulator's endpoint and
   * credentials (AWS_ENDPOINT_URL*, AWS_ACCESS_KEY_ID…), DIDIT_BASE_URL / DIDIT_CA_FILE of the Didit
   * sandbox. Never the key.
   */
  readonly overrides?: Readonly<Record<string, string>>;
  /** Run at another memory size than the template's (memory measurements); the CPU share follows. */
  readonly memorySize?: number;
  readonly timeout?: number;
  /** Every line the RIE and the function print. */
  readonly onLog?: (line: string) => void;
}

export interface InvokeResult {
  readonly requestId: string;
  /** The RIE's HTTP status (200 also for function errors and timeouts, as Lambda's Invoke API). */
  readonly status: number;
  /** The parsed payload (or the raw text when it is not JSON). */
  readonly payload: unknown;
  /** Set when the function failed: the errorType of the error payload, or `Sandbox.Timedout`. */
  readonly functionError: string | undefined;
  readonly timedOut: boolean;
}

export interface LambdaSandbox {
  readonly definition: FunctionDefinition;
  readonly memorySize: number;
  readonly timeout: number;
  /** Invokes synchronously (RequestResponse); invocations queue, one at a time. Thaws, then freezes. */
  invoke(event: unknown): Promise<InvokeResult>;
  /** Init durations the RIE reported (ms), one per cold start. */
  readonly initDurations: readonly number[];
  /** Invocation durations the RIE reported (ms, its REPORT lines). */
  readonly durations: readonly number[];
  /** Peak memory of the environment's cgroup since start or the last {@link resetMemoryPeak} (bytes). */
  memoryPeak(): Promise<number>;
  resetMemoryPeak(): Promise<void>;
  /** PIDs in the environment's cgroup (the runtime, once initialised). */
  processes(): Promise<number[]>;
  /** `FROZEN` between invocations. */
  freezerState(): Promise<string>;
  readonly logs: readonly string[];
  /**
   * SIGKILLs the runtime, as when Lambda loses the execution environment mid-invocation (out of memory,
   * host failure). The invocation in flight fails (Runtime.ExitError); the next one starts a fresh runtime.
   */
  killRuntime(): Promise<void>;
  stop(): Promise<void>;
}

/** Lambda's nodejs22.x bootstrap: heap limits derived from AWS_LAMBDA_FUNCTION_MEMORY_SIZE. */
export function nodeMemoryArgs(memorySize: number): string[] {
  const semiSpace = Math.floor(memorySize / 64 / 2);
  const oldSpace = memorySize - Math.floor(memorySize / 64);
  return [`--max-semi-space-size=${semiSpace}`, `--max-old-space-size=${oldSpace}`];
}

/** `n` distinct free loopback ports (held open together while chosen, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => {
              const address = server.address();
              resolve(typeof address === 'object' && address ? address.port : 0);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

async function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, exited: () => string | undefined): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (await check()) return;
    const why = exited();
    if (why !== undefined) throw new Error(`${what}: ${why}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not ready after 30 s`);
}

/**
 * The packages carry only the linux-arm64 sodium-native prebuild (the functions are arm64). On this x64
 * host the matching prebuild of the same sodium-native version is copied into the unpacked package, and
 * nothing else changes: the bundle is the one `sls package` built.
 */
export function addHostPrebuild(taskRoot: string): string | undefined {
  const target = join(taskRoot, 'node_modules', 'sodium-native');
  if (!existsSync(target)) return undefined;
  const platform = `${process.platform}-${process.arch}`;
  const dest = join(target, 'prebuilds', platform);
  if (existsSync(dest)) return undefined;
  const packaged = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { version: string };
  const hostPkg = join(root, 'node_modules', 'sodium-native');
  const host = JSON.parse(readFileSync(join(hostPkg, 'package.json'), 'utf8')) as { version: string };
  if (host.version !== packaged.version) {
    throw new Error(`sodium-native ${packaged.version} in the package, ${host.version} on the host: cannot add the ${platform} prebuild`);
  }
  cpSync(join(hostPkg, 'prebuilds', platform), dest, { recursive: true });
  return platform;
}

interface Cgroups {
  readonly name: string;
  readonly dirs: { cpu: string; memory: string; freezer: string };
}

async function createCgroups(memorySize: number): Promise<Cgroups> {
  const name = `didit-lambda-${randomBytes(4).toString('hex')}`;
  const dirs = {
    cpu: join(CGROUP_ROOT, 'cpu', name),
    memory: join(CGROUP_ROOT, 'memory', name),
    freezer: join(CGROUP_ROOT, 'freezer', name),
  };
  for (const dir of Object.values(dirs)) {
    try {
      await mkdir(dir);
    } catch (err) {
      throw new Error(`cannot create the cgroup ${dir}: the Lambda sandbox needs root and writable cgroup v1 cpu, memory and freezer hierarchies`, { cause: err });
    }
  }
  await writeFile(join(dirs.cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
  await writeFile(join(dirs.cpu, 'cpu.cfs_quota_us'), String(Math.round((CFS_PERIOD_US * memorySize) / MB_PER_VCPU)));
  const bytes = memorySize * 1024 * 1024;
  await writeFile(join(dirs.memory, 'memory.limit_in_bytes'), String(bytes));
  // No swap beyond the limit, as in Lambda (memsw exists only when swap accounting is on).
  const memsw = join(dirs.memory, 'memory.memsw.limit_in_bytes');
  if (existsSync(memsw)) await writeFile(memsw, String(bytes)).catch(() => undefined);
  return { name, dirs };
}

async function readProcs(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

async function setFreezer(cg: Cgroups, state: 'FROZEN' | 'THAWED'): Promise<void> {
  const file = join(cg.dirs.freezer, 'freezer.state');
  await writeFile(file, state);
  // FREEZING until every task stopped; the write returns before that.
  for (let i = 0; i < 2000; i += 1) {
    const now = (await readFile(file, 'utf8')).trim();
    if (now === state) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`freezer did not reach ${state}`);
}

async function removeCgroups(cg: Cgroups): Promise<void> {
  await writeFile(join(cg.dirs.freezer, 'freezer.state'), 'THAWED').catch(() => undefined);
  for (const dir of Object.values(cg.dirs)) {
    for (const pid of await readProcs(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const dir of Object.values(cg.dirs)) {
    for (let i = 0; i < 200; i += 1) {
      try {
        await rmdir(dir);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }
}

export function lambdaEnvironment(
  def: FunctionDefinition,
  functionEnv: Record<string, string>,
  opts: { taskRoot: string; ricDir: string; memorySize: number; timeout: number; region: string; overrides: Record<string, string> },
): Record<string, string> {
  const nodeDir = dirname(process.execPath);
  return {
    // Reserved variables Lambda sets (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
    _HANDLER: def.handler,
    AWS_EXECUTION_ENV: `AWS_Lambda_${def.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: def.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(opts.memorySize),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(opts.timeout),
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${def.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `sandbox/[$LATEST]${randomBytes(16).toString('hex')}`,
    ...(def.logFormat ? { AWS_LAMBDA_LOG_FORMAT: def.logFormat } : {}),
    AWS_REGION: opts.region,
    AWS_DEFAULT_REGION: opts.region,
    LAMBDA_TASK_ROOT: opts.taskRoot,
    LAMBDA_RUNTIME_DIR: opts.ricDir,
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    PATH: `${nodeDir}:/usr/local/bin:/usr/bin:/bin`,
    NODE_PATH: `${opts.taskRoot}/node_modules`,
    // The function's own configuration, then what only the sandbox needs (endpoint, credentials, CA).
    ...functionEnv,
    ...opts.overrides,
  };
}

export async function startLambdaSandbox(opts: LambdaSandboxOptions): Promise<LambdaSandbox> {
  const template = opts.template ?? readPackagedTemplate(opts.packageDir ?? join(root, '.serverless'));
  const def = readFunction(template, opts.functionName);
  const memorySize = opts.memorySize ?? def.memorySize;
  const timeout = opts.timeout ?? def.timeout;
  const log = opts.onLog ?? (() => {});
  const { rie, ric } = await installRuntime(log);

  const work = await mkdtemp(join(tmpdir(), `didit-lambda-${def.name}-`));
  const taskRoot = join(work, 'task');
  await mkdir(taskRoot);
  try {
    await run('unzip', ['-q', def.zipFile, '-d', taskRoot]);
    addHostPrebuild(taskRoot);
    // Lambda's task root is read-only.
    await run('chmod', ['-R', 'a-w', taskRoot]);
  } catch (err) {
    await run('chmod', ['-R', 'u+w', work]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
    throw err;
  }

  const cg = await createCgroups(memorySize);
  const env = lambdaEnvironment(def, resolveEnvironment(def, opts.resources), {
    taskRoot,
    ricDir: dirname(ric),
    memorySize,
    timeout,
    region: opts.resources.region,
    overrides: { ...opts.overrides },
  });

  // The runtime (not the RIE) joins the cgroups: memory, CPU and freezer apply to the function's
  // process as in Lambda, while the RIE stays reachable to deliver the next event after a thaw.
  const join_ = Object.values(cg.dirs)
    .map((d) => `echo $$ > ${d}/cgroup.procs`)
    .join(' && ');
  const bootstrap = ['/bin/sh', '-c', `${join_} && exec "$0" "$@"`, process.execPath, '--expose-gc', '--max-http-header-size=81920', ...nodeMemoryArgs(memorySize), ric, def.handler];
  // Two ports per environment: the RIE's invoke endpoint, and the Runtime API the runtime polls. Without
  // --runtime-api-address the RIE listens on 127.0.0.1:9001 and only one environment can run per host.
  // (Port 0 would not do: the RIE puts the configured port into AWS_LAMBDA_RUNTIME_API before it listens.)
  const [port = 0, runtimeApiPort = 0] = await freePorts(2);
  const logs: string[] = [];
  const initDurations: number[] = [];
  const durations: number[] = [];
  let exitReason: string | undefined;
  const child: ChildProcess = spawn(rie, ['--runtime-interface-emulator-address', `127.0.0.1:${port}`, '--runtime-api-address', `127.0.0.1:${runtimeApiPort}`, ...bootstrap], {
    cwd: taskRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
  });
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      logs.push(line);
      if (logs.length > 20_000) logs.splice(0, 10_000);
      // The REPORT line's "Init Duration" is not the init time in this RIE; INIT REPORT is.
      const init = /INIT REPORT\(durationMs: ([\d.]+)/.exec(line);
      if (init) initDurations.push(Number(init[1]));
      const report = /^REPORT RequestId: .*\tDuration: ([\d.]+) ms/.exec(line);
      if (report) durations.push(Number(report[1]));
      log(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.once('exit', (code, signal) => {
    exitReason = `the RIE exited (${code ?? signal})`;
  });
  try {
    await waitFor('RIE', async () => (await portAnswers(port)) && (await portAnswers(runtimeApiPort)), () => exitReason);
  } catch (err) {
    child.kill('SIGKILL');
    await removeCgroups(cg);
    await rm(work, { recursive: true, force: true });
    throw err;
  }

  let queue: Promise<unknown> = Promise.resolve();
  let frozen = false;
  const invokeOnce = async (event: unknown): Promise<InvokeResult> => {
    if (exitReason !== undefined) throw new Error(exitReason);
    const requestId = crypto.randomUUID();
    if (frozen) {
      await setFreezer(cg, 'THAWED');
      frozen = false;
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/2015-03-31/functions/function/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId },
        body: JSON.stringify(event),
      });
      const text = await res.text();
      let payload: unknown = text;
      try {
        payload = JSON.parse(text);
      } catch {
        // not JSON: the RIE's own messages
      }
      const timedOut = /^Task timed out after/.test(text);
      const errorType =
        payload !== null && typeof payload === 'object' && 'errorType' in payload && 'errorMessage' in payload
          ? String((payload as { errorType: unknown }).errorType)
          : undefined;
      return {
        requestId,
        status: res.status,
        payload,
        timedOut,
        functionError: timedOut ? 'Sandbox.Timedout' : errorType,
      };
    } finally {
      // Freeze what is left of the runtime (nothing after a timeout: the RIE killed it).
      if ((await readProcs(cg.dirs.freezer)).length > 0) {
        await setFreezer(cg, 'FROZEN');
        frozen = true;
      }
    }
  };

  return {
    definition: def,
    memorySize,
    timeout,
    initDurations,
    durations,
    logs,
    invoke(event) {
      const next = queue.then(() => invokeOnce(event));
      queue = next.catch(() => undefined);
      return next;
    },
    async memoryPeak() {
      return Number((await readFile(join(cg.dirs.memory, 'memory.max_usage_in_bytes'), 'utf8')).trim());
    },
    async resetMemoryPeak() {
      await writeFile(join(cg.dirs.memory, 'memory.max_usage_in_bytes'), '0');
    },
    processes: () => readProcs(cg.dirs.freezer),
    async killRuntime() {
      for (const pid of await readProcs(cg.dirs.freezer)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
    async freezerState() {
      return (await readFile(join(cg.dirs.freezer, 'freezer.state'), 'utf8')).trim();
    },
    async stop() {
      await queue;
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      await removeCgroups(cg); // thaws and kills the runtime first
      child.kill('SIGTERM');
      await exited;
      await run('chmod', ['-R', 'u+w', work]).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** Names of the zips in a packaging folder (for listing what can run). */
export function packagedFunctions(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.zip'))
    .map((f) => f.slice(0, -4));
}
