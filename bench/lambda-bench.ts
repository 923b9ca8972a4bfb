/**
 * Issue 11, goals 1–3 at Lambda's CPU share: the packaged functions (bench/lambda-package.ts) run by the
 * Lambda sandbox (infra/local/lambda/sandbox.ts: RIE + aws-lambda-ric, cgroup CPU quota memory/1769 of a
 * core, memory limit, frozen between invocations), composed here, not changed.
 *
 *  - Cold init: a fresh sandbox per sample, one invocation, Lambda's own figure: the RIE's
 *    `INIT REPORT (durationMs)` (runtime process start → the runtime's first /next: Node's boot, the RIC,
 *    the handler module's import). Samples are interleaved (gateway, naive, powertools, gateway, …) at
 *    each memory size, median of BENCH_INIT_RUNS. The other kinds of function (jobs worker, webhook
 *    receiver, uploads trigger, sign-up) are sampled at 512 MB in the same rounds.
 *  - Bundle: own code vs the Powertools peer's, the native external apart, from the zips' listings.
 *  - Warm at 512 MB: the RIE's `REPORT Duration` of back-to-back invocations of one environment
 *    (frozen and thawed between them, as Lambda does), gateway createSession vs naive, and the KMS
 *    probe (bench/variants/kms-decrypt.ts: the gateway's own Decrypt, nothing else) as "one KMS round trip".
 *
 * It reports; it asserts nothing.
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { startLambdaSandbox, type LambdaSandbox } from '../infra/local/lambda/sandbox.ts';
import { functionLogicalId, type PackagedTemplate, type ResourceMap } from '../infra/local/lambda/template.ts';
import type { Emulator } from '../infra/local/emulator.ts';
import type { SealedKeyResources } from '../infra/local/provision.ts';
import type { Sandbox } from '../test/sandbox/index.ts';
import { apiEvent } from '../test/support/api-events.ts';
import { LAMBDA_DIR, packageFunctions, type FunctionSpec, type PackagedFunction } from './lambda-package.ts';
import { median, ms, ratio, summarize, type Summary } from './stats.ts';

export const FUNCTIONS: readonly FunctionSpec[] = [
  { name: 'createSession', kind: 'gateway', slsName: 'createSession', entry: 'functions/operation.ts', exportName: 'handler', label: 'gateway createSession' },
  { name: 'naive', kind: 'peer', entry: 'bench/variants/naive.ts', exportName: 'handler', label: 'naive env+fetch' },
  { name: 'powertools', kind: 'peer', entry: 'bench/variants/powertools.ts', exportName: 'handler', label: 'Powertools SecretsProvider+fetch' },
  { name: 'jobWorker', kind: 'gateway', slsName: 'jobWorker', entry: 'functions/jobs.ts', exportName: 'worker', label: 'gateway jobs worker' },
  { name: 'diditWebhook', kind: 'gateway', slsName: 'diditWebhook', entry: 'functions/webhook.ts', exportName: 'handler', label: 'gateway webhook receiver' },
  { name: 'onUpload', kind: 'gateway', slsName: 'onUpload', entry: 'functions/uploads.ts', exportName: 'onUpload', label: 'gateway uploads trigger' },
  { name: 'onSignup', kind: 'gateway', slsName: 'onSignup', entry: 'functions/signup.ts', exportName: 'onSignup', label: 'gateway sign-up' },
  { name: 'kmsDecrypt', kind: 'probe', entry: 'bench/variants/kms-decrypt.ts', exportName: 'handler', label: 'KMS Decrypt alone (gateway code)' },
];
const INTERLEAVED = ['createSession', 'naive', 'powertools'] as const;
const OTHER_KINDS = ['jobWorker', 'diditWebhook', 'onUpload', 'onSignup'] as const;
const STAGE = 'bench';

export interface LambdaBenchOptions {
  readonly sandbox: Sandbox;
  readonly emulator: Emulator;
  readonly sealed: SealedKeyResources;
  readonly plaintextSecretArn: string;
  readonly memorySizes: readonly number[];
  readonly initRuns: number;
  readonly otherKinds: boolean;
  readonly warmCalls: number;
  readonly warmup: number;
  readonly log: (line: string) => void;
}

export interface InitSample {
  readonly initMs: number;
  /** The first invocation's REPORT Duration (this RIE runs the init inside it, so it includes initMs). */
  readonly firstInvokeMs: number;
  /** Parent clock: invocation sent to the fresh RIE → answer (runtime start, init, first invocation). */
  readonly firstAnswerMs: number;
  readonly status: string;
}

