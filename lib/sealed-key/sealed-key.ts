import type { KMSClient } from '@aws-sdk/client-kms';
import { decryptToSecureBuffer, type DecryptResult } from '../kms/decrypt.ts';
import { isHeaderToken, type SecureBuffer } from '../secure/secure-buffer.ts';
import { DiditUnauthorizedError, KeyShapeError } from '../errors/index.ts';
import type { EncryptionContext } from './encryption-context.ts';
import type { CiphertextSource, SealedCiphertext } from './ciphertext-source.ts';
import { keyRefused, useKeyOnce, type KeyUseInfo, type KeyUseOptions, type KeyUser } from './key-scope.ts';
import { is, required, withDefaults } from '../config/options.ts';

export interface SealedKeyOptions {
  readonly kms: KMSClient;
  readonly source: CiphertextSource;
  readonly encryptionContext: EncryptionContext;
  /** Expected KMS key (id or ARN) passed to Decrypt; KMS then refuses a ciphertext from another key. */
  readonly kmsKeyId?: string;
  /** Plausible key length bounds. Didit keys are opaque tokens; these bounds only catch garbage. */
  readonly minLength?: number;
  readonly maxLength?: number;
}

/** The sealed key's defaults: plausible length bounds of an opaque API token. */
export const defaults = Object.freeze({ minLength: 16, maxLength: 512 });

const rules = {
  kms: required(is.object),
  source: required(is.object),
  encryptionContext: required(is.object),
  kmsKeyId: is.string,
  minLength: is.integer(1, 4096),
  maxLength: is.integer(1, 4096),
};

/**
 * Owns the Didit API key's whole lifetime inside an invocation (and, with purpose `didit-webhook-secret`,
 * the webhook secret's): the ciphertext comes from a {@link CiphertextSource}, the plaintext exists only
 * inside {@link SealedKey.withKey}. A scope that shares one Decrypt among many uses is a thin use of this
 * ({@link SharedKeyScope}). Build one per execution environment (lib/runtime/dependencies.ts `sealedSecret`).
 *
 * @example
 * ```ts
 * const { client: kms } = createSecureKmsClient({ region: config.region });
 * const sealedKey = new SealedKey({
 *   kms,
 *   source: new CiphertextSource({ client: secretsManager, secretId: config.sealedKeySecretId, ttlMs: config.ciphertextTtlMs }),
 *   encryptionContext: encryptionContextFor({ service: config.service, stage: config.stage, purpose: 'didit-api-key' }),
 *   kmsKeyId: config.kmsKeyId,
 * });
 * ```
 * @throws {ConfigError} from the constructor, for an unknown or invalid option.
 */
export class SealedKey {
  readonly #options: Readonly<SealedKeyOptions & typeof defaults>;

  constructor(options: SealedKeyOptions) {
    this.#options = withDefaults('SealedKey', defaults, rules, options);
  }

  /**
   * Decrypts the sealed ciphertext with KMS into secure memory, runs `fn` with it (and the identifiers of
   * this use, for the audit record), and zeroes and frees it in `finally` whatever happens: return, throw,
   * timeout or abort. The buffer given to `fn` throws `SecureBufferDisposedError` on any use after that.
   *
   * If `fn` fails with {@link DiditUnauthorizedError}, the ciphertext is re-read from Secrets Manager (the key
   * may have been rotated since it was cached) and, if it changed, `fn` runs once more with the new key. An
   * unchanged ciphertext is not retried: the same key would fail the same way.
   *
   * @example
   * ```ts
   * const response = await sealedKey.withKey((key, use) => didit.send(key, request), { abortSignal: signal });
   * ```
   * @throws whatever `fn` throws, unchanged; {@link DiditUnauthorizedError} DIDIT_UNAUTHORIZED (502) when Didit
   *   refused the key and re-reading the sealed key did not help.
   * @throws before `fn` runs, the ciphertext's read (Secrets Manager): `SecretNotFoundError` SECRET_NOT_FOUND and
   *   `SecretMalformedError` SECRET_MALFORMED (500; also for a secret without SecretBinary), `KmsAccessDeniedError`
   *   KMS_ACCESS_DENIED (500, Secrets Manager's AccessDenied/DecryptionFailure), `SecretsUnavailableError`
   *   SECRETS_UNAVAILABLE (503, retryable).
   * @throws before `fn` runs, the Decrypt (lib/kms/errors.ts `mapKmsError`): KMS_THROTTLED and KMS_UNAVAILABLE
   *   (503, retryable); KMS_ACCESS_DENIED, KMS_KEY_UNUSABLE, KMS_INVALID_CIPHERTEXT (500); KMS_BAD_RESPONSE (502).
   * @throws {KeyShapeError} KEY_SHAPE_INVALID (500) when the plaintext is not a plausible token (visible ASCII,
   *   within the length bounds); it is zeroed first.
   */
  async withKey<T>(fn: KeyUser<T>, options: KeyUseOptions = {}): Promise<T> {
    let sealed = await this.#options.source.get(options);
    for (let attempt = 0; ; attempt++) {
      const { key, info } = await this.#decrypt(sealed, attempt > 0, options);
      const used = await useKeyOnce(key, info, fn, options.observer, () => key.dispose());
      if (used.ok) return used.value;
      if (attempt > 0 || !keyRefused(used.error)) throw used.error;
      const fresh = await this.#options.source.refresh(options);
      if (fresh.fingerprint === sealed.fingerprint) throw used.error;
      sealed = fresh;
    }
  }

  async #decrypt(
    sealed: SealedCiphertext,
    afterRefresh: boolean,
    options: KeyUseOptions,
  ): Promise<{ key: SecureBuffer; info: KeyUseInfo }> {
    const started = performance.now();
    let result: DecryptResult;
    try {
      result = await decryptToSecureBuffer(
        this.#options.kms,
        { ciphertext: sealed.ciphertext, encryptionContext: this.#options.encryptionContext, keyId: this.#options.kmsKeyId },
        options,
      );
    } catch (err) {
      options.observer?.decryptFailed?.(err as Error, performance.now() - started);
      throw err;
    }
    const key = result.plaintext;
    // Checked byte by byte: visible ASCII only, which also rules out header injection.
    if (!isHeaderToken(key.bytes(), this.#options.minLength, this.#options.maxLength)) {
      key.dispose();
      const err = new KeyShapeError('decrypted key is not a plausible API key token');
      options.observer?.decryptFailed?.(err, performance.now() - started);
      throw err;
    }
    const info: KeyUseInfo = {
      kmsKeyId: result.keyId,
      secretVersionId: sealed.versionId,
      ciphertextFingerprint: sealed.fingerprint,
      kmsLatencyMs: performance.now() - started,
      kmsRequestId: result.requestId,
      afterRefresh,
    };
    try {
      options.observer?.decrypted?.(info);
    } catch (err) {
      // The key is not yet in withKey's try/finally: a throwing observer (metrics, logger) must not leak it.
      key.dispose();
      throw err;
    }
    return { key, info };
  }
}
