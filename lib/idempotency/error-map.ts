import { IdempotencyStoreUnavailableError } from '../errors/index.ts';

/** Powertools Idempotency errors that mean the store, not the work, failed. */
const STORE_FAILURES = new Set([
  'IdempotencyPersistenceLayerError',
  'IdempotencyInconsistentStateError',
  'IdempotencyUnknownError',
  'IdempotencyKeyError',
]);

/**
 * Maps what {@link PersistentOnce.run} throws, for every user of it: another invocation holding the
 * same key becomes the caller's own "in progress" error (each trigger words and times its retry
 * differently); a store failure becomes {@link IdempotencyStoreUnavailableError}; the work's own
 * error passes through unchanged.
 */
export function mapIdempotencyError(err: unknown, inProgress: (cause: unknown) => Error): unknown {
  const name = err instanceof Error ? err.name : '';
  if (name === 'IdempotencyAlreadyInProgressError') return inProgress(err);
  if (STORE_FAILURES.has(name)) return new IdempotencyStoreUnavailableError(`idempotency store failed (${name})`, { cause: err });
  return err;
}
