/**
 * Local AWS emulators for the tests: LocalStack 4.14.0 core (host mode, no Docker) or moto server 5.2.1,
 * or an endpoint that is already running (`AWS_ENDPOINT_URL`).
 *
 * Each server runs under a small Python supervisor in its own process group: `stop()` SIGTERMs the
 * supervisor, which forwards it and SIGKILLs the group after 8 s (Node escalates at 10 s); the group is also
 * SIGKILLed when this Node process exits. On Linux the supervisor gets a parent-death signal, so nothing
 * survives a SIGKILLed Node either. Call `startEmulator` from the main thread: the parent-death signal
 * fires when the thread that spawned the process ends.
 *
 * Installs go to `${XDG_CACHE_HOME:-~/.cache}/didit-kms-gateway/<name>-<version>` (venv + marker file,
 * guarded by a lock directory so parallel runs wait for one install).
 *
 * @example
 * ```ts
 * const em = await startEmulator({ log: (l) => console.error(l) });
 * try { new KMSClient({ endpoint: em.endpoint, region: em.region, credentials: em.credentials }); }
 * finally { await em.stop(); }
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type EmulatorKind = 'localstack' | 'moto' | 'external';

export interface Emulator {
  kind: EmulatorKind;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /**
   * PEM of the CA that signed the certificate `endpoint` serves, when `endpoint` is https: clients pass it
   * as an explicit trust anchor (never turn verification off).
   */
  caPem?: string;
  /** The same CA as a file (for `NODE_EXTRA_CA_CERTS` of a child process, or `KMS_EMULATOR_CA_FILE`). */
  caFile?: string;
  /**
   * Where the same emulator answers over TLS, when it does. LocalStack serves HTTPS on its gateway port
   * (same process, same state); a moto started with `tls: true` serves only HTTPS (`endpoint` is then https).
   */
  tls?: EmulatorTls;
  stop(): Promise<void>;
}

export interface EmulatorTls {
  endpoint: string;
  caPem: string;
  caFile: string;
}

export interface StartEmulatorOptions {
  kind?: EmulatorKind;
  /** Port to listen on; a free port is picked when omitted. */
  port?: number;
  /** Progress lines (install, start, stop). Emulator output is forwarded too when DIDIT_EMULATOR_VERBOSE=1. */
  log?: (line: string) => void;
  /** How long to wait for the health check, default 120 s (LocalStack) / 60 s (moto). */
  startTimeoutMs?: number;
  /** Aborting stops a start that is still waiting for health (the process is stopped, the promise rejects). */
  signal?: AbortSignal;
  /**
   * moto: serve HTTPS only (its TLS mode, with a certificate from a CA made for this start).
   * LocalStack always serves HTTPS beside HTTP on its port, with such a certificate (`CUSTOM_SSL_CERT_PATH`).
   */
  tls?: boolean;
}

export const LOCALSTACK_VERSION = '4.14.0';
export const MOTO_VERSION = '5.2.1';
export const TEST_CREDENTIALS = Object.freeze({ accessKeyId: 'test', secretAccessKey: 'test' });

const LOCALSTACK_SERVICES = 'kms,secretsmanager,logs,sqs,events,sts,iam,s3,cloudformation,apigateway';
/** Provider modules imported by the install check (apigateway is the next_gen provider in 4.x). */
const LOCALSTACK_PROVIDER_MODULES = [
  'kms', 'secretsmanager', 'logs', 'sqs', 'events', 'sts', 'iam', 's3', 'cloudformation', 'apigateway.next_gen',
];
const LOCALSTACK_CONSTRAINTS = join(dirname(fileURLToPath(import.meta.url)), `localstack-${LOCALSTACK_VERSION}-constraints.txt`);
const MARKER = '.didit-install.json';
const OUTPUT_TAIL = 40;

type Log = (line: string) => void;
const noop: Log = () => {};

// ---------------------------------------------------------------------------------------------------------
// selection

export function resolveEmulatorKind(kind?: EmulatorKind): EmulatorKind {
  if (kind) return kind;
  if (process.env.AWS_ENDPOINT_URL) return 'external';
  const wanted = process.env.DIDIT_TEST_EMULATOR?.trim().toLowerCase();
  if (!wanted || wanted === 'localstack') return 'localstack';
  if (wanted === 'moto') return 'moto';
  throw new Error(`DIDIT_TEST_EMULATOR must be 'localstack' or 'moto', got '${wanted}'`);
}

