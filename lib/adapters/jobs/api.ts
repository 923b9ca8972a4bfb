import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { PayloadTooLargeError } from '../../errors/index.ts';
import { errorResponder } from '../../responses/error-responder.ts';
import { jsonResponse } from '../../responses/json-response.ts';
import { validateStructured } from '../../validation/request.ts';
import { logger, metrics, MetricUnit } from '../../observability/telemetry.ts';
import { sharedJobDependencies, type JobDependencies } from './dependencies.ts';
import { JobNotFoundError } from './errors.ts';
import { jobOperation, parseSubmission, serializeJobMessage, structuredInput, type JobMessage } from './message.ts';
import type { JobError, JobRecord, JobStatus } from './store.ts';

export interface JobApiOptions {
  /** Injected in tests; the default builds them from the environment once per execution environment. */
  readonly dependencies?: () => JobDependencies;
}

/** The answer of `POST /v1/jobs/{operation}`. */
export interface JobAccepted {
  readonly jobId: string;
  readonly status: 'queued';
  readonly statusUrl: string;
}

/** The answer of `GET /v1/jobs/{jobId}`. */
export interface JobView {
  readonly jobId: string;
  readonly operation: string;
  readonly status: JobStatus;
  /** Didit's answer (post-processed and redacted as on the synchronous route), once succeeded. */
  readonly result?: unknown;
  readonly error?: JobError;
  readonly createdAt: string;
  readonly completedAt: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `POST /v1/jobs/{operation}` (IAM auth): the operation's input as `{params?, query?, body?}`, checked NOW with
 * the synchronous route's schemas (`validateStructured`): bad input is a 400 and nothing is queued or sent to
 * Didit. Then the job record (status `queued`), then the SQS message `{v, jobId, operation, input}`; answers
 * 202 `{jobId, status, statusUrl}` with `Location`.
 *
 * Never rejects: errors are answered by `errorResponder` as `{ error: { code, message, requestId } }` (a 500
 * as `INTERNAL`, e.g. a missing `JOBS_QUEUE_URL`, a `ConfigError`).
 *
 * @example
 * ```ts
 * // functions/jobs.ts
 * export const submitJob = traced(createSubmitJobHandler());
 * // Caller: POST /v1/jobs/createSession  {"body": {"workflow_id": "…", "vendor_data": "u-123"}}
 * //      → 202 {"jobId": "…", "status": "queued", "statusUrl": "/v1/jobs/…"}
 * ```
 * @throws {UnknownJobOperationError} UNKNOWN_OPERATION (404): no such table entry.
 * @throws {OperationNotAsyncError} OPERATION_NOT_ASYNC (400): the operation answers a binary document.
 * @throws {ValidationError} VALIDATION_FAILED (400, with `issues`): the submission or the operation's input;
 *   `PayloadTooLargeError` PAYLOAD_TOO_LARGE (413) over `maxMessageBytes`; `UnsupportedMediaTypeError`
 *   UNSUPPORTED_MEDIA_TYPE (415) for a body not sent as `application/json`. Nothing is recorded or queued.
 * @throws {JobStoreUnavailableError} JOB_STORE_UNAVAILABLE (503, retryable): the job record could not be written.
 * @throws {JobQueueUnavailableError} JOB_QUEUE_UNAVAILABLE (503, retryable): SQS refused the message; the record is
 *   removed again (best effort), so the job id is never handed out.
 */
export function createSubmitJobHandler(options: JobApiOptions = {}) {
  const dependencies = options.dependencies ?? sharedJobDependencies;

  const core = async (event: APIGatewayProxyEvent, context: Context, { signal }: { signal: AbortSignal }): Promise<APIGatewayProxyResult> => {
    metrics.addDimension('operation', 'submitJob');
    const deps = dependencies();
    const spec = jobOperation(pathParameter(event, 'operation'));
    const input = parseSubmission(event, deps.config.maxMessageBytes);
    validateStructured(spec, structuredInput(input));

    const jobId = randomUUID();
    const message: JobMessage = { v: 1, jobId, operation: spec.name, input };
    const body = serializeJobMessage(message);
    if (Buffer.byteLength(body, 'utf8') > deps.config.maxMessageBytes) {
      throw new PayloadTooLargeError(`job message exceeds ${deps.config.maxMessageBytes} bytes`);
    }
    const now = deps.now();
    const iso = new Date(now).toISOString();
    const record: JobRecord = {
      jobId,
      operation: spec.name,
      status: 'queued',
      createdAt: iso,
      updatedAt: iso,
      expiresAt: Math.floor(now / 1000) + deps.config.ttlSeconds,
      caller: callerOf(event),
      ...(event.requestContext?.requestId === undefined ? {} : { submitRequestId: event.requestContext.requestId }),
    };
    // The record first: the worker treats a message without one as poison.
    await deps.store.create(record);
    try {
      await deps.queue.send(body, { abortSignal: signal });
    } catch (err) {
      // Nobody will ever see this job id: remove the record (best effort; its TTL removes it otherwise).
      await deps.store.delete(jobId).catch(() => undefined);
      throw err;
    }
    metrics.addMetric('JobSubmitted', MetricUnit.Count, 1);
    logger.info('job submitted', { jobId, operation: spec.name, messageBytes: Buffer.byteLength(body, 'utf8') });
    const statusUrl = statusUrlFor(event, jobId);
    const accepted: JobAccepted = { jobId, status: 'queued', statusUrl };
    return jsonResponse(202, accepted, { location: statusUrl, 'x-request-id': context.awsRequestId });
  };

  return middy(core).use(injectLambdaContext(logger, { resetKeys: true })).use(logMetrics(metrics)).use(errorResponder({ logger }));
}

/**
 * `GET /v1/jobs/{jobId}` (IAM auth): the job's status; once succeeded, its result decrypted (KMS Decrypt of
 * the data key under the `didit-job-result` context, AES-256-GCM bound to the job id). An unknown, malformed
 * or expired id is a 404 alike. Any IAM-authorised caller of the API may read any job whose id it knows.
 *
 * Never rejects: errors are answered by `errorResponder` as `{ error: { code, message, requestId } }` (a 500
 * as `INTERNAL`). A failed job is a 200 with `status: "failed"` and its `error`, not an error answer.
 *
 * @example
 * ```ts
 * // functions/jobs.ts
 * export const getJob = traced(createGetJobHandler());
 * // Caller: GET /v1/jobs/{jobId} → 200 {"jobId": "…", "status": "succeeded", "result": {…}, …}
 * ```
 * @throws {JobNotFoundError} NOT_FOUND (404): malformed, unknown or expired id, alike.
 * @throws {JobStoreUnavailableError} JOB_STORE_UNAVAILABLE (503, retryable): the job table could not be read.
 * @throws {ResultUnreadableError} RESULT_UNREADABLE (500, answered `INTERNAL`): the stored result fails
 *   authentication or decoding.
 * @throws the result key's Decrypt errors (lib/kms/errors.ts): KMS_THROTTLED, KMS_UNAVAILABLE (503, retryable);
 *   KMS_ACCESS_DENIED, KMS_KEY_UNUSABLE, KMS_INVALID_CIPHERTEXT (500); KMS_BAD_RESPONSE (502).
 */
export function createGetJobHandler(options: JobApiOptions = {}) {
  const dependencies = options.dependencies ?? sharedJobDependencies;

  const core = async (event: APIGatewayProxyEvent, context: Context, { signal }: { signal: AbortSignal }): Promise<APIGatewayProxyResult> => {
    metrics.addDimension('operation', 'getJob');
    const deps = dependencies();
    const jobId = pathParameter(event, 'jobId');
    if (jobId === undefined || !UUID.test(jobId)) throw new JobNotFoundError('malformed job id');
    const job = await deps.store.get(jobId);
    if (job === undefined || job.expiresAt * 1000 <= deps.now()) throw new JobNotFoundError('no such job');
    const view: JobView = {
      jobId: job.jobId,
      operation: job.operation,
      status: job.status,
      ...(job.result === undefined ? {} : { result: await deps.results.open(job.jobId, job.result, { abortSignal: signal }) }),
      ...(job.error === undefined ? {} : { error: job.error }),
      createdAt: job.createdAt,
      completedAt: job.completedAt ?? null,
    };
    return jsonResponse(200, view, { 'x-request-id': context.awsRequestId });
  };

  return middy(core).use(injectLambdaContext(logger, { resetKeys: true })).use(logMetrics(metrics)).use(errorResponder({ logger }));
}

/**
 * API Gateway (REST) allows one variable path part per level, so `POST /v1/jobs/{operation}` and
 * `GET /v1/jobs/{jobId}` cannot both exist as declared: the stack declares both as `/v1/jobs/{id}`. Each
 * handler reads its own name, else `id`.
 */
function pathParameter(event: APIGatewayProxyEvent, name: string): string | undefined {
  return event.pathParameters?.[name] ?? event.pathParameters?.['id'] ?? undefined;
}

/**
 * The status URL as the caller reached us: API Gateway's `requestContext.path` carries the stage prefix
 * (`/prod/v1/jobs/…` on the execute-api host) or the custom domain's base path; `path` does not.
 */
function statusUrlFor(event: APIGatewayProxyEvent, jobId: string): string {
  const full = event.requestContext?.path;
  const path = event.path;
  const prefix = typeof full === 'string' && typeof path === 'string' && full.endsWith(path) ? full.slice(0, full.length - path.length) : '';
  return `${prefix}/v1/jobs/${jobId}`;
}

/** The IAM principal that submitted the job (REST API with IAM auth); never a token. */
function callerOf(event: APIGatewayProxyEvent): string {
  const identity = event.requestContext?.identity;
  return identity?.userArn ?? identity?.caller ?? 'anonymous';
}
