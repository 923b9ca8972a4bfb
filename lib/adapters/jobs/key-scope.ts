import { DiditUnauthorizedError, GatewayError } from '../../errors/index.ts';
import { logger, metrics, MetricUnit } from '../../observability/telemetry.ts';
import type { KeyScope } from '../../runtime/execute-operation.ts';
import type { KeyObserver, KeyUseInfo, SealedKey } from '../../sealed-key/sealed-key.ts';
import type { SecureBuffer } from '../../secure/secure-buffer.ts';

interface Lease {
  readonly key: SecureBuffer;
  readonly info: KeyUseInfo;
}

/**
 * One KMS Decrypt for a whole SQS batch. The first message that needs the Didit key opens the scope: one
 * `SealedKey.withKey` call whose function holds the key (in secure memory) until {@link close}; every message
 * of the batch then uses that key through {@link useKey}, concurrently. `close()` — in the worker's `finally`,
 * after every message has finished — lets `withKey` zero and free it.
 *
 * Audit: `useKey` calls the caller's observer `released(info, error)` once per use, so each Didit call keeps
 * its own audit record (with the info of the batch's decrypt); the decrypt latency metric is emitted once.
 *
 * Rotation: a Didit 401 on the shared key means it may have been rotated since the ciphertext was cached. The
 * scope is then marked stale and that message (and any later one) goes through `SealedKey.withKey` itself,
 * which re-reads the sealed key and tries the new one: the HTTP path's behaviour, at one decrypt per message,
 * for the rest of that batch only.
 *
 * A batch in which no message reaches Didit (all done already, or invalid) decrypts nothing.
 */
export class BatchKeyScope {
  readonly #sealedKey: Pick<SealedKey, 'withKey'>;
  readonly #abortSignal: AbortSignal | undefined;
  #lease: Promise<Lease> | undefined;
  #release: (() => void) | undefined;
  #holding: Promise<void> | undefined;
  #stale = false;
  #closed = false;
  #decrypts = 0;
  #uses = 0;

  constructor(sealedKey: Pick<SealedKey, 'withKey'>, options: { abortSignal?: AbortSignal } = {}) {
    this.#sealedKey = sealedKey;
    this.#abortSignal = options.abortSignal;
  }

  /** KMS Decrypts this scope performed (the shared one, and per-message ones after a 401). */
  get decrypts(): number {
    return this.#decrypts;
  }

  /** Uses of the shared key (Didit calls made with it). */
  get uses(): number {
    return this.#uses;
  }

  /** For `ExecutionContext.useKey`. */
  readonly useKey: KeyScope = <T>(fn: (key: SecureBuffer) => Promise<T>, options: { abortSignal?: AbortSignal; observer?: KeyObserver }) =>
    this.#use(fn, options);

  /**
   * Decrypts now (once per batch) without using the key: the worker calls it before it marks a Didit call
   * as started, so that a KMS or Secrets Manager failure happens while nothing can have been paid for.
   */
  async ready(): Promise<void> {
    if (!this.#stale) await this.#open();
  }

  /** Lets the scope's `withKey` zero the key. Call once every use has finished. Idempotent. */
  async close(): Promise<void> {
    // A use after close would open a lease nobody releases: the key would stay in memory.
    this.#closed = true;
    this.#release?.();
    this.#release = undefined;
    await this.#holding;
  }

  async #use<T>(fn: (key: SecureBuffer) => Promise<T>, options: { abortSignal?: AbortSignal; observer?: KeyObserver }): Promise<T> {
    if (!this.#stale) {
      const { key, info } = await this.#open();
      let failure: unknown;
      try {
        return await fn(key);
      } catch (err) {
        failure = err;
      } finally {
        this.#uses++;
        options.observer?.released?.(info, failure);
      }
      if (!(failure instanceof DiditUnauthorizedError)) throw failure;
      this.#stale = true;
      logger.warn('didit refused the batch key; re-reading the sealed key for this message', { ciphertextFingerprint: info.ciphertextFingerprint });
    }
    return this.#sealedKey.withKey(fn, {
      ...options,
      observer: {
        ...options.observer,
        decrypted: (info) => {
          this.#decrypts++;
          options.observer?.decrypted?.(info);
        },
      },
    });
  }

  #open(): Promise<Lease> {
    if (this.#closed) return Promise.reject(new Error('batch key scope used after close'));
    this.#lease ??= new Promise<Lease>((resolve, reject) => {
      let captured: KeyUseInfo | undefined;
      const held = new Promise<void>((release) => {
        this.#release = release;
      });
      const observer: KeyObserver = {
        decrypted: (info) => {
          captured = info;
          this.#decrypts++;
          metrics.addMetric('KmsDecryptLatency', MetricUnit.Milliseconds, info.kmsLatencyMs);
        },
        decryptFailed: (error, latencyMs) => {
          metrics.addMetric('KmsDecryptFailure', MetricUnit.Count, 1);
          metrics.addMetric('KmsDecryptLatency', MetricUnit.Milliseconds, latencyMs);
          logger.warn('kms decrypt failed', { errorName: error.name, errorCode: error instanceof GatewayError ? error.code : undefined });
        },
      };
      this.#holding = this.#sealedKey
        .withKey(
          async (key) => {
            // `decrypted` ran just before this function: the info is there.
            resolve({ key, info: captured! });
            await held;
          },
          { abortSignal: this.#abortSignal, observer },
        )
        .catch((err: unknown) => {
          // Only before the key existed (Secrets Manager, KMS): every waiting message gets the error.
          reject(err);
        });
    });
    return this.#lease;
  }
}
