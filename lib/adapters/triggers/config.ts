import { ConfigError } from '../../runtime/config.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from '../../idempotency/delivery-dedupe.ts';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Environment of `onSignup` (beyond the gateway's own: STAGE, SEALED_KEY_SECRET_ID, …). Nothing secret. */
export interface SignupConfig {
  readonly region: string;
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

export function loadSignupConfig(env: NodeJS.ProcessEnv = process.env): SignupConfig {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new ConfigError(`missing environment variable ${name}`);
    return value;
  };
  const workflow = env['DEFAULT_WORKFLOW_ID'] || undefined;
  if (workflow !== undefined && !UUID.test(workflow)) throw new ConfigError('DEFAULT_WORKFLOW_ID must be a UUID');
  const callback = env['SIGNUP_CALLBACK_URL'] || undefined;
  if (callback !== undefined && !/^https:\/\/[^\s]+$/.test(callback)) throw new ConfigError('SIGNUP_CALLBACK_URL must be an https URL');
  const ttlRaw = env['SIGNUP_DEDUPE_TTL_SECONDS'];
  const ttl = ttlRaw === undefined || ttlRaw === '' ? DEFAULT_DEDUPE_TTL_SECONDS : Number(ttlRaw);
  // EventBridge retries a target for up to 24 h: remember event ids at least that long.
  if (!Number.isInteger(ttl) || ttl < 86_400 || ttl > 30 * 86_400) throw new ConfigError('SIGNUP_DEDUPE_TTL_SECONDS must be a whole number in 86400..2592000');
  return {
    region: env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
    defaultWorkflowId: workflow,
    callbackUrl: callback,
    idempotencyTable: required('IDEMPOTENCY_TABLE'),
    dedupeTtlSeconds: ttl,
    eventBusName: required('EVENT_BUS_NAME'),
  };
}
