import { readFileSync } from 'node:fs';
import { SERVICE_NAME } from '../sealed-key/encryption-context.ts';
import { isLoopbackHost } from '../transport/origin.ts';

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

/**
 * The explicit switch for a local AWS emulator (LocalStack, moto) reached over plain http on loopback. The
 * test harness (vitest.config.ts), the residue and CLI test children and the bench set
 * `DIDIT_LOCAL_EMULATOR=1`; serverless-offline (`npm start`) marks its functions with `IS_OFFLINE=true`. No
 * deployed stage sets either, so there every AWS endpoint must be https (see {@link checkAwsEndpoints}).
 */
export const LOCAL_EMULATOR_VARIABLE = 'DIDIT_LOCAL_EMULATOR';

export function localEmulatorEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[LOCAL_EMULATOR_VARIABLE] === '1' || env['IS_OFFLINE'] === 'true';
}

/**
 * Refuses, at startup, an AWS endpoint the Didit key's path could leak through: anything but https, unless
 * the local-emulator switch is on and the endpoint is plain http on loopback. Checks `endpoint` (a client's
 * explicit one) and every `AWS_ENDPOINT_URL*` variable the SDK would use (KMS, Secrets Manager, DynamoDB,
 * S3, SQS, EventBridge). Fails closed: an endpoint that does not parse is refused too.
 */
export function checkAwsEndpoints(env: NodeJS.ProcessEnv = process.env, endpoint?: string): void {
  const candidates: Array<[string, string]> = [];
  if (endpoint !== undefined) candidates.push(['endpoint', endpoint]);
  for (const [name, value] of Object.entries(env)) {
    if ((name === 'AWS_ENDPOINT_URL' || name.startsWith('AWS_ENDPOINT_URL_')) && value !== undefined && value !== '') candidates.push([name, value]);
  }
  const local = localEmulatorEnabled(env);
  for (const [name, value] of candidates) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`${name} is not a URL`);
    }
    if (url.protocol === 'https:') continue;
    if (url.protocol === 'http:' && local && isLoopbackHost(url.hostname)) continue;
    throw new ConfigError(
      url.protocol === 'http:'
        ? `${name} uses plain http: allowed only for a local emulator on loopback with ${LOCAL_EMULATOR_VARIABLE}=1`
        : `${name} must use https`,
    );
  }
}
