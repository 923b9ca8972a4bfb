import middy from '@middy/core';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { GatewayError, SpendCapReachedError, ValidationError } from '../../errors/index.ts';
import { validateStructured, type ValidRequest } from '../../validation/request.ts';
import { logger, metrics, MetricUnit } from '../../observability/telemetry.ts';
import type { OperationSpec } from '../../operations/types.ts';
import { sharedDependencies, type GatewayDependencies } from '../../runtime/dependencies.ts';
import { executeOperation, type KeyScope } from '../../runtime/execute-operation.ts';
import { requireSetting } from './config.ts';
import { sharedJobDependencies, type JobDependencies } from './dependencies.ts';
import { mapIdempotencyError } from '../../idempotency/error-map.ts';
import { JobInProgressError, PoisonMessageError } from './errors.ts';
import { completedDetail, JOB_COMPLETED_DETAIL_TYPE } from './events.ts';
import type { PaidCallReservation } from '../../spend-cap/gate.ts';
import { BatchKeyScope } from './key-scope.ts';
import { parseJobMessage, structuredInput, workerOperation, type JobMessage } from './message.ts';
import { decideFailure, diditStatusOf, jobErrorOf, OUTCOME_UNKNOWN } from './outcome.ts';
import type { ResultSealer } from './result-crypto.ts';
import { isTerminal, type JobOutcome, type JobRecord } from './store.ts';

/** Time kept back from the Lambda deadline to record outcomes (and zero the key) after the last Didit call. */
const DEADLINE_MARGIN_MS = 5_000;

export interface JobWorkerDependencies {
  readonly jobs: JobDependencies;
  readonly gateway: GatewayDependencies;
}

export interface JobWorkerOptions {
  /** Injected in tests; the default builds them from the environment once per execution environment. */
  readonly dependencies?: () => JobWorkerDependencies;
}

/** What one message came to (for logs and tests). */
export type RecordResult = 'succeeded' | 'failed' | 'already-complete';

/** State shared by the messages of one invocation. */
interface Batch {
  readonly deps: JobWorkerDependencies;
  readonly keyScope: BatchKeyScope;
  readonly sealer: ResultSealer;
  readonly context: Context;
  readonly signal: AbortSignal;
  readonly deadline: number;
}

/**
 * The SQS worker: Powertools Batch with `ReportBatchItemFailures`, messages processed in parallel, one KMS
 * Decrypt for the whole batch ({@link BatchKeyScope}) and one result data key ({@link ResultSealer}).
 *
 * Per message:
 *  1. parse; an unreadable message, an operation this version does not know, a missing or expired job
 *     record is poison → batch item failure (redelivered, then dead-lettered after maxReceiveCount);
 *  2. a job already complete → (re)publish its completion event if that had not happened; nothing else;
 *  3. `validateStructured` (the submit route's checks); invalid → job failed `VALIDATION_FAILED`, not retried;
 *  4. the Didit call, at most once per job: Powertools Idempotency keyed on the job id. A redelivered message
 *     whose call already succeeded (or failed for good) gets the stored outcome and Didit is NOT called again,
 *     even when recording the job or deleting the message failed after the call;
 *  5. the outcome is recorded (conditional write) and `didit.job.completed` published.
 * Retryable faults (see lib/adapters/jobs/outcome.ts) become batch item failures; everything else completes the job.
 *
 * The window between Didit's answer and the idempotency record being saved: if the invocation dies there,
 * the IN_PROGRESS record expires with the invocation and the job record still carries `callStartedAt`; the
 * redelivery sees that marker and, for a non-idempotent (paid) operation, fails the job with
 * `DIDIT_OUTCOME_UNKNOWN` instead of calling again. If only the save fails, the outcome still in memory is
 * written to the job record directly.
 *
 * What a message's error becomes (never a rejection of the invocation; see {@link decideFailure}):
 *  - the job FAILS, with the code in the job record and in `didit.job.completed`: VALIDATION_FAILED,
 *    SPEND_CAP_REACHED (the caller resubmits after 00:00 UTC), DIDIT_OUTCOME_UNKNOWN, Didit's 4xx codes
 *    (DIDIT_REJECTED_INPUT, DIDIT_FORBIDDEN, NOT_FOUND), DIDIT_BAD_RESPONSE, RESULT_TOO_LARGE, any error once
 *    Didit has answered, or `INTERNAL` for a bug;
 *  - a batch item failure (SQS redelivers, then dead-letters): POISON_MESSAGE, JOB_IN_PROGRESS,
 *    JOB_STORE_UNAVAILABLE, IDEMPOTENCY_STORE_UNAVAILABLE, SPEND_COUNTER_UNAVAILABLE, EVENT_PUBLISH_FAILED, the
 *    key's SECRET_* / KMS_* / KEY_SHAPE_INVALID, RATE_LIMITED, DIDIT_UNAVAILABLE, DIDIT_UNAUTHORIZED, and a
 *    timeout or lost connection of an idempotent operation (or of a request that never left). Each is logged
 *    with `errorCode` and counted as `JobItemFailure`.
 *
 * @example
 * ```ts
 * // functions/jobs.ts: the SQS event source of the job queue, with ReportBatchItemFailures.
 * export const worker = traced(createJobWorker());
 *
 * // A test: the real worker over emulator-bound dependencies.
 * const worker = createJobWorker({ dependencies: () => ({ jobs: createJobDependencies(config, clients), gateway }) });
 * const { batchItemFailures } = await worker(sqsEvent, context);
 * ```
 * @throws {ConfigError} the whole invocation (every message comes back, then dead-letters) when EVENT_BUS_NAME,
 *   IDEMPOTENCY_TABLE or JOB_RESULT_KMS_KEY_ID is missing: no job is failed for our misconfiguration.
 */
