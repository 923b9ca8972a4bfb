import type { SecureBuffer } from '../secure/secure-buffer.ts';
import { keyRefused, useKeyOnce, type KeyObserver, type KeyScope, type KeyUseInfo, type KeyUseOptions, type KeyUser } from './key-scope.ts';
import type { SealedKey } from './sealed-key.ts';

export interface SharedKeyScopeOptions {
  readonly abortSignal?: AbortSignal;
  /** Told about the shared Decrypt (metrics, logs); `fn`s get their use's info themselves. */
  readonly observer?: Pick<KeyObserver, 'decrypted' | 'decryptFailed'>;
  /** Didit refused the shared key (401): the scope is stale from now on. */
  readonly onRefused?: (info: KeyUseInfo) => void;
}

interface Lease {
  readonly key: SecureBuffer;
  readonly info: KeyUseInfo;
}

/**
 * One KMS Decrypt shared by many uses: a thin use of `SealedKey.withKey`. The first use opens the scope — one
 * `withKey` call whose function holds the key (in secure memory) until {@link close}; every use then runs with
 * that key through {@link useKeyOnce}, concurrently, each reported to its own observer's `released`. `close()`
 * lets `withKey` zero and free the key; a use after `close()` is refused (it would open a lease nobody releases).
 *
 * Rotation: a Didit 401 on the shared key means it may have been rotated since the ciphertext was cached. The
 * scope is then stale, and that use (and any later one) goes through `withKey` itself, which re-reads the
 * sealed key and tries the new one: the per-call behaviour, at one Decrypt per use, for the rest of the scope.
 *
 * A scope no use of which needs the key decrypts nothing.
 */
export class SharedKeyScope {
  readonly #sealedKey: Pick<SealedKey, 'withKey'>;
  readonly #options: SharedKeyScopeOptions;
  #lease: Promise<Lease> | undefined;
  #release: (() => void) | undefined;
  #holding: Promise<void> | undefined;
  #stale = false;
  #closed = false;
  #decrypts = 0;
  #uses = 0;

  constructor(sealedKey: Pick<SealedKey, 'withKey'>, options: SharedKeyScopeOptions = {}) {
    this.#sealedKey = sealedKey;
    this.#options = options;
  }

  /** KMS Decrypts this scope performed (the shared one, and per-use ones once stale). */
  get decrypts(): number {
    return this.#decrypts;
  }

  /** Uses of the shared key. */
  get uses(): number {
    return this.#uses;
  }

  /** For `ExecutionContext.useKey`. */
  readonly useKey: KeyScope = (fn, options) => this.#use(fn, options);

  /**
   * Decrypts now (once per scope) without using the key, so that a KMS or Secrets Manager failure happens
   * before the caller commits to anything.
   */
  async ready(): Promise<void> {
    if (!this.#stale) await this.#open();
  }

  /** Lets the scope's `withKey` zero the key. Call once every use has finished. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#release?.();
    this.#release = undefined;
    await this.#holding;
  }

  async #use<T>(fn: KeyUser<T>, options: KeyUseOptions): Promise<T> {
    if (!this.#stale) {
      const { key, info } = await this.#open();
      const used = await useKeyOnce(key, info, fn, options.observer, () => this.#uses++);
      if (used.ok) return used.value;
      if (!keyRefused(used.error)) throw used.error;
      this.#stale = true;
      this.#options.onRefused?.(info);
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
      const held = new Promise<void>((release) => {
        this.#release = release;
      });
      // The info of the shared Decrypt, as its `decrypted` reports it (every `withKey` does, right before `fn`).
      let decrypted: KeyUseInfo | undefined;
      const observer: KeyObserver = {
        ...this.#options.observer,
        decrypted: (info) => {
          decrypted = info;
          this.#decrypts++;
          this.#options.observer?.decrypted?.(info);
        },
      };
      this.#holding = this.#sealedKey
        .withKey(
          async (key, use) => {
            const info = use ?? decrypted;
            if (info === undefined) throw new Error('key scope opened without a decrypt to describe');
            resolve({ key, info });
            await held;
          },
          { abortSignal: this.#options.abortSignal, observer },
        )
        .catch((err: unknown) => {
          // Only before the key existed (Secrets Manager, KMS): every waiting use gets the error.
          reject(err);
        });
    });
    return this.#lease;
  }
}
