/**
 * The gateway's benchmark: one run, one local Didit sandbox, one AWS emulator, three variants of the
 * same "create session" call (`POST /v3/session/` with `{"workflow_id": <uuid>}`):
 *
 *   (a) naive       the key as a string from an env var (DIDIT_API_KEY) + global fetch;
 *   (b) powertools  Powertools Parameters `SecretsProvider` reading the plaintext key from a Secrets
 *                   Manager SecretString (default cache: 5 s) + global fetch;
 *   (c) ours        the real createSession handler: sealed key (KMS ciphertext in SecretBinary), KMS
 *                   Decrypt into secure memory per call, one TLS write to Didit, key zeroed.
 *
 * Each variant runs in its own child process (warm run) and in K fresh processes (cold starts from
 * its esbuild bundle). The script prints tables and ratios of (c) to (a) and (b), and writes
 * everything to bench/results/latest.json. It reports; it asserts no timing. It exits non-zero only
 * when the benchmark itself could not run (a call failed, a child died).
 *
 * Env: BENCH_CALLS (measured warm calls, default 200), BENCH_WARMUP (default 20), BENCH_COLD (cold
 * samples per variant, default 5); BENCH_IDLE_SECONDS / BENCH_IDLE_CALLS for the after-idle part (bench/idle.ts;
 * "0" skips it); DIDIT_TEST_EMULATOR=moto|localstack or AWS_ENDPOINT_URL as for the tests.
 * The Lambda-sandbox part (bench/lambda-bench.ts; needs root and cgroup v1 like test:lambda): BENCH_LAMBDA=0
 * skips it; BENCH_INIT_RUNS (cold inits per function and memory size, default 5, 1 under CI=true),
 * BENCH_INIT_MEMORY (default 128,512,1769; 512 under CI=true), BENCH_INIT_OTHERS=0 leaves out the other kinds of function;
 * its warm run at 512 MB uses BENCH_CALLS / BENCH_WARMUP.
 *
 * Usage: node bench/run.ts
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { startEmulator, type Emulator } from '../infra/local/emulator.ts';
import { provisionSealedKey, secretsClientFor, teardownSealedKey, type SealedKeyResources } from '../infra/local/provision.ts';
import { startSandbox, type Sandbox } from '../test/sandbox/index.ts';
import { apiEvent } from '../test/support/api-events.ts';
import { bundleVariant, nativeRuntimeSize, REPO, type BundleInfo, type NativeRuntimeSize } from './bundle.ts';
import { measureCounterCost, measureTracerBundleShare, measureTracingInit, renderLimits, type Limits } from './limits.ts';
import { runIdleBench } from './idle.ts';
import { runLambdaBench, type LambdaBenchResult } from './lambda-bench.ts';
import { renderChart } from './chart.ts';
import { median, ms, num, ratio, summarize, table, type Summary } from './stats.ts';
import type { ChildMessage, Counters, ParentMessage, VariantName } from './warm-child.ts';

const VARIANTS: readonly VariantName[] = ['naive', 'powertools', 'ours'];
const LABELS: Record<VariantName, string> = {
  naive: '(a) naive env+fetch',
  powertools: '(b) Powertools SecretsProvider+fetch',
  ours: '(c) ours (sealed key)',
};
const STAGE = 'bench';
const CHILD_TIMEOUT_MS = 120_000;

const CALLS = positiveInt('BENCH_CALLS', 200);
const WARMUP = positiveInt('BENCH_WARMUP', 20);
const COLD = positiveInt('BENCH_COLD', 5);
const LAMBDA = process.env['BENCH_LAMBDA'] !== '0';
// CI's smoke run keeps the sandbox part to one sample per function and memory size.
const INIT_RUNS = positiveInt('BENCH_INIT_RUNS', process.env['CI'] === 'true' ? 1 : 5);
const INIT_MEMORY = (process.env['BENCH_INIT_MEMORY'] || (process.env['CI'] === 'true' ? '512' : '128,512,1769')).split(',').map((x) => {
  const mb = Number(x.trim());
  if (!Number.isInteger(mb) || mb < 128 || mb > 10240) throw new Error('BENCH_INIT_MEMORY must list memory sizes in MB (128–10240)');
  return mb;
});
const INIT_OTHERS = process.env['BENCH_INIT_OTHERS'] !== '0';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

// ------------------------------------------------------------------------------------------------
// children

const children = new Set<ChildProcess>();

interface Inbox {
  next<T extends ChildMessage['type']>(type: T): Promise<Extract<ChildMessage, { type: T }>>;
}

/** Messages from a child, awaited in protocol order; an error message, an exit or a timeout rejects. */
function inboxOf(child: ChildProcess, what: string): Inbox {
  const queue: ChildMessage[] = [];
  let waiter: { resolve: (m: ChildMessage) => void; reject: (e: Error) => void } | undefined;
  let failure: Error | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    waiter?.reject(failure);
    waiter = undefined;
  };
  child.on('message', (raw) => {
    const message = raw as ChildMessage;
    if (message.type === 'error') return fail(new Error(`${what}: ${message.message}`));
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve(message);
    } else queue.push(message);
  });
  child.once('exit', (code, signal) => fail(new Error(`${what} exited early (code ${code}, signal ${signal})`)));
  child.once('error', (err) => fail(err));
  return {
    async next(type) {
      const message =
        queue.shift() ??
        (await new Promise<ChildMessage>((resolve, reject) => {
          if (failure) return reject(failure);
          const timer = setTimeout(() => reject(new Error(`${what}: no '${type}' within ${CHILD_TIMEOUT_MS} ms`)), CHILD_TIMEOUT_MS);
          waiter = {
            resolve: (m) => {
              clearTimeout(timer);
              resolve(m);
            },
            reject: (e) => {
              clearTimeout(timer);
              reject(e);
            },
          };
        }));
      if (message.type !== type) throw new Error(`${what}: expected '${type}', got '${message.type}'`);
      return message as Extract<ChildMessage, { type: typeof type }>;
    },
  };
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

