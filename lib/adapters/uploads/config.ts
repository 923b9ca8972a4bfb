import { ConfigError, environment, EnvReader, type Env } from '../../config/env.ts';
import { loadSharedConfig } from '../../runtime/config.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from '../../idempotency/delivery-dedupe.ts';

/** Default lifetime of the presigned upload URLs: long enough for two 5 MB images on a slow link. */
export const DEFAULT_URL_EXPIRES_SECONDS = 300;

/** `createUploadUrl`'s config: signs uploads, never reads them. */
export function loadPresignConfig(env: Env = environment()) {
  const reader = new EnvReader(env);
  return {
    ...s3Settings(reader),
    /** The KMS key uploads are encrypted with (`UPLOAD_KMS_KEY_ID`, its ARN): the SSE-KMS header the bucket policy requires. */
    kmsKeyId: reader.required('UPLOAD_KMS_KEY_ID'),
    /** Lifetime of the presigned URLs (`UPLOAD_URL_EXPIRES_SECONDS`, 60..900, default 300). */
    urlExpiresSeconds: reader.integer('UPLOAD_URL_EXPIRES_SECONDS', DEFAULT_URL_EXPIRES_SECONDS, 60, 900, 'a whole number'),
  };
}

/** `onUpload`'s config: reads and deletes uploads, records outcomes, publishes results. */
export function loadIntakeConfig(env: Env = environment()) {
  const reader = new EnvReader(env);
  return {
    ...s3Settings(reader),
    /** DynamoDB table of the Powertools idempotency records (`IDEMPOTENCY_TABLE`). */
    idempotencyTable: reader.required('IDEMPOTENCY_TABLE'),
    /** How long an upload's outcome is remembered (`UPLOAD_OUTCOME_TTL_SECONDS`, default one day). */
    outcomeTtlSeconds: reader.integer('UPLOAD_OUTCOME_TTL_SECONDS', DEFAULT_DEDUPE_TTL_SECONDS, 3_600, 30 * 86_400, 'a whole number'),
    /** Where results are published (`EVENT_BUS_NAME`). */
    eventBusName: reader.required('EVENT_BUS_NAME'),
  };
}

/** The loaders' results: their types are the loaders', so the two cannot drift. */
export type PresignConfig = Readonly<ReturnType<typeof loadPresignConfig>>;
export type IntakeConfig = Readonly<ReturnType<typeof loadIntakeConfig>>;

/** What both upload functions read: the region, the intake bucket and its addressing. */
function s3Settings(reader: EnvReader) {
  const pathStyle = reader.env['S3_FORCE_PATH_STYLE'] ?? '';
  if (!['', 'true', 'false'].includes(pathStyle)) throw new ConfigError('S3_FORCE_PATH_STYLE must be true or false');
  return {
    region: loadSharedConfig(reader).region,
    /** The intake bucket (`UPLOAD_BUCKET`). */
    bucket: reader.required('UPLOAD_BUCKET'),
    /**
     * Path-style addressing (`S3_FORCE_PATH_STYLE=true`): for emulators on a custom endpoint (LocalStack's
     * presigned URLs need it). Never set in AWS.
     */
    forcePathStyle: pathStyle === 'true',
  };
}
