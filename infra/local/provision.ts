/**
 * Provisions the sealed Didit key in an emulator, the way the deployment does it in AWS: a symmetric KMS key
 * with an alias, the key bytes encrypted under the encryption context `{service, stage, purpose}`, and the
 * ciphertext stored as a Secrets Manager `SecretBinary` (the secret itself encrypted with the same KMS key).
 *
 * Names carry a random suffix so parallel test files sharing one emulator never collide. Nothing here logs
 * the key or the ciphertext. The caller owns `apiKey` (and zeroes it if it wants to).
 *
 * @example
 * ```ts
 * const res = await provisionSealedKey(em, { stage: 'dev', apiKey });
 * // handler env: SEALED_KEY_SECRET_ID=res.secretId, STAGE=dev
 * await teardownSealedKey(em, res);
 * ```
 */
import { Agent as HttpsAgent } from 'node:https';
import { randomBytes } from 'node:crypto';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  EncryptCommand,
  KMSClient,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { encryptionContextFor, SERVICE_NAME, type SealedPurpose } from '../../lib/sealed-key/encryption-context.ts';
import type { Emulator } from './emulator.ts';

export interface SealedKeyResources {
  kmsKeyId: string;
  kmsKeyArn: string;
  alias: string;
  secretId: string;
  secretArn: string;
  encryptionContext: Readonly<Record<string, string>>;
}

export interface ProvisionOptions {
  stage: string;
  apiKey: Uint8Array;
  purpose?: SealedPurpose;
  /** Prefix of the alias and secret names, default `didit-kms-gateway`. */
  namePrefix?: string;
}

type ClientConfig = {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  maxAttempts: number;
  requestHandler?: { httpsAgent: HttpsAgent };
};

function clientConfig(em: Emulator): ClientConfig {
  const config: ClientConfig = { endpoint: em.endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 };
  // An https emulator endpoint: its CA is the only trust anchor (verification stays on).
  if (em.caPem !== undefined && em.endpoint.startsWith('https:')) config.requestHandler = { httpsAgent: new HttpsAgent({ ca: em.caPem }) };
  return config;
}

/** A KMS client for the emulator (caller destroys it). */
export function kmsClientFor(em: Emulator): KMSClient {
  return new KMSClient(clientConfig(em));
}

/** A Secrets Manager client for the emulator (caller destroys it). */
export function secretsClientFor(em: Emulator): SecretsManagerClient {
  return new SecretsManagerClient(clientConfig(em));
}

async function withClients<T>(em: Emulator, fn: (kms: KMSClient, sm: SecretsManagerClient) => Promise<T>): Promise<T> {
  const kms = kmsClientFor(em);
  const sm = secretsClientFor(em);
  try {
    return await fn(kms, sm);
  } finally {
    kms.destroy();
    sm.destroy();
  }
}

/** KMS alias names allow `[A-Za-z0-9/_-]`; stages may contain dots. */
function aliasSafe(part: string): string {
  return part.replace(/[^A-Za-z0-9/_-]/g, '-');
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name ?? '';
  return name === 'NotFoundException' || name === 'ResourceNotFoundException';
}

