/**
 * Figures of issue 13 for bench/run.ts (which calls these after its three variants):
 *
 *  - the daily spend cap's cost per paid call: one conditional UpdateItem (lib/spend-cap/counter.ts) on the
 *    emulator's DynamoDB (moto; a moto beside LocalStack, which has no DynamoDB in host mode), timed warm, as
 *    a share of (c)'s warm call;
 *  - the init cost of tracing: cold samples of (c)'s bundle in a "Lambda" environment with the stage's
 *    tracing off and on (the tracer is loaded on the first traced invocation; its segments go to a local UDP
 *    socket standing in for the X-Ray daemon).
 *
 * It reports; it asserts nothing.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { build } from 'esbuild';
import { startEmulator, type Emulator } from '../infra/local/emulator.ts';
import { SpendCounter } from '../lib/spend-cap/counter.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../lib/idempotency/table.ts';
import { median, ms, num, summarize, table, type Summary } from './stats.ts';

export interface CounterCost {
  readonly emulator: string;
  readonly calls: number;
  readonly take: Summary;
  /** p50 of one counted call / p50 of (c)'s warm call. */
  readonly shareOfCallP50: number | undefined;
  readonly dynamodbRequestsPerPaidCall: number;
  readonly writeRequestUnitsPerPaidCall: number;
}

export interface TracingInit {
  readonly samples: number;
  readonly off: { medianModuleLoadMs: number; medianFirstCallMs: number; medianSinceOriginMs: number };
  readonly on: { medianModuleLoadMs: number; medianFirstCallMs: number; medianSinceOriginMs: number; datagrams: number };
}

export interface TracerBundleShare {
  /** Bytes of (c)'s minified bundle that come from the tracer and what only it pulls in. */
  readonly bytes: number;
  readonly bundleBytes: number;
}

export interface Limits {
  readonly counter: CounterCost;
  readonly tracingInit: TracingInit;
  readonly tracerBundle: TracerBundleShare;
}

/** Packages (and our module) that only tracing pulls into a bundle. */
const TRACER_INPUTS = /node_modules\/(aws-xray-sdk-core|@aws-lambda-powertools\/tracer|cls-hooked|async-hook-jl|async-listener|emitter-listener|shimmer|stack-chain|atomic-batcher|@smithy\/service-error-classification)\/|lib\/observability\/tracing-runtime\.ts$/;

/** The tracer's share of (c)'s bundle (same esbuild settings as bench/bundle.ts, from its metafile). */
export async function measureTracerBundleShare(entry: string): Promise<TracerBundleShare> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    keepNames: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    external: ['sodium-native'],
    write: false,
    outfile: 'out.mjs',
    metafile: true,
    logLevel: 'silent',
  });
  let bytes = 0;
  let bundleBytes = 0;
  for (const output of Object.values(result.metafile.outputs)) {
    bundleBytes += output.bytes;
    for (const [path, input] of Object.entries(output.inputs)) if (TRACER_INPUTS.test(path)) bytes += input.bytesInOutput;
  }
  return { bytes, bundleBytes };
}

interface ColdLike {
  readonly status: number;
  readonly moduleLoadMs: number;
  readonly firstCallMs: number;
  readonly sinceOriginMs: number;
}

export async function measureCounterCost(options: {
  emulator: Emulator;
  calls: number;
  warmup: number;
  oursCallP50: number | undefined;
  log: (line: string) => void;
}): Promise<CounterCost> {
  const { emulator, log } = options;
  // LocalStack (host mode) has no DynamoDB: moto beside it, as the tests do.
  const extra = emulator.kind === 'localstack' ? await startEmulator({ kind: 'moto', log }) : undefined;
  const endpoint = extra?.endpoint ?? emulator.endpoint;
  const client = new DynamoDBClient({ endpoint, region: emulator.region, credentials: { ...emulator.credentials }, maxAttempts: 3 });
  const tableName = `didit-bench-spend-${randomBytes(4).toString('hex')}`;
  try {
    await createIdempotencyTable(client, tableName);
    const counter = new SpendCounter({ client, tableName, stage: 'bench', cap: options.calls + options.warmup + 1 });
    for (let i = 0; i < options.warmup; i++) await counter.take();
    const samples: number[] = [];
    for (let i = 0; i < options.calls; i++) {
      const t0 = performance.now();
      await counter.take();
      samples.push(performance.now() - t0);
    }
    const take = summarize(samples);
    return {
      emulator: extra ? `moto (beside ${emulator.kind})` : emulator.kind,
      calls: options.calls,
      take,
      shareOfCallP50: options.oursCallP50 === undefined ? undefined : take.p50 / options.oursCallP50,
      // One UpdateItem; the give-back (a second one) only when the key could not be had.
      dynamodbRequestsPerPaidCall: 1,
      // An item of well under 1 KB: 1 write request unit (on-demand) per UpdateItem.
      writeRequestUnitsPerPaidCall: 1,
    };
  } finally {
    await deleteIdempotencyTable(client, tableName).catch(() => {});
    client.destroy();
    await extra?.stop();
  }
}

