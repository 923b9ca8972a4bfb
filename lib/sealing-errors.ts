/**
 * Errors of sealing a secret that Didit hands us (a webhook destination's `secret_shared_key`) into
 * Secrets Manager. Same contract as lib/errors.ts: our own messages, never the secret or a dependency's
 * text; 500s are shown to callers as `INTERNAL` with the request id. KMS and Secrets Manager
 * outages reuse the classes of lib/errors.ts (KmsThrottledError, SecretsUnavailableError, ...).
 */
import { GatewayError } from './errors.ts';

/**
 * The caller asked for `seal=true` but this function is not set up for it (no target secret, or no
 * KMS key to encrypt with). Our misconfiguration, not the caller's: a 500.
 */
export class SealingNotConfiguredError extends GatewayError {
  readonly code = 'SEALING_NOT_CONFIGURED';
  readonly statusCode = 500;
}

/** Didit's answer has no usable secret to seal (absent, not a string, or not a plausible token). */
export class WebhookSecretMissingError extends GatewayError {
  readonly code = 'WEBHOOK_SECRET_MISSING';
  readonly statusCode = 502;
}

/**
 * Secrets Manager refused to store the sealed secret (secret missing, access denied, secret scheduled
 * for deletion, request rejected): a configuration problem, not worth retrying.
 */
export class SealedSecretStoreError extends GatewayError {
  readonly code = 'SEALED_SECRET_STORE_REFUSED';
  readonly statusCode = 500;
}
