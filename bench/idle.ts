/**
 * "After idle" (issue 11, goal 4): full TLS handshakes per call to Didit and to KMS when the function
 * sat frozen between calls, as Lambda freezes an idle execution environment.
 *
 * The real createSession handler runs in a child process (bench/idle-child.ts). Between calls the
 * child is frozen with the cgroup v1 freezer (root; SIGSTOP/SIGCONT when the freezer is not
 * writable), left frozen for the idle period, thawed, and called once. Handshakes are counted on the
 * server side: Didit by the sandbox (120 s keep-alive, like Didit), KMS by a TLS-terminating proxy in
 * front of the emulator (the emulators speak plain HTTP here), each split into full and resumed with
 * `isSessionReused()`. The child's own pool counters are a client-side cross-check.
 *
 * Prints, per idle period, exactly
 *   idle 10 s: Didit full TLS handshakes/call <x>, KMS full TLS handshakes/call <y>
 * followed by the latency of those calls and what the emulator did with the idle connection.
 *
 * Env: BENCH_IDLE_SECONDS (comma-separated periods, default "10,60"), BENCH_IDLE_CALLS (calls per
 * period, default 2); DIDIT_TEST_EMULATOR / AWS_ENDPOINT_URL as for the tests.
 *
 * Usage: node bench/idle.ts   (also run by `npm run bench` through bench/run.ts)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '../infra/local/emulator.ts';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../infra/local/provision.ts';
import { startSandbox, type Sandbox } from '../test/sandbox/index.ts';
import { startTlsCountingProxy, type TlsCountingProxy } from '../test/support/tls-counting-proxy.ts';
import { REPO } from './bundle.ts';
import type { IdleChildMessage, IdleCounters, IdleParentMessage } from './idle-child.ts';
import { median } from './stats.ts';

const FREEZER_ROOT = '/sys/fs/cgroup/freezer';
const CALL_TIMEOUT_MS = 60_000;

export interface IdleCall {
  readonly ms: number;
  /** Of which KMS Decrypt (the handler's own measurement). */
  readonly kmsMs: number;
  readonly status: number;
  /** Server-side counts for this call. */
  readonly diditFull: number;
  readonly diditResumed: number;
  readonly kmsFull: number;
  readonly kmsResumed: number;
  /** Client-side (the child's pools), for cross-checking. */
  readonly client: IdleCounters;
  /** Whether the emulator had closed the KMS connection by the time the function was thawed. */
  readonly kmsClosedByServerWhileIdle: boolean;
}

export interface IdlePeriodResult {
  readonly idleSeconds: number;
  readonly calls: IdleCall[];
  readonly diditFullPerCall: number;
  readonly kmsFullPerCall: number;
  readonly diditResumedPerCall: number;
  readonly kmsResumedPerCall: number;
  readonly latencyMs: number[];
}

export interface IdleBenchResult {
  readonly freezeMethod: 'cgroup v1 freezer' | 'SIGSTOP/SIGCONT';
  readonly emulator: string;
  readonly firstCall: IdleCall;
  readonly periods: IdlePeriodResult[];
  readonly lines: string[];
}

export interface IdleBenchContext {
  readonly sandbox: Sandbox;
  readonly emulator: Emulator;
  readonly sealed: SealedKeyResources;
  readonly stage: string;
  readonly log: (line: string) => void;
}

export function idlePeriods(): number[] {
  const raw = process.env['BENCH_IDLE_SECONDS'];
  if (raw === undefined || raw.trim() === '') return [10, 60];
  const periods = raw.split(',').map((s) => Number(s.trim()));
  if (periods.some((p) => !Number.isFinite(p) || p < 0 || p > 3600)) throw new Error('BENCH_IDLE_SECONDS must list seconds, e.g. 10,60');
  return periods;
}

function callsPerPeriod(): number {
  const raw = process.env['BENCH_IDLE_CALLS'];
  const value = raw === undefined || raw === '' ? 2 : Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error('BENCH_IDLE_CALLS must be a positive integer');
  return value;
}

// ------------------------------------------------------------------------------------------------
// freezing

interface Freezer {
  readonly method: IdleBenchResult['freezeMethod'];
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** After the child has exited. */
  dispose(): Promise<void>;
}

