import { readFileSync } from 'node:fs';
import { SERVICE_NAME } from '../sealed-key/encryption-context.ts';
import { ConfigError, environment, EnvReader, type Env } from '../config/env.ts';

/**
 * The operation functions' config ({@link loadConfig}); the other function kinds use it too for the sealed
 * API key and the Didit client. None of it is secret: the key itself is only ever in Secrets Manager as KMS
 * ciphertext, referenced here by id.
 */
export interface GatewayConfig extends SharedConfig {
  readonly stage: string;
  /** Secrets Manager id (name or ARN) of the sealed Didit key. */
  readonly sealedKeySecretId: string;
  /** Expected KMS key (id, ARN or alias ARN); optional, passed to Decrypt when set. */
  readonly kmsKeyId: string | undefined;
  readonly ciphertextTtlMs: number;
  readonly diditBaseUrl: string;
  /** PEM of an extra trust anchor for Didit (the local sandbox's CA); absent in production. */
  readonly diditCa: string | undefined;
  /**
   * Daily cap of paid Didit calls for this stage (lib/spend-cap/); undefined = no cap. DAILY_PAID_CALL_CAP,
   * '' or '0' meaning off. When set, SPEND_CAP_TABLE must name the counter's table (fails closed otherwise).
   */
  readonly dailyPaidCallCap?: number | undefined;
  readonly spendCounterTable?: string | undefined;
}

/** What every function kind reads the same way. */
export interface SharedConfig {
  readonly region: string;
  /** Service name of the encryption contexts (`SERVICE_NAME`, default the gateway's). */
  readonly service: string;
}

/** The shared part of every function kind's config: the adapters' loaders build on it. */
export function loadSharedConfig(reader: EnvReader): SharedConfig {
  return {
    region: reader.optional('AWS_REGION') ?? reader.optional('AWS_DEFAULT_REGION') ?? 'us-east-1',
    service: reader.optional('SERVICE_NAME') ?? SERVICE_NAME,
  };
}

/** The shared part and the stage (`STAGE`, required): what every function kind with a sealed secret or a job reads. */
export function loadStagedConfig(reader: EnvReader): SharedConfig & { readonly stage: string } {
  return { ...loadSharedConfig(reader), stage: reader.required('STAGE') };
}

/** How long a fetched sealed ciphertext is reused (`CIPHERTEXT_TTL_SECONDS`, 0..86400, default 300), in ms. */
export function ciphertextTtlMs(reader: EnvReader): number {
  return reader.number('CIPHERTEXT_TTL_SECONDS', 300, 0, 86_400) * 1000;
}

/**
 * The operation functions' config (also the sealed API key and the Didit client of every other kind), read
 * once by the composition root (lib/runtime/dependencies.ts). The adapters' loaders follow the same shape:
 * lib/adapters/<name>/config.ts `loadWebhookConfig`, `loadJobConfig`, `loadPresignConfig`,
 * `loadIntakeConfig`, `loadSignupConfig`.
 *
 * @example
 * ```ts
 * const config = loadConfig(); // process.env
 * const deps = createDependencies(loadConfig({ STAGE: 'dev', SEALED_KEY_SECRET_ID: 'didit/dev/api-key', AWS_REGION: 'eu-west-1' }));
 * ```
 * @throws {ConfigError} naming the variable (never its value): STAGE or SEALED_KEY_SECRET_ID missing,
 *   DIDIT_BASE_URL not https, CIPHERTEXT_TTL_SECONDS outside 0..86400, DAILY_PAID_CALL_CAP not a whole
 *   number, a cap without SPEND_CAP_TABLE. An unreadable DIDIT_CA_FILE throws the file system's error.
 *   Loaded on the first invocation, so a configuration error fails that call (`INTERNAL` 500, or a retried
 *   event), never the module's import.
 */
export function loadConfig(env: Env = environment()): GatewayConfig {
  const reader = new EnvReader(env);
  const baseUrl = reader.env['DIDIT_BASE_URL'] ?? 'https://verification.didit.me';
  if (!baseUrl.startsWith('https://')) throw new ConfigError('DIDIT_BASE_URL must use https');
  const caFile = reader.optional('DIDIT_CA_FILE');
  const cap = Number(reader.optional('DAILY_PAID_CALL_CAP') ?? '0');
  if (!Number.isInteger(cap) || cap < 0) throw new ConfigError('DAILY_PAID_CALL_CAP must be a whole number (0 = no cap)');
  const spendCounterTable = reader.optional('SPEND_CAP_TABLE');
  if (cap > 0 && spendCounterTable === undefined) throw new ConfigError('DAILY_PAID_CALL_CAP needs SPEND_CAP_TABLE');
  return {
    ...loadStagedConfig(reader),
    sealedKeySecretId: reader.required('SEALED_KEY_SECRET_ID'),
    kmsKeyId: reader.optional('KMS_KEY_ID'),
    ciphertextTtlMs: ciphertextTtlMs(reader),
    diditBaseUrl: baseUrl,
    diditCa: caFile ? readFileSync(caFile, 'utf8') : undefined,
    dailyPaidCallCap: cap > 0 ? cap : undefined,
    spendCounterTable,
  };
}

/**
 * Which table entry an operation function serves (`OPERATION`, set per function by serverless.yml). Read when
 * functions/operation.ts is imported: the handler is generated from that entry (an unknown name fails there).
 */
export function loadOperationName(env: Env = environment()): string | undefined {
  return env['OPERATION'];
}

/**
 * Where `sealWebhookSecret` puts sealed webhook secrets (`WEBHOOK_SECRET_SECRET_ID`, `WEBHOOK_SECRET_KMS_KEY_ID`).
 * Read when sealing is asked for, not with {@link loadConfig}: only that one operation needs it, and its
 * absence is a 500 for that call alone (lib/runtime/postprocess.ts).
 */
export function loadSealingConfig(env: Env = environment()): { readonly secretId: string | undefined; readonly kmsKeyId: string | undefined } {
  const reader = new EnvReader(env);
  return { secretId: reader.optional('WEBHOOK_SECRET_SECRET_ID'), kmsKeyId: reader.optional('WEBHOOK_SECRET_KMS_KEY_ID') };
}
