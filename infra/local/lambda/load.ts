/**
 * `npm run load`: jobs through the real emulator queue, the SQS mapper and the packaged jobWorker in the
 * Lambda sandbox, with injected Didit faults and bursts of KMS throttling; then a webhook flood through
 * the packaged diditWebhook. Figures are printed, never asserted by time; the exit code says whether the
 * invariants held (nothing lost, no paid call twice, every outcome event once, one event per delivery).
 *
 *   LOAD_MESSAGES      jobs (default 10000)
 *   LOAD_FAULT_RATE    share of Didit calls given a fault: 500, connection reset, slower than the timeout
 *                      (default 0.05, the three kinds in turn)
 *   LOAD_WEBHOOKS      signed deliveries in the flood (default 2000), 20 % of them duplicates or replays
 *   LOAD_WORKER_TIMEOUT_S  the worker's timeout in the sandbox (default 20 s; the template's is 90 s): every
 *                      "slower than the timeout" fault would otherwise hold the only sandbox for 85 s. The
 *                      queue's visibility timeout keeps the template's ratio to it (540/90 = 6 ×).
 *   DIDIT_TEST_EMULATOR  localstack (default) or moto; DIDIT_LAMBDA_PACKAGE_DIR reuses a package (copied
 *                      first: any `sls package` elsewhere deletes `.serverless/`), else it packages its own.
 *
 * Last line, exactly:
 *   load: <N> messages, <secs> s, succeeded <a>, failed <b>, dlq <c>, outcome unknown <u>, lost <l>, duplicate paid calls <d>, KMS decrypts <k>
 * (failed includes the outcome-unknown jobs; lost = jobs with no final state and not in the DLQ).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { sessionStatusPayload, signDelivery, webhookEvent } from '../../../test/sandbox/webhook-signer.ts';
import { apiEvent, lambdaContext } from '../../../test/support/api-events.ts';
import { startHarness } from '../../../test/lambda/harness.ts';
import { startEmulator, type Emulator } from '../emulator.ts';
import { preparePackage } from './package.ts';
import { startSqsMapping } from './sqs-mapping.ts';
import { readFunction, readSqsMapping, resolveEnvironment, TEMPLATE_FILE } from './template.ts';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const N = Number(process.env['LOAD_MESSAGES'] ?? 10_000);
const FAULT_RATE = Number(process.env['LOAD_FAULT_RATE'] ?? 0.05);
const WEBHOOKS = Number(process.env['LOAD_WEBHOOKS'] ?? 2_000);
const WORKER_TIMEOUT_S = Number(process.env['LOAD_WORKER_TIMEOUT_S'] ?? 20);
/** A KMS throttling burst every this many worker invocations, of this many refused KMS requests. */
const THROTTLE_EVERY = 50;
const THROTTLE_BURST = 8;

async function drainAll(sqs: SQSClient, url: string, onMessage: (body: string) => void, emptyPolls: number): Promise<void> {
  let empty = 0;
  while (empty < emptyPolls) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      empty += 1;
      continue;
    }
    empty = 0;
    for (const m of messages) onMessage(m.Body ?? '');
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
  }
}

