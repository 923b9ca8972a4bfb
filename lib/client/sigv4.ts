import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, HttpRequest, SourceData } from '@smithy/types';

/** API Gateway's signing name: IAM-authorised REST APIs check SigV4 signatures for this service. */
export const EXECUTE_API = 'execute-api';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** Fixed credentials, or a function returning them (called for every request, so it can refresh). */
export type CredentialsSource = AwsCredentials | (() => Promise<AwsCredentials>);

/**
 * SHA-256, or HMAC-SHA-256 when given a secret, for the signer: `@smithy/hash-node`'s `Hash` (node:crypto
 * underneath) bound to `sha256`, as the AWS SDK's own Node runtime configures its signers.
 */
export const NodeSha256: new (secret?: SourceData) => Checksum = Hash.bind(null, 'sha256');

/**
 * A SigV4 signer for API Gateway (`execute-api`). The client signs with it and the test stand-in for
 * API Gateway recomputes signatures with it, so both sides agree on canonicalisation by construction
 * (path double-encoded as AWS requires for every service but S3, body hash in x-amz-content-sha256).
 */
export function executeApiSigner(options: { region: string; credentials: CredentialsSource; service?: string }): SignatureV4 {
  const { credentials } = options;
  return new SignatureV4({
    service: options.service ?? EXECUTE_API,
    region: options.region,
    credentials: typeof credentials === 'function' ? credentials : async () => credentials,
    sha256: NodeSha256,
  });
}

/** The parts of a request that are signed; `path` is the path as sent (percent-encoded), without the query. */
export interface SignableRequest {
  readonly method: string;
  readonly url: URL;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | undefined;
}

/** Signs `request`; returns its headers plus `authorization`, `x-amz-date`, `x-amz-content-sha256` (and the session token). */
export async function signRequest(signer: SignatureV4, request: SignableRequest, signingDate?: Date): Promise<Record<string, string>> {
  const toSign: HttpRequest = {
    method: request.method,
    protocol: request.url.protocol,
    hostname: request.url.hostname,
    port: request.url.port === '' ? undefined : Number(request.url.port),
    path: request.path,
    query: { ...request.query },
    headers: { ...request.headers },
    body: request.body,
  };
  const signed = await signer.sign(toSign, signingDate === undefined ? {} : { signingDate });
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) out[name.toLowerCase()] = value;
  return out;
}
