/**
 * Errors of what guards a paid call or a delivery: the daily spend cap, the idempotency store (one
 * outcome per request, event or delivery) and the event bus that must take the outcome. The map from
 * Powertools Idempotency's errors to these is lib/idempotency/error-map.ts.
 */
import { gatewayError, type GatewayErrorOptions } from './gateway-error.ts';

// ---- spend cap ---------------------------------------------------------------------------------

/**
 * The stage's daily cap of paid Didit calls is reached. Nothing was sent to Didit and the key was not
 * decrypted. Not `retryable`: retrying within minutes (a queue redelivery, a Lambda retry) cannot succeed
 * before the UTC day rolls over, which `retryAfterSeconds` says; jobs and triggers record it as their
 * final outcome (with this code) instead of burning their retries.
 */
export class SpendCapReachedError extends gatewayError({
  code: 'SPEND_CAP_REACHED',
  status: 429,
  publicMessage: 'The daily limit of paid verification calls is reached; retry after 00:00 UTC (see Retry-After).',
}) {
  constructor(options: GatewayErrorOptions & { retryAfterSeconds: number }) {
    super('The daily cap of paid Didit calls of this stage is reached.', options);
  }
}

/**
 * The counter could not be read or written. The cap guards money, so it fails closed: no count, no call.
 */
export class SpendCounterUnavailableError extends gatewayError({ code: 'SPEND_COUNTER_UNAVAILABLE', status: 503, retryable: true }) {}

// ---- idempotency -------------------------------------------------------------------------------

/** The idempotency table (DynamoDB) could not be read or written: nothing was sent or published; retry. */
export class IdempotencyStoreUnavailableError extends gatewayError({ code: 'IDEMPOTENCY_STORE_UNAVAILABLE', status: 503, retryable: true }) {}

/** The same delivery is being processed by another invocation right now: retry later (Didit retries 5xx). */
export class WebhookInProgressError extends gatewayError({
  code: 'WEBHOOK_IN_PROGRESS',
  status: 503,
  retryable: true,
  publicMessage: 'This delivery is already being processed; retry later.',
}) {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryAfterSeconds: 30 });
  }
}

/**
 * The same trigger event (S3 upload, EventBridge event) is being processed by another invocation right
 * now. Retryable: the Lambda retry finds the stored outcome once the other invocation has finished.
 */
export class TriggerInProgressError extends gatewayError({ code: 'TRIGGER_IN_PROGRESS', status: 503, retryable: true }) {}

// ---- events ------------------------------------------------------------------------------------

/** EventBridge did not take the event (PutEvents failed or refused the entry): answered 5xx so that Didit delivers again. */
export class EventPublishError extends gatewayError({ code: 'EVENT_PUBLISH_FAILED', status: 502, retryable: true }) {}
