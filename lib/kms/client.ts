import { KMSClient } from '@aws-sdk/client-kms';
import { loadAwsSettings } from '../config/env.ts';
import { is, required, withDefaults } from '../config/options.ts';
import { defaults as awsClientDefaults } from '../config/aws-clients.ts';
import { traceAwsCalls } from '../observability/tracing.ts';
import { SecureKmsRequestHandler } from './secure-request-handler.ts';

export interface SecureKmsClientOptions {
  readonly region: string;
  /** Custom endpoint (emulator); default: the regional KMS endpoint. */
  readonly endpoint?: string;
  /** Per-attempt timeout; default: the handler's (secure-request-handler.ts `defaults`, 3 s). */
  readonly requestTimeoutMs?: number;
  readonly maxAttempts?: number;
  /** Where the local-emulator switch and the SDK's endpoint variables are read; default: the process environment (lib/config/env.ts). */
  readonly env?: NodeJS.ProcessEnv;
  /** Trust anchor of a loopback emulator (see SecureKmsRequestHandlerOptions.emulatorCa); ignored for other hosts. */
  readonly emulatorCa?: string | Buffer;
}

/** The KMS client's defaults: the attempts of every AWS client (lib/config/aws-clients.ts); the timeout is the handler's. */
export const defaults = Object.freeze({ maxAttempts: awsClientDefaults.maxAttempts });

const rules = {
  region: required(is.string),
  endpoint: is.string,
  requestTimeoutMs: is.integer(100, 60_000),
  maxAttempts: is.integer(1, 10),
  env: is.record,
  emulatorCa: is.pem,
};

/**
 * A KMS client whose responses are read through {@link SecureKmsRequestHandler}: the only kind of client
 * `decryptToSecureBuffer`, `generateDataKeyToSecureBuffer` and `encryptFromSecureBuffer` accept, since the
 * stock handler would copy a plaintext into strings and native buffers. Create it once per execution
 * environment (module scope, through a composition root) so its keep-alive connection survives warm
 * invocations.
 *
 * @example
 * ```ts
 * const { client: kms, handler } = createSecureKmsClient({ region: config.region });
 * const { plaintext } = await decryptToSecureBuffer(kms, { ciphertext, encryptionContext });
 * try { use(plaintext.bytes()); } finally { plaintext.dispose(); }
 * ```
 * @throws {ConfigError} when an option is unknown or invalid, or `endpoint` or an `AWS_ENDPOINT_URL*` variable
 *   is not https (plain http is allowed only on loopback with `DIDIT_LOCAL_EMULATOR=1` or serverless-offline).
 *   Nothing has been sent to KMS then.
 */
export function createSecureKmsClient(options: SecureKmsClientOptions): { client: KMSClient; handler: SecureKmsRequestHandler } {
  const o = withDefaults('createSecureKmsClient', defaults, rules, options);
  // Every entry point builds one of these at startup: the place to refuse a plain-http AWS endpoint.
  const aws = loadAwsSettings(o.env, o.endpoint);
  const handler = new SecureKmsRequestHandler({
    requestTimeoutMs: o.requestTimeoutMs,
    allowPlainHttpLoopback: aws.localEmulator,
    emulatorCa: o.emulatorCa,
    emulatorCaFile: aws.kmsEmulatorCaFile,
  });
  const client = new KMSClient({ region: o.region, endpoint: o.endpoint, requestHandler: handler, maxAttempts: o.maxAttempts });
  // X-Ray spans (command, status, attempts, latency) when the stage traces; never the input or output.
  traceAwsCalls(client, 'KMS');
  return { client, handler };
}