// ------------------------------------------------------------------------------------------------
// warm runs

interface Snapshot {
  readonly tlsHandshakes: number;
  readonly connections: number;
  readonly sessionRequests: number;
}

interface WarmResult {
  readonly sourceLoadMs: number;
  readonly latency: Summary;
  readonly latenciesMs: number[];
  /** Wall time of the measured calls, back to back (tells whether a 5 s cache could expire in it). */
  readonly windowMs: number;
  readonly failures: { warmup: number[]; measured: number[] };
  readonly sandbox: { tlsHandshakes: number; connections: number; sessionRequests: number };
  readonly counters: Counters;
  readonly extra: Record<string, unknown>;
}

async function warmRun(name: VariantName, env: NodeJS.ProcessEnv, sandbox: Sandbox, body: string): Promise<WarmResult> {
  const snapshot = (): Snapshot => ({
    tlsHandshakes: sandbox.tlsHandshakes(),
    connections: sandbox.connections(),
    sessionRequests: sandbox.count({ method: 'POST', pathPrefix: '/v3/session/' }),
  });
  const child = track(
    fork(join(REPO, 'bench', 'warm-child.ts'), [name], {
      env,
      cwd: REPO,
      // stdout (the product's structured logs and EMF metrics) is discarded; stderr shows failures.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: ['--disable-warning=ExperimentalWarning'],
    }),
  );
  const inbox = inboxOf(child, `warm child ${name}`);
  const send = (message: ParentMessage): void => {
    child.send(message);
  };
  const ready = await inbox.next('ready');
  send({ type: 'run', warmup: WARMUP, calls: CALLS, body });
  const warmed = await inbox.next('warmed');
  const before = snapshot();
  send({ type: 'measure' });
  const measured = await inbox.next('measured');
  const after = snapshot();
  send({ type: 'extra' });
  const extra = await inbox.next('extra');
  send({ type: 'exit' });
  await exited(child);

  const counters: Counters = {};
  for (const [key, value] of Object.entries(measured.counters)) counters[key] = value - (warmed.counters[key] ?? 0);
  return {
    sourceLoadMs: ready.loadMs,
    latency: summarize(measured.latencies),
    latenciesMs: measured.latencies,
    windowMs: measured.windowMs,
    failures: { warmup: warmed.failures, measured: measured.failures },
    sandbox: {
      tlsHandshakes: after.tlsHandshakes - before.tlsHandshakes,
      connections: after.connections - before.connections,
      sessionRequests: after.sessionRequests - before.sessionRequests,
    },
    counters,
    extra: extra.data,
  };
}