function region(): string {
  return process.env.AWS_REGION || 'us-east-1';
}

export async function startEmulator(opts: StartEmulatorOptions = {}): Promise<Emulator> {
  const kind = resolveEmulatorKind(opts.kind);
  const log = opts.log ?? noop;
  if (kind === 'external') {
    const endpoint = process.env.AWS_ENDPOINT_URL;
    if (!endpoint) throw new Error("emulator kind 'external' needs AWS_ENDPOINT_URL");
    log(`[emulator] using external endpoint ${endpoint}`);
    return {
      kind,
      endpoint: endpoint.replace(/\/+$/, ''),
      region: region(),
      credentials: { ...TEST_CREDENTIALS },
      stop: async () => {},
    };
  }
  await installEmulator(kind, log);
  // A picked port can be taken between picking and binding: retry a couple of times in that case.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return kind === 'localstack'
        ? await startLocalstack(port, log, opts.startTimeoutMs ?? 120_000, opts.signal)
        : await startMoto(port, log, opts.startTimeoutMs ?? 60_000, opts.signal, opts.tls === true);
    } catch (err) {
      if (opts.port === undefined && attempt < 3 && err instanceof PortInUseError) {
        log(`[emulator] port ${port} was taken, retrying`);
        continue;
      }
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// install

export function cacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg?.startsWith('/') ? xdg : join(homedir(), '.cache'), 'didit-kms-gateway');
}

export function venvDir(kind: 'localstack' | 'moto'): string {
  return join(cacheRoot(), kind === 'localstack' ? `localstack-${LOCALSTACK_VERSION}` : `moto-${MOTO_VERSION}`);
}

/** The interpreter and module to run for a kind, once installed. */
interface Runtime {
  python: string;
}

/** Installs the emulator (idempotent) without starting it; 'external' needs nothing. */
export async function installEmulator(kind: EmulatorKind, log: Log = noop): Promise<void> {
  if (kind === 'localstack') await ensureLocalstack(log);
  else if (kind === 'moto') await ensureMoto(log);
}

const PYTHON_PROBE = 'import sys; print(sys.executable); print("%d.%d" % sys.version_info[:2])';

/**
 * Finds a host interpreter of at least `min` (major.minor): $DIDIT_PYTHON, then python3.13/3.12/python3
 * on PATH, then pyenv installs. LocalStack 4.14.0 says `Requires-Python >=3.10` but uses 3.12 syntax
 * (PEP 695 generics in localstack.services.kms.utils), and its lock file was compiled with 3.13.
 */
async function hostPython(min: [number, number]): Promise<string> {
  const candidates: string[] = [];
  if (process.env.DIDIT_PYTHON) candidates.push(process.env.DIDIT_PYTHON);
  candidates.push('python3.13', 'python3.12', 'python3');
  const pyenvRoot = process.env.PYENV_ROOT || join(homedir(), '.pyenv');
  try {
    const versions = readdirSync(join(pyenvRoot, 'versions'))
      .filter((v) => /^3\.\d+\.\d+$/.test(v))
      .sort((a, b) => compareVersions(b, a));
    for (const v of versions) candidates.push(join(pyenvRoot, 'versions', v, 'bin', 'python3'));
  } catch {
    // no pyenv
  }
  const seen: string[] = [];
  for (const cmd of candidates) {
    const r = await capture(cmd, ['-c', PYTHON_PROBE]);
    if (r.code !== 0) continue;
    const [exe, ver] = r.stdout.trim().split('\n');
    if (!exe || !ver) continue;
    seen.push(`${exe} (${ver})`);
    const [major, minor] = ver.split('.').map(Number);
    if (major === min[0] && (minor ?? 0) >= min[1]) return exe;
  }
  throw new Error(
    `no Python >= ${min.join('.')} found (set DIDIT_PYTHON); saw: ${seen.join(', ') || 'none'}`,
  );
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

function venvPython(dir: string): string {
  return join(dir, 'bin', 'python');
}

interface InstallSpec {
  dir: string;
  /** Minimum Python (major, minor) for the venv. */
  python: [number, number];
  requirement: string;
  constraints?: string;
  /** Python that must succeed in the venv before it counts as installed. */
  verify: string;
}

async function installFingerprint(spec: InstallSpec): Promise<string> {
  const h = createHash('sha256').update(spec.requirement).update('\0').update(spec.python.join('.')).update('\0');
  if (spec.constraints) h.update(await readFile(spec.constraints));
  return h.digest('hex');
}

async function markerMatches(spec: InstallSpec, fingerprint: string): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(spec.dir, MARKER), 'utf8')) as { fingerprint?: string };
    return marker.fingerprint === fingerprint && existsSync(venvPython(spec.dir));
  } catch {
    return false;
  }
}

