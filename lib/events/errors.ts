import { GatewayError } from '../errors.ts';

/** EventBridge did not take an event (PutEvents failed or refused the entry): retryable. */
/** EventBridge did not take the event: answered 5xx so that Didit delivers again. */
export class EventPublishError extends GatewayError {
  readonly code = 'EVENT_PUBLISH_FAILED';
  readonly statusCode = 502;
  override readonly retryable = true;
}
