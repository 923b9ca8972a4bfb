import { ConfigError, environment, EnvReader, loadSharedConfig, type Env, type SharedConfig } from '../../runtime/config.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from '../../idempotency/delivery-dedupe.ts';

/** Default lifetime of the presigned upload URLs: long enough for two 5 MB images on a slow link. */
export const DEFAULT_URL_EXPIRES_SECONDS = 300;

interface S3Settings extends Pick<SharedConfig, 'region'> {
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

export function loadPresignConfig(env: Env = environment()): PresignConfig {
  const reader = new EnvReader(env);
  return {
    ...s3Settings(reader),
    kmsKeyId: reader.required('UPLOAD_KMS_KEY_ID'),
    urlExpiresSeconds: reader.integer('UPLOAD_URL_EXPIRES_SECONDS', DEFAULT_URL_EXPIRES_SECONDS, 60, 900, 'a whole number'),
  };
}

export function loadIntakeConfig(env: Env = environment()): IntakeConfig {
  const reader = new EnvReader(env);
  return {
    ...s3Settings(reader),
    idempotencyTable: reader.required('IDEMPOTENCY_TABLE'),
    outcomeTtlSeconds: reader.integer('UPLOAD_OUTCOME_TTL_SECONDS', DEFAULT_DEDUPE_TTL_SECONDS, 3_600, 30 * 86_400, 'a whole number'),
    eventBusName: reader.required('EVENT_BUS_NAME'),
  };
}

function s3Settings(reader: EnvReader): S3Settings {
  const pathStyle = reader.env['S3_FORCE_PATH_STYLE'] ?? '';
  if (!['', 'true', 'false'].includes(pathStyle)) throw new ConfigError('S3_FORCE_PATH_STYLE must be true or false');
  return {
    region: loadSharedConfig(reader).region,
    bucket: reader.required('UPLOAD_BUCKET'),
    forcePathStyle: pathStyle === 'true',
  };
}
