import { GatewayError } from '../../errors.ts';

/**
 * Errors of the asynchronous job API and its worker. Same contract as lib/errors.ts: our own messages,
 * no input, no result, no key material; 500s reach callers as `INTERNAL` with the request id.
 */

/** `POST /v1/jobs/{operation}` names no operation of the table. */
export class UnknownJobOperationError extends GatewayError {
  readonly code = 'UNKNOWN_OPERATION';
  readonly statusCode = 404;
  override get publicMessage(): string {
    return 'No such operation.';
  }
}

/** The operation exists but cannot run as a job (its answer is a binary document, e.g. a PDF report). */
export class OperationNotAsyncError extends GatewayError {
  readonly code = 'OPERATION_NOT_ASYNC';
  readonly statusCode = 400;
  override get publicMessage(): string {
    return 'This operation cannot run as a job; call its synchronous route.';
  }
}

/** No job with this id (never existed, or expired). The same answer for both: ids are not enumerable. */
export class JobNotFoundError extends GatewayError {
  readonly code = 'NOT_FOUND';
  readonly statusCode = 404;
  override get publicMessage(): string {
    return 'Not found.';
  }
}

/** The job table could not be read or written. */
export class JobStoreUnavailableError extends GatewayError {
  readonly code = 'JOB_STORE_UNAVAILABLE';
  readonly statusCode = 503;
  override readonly retryable = true;
}

/** SQS did not take the job message: nothing was queued (the job record is removed again). */
export class JobQueueUnavailableError extends GatewayError {
  readonly code = 'JOB_QUEUE_UNAVAILABLE';
  readonly statusCode = 503;
  override readonly retryable = true;
}

/** Another invocation is running this job's Didit call right now (a duplicate SQS delivery): redeliver later. */
export class JobInProgressError extends GatewayError {
  readonly code = 'JOB_IN_PROGRESS';
  readonly statusCode = 503;
  override readonly retryable = true;
}

/**
 * A message the worker cannot process at all: not a job message, an operation this version does not know
 * (a newer deployment's message), or no job record. Reported as a batch item failure, so SQS redelivers it
 * and, after maxReceiveCount, moves it to the dead-letter queue for an operator. Nothing was sent to Didit.
 */
export class PoisonMessageError extends GatewayError {
  readonly code = 'POISON_MESSAGE';
  readonly statusCode = 500;
}

/** The sealed result would not fit in a DynamoDB item (400 KB) even compressed. */
export class ResultTooLargeError extends GatewayError {
  readonly code = 'RESULT_TOO_LARGE';
  readonly statusCode = 502;
  override get publicMessage(): string {
    return 'Didit answered, but the answer is too large to be kept as a job result.';
  }
}

/** A stored result could not be decrypted or decoded (tampered, wrong context, or a bug). */
export class ResultUnreadableError extends GatewayError {
  readonly code = 'RESULT_UNREADABLE';
  readonly statusCode = 500;
}
