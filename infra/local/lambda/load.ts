/**
 * `npm run load`: jobs through the real emulator queue, the SQS mapper and the packaged jobWorker in the
 * Lambda sandbox, with injected Didit faults and bursts of KMS throttling; then a webhook flood through
 * the packaged diditWebhook. Figures are printed, never asserted by time; the exit code says whether the
 * invariants held (nothing lost, no paid call twice, every outcome event published and delivered once, one
 * event per delivery).
 *
 * Concurrency as Lambda scales an SQS event source: the mapper runs as many pollers (batches in flight) as
 * the event-source mapping's MaximumConcurrency and the function's reserved concurrency allow, capped by
 * LOAD_CONCURRENCY; each batch runs in its own execution environment (pool.ts: a sandbox per environment,
 * each with its own Runtime API port and cgroups), started on demand. The webhook flood is sent with the
 * same concurrency.
 *
 *   LOAD_MESSAGES      jobs (default 10000)
 *   LOAD_FAULT_RATE    share of Didit calls given a fault: 500, connection reset, slower than the timeout
 *                      (default 0.05, the three kinds in turn)
 *   LOAD_WEBHOOKS      signed deliveries in the flood (default 2000), 20 % of them duplicates or replays
 *   LOAD_CONCURRENCY   at most this many environments at once (default 5, the mapping's MaximumConcurrency:
 *                      five 512 MB environments have 5 × 28.9 % = 1.45 cores of quota, which leaves part of
 *                      the 2 cores here to moto, the Didit sandbox and this process)
 *   LOAD_WORKER_TIMEOUT_S  the worker's timeout in the sandbox (default 20 s; the template's is 90 s): every
 *                      "slower than the timeout" fault would otherwise hold an environment for 85 s. The
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
import { DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import type { InvokeResult } from './sandbox.ts';
import { sessionStatusPayload, signDelivery, webhookEvent } from '../../../test/sandbox/webhook-signer.ts';
import { amlJobRequest, lambdaContext } from '../../../test/support/api-events.ts';
import { startHarness } from '../../../test/lambda/harness.ts';
import { startEmulator, type Emulator } from '../emulator.ts';
import { startSerializingProxy } from '../serializing-proxy.ts';
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
const CONCURRENCY = Number(process.env['LOAD_CONCURRENCY'] ?? 5);
/** A KMS throttling burst every this many worker invocations, of this many refused KMS requests. */
const THROTTLE_EVERY = 50;
const THROTTLE_BURST = 8;

/** Messages whose delete the queue refused (they would come back: a harness fault, not the function's). */
let undeleted = 0;

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
    const deleted = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
    undeleted += deleted.Failed?.length ?? 0;
  }
}

/** The most environments Lambda would run for this source: the smallest of the limits that are set. */
function concurrencyFor(wanted: number, ...limits: (number | undefined)[]): number {
  if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`LOAD_CONCURRENCY must be an integer >= 1, got ${wanted}`);
  return Math.min(wanted, ...limits.filter((l): l is number => l !== undefined));
}

function jobIdOf(body: string): string {
  try {
    return String((JSON.parse(body) as { jobId?: unknown }).jobId ?? '');
  } catch {
    return ''; // not a job message: nothing to attribute
  }
}

/** A completion event the bus accepted (an EventId in PutEvents' answer), and which SDK command sent it. */
interface Publication {
  readonly invocationId: string;
  readonly attempt: string;
}

