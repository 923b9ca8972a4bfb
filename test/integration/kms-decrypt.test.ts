import { randomBytes } from 'node:crypto';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import { decryptToSecureBuffer } from '../../lib/kms/decrypt.ts';
import { kmsTrustAnchors } from '../../lib/kms/secure-request-handler.ts';
import { tlsReadScrubStats } from '../../lib/transport/tls-read-scrub.ts';
import { KmsInvalidCiphertextError, KmsResponseError, KmsUnavailableError } from '../../lib/errors/index.ts';
import { provisionSealedKey, secretsClientFor, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { testTlsEmulator } from '../support/aws.ts';

// KMS Decrypt into secure memory against the emulator over TLS, as production reaches KMS (no SDK mocks);
// the emulator's certificate is trusted through its CA, passed explicitly. Verification is never turned off.
const em = testTlsEmulator();
const apiKey = Buffer.from(`sk_kms_${randomBytes(18).toString('hex')}`);
let sealed: SealedKeyResources;
let ciphertext: Uint8Array;

beforeAll(async () => {
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: em.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey });
  sealed = await provisionSealedKey(em, { stage: 'kms', apiKey });
  const sm = secretsClientFor(em);
  try {
    ciphertext = (await sm.send(new GetSecretValueCommand({ SecretId: sealed.secretId }))).SecretBinary!;
  } finally {
    sm.destroy();
  }
});

afterAll(async () => {
  await teardownSealedKey(em, sealed);
});

describe('decryptToSecureBuffer over TLS', () => {
  it('puts the key in secure memory, keeps the connection alive across calls, and scrubs the TLS read stack each time', async () => {
    expect(em.endpoint).toMatch(/^https:\/\//);
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint, emulatorCa: em.caPem });
    const scrubsBefore = tlsReadScrubStats().scrubs;
    for (let i = 0; i < 3; i++) {
      const { plaintext, keyId } = await decryptToSecureBuffer(client, { ciphertext, encryptionContext: sealed.encryptionContext });
      expect(plaintext.equals(apiKey)).toBe(true);
      expect(keyId).toContain(sealed.kmsKeyId);
      plaintext.dispose();
    }
    // One scrub per KMS answer read over TLS (lib/transport/tls-read-scrub.ts).
    expect(tlsReadScrubStats().scrubs - scrubsBefore).toBe(3);
    // moto's server closes every connection after answering; LocalStack keeps it, as AWS does.
    expect(handler.connectionsOpened).toBe(em.kind === 'moto' ? 3 : 1);
    handler.destroy();
  });

  it('the emulator CA can come from KMS_EMULATOR_CA_FILE, honoured for a loopback endpoint', async () => {
    process.env['KMS_EMULATOR_CA_FILE'] = em.caFile;
    try {
      const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint });
      const { plaintext } = await decryptToSecureBuffer(client, { ciphertext, encryptionContext: sealed.encryptionContext });
      expect(plaintext.equals(apiKey)).toBe(true);
      plaintext.dispose();
      handler.destroy();
    } finally {
      delete process.env['KMS_EMULATOR_CA_FILE'];
    }
  });

  it('without the emulator CA the certificate is refused: KmsUnavailableError, nothing decrypted', async () => {
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint, maxAttempts: 1 });
    await expect(decryptToSecureBuffer(client, { ciphertext, encryptionContext: sealed.encryptionContext })).rejects.toBeInstanceOf(
      KmsUnavailableError,
    );
    handler.destroy();
  });

  it('the emulator CA is never a trust anchor for a host that is not a loopback literal', () => {
    const env = { KMS_EMULATOR_CA_FILE: em.caFile };
    expect(kmsTrustAnchors('kms.eu-west-1.amazonaws.com', 'https:', { emulatorCa: em.caPem }, env)).toBeUndefined();
    expect(kmsTrustAnchors('kms.eu-west-1.amazonaws.com', 'https:', {}, env)).toBeUndefined();
    expect(kmsTrustAnchors('127.attacker.example', 'https:', { emulatorCa: em.caPem }, env)).toBeUndefined();
    expect(kmsTrustAnchors('127.0.0.1', 'https:', { emulatorCa: em.caPem }, env)).toBe(em.caPem);
    expect(String(kmsTrustAnchors('127.0.0.1', 'https:', {}, env))).toBe(em.caPem);
    expect(kmsTrustAnchors('127.0.0.1', 'https:', {}, {})).toBeUndefined();
  });

  it('refuses a client without the secure handler: the plaintext must never reach SDK memory', async () => {
    const stock = new KMSClient({ region: em.region, endpoint: em.endpoint, requestHandler: { httpsAgent: new (await import('node:https')).Agent({ ca: em.caPem }) } });
    await expect(decryptToSecureBuffer(stock, { ciphertext, encryptionContext: sealed.encryptionContext })).rejects.toBeInstanceOf(KmsResponseError);
    stock.destroy();
  });

  it('a wrong encryption context or a foreign key id is an invalid ciphertext', async () => {
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint, emulatorCa: em.caPem });
    await expect(
      decryptToSecureBuffer(client, { ciphertext, encryptionContext: { ...sealed.encryptionContext, purpose: 'didit-webhook-secret' } }),
    ).rejects.toBeInstanceOf(KmsInvalidCiphertextError);
    await expect(
      decryptToSecureBuffer(client, { ciphertext: randomBytes(64), encryptionContext: sealed.encryptionContext }),
    ).rejects.toBeInstanceOf(KmsInvalidCiphertextError);
    handler.destroy();
  });

  it('an unreachable KMS is KmsUnavailableError after the SDK retries', async () => {
    // About reachability, not transport: a closed loopback port over plain HTTP.
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: 'http://127.0.0.1:1', maxAttempts: 2 });
    await expect(decryptToSecureBuffer(client, { ciphertext, encryptionContext: sealed.encryptionContext })).rejects.toBeInstanceOf(
      KmsUnavailableError,
    );
    handler.destroy();
  });
});
