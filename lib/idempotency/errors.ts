import { GatewayError } from '../errors.ts';

/** The idempotency table (DynamoDB) could not be read or written: nothing was sent or published; retry. */
export class IdempotencyStoreUnavailableError extends GatewayError {
  readonly code = 'IDEMPOTENCY_STORE_UNAVAILABLE';
  readonly statusCode = 503;
  override readonly retryable = true;
}

/** The same delivery is being processed by another invocation right now: retry later (Didit retries 5xx). */
export class WebhookInProgressError extends GatewayError {
  readonly code = 'WEBHOOK_IN_PROGRESS';
  readonly statusCode = 503;
  override readonly retryable = true;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryAfterSeconds: 30 });
  }
  override get publicMessage(): string {
    return 'This delivery is already being processed; retry later.';
  }
}

/**
 * The same trigger event (S3 upload, EventBridge event) is being processed by another invocation right
 * now. Retryable: the Lambda retry finds the stored outcome once the other invocation has finished.
 */
export class TriggerInProgressError extends GatewayError {
  readonly code = 'TRIGGER_IN_PROGRESS';
  readonly statusCode = 503;
  override readonly retryable = true;
}

/** Powertools Idempotency errors that mean the store, not the work, failed. */
const STORE_FAILURES = new Set([
  'IdempotencyPersistenceLayerError',
  'IdempotencyInconsistentStateError',
  'IdempotencyUnknownError',
  'IdempotencyKeyError',
]);

/**
 * Maps what {@link PersistentOnce.run} throws, for every user of it: another invocation holding the
 * same key becomes the caller's own "in progress" error (each trigger words and times its retry
 * differently); a store failure becomes {@link IdempotencyStoreUnavailableError}; the work's own
 * error passes through unchanged.
 */
export function mapIdempotencyError(err: unknown, inProgress: (cause: unknown) => Error): unknown {
  const name = err instanceof Error ? err.name : '';
  if (name === 'IdempotencyAlreadyInProgressError') return inProgress(err);
  if (STORE_FAILURES.has(name)) return new IdempotencyStoreUnavailableError(`idempotency store failed (${name})`, { cause: err });
  return err;
}
