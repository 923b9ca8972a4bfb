import { ConfigError } from '../../runtime/config.ts';
import { SERVICE_NAME } from '../../sealed-key/encryption-context.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from '../../idempotency/delivery-dedupe.ts';
import { DEFAULT_TOLERANCE_SECONDS } from './replay-window.ts';

/**
 * Environment of the webhook function. Nothing here is secret: the webhook secret is in Secrets Manager as
 * KMS ciphertext (purpose `didit-webhook-secret`), referenced by id.
 */
export interface WebhookConfig {
  readonly region: string;
  readonly service: string;
  readonly stage: string;
  /** Secrets Manager id (name or ARN) of the sealed Didit webhook secret (`WEBHOOK_SECRET_SECRET_ID`). */
  readonly webhookSecretSecretId: string;
  /** Expected KMS key (`WEBHOOK_KMS_KEY_ID`, else `KMS_KEY_ID`); optional, passed to Decrypt when set. */
  readonly kmsKeyId: string | undefined;
  readonly ciphertextTtlMs: number;
  /** DynamoDB table of the Powertools idempotency records (`IDEMPOTENCY_TABLE`). */
  readonly idempotencyTable: string;
  readonly dedupeTtlSeconds: number;
  /** EventBridge bus accepted deliveries go to (`EVENT_BUS_NAME`). */
  readonly eventBusName: string;
  /** Replay window for `X-Timestamp` and the body timestamp (`WEBHOOK_TOLERANCE_SECONDS`, default 300). */
  readonly toleranceSeconds: number;
  readonly maxBodyBytes: number;
  /**
   * Whether a delivery signed only by `X-Signature-Simple` is accepted (`WEBHOOK_ACCEPT_SIMPLE`, default
   * true). Simple signs only `timestamp`, `session_id`, `status` and `webhook_type`; such a delivery is
   * published with those four fields and the decision fetched from Didit (sealed API key), never the body's.
   * Off: a Simple-only delivery is refused with 401 before any KMS call.
   */
  readonly acceptSimple: boolean;
}

export function loadWebhookConfig(env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new ConfigError(`missing environment variable ${name}`);
    return value;
  };
  const seconds = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) throw new ConfigError(`${name} must be a number in ${min}..${max}`);
    return value;
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw new ConfigError(`${name} must be true or false`);
  };
  return {
    region: env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
    service: env['SERVICE_NAME'] ?? SERVICE_NAME,
    stage: required('STAGE'),
    webhookSecretSecretId: required('WEBHOOK_SECRET_SECRET_ID'),
    kmsKeyId: env['WEBHOOK_KMS_KEY_ID'] || env['KMS_KEY_ID'] || undefined,
    ciphertextTtlMs: seconds('CIPHERTEXT_TTL_SECONDS', 300, 0, 86_400) * 1000,
    idempotencyTable: required('IDEMPOTENCY_TABLE'),
    dedupeTtlSeconds: seconds('WEBHOOK_DEDUPE_TTL_SECONDS', DEFAULT_DEDUPE_TTL_SECONDS, 600, 30 * 86_400),
    eventBusName: required('EVENT_BUS_NAME'),
    toleranceSeconds: seconds('WEBHOOK_TOLERANCE_SECONDS', DEFAULT_TOLERANCE_SECONDS, 30, 3_600),
    maxBodyBytes: seconds('WEBHOOK_MAX_BODY_BYTES', 2 * 1024 * 1024, 1024, 6 * 1024 * 1024),
    acceptSimple: flag('WEBHOOK_ACCEPT_SIMPLE', true),
  };
}