export interface LambdaBenchResult {
  readonly method: string;
  /** 1-, 5- and 15-minute load averages of the host when the part started and ended (a shared machine). */
  readonly loadAverage: { start: number[]; end: number[] };
  readonly packages: ReadonlyArray<Omit<PackagedFunction, 'zipFile'> & { zipFile: string }>;
  /** memory size → function → samples (in the order taken). */
  readonly init: Record<string, Record<string, InitSample[]>>;
  readonly initMedianMs: Record<string, Record<string, number>>;
  readonly warm512?: {
    readonly calls: number;
    readonly durationsMs: Record<string, number[]>;
    readonly summary: Record<string, Summary>;
    readonly gatewayMinusNaiveP50: number;
    readonly budgetP50: number;
    readonly gatewayMinusNaiveP99: number;
  };
  readonly lines: string[];
}

function template(fns: readonly PackagedFunction[], env: (fn: PackagedFunction) => Record<string, string>): PackagedTemplate {
  const resources: PackagedTemplate['resources'] = {};
  for (const fn of fns) {
    (resources as Record<string, unknown>)[functionLogicalId(fn.name)] = {
      Type: 'AWS::Lambda::Function',
      Properties: {
        FunctionName: `didit-kms-gateway-bench-${fn.name}`,
        Handler: fn.handler,
        Runtime: 'nodejs22.x',
        MemorySize: 512,
        Timeout: 60,
        Architectures: ['arm64'],
        LoggingConfig: { LogFormat: 'JSON' },
        Environment: { Variables: env(fn) },
        Code: { S3Bucket: 'bench', S3Key: `${fn.name}.zip` },
      },
    };
  }
  return { dir: LAMBDA_DIR, resources };
}

/** The first event each function gets: a real call for createSession and the peers, a cheap one otherwise. */
function firstEvent(name: string, body: string): unknown {
  switch (name) {
    case 'createSession':
    case 'naive':
    case 'powertools':
      return apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body });
    case 'diditWebhook':
      // Unsigned: refused before any secret is read.
      return apiEvent({ method: 'POST', path: '/v1/webhooks/didit', headers: { 'content-type': 'application/json' }, body: '{}' });
    case 'jobWorker':
    case 'onUpload':
      return { Records: [] };
    case 'onSignup':
      return { version: '0', id: randomUUID(), 'detail-type': 'bench.not-a-signup', source: 'bench', account: '000000000000', time: new Date().toISOString(), region: 'us-east-1', resources: [], detail: {} };
    default:
      return {};
  }
}

function outcome(payload: unknown, functionError: string | undefined): string {
  if (functionError) return functionError;
  if (payload !== null && typeof payload === 'object' && 'statusCode' in payload) return String((payload as { statusCode: unknown }).statusCode);
  return 'ok';
}

