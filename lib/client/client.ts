import { OPERATIONS } from '../operations/table.ts';
import type { OperationSpec } from '../operations/types.ts';
import { buildRequest, queryString, type LooseArgs } from './request.ts';
import { executeApiSigner, signRequest, type CredentialsSource } from './sigv4.ts';
import type {
  GatewayResponse,
  OperationArgs,
  OperationMethods,
  OperationName,
  ResponseBody,
  Transport,
  TransportRequest,
  TransportResponse,
} from './types.ts';

export interface GatewayClientOptions {
  /** The API's base URL, stage included, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com/prod`. */
  readonly baseUrl: string;
  /** The region of the API (part of every signature). */
  readonly region: string;
  /** The caller's IAM credentials, or a function returning them (called per request, so it may refresh). */
  readonly credentials: CredentialsSource;
  /** Default: `fetch`. */
  readonly transport?: Transport;
  /** Signing time (tests); default now. */
  readonly now?: () => Date;
}

/** A field problem the gateway reported with a 400 VALIDATION_FAILED. */
export interface ErrorIssue {
  readonly field: string;
  readonly message: string;
}

/**
 * A non-2xx answer. `body` is what came back: the gateway's `{error: {code, message, requestId,
 * issues?}}`, or API Gateway's own `{message}` (403 for a missing or wrong signature, 429 throttling,
 * 504 integration timeout). Neither carries secrets or the caller's field values.
 */
export class GatewayClientError extends Error {
  readonly operation: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
  /** The gateway's error code (e.g. `VALIDATION_FAILED`); undefined when API Gateway itself answered. */
  readonly code: string | undefined;
  readonly requestId: string | undefined;
  readonly issues: readonly ErrorIssue[];
  /** Seconds from Retry-After (429, 503, some 504). */
  readonly retryAfterSeconds: number | undefined;

  constructor(operation: string, response: GatewayResponse) {
    const error = errorObject(response.body);
    const apiGatewayMessage = isRecord(response.body) && typeof response.body['message'] === 'string' ? response.body['message'] : undefined;
    const code = typeof error?.['code'] === 'string' ? error['code'] : undefined;
    const text = typeof error?.['message'] === 'string' ? error['message'] : (apiGatewayMessage ?? 'no error body');
    super(`${operation}: HTTP ${response.status}${code === undefined ? '' : ` ${code}`}: ${text}`);
    this.name = 'GatewayClientError';
    this.operation = operation;
    this.status = response.status;
    this.headers = response.headers;
    this.body = response.body;
    this.code = code;
    this.requestId = typeof error?.['requestId'] === 'string' ? error['requestId'] : response.headers['x-request-id'];
    this.issues = Array.isArray(error?.['issues']) ? (error['issues'] as unknown[]).filter(isIssue) : [];
    const retryAfter = Number(response.headers['retry-after']);
    this.retryAfterSeconds = response.headers['retry-after'] !== undefined && Number.isFinite(retryAfter) ? retryAfter : undefined;
  }
}

export type GatewayClient = OperationMethods & {
  /** The same as the named method, for callers that pick the operation at run time. */
  call<N extends OperationName>(name: N, args?: OperationArgs<N>): Promise<GatewayResponse<ResponseBody<N>>>;
};

/**
 * A typed client of the gateway: one method per entry of the operation table (built from the table at
 * run time, typed from its zod schemas), each request signed with SigV4 for `execute-api` as the API's
 * IAM authorisation requires.
 *
 * @example
 * ```ts
 * const client = createGatewayClient({ baseUrl, region: 'eu-west-1', credentials: { accessKeyId, secretAccessKey } });
 * const { body } = await client.createSession({ input: { workflow_id, vendor_data: 'user-42' } });
 * const pdf = await client.generateSessionPdf({ params: { sessionId } }); // pdf.body: Uint8Array
 * await client.idVerification({ files: { front_image: { data: jpegBytes } } });
 * ```
 */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  if (typeof options.region !== 'string' || options.region === '') throw new TypeError('createGatewayClient: region is required');
  const base = new URL(options.baseUrl);
  if (base.search !== '' || base.hash !== '') throw new TypeError('createGatewayClient: baseUrl must not have a query or fragment');
  const basePath = base.pathname.replace(/\/+$/, '');
  const signer = executeApiSigner({ region: options.region, credentials: options.credentials });
  const transport = options.transport ?? fetchTransport;

  async function invoke(spec: OperationSpec, args: LooseArgs): Promise<GatewayResponse> {
    const request = buildRequest(spec, args, basePath);
    const url = new URL(`${base.origin}${request.path}${queryString(request.query)}`);
    // `host` is signed, as AWS requires; the transport sends it as the URL's host.
    const headers = await signRequest(
      signer,
      { method: request.method, url, path: request.path, query: request.query, headers: { ...request.headers, host: url.host }, body: request.body },
      options.now?.(),
    );
    const sent: TransportRequest = { method: request.method, url: url.href, headers, body: request.body, signal: args.signal };
    const response = readResponse(spec, await transport(sent));
    if (response.status < 200 || response.status > 299) throw new GatewayClientError(spec.name, response);
    return response;
  }

  const client: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPERATIONS) as Array<[string, OperationSpec]>) {
    client[name] = (args: LooseArgs = {}) => invoke(spec, args);
  }
  client['call'] = (name: string, args: LooseArgs = {}) => {
    if (!Object.hasOwn(OPERATIONS, name)) return Promise.reject(new TypeError(`unknown operation ${JSON.stringify(name)}`));
    return invoke(OPERATIONS[name as OperationName], args);
  };
  return client as GatewayClient;
}

/** Binary operations keep their bytes when they succeed; everything else is JSON (or empty). */
function readResponse(spec: OperationSpec, response: TransportResponse): GatewayResponse {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) headers[name.toLowerCase()] = value;
  const ok = response.status >= 200 && response.status <= 299;
  if (ok && spec.response === 'binary') return { status: response.status, headers, body: response.body };
  if (response.body.length === 0) return { status: response.status, headers, body: undefined };
  const text = Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength).toString('utf8');
  try {
    return { status: response.status, headers, body: JSON.parse(text) as unknown };
  } catch {
    // Not JSON (a proxy's HTML error page): keep the text so the caller can see what came back.
    return { status: response.status, headers, body: text };
  }
}

/** The default transport: `fetch`, reading the whole answer. */
export const fetchTransport: Transport = async (request) => {
  const headers = { ...request.headers };
  // fetch derives Host from the URL (the value that was signed); it refuses to be given one.
  delete headers['host'];
  const response = await fetch(request.url, {
    method: request.method,
    headers,
    body: request.body,
    signal: request.signal ?? null,
    redirect: 'manual',
  });
  // No prototype: header names are the server's.
  const out: Record<string, string> = Object.create(null);
  response.headers.forEach((value, name) => {
    out[name] = value;
  });
  return { status: response.status, headers: out, body: new Uint8Array(await response.arrayBuffer()) };
};

function errorObject(body: unknown): Record<string, unknown> | undefined {
  return isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIssue(value: unknown): value is ErrorIssue {
  return isRecord(value) && typeof value['field'] === 'string' && typeof value['message'] === 'string';
}