async function freezerFor(child: ChildProcess): Promise<Freezer> {
  const pid = child.pid;
  if (pid === undefined) throw new Error('child has no pid');
  const dir = join(FREEZER_ROOT, `didit-idle-${process.pid}-${pid}`);
  try {
    if (!existsSync(FREEZER_ROOT)) throw new Error('no cgroup v1 freezer');
    await mkdir(dir);
    await writeFile(join(dir, 'cgroup.procs'), String(pid));
    const state = join(dir, 'freezer.state');
    const waitFor = async (wanted: string): Promise<void> => {
      // FREEZING → FROZEN takes a moment; poll the state file (bench code, not a test).
      for (let i = 0; i < 200; i++) {
        if ((await readFile(state, 'utf8')).trim() === wanted) return;
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`freezer did not reach ${wanted}`);
    };
    return {
      method: 'cgroup v1 freezer',
      async freeze() {
        await writeFile(state, 'FROZEN');
        await waitFor('FROZEN');
      },
      async thaw() {
        await writeFile(state, 'THAWED');
        await waitFor('THAWED');
      },
      async dispose() {
        await writeFile(state, 'THAWED').catch(() => {});
        await rmdir(dir).catch(() => {});
      },
    };
  } catch {
    await rmdir(dir).catch(() => {});
    return {
      method: 'SIGSTOP/SIGCONT',
      async freeze() {
        process.kill(pid, 'SIGSTOP');
      },
      async thaw() {
        process.kill(pid, 'SIGCONT');
      },
      async dispose() {},
    };
  }
}

// ------------------------------------------------------------------------------------------------
// the run

