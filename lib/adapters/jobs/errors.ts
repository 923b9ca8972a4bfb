import { gatewayError } from '../../errors/index.ts';

/**
 * Errors of the asynchronous job API and its worker. Same contract as lib/errors/: our own messages,
 * no input, no result, no key material; 500s reach callers as `INTERNAL` with the request id.
 */

/** `POST /v1/jobs/{operation}` names no operation of the table. */
export class UnknownJobOperationError extends gatewayError({ code: 'UNKNOWN_OPERATION', status: 404, publicMessage: 'No such operation.' }) {}

/** The operation exists but cannot run as a job (its answer is a binary document, e.g. a PDF report). */
export class OperationNotAsyncError extends gatewayError({
  code: 'OPERATION_NOT_ASYNC',
  status: 400,
  publicMessage: 'This operation cannot run as a job; call its synchronous route.',
}) {}

/** No job with this id (never existed, or expired). The same answer for both: ids are not enumerable. */
export class JobNotFoundError extends gatewayError({ code: 'NOT_FOUND', status: 404, publicMessage: 'Not found.' }) {}

/** The job table could not be read or written. */
export class JobStoreUnavailableError extends gatewayError({ code: 'JOB_STORE_UNAVAILABLE', status: 503, retryable: true }) {}

/** SQS did not take the job message: nothing was queued (the job record is removed again). */
export class JobQueueUnavailableError extends gatewayError({ code: 'JOB_QUEUE_UNAVAILABLE', status: 503, retryable: true }) {}

/** Another invocation is running this job's Didit call right now (a duplicate SQS delivery): redeliver later. */
export class JobInProgressError extends gatewayError({ code: 'JOB_IN_PROGRESS', status: 503, retryable: true }) {}

/**
 * A message the worker cannot process at all: not a job message, an operation this version does not know
 * (a newer deployment's message), or no job record. Reported as a batch item failure, so SQS redelivers it
 * and, after maxReceiveCount, moves it to the dead-letter queue for an operator. Nothing was sent to Didit.
 */
export class PoisonMessageError extends gatewayError({ code: 'POISON_MESSAGE', status: 500 }) {}

/** The sealed result would not fit in a DynamoDB item (400 KB) even compressed. */
export class ResultTooLargeError extends gatewayError({
  code: 'RESULT_TOO_LARGE',
  status: 502,
  publicMessage: 'Didit answered, but the answer is too large to be kept as a job result.',
}) {}

/** A stored result could not be decrypted or decoded (tampered, wrong context, or a bug). */
export class ResultUnreadableError extends gatewayError({ code: 'RESULT_UNREADABLE', status: 500 }) {}
