/**
 * Errors of the sealed key and of sealing: Secrets Manager and KMS. All but the outages are our own
 * configuration (a 500, shown to callers as `INTERNAL` with the request id). The map from KMS's error
 * names to these classes is lib/kms/errors.ts.
 */
import { gatewayError } from './gateway-error.ts';

// ---- Secrets Manager ---------------------------------------------------------------------------

export class SecretNotFoundError extends gatewayError({ code: 'SECRET_NOT_FOUND', status: 500 }) {}

/** The secret exists but does not hold a usable ciphertext (e.g. SecretString instead of SecretBinary). */
export class SecretMalformedError extends gatewayError({ code: 'SECRET_MALFORMED', status: 500 }) {}

export class SecretsUnavailableError extends gatewayError({ code: 'SECRETS_UNAVAILABLE', status: 503, retryable: true }) {}

// ---- KMS ---------------------------------------------------------------------------------------

export class KmsThrottledError extends gatewayError({ code: 'KMS_THROTTLED', status: 503, retryable: true }) {}

export class KmsUnavailableError extends gatewayError({ code: 'KMS_UNAVAILABLE', status: 503, retryable: true }) {}

export class KmsAccessDeniedError extends gatewayError({ code: 'KMS_ACCESS_DENIED', status: 500 }) {}

/** KMS refused the ciphertext: corrupted, from another key, or sealed under another encryption context. */
export class KmsInvalidCiphertextError extends gatewayError({ code: 'KMS_INVALID_CIPHERTEXT', status: 500 }) {}

/** The key used is disabled, pending deletion, or otherwise not usable. */
export class KmsKeyUnusableError extends gatewayError({ code: 'KMS_KEY_UNUSABLE', status: 500 }) {}

/** KMS answered but the response could not be used (no Plaintext, bad base64, unexpected key id). */
export class KmsResponseError extends gatewayError({ code: 'KMS_BAD_RESPONSE', status: 502 }) {}

/** The decrypted bytes are not a plausible Didit key (not visible ASCII, or wrong length). */
export class KeyShapeError extends gatewayError({ code: 'KEY_SHAPE_INVALID', status: 500 }) {}

// ---- sealing a secret Didit hands us (a webhook destination's `secret_shared_key`) --------------
// KMS and Secrets Manager outages while sealing are the classes above.

/**
 * The caller asked for `seal=true` but this function is not set up for it (no target secret, or no
 * KMS key to encrypt with). Our misconfiguration, not the caller's: a 500.
 */
export class SealingNotConfiguredError extends gatewayError({ code: 'SEALING_NOT_CONFIGURED', status: 500 }) {}

/** Didit's answer has no usable secret to seal (absent, not a string, or not a plausible token). */
export class WebhookSecretMissingError extends gatewayError({ code: 'WEBHOOK_SECRET_MISSING', status: 502 }) {}

/**
 * Secrets Manager refused to store the sealed secret (secret missing, access denied, secret scheduled
 * for deletion, request rejected): a configuration problem, not worth retrying.
 */
export class SealedSecretStoreError extends gatewayError({ code: 'SEALED_SECRET_STORE_REFUSED', status: 500 }) {}
