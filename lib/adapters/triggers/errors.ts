import { gatewayError } from '../../errors/index.ts';

/** The trigger's own event is unusable (not the shape the rule or the notification delivers). */
export class TriggerEventError extends gatewayError({ code: 'TRIGGER_EVENT_INVALID', status: 400 }) {}

/** The sign-up trigger's invocation reached its deadline (middy's timeoutEarlyResponse): retried. */
export class SignupDeadlineError extends gatewayError({ code: 'SIGNUP_TIMEOUT', status: 503, retryable: true }) {}
