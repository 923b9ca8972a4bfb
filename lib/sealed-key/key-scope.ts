import { DiditUnauthorizedError } from '../errors/index.ts';
import type { SecureBuffer } from '../secure/secure-buffer.ts';

/** What the audit record says about one use of the key. Nothing in it can reveal the key. */
export interface KeyUseInfo {
  readonly kmsKeyId: string | undefined;
  readonly secretVersionId: string | undefined;
  readonly ciphertextFingerprint: string;
  readonly kmsLatencyMs: number;
  /** KMS's request id of the Decrypt (CloudTrail `requestID`). */
  readonly kmsRequestId: string | undefined;
  /** True when this use follows a Didit 401 that made us re-read the sealed key. */
  readonly afterRefresh: boolean;
}

/**
 * Hooks for metrics and logs; the sealed key itself logs nothing. The audit of a use is not built here: `fn`
 * gets its use's {@link KeyUseInfo} and the caller builds the record from the outcome (lib/observability/audit.ts).
 */
export interface KeyObserver {
  /** Right after the Decrypt, before `fn` runs; a throw here zeroes the key and fails the call. */
  decrypted?(info: KeyUseInfo): void;
  decryptFailed?(error: Error, latencyMs: number): void;
  /** After one use of the key ended (the per-call key is zeroed by then): with the error `fn` threw, if any. */
  released?(info: KeyUseInfo, error: unknown): void;
}

/**
 * What runs with the key: the key in secure memory (valid only until the returned promise settles) and the
 * identifiers of this use (KMS key, KMS request id, ciphertext fingerprint…), which the caller's audit record is
 * built from. `SealedKey.withKey` and {@link SharedKeyScope} always give `use`; it is optional only so that a
 * stand-in scope (unit tests) that has no Decrypt to describe still fits, and such a use has no audit record.
 */
export type KeyUser<T> = (key: SecureBuffer, use?: KeyUseInfo) => Promise<T>;

export interface KeyUseOptions {
  readonly abortSignal?: AbortSignal;
  readonly observer?: KeyObserver;
}

/**
 * Runs `fn` with a key and releases it: the signature of `SealedKey.withKey` (one KMS Decrypt per call) and of
 * {@link SharedKeyScope.useKey} (one Decrypt shared by many calls). Either way `fn` gets the info of its own use.
 */
export type KeyScope = <T>(fn: KeyUser<T>, options: KeyUseOptions) => Promise<T>;

/** How one use of a key ended: `fn`'s value, or what it threw. */
export type KeyUseSettlement<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * One use of a decrypted key, the same for the per-call and the shared scope: runs `fn`, then `end` (the
 * per-call scope zeroes the key there), then reports the use to the observer's `released`, once, with what
 * `fn` threw. What `fn` threw is returned, not thrown, so that the scope decides about a retry; a throwing
 * `released` throws (after `end`, so the key is already zeroed on that path).
 */
export async function useKeyOnce<T>(
  key: SecureBuffer,
  info: KeyUseInfo,
  fn: KeyUser<T>,
  observer: KeyObserver | undefined,
  end: () => void,
): Promise<KeyUseSettlement<T>> {
  let settled: KeyUseSettlement<T>;
  try {
    settled = { ok: true, value: await fn(key, info) };
  } catch (error) {
    settled = { ok: false, error };
  } finally {
    end();
  }
  observer?.released?.(info, settled.ok ? undefined : settled.error);
  return settled;
}

/** Didit refused the key itself: it may have been rotated since its ciphertext was read. */
export function keyRefused(error: unknown): boolean {
  return error instanceof DiditUnauthorizedError;
}