// ------------------------------------------------------------------------------------------------
// cold starts

interface ColdSample {
  readonly status: number;
  /** Parent clock: fork() called → first response reported over IPC. */
  readonly spawnToResponseMs: number;
  /** Child clock, from its time origin (process start): first response. */
  readonly sinceOriginMs: number;
  /** Child clock: Node's own start-up, time origin → the driver's first line. */
  readonly nodeBootMs: number;
  readonly moduleLoadMs: number;
  readonly firstCallMs: number;
}

async function coldSample(bundle: BundleInfo, env: NodeJS.ProcessEnv, eventJson: string, what: string): Promise<ColdSample> {
  const started = performance.now();
  const child = track(
    fork(join(REPO, 'bench', 'cold-child.mjs'), [join(REPO, bundle.file), eventJson], {
      env,
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: [],
    }),
  );
  const message = await new Promise<{
    status: number;
    driverStartMs: number;
    moduleLoadMs: number;
    firstCallMs: number;
    sinceOriginMs: number;
  }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CHILD_TIMEOUT_MS} ms`)), CHILD_TIMEOUT_MS);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as never);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited before answering (code ${code}, signal ${signal})`));
    });
  });
  const spawnToResponseMs = performance.now() - started;
  await exited(child);
  return {
    status: message.status,
    spawnToResponseMs,
    sinceOriginMs: message.sinceOriginMs,
    nodeBootMs: message.driverStartMs,
    moduleLoadMs: message.moduleLoadMs,
    firstCallMs: message.firstCallMs,
  };
}

// ------------------------------------------------------------------------------------------------
// main

interface VariantResult {
  readonly name: VariantName;
  readonly label: string;
  warm?: WarmResult;
  derived?: {
    diditTlsHandshakesPerCall: number;
    diditConnectionsPerCall: number;
    awsConnectionsPerCall: number | null;
    awsConnectionsSource: string;
    secretReadsPerCall?: number;
    diditReusedShare?: number;
  };
  /** (b) only: one Powertools cache miss, i.e. GetSecretValue through the provider with forceFetch. */
  secretRead?: { read: Summary; readMs: number[]; connectionsOpened: number; shareOfCallP50: number };
  kms?: {
    decrypt: Summary;
    decryptMs: number[];
    decryptConnectionsOpened: number;
    shareOfCallP50: number;
    inCall: Summary;
    inCallShareOfMean: number;
  };
  cold?: {
    samples: ColdSample[];
    medianSpawnToResponseMs: number;
    medianSinceOriginMs: number;
    medianNodeBootMs: number;
    medianModuleLoadMs: number;
    medianFirstCallMs: number;
  };
  bundle?: BundleInfo;
  native?: NativeRuntimeSize;
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const loadAtStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const results: Record<VariantName, VariantResult> = {
    naive: { name: 'naive', label: LABELS.naive },
    powertools: { name: 'powertools', label: LABELS.powertools },
    ours: { name: 'ours', label: LABELS.ours },
  };

  log('[bench] bundling the three handlers with esbuild');
  for (const name of VARIANTS) results[name].bundle = await bundleVariant(name);
  results.ours.native = nativeRuntimeSize();