export function createJobWorker(options: JobWorkerOptions = {}) {
  const dependencies = options.dependencies ?? (() => ({ jobs: sharedJobDependencies(), gateway: sharedDependencies() }));

  const core = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    metrics.addDimension('operation', 'jobWorker');
    const deps = dependencies();
    // Misconfiguration fails the whole invocation (every message comes back, then dead-letters): no job is
    // failed for our mistake.
    requireSetting(deps.jobs.config.eventBusName, 'EVENT_BUS_NAME');
    requireSetting(deps.jobs.config.idempotencyTable, 'IDEMPOTENCY_TABLE');
    requireSetting(deps.jobs.config.resultKmsKeyId, 'JOB_RESULT_KMS_KEY_ID');

    const remaining = typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 900_000;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.max(0, remaining - 1_000));
    timer.unref();
    const batch: Batch = {
      deps,
      keyScope: new BatchKeyScope(deps.gateway.sealedKey, { abortSignal: controller.signal }),
      sealer: deps.jobs.results.sealer(),
      context,
      signal: controller.signal,
      deadline: Date.now() + Math.max(0, remaining - DEADLINE_MARGIN_MS),
    };
    const results: Array<RecordResult | 'item-failure'> = [];
    try {
      const processor = new BatchProcessor(EventType.SQS);
      const response = await processPartialResponse(
        event,
        async (record: SQSRecord) => {
          try {
            const result = await processRecord(record, batch);
            results.push(result);
            return result;
          } catch (err) {
            results.push('item-failure');
            reportItemFailure(record, err);
            throw err;
          }
        },
        processor,
        { context, throwOnFullBatchFailure: false },
      );
      return response;
    } finally {
      clearTimeout(timer);
      await batch.keyScope.close();
      await batch.sealer.dispose();
      logger.info('job batch done', {
        records: event.Records.length,
        succeeded: results.filter((r) => r === 'succeeded').length,
        failed: results.filter((r) => r === 'failed').length,
        alreadyComplete: results.filter((r) => r === 'already-complete').length,
        itemFailures: results.filter((r) => r === 'item-failure').length,
        kmsDecrypts: batch.keyScope.decrypts,
        sharedKeyUses: batch.keyScope.uses,
      });
    }
  };

  return middy(core).use(injectLambdaContext(logger, { resetKeys: true })).use(logMetrics(metrics));
}

