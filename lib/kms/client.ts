import { KMSClient } from '@aws-sdk/client-kms';
import { traceAwsCalls } from '../observability/tracing.ts';
import { SecureKmsRequestHandler } from './secure-request-handler.ts';

export interface SecureKmsClientOptions {
  readonly region: string;
  /** Custom endpoint (emulator); default: the regional KMS endpoint. */
  readonly endpoint?: string;
  readonly requestTimeoutMs?: number;
  readonly maxAttempts?: number;
}

/**
 * A KMS client whose responses are read through {@link SecureKmsRequestHandler}. Create it once per
 * execution environment (module scope) so its keep-alive connection survives warm invocations.
 */
export function createSecureKmsClient(options: SecureKmsClientOptions): { client: KMSClient; handler: SecureKmsRequestHandler } {
  const handler = new SecureKmsRequestHandler({ requestTimeoutMs: options.requestTimeoutMs ?? 3_000 });
  const client = new KMSClient({
    region: options.region,
    endpoint: options.endpoint,
    requestHandler: handler,
    maxAttempts: options.maxAttempts ?? 3,
  });
  // X-Ray spans (command, status, attempts, latency) when the stage traces; never the input or output.
  traceAwsCalls(client, 'KMS');
  return { client, handler };
}
