import { randomBytes } from 'node:crypto';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import { decryptToSecureBuffer } from '../../lib/kms/decrypt.ts';
import { KmsInvalidCiphertextError, KmsResponseError, KmsUnavailableError } from '../../lib/errors.ts';
import { provisionSealedKey, secretsClientFor, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { testEmulator } from '../support/aws.ts';

// KMS Decrypt into secure memory, against the emulator over HTTP (no SDK mocks).
const em = testEmulator();
const apiKey = Buffer.from(`sk_kms_${randomBytes(18).toString('hex')}`);
let sealed: SealedKeyResources;
let ciphertext: Uint8Array;

beforeAll(async () => {
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: em.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey });
  sealed = await provisionSealedKey(em, { stage: 'kms', apiKey });
  const secret = await secretsClientFor(em).send(new GetSecretValueCommand({ SecretId: sealed.secretId }));
  ciphertext = secret.SecretBinary!;
});

afterAll(async () => {
  await teardownSealedKey(em, sealed);
});

describe('decryptToSecureBuffer', () => {
  it('puts the key in secure memory and keeps the connection alive across calls', async () => {
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint });
    for (let i = 0; i < 3; i++) {
      const { plaintext, keyId } = await decryptToSecureBuffer(client, { ciphertext, encryptionContext: sealed.encryptionContext });
      expect(plaintext.equals(apiKey)).toBe(true);
      expect(keyId).toContain(sealed.kmsKeyId);
      plaintext.dispose();
    }
    // moto's server closes every connection after answering; LocalStack keeps it, as AWS does.
    expect(handler.connectionsOpened).toBe(em.kind === 'moto' ? 3 : 1);
    handler.destroy();
  });

  it('refuses a client without the secure handler: the plaintext must never reach SDK memory', async () => {
    const stock = new KMSClient({ region: em.region, endpoint: em.endpoint });
    await expect(
      decryptToSecureBuffer(stock, { ciphertext, encryptionContext: sealed.encryptionContext }),
    ).rejects.toBeInstanceOf(KmsResponseError);
  });

  it('a wrong encryption context or a foreign key id is an invalid ciphertext', async () => {
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint });
    await expect(
      decryptToSecureBuffer(client, { ciphertext, encryptionContext: { ...sealed.encryptionContext, purpose: 'didit-webhook-secret' } }),
    ).rejects.toBeInstanceOf(KmsInvalidCiphertextError);
    await expect(
      decryptToSecureBuffer(client, { ciphertext: randomBytes(64), encryptionContext: sealed.encryptionContext }),
    ).rejects.toBeInstanceOf(KmsInvalidCiphertextError);
    handler.destroy();
  });

  it('an unreachable KMS is KmsUnavailableError after the SDK retries, quickly', async () => {
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: 'http://127.0.0.1:1', maxAttempts: 2 });
    const started = Date.now();
    await expect(decryptToSecureBuffer(client, { ciphertext, encryptionContext: sealed.encryptionContext })).rejects.toBeInstanceOf(
      KmsUnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    handler.destroy();
  });
});