  let sandbox: Sandbox | undefined;
  let emulator: Emulator | undefined;
  let sealed: SealedKeyResources | undefined;
  let plaintextSecretArn: string | undefined;
  const cleanup = async (): Promise<void> => {
    killChildren();
    if (emulator && sealed) await teardownSealedKey(emulator, sealed).catch((err: unknown) => log(`[bench] teardown: ${String(err)}`));
    if (emulator && plaintextSecretArn) {
      const sm = secretsClientFor(emulator);
      await sm
        .send(new DeleteSecretCommand({ SecretId: plaintextSecretArn, ForceDeleteWithoutRecovery: true }))
        .catch((err: unknown) => log(`[bench] delete plaintext secret: ${String(err)}`));
      sm.destroy();
    }
    sealed = undefined;
    plaintextSecretArn = undefined;
    await emulator?.stop().catch(() => {});
    emulator = undefined;
    await sandbox?.close().catch(() => {});
    sandbox = undefined;
  };
  const onSignal = (): void => {
    log('[bench] interrupted, cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // Effectively no rate limit: the sandbox must not answer 429 to a benchmark.
    sandbox = await startSandbox({ rateLimits: { create: 1_000_000, decision: 1_000_000, other: 1_000_000 } });
    log(`[bench] sandbox at ${sandbox.url}; load average ${loadAtStart.join(' ')}`);
    const t0 = performance.now();
    emulator = await startEmulator({ log });
    const emulatorStartMs = performance.now() - t0;
    log(`[bench] emulator ${emulator.kind} at ${emulator.endpoint} (${(emulatorStartMs / 1000).toFixed(1)} s)`);

    // (c): the sealed key, provisioned as the deployment does it.
    sealed = await provisionSealedKey(emulator, { stage: STAGE, apiKey: sandbox.apiKey });
    // (b) only: the same key as a plaintext SecretString, which is what (b) reads.
    {
      const sm = secretsClientFor(emulator);
      try {
        const created = await sm.send(
          new CreateSecretCommand({
            Name: `didit-kms-gateway-bench/plaintext-api-key-${randomBytes(5).toString('hex')}`,
            SecretString: sandbox.apiKey.toString('latin1'),
          }),
        );
        plaintextSecretArn = created.ARN;
      } finally {
        sm.destroy();
      }
      if (!plaintextSecretArn) throw new Error('CreateSecret returned no ARN');
    }

    const base: NodeJS.ProcessEnv = { ...process.env };
    delete base['DIDIT_API_KEY'];
    const awsPort = new URL(emulator.endpoint).port || '80';
    const aws = {
      AWS_ENDPOINT_URL: emulator.endpoint,
      // The emulator is plain http on loopback: the functions refuse that without the explicit switch.
      DIDIT_LOCAL_EMULATOR: '1',
      AWS_REGION: emulator.region,
      AWS_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
    };
    const envs: Record<VariantName, NodeJS.ProcessEnv> = {
      // The naive variant is defined by its key living in an env var: only this child gets it.
      naive: {
        ...base,
        BENCH_AWS_PORT: awsPort,
        DIDIT_BASE_URL: sandbox.url,
        NODE_EXTRA_CA_CERTS: sandbox.caFile,
        DIDIT_API_KEY: sandbox.apiKey.toString('latin1'),
      },
      powertools: {
        ...base,
        ...aws,
        BENCH_AWS_PORT: awsPort,
        DIDIT_BASE_URL: sandbox.url,
        NODE_EXTRA_CA_CERTS: sandbox.caFile,
        DIDIT_SECRET_ID: plaintextSecretArn,
      },
      ours: {
        ...base,
        ...aws,
        BENCH_AWS_PORT: awsPort,
        STAGE,
        SEALED_KEY_SECRET_ID: sealed.secretId,
        KMS_KEY_ID: sealed.kmsKeyArn,
        DIDIT_BASE_URL: sandbox.url,
        DIDIT_CA_FILE: sandbox.caFile,
        OPERATION: 'createSession',
      },
    };

    const body = JSON.stringify({ workflow_id: randomUUID() });
    let broken = false;

    for (const name of VARIANTS) {
      log(`[bench] warm run ${name}: ${WARMUP} warm-up + ${CALLS} measured calls`);
      sandbox.reset();
      const warm = await warmRun(name, envs[name], sandbox, body);
      const r = results[name];
      r.warm = warm;
      if (warm.failures.warmup.length + warm.failures.measured.length > 0) {
        broken = true;
        log(`[bench] ${name}: non-201 answers: warm-up ${JSON.stringify(warm.failures.warmup)}, measured ${JSON.stringify(warm.failures.measured)}`);
      }
      const c = warm.counters;
      r.derived = {
        diditTlsHandshakesPerCall: warm.sandbox.tlsHandshakes / CALLS,
        diditConnectionsPerCall: warm.sandbox.connections / CALLS,
        awsConnectionsPerCall: name === 'ours' ? (c['kmsConnectionsOpened'] ?? 0) / CALLS : (c['awsSockets'] ?? 0) / CALLS,
        awsConnectionsSource:
          name === 'ours'
            ? 'kmsHandler.connectionsOpened delta (KMS; Secrets Manager is cached for CIPHERTEXT_TTL_SECONDS=300)'
            : name === 'powertools'
              ? 'client-side count of TCP connects to the emulator port (diagnostics_channel net.client.socket)'
              : 'client-side count of TCP connects to the emulator port; this variant makes no AWS call',
        ...(name === 'powertools' ? { secretReadsPerCall: (c['secretReads'] ?? 0) / CALLS } : {}),
        ...(name === 'ours' && (c['diditExchanges'] ?? 0) > 0
          ? { diditReusedShare: (c['diditReusedExchanges'] ?? 0) / (c['diditExchanges'] ?? 1) }
          : {}),
      };
      if (name === 'powertools') {
        const readMs = warm.extra['secretReadMs'] as number[];
        const read = summarize(readMs);
        r.secretRead = {
          read,
          readMs,
          connectionsOpened: warm.extra['secretReadConnectionsOpened'] as number,
          shareOfCallP50: read.p50 / warm.latency.p50,
        };
      }
      if (name === 'ours') {
        const decryptMs = warm.extra['decryptMs'] as number[];
        const inCallMs = (warm.extra['kmsInCallMs'] as number[]).slice(-CALLS);
        const decrypt = summarize(decryptMs);
        const inCall = summarize(inCallMs);
        r.kms = {
          decrypt,
          decryptMs,
          decryptConnectionsOpened: warm.extra['decryptConnectionsOpened'] as number,
          shareOfCallP50: decrypt.p50 / warm.latency.p50,
          inCall,
          inCallShareOfMean: inCall.mean / warm.latency.mean,
        };
      }
    }

    log(`[bench] cold starts: ${COLD} fresh processes per variant (interleaved)`);
    const eventJson = JSON.stringify(
      apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body }),
    );
    const samples: Record<VariantName, ColdSample[]> = { naive: [], powertools: [], ours: [] };
    for (let i = 0; i < COLD; i++) {
      for (const name of VARIANTS) {
        const bundle = results[name].bundle!;
        const sample = await coldSample(bundle, envs[name], eventJson, `cold child ${name} #${i + 1}`);
        if (sample.status !== 201) {
          broken = true;
          log(`[bench] cold ${name} #${i + 1}: status ${sample.status}`);
        }
        samples[name].push(sample);
      }
    }
    for (const name of VARIANTS) {
      const s = samples[name];
      results[name].cold = {
        samples: s,
        medianSpawnToResponseMs: median(s.map((x) => x.spawnToResponseMs)),
        medianSinceOriginMs: median(s.map((x) => x.sinceOriginMs)),
        medianNodeBootMs: median(s.map((x) => x.nodeBootMs)),
        medianModuleLoadMs: median(s.map((x) => x.moduleLoadMs)),
        medianFirstCallMs: median(s.map((x) => x.firstCallMs)),
      };
    }

