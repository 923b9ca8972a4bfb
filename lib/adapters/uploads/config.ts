import { ConfigError } from '../../runtime/config.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from '../../idempotency/delivery-dedupe.ts';

/** Default lifetime of the presigned upload URLs: long enough for two 5 MB images on a slow link. */
export const DEFAULT_URL_EXPIRES_SECONDS = 300;

interface S3Settings {
  readonly region: string;
  /** The intake bucket (`UPLOAD_BUCKET`). */
  readonly bucket: string;
  /**
   * Path-style addressing (`S3_FORCE_PATH_STYLE=true`): for emulators on a custom endpoint (LocalStack's
   * presigned URLs need it). Never set in AWS.
   */
  readonly forcePathStyle: boolean;
}

/** `createUploadUrl`: signs uploads, never reads them. */
export interface PresignConfig extends S3Settings {
  /** The KMS key uploads are encrypted with (`UPLOAD_KMS_KEY_ID`, its ARN): the SSE-KMS header the bucket policy requires. */
  readonly kmsKeyId: string;
  /** Lifetime of the presigned URLs (`UPLOAD_URL_EXPIRES_SECONDS`, 60..900, default 300). */
  readonly urlExpiresSeconds: number;
}

/** `onUpload`: reads and deletes uploads, records outcomes, publishes results. */
export interface IntakeConfig extends S3Settings {
  /** DynamoDB table of the Powertools idempotency records (`IDEMPOTENCY_TABLE`). */
  readonly idempotencyTable: string;
  /** How long an upload's outcome is remembered (`UPLOAD_OUTCOME_TTL_SECONDS`, default one day). */
  readonly outcomeTtlSeconds: number;
  /** Where results are published (`EVENT_BUS_NAME`). */
  readonly eventBusName: string;
}

type Env = NodeJS.ProcessEnv;

export function loadPresignConfig(env: Env = process.env): PresignConfig {
  return {
    ...s3Settings(env),
    kmsKeyId: required(env, 'UPLOAD_KMS_KEY_ID'),
    urlExpiresSeconds: bounded(env, 'UPLOAD_URL_EXPIRES_SECONDS', DEFAULT_URL_EXPIRES_SECONDS, 60, 900),
  };
}

export function loadIntakeConfig(env: Env = process.env): IntakeConfig {
  return {
    ...s3Settings(env),
    idempotencyTable: required(env, 'IDEMPOTENCY_TABLE'),
    outcomeTtlSeconds: bounded(env, 'UPLOAD_OUTCOME_TTL_SECONDS', DEFAULT_DEDUPE_TTL_SECONDS, 3_600, 30 * 86_400),
    eventBusName: required(env, 'EVENT_BUS_NAME'),
  };
}

function s3Settings(env: Env): S3Settings {
  const pathStyle = env['S3_FORCE_PATH_STYLE'] ?? '';
  if (!['', 'true', 'false'].includes(pathStyle)) throw new ConfigError('S3_FORCE_PATH_STYLE must be true or false');
  return {
    region: env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
    bucket: required(env, 'UPLOAD_BUCKET'),
    forcePathStyle: pathStyle === 'true',
  };
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`missing environment variable ${name}`);
  return value;
}

function bounded(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be a whole number in ${min}..${max}`);
  return value;
}
