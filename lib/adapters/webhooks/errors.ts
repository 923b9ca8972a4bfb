/**
 * Errors of the webhook receiver. Callers (Didit, or whoever probes the public route) get a status, a code
 * and one generic sentence: never which signature form was tried, what was expected, or the secret's state.
 * The `message` (logs only) names the check that failed, with no body content and no key material.
 */
import { gatewayError, NamedError } from '../../errors/index.ts';

/** The one sentence every 401 of the receiver answers, whichever check failed. */
const NOT_AUTHENTICATED = 'The webhook delivery could not be authenticated.';

/** No signature header matched (or none was well formed). */
export class WebhookSignatureError extends gatewayError({ code: 'WEBHOOK_SIGNATURE_INVALID', status: 401, publicMessage: NOT_AUTHENTICATED }) {}

/** `X-Timestamp` missing, malformed or outside the window, or the body's own timestamp too old / in the future. */
export class WebhookTimestampError extends gatewayError({ code: 'WEBHOOK_TIMESTAMP_INVALID', status: 401, publicMessage: NOT_AUTHENTICATED }) {}

/** The body is not JSON, not an object, or lacks the fields every delivery carries. */
export class WebhookPayloadError extends gatewayError({
  code: 'WEBHOOK_PAYLOAD_INVALID',
  status: 400,
  publicMessage: 'The webhook body is not a valid Didit delivery.',
}) {}

/**
 * A `webhook_type` this receiver does not know. Didit sends only the types a destination subscribes to, by
 * exact name (§6.5), so an unknown one is a forgery or a subscription this code was not updated for:
 * refused before the secret is decrypted (a 4xx: Didit does not retry it; subscribe only to known types).
 */
export class WebhookTypeError extends gatewayError({
  code: 'WEBHOOK_TYPE_UNKNOWN',
  status: 400,
  publicMessage: 'The webhook_type of this delivery is not one this receiver handles.',
}) {}

/**
 * A delivery authenticated by X-Signature-Simple alone could not be completed with the authoritative
 * decision from Didit (Didit, KMS or the network failed, or Didit does not know the session): 502 so that
 * Didit delivers again; nothing was published and the dedupe record was released.
 */
export class WebhookDecisionUnavailableError extends gatewayError({ code: 'WEBHOOK_DECISION_UNAVAILABLE', status: 502, retryable: true }) {}

/** The receiver's invocation reached its deadline (middy's timeoutEarlyResponse): 503 so that Didit delivers again. */
export class WebhookDeadlineError extends gatewayError({ code: 'WEBHOOK_TIMEOUT', status: 503, retryable: true }) {}

/**
 * The body holds what Python could not have produced (a number out of the double range), so no canonical
 * form exists for the signatures over one. Internal: the receiver only skips those forms (V1/Simple may
 * still match); it never reaches a caller.
 */
export class CanonicalJsonError extends NamedError {}