    // Issue 13: the spend counter's cost per paid call, and tracing's init cost (bench/limits.ts).
    log(`[bench] spend counter: ${WARMUP} warm-up + ${CALLS} counted calls; tracing init: ${COLD} cold samples off/on`);
    const limits: Limits = {
      counter: await measureCounterCost({ emulator, calls: CALLS, warmup: WARMUP, oursCallP50: results.ours.warm?.latency.p50, log }),
      tracingInit: await measureTracingInit({
        samples: COLD,
        env: envs.ours,
        sample: (env, what) => coldSample(results.ours.bundle!, env, eventJson, what),
        log,
      }),
      tracerBundle: await measureTracerBundleShare(join(REPO, 'bench', 'variants', 'ours.ts')),
    };

    const environment = {
      startedAt: startedAt.toISOString(),
      node: process.version,
      platform: `${platform()}-${arch()}`,
      cpu: cpus()[0]?.model ?? 'unknown',
      cpus: cpus().length,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      loadAverageAtStart: loadAtStart,
      emulator: { kind: emulator.kind, endpoint: emulator.endpoint, startMs: Math.round(emulatorStartMs) },
      sandbox: sandbox.url,
      calls: CALLS,
      warmup: WARMUP,
      coldSamples: COLD,
    };
    // After idle (issue 11 goal 4): (c) frozen between calls; BENCH_IDLE_SECONDS=0 skips it.
    const idle = process.env['BENCH_IDLE_SECONDS'] === '0' ? undefined : await runIdleBench({ sandbox, emulator, sealed, stage: STAGE, log });
    // Issue 11 goals 1–3 at Lambda's CPU share: the packaged zips in the Lambda sandbox (bench/lambda-bench.ts).
    let lambda: LambdaBenchResult | undefined;
    if (LAMBDA) {
      const lambdaStarted = performance.now();
      lambda = await runLambdaBench({
        sandbox,
        emulator,
        sealed,
        plaintextSecretArn,
        memorySizes: INIT_MEMORY,
        initRuns: INIT_RUNS,
        otherKinds: INIT_OTHERS,
        warmCalls: CALLS,
        warmup: WARMUP,
        log,
      });
      log(`[bench] Lambda sandbox part took ${((performance.now() - lambdaStarted) / 1000).toFixed(0)} s`);
    }
    const report = `${render(environment, results)}${renderLimits(limits)}${idle ? `\n\n${idle.lines.join('\n')}` : ''}${lambda ? `\n${lambda.lines.join('\n')}` : ''}`;
    const json = `${JSON.stringify({ environment, notes: NOTES(environment.emulator.kind), variants: results, ratios: ratios(results), limits, idle, lambda }, null, 2)}\n`;
    // Belt and braces: nothing printed or written may contain the key.
    const keyText = sandbox.apiKey.toString('latin1');
    if (report.includes(keyText) || json.includes(keyText)) throw new Error('refusing to print or write a report that contains the Didit key');
    process.stdout.write(`${report}\n`);