export async function provisionSealedKey(em: Emulator, opts: ProvisionOptions): Promise<SealedKeyResources> {
  const purpose: SealedPurpose = opts.purpose ?? 'didit-api-key';
  const prefix = opts.namePrefix ?? SERVICE_NAME;
  const encryptionContext = encryptionContextFor({ service: SERVICE_NAME, stage: opts.stage, purpose });
  if (!(opts.apiKey instanceof Uint8Array) || opts.apiKey.length === 0) {
    throw new TypeError('apiKey must be a non-empty Uint8Array');
  }
  const suffix = randomBytes(5).toString('hex');
  const alias = `alias/${aliasSafe(prefix)}-${aliasSafe(opts.stage)}-${suffix}`;
  const secretName = `${prefix}/${opts.stage}/${purpose}-${suffix}`;
  const tags = { service: SERVICE_NAME, stage: opts.stage, purpose };

  return withClients(em, async (kms, sm) => {
    const created = await kms.send(
      new CreateKeyCommand({
        Description: `${SERVICE_NAME} ${purpose} (${opts.stage}) — local test key`,
        KeyUsage: 'ENCRYPT_DECRYPT',
        KeySpec: 'SYMMETRIC_DEFAULT',
        Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
      }),
    );
    const kmsKeyId = created.KeyMetadata?.KeyId;
    const kmsKeyArn = created.KeyMetadata?.Arn;
    if (!kmsKeyId || !kmsKeyArn) throw new Error('CreateKey returned no key id/arn');
    let aliasCreated = false;
    let secretArnCreated: string | undefined;
    try {
      await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: kmsKeyId }));
      aliasCreated = true;
      const sealed = await kms.send(
        new EncryptCommand({ KeyId: kmsKeyId, Plaintext: opts.apiKey, EncryptionContext: { ...encryptionContext } }),
      );
      if (!sealed.CiphertextBlob) throw new Error('Encrypt returned no ciphertext');
      const secret = await sm.send(
        new CreateSecretCommand({
          Name: secretName,
          Description: `${SERVICE_NAME} sealed ${purpose} for stage ${opts.stage} (KMS ciphertext, context-bound)`,
          KmsKeyId: kmsKeyArn,
          SecretBinary: sealed.CiphertextBlob,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
      if (!secret.ARN) throw new Error('CreateSecret returned no ARN');
      secretArnCreated = secret.ARN;
      return {
        kmsKeyId,
        kmsKeyArn,
        alias,
        secretId: secretName,
        secretArn: secret.ARN,
        encryptionContext,
      };
    } catch (err) {
      // Best effort: do not leave half-provisioned resources behind in a shared emulator.
      await teardown(kms, sm, { kmsKeyId, alias: aliasCreated ? alias : undefined, secretId: secretArnCreated }).catch(
        () => {},
      );
      throw err;
    }
  });
}

/** Seals a new key value as a new secret version (AWSCURRENT moves, the old one becomes AWSPREVIOUS). */
export async function resealSecret(
  em: Emulator,
  res: SealedKeyResources,
  apiKey: Uint8Array,
): Promise<{ versionId: string }> {
  if (!(apiKey instanceof Uint8Array) || apiKey.length === 0) throw new TypeError('apiKey must be a non-empty Uint8Array');
  return withClients(em, async (kms, sm) => {
    const sealed = await kms.send(
      new EncryptCommand({ KeyId: res.kmsKeyId, Plaintext: apiKey, EncryptionContext: { ...res.encryptionContext } }),
    );
    if (!sealed.CiphertextBlob) throw new Error('Encrypt returned no ciphertext');
    const put = await sm.send(new PutSecretValueCommand({ SecretId: res.secretArn, SecretBinary: sealed.CiphertextBlob }));
    if (!put.VersionId) throw new Error('PutSecretValue returned no VersionId');
    return { versionId: put.VersionId };
  });
}

/** Deletes the secret (no recovery window), deletes the alias, schedules the key for deletion (7 days). Idempotent. */
export async function teardownSealedKey(em: Emulator, res: SealedKeyResources): Promise<void> {
  await withClients(em, (kms, sm) => teardown(kms, sm, { kmsKeyId: res.kmsKeyId, alias: res.alias, secretId: res.secretArn }));
}

async function teardown(
  kms: KMSClient,
  sm: SecretsManagerClient,
  r: { kmsKeyId: string; alias: string | undefined; secretId: string | undefined },
): Promise<void> {
  const errors: unknown[] = [];
  const attempt = async (fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (!isNotFound(err) && !isAlreadyPendingDeletion(err)) errors.push(err);
    }
  };
  if (r.secretId) {
    const secretId = r.secretId;
    await attempt(() => sm.send(new DeleteSecretCommand({ SecretId: secretId, ForceDeleteWithoutRecovery: true })));
  }
  if (r.alias) {
    const alias = r.alias;
    await attempt(() => kms.send(new DeleteAliasCommand({ AliasName: alias })));
  }
  await attempt(() => kms.send(new ScheduleKeyDeletionCommand({ KeyId: r.kmsKeyId, PendingWindowInDays: 7 })));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'teardown of sealed key resources failed');
}

/** A second ScheduleKeyDeletion on a key already pending deletion fails with KMSInvalidStateException. */
function isAlreadyPendingDeletion(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | null;
  return e?.name === 'KMSInvalidStateException' && /pending ?deletion/i.test(e.message ?? '');
}