async function main(): Promise<number> {
  const prepared = await preparePackage(process.env['DIDIT_LAMBDA_PACKAGE_DIR'] || undefined, log);
  const packageDir = prepared.dir;
  log(`[load] package: ${join(packageDir, TEMPLATE_FILE)}`);
  const em: Emulator = await startEmulator({ log });
  const published = new Map<string, number>();
  // Host-mode LocalStack has no DynamoDB: moto beside it, as the test setup does.
  const dynamoEm = em.kind === 'localstack' ? await startEmulator({ kind: 'moto', log }) : undefined;
  const h = await startHarness({
    em,
    dynamodbEndpoint: dynamoEm?.endpoint ?? em.endpoint,
    packageDir,
    jobsVisibilityTimeoutSeconds: WORKER_TIMEOUT_S * 6,
    didit: { rateLimits: { decision: 1e9, create: 1e9, pdf: 1e9, other: 1e9 } },
    // What the worker asks EventBridge to publish, per job (a PutEvents retried by the SDK counts twice).
    inspect: {
      targets: ['AWSEvents.PutEvents'],
      onBody: (_target, body) => {
        const entries = (JSON.parse(body.toString('utf8')) as { Entries?: { DetailType?: string; Detail?: string }[] }).Entries ?? [];
        for (const e of entries) {
          if (e.DetailType !== 'didit.job.completed') continue;
          const id = (JSON.parse(e.Detail ?? '{}') as { jobId?: string }).jobId;
          if (id) published.set(id, (published.get(id) ?? 0) + 1);
        }
      },
    },
  });
  let exit = 0;
  try {
    // ---- jobs ------------------------------------------------------------------------------------------
    const submitDef = readFunction(h.template, 'submitJob');
    Object.assign(process.env, {
      ...resolveEnvironment(submitDef, h.stack.resources),
      AWS_ENDPOINT_URL: em.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoEm?.endpoint ?? em.endpoint,
      AWS_REGION: em.region,
      AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
      DIDIT_LOCAL_EMULATOR: '1',
    });
    // The submit handler runs in this process (fast submission); its logs and metrics stay quiet here.
    process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
    process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
    const { createSubmitJobHandler } = await import('../../../lib/adapters/jobs/api.ts');
    const { loadJobConfig } = await import('../../../lib/adapters/jobs/config.ts');
    const { createJobDependencies } = await import('../../../lib/adapters/jobs/dependencies.ts');
    const jobDeps = createJobDependencies(loadJobConfig(process.env));
    const submit = createSubmitJobHandler({ dependencies: () => jobDeps });
    const nameToJob = new Map<string, string>();
    const t0 = Date.now();
    log(`[load] submitting ${N} amlScreening jobs (the submitJob handler in-process: record + SQS message)…`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (;;) {
          const i = next++;
          if (i >= N) return;
          const fullName = `Load Subject ${i}`;
          const res = await submit(
            apiEvent({
              method: 'POST',
              path: '/v1/jobs/amlScreening',
              resource: '/v1/jobs/{operation}',
              pathParameters: { operation: 'amlScreening' },
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ body: { full_name: fullName, nationality: 'ES' } }),
            }),
            lambdaContext(),
          );
          if (res?.statusCode !== 202) throw new Error(`submit ${i}: ${res?.statusCode}`);
          nameToJob.set(fullName, String((JSON.parse(res.body) as { jobId: string }).jobId));
        }
      }),
    );
    log(`[load] submitted in ${((Date.now() - t0) / 1000).toFixed(1)} s; running the packaged worker`);

    const worker = await h.fn('jobWorker', { timeout: WORKER_TIMEOUT_S });
    const mappingDef = readSqsMapping(h.template, worker.definition);
    const faultKinds = ['500', 'reset', 'slow'] as const;
    let faultTurn = 0;
    let invocations = 0;
    let functionErrors = 0;
    const mapping = startSqsMapping({
      sqs: h.sqs,
      queueUrl: h.stack.queues.jobs.url,
      queueArn: h.stack.queues.jobs.arn,
      region: em.region,
      mapping: mappingDef,
      invoke: async (event: SQSEvent) => {
        invocations += 1;
        if (invocations % THROTTLE_EVERY === 0) h.aws.throttleKms(THROTTLE_BURST);
        for (let i = 0; i < event.Records.length; i += 1) {
          if (Math.random() >= FAULT_RATE) continue;
          const kind = faultKinds[faultTurn++ % faultKinds.length];
          if (kind === '500') h.didit.inject({ fault: { kind: 'status', status: 500 }, pathPrefix: '/v3/aml' });
          else if (kind === 'reset') h.didit.inject({ fault: { kind: 'reset' }, pathPrefix: '/v3/aml' });
          else h.didit.inject({ fault: { kind: 'delay', ms: (WORKER_TIMEOUT_S + 3) * 1000 }, pathPrefix: '/v3/aml' });
        }
        const res = await worker.invoke(event);
        h.didit.clearFaults();
        if (res.functionError !== undefined) functionErrors += 1;
        return res;
      },
    });

    // Outcome events (didit.job.completed) and the DLQ, until every job is accounted for or nothing moves.
    const outcomes = new Map<string, { status: string; errorCode?: string }>();
    let duplicateDeliveries = 0;
    const dlqJobs = new Set<string>();
    let lastProgress = Date.now();
    let accounted = 0;
    const stallMs = (WORKER_TIMEOUT_S * 6 * 6 + 120) * 1000; // more than maxReceiveCount visibility timeouts
    while (accounted < N && Date.now() - lastProgress < stallMs) {
      const before = accounted;
      await drainAll(
        h.sqs,
        h.stack.queues.events.url,
        (body) => {
          const e = JSON.parse(body) as { 'detail-type'?: string; detail?: { jobId?: string; status?: string; errorCode?: string } };
          if (e['detail-type'] !== 'didit.job.completed' || !e.detail?.jobId) return;
          if (outcomes.has(e.detail.jobId)) duplicateDeliveries += 1;
          else outcomes.set(e.detail.jobId, { status: String(e.detail.status), ...(e.detail.errorCode ? { errorCode: e.detail.errorCode } : {}) });
        },
        1,
      );
      await drainAll(
        h.sqs,
        h.stack.queues.jobsDlq.url,
        (body) => {
          const id = (JSON.parse(body) as { jobId?: string }).jobId;
          if (id) dlqJobs.add(id);
        },
        1,
      );
      accounted = outcomes.size + [...dlqJobs].filter((id) => !outcomes.has(id)).length;
      if (accounted !== before) lastProgress = Date.now();
      process.stderr.write(`\r[load] accounted ${accounted}/${N}, invocations ${invocations}, KMS throttled ${h.aws.throttled}   `);
    }
    process.stderr.write('\n');
    await mapping.stop();
    const secs = (Date.now() - t0) / 1000;

    // Paid calls per job: every AML request Didit received that it did not refuse with a 5xx (a reset or
    // slow call may have been done and billed).
    const paid = new Map<string, number>();
    for (const r of h.didit.received) {
      if (!r.path.startsWith('/v3/aml')) continue;
      if (r.status >= 500) continue;
      const name = (r.json as { full_name?: string } | undefined)?.full_name ?? '';
      const job = nameToJob.get(name);
      if (job) paid.set(job, (paid.get(job) ?? 0) + 1);
    }
    const duplicatePaid = [...paid.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);
    let succeeded = 0;
    let failed = 0;
    let unknown = 0;
    for (const o of outcomes.values()) {
      if (o.status === 'succeeded') succeeded += 1;
      else failed += 1;
      if (o.errorCode === 'DIDIT_OUTCOME_UNKNOWN') unknown += 1;
    }
    const dlq = [...dlqJobs].filter((id) => !outcomes.has(id)).length;
    const lost = [...nameToJob.values()].filter((id) => !outcomes.has(id) && !dlqJobs.has(id)).length;
    const decrypts = h.aws.count('TrentService.Decrypt');
    const duplicateEvents = [...published.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);
    const sorted = [...worker.durations].sort((a, b) => a - b);
    const pct = (p: number): string => (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(0);
    log(
      `[load] worker invocations ${invocations} (function errors ${functionErrors}), duration p50 ${pct(0.5)} ms p90 ${pct(0.9)} ms p99 ${pct(0.99)} ms, init ${worker.initDurations.map((d) => d.toFixed(0)).join('/')} ms, ` +
        `KMS requests throttled ${h.aws.throttled}, KMS decrypts per message ${(decrypts / N).toFixed(3)}, outcome events published twice ${duplicateEvents}, delivered twice by the emulator ${duplicateDeliveries}, ` +
        `worker memory peak ${((await worker.memoryPeak()) / 1048576).toFixed(1)} MB`,
    );
    if (lost > 0 || duplicatePaid > 0 || duplicateEvents > 0) exit = 1;

    // ---- webhook flood ---------------------------------------------------------------------------------
    const hook = await h.fn('diditWebhook');
    const unique = Math.round(WEBHOOKS * 0.8);
    const deliveries = Array.from({ length: unique }, () => {
      const sessionId = randomUUID();
      return { sessionId, delivery: signDelivery({ secret: h.webhookSecret, payload: sessionStatusPayload({ sessionId, status: 'Approved' }) }) };
    });
    // 20 %: half sent again at once (duplicates), half replayed after the others (replays).
    const order = deliveries.map((_, i) => i);
    const extra = WEBHOOKS - unique;
    for (let i = 0; i < extra; i += 1) {
      const target = Math.floor(Math.random() * unique);
      if (i % 2 === 0) order.splice(order.indexOf(target) + 1, 0, target);
      else order.push(target);
    }
    const w0 = Date.now();
    const hookDurations = hook.durations.length;
    const statuses = new Map<number, number>();
    for (const i of order) {
      const d = deliveries[i];
      if (!d) continue;
      const r = await hook.invoke(webhookEvent(d.delivery));
      const status = (r.payload as { statusCode?: number } | undefined)?.statusCode ?? 0;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    const perSession = new Map<string, number>();
    await drainAll(
      h.sqs,
      h.stack.queues.events.url,
      (body) => {
        const e = JSON.parse(body) as { source?: string; detail?: Record<string, unknown> };
        const text = JSON.stringify(e.detail ?? {});
        for (const m of text.matchAll(/"session_?[iI]d":"([0-9a-f-]{36})"/g)) {
          if (m[1]) perSession.set(m[1], (perSession.get(m[1]) ?? 0) + 1);
          break;
        }
      },
      3,
    );
    const once = deliveries.filter((d) => perSession.get(d.sessionId) === 1).length;
    const missing = deliveries.filter((d) => !perSession.has(d.sessionId)).length;
    const twice = deliveries.filter((d) => (perSession.get(d.sessionId) ?? 0) > 1).length;
    log(
      `[load] webhook flood: ${order.length} deliveries (${unique} distinct) in ${((Date.now() - w0) / 1000).toFixed(1)} s, ` +
        `median invocation ${(() => { const d = hook.durations.slice(hookDurations).sort((a, b) => a - b); return (d[Math.floor(d.length / 2)] ?? 0).toFixed(0); })()} ms, ` +
        `answers ${JSON.stringify(Object.fromEntries(statuses))}, exactly one event ${once}, none ${missing}, more than one ${twice}`,
    );
    if (once !== unique) exit = 1;

    process.stdout.write(
      `load: ${N} messages, ${secs.toFixed(1)} s, succeeded ${succeeded}, failed ${failed}, dlq ${dlq}, outcome unknown ${unknown}, lost ${lost}, duplicate paid calls ${duplicatePaid}, KMS decrypts ${decrypts}\n`,
    );
  } finally {
    await h.close().catch((err: unknown) => log(`[load] teardown: ${String(err)}`));
    await dynamoEm?.stop();
    await em.stop();
    await prepared.cleanup();
  }
  return exit;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