    const outDir = join(REPO, 'bench', 'results');
    await mkdir(outDir, { recursive: true });
    const file = join(outDir, 'latest.json');
    await writeFile(file, json);
    log(`[bench] results written to ${file}`);
    const chart = join(outDir, 'chart.svg');
    await writeFile(chart, renderChart({ environment, warm: warmSeries(results), lambda }));
    log(`[bench] chart written to ${chart}`);
    return broken ? 1 : 0;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// ------------------------------------------------------------------------------------------------
// report

const NOTES = (emulatorKind: string): string[] => [
  'Latencies are in-process handler times (event in → result out) against a local HTTPS sandbox and a local AWS emulator on the same host; absolute numbers are not AWS numbers, ratios within this run are the point.',
  '(a) makes no AWS call at all; (b) reads Secrets Manager only on a Powertools cache miss (default maxAge 5 s: with back-to-back calls a measured window shorter than 5 s sees no read); (c) decrypts with KMS on every call (Secrets Manager ciphertext cached 300 s).',
  'AWS connections: (c) from kmsHandler.connectionsOpened, cross-checked with a client-side count of TCP connects to the emulator; (a)/(b) from that client-side count (node:diagnostics_channel net.client.socket). Didit side: TLS handshakes and TCP connections counted by the sandbox server.',
  '(c) also validates the input (zod), writes an audit log line and EMF metrics to stdout per call (discarded to /dev/null here), which (a) and (b) do not.',
  `Emulator: ${emulatorKind}.${emulatorKind === 'moto' ? ' moto\'s server closes the connection after every response, so (c)\'s new KMS connection per call is an emulator artefact (AWS KMS keeps connections alive).' : ''}`,
  'Cold start = a fresh Node process importing the variant\'s esbuild bundle (.mjs, as deployed) and making its first call; the Lambda runtime\'s own init is not included.',
  'Bundle sizes: esbuild with serverless.yml\'s settings (bundle, minify, keepNames, esm, node22, require banner, sodium-native external, the tracer left out as on a stage without tracing); (c)\'s native column is what the linux-arm64 package adds for the sodium-native external.',
];

function render(env: Record<string, unknown> & { emulator: { kind: string; endpoint: string } }, r: Record<VariantName, VariantResult>): string {
  const out: string[] = [];
  const kib = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : (bytes / 1024).toFixed(1));
  out.push('');
  out.push(`didit-kms-gateway benchmark — ${String(env['startedAt'])}`);
  out.push(
    `node ${String(env['node'])} on ${String(env['platform'])} (${String(env['cpu'])}, ${String(env['cpus'])} CPUs); ` +
      `emulator: ${env.emulator.kind} (${env.emulator.endpoint}); sandbox: local HTTPS fake Didit`,
  );
  out.push(`warm: ${WARMUP} warm-up + ${CALLS} measured calls per variant, each variant in its own process; cold: ${COLD} fresh processes per variant`);
  out.push('');