async function processRecord(record: SQSRecord, batch: Batch): Promise<RecordResult> {
  const { jobs } = batch.deps;
  const message = parseJobMessage(record.body);
  const spec = workerOperation(message.operation);
  const job = await jobs.store.get(message.jobId);
  if (job === undefined) throw new PoisonMessageError('no job record for the message');
  if (job.operation !== message.operation) throw new PoisonMessageError('the message and the job record name different operations');
  if (isTerminal(job.status)) {
    await notify(job, batch);
    return 'already-complete';
  }
  // Nobody can read its result any more (and its idempotency record has expired too): never call Didit for it.
  if (job.expiresAt * 1000 <= jobs.now()) throw new PoisonMessageError('the job has expired');

  let valid: ValidRequest;
  try {
    valid = validateStructured(spec, structuredInput(message.input));
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return finish(message, { status: 'failed', error: { code: err.publicCode, message: err.publicMessage } }, batch);
  }

  let produced: JobOutcome | undefined;
  let outcome: JobOutcome;
  let replayed = false;
  try {
    const stored = await jobs.once().run(message.jobId, batch.context, async () => {
      produced = await callDidit(spec, valid, job, record, batch);
      return produced;
    });
    outcome = stored.value;
    replayed = stored.replayed;
  } catch (err) {
    if (produced === undefined) {
      throw mapIdempotencyError(err, (cause) => new JobInProgressError('the same job is being processed by another invocation', { cause }));
    }
    // Didit was called and the outcome is here, but the idempotency record could not be saved: record the
    // job now. A redelivery finds the job complete and does nothing.
    logger.warn('idempotency record not saved after the Didit call; completing the job from memory', {
      jobId: message.jobId,
      errorName: err instanceof Error ? err.name : undefined,
    });
    outcome = produced;
  }
  if (replayed) {
    metrics.addMetric('JobReplayed', MetricUnit.Count, 1);
    logger.info('job outcome replayed from the idempotency record; Didit not called', { jobId: message.jobId, operation: spec.name });
  }
  return finish(message, outcome, batch);
}

/**
 * The Didit call of one job (runs inside the idempotency scope: what it returns is stored and replayed;
 * what it throws deletes the IN_PROGRESS record so that a redelivery runs it again).
 */
async function callDidit(spec: OperationSpec, valid: ValidRequest, job: JobRecord, record: SQSRecord, batch: Batch): Promise<JobOutcome> {
  const { jobs, gateway } = batch.deps;
  const idempotent = typeof spec.idempotent === 'function' ? spec.idempotent(valid.input) : spec.idempotent;
  // The daily spend cap, before the batch decrypt: a job over the cap costs no KMS call and sends nothing.
  // It FAILS with SPEND_CAP_REACHED (and its completion event says so) rather than waiting in the queue: a
  // backlog released at 00:00 UTC would spend the next day's budget unasked, and SQS would dead-letter it
  // after maxReceiveCount anyway. The caller resubmits after the day rolls over; nothing was paid.
  let paidCall: PaidCallReservation | undefined;
  try {
    paidCall = await gateway.spendGate?.reserve(spec, { abortSignal: batch.signal });
  } catch (err) {
    if (err instanceof SpendCapReachedError) return { status: 'failed', error: jobErrorOf(err) };
    throw err;
  }
  try {
    // Everything that can fail without Didit first — the API key (one decrypt per batch) and the result data
    // key: a failure here throws before the call is marked as started, and the message is simply redelivered.
    await Promise.all([batch.keyScope.ready(), batch.sealer.ready({ abortSignal: batch.signal })]);
    const start = await jobs.store.beginCall(job.jobId, jobs.now());
    if (!start.started) throw new JobInProgressError('the job completed meanwhile');
    if (start.unresolvedEarlierCall && !idempotent) {
      logger.warn('an earlier Didit call of this job may have been made and never recorded; not calling again', { jobId: job.jobId, operation: spec.name });
      metrics.addMetric('JobOutcomeUnknown', MetricUnit.Count, 1);
      await paidCall?.release();
      return { status: 'failed', error: OUTCOME_UNKNOWN };
    }
  } catch (err) {
    await paidCall?.release();
    throw err;
  }
  const call = { idempotent, answered: false };
  const useKey: KeyScope = (fn, options) =>
    batch.keyScope.useKey(async (key, use) => {
      const response = await fn(key, use);
      call.answered = true;
      return response;
    }, options);
  try {
    const { response, json } = await executeOperation(spec, valid, {
      deps: gateway,
      signal: batch.signal,
      deadline: batch.deadline,
      timeoutMs: spec.timeoutMs,
      caller: job.caller,
      lambdaRequestId: batch.context.awsRequestId,
      sourceRequestId: record.messageId,
      useKey,
      paidCall,
    });
    const result = await batch.sealer.seal(job.jobId, json ?? null);
    return { status: 'succeeded', diditStatus: response.status, result };
  } catch (err) {
    const decision = decideFailure(err, call);
    if (decision === 'retry') {
      // Nothing was paid: clear the marker so that the redelivery calls again. If this write fails the
      // marker stays, and a paid operation's redelivery fails as DIDIT_OUTCOME_UNKNOWN instead of calling:
      // a job failed that could have been retried, never a second payment.
      await jobs.store.endCall(job.jobId, jobs.now()).catch((e: unknown) => {
        logger.warn('could not clear the call marker', { jobId: job.jobId, errorName: e instanceof Error ? e.name : undefined });
      });
      throw err;
    }
    if (decision === 'unknown') metrics.addMetric('JobOutcomeUnknown', MetricUnit.Count, 1);
    const diditStatus = diditStatusOf(err);
    return {
      status: 'failed',
      error: decision === 'unknown' ? OUTCOME_UNKNOWN : jobErrorOf(err),
      ...(diditStatus === undefined ? {} : { diditStatus }),
    };
  }
}