export async function runLambdaBench(o: LambdaBenchOptions): Promise<LambdaBenchResult> {
  const loadStart = loadavg().map((x) => Math.round(x * 10) / 10);
  const wanted = FUNCTIONS.filter((f) => o.otherKinds || !(OTHER_KINDS as readonly string[]).includes(f.name));
  o.log(`[bench] lambda: packaging ${wanted.length} functions`);
  const packages = await packageFunctions(wanted);

  const aws = {
    AWS_ENDPOINT_URL: o.emulator.endpoint,
    AWS_ACCESS_KEY_ID: o.emulator.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.emulator.credentials.secretAccessKey,
    DIDIT_LOCAL_EMULATOR: '1',
  };
  const missing = `bench-not-provisioned-${randomUUID().slice(0, 8)}`;
  const gatewayEnv: Record<string, string> = {
    ...aws,
    STAGE,
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: 'false',
    POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
    POWERTOOLS_TRACER_CAPTURE_ERROR: 'false',
    OPERATION: 'createSession',
    SEALED_KEY_SECRET_ID: o.sealed.secretId,
    KMS_KEY_ID: o.sealed.kmsKeyArn,
    DIDIT_BASE_URL: o.sandbox.url,
    DIDIT_CA_FILE: o.sandbox.caFile,
    CIPHERTEXT_TTL_SECONDS: '300',
    DAILY_PAID_CALL_CAP: '0',
    SPEND_CAP_TABLE: '',
    // Only read by the other kinds, which get a first event that needs none of these to exist.
    WEBHOOK_SECRET_SECRET_ID: missing,
    WEBHOOK_ACCEPT_SIMPLE: 'false',
    IDEMPOTENCY_TABLE: missing,
    EVENT_BUS_NAME: missing,
    JOBS_TABLE: missing,
    JOB_RESULT_KMS_KEY_ID: o.sealed.kmsKeyArn,
    JOB_TTL_SECONDS: '604800',
    UPLOAD_BUCKET: missing,
    S3_FORCE_PATH_STYLE: 'true',
    DEFAULT_WORKFLOW_ID: randomUUID(),
    SIGNUP_CALLBACK_URL: 'https://example.com/signup-done',
  };
  const envOf = (fn: PackagedFunction): Record<string, string> => {
    if (fn.name === 'naive') {
      // The naive peer is defined by its key in an env var (only this sandbox gets it).
      return { DIDIT_API_KEY: o.sandbox.apiKey.toString('latin1'), DIDIT_BASE_URL: o.sandbox.url, NODE_EXTRA_CA_CERTS: o.sandbox.caFile };
    }
    if (fn.name === 'powertools') {
      return { ...aws, DIDIT_SECRET_ID: o.plaintextSecretArn, DIDIT_BASE_URL: o.sandbox.url, NODE_EXTRA_CA_CERTS: o.sandbox.caFile };
    }
    return gatewayEnv;
  };
  const tpl = template(packages, envOf);
  const resources: ResourceMap = { region: o.emulator.region, accountId: '000000000000', refs: {} };
  const body = JSON.stringify({ workflow_id: randomUUID() });
  const start = (name: string, memorySize: number): Promise<LambdaSandbox> =>
    startLambdaSandbox({ functionName: name, template: tpl, resources, memorySize, timeout: 60 });

  // ---- cold init, interleaved ----------------------------------------------------------------------
  const init: Record<string, Record<string, InitSample[]>> = {};
  for (const memory of o.memorySizes) {
    const order = [...INTERLEAVED, ...(o.otherKinds && memory === 512 ? OTHER_KINDS : [])];
    const perFn: Record<string, InitSample[]> = Object.fromEntries(order.map((n) => [n, []]));
    init[String(memory)] = perFn;
    o.log(`[bench] lambda init at ${memory} MB: ${o.initRuns} rounds of ${order.join(', ')}`);
    for (let round = 0; round < o.initRuns; round++) {
      for (const name of order) {
        const sb = await start(name, memory);
        try {
          const t0 = performance.now();
          const res = await sb.invoke(firstEvent(name, body));
          const firstAnswerMs = performance.now() - t0;
          perFn[name]!.push({
            initMs: sb.initDurations[0] ?? Number.NaN,
            firstInvokeMs: sb.durations[0] ?? Number.NaN,
            firstAnswerMs,
            status: outcome(res.payload, res.functionError),
          });
        } finally {
          await sb.stop();
        }
      }
    }
  }
  const initMedianMs: Record<string, Record<string, number>> = {};
  for (const [memory, perFn] of Object.entries(init)) {
    initMedianMs[memory] = Object.fromEntries(Object.entries(perFn).map(([n, s]) => [n, median(s.map((x) => x.initMs))]));
  }

  // ---- warm at 512 MB -------------------------------------------------------------------------------
  let warm512: LambdaBenchResult['warm512'];
  if (o.warmCalls > 0) {
    const durationsMs: Record<string, number[]> = {};
    for (const name of ['naive', 'createSession', 'kmsDecrypt']) {
      o.log(`[bench] lambda warm at 512 MB: ${name}, ${o.warmup} warm-up + ${o.warmCalls} calls`);
      const sb = await start(name, 512);
      try {
        const event = name === 'kmsDecrypt' ? {} : firstEvent(name, body);
        for (let i = 0; i < o.warmup; i++) await sb.invoke(event);
        const from = sb.durations.length;
        const failures: string[] = [];
        for (let i = 0; i < o.warmCalls; i++) {
          const res = await sb.invoke(event);
          const status = outcome(res.payload, res.functionError);
          if (!/^20\d$|^ok$/.test(status)) failures.push(status);
        }
        durationsMs[name] = sb.durations.slice(from);
        if (failures.length > 0) o.log(`[bench] lambda warm ${name}: unexpected answers ${JSON.stringify(failures.slice(0, 5))}`);
      } finally {
        await sb.stop();
      }
    }
    const summary = Object.fromEntries(Object.entries(durationsMs).map(([n, d]) => [n, summarize(d)]));
    const g = summary['createSession']!;
    const n = summary['naive']!;
    const k = summary['kmsDecrypt']!;
    warm512 = {
      calls: o.warmCalls,
      durationsMs,
      summary,
      gatewayMinusNaiveP50: g.p50 - n.p50,
      budgetP50: k.p50 + 1,
      gatewayMinusNaiveP99: g.p99 - n.p99,
    };
  }

  const result: LambdaBenchResult = {
    method:
      "Init = the RIE's INIT REPORT durationMs (runtime process start → first /next: Node boot, aws-lambda-ric, the handler's import), " +
      'a fresh sandbox per sample; warm = the RIE REPORT Duration of back-to-back invocations of one environment, frozen between calls.',
    loadAverage: { start: loadStart, end: loadavg().map((x) => Math.round(x * 10) / 10) },
    packages,
    init,
    initMedianMs,
    ...(warm512 ? { warm512 } : {}),
    lines: [],
  };
  result.lines.push(...render(result, o));
  return result;
}

