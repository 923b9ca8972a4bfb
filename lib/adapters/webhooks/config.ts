import { environment, EnvReader, type Env } from '../../config/env.ts';
import { ciphertextTtlMs, loadStagedConfig } from '../../runtime/config.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from '../../idempotency/delivery-dedupe.ts';
import { DEFAULT_TOLERANCE_SECONDS } from './replay-window.ts';

/**
 * The webhook function's config, from the environment read once. Nothing here is secret: the webhook secret
 * is in Secrets Manager as KMS ciphertext (purpose `didit-webhook-secret`), referenced by id.
 */
export function loadWebhookConfig(env: Env = environment()) {
  const reader = new EnvReader(env);
  return {
    ...loadStagedConfig(reader),
    /** Secrets Manager id (name or ARN) of the sealed Didit webhook secret (`WEBHOOK_SECRET_SECRET_ID`). */
    webhookSecretSecretId: reader.required('WEBHOOK_SECRET_SECRET_ID'),
    /** Expected KMS key (`WEBHOOK_KMS_KEY_ID`, else `KMS_KEY_ID`); optional, passed to Decrypt when set. */
    kmsKeyId: reader.optional('WEBHOOK_KMS_KEY_ID') ?? reader.optional('KMS_KEY_ID'),
    ciphertextTtlMs: ciphertextTtlMs(reader),
    /** DynamoDB table of the Powertools idempotency records (`IDEMPOTENCY_TABLE`). */
    idempotencyTable: reader.required('IDEMPOTENCY_TABLE'),
    dedupeTtlSeconds: reader.number('WEBHOOK_DEDUPE_TTL_SECONDS', DEFAULT_DEDUPE_TTL_SECONDS, 600, 30 * 86_400),
    /** EventBridge bus accepted deliveries go to (`EVENT_BUS_NAME`). */
    eventBusName: reader.required('EVENT_BUS_NAME'),
    /** Replay window for `X-Timestamp` and the body timestamp (`WEBHOOK_TOLERANCE_SECONDS`, default 300). */
    toleranceSeconds: reader.number('WEBHOOK_TOLERANCE_SECONDS', DEFAULT_TOLERANCE_SECONDS, 30, 3_600),
    maxBodyBytes: reader.number('WEBHOOK_MAX_BODY_BYTES', 2 * 1024 * 1024, 1024, 6 * 1024 * 1024),
    /**
     * Whether a delivery signed only by `X-Signature-Simple` is accepted (`WEBHOOK_ACCEPT_SIMPLE`, default
     * true). Simple signs only `timestamp`, `session_id`, `status` and `webhook_type`; such a delivery is
     * published with those four fields and the decision fetched from Didit (sealed API key), never the body's.
     * Off: a Simple-only delivery is refused with 401 before any KMS call.
     */
    acceptSimple: reader.flag('WEBHOOK_ACCEPT_SIMPLE', true),
  };
}

/** {@link loadWebhookConfig}'s result: the type is the loader's, so the two cannot drift. */
export type WebhookConfig = Readonly<ReturnType<typeof loadWebhookConfig>>;