async function main(): Promise<number> {
  const prepared = await preparePackage(process.env['DIDIT_LAMBDA_PACKAGE_DIR'] || undefined, log);
  const packageDir = prepared.dir;
  log(`[load] package: ${join(packageDir, TEMPLATE_FILE)}`);
  const em: Emulator = await startEmulator({ log });
  // Completion events per job as the worker published them: every PutEvents entry the bus accepted.
  const published = new Map<string, Publication[]>();
  // Why the worker reported a message as a batch item failure, from its own log line (messageId and receive
  // count identify the delivery; the error name and code are all it logs).
  const itemFailureReasons = new Map<string, string>();
  // Host-mode LocalStack has no DynamoDB: moto beside it, as the test setup does.
  const dynamoEm = em.kind === 'localstack' ? await startEmulator({ kind: 'moto', log }) : undefined;
  // moto applies conditional writes without a lock (two concurrent puts of one idempotency key can both
  // succeed; DynamoDB serialises them): one request at a time, as DynamoDB orders writes to one item.
  const dynamodb = await startSerializingProxy(dynamoEm?.endpoint ?? em.endpoint);
  const h = await startHarness({
    em,
    dynamodbEndpoint: dynamodb.endpoint,
    packageDir,
    jobsVisibilityTimeoutSeconds: WORKER_TIMEOUT_S * 6,
    didit: { rateLimits: { decision: 1e9, create: 1e9, pdf: 1e9, other: 1e9 } },
    onLog: (line) => {
      if (!line.includes('job message not processed')) return;
      try {
        const l = JSON.parse(line) as { messageId?: string; receiveCount?: number; errorName?: string; errorCode?: string };
        itemFailureReasons.set(`${l.messageId}/${l.receiveCount}`, `${l.errorName ?? '?'}/${l.errorCode ?? '?'}`);
      } catch {
        // not the worker's JSON line
      }
    },
    // What the worker publishes, per job: the entries EventBridge accepted, with the SDK command that sent
    // them (an SDK retry keeps the command's amz-sdk-invocation-id; a second notify is a new command).
    inspect: {
      targets: ['AWSEvents.PutEvents'],
      onAnswer: ({ headers, body, status, answer }) => {
        if (status !== 200) return;
        const entries = (JSON.parse(body.toString('utf8')) as { Entries?: { DetailType?: string; Detail?: string }[] }).Entries ?? [];
        const accepted = (JSON.parse(answer.toString('utf8') || '{}') as { Entries?: { EventId?: string }[] }).Entries ?? [];
        entries.forEach((e, i) => {
          if (e.DetailType !== 'didit.job.completed' || !accepted[i]?.EventId) return;
          const id = (JSON.parse(e.Detail ?? '{}') as { jobId?: string }).jobId;
          if (!id) return;
          const list = published.get(id) ?? [];
          list.push({ invocationId: String(headers['amz-sdk-invocation-id'] ?? ''), attempt: String(headers['amz-sdk-request'] ?? '') });
          published.set(id, list);
        });
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
      AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
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
            amlJobRequest(fullName),
            lambdaContext(),
          );
          if (res?.statusCode !== 202) throw new Error(`submit ${i}: ${res?.statusCode}`);
          nameToJob.set(fullName, String((JSON.parse(res.body) as { jobId: string }).jobId));
        }
      }),
    );
    const workerDef = readFunction(h.template, 'jobWorker');
    const mappingDef = readSqsMapping(h.template, workerDef);
    const concurrency = concurrencyFor(CONCURRENCY, mappingDef.maximumConcurrency, workerDef.reservedConcurrency);
    log(
      `[load] submitted in ${((Date.now() - t0) / 1000).toFixed(1)} s; running the packaged worker: ${concurrency} pollers and environments ` +
        `(LOAD_CONCURRENCY ${CONCURRENCY}, mapping MaximumConcurrency ${mappingDef.maximumConcurrency ?? 'unset'}, reserved concurrency ${workerDef.reservedConcurrency ?? 'unset'})`,
    );

    const worker = h.pool('jobWorker', { size: concurrency, timeout: WORKER_TIMEOUT_S });
    const faultKinds = ['500', 'reset', 'slow'] as const;
    let faultTurn = 0;
    let invocations = 0;
    let functionErrors = 0;
    let timeouts = 0;
    let invokeFailures = 0;
    // The invocations that did not end normally, per job in their batch, and the deliveries the worker
    // reported as batch item failures (what explains a repeated notify).
    const abnormal = new Map<string, string[]>();
    const itemFailures = new Map<string, string[]>();
    const mapping = startSqsMapping({
      sqs: h.sqs,
      queueUrl: h.stack.queues.jobs.url,
      queueArn: h.stack.queues.jobs.arn,
      region: em.region,
      mapping: mappingDef,
      concurrency,
      invoke: async (event: SQSEvent) => {
        invocations += 1;
        if (invocations % THROTTLE_EVERY === 0) h.aws.throttleKms(THROTTLE_BURST);
        // Faults queue up in the Didit sandbox and are taken by the next AML calls of any environment (never
        // cleared per invocation: that would drop the faults meant for the batches in flight elsewhere).
        for (let i = 0; i < event.Records.length; i += 1) {
          if (Math.random() >= FAULT_RATE) continue;
          const kind = faultKinds[faultTurn++ % faultKinds.length];
          if (kind === '500') h.didit.inject({ fault: { kind: 'status', status: 500 }, pathPrefix: '/v3/aml' });
          else if (kind === 'reset') h.didit.inject({ fault: { kind: 'reset' }, pathPrefix: '/v3/aml' });
          else h.didit.inject({ fault: { kind: 'delay', ms: (WORKER_TIMEOUT_S + 3) * 1000 }, pathPrefix: '/v3/aml' });
        }
        const note = (what: string): void => {
          for (const r of event.Records) {
            const jobId = jobIdOf(r.body);
            abnormal.set(jobId, [...(abnormal.get(jobId) ?? []), `${what} (receive ${r.attributes.ApproximateReceiveCount})`]);
          }
        };
        let res: InvokeResult;
        try {
          res = await worker.invoke(event);
        } catch (err) {
          // The mapper returns the batch to the queue and goes on; the pool replaces the environment.
          invokeFailures += 1;
          note('invocation failed');
          log(`\n[load] invocation failed (${event.Records.length} messages back to the queue): ${err instanceof Error ? err.message : String(err)}`);
          throw err;
        }
        if (res.functionError !== undefined) {
          functionErrors += 1;
          if (res.timedOut) timeouts += 1;
          note(res.timedOut ? 'timed out' : `function error ${res.functionError}`);
        }
        const failures = (res.payload as { batchItemFailures?: { itemIdentifier?: string }[] } | null)?.batchItemFailures;
        for (const f of Array.isArray(failures) ? failures : []) {
          const r = event.Records.find((x) => x.messageId === f.itemIdentifier);
          if (!r) continue;
          const jobId = jobIdOf(r.body);
          itemFailures.set(jobId, [...(itemFailures.get(jobId) ?? []), `${r.messageId}/${r.attributes.ApproximateReceiveCount}`]);
        }
        return res;
      },
    });

    // Outcome events (didit.job.completed) and the DLQ, until every job is accounted for or nothing moves.
    // Then on until the jobs queue is empty, nothing in flight: a message whose invocation timed out comes
    // back after the visibility timeout, and whatever it publishes again must be counted too.
    const outcomes = new Map<string, { status: string; errorCode?: string }>();
    const busDeliveries = new Map<string, number>();
    const dlqJobs = new Set<string>();
    let lastProgress = Date.now();
    let accounted = 0;
    let inQueue = N;
    const stallMs = (WORKER_TIMEOUT_S * 6 * 6 + 120) * 1000; // more than maxReceiveCount visibility timeouts
    while ((accounted < N || inQueue > 0) && Date.now() - lastProgress < stallMs) {
      const before = accounted;
      const queuedBefore = inQueue;
      await drainAll(
        h.sqs,
        h.stack.queues.events.url,
        (body) => {
          const e = JSON.parse(body) as { 'detail-type'?: string; detail?: { jobId?: string; status?: string; errorCode?: string } };
          if (e['detail-type'] !== 'didit.job.completed' || !e.detail?.jobId) return;
          busDeliveries.set(e.detail.jobId, (busDeliveries.get(e.detail.jobId) ?? 0) + 1);
          if (!outcomes.has(e.detail.jobId)) outcomes.set(e.detail.jobId, { status: String(e.detail.status), ...(e.detail.errorCode ? { errorCode: e.detail.errorCode } : {}) });
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
      // Asked only once every job is accounted for: moto computes each count by walking every message (and
      // its attribute lookup computes all counts several times), which with 10,000 queued messages took a
      // quarter of its CPU when asked on every round.
      if (accounted >= N) {
        const attrs = (
          await h.sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: h.stack.queues.jobs.url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
          )
        ).Attributes;
        inQueue = Number(attrs?.['ApproximateNumberOfMessages'] ?? 0) + Number(attrs?.['ApproximateNumberOfMessagesNotVisible'] ?? 0);
      }
      if (accounted !== before || inQueue !== queuedBefore) lastProgress = Date.now();
      process.stderr.write(`\r[load] accounted ${accounted}/${N}, in the queue ${accounted >= N ? inQueue : '-'}, invocations ${invocations}, KMS throttled ${h.aws.throttled}   `);
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
    // An outcome event twice on the bus is one of: the worker published it twice (an SDK retry of one
    // PutEvents whose first attempt the bus had accepted: same amz-sdk-invocation-id; or a second notify by a
    // later delivery, after an invocation cut between the publish and the notified mark), or the bus/queue
    // delivered one publication twice (or the delete of a delivered event failed here).
    const duplicateEvents = [...published.values()].reduce((n, l) => n + Math.max(0, l.length - 1), 0);
    const extraDeliveries = [...busDeliveries].reduce((n, [id, c]) => n + Math.max(0, c - Math.max(1, published.get(id)?.length ?? 0)), 0);
    for (const [id, list] of published) {
      if (list.length < 2) continue;
      const commands = new Set(list.map((p) => p.invocationId)).size;
      const why = commands < list.length ? 'an SDK retry of one PutEvents the bus had already accepted' : `${commands} separate PutEvents (notified again by a later delivery)`;
      log(
        `[load] job ${id}: outcome published ${list.length} times: ${why}; attempts ${list.map((p) => p.attempt).join(' | ')}; ` +
          `its abnormal invocations: ${(abnormal.get(id) ?? ['none']).join(', ')}; its item failures: ${(itemFailures.get(id) ?? []).map((d) => `receive ${d.split('/')[1]} ${itemFailureReasons.get(d) ?? '(reason not logged)'}`).join(', ') || 'none'}`);
    }
    for (const [id, c] of busDeliveries) {
      const p = published.get(id)?.length ?? 0;
      if (c > Math.max(1, p)) log(`[load] job ${id}: outcome delivered ${c} times, published ${p}`);
    }
    const sorted = worker.durations().sort((a, b) => a - b);
    const pct = (p: number): string => (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(0);
    const inits = worker.initDurations().sort((a, b) => a - b);
    log(
      `[load] worker: ${worker.environments.length} environments (peak ${worker.peakConcurrency} invocations at once), invocations ${invocations} (function errors ${functionErrors}, timeouts ${timeouts}, not invoked ${invokeFailures}), ` +
        `duration p50 ${pct(0.5)} ms p90 ${pct(0.9)} ms p99 ${pct(0.99)} ms, cold starts ${inits.length} (init p50 ${(inits[Math.floor(inits.length / 2)] ?? 0).toFixed(0)} ms, max ${(inits.at(-1) ?? 0).toFixed(0)} ms), ` +
        `KMS requests throttled ${h.aws.throttled}, KMS decrypts per message ${(decrypts / N).toFixed(3)}, outcome events published twice ${duplicateEvents}, delivered more often than published ${extraDeliveries} (deletes refused ${undeleted}), ` +
        `worker memory peak ${((await worker.memoryPeak()) / 1048576).toFixed(1)} MB`,
    );
    await worker.stop();
    if (lost > 0 || duplicatePaid > 0 || duplicateEvents > 0 || extraDeliveries > 0) exit = 1;

    // ---- webhook flood ---------------------------------------------------------------------------------
    const hookDef = readFunction(h.template, 'diditWebhook');
    const hook = h.pool('diditWebhook', { size: concurrencyFor(CONCURRENCY, hookDef.reservedConcurrency) });
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
    const statuses = new Map<number, number>();
    // Sent `hook.size` at a time (a duplicate right after its original is then in flight beside it, as
    // Didit's own duplicates can be); a 5xx answer (e.g. WEBHOOK_IN_PROGRESS while the original runs) is
    // delivered again after the others, as Didit retries 5xx, up to three times.
    let round = order;
    for (let attempt = 0; attempt < 4 && round.length > 0; attempt += 1) {
      const retry: number[] = [];
      let nextDelivery = 0;
      await Promise.all(
        Array.from({ length: hook.size }, async () => {
          for (;;) {
            const i = round[nextDelivery++];
            if (i === undefined) return;
            const d = deliveries[i];
            if (!d) continue;
            const r = await hook.invoke(webhookEvent(d.delivery));
            const status = (r.payload as { statusCode?: number } | undefined)?.statusCode ?? 0;
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status >= 500 || status === 0) retry.push(i);
          }
        }),
      );
      round = retry;
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
        `${hook.environments.length} environments, median invocation ${(() => { const d = hook.durations().sort((a, b) => a - b); return (d[Math.floor(d.length / 2)] ?? 0).toFixed(0); })()} ms, ` +
        `answers ${JSON.stringify(Object.fromEntries(statuses))}, exactly one event ${once}, none ${missing}, more than one ${twice}`,
    );
    if (once !== unique) exit = 1;

    process.stdout.write(
      `load: ${N} messages, ${secs.toFixed(1)} s, succeeded ${succeeded}, failed ${failed}, dlq ${dlq}, outcome unknown ${unknown}, lost ${lost}, duplicate paid calls ${duplicatePaid}, KMS decrypts ${decrypts}\n`,
    );
  } finally {
    await h.close().catch((err: unknown) => log(`[load] teardown: ${String(err)}`));
    await dynamodb.close();
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
