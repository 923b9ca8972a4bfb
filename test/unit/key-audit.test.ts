import { describe, expect, it, vi } from 'vitest';
import type { KMSClient } from '@aws-sdk/client-kms';
import { DiditServerError, DiditTimeoutError, DiditUnauthorizedError, KmsThrottledError } from '../../lib/errors/index.ts';
import { keyAuditRecord, type KeyUseOutcome } from '../../lib/observability/audit.ts';
import type { CiphertextSource, SealedCiphertext } from '../../lib/sealed-key/ciphertext-source.ts';
import { SharedKeyScope } from '../../lib/sealed-key/shared-key-scope.ts';
import { SealedKey } from '../../lib/sealed-key/sealed-key.ts';
import type { KeyUseInfo } from '../../lib/sealed-key/key-scope.ts';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';

// Each "Decrypt" hands out a fresh plausible key and a request id of its own, to tell the uses apart.
const decrypted: SecureBuffer[] = [];
vi.mock('../../lib/kms/decrypt.ts', async (original) => ({
  ...(await original<typeof import('../../lib/kms/decrypt.ts')>()),
  decryptToSecureBuffer: async () => {
    const key = SecureBuffer.alloc(40);
    key.bytes().fill(0x4b);
    decrypted.push(key);
    return { plaintext: key, keyId: 'arn:aws:kms:eu-west-1:000000000000:key/k', requestId: `kms-${decrypted.length}` };
  },
}));

const USE: KeyUseInfo = {
  kmsKeyId: 'arn:aws:kms:eu-west-1:000000000000:key/k',
  secretVersionId: 'v2',
  ciphertextFingerprint: 'sha256:0123456789abcdef',
  kmsLatencyMs: 12.345,
  kmsRequestId: 'kms-1',
  afterRefresh: true,
};

const outcome = (over: Partial<KeyUseOutcome> = {}): KeyUseOutcome => ({
  operation: 'createSession',
  lambdaRequestId: 'lambda-1',
  sourceRequestId: 'api-1',
  caller: 'arn:aws:iam::000000000000:user/u',
  encryptionContext: { service: 'didit-kms-gateway', stage: 'unit', purpose: 'didit-api-key' },
  use: USE,
  didit: { status: 201, attempts: 1, latencyMs: 45.678 },
  error: undefined,
  ...over,
});

describe('keyAuditRecord: the audit record is a function of the outcome', () => {
  it('a success: every field, in the logged order, latencies to 0.1 ms', () => {
    const record = keyAuditRecord(outcome());
    expect(Object.keys(record)).toEqual([
      'operation',
      'lambdaRequestId',
      'apiRequestId',
      'caller',
      'kmsKeyId',
      'encryptionContext',
      'ciphertextFingerprint',
      'secretVersionId',
      'kmsLatencyMs',
      'kmsRequestId',
      'afterRefresh',
      'diditStatus',
      'diditRequestId',
      'diditLatencyMs',
      'diditAttempts',
      'outcome',
      'errorCode',
    ]);
    expect(record).toEqual({
      operation: 'createSession',
      lambdaRequestId: 'lambda-1',
      apiRequestId: 'api-1',
      caller: 'arn:aws:iam::000000000000:user/u',
      kmsKeyId: USE.kmsKeyId,
      encryptionContext: { service: 'didit-kms-gateway', stage: 'unit', purpose: 'didit-api-key' },
      ciphertextFingerprint: USE.ciphertextFingerprint,
      secretVersionId: 'v2',
      kmsLatencyMs: 12.3,
      kmsRequestId: 'kms-1',
      afterRefresh: true,
      diditStatus: 201,
      diditRequestId: undefined,
      diditLatencyMs: 45.7,
      diditAttempts: 1,
      outcome: 'success',
      errorCode: undefined,
    });
  });

  it('classifies how the use ended, from the error alone', () => {
    const of = (error: unknown) => {
      const r = keyAuditRecord(outcome({ error }));
      return [r.outcome, r.errorCode, r.diditRequestId];
    };
    expect(of(new DiditUnauthorizedError('401', { diditStatus: 401, diditRequestId: 'd-1' }))).toEqual(['didit_rejected', 'DIDIT_UNAUTHORIZED', 'd-1']);
    expect(of(new DiditServerError('500', { diditStatus: 500 }))).toEqual(['didit_error', 'DIDIT_UNAVAILABLE', undefined]);
    expect(of(new DiditTimeoutError('Didit call aborted'))[0]).toBe('aborted');
    expect(of(new KmsThrottledError('throttled'))).toEqual(['key_error', 'KMS_THROTTLED', undefined]);
    expect(of(new Error('metrics down'))).toEqual(['internal_error', 'INTERNAL', undefined]);
  });

  it('does not touch its input', () => {
    const value = Object.freeze(outcome({ didit: Object.freeze({ status: 500, attempts: undefined, latencyMs: 1 }) }));
    expect(() => keyAuditRecord(value)).not.toThrow();
    expect(keyAuditRecord(value)).toEqual(keyAuditRecord(value));
  });
});

describe('every use of the key is described to its own fn', () => {
  const sealed = (fingerprint: string): SealedCiphertext => ({ ciphertext: new Uint8Array([1]), versionId: fingerprint, fingerprint, fetchedAt: 0 });

  it('withKey: a Didit 401 then a rotated key: two uses, two infos (afterRefresh), two Decrypts, both keys zeroed', async () => {
    decrypted.length = 0;
    const source = { get: async () => sealed('fp-1'), refresh: async () => sealed('fp-2') } as unknown as CiphertextSource;
    const key = new SealedKey({ kms: {} as KMSClient, source, encryptionContext: { service: 's', stage: 'x', purpose: 'p' } });
    const uses: Array<KeyUseInfo | undefined> = [];
    const value = await key.withKey(async (_key, use) => {
      uses.push(use);
      if (uses.length === 1) throw new DiditUnauthorizedError('401', { diditStatus: 401 });
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(uses.map((u) => [u?.kmsRequestId, u?.ciphertextFingerprint, u?.afterRefresh])).toEqual([
      ['kms-1', 'fp-1', false],
      ['kms-2', 'fp-2', true],
    ]);
    expect(decrypted).toHaveLength(2);
    expect(decrypted.every((k) => k.disposed)).toBe(true);
  });

  it('a shared scope: every use gets the info of the one shared Decrypt', async () => {
    decrypted.length = 0;
    const source = { get: async () => sealed('fp-1'), refresh: async () => sealed('fp-1') } as unknown as CiphertextSource;
    const scope = new SharedKeyScope(new SealedKey({ kms: {} as KMSClient, source, encryptionContext: { service: 's', stage: 'x', purpose: 'p' } }));
    const uses = await Promise.all([1, 2, 3].map(() => scope.useKey(async (_key, use) => use, {})));
    await scope.close();
    expect(uses.map((u) => u?.kmsRequestId)).toEqual(['kms-1', 'kms-1', 'kms-1']);
    expect(decrypted).toHaveLength(1);
    expect(decrypted[0]!.disposed).toBe(true);
  });
});