function render(r: LambdaBenchResult, o: LambdaBenchOptions): string[] {
  const out: string[] = [];
  const kib = (b: number): string => (b / 1024).toFixed(0);
  out.push('');
  out.push(`Lambda sandbox (RIE + aws-lambda-ric, cgroup CPU quota memory/1769 of a core, frozen between calls); packaged zips, ${r.packages[0]?.source ?? ''}`);
  out.push(
    `init = the RIE's INIT REPORT (Lambda's Init Duration), median of ${o.initRuns}, samples interleaved gateway, naive, powertools, …; ` +
      `host load average ${r.loadAverage.start.join(' ')} → ${r.loadAverage.end.join(' ')} (2 cores, shared)`,
  );
  for (const memory of o.memorySizes) {
    const m = r.initMedianMs[String(memory)] ?? {};
    out.push(
      `init ${memory} MB: gateway ${ms(m['createSession'])} ms, naive ${ms(m['naive'])} ms, powertools ${ms(m['powertools'])} ms, ` +
        `gateway/powertools ${ratio(m['createSession'], m['powertools'])} (goal ≤ ×0.80)`,
    );
  }
  const m512 = r.initMedianMs['512'];
  if (m512 && OTHER_KINDS.some((k) => m512[k] !== undefined)) {
    out.push(
      `init 512 MB, other kinds: ${OTHER_KINDS.filter((k) => m512[k] !== undefined)
        .map((k) => `${k} ${ms(m512[k])} ms (${ratio(m512[k], m512['powertools'])})`)
        .join(', ')} (ratios vs powertools)`,
    );
  }
  for (const memory of o.memorySizes) {
    const per = r.init[String(memory)] ?? {};
    const parts = Object.entries(per).map(([name, s]) => {
      const statuses = [...new Set(s.map((x) => x.status))].join('/');
      return `${name} ${ms(median(s.map((x) => x.firstInvokeMs - x.initMs)))} ms [${statuses}]`;
    });
    // This RIE initialises on the first invoke and its first REPORT Duration includes the init: subtract it.
    out.push(`  first call after init at ${memory} MB (first REPORT Duration − INIT, median; [answers]): ${parts.join(', ')}`);
    const answers = Object.entries(per).map(([name, s]) => `${name} ${ms(median(s.map((x) => x.firstAnswerMs)))}`);
    out.push(`  cold invoke → first answer at ${memory} MB (parent clock, ms): ${answers.join(', ')}`);
  }
  const pt = r.packages.find((p) => p.name === 'powertools');
  out.push('bundle per function (KiB, own code without source map; native external apart):');
  for (const p of r.packages) {
    if (p.kind === 'probe') continue;
    const comp = p.composition ? `; largest: ${p.composition.slice(0, 5).map((c) => `${c.name} ${kib(c.bytes)}`).join(', ')}` : '';
    out.push(
      `  ${p.name}: ${kib(p.sizes.codeBytes)}${p.sizes.nativeBytes > 0 ? ` + native ${kib(p.sizes.nativeBytes)} (sodium-native linux-arm64 + deps)` : ''}` +
        `${p.kind === 'gateway' && pt ? `, ×${(p.sizes.codeBytes / pt.sizes.codeBytes).toFixed(2)} the Powertools peer (goal ≤ ×1.00)` : ''}${comp}`,
    );
  }
  const w = r.warm512;
  if (w) {
    const s = (n: string) => w.summary[n];
    out.push(`warm 512 MB (REPORT Duration, ${w.calls} calls each, ms): gateway p50 ${ms(s('createSession')?.p50)} p99 ${ms(s('createSession')?.p99)}; naive p50 ${ms(s('naive')?.p50)} p99 ${ms(s('naive')?.p99)}; KMS Decrypt alone p50 ${ms(s('kmsDecrypt')?.p50)} p99 ${ms(s('kmsDecrypt')?.p99)}`);
    out.push(
      `warm 512 MB: gateway − naive p50 ${ms(w.gatewayMinusNaiveP50)} ms vs one KMS round trip + 1 ms = ${ms(w.budgetP50)} ms ` +
        `(${w.gatewayMinusNaiveP50 <= w.budgetP50 ? 'within' : 'over'} by ${ms(Math.abs(w.budgetP50 - w.gatewayMinusNaiveP50))} ms); p99 gap ${ms(w.gatewayMinusNaiveP99)} ms`,
    );
  }
  return out;
}