/** Cold samples of (c) with tracing off and on, interleaved; `sample` is bench/run.ts's coldSample. */
export async function measureTracingInit(options: {
  samples: number;
  env: NodeJS.ProcessEnv;
  sample: (env: NodeJS.ProcessEnv, what: string) => Promise<ColdLike>;
  log: (line: string) => void;
}): Promise<TracingInit> {
  const daemon = createSocket('udp4');
  let datagrams = 0;
  daemon.on('message', () => {
    datagrams++;
  });
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  // What Lambda sets in a function's environment; only POWERTOOLS_TRACE_ENABLED differs between the two.
  const lambda = {
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    LAMBDA_TASK_ROOT: process.cwd(),
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}`,
    POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: 'false',
    POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
    POWERTOOLS_TRACER_CAPTURE_ERROR: 'false',
  };
  const off: ColdLike[] = [];
  const on: ColdLike[] = [];
  try {
    for (let i = 0; i < options.samples; i++) {
      const traceId = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=1`;
      // Alternate which goes first: a pair's second process may find warmer caches.
      const pair = [['false', off], ['true', on]] as const;
      for (const [enabled, into] of i % 2 === 0 ? pair : [pair[1], pair[0]]) {
        const s = await options.sample(
          { ...options.env, ...lambda, _X_AMZN_TRACE_ID: traceId, POWERTOOLS_TRACE_ENABLED: enabled },
          `cold child ours tracing=${enabled} #${i + 1}`,
        );
        if (s.status !== 201) throw new Error(`tracing=${enabled} cold sample answered ${s.status}`);
        into.push(s);
      }
    }
  } finally {
    daemon.close();
  }
  const med = (xs: ColdLike[]) => ({
    medianModuleLoadMs: median(xs.map((x) => x.moduleLoadMs)),
    medianFirstCallMs: median(xs.map((x) => x.firstCallMs)),
    medianSinceOriginMs: median(xs.map((x) => x.sinceOriginMs)),
  });
  return { samples: options.samples, off: med(off), on: { ...med(on), datagrams } };
}

export function renderLimits(limits: Limits): string {
  const c = limits.counter;
  const t = limits.tracingInit;
  const out: string[] = [];
  out.push('');
  out.push('## Operating limits (issue 13)');
  out.push('');
  out.push(`Daily spend cap: the counter (one conditional UpdateItem per paid call) on ${c.emulator}, ${c.calls} sequential calls`);
  out.push(
    table([
      ['metric (ms)', 'p50', 'p99', 'mean', 'min', 'max'],
      ['counter UpdateItem', ms(c.take.p50), ms(c.take.p99), ms(c.take.mean), ms(c.take.min), ms(c.take.max)],
    ]),
  );
  out.push(
    `counter per paid call: ${c.dynamodbRequestsPerPaidCall} DynamoDB request, ${c.writeRequestUnitsPerPaidCall} write request unit; p50 = ${
      c.shareOfCallP50 === undefined ? 'n/a' : `${num(c.shareOfCallP50 * 100, 1)} %`
    } of (c)'s warm call p50 (added before the KMS Decrypt; free operations pay nothing)`,
  );
  out.push('');
  out.push(`Tracing init: (c)'s bundle cold, ${t.samples} samples each, Lambda-like environment, tracing off vs on`);
  const row = (label: string, v: TracingInit['off']) => [label, ms(v.medianModuleLoadMs), ms(v.medianFirstCallMs), ms(v.medianModuleLoadMs + v.medianFirstCallMs), ms(v.medianSinceOriginMs)];
  out.push(
    table([
      ['tracing (ms, medians)', 'module load', 'first call', 'load + first call', 'process start → response'],
      row('off', t.off),
      row('on', t.on),
      [
        'on − off',
        ms(t.on.medianModuleLoadMs - t.off.medianModuleLoadMs),
        ms(t.on.medianFirstCallMs - t.off.medianFirstCallMs),
        ms(t.on.medianModuleLoadMs + t.on.medianFirstCallMs - t.off.medianModuleLoadMs - t.off.medianFirstCallMs),
        ms(t.on.medianSinceOriginMs - t.off.medianSinceOriginMs),
      ],
    ]),
  );
  out.push(`segments received by the UDP daemon stand-in with tracing on: ${t.on.datagrams} (off sends none)`);
  const b = limits.tracerBundle;
  out.push(
    `tracer in (c)'s bundle: ${(b.bytes / 1024).toFixed(1)} KiB of ${(b.bundleBytes / 1024).toFixed(1)} KiB (${num((b.bytes * 100) / b.bundleBytes, 1)} %), evaluated only on the first traced invocation`,
  );
  return out.join('\n');
}
