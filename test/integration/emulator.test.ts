/**
 * Contract test of the emulator the suite runs against (LocalStack, moto or an external endpoint): what the
 * sealed-key design relies on from KMS and Secrets Manager actually holds there. It uses the plain SDK on
 * purpose; the product path (sealed-key reader) has its own tests.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DecryptCommand,
  DescribeKeyCommand,
  KMSClient,
  ListAliasesCommand,
  ListResourceTagsCommand,
} from '@aws-sdk/client-kms';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  provisionSealedKey,
  resealSecret,
  teardownSealedKey,
  type SealedKeyResources,
} from '../../infra/local/provision.ts';
import { SERVICE_NAME } from '../../lib/sealed-key/encryption-context.ts';
import { hasTestEmulator, testEmulator } from '../support/aws.ts';

const STAGE = 'contract';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomAsciiKey(length = 40): Uint8Array {
  const out = new Uint8Array(length);
  const random = randomBytes(length);
  for (let i = 0; i < length; i++) out[i] = ALPHABET.charCodeAt(random[i]! % ALPHABET.length);
  return out;
}

function bytes(b: Uint8Array | undefined): Buffer {
  if (!b) throw new Error('expected bytes');
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

describe.skipIf(!hasTestEmulator())('AWS emulator contract for the sealed key', () => {
  const em = hasTestEmulator() ? testEmulator() : undefined!;
  const config = () => ({ endpoint: em.endpoint, region: em.region, credentials: em.credentials });
  let kms: KMSClient;
  let sm: SecretsManagerClient;
  let res: SealedKeyResources;
  const apiKey = randomAsciiKey();
  const rotatedKey = randomAsciiKey();
  let firstVersionId: string;
  let lastBlob: Uint8Array;
  let tornDown = false;

  beforeAll(async () => {
    kms = new KMSClient(config());
    sm = new SecretsManagerClient(config());
    res = await provisionSealedKey(em, { stage: STAGE, apiKey });
  });

  afterAll(async () => {
    if (res && !tornDown) await teardownSealedKey(em, res);
    kms?.destroy();
    sm?.destroy();
  });

  const decrypt = (blob: Uint8Array, context?: Record<string, string>) =>
    kms.send(new DecryptCommand({ CiphertextBlob: blob, ...(context ? { EncryptionContext: context } : {}) }));

  const currentBlob = async (stage?: string): Promise<Uint8Array> => {
    const out = await sm.send(new GetSecretValueCommand({ SecretId: res.secretId, ...(stage ? { VersionStage: stage } : {}) }));
    expect(out.SecretString).toBeUndefined();
    if (!out.SecretBinary) throw new Error('secret has no SecretBinary');
    return out.SecretBinary;
  };

  it('returns unique, well-formed names and the frozen context', () => {
    expect(res.alias).toMatch(new RegExp(`^alias/${SERVICE_NAME}-${STAGE}-[0-9a-f]{10}$`));
    expect(res.secretId).toMatch(new RegExp(`^${SERVICE_NAME}/${STAGE}/didit-api-key-[0-9a-f]{10}$`));
    expect(res.kmsKeyArn).toMatch(/^arn:aws:kms:[a-z0-9-]+:\d{12}:key\//);
    expect(res.kmsKeyArn.endsWith(res.kmsKeyId)).toBe(true);
    expect(res.secretArn).toMatch(/^arn:aws:secretsmanager:/);
    expect(res.encryptionContext).toEqual({ service: SERVICE_NAME, stage: STAGE, purpose: 'didit-api-key' });
    expect(Object.isFrozen(res.encryptionContext)).toBe(true);
  });

  it('creates an enabled symmetric key, reachable through its alias and tagged', async () => {
    const byId = await kms.send(new DescribeKeyCommand({ KeyId: res.kmsKeyId }));
    expect(byId.KeyMetadata).toMatchObject({
      KeyId: res.kmsKeyId,
      Arn: res.kmsKeyArn,
      KeyState: 'Enabled',
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeySpec: 'SYMMETRIC_DEFAULT',
    });
    const byAlias = await kms.send(new DescribeKeyCommand({ KeyId: res.alias }));
    expect(byAlias.KeyMetadata?.KeyId).toBe(res.kmsKeyId);
    const tags = await kms.send(new ListResourceTagsCommand({ KeyId: res.kmsKeyId }));
    expect(tags.Tags).toEqual(
      expect.arrayContaining([
        { TagKey: 'service', TagValue: SERVICE_NAME },
        { TagKey: 'stage', TagValue: STAGE },
        { TagKey: 'purpose', TagValue: 'didit-api-key' },
      ]),
    );
  });

  it('stores the ciphertext as SecretBinary, encrypted with the same KMS key', async () => {
    const described = await sm.send(new DescribeSecretCommand({ SecretId: res.secretId }));
    expect(described.ARN).toBe(res.secretArn);
    expect([res.kmsKeyArn, res.kmsKeyId]).toContain(described.KmsKeyId);
    const got = await sm.send(new GetSecretValueCommand({ SecretId: res.secretId }));
    expect(got.VersionStages).toContain('AWSCURRENT');
    expect(got.VersionId).toBeTruthy();
    firstVersionId = got.VersionId!;
    const blob = bytes(got.SecretBinary);
    // The stored value is a KMS blob, not the key: the plaintext bytes appear nowhere in it.
    expect(blob.length).toBeGreaterThan(apiKey.length);
    expect(blob.indexOf(Buffer.from(apiKey))).toBe(-1);
    // ...and it is exactly what KMS Encrypt produced: it decrypts to the key under the context.
    const out = await decrypt(blob, { ...res.encryptionContext });
    expect(bytes(out.Plaintext).equals(Buffer.from(apiKey))).toBe(true);
  });

  it('decrypts with the right context and reports the key it used', async () => {
    const out = await decrypt(await currentBlob(), { ...res.encryptionContext });
    expect(bytes(out.Plaintext).equals(Buffer.from(apiKey))).toBe(true);
    expect(out.KeyId).toBe(res.kmsKeyArn);
    // AWS returns EncryptionAlgorithm; LocalStack 4.14 and moto 5.2.1 both leave it out of Decrypt responses.
    expect([undefined, 'SYMMETRIC_DEFAULT']).toContain(out.EncryptionAlgorithm);
  });

  it('refuses a wrong stage, a wrong purpose, a missing context and an extra pair', async () => {
    const blob = await currentBlob();
    const invalid = { name: 'InvalidCiphertextException' };
    await expect(decrypt(blob, { ...res.encryptionContext, stage: 'prod' })).rejects.toMatchObject(invalid);
    await expect(decrypt(blob, { ...res.encryptionContext, purpose: 'didit-webhook-secret' })).rejects.toMatchObject(invalid);
    await expect(decrypt(blob)).rejects.toMatchObject(invalid);
    await expect(decrypt(blob, { ...res.encryptionContext, extra: 'x' })).rejects.toMatchObject(invalid);
  });

  it('reseals as a new version and keeps the old one as AWSPREVIOUS', async () => {
    const { versionId } = await resealSecret(em, res, rotatedKey);
    expect(versionId).toBeTruthy();
    expect(versionId).not.toBe(firstVersionId);

    const current = await sm.send(new GetSecretValueCommand({ SecretId: res.secretId }));
    expect(current.VersionId).toBe(versionId);
    expect(current.VersionStages).toEqual(['AWSCURRENT']);
    lastBlob = current.SecretBinary!;
    const now = await decrypt(lastBlob, { ...res.encryptionContext });
    expect(bytes(now.Plaintext).equals(Buffer.from(rotatedKey))).toBe(true);

    const previous = await sm.send(new GetSecretValueCommand({ SecretId: res.secretId, VersionStage: 'AWSPREVIOUS' }));
    expect(previous.VersionId).toBe(firstVersionId);
    expect(previous.VersionStages).toEqual(['AWSPREVIOUS']);
    const before = await decrypt(previous.SecretBinary!, { ...res.encryptionContext });
    expect(bytes(before.Plaintext).equals(Buffer.from(apiKey))).toBe(true);

    const byId = await sm.send(new GetSecretValueCommand({ SecretId: res.secretId, VersionId: firstVersionId }));
    expect(bytes(byId.SecretBinary).equals(bytes(previous.SecretBinary))).toBe(true);

    const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: res.secretId }));
    const stages = Object.fromEntries((versions.Versions ?? []).map((v) => [v.VersionId, v.VersionStages]));
    expect(stages).toEqual({ [versionId]: ['AWSCURRENT'], [firstVersionId]: ['AWSPREVIOUS'] });
  });

  it('tears down: secret gone, alias gone, key pending deletion; a second teardown is a no-op', async () => {
    await teardownSealedKey(em, res);
    tornDown = true;
    await expect(sm.send(new DescribeSecretCommand({ SecretId: res.secretId }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    const key = await kms.send(new DescribeKeyCommand({ KeyId: res.kmsKeyId }));
    expect(key.KeyMetadata?.KeyState).toBe('PendingDeletion');
    expect(key.KeyMetadata?.DeletionDate).toBeInstanceOf(Date);
    await expect(kms.send(new DescribeKeyCommand({ KeyId: res.alias }))).rejects.toMatchObject({ name: 'NotFoundException' });
    const aliases = await kms.send(new ListAliasesCommand({ KeyId: res.kmsKeyId }));
    expect((aliases.Aliases ?? []).map((a) => a.AliasName)).not.toContain(res.alias);
    // A sealed key whose KMS key is pending deletion cannot be opened any more.
    // AWS refuses a key pending deletion (KMSInvalidStateException) and so does LocalStack; moto 5.2.1 still
    // decrypts. Compare outcomes only, so a failure never prints plaintext.
    const outcome = await decrypt(lastBlob, { ...res.encryptionContext }).then(
      () => 'decrypted',
      (err: { name?: string }) => err.name,
    );
    expect(outcome).toBe(em.kind === 'moto' ? 'decrypted' : 'KMSInvalidStateException');
    await expect(teardownSealedKey(em, res)).resolves.toBeUndefined();
  });
});
