import { GatewayError } from '../errors.ts';

/**
 * The same trigger event (S3 upload, EventBridge event) is being processed by another invocation right
 * now. Retryable: the Lambda retry finds the stored outcome once the other invocation has finished.
 */
export class TriggerInProgressError extends GatewayError {
  readonly code = 'TRIGGER_IN_PROGRESS';
  readonly statusCode = 503;
  override readonly retryable = true;
}

/** The trigger's own event is unusable (not the shape the rule or the notification delivers). */
export class TriggerEventError extends GatewayError {
  readonly code = 'TRIGGER_EVENT_INVALID';
  readonly statusCode = 400;
}
