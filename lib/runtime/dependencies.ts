import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createSecureKmsClient } from '../kms/client.ts';
import type { SecureKmsRequestHandler } from '../kms/secure-request-handler.ts';
import { CiphertextSource } from '../sealed-key/ciphertext-source.ts';
import { encryptionContextFor, type EncryptionContext } from '../sealed-key/encryption-context.ts';
import { SealedKey } from '../sealed-key/sealed-key.ts';
import { DiditClient } from '../didit/client.ts';
import { traceAwsCalls } from '../observability/tracing.ts';
import { createSpendGate, type SpendGate } from '../spend-cap/gate.ts';
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

export function createDependencies(config: GatewayConfig = loadConfig()): GatewayDependencies {
  const encryptionContext = encryptionContextFor({ service: config.service, stage: config.stage, purpose: 'didit-api-key' });
  const { client: kms, handler: kmsHandler } = createSecureKmsClient({ region: config.region });
  const secrets = new SecretsManagerClient({ region: config.region, maxAttempts: 3 });
  traceAwsCalls(secrets, 'SecretsManager');
  const source = new CiphertextSource({ client: secrets, secretId: config.sealedKeySecretId, ttlMs: config.ciphertextTtlMs });
  const sealedKey = new SealedKey({ kms, source, encryptionContext, kmsKeyId: config.kmsKeyId });
  const didit = new DiditClient({ baseUrl: config.diditBaseUrl, ca: config.diditCa });
  const spendGate = createSpendGate({ cap: config.dailyPaidCallCap, tableName: config.spendCounterTable, stage: config.stage, region: config.region });
  return { config, encryptionContext, sealedKey, didit, kmsHandler, spendGate };
}

let shared: GatewayDependencies | undefined;

/** Lazily built on first use, so a configuration error surfaces as a 500 for that call, not a crash at import. */
export function sharedDependencies(): GatewayDependencies {
  shared ??= createDependencies();
  return shared;
}
