import { describe, expect, it } from 'vitest';
import { DiditUnauthorizedError, KmsThrottledError } from '../../lib/errors/index.ts';
import { BatchKeyScope } from '../../lib/adapters/jobs/key-scope.ts';
import type { KeyUseInfo } from '../../lib/sealed-key/key-scope.ts';
import type { SealedKey } from '../../lib/sealed-key/sealed-key.ts';
import { SecureBufferDisposedError } from '../../lib/secure/errors.ts';
import type { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import { FakeSealedKey } from './jobs-fakes.ts';

const scopeOf = (sealed: FakeSealedKey) => new BatchKeyScope(sealed as unknown as SealedKey);

describe('BatchKeyScope: one decrypt for a batch', () => {
  it('N concurrent uses share one decrypt; each use is released (audited) once; close zeroes the key', async () => {
    const sealed = new FakeSealedKey();
    const scope = scopeOf(sealed);
    const released: Array<{ info: KeyUseInfo; error: unknown }> = [];
    const seen: SecureBuffer[] = [];
    // Every use holds the key until all five hold it: they overlap for certain.
    let allIn!: () => void;
    const overlapping = new Promise<void>((r) => (allIn = r));
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        scope.useKey(
          async (key) => {
            seen.push(key);
            if (seen.length === 5) allIn();
            await overlapping;
            if (n === 3) throw new Error('didit said no');
            return n;
          },
          { observer: { released: (info, error) => released.push({ info, error }) } },
        ).catch((err: Error) => err.message),
      ),
    );
    expect(results).toEqual([1, 2, 'didit said no', 4, 5]);
    expect(sealed.decrypts).toBe(1);
    expect(scope.decrypts).toBe(1);
    expect(scope.uses).toBe(5);
    expect(new Set(seen).size).toBe(1);
    expect(released).toHaveLength(5);
    expect(released.filter((r) => r.error !== undefined)).toHaveLength(1);
    expect(seen[0]!.disposed).toBe(false); // held until the batch ends
    await scope.close();
    expect(seen[0]!.disposed).toBe(true);
    expect(() => seen[0]!.bytes()).toThrow(SecureBufferDisposedError);
    await scope.close(); // idempotent
  });

  it('a batch that never needs the key decrypts nothing', async () => {
    const sealed = new FakeSealedKey();
    const scope = scopeOf(sealed);
    await scope.close();
    expect(sealed.decrypts).toBe(0);
  });

  it('a decrypt failure reaches every waiting use (each is redelivered), with no key left behind', async () => {
    const sealed = new FakeSealedKey();
    sealed.failWith = new KmsThrottledError('throttled');
    const scope = scopeOf(sealed);
    const outcomes = await Promise.allSettled([1, 2, 3].map(() => scope.useKey(async () => 'x', {})));
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect((outcomes[0] as PromiseRejectedResult).reason).toBeInstanceOf(KmsThrottledError);
    await scope.close();
  });

  it('a Didit 401 on the shared key: that use (and later ones) go through SealedKey.withKey itself', async () => {
    const sealed = new FakeSealedKey();
    const scope = scopeOf(sealed);
    let calls = 0;
    const released: unknown[] = [];
    const value = await scope.useKey(
      async (key) => {
        calls++;
        if (calls === 1) throw new DiditUnauthorizedError('401');
        return key.bytes()[0];
      },
      { observer: { released: (_info, error) => released.push(error) } },
    );
    expect(calls).toBe(2);
    expect(value).toBe(0x41 + 2); // the second key
    expect(released).toHaveLength(2); // one audit record per Didit call
    expect(released[0]).toBeInstanceOf(DiditUnauthorizedError);
    expect(await scope.useKey(async () => 'later', {})).toBe('later');
    expect(sealed.decrypts).toBe(3);
    expect(scope.decrypts).toBe(3);
    await scope.close();
    expect(sealed.keys.every((k) => k.disposed)).toBe(true);
  });
});
