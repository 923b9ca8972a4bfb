/**
 * The settings every AWS SDK client of the functions is built with (DynamoDB, EventBridge, SQS, S3,
 * Secrets Manager; KMS through lib/kms/client.ts). Endpoints come from the SDK's own environment
 * (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), checked by lib/config/env.ts `checkAwsEndpoints`.
 */
export const defaults = Object.freeze({
  /** The SDK's standard retry strategy, 3 attempts in all: short enough for an API Gateway call. */
  maxAttempts: 3,
});

/** The constructor settings of an SDK client for `region`. */
export function awsClientConfig(region: string): { region: string; maxAttempts: number } {
  return { region, maxAttempts: defaults.maxAttempts };
}