async function ensureVenv(spec: InstallSpec, log: Log): Promise<Runtime> {
  const python = venvPython(spec.dir);
  const fingerprint = await installFingerprint(spec);
  if (await markerMatches(spec, fingerprint)) return { python };

  await mkdir(dirname(spec.dir), { recursive: true });
  await withInstallLock(`${spec.dir}.lock`, log, async () => {
    if (await markerMatches(spec, fingerprint)) return; // someone else finished while we waited
    if (existsSync(python)) {
      const probe = await capture(python, ['-c', PYTHON_PROBE]);
      const [major, minor] = (probe.stdout.trim().split('\n')[1] ?? '0.0').split('.').map(Number);
      if (probe.code !== 0 || major !== spec.python[0] || (minor ?? 0) < spec.python[1]) {
        log(`[emulator] venv ${spec.dir} has an unusable Python (${probe.stdout.trim() || probe.stderr.trim()}): recreating`);
        await rm(spec.dir, { recursive: true, force: true });
      }
    }
    if (!existsSync(python)) {
      const host = await hostPython(spec.python);
      log(`[emulator] creating venv ${spec.dir} with ${host}`);
      await run(host, ['-m', 'venv', spec.dir], log);
    } else {
      log(`[emulator] venv ${spec.dir} exists without a matching install marker: installing into it`);
    }
    log(`[emulator] pip install ${spec.requirement}${spec.constraints ? ` -c ${spec.constraints}` : ''}`);
    const started = Date.now();
    const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off'];
    if (spec.constraints) args.push('-c', spec.constraints);
    args.push(spec.requirement);
    await run(python, args, (line) => {
      if (/^(Collecting|Successfully|ERROR|WARNING|Installing)/.test(line)) log(`[pip] ${line}`);
    });
    await run(python, ['-c', spec.verify], log);
    await writeFile(
      join(spec.dir, MARKER),
      `${JSON.stringify({ requirement: spec.requirement, fingerprint, installedAt: new Date().toISOString() })}\n`,
    );
    log(`[emulator] installed ${spec.requirement} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  return { python };
}

async function ensureLocalstack(log: Log): Promise<Runtime> {
  return ensureVenv(
    {
      dir: venvDir('localstack'),
      python: [3, 12],
      requirement: `localstack-core[runtime]==${LOCALSTACK_VERSION}`,
      constraints: LOCALSTACK_CONSTRAINTS,
      // Import what plux would load lazily: at start-up it only logs "could not load service plugin".
      verify:
        'import importlib.metadata as m, localstack.aws.components, localstack.runtime.main\n' +
        `assert m.version("localstack-core") == "${LOCALSTACK_VERSION}", m.version("localstack-core")\n` +
        'import ' +
        LOCALSTACK_PROVIDER_MODULES.map((s) => `localstack.services.${s}.provider`).join(', '),
    },
    log,
  );
}

// Metadata only (importing moto.server takes ~2 s): a broken install still fails loudly at start.
const MOTO_VERIFY =
  'import importlib.metadata as m, importlib.util as u\n' +
  `assert m.version("moto") == "${MOTO_VERSION}", m.version("moto")\n` +
  'm.version("flask"); m.version("flask-cors")\n' +
  'assert u.find_spec("moto") is not None';

async function ensureMoto(log: Log): Promise<Runtime> {
  // Prefer a preinstalled moto of the right version (python3 on PATH, or DIDIT_PYTHON), then our own venv.
  const found = await capture(process.env.DIDIT_PYTHON || 'python3', ['-c', `${MOTO_VERIFY}; import sys; print(sys.executable)`]);
  if (found.code === 0 && found.stdout.trim()) return { python: found.stdout.trim() };
  return ensureVenv(
    { dir: venvDir('moto'), python: [3, 9], requirement: `moto[server]==${MOTO_VERSION}`, verify: MOTO_VERIFY },
    log,
  );
}

/** A lock directory holding the owner's pid; stale locks (dead owner) are broken. */
async function withInstallLock(lock: string, log: Log, fn: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 30 * 60_000;
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lock, { recursive: false });
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // being created right now
      }
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
        log(`[emulator] removing stale install lock ${lock} (pid ${owner})`);
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for install lock ${lock}`);
      if (!announced) log(`[emulator] another process is installing (lock ${lock}), waiting`);
      announced = true;
      await sleep(1000);
    }
  }
  try {
    await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------------------
// processes

class PortInUseError extends Error {}

/** Seconds the supervisor gives the server between SIGTERM and SIGKILL (Node's own backstop is 10 s). */
const SUPERVISOR_GRACE_S = 8;

/**
 * A small Python supervisor that runs the server as its child, in the process group Node created for it:
 *  - on Linux it asks the kernel for SIGTERM when Node dies (PR_SET_PDEATHSIG), so even a SIGKILLed Node
 *    leaves nothing behind;
 *  - on SIGTERM/SIGINT it forwards SIGTERM to the server, waits up to the grace period, then SIGKILLs the
 *    whole group (LocalStack's own SIGTERM handler can hang when its runtime is half-initialised);
 *  - when the server exits by itself it exits with the same code.
 * argv: <node pid> <grace seconds> <command...>
 */
const SUPERVISOR = `
import os, signal, subprocess, sys, threading
try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(3)
grace = float(sys.argv[2])
child = subprocess.Popen(sys.argv[3:])
stopping = []
def kill_group():
    os.killpg(0, signal.SIGKILL)
def stop(sig, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping.append(sig)
    try:
        child.send_signal(signal.SIGTERM)
    except Exception:
        pass
    timer = threading.Timer(grace, kill_group)
    timer.daemon = True
    timer.start()
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
code = child.wait()
if stopping:
    kill_group()  # whatever the server left in the group (this process included)
sys.exit(code)
`;

interface Managed {
  child: ChildProcess;
  exited: Promise<number | null>;
  tail: string[];
  stop(): Promise<void>;
}

function launch(
  name: string,
  python: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  log: Log,
  cleanup: () => void,
): Managed {
  const verbose = process.env.DIDIT_EMULATOR_VERBOSE === '1';
  const child = spawn(python, ['-c', SUPERVISOR, String(process.pid), String(SUPERVISOR_GRACE_S), python, ...args], {
    cwd,
    env,
    detached: true, // own process group (pgid = supervisor pid): we can always kill the whole group
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const onData = (buf: Buffer, partial: { s: string }): void => {
    const lines = (partial.s + buf.toString('utf8')).split(/\r?\n/);
    partial.s = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 200) tail.shift();
      if (verbose) log(`[${name}] ${line}`);
    }
  };
  const outPartial = { s: '' };
  const errPartial = { s: '' };
  child.stdout?.on('data', (b: Buffer) => onData(b, outPartial));
  child.stderr?.on('data', (b: Buffer) => onData(b, errPartial));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
    child.once('error', (err) => {
      tail.push(String(err));
      resolve(-1);
    });
  });
  const pgid = child.pid;
  const kill = (target: number | undefined, sig: NodeJS.Signals): void => {
    if (target === undefined) return;
    try {
      process.kill(target, sig);
    } catch {
      // already gone
    }
  };
  // Last resort when Node exits without stop() (process.exit, uncaught error): synchronous only.
  const onExit = (): void => {
    kill(pgid === undefined ? undefined : -pgid, 'SIGKILL');
    cleanup();
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const t0 = Date.now();
      kill(pgid, 'SIGTERM'); // the supervisor forwards it and escalates after SUPERVISOR_GRACE_S
      const timer = new Promise<'timeout'>((r) => setTimeout(r, 10_000, 'timeout').unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        log(`[${name}] did not stop within 10 s, sending SIGKILL`);
        kill(pgid === undefined ? undefined : -pgid, 'SIGKILL');
        await exited;
      }
      kill(pgid === undefined ? undefined : -pgid, 'SIGKILL'); // anything left in the group
      process.removeListener('exit', onExit);
      cleanup();
      log(`[${name}] stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    })());
  return { child, exited, tail, stop };
}

async function waitHealthy(
  name: string,
  m: Managed,
  url: string,
  ready: (status: number, body: string) => boolean | string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  caPem?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void m.exited.then((c) => (exitCode = c));
  let last = 'no response yet';
  while (Date.now() < deadline) {
    if (signal?.aborted) {
      await m.stop();
      throw new Error(`${name} start aborted`, { cause: signal.reason });
    }
    if (exitCode !== undefined) {
      await m.stop(); // reaps leftovers in the group and removes the scratch dir
      const out = m.tail.slice(-OUTPUT_TAIL).join('\n');
      if (/address already in use/i.test(out)) throw new PortInUseError(`${name}: port in use`);
      throw new Error(`${name} exited with code ${exitCode} before it was healthy. Last output:\n${out}`);
    }
    let verdict: boolean | string = false;
    try {
      const res = caPem === undefined ? await fetchText(url) : await fetchTextTrusting(url, caPem);
      const body = res.body;
      verdict = ready(res.status, body);
      last = `HTTP ${res.status}: ${body.slice(0, 500)}`;
    } catch (err) {
      last = String((err as Error).message ?? err);
    }
    if (verdict === true) return;
    if (typeof verdict === 'string') {
      await m.stop();
      throw new Error(`${name} failed to start: ${verdict}. Last output:\n${m.tail.slice(-OUTPUT_TAIL).join('\n')}`);
    }
    await sleep(250);
  }
  await m.stop();
  throw new Error(
    `${name} was not healthy after ${timeoutMs / 1000} s (last health: ${last}). Last output:\n` +
      m.tail.slice(-OUTPUT_TAIL).join('\n'),
  );
}

const SCRATCH_PREFIX = 'didit-localstack-';

/** Removes LocalStack scratch dirs left by Node processes that died without cleaning up (SIGKILL). */
function sweepStaleScratchDirs(log: Log): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    const owner = new RegExp(`^${SCRATCH_PREFIX}(\\d+)-`).exec(entry)?.[1];
    if (!owner || Number(owner) === process.pid || alive(Number(owner))) continue;
    log(`[localstack] removing stale scratch dir ${entry}`);
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP']) delete env[k];
  return env;
}

async function startLocalstack(port: number, log: Log, timeoutMs: number, signal?: AbortSignal): Promise<Emulator> {
  const { python } = await ensureLocalstack(log);
  sweepStaleScratchDirs(log);
  const root = await mkdtemp(join(tmpdir(), `${SCRATCH_PREFIX}${process.pid}-`));
  const cleanup = (): void => rmSync(root, { recursive: true, force: true });
  const hostPort = `127.0.0.1:${port}`;
  // LocalStack reads key and certificate from one PEM (and writes split copies beside it): all in the scratch dir.
  const certs = await writeEmulatorCertificates(root);
  const env = childEnv({
    GATEWAY_LISTEN: hostPort,
    LOCALSTACK_HOST: hostPort,
    SQS_ENDPOINT_STRATEGY: 'path',
    DNS_ADDRESS: '0',
    SKIP_SSL_CERT_DOWNLOAD: '1',
    DISABLE_EVENTS: '1',
    SERVICES: LOCALSTACK_SERVICES,
    EAGER_SERVICE_LOADING: '1',
    FILESYSTEM_ROOT: root,
    CUSTOM_SSL_CERT_PATH: certs.combinedFile,
    PYTHONUNBUFFERED: '1',
  });
  const t0 = Date.now();
  log(`[localstack] starting ${LOCALSTACK_VERSION} on ${hostPort}`);
  // cwd = venv dir: `python -m` puts the cwd on sys.path, and plux keys its entry-point cache on sys.path
  // mtimes; a stable cwd keeps it from writing a fresh cache file on every start.
  const m = launch('localstack', python, ['-m', 'localstack.runtime.main'], env, venvDir('localstack'), log, cleanup);
  const endpoint = `http://${hostPort}`;
  await waitHealthy(
    'localstack',
    m,
    `${endpoint}/_localstack/health`,
    (status, body) => {
      if (status !== 200) return false;
      try {
        const services = (JSON.parse(body) as { services?: Record<string, string> }).services ?? {};
        // With EAGER_SERVICE_LOADING an 'error' state is final (a provider failed to import or start).
        const broken = LOCALSTACK_SERVICES.split(',').filter((s) => services[s] === 'error');
        if (broken.length) return `services in error state: ${broken.join(', ')}`;
        return ['kms', 'secretsmanager'].every((s) => services[s] === 'running' || services[s] === 'available');
      } catch {
        return false;
      }
    },
    timeoutMs,
    signal,
  );
  log(`[localstack] healthy at ${endpoint} after ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${m.child.pid})`);
  return {
    kind: 'localstack',
    endpoint,
    region: region(),
    credentials: { ...TEST_CREDENTIALS },
    tls: { endpoint: `https://${hostPort}`, caPem: certs.caPem, caFile: certs.caFile },
    stop: m.stop,
  };
}

async function startMoto(port: number, log: Log, timeoutMs: number, signal: AbortSignal | undefined, tls: boolean): Promise<Emulator> {
  const { python } = await ensureMoto(log);
  const t0 = Date.now();
  log(`[moto] starting ${MOTO_VERSION} on 127.0.0.1:${port}${tls ? ' (TLS)' : ''} (${python})`);
  const root = tls ? await mkdtemp(join(tmpdir(), `didit-moto-tls-${process.pid}-`)) : undefined;
  const certs = root === undefined ? undefined : await writeEmulatorCertificates(root);
  const args = ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)];
  if (certs) args.push('--ssl-cert', certs.certFile, '--ssl-key', certs.keyFile);
  const m = launch('moto', python, args, childEnv({ PYTHONUNBUFFERED: '1' }), tmpdir(), log, () => {
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  await waitHealthy('moto', m, `${endpoint}/moto-api/`, (status) => status === 200, timeoutMs, signal, certs?.caPem);
  log(`[moto] healthy at ${endpoint} after ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${m.child.pid})`);
  const base: Emulator = { kind: 'moto', endpoint, region: region(), credentials: { ...TEST_CREDENTIALS }, stop: m.stop };
  if (certs === undefined) return base;
  return { ...base, caPem: certs.caPem, caFile: certs.caFile, tls: { endpoint, caPem: certs.caPem, caFile: certs.caFile } };
}

// ---------------------------------------------------------------------------------------------------------
// TLS

interface EmulatorCertificates {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Key and certificate in one PEM, as LocalStack's CUSTOM_SSL_CERT_PATH wants it. */
  combinedFile: string;
}

/**
 * A CA made for this start and a server certificate it signs for 127.0.0.1 / localhost, written (mode 0600)
 * into `dir`, which the emulator's stop removes. Fresh keys per start: no private key is kept or committed.
 * Clients trust the CA explicitly; nothing here turns verification off.
 */
async function writeEmulatorCertificates(dir: string): Promise<EmulatorCertificates> {
  // The same throwaway chain as the Didit sandbox's (EC P-256 CA + leaf for 127.0.0.1, ::1 and localhost).
  const { createCertificates } = await import('../../test/sandbox/certificates.ts');
  const chain = await createCertificates(undefined, { caName: 'didit-kms-gateway emulator CA', validDays: 2 });
  const files = {
    caFile: join(dir, 'emulator-ca.pem'),
    certFile: join(dir, 'server.crt.pem'),
    keyFile: join(dir, 'server.key.pem'),
    combinedFile: join(dir, 'server.test.pem'),
  };
  await writeFile(files.caFile, chain.caPem, { mode: 0o600 });
  await writeFile(files.certFile, chain.certPem, { mode: 0o600 });
  await writeFile(files.keyFile, chain.keyPem, { mode: 0o600 });
  await writeFile(files.combinedFile, `${chain.keyPem.trim()}\n${chain.certPem.trim()}\n`, { mode: 0o600 });
  return { caPem: chain.caPem, ...files };
}

// ---------------------------------------------------------------------------------------------------------
// helpers

async function fetchText(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.text() };
}

/** GET over https with `caPem` as the only trust anchor (fetch has no per-request CA option). */
function fetchTextTrusting(url: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca: caPem, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('health check timed out')));
    req.on('error', reject);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function capture(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.once('error', (err) => resolve({ code: -1, stdout, stderr: stderr + String(err) }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a command, streaming its lines to `onLine`; rejects with the last lines on failure. */
function run(cmd: string, args: string[], onLine: Log): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({}) });
    const tail: string[] = [];
    let partial = '';
    const onData = (b: Buffer): void => {
      const lines = (partial + b.toString('utf8')).split(/\r?\n/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > OUTPUT_TAIL) tail.shift();
        onLine(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} failed with code ${code}:\n${tail.join('\n')}`));
    });
  });
}

