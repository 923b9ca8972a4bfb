import { GatewayError } from '../../errors.ts';

/** The trigger's own event is unusable (not the shape the rule or the notification delivers). */
export class TriggerEventError extends GatewayError {
  readonly code = 'TRIGGER_EVENT_INVALID';
  readonly statusCode = 400;
}