  out.push('Warm latency per call (ms)');
  out.push(
    table([
      ['variant', 'p50', 'p99', 'mean', 'min', 'max', 'non-201', 'window (s)'],
      ...VARIANTS.map((v) => {
        const w = r[v].warm;
        return [
          r[v].label,
          ms(w?.latency.p50),
          ms(w?.latency.p99),
          ms(w?.latency.mean),
          ms(w?.latency.min),
          ms(w?.latency.max),
          String((w?.failures.measured.length ?? 0) + (w?.failures.warmup.length ?? 0)),
          w === undefined ? 'n/a' : (w.windowMs / 1000).toFixed(2),
        ];
      }),
    ]),
  );
  out.push('');

  out.push('New connections per warm call (target 0)');
  out.push(
    table([
      ['variant', 'Didit TLS handshakes', 'Didit TCP conns', 'AWS conns', 'Secrets reads', 'AWS count source'],
      ...VARIANTS.map((v) => {
        const d = r[v].derived;
        return [
          r[v].label,
          num(d?.diditTlsHandshakesPerCall, 3),
          num(d?.diditConnectionsPerCall, 3),
          d?.awsConnectionsPerCall === null || d === undefined ? 'n/a' : num(d.awsConnectionsPerCall, 3),
          v === 'powertools' ? num(d?.secretReadsPerCall, 3) : v === 'naive' ? '0 (none)' : '0 (cached)',
          v === 'ours' ? 'kmsHandler.connectionsOpened' : v === 'powertools' ? 'client TCP connects' : 'no AWS call',
        ];
      }),
    ]),
  );
  const ours = r.ours;
  if (ours.warm) {
    const c = ours.warm.counters;
    out.push(
      `(c) over the measured calls: Didit exchanges ${c['diditExchanges']}, reused ${c['diditReusedExchanges']}, ` +
        `Didit connections opened ${c['diditConnectionsOpened']}; KMS connections opened ${c['kmsConnectionsOpened']}; ` +
        `all AWS TCP connects ${c['awsSockets']}`,
    );
  }
  out.push('');

  if (ours.kms && ours.warm) {
    out.push('AWS round trips alone (ms): (c) pays KMS Decrypt on every call; (b) pays GetSecretValue on a cache miss only');
    const pt = r.powertools.secretRead;
    out.push(
      table([
        ['measure', 'p50', 'p99', 'mean', 'share of call'],
        [
          `(c) decryptToSecureBuffer alone (${ours.kms.decrypt.n} calls)`,
          ms(ours.kms.decrypt.p50),
          ms(ours.kms.decrypt.p99),
          ms(ours.kms.decrypt.mean),
          `${(ours.kms.shareOfCallP50 * 100).toFixed(0)}% of call p50`,
        ],
        [
          `(c) KMS inside the handler calls (${ours.kms.inCall.n})`,
          ms(ours.kms.inCall.p50),
          ms(ours.kms.inCall.p99),
          ms(ours.kms.inCall.mean),
          `${(ours.kms.inCallShareOfMean * 100).toFixed(0)}% of call mean`,
        ],
        ...(pt
          ? [
              [
                `(b) SecretsProvider.get forceFetch (${pt.read.n} calls)`,
                ms(pt.read.p50),
                ms(pt.read.p99),
                ms(pt.read.mean),
                `${pt.shareOfCallP50.toFixed(1)}× (b)'s cached call p50`,
              ],
            ]
          : []),
      ]),
    );
    out.push(
      `New AWS connections during these loops: (c) KMS ${ours.kms.decryptConnectionsOpened} / ${ours.kms.decrypt.n}` +
        (pt ? `; (b) Secrets Manager ${pt.connectionsOpened} / ${pt.read.n}` : ''),
    );
    out.push('');
  }

