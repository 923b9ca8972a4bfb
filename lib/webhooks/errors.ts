import { GatewayError } from '../errors.ts';

/**
 * Errors of the webhook receiver. Callers (Didit, or whoever probes the public route) get a status, a code
 * and one generic sentence: never which signature form was tried, what was expected, or the secret's state.
 * The `message` (logs only) names the check that failed, with no body content and no key material.
 */
const NOT_AUTHENTICATED = 'The webhook delivery could not be authenticated.';

/** No signature header matched (or none was well formed). */
export class WebhookSignatureError extends GatewayError {
  readonly code = 'WEBHOOK_SIGNATURE_INVALID';
  readonly statusCode = 401;
  override get publicMessage(): string {
    return NOT_AUTHENTICATED;
  }
}

/** `X-Timestamp` missing, malformed or outside the window, or the body's own timestamp too old / in the future. */
export class WebhookTimestampError extends GatewayError {
  readonly code = 'WEBHOOK_TIMESTAMP_INVALID';
  readonly statusCode = 401;
  override get publicMessage(): string {
    return NOT_AUTHENTICATED;
  }
}

/** The body is not JSON, not an object, or lacks the fields every delivery carries. */
export class WebhookPayloadError extends GatewayError {
  readonly code = 'WEBHOOK_PAYLOAD_INVALID';
  readonly statusCode = 400;
  override get publicMessage(): string {
    return 'The webhook body is not a valid Didit delivery.';
  }
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

/** EventBridge did not take the event: answered 5xx so that Didit delivers again. */
export class EventPublishError extends GatewayError {
  readonly code = 'EVENT_PUBLISH_FAILED';
  readonly statusCode = 502;
  override readonly retryable = true;
}
