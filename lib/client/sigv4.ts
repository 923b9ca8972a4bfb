import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
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
 * SHA-256 and HMAC-SHA-256 for the signer on `node:crypto`, so signing needs no `@smithy/hash-node`
 * (the signer only asks for this small interface).
 */
export class NodeSha256 implements Checksum {
  readonly #secret: Uint8Array | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#secret = secret === undefined ? undefined : bytesOf(secret);
    this.#hash = this.#fresh();
  }

  update(data: Uint8Array): void {
    this.#hash.update(data);
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }

  reset(): void {
    this.#hash = this.#fresh();
  }

  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }
}

function bytesOf(data: SourceData): Uint8Array {
  if (typeof data === 'string') return new TextEncoder().encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

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
