import { ciphertextTtlMs, environment, EnvReader, loadSharedConfig, type Env, type SharedConfig } from '../../runtime/config.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from '../../idempotency/delivery-dedupe.ts';
import { DEFAULT_TOLERANCE_SECONDS } from './replay-window.ts';

/**
 * Environment of the webhook function. Nothing here is secret: the webhook secret is in Secrets Manager as
 * KMS ciphertext (purpose `didit-webhook-secret`), referenced by id.
 */
export interface WebhookConfig extends SharedConfig {
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

export function loadWebhookConfig(env: Env = environment()): WebhookConfig {
  const reader = new EnvReader(env);
  return {
    ...loadSharedConfig(reader),
    stage: reader.required('STAGE'),
    webhookSecretSecretId: reader.required('WEBHOOK_SECRET_SECRET_ID'),
    kmsKeyId: reader.optional('WEBHOOK_KMS_KEY_ID') ?? reader.optional('KMS_KEY_ID'),
    ciphertextTtlMs: ciphertextTtlMs(reader),
    idempotencyTable: reader.required('IDEMPOTENCY_TABLE'),
    dedupeTtlSeconds: reader.number('WEBHOOK_DEDUPE_TTL_SECONDS', DEFAULT_DEDUPE_TTL_SECONDS, 600, 30 * 86_400),
    eventBusName: reader.required('EVENT_BUS_NAME'),
    toleranceSeconds: reader.number('WEBHOOK_TOLERANCE_SECONDS', DEFAULT_TOLERANCE_SECONDS, 30, 3_600),
    maxBodyBytes: reader.number('WEBHOOK_MAX_BODY_BYTES', 2 * 1024 * 1024, 1024, 6 * 1024 * 1024),
    acceptSimple: reader.flag('WEBHOOK_ACCEPT_SIMPLE', true),
  };
}
