import { GatewayError } from '../../errors.ts';

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

/**
 * A `webhook_type` this receiver does not know. Didit sends only the types a destination subscribes to, by
 * exact name (§6.5), so an unknown one is a forgery or a subscription this code was not updated for:
 * refused before the secret is decrypted (a 4xx: Didit does not retry it; subscribe only to known types).
 */
export class WebhookTypeError extends GatewayError {
  readonly code = 'WEBHOOK_TYPE_UNKNOWN';
  readonly statusCode = 400;
  override get publicMessage(): string {
    return 'The webhook_type of this delivery is not one this receiver handles.';
  }
}

/**
 * A delivery authenticated by X-Signature-Simple alone could not be completed with the authoritative
 * decision from Didit (Didit, KMS or the network failed, or Didit does not know the session): 502 so that
 * Didit delivers again; nothing was published and the dedupe record was released.
 */
export class WebhookDecisionUnavailableError extends GatewayError {
  readonly code = 'WEBHOOK_DECISION_UNAVAILABLE';
  readonly statusCode = 502;
  override readonly retryable = true;
}
