import { describe, expect, it } from 'vitest';
import { IdempotencyStoreUnavailableError } from '../../lib/errors/index.ts';
import { mapIdempotencyError } from '../../lib/idempotency/error-map.ts';

const named = (name: string): Error => Object.assign(new Error('x'), { name });

describe('mapIdempotencyError (shared by webhooks, jobs, uploads and sign-up)', () => {
  const inProgress = (cause: unknown) => new Error('in progress', { cause });

  it("turns another invocation's hold into the caller's own in-progress error", () => {
    const original = named('IdempotencyAlreadyInProgressError');
    const mapped = mapIdempotencyError(original, inProgress) as Error;
    expect(mapped.message).toBe('in progress');
    expect(mapped.cause).toBe(original);
  });

  it('turns store failures into a retryable 503', () => {
    for (const name of ['IdempotencyPersistenceLayerError', 'IdempotencyInconsistentStateError', 'IdempotencyUnknownError', 'IdempotencyKeyError']) {
      const mapped = mapIdempotencyError(named(name), inProgress);
      expect(mapped, name).toBeInstanceOf(IdempotencyStoreUnavailableError);
      expect((mapped as IdempotencyStoreUnavailableError).retryable).toBe(true);
      expect((mapped as IdempotencyStoreUnavailableError).statusCode).toBe(503);
    }
  });

  it("passes the work's own error through unchanged", () => {
    const own = named('DiditServerError');
    expect(mapIdempotencyError(own, inProgress)).toBe(own);
  });
});
