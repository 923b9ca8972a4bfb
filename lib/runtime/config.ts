import { readFileSync } from 'node:fs';
import { SERVICE_NAME } from '../sealed-key/encryption-context.ts';

/**
 * Everything the functions read from their environment. None of it is secret: the key itself is
 * only ever in Secrets Manager as KMS ciphertext, referenced here by id.
 */
export interface GatewayConfig {
  readonly region: string;
  readonly service: string;
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

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new ConfigError(`missing environment variable ${name}`);
    return value;
  };
  const ttlSeconds = Number(env['CIPHERTEXT_TTL_SECONDS'] ?? '300');
  if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new ConfigError('CIPHERTEXT_TTL_SECONDS must be a number');
  const baseUrl = env['DIDIT_BASE_URL'] ?? 'https://verification.didit.me';
  if (!baseUrl.startsWith('https://')) throw new ConfigError('DIDIT_BASE_URL must use https');
  const caFile = env['DIDIT_CA_FILE'];
  const cap = Number(env['DAILY_PAID_CALL_CAP'] || '0');
  if (!Number.isInteger(cap) || cap < 0) throw new ConfigError('DAILY_PAID_CALL_CAP must be a whole number (0 = no cap)');
  const spendCounterTable = env['SPEND_CAP_TABLE'] || undefined;
  if (cap > 0 && spendCounterTable === undefined) throw new ConfigError('DAILY_PAID_CALL_CAP needs SPEND_CAP_TABLE');
  return {
    region: env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
    service: env['SERVICE_NAME'] ?? SERVICE_NAME,
    stage: required('STAGE'),
    sealedKeySecretId: required('SEALED_KEY_SECRET_ID'),
    kmsKeyId: env['KMS_KEY_ID'] || undefined,
    ciphertextTtlMs: ttlSeconds * 1000,
    diditBaseUrl: baseUrl,
    diditCa: caFile ? readFileSync(caFile, 'utf8') : undefined,
    dailyPaidCallCap: cap > 0 ? cap : undefined,
    spendCounterTable,
  };
}
