import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createSecureKmsClient } from '../kms/client.ts';
import type { SecureKmsRequestHandler } from '../kms/secure-request-handler.ts';
import { CiphertextSource } from '../sealed-key/ciphertext-source.ts';
import { encryptionContextFor, type EncryptionContext, type SealedPurpose } from '../sealed-key/encryption-context.ts';
import { SealedKey, type SealedKeyOptions } from '../sealed-key/sealed-key.ts';
import { DiditClient } from '../didit/client.ts';
import { traceAwsCalls } from '../observability/tracing.ts';
import { createSpendGate, type SpendGate } from '../spend-cap/gate.ts';
import { awsClientConfig } from '../config/aws-clients.ts';
import { loadConfig, type GatewayConfig } from './config.ts';

/** What a handler needs, built once per execution environment and reused by warm invocations. */
export interface GatewayDependencies {
  readonly config: GatewayConfig;
  readonly encryptionContext: EncryptionContext;
  readonly sealedKey: SealedKey;
  readonly didit: DiditClient;
  readonly kmsHandler: SecureKmsRequestHandler;
  /** The daily cap of paid Didit calls (lib/spend-cap/); absent = no cap (test fakes). */
  readonly spendGate?: SpendGate;
}

/** The composition root of the operation functions (and the key path of every other kind). */
export function createDependencies(config: GatewayConfig = loadConfig()): GatewayDependencies {
  const { client: kms, handler: kmsHandler } = createSecureKmsClient({ region: config.region });
  const { encryptionContext, sealed: sealedKey } = sealedSecret({
    config: { ...config, secretId: config.sealedKeySecretId },
    purpose: 'didit-api-key',
    kms,
  });
  const didit = new DiditClient({ baseUrl: config.diditBaseUrl, ca: config.diditCa });
  const spendGate = createSpendGate({ cap: config.dailyPaidCallCap, tableName: config.spendCounterTable, stage: config.stage, region: config.region });
  return { config, encryptionContext, sealedKey, didit, kmsHandler, spendGate };
}

/**
 * The clients a trigger's composition root (webhook, sign-up, upload intake) builds from its config unless
 * given (tests pass their own, bound to an emulator).
 */
export interface TriggerClients {
  readonly dynamodb?: DynamoDBClient;
  readonly eventBridge?: EventBridgeClient;
  /** The sealed API key and the Didit client; default: {@link createDependencies} from the environment. */
  readonly gateway?: GatewayDependencies;
}

/** What {@link sealedSecret} needs of a function's config. */
export interface SealedSecretConfig {
  readonly region: string;
  readonly service: string;
  readonly stage: string;
  /** Secrets Manager id of the sealed secret. */
  readonly secretId: string;
  readonly kmsKeyId: string | undefined;
  readonly ciphertextTtlMs: number;
}

/**
 * A secret sealed under KMS in Secrets Manager (the Didit API key, the webhook secret): its encryption
 * context, its ciphertext source and the SealedKey that decrypts it per use into secure memory.
 */
export function sealedSecret(options: {
  readonly config: SealedSecretConfig;
  readonly purpose: SealedPurpose;
  /** Must come from createSecureKmsClient (the plaintext is captured into secure memory). */
  readonly kms: KMSClient;
  readonly secretsManager?: SecretsManagerClient | undefined;
  readonly bounds?: Pick<SealedKeyOptions, 'minLength' | 'maxLength'>;
}): { encryptionContext: EncryptionContext; source: CiphertextSource; sealed: SealedKey } {
  const { config } = options;
  const encryptionContext = encryptionContextFor({ service: config.service, stage: config.stage, purpose: options.purpose });
  let secrets = options.secretsManager;
  if (secrets === undefined) {
    secrets = new SecretsManagerClient(awsClientConfig(config.region));
    traceAwsCalls(secrets, 'SecretsManager');
  }
  const source = new CiphertextSource({ client: secrets, secretId: config.secretId, ttlMs: config.ciphertextTtlMs });
  const sealed = new SealedKey({ kms: options.kms, source, encryptionContext, kmsKeyId: config.kmsKeyId, ...options.bounds });
  return { encryptionContext, source, sealed };
}

/**
 * Built on first use and kept for the warm invocations: a configuration error then fails that call (a 500,
 * or a retried event), not the import of the function's module.
 */
export function lazily<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}

/** The operation functions' dependencies, built on first use. */
export const sharedDependencies: () => GatewayDependencies = lazily(() => createDependencies());