/** Records the outcome (unless another delivery did) and publishes the completion event. */
async function finish(message: JobMessage, outcome: JobOutcome, batch: Batch): Promise<RecordResult> {
  const { jobs } = batch.deps;
  const completed = await jobs.store.complete(message.jobId, outcome, jobs.now());
  const job = completed ?? (await jobs.store.get(message.jobId));
  if (job === undefined) throw new PoisonMessageError('the job record disappeared');
  if (completed !== undefined) {
    metrics.addMetric(outcome.status === 'succeeded' ? 'JobSucceeded' : 'JobFailed', MetricUnit.Count, 1);
    logger.info('job completed', {
      jobId: job.jobId,
      operation: job.operation,
      status: job.status,
      errorCode: job.error?.code,
      diditStatus: job.diditStatus,
      attempts: job.attempts,
    });
  }
  await notify(job, batch);
  return completed === undefined ? 'already-complete' : (job.status as 'succeeded' | 'failed');
}

/**
 * Publishes `didit.job.completed` once per job, then marks it notified. At least once, strictly: a runtime
 * killed between the publish and the mark publishes again on redelivery (EventBridge cannot deduplicate;
 * consumers key on `jobId`).
 *
 * The batch's abort signal is deliberately NOT passed to PutEvents: it fires 1 s before the deadline and would
 * cut a PutEvents whose request has already gone out, so EventBridge publishes the event while the worker
 * reports a failure and the redelivery publishes it again (seen in `npm run load` on a CPU-starved machine:
 * 1–3 jobs in 300 published twice). Left to finish, a PutEvents that starts before the 5 s deadline margin
 * has that margin to answer; one that never answers ends with the invocation (the runtime's timeout), and the
 * redelivery publishes again: the at-least-once case above, not a new one.
 */
async function notify(job: JobRecord, batch: Batch): Promise<void> {
  if (job.notifiedAt !== undefined || !isTerminal(job.status)) return;
  const { jobs } = batch.deps;
  await jobs.publisher.publish(JOB_COMPLETED_DETAIL_TYPE, completedDetail(job));
  await jobs.store.markNotified(job.jobId, jobs.now());
}


function reportItemFailure(record: SQSRecord, err: unknown): void {
  metrics.addMetric('JobItemFailure', MetricUnit.Count, 1);
  // Identifiers only: a message body is input (personal data).
  logger.warn('job message not processed; SQS will deliver it again', {
    messageId: record.messageId,
    receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? 0),
    errorName: err instanceof Error ? err.name : undefined,
    errorCode: err instanceof GatewayError ? err.code : 'INTERNAL',
    retryable: err instanceof GatewayError ? err.retryable : false,
  });
}