function inbox(child: ChildProcess): () => Promise<IdleChildMessage> {
  const queue: IdleChildMessage[] = [];
  const waiters: Array<(m: IdleChildMessage) => void> = [];
  let failure: Error | undefined;
  child.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m as IdleChildMessage);
    else queue.push(m as IdleChildMessage);
  });
  child.once('exit', (code, signal) => {
    failure = new Error(`idle child exited (code ${code}, signal ${signal})`);
    for (const w of waiters.splice(0)) w({ type: 'error', message: failure.message });
  });
  return async () => {
    const queued = queue.shift();
    if (queued) return queued;
    if (failure) throw failure;
    return new Promise<IdleChildMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`idle child: no answer within ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS);
      waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  };
}

export async function runIdleBench(ctx: IdleBenchContext): Promise<IdleBenchResult> {
  const { sandbox, emulator, sealed, log } = ctx;
  const periods = idlePeriods();
  const calls = callsPerPeriod();
  const proxy: TlsCountingProxy = await startTlsCountingProxy(emulator.endpoint);
  let child: ChildProcess | undefined;
  let freezer: Freezer | undefined;
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_ENDPOINT_URL: emulator.endpoint, // Secrets Manager (ciphertext, cached for the whole run)
      AWS_ENDPOINT_URL_KMS: proxy.url, // KMS over TLS, through the counting proxy
      KMS_EMULATOR_CA_FILE: proxy.caFile, // its CA: the KMS handler's trust anchor for a loopback endpoint
      DIDIT_LOCAL_EMULATOR: '1', // plain http to the emulator (Secrets Manager) is allowed on loopback
      AWS_REGION: emulator.region,
      AWS_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
      CIPHERTEXT_TTL_SECONDS: '3600',
      STAGE: ctx.stage,
      SEALED_KEY_SECRET_ID: sealed.secretId,
      KMS_KEY_ID: sealed.kmsKeyArn,
      DIDIT_BASE_URL: sandbox.url,
      DIDIT_CA_FILE: sandbox.caFile,
      OPERATION: 'createSession',
    };
    delete env['DIDIT_API_KEY'];
    child = fork(join(REPO, 'bench', 'idle-child.ts'), [], {
      env,
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: ['--disable-warning=ExperimentalWarning'],
    });
    const next = inbox(child);
    const expect = async <T extends IdleChildMessage['type']>(type: T): Promise<Extract<IdleChildMessage, { type: T }>> => {
      const m = await next();
      if (m.type === 'error') throw new Error(`idle child: ${m.message}`);
      if (m.type !== type) throw new Error(`idle child: expected ${type}, got ${m.type}`);
      return m as Extract<IdleChildMessage, { type: T }>;
    };
    await expect('ready');
    freezer = await freezerFor(child);
    const body = JSON.stringify({ workflow_id: randomUUID() });
    const server = () => ({
      diditFull: sandbox.tlsHandshakes() - sandbox.tlsResumedHandshakes(),
      diditResumed: sandbox.tlsResumedHandshakes(),
      kmsFull: proxy.fullHandshakes(),
      kmsResumed: proxy.resumedHandshakes(),
    });
    const call = async (): Promise<IdleCall> => {
      const kmsClosed = proxy.openConnections() === 0;
      const before = server();
      child!.send({ type: 'call', body } satisfies IdleParentMessage);
      const answer = await expect('called');
      const after = server();
      if (answer.status !== 201) throw new Error(`idle bench call answered ${answer.status}`);
      return {
        ms: answer.ms,
        kmsMs: answer.kmsMs,
        status: answer.status,
        diditFull: after.diditFull - before.diditFull,
        diditResumed: after.diditResumed - before.diditResumed,
        kmsFull: after.kmsFull - before.kmsFull,
        kmsResumed: after.kmsResumed - before.kmsResumed,
        client: answer.counters,
        kmsClosedByServerWhileIdle: kmsClosed,
      };
    };

    log(`[bench] idle: first call (opens the connections), then ${calls} call(s) after each of ${periods.join(', ')} s frozen (${freezer.method})`);
    const firstCall = await call();
    const results: IdlePeriodResult[] = [];
    for (const seconds of periods) {
      const done: IdleCall[] = [];
      for (let i = 0; i < calls; i++) {
        await freezer.freeze();
        await new Promise((r) => setTimeout(r, seconds * 1000));
        await freezer.thaw();
        done.push(await call());
      }
      const per = (pick: (c: IdleCall) => number): number => done.reduce((n, c) => n + pick(c), 0) / done.length;
      results.push({
        idleSeconds: seconds,
        calls: done,
        diditFullPerCall: per((c) => c.diditFull),
        kmsFullPerCall: per((c) => c.kmsFull),
        diditResumedPerCall: per((c) => c.diditResumed),
        kmsResumedPerCall: per((c) => c.kmsResumed),
        latencyMs: done.map((c) => c.ms),
      });
      log(`[bench] idle ${seconds} s done`);
    }
    child.send({ type: 'exit' } satisfies IdleParentMessage);
    await new Promise<void>((resolve) => (child!.exitCode !== null ? resolve() : child!.once('exit', () => resolve())));
    const result = { freezeMethod: freezer.method, emulator: emulator.kind, firstCall, periods: results, lines: [] as string[] };
    result.lines.push(...render(result));
    return result;
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      await freezer?.thaw().catch(() => {});
      child.kill('SIGKILL');
      await new Promise<void>((resolve) => (child!.exitCode !== null || child!.signalCode !== null ? resolve() : child!.once('exit', () => resolve())));
    }
    await freezer?.dispose();
    await proxy.close();
  }
}

const fmt = (n: number): string => String(Number(n.toFixed(2)));
const msList = (values: readonly number[]): string => values.map((v) => v.toFixed(1)).join(', ');

function render(r: Omit<IdleBenchResult, 'lines'>): string[] {
  const out: string[] = [];
  out.push(`After idle: the function frozen between calls (${r.freezeMethod}); Didit = local sandbox (Keep-Alive timeout=120), KMS = ${r.emulator} behind a TLS proxy; handshakes counted server-side`);
  const f = r.firstCall;
  out.push(
    `first call, no connection yet: Didit full TLS handshakes ${f.diditFull}, KMS full TLS handshakes ${f.kmsFull}; latency ${f.ms.toFixed(1)} ms (KMS Decrypt ${f.kmsMs.toFixed(1)} ms)`,
  );
  for (const p of r.periods) {
    out.push(`idle ${p.idleSeconds} s: Didit full TLS handshakes/call ${fmt(p.diditFullPerCall)}, KMS full TLS handshakes/call ${fmt(p.kmsFullPerCall)}`);
    const closed = p.calls.filter((c) => c.kmsClosedByServerWhileIdle).length;
    out.push(
      `  latency (ms): ${msList(p.latencyMs)} (median ${median(p.latencyMs).toFixed(1)}, ${fmt(median(p.latencyMs) / f.ms)}× the first call; ` +
        `KMS Decrypt part ${msList(p.calls.map((c) => c.kmsMs))}); ` +
        `resumed TLS handshakes/call: Didit ${fmt(p.diditResumedPerCall)}, KMS ${fmt(p.kmsResumedPerCall)}; ` +
        `KMS connection closed by the emulator while frozen: ${closed}/${p.calls.length}`,
    );
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// standalone: node bench/idle.ts

async function standalone(): Promise<number> {
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  let sandbox: Sandbox | undefined;
  let emulator: Emulator | undefined;
  let sealed: SealedKeyResources | undefined;
  try {
    sandbox = await startSandbox({ rateLimits: { create: 1_000_000, decision: 1_000_000, other: 1_000_000 } });
    emulator = await startEmulator({ log });
    sealed = await provisionSealedKey(emulator, { stage: 'bench-idle', apiKey: sandbox.apiKey });
    const result = await runIdleBench({ sandbox, emulator, sealed, stage: 'bench-idle', log });
    process.stdout.write(`${result.lines.join('\n')}\n`);
    return 0;
  } finally {
    if (emulator && sealed) await teardownSealedKey(emulator, sealed).catch(() => {});
    await emulator?.stop().catch(() => {});
    await sandbox?.close().catch(() => {});
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  standalone().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`[bench] idle failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