  out.push(`Cold start (median of ${COLD} fresh processes, ms)`);
  out.push(
    table([
      ['variant', 'spawn→1st response', 'proc start→1st resp', 'node boot', 'module load', 'first call'],
      ...VARIANTS.map((v) => {
        const c = r[v].cold;
        return [
          r[v].label,
          ms(c?.medianSpawnToResponseMs),
          ms(c?.medianSinceOriginMs),
          ms(c?.medianNodeBootMs),
          ms(c?.medianModuleLoadMs),
          ms(c?.medianFirstCallMs),
        ];
      }),
    ]),
  );
  out.push('');

  out.push('Per-function bundle (KiB)');
  out.push(
    table([
      ['variant', 'bundle', 'gzip -9', 'inputs', 'native runtime (linux-arm64)', 'total'],
      ...VARIANTS.map((v) => {
        const b = r[v].bundle;
        const native = v === 'ours' ? r.ours.native : undefined;
        return [
          r[v].label,
          kib(b?.bytes),
          kib(b?.gzipBytes),
          String(b?.inputs ?? 'n/a'),
          native ? `${kib(native.sodiumNativeBytes)} (+deps ${kib(native.withDependenciesBytes)})` : '—',
          kib((b?.bytes ?? 0) + (native?.withDependenciesBytes ?? 0)),
        ];
      }),
    ]),
  );
  out.push('');

  out.push('Ratios of (c) ours to the baselines');
  out.push(
    table([
      ['metric', 'vs (a) naive', 'vs (b) Powertools'],
      ...ratios(r).map((x) => [x.metric, x.vsNaive, x.vsPowertools]),
    ]),
  );
  out.push('');
  out.push('Notes');
  for (const note of NOTES(env.emulator.kind)) out.push(`- ${note}`);
  return out.join('\n');
}

function warmSeries(r: Record<VariantName, VariantResult>): Array<{ label: string; latenciesMs: number[] }> {
  return VARIANTS.map((v) => ({ label: r[v].label, latenciesMs: r[v].warm?.latenciesMs ?? [] }));
}

function ratios(r: Record<VariantName, VariantResult>): Array<{ metric: string; vsNaive: string; vsPowertools: string }> {
  const rows: Array<{ metric: string; vsNaive: string; vsPowertools: string }> = [];
  const add = (metric: string, pick: (v: VariantResult) => number | undefined, ours?: number): void => {
    const mine = ours ?? pick(r.ours);
    rows.push({ metric, vsNaive: ratio(mine, pick(r.naive)), vsPowertools: ratio(mine, pick(r.powertools)) });
  };
  add('warm p50', (v) => v.warm?.latency.p50);
  add('warm p99', (v) => v.warm?.latency.p99);
  add('warm mean', (v) => v.warm?.latency.mean);
  add('Didit TLS handshakes / warm call', (v) => v.derived?.diditTlsHandshakesPerCall);
  add('AWS connections / warm call', (v) => v.derived?.awsConnectionsPerCall ?? undefined);
  rows.push({
    metric: 'per-call AWS round trip p50 (c KMS Decrypt vs b GetSecretValue)',
    vsNaive: 'n/a (no AWS call)',
    vsPowertools: ratio(r.ours.kms?.decrypt.p50, r.powertools.secretRead?.read.p50),
  });
  add('cold: spawn → first response', (v) => v.cold?.medianSpawnToResponseMs);
  add('cold: module load', (v) => v.cold?.medianModuleLoadMs);
  add('cold: first call', (v) => v.cold?.medianFirstCallMs);
  add('bundle size', (v) => v.bundle?.bytes);
  add('bundle + native runtime', (v) => v.bundle?.bytes, (r.ours.bundle?.bytes ?? 0) + (r.ours.native?.withDependenciesBytes ?? 0));
  return rows;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    killChildren();
    log(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
