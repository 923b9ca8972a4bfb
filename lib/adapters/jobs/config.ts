import { ConfigError, environment, EnvReader, type Env } from '../../config/env.ts';
import { loadStagedConfig } from '../../runtime/config.ts';

/** How long a job (record, encrypted result, idempotency record) is kept: 7 days. */
export const DEFAULT_JOB_TTL_SECONDS = 7 * 24 * 60 * 60;

/**
 * Largest job message: SQS's classic limit (256 KiB), which every emulator and region accepts. SQS now
 * takes up to 1 MiB; raise `JOB_MAX_MESSAGE_BYTES` to use it. Larger documents go through S3.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * The job functions' config (`submitJob`, `getJob`, `worker`), from the environment read once. Nothing
 * here is secret. Each entry point needs only some of it; {@link requireSetting} says which one is missing
 * when it is used.
 */
export function loadJobConfig(env: Env = environment()) {
  const reader = new EnvReader(env);
  return {
    ...loadStagedConfig(reader),
    /** DynamoDB table of job records (`JOBS_TABLE`): partition key `jobId`, TTL on `expiresAt`. */
    jobsTable: reader.required('JOBS_TABLE'),
    /** SQS queue the job messages go to (`JOBS_QUEUE_URL`); submitJob. */
    queueUrl: reader.optional('JOBS_QUEUE_URL'),
    /** Powertools idempotency table (`IDEMPOTENCY_TABLE`, shared with the webhook receiver); worker. */
    idempotencyTable: reader.optional('IDEMPOTENCY_TABLE'),
    /** EventBridge bus of the `didit.job.completed` events (`EVENT_BUS_NAME`); worker. */
    eventBusName: reader.optional('EVENT_BUS_NAME'),
    /**
     * KMS key of the result data keys (`JOB_RESULT_KMS_KEY_ID`, else `KMS_KEY_ID`); the worker generates
     * data keys under it, getJob decrypts them (KMS finds the key in the ciphertext; when set it is also
     * passed to Decrypt so a blob from another key is refused).
     */
    resultKmsKeyId: reader.optional('JOB_RESULT_KMS_KEY_ID') ?? reader.optional('KMS_KEY_ID'),
    ttlSeconds: reader.integer('JOB_TTL_SECONDS', DEFAULT_JOB_TTL_SECONDS, 3_600, 30 * 24 * 60 * 60),
    maxMessageBytes: reader.integer('JOB_MAX_MESSAGE_BYTES', DEFAULT_MAX_MESSAGE_BYTES, 1_024, 1024 * 1024),
  };
}

/** {@link loadJobConfig}'s result: the type is the loader's, so the two cannot drift. */
export type JobConfig = Readonly<ReturnType<typeof loadJobConfig>>;

/** A setting only some entry points need, checked where it is used. */
export function requireSetting<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new ConfigError(`missing environment variable ${name}`);
  return value;
}
