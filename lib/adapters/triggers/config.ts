import { ConfigError, environment, EnvReader, type Env } from '../../config/env.ts';
import { loadSharedConfig, type SharedConfig } from '../../runtime/config.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from '../../idempotency/delivery-dedupe.ts';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Environment of `onSignup` (beyond the gateway's own: STAGE, SEALED_KEY_SECRET_ID, …). Nothing secret. */
export interface SignupConfig extends Pick<SharedConfig, 'region'> {
  /** Workflow of the sessions when the event names none (`DEFAULT_WORKFLOW_ID`, a UUID; optional). */
  readonly defaultWorkflowId: string | undefined;
  /** Where Didit sends the user after the flow (`SIGNUP_CALLBACK_URL`, https; optional). */
  readonly callbackUrl: string | undefined;
  /** DynamoDB table of the Powertools idempotency records (`IDEMPOTENCY_TABLE`). */
  readonly idempotencyTable: string;
  /** How long a handled event id is remembered (`SIGNUP_DEDUPE_TTL_SECONDS`, default one day). */
  readonly dedupeTtlSeconds: number;
  /** Where `didit.session.created` goes (`EVENT_BUS_NAME`). */
  readonly eventBusName: string;
}

export function loadSignupConfig(env: Env = environment()): SignupConfig {
  const reader = new EnvReader(env);
  const workflow = reader.optional('DEFAULT_WORKFLOW_ID');
  if (workflow !== undefined && !UUID.test(workflow)) throw new ConfigError('DEFAULT_WORKFLOW_ID must be a UUID');
  const callback = reader.optional('SIGNUP_CALLBACK_URL');
  if (callback !== undefined && !/^https:\/\/[^\s]+$/.test(callback)) throw new ConfigError('SIGNUP_CALLBACK_URL must be an https URL');
  return {
    region: loadSharedConfig(reader).region,
    defaultWorkflowId: workflow,
    callbackUrl: callback,
    idempotencyTable: reader.required('IDEMPOTENCY_TABLE'),
    // EventBridge retries a target for up to 24 h: remember event ids at least that long.
    dedupeTtlSeconds: reader.integer('SIGNUP_DEDUPE_TTL_SECONDS', DEFAULT_DEDUPE_TTL_SECONDS, 86_400, 30 * 86_400, 'a whole number'),
    eventBusName: reader.required('EVENT_BUS_NAME'),
  };
}
