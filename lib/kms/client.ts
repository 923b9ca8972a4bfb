import { KMSClient } from '@aws-sdk/client-kms';
import { checkAwsEndpoints, localEmulatorEnabled } from '../runtime/config.ts';
import { SecureKmsRequestHandler } from './secure-request-handler.ts';

export interface SecureKmsClientOptions {
  readonly region: string;
  /** Custom endpoint (emulator); default: the regional KMS endpoint. */
  readonly endpoint?: string;
  readonly requestTimeoutMs?: number;
  readonly maxAttempts?: number;
  /** Where the local-emulator switch and the SDK's endpoint variables are read; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * A KMS client whose responses are read through {@link SecureKmsRequestHandler}. Throws ConfigError when
 * an AWS endpoint is not https (outside an explicit local emulator). Create it once per
 * execution environment (module scope) so its keep-alive connection survives warm invocations.
 */
export function createSecureKmsClient(options: SecureKmsClientOptions): { client: KMSClient; handler: SecureKmsRequestHandler } {
  // Every entry point builds one of these at startup: the place to refuse a plain-http AWS endpoint.
  const env = options.env ?? process.env;
  checkAwsEndpoints(env, options.endpoint);
  const handler = new SecureKmsRequestHandler({
    requestTimeoutMs: options.requestTimeoutMs ?? 3_000,
    allowPlainHttpLoopback: localEmulatorEnabled(env),
  });
  const client = new KMSClient({
    region: options.region,
    endpoint: options.endpoint,
    requestHandler: handler,
    maxAttempts: options.maxAttempts ?? 3,
  });
  return { client, handler };
}
