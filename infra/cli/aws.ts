/**
 * AWS clients and the Secrets Manager steps of the CLI. Nothing here sees the plaintext: KMS Encrypt
 * goes through `encryptFromSecureBuffer` (secure client), Secrets Manager only ever gets ciphertext.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import type { SecureKmsRequestHandler } from '../../lib/kms/secure-request-handler.ts';
import { SERVICE_NAME, type SealedPurpose } from '../../lib/sealed-key/encryption-context.ts';
import { UsageError } from './args.ts';

export interface AwsClients {
  readonly region: string;
  /** KMS client reading and writing through the secure transport (required by encrypt/decrypt). */
  readonly kms: KMSClient;
  readonly kmsHandler: SecureKmsRequestHandler;
  /** Ordinary client: Secrets Manager only ever carries ciphertext. */
  readonly secrets: SecretsManagerClient;
  destroy(): void;
}

/** A Secrets Manager step failed (exit code 4). Messages come from Secrets Manager, which never saw the secret. */
export class SecretsStepError extends Error {
  override readonly name = 'SecretsStepError';
  readonly awsCode: string;
  constructor(step: string, err: unknown) {
    const name = errorName(err);
    super(`Secrets Manager ${step} failed: ${name}${describeAwsMessage(err)}`, { cause: err });
    this.awsCode = name;
  }
}

/**
 * Resolves the region (flag, AWS_REGION, AWS_DEFAULT_REGION, the AWS profile) and builds the clients.
 * AWS_ENDPOINT_URL (emulators) is honoured by the SDK itself.
 */
export async function createAwsClients(region: string | undefined, json: boolean): Promise<AwsClients> {
  const secrets = new SecretsManagerClient({ region, maxAttempts: 3 });
  let resolved: string;
  try {
    resolved = await secrets.config.region();
  } catch {
    secrets.destroy();
    throw new UsageError('no AWS region: pass --region or set AWS_REGION', json);
  }
  if (!resolved) {
    secrets.destroy();
    throw new UsageError('no AWS region: pass --region or set AWS_REGION', json);
  }
  const { client: kms, handler: kmsHandler } = createSecureKmsClient({ region: resolved, requestTimeoutMs: 10_000 });
  return {
    region: resolved,
    kms,
    kmsHandler,
    secrets,
    destroy() {
      kms.destroy();
      kmsHandler.destroy();
      secrets.destroy();
    },
  };
}

export interface SecretDescription {
  readonly arn: string | undefined;
  readonly name: string | undefined;
  /** The KMS key Secrets Manager encrypts the secret with; undefined for the default aws/secretsmanager key. */
  readonly kmsKeyId: string | undefined;
  readonly versionIdsToStages: Readonly<Record<string, readonly string[]>>;
}

/** DescribeSecret, or undefined when the secret does not exist. */
export async function describeSecret(secrets: SecretsManagerClient, secretId: string): Promise<SecretDescription | undefined> {
  let out: DescribeSecretCommandOutput;
  try {
    out = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return undefined;
    throw new SecretsStepError('DescribeSecret', err);
  }
  if (out.DeletedDate !== undefined) {
    throw new SecretsStepError('DescribeSecret', new Error('the secret is scheduled for deletion; restore it first'));
  }
  return {
    arn: out.ARN,
    name: out.Name,
    kmsKeyId: out.KmsKeyId || undefined,
    versionIdsToStages: out.VersionIdsToStages ?? {},
  };
}

export function versionWithStage(description: SecretDescription | undefined, stage: string): string | undefined {
  if (description === undefined) return undefined;
  for (const [versionId, stages] of Object.entries(description.versionIdsToStages)) {
    if (stages.includes(stage)) return versionId;
  }
  return undefined;
}

export interface StoreInput {
  readonly secretId: string;
  readonly ciphertext: Uint8Array;
  /** Used only when the secret has to be created: Secrets Manager encrypts it with the same key. */
  readonly kmsKeyId: string;
  readonly stage: string;
  readonly purpose: SealedPurpose;
  readonly exists: boolean;
}

/**
 * Stores the ciphertext as a NEW version (PutSecretValue: AWSCURRENT moves to it, the version it
 * replaces becomes AWSPREVIOUS), creating the secret first when it does not exist.
 */
export async function storeCiphertext(secrets: SecretsManagerClient, input: StoreInput): Promise<{ versionId: string; created: boolean }> {
  const put = async (): Promise<string> => {
    const out = await secrets.send(new PutSecretValueCommand({ SecretId: input.secretId, SecretBinary: input.ciphertext }));
    if (!out.VersionId) throw new Error('PutSecretValue returned no VersionId');
    return out.VersionId;
  };
  if (input.exists) {
    try {
      return { versionId: await put(), created: false };
    } catch (err) {
      throw new SecretsStepError('PutSecretValue', err);
    }
  }
  if (input.secretId.startsWith('arn:')) {
    throw new SecretsStepError('DescribeSecret', new Error('no secret with this ARN; pass a secret name to create one'));
  }
  const tags = { service: SERVICE_NAME, stage: input.stage, purpose: input.purpose };
  try {
    const out = await secrets.send(
      new CreateSecretCommand({
        Name: input.secretId,
        Description: `${SERVICE_NAME} sealed ${input.purpose} for stage ${input.stage} (KMS ciphertext, context-bound)`,
        KmsKeyId: input.kmsKeyId,
        SecretBinary: input.ciphertext,
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    if (!out.VersionId) throw new Error('CreateSecret returned no VersionId');
    return { versionId: out.VersionId, created: true };
  } catch (err) {
    if (errorName(err) !== 'ResourceExistsException') throw new SecretsStepError('CreateSecret', err);
  }
  // Created by someone else in the meantime: add our version on top.
  try {
    return { versionId: await put(), created: false };
  } catch (err) {
    throw new SecretsStepError('PutSecretValue', err);
  }
}

export function errorName(err: unknown): string {
  const name = err instanceof Error ? err.name : '';
  return /^[A-Za-z0-9_.]{1,64}$/.test(name) ? name : 'Error';
}

/** AWS's message, on one line and bounded (it names resources and permissions, never secret values). */
function describeAwsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  if (message === '' || message === 'UnknownError') return '';
  const line = message.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return `: ${line.length > 300 ? `${line.slice(0, 300)}...` : line}`;
}
