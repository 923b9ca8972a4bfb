/**
 * A stand-in for API Gateway (REST API, IAM authorisation, Lambda proxy integration) as a transport
 * for lib/client: the client's signed requests reach the real handlers without a network or an AWS
 * account, and are checked the way API Gateway checks them.
 *
 *   1. route: the stage and the path are matched against the table's routes (and the documentation
 *      route), literal segments winning over `{parameters}` as in API Gateway's resource tree; an
 *      unknown route or method is a 403 "Missing Authentication Token", like API Gateway's;
 *   2. SigV4: the signature is recomputed with the known test credentials by the same signer over the
 *      request as received (body hash recomputed from the bytes, not taken from the header); absent,
 *      unknown, expired or mismatching signatures get API Gateway's 403 bodies;
 *   3. the proxy event: path parameters, query (single and multi-value), headers, body (base64 when the
 *      content type is one of serverless.yml's binaryMediaTypes), requestContext with the signer's ARN;
 *   4. the real handler (`createOperationHandler(spec, { dependencies })`), with the function's timeout
 *      from the generated serverless configuration and API Gateway's 29 s integration limit;
 *   5. the answer: base64 bodies decoded only when the first Accept type is a binary media type (as API
 *      Gateway does; otherwise the caller gets the base64 text), a thrown handler is a 502.
 *
 * @example
 * ```ts
 * const gateway = localApiGateway({ region: 'us-east-1', callers: [{ credentials, userArn }], dependencies: () => deps });
 * const client = createGatewayClient({ baseUrl: gateway.baseUrl, region: 'us-east-1', credentials, transport: gateway.transport });
 * ```
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignatureV4 } from '@smithy/signature-v4';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { load } from 'js-yaml';
import { handler as docsHandler } from '../../functions/openapi.ts';
import { DOCS_FUNCTION, serverlessFunctions } from '../../infra/serverless/functions.ts';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { EXECUTE_API, NodeSha256, signRequest, type AwsCredentials } from '../../lib/client/sigv4.ts';
import type { Transport, TransportRequest, TransportResponse } from '../../lib/client/types.ts';
import { lambdaContext } from './api-events.ts';

type LambdaHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface KnownCaller {
  readonly credentials: AwsCredentials;
  /** What API Gateway puts in requestContext.identity.userArn for this caller. */
  readonly userArn: string;
}

export interface LocalApiGatewayOptions {
  readonly region: string;
  /** The IAM principals whose signatures are accepted. */
  readonly callers: readonly KnownCaller[];
  /** For the real handlers; not needed when `invoke` is given. */
  readonly dependencies?: () => GatewayDependencies;
  /** Replaces the handler call (unit tests capture the event); default: the real handler of the entry. */
  readonly invoke?: (target: RouteTarget, event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
  readonly operations?: Readonly<Record<string, OperationSpec>>;
  /** Default 'test'. */
  readonly stage?: string;
  /** Default: serverless.yml's provider.apiGateway.binaryMediaTypes. */
  readonly binaryMediaTypes?: readonly string[];
  /** Default 29 s, API Gateway's integration timeout. */
  readonly integrationTimeoutMs?: number;
  /** Clock for the signature's time check. */
  readonly now?: () => Date;
}

/** What a route leads to: a table entry, or the documentation function. */
export type RouteTarget = { readonly kind: 'operation'; readonly spec: OperationSpec } | { readonly kind: 'docs' };

export interface ReceivedCall {
  readonly functionName: string;
  readonly event: APIGatewayProxyEvent;
}

export interface LocalApiGateway {
  /** `https://<api>.execute-api.<region>.amazonaws.com/<stage>`: give it to the client as its baseUrl. */
  readonly baseUrl: string;
  readonly transport: Transport;
  /** The events handed to functions, in order. */
  readonly calls: readonly ReceivedCall[];
}

const API_ID = 'localapi01';
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;
const SIGNATURE_WINDOW_MS = 5 * 60_000;

export const API_GATEWAY_MESSAGES = {
  missingToken: 'Missing Authentication Token',
  incompleteSignature:
    "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
  unknownKey: 'The security token included in the request is invalid.',
  mismatch:
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  internal: 'Internal server error',
  timeout: 'Endpoint request timed out',
  tooLarge: 'Request Too Long',
} as const;

interface Route {
  readonly method: string;
  readonly path: string;
  readonly segments: readonly string[];
  readonly functionName: string;
  readonly target: RouteTarget;
  readonly timeoutMs: number;
}

export function localApiGateway(options: LocalApiGatewayOptions): LocalApiGateway {
  const stage = options.stage ?? 'test';
  const host = `${API_ID}.execute-api.${options.region}.amazonaws.com`;
  const baseUrl = `https://${host}/${stage}`;
  const operations = options.operations ?? OPERATIONS;
  const routes = routesOf(operations);
  const binaryTypes = options.binaryMediaTypes ?? serverlessBinaryMediaTypes();
  const integrationTimeoutMs = options.integrationTimeoutMs ?? 29_000;
  const now = options.now ?? (() => new Date());
  const calls: ReceivedCall[] = [];
  const handlers = new Map<string, LambdaHandler>();

  const invoke =
    options.invoke ??
    ((target: RouteTarget, event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
      if (target.kind === 'docs') return docsHandler(event, context);
      let handler = handlers.get(target.spec.name);
      if (handler === undefined) {
        const dependencies = options.dependencies;
        if (dependencies === undefined) throw new Error('localApiGateway: `dependencies` is needed to run the real handlers');
        handler = createOperationHandler(target.spec, { dependencies }) as LambdaHandler;
        handlers.set(target.spec.name, handler);
      }
      return handler(event, context);
    });

  const transport: Transport = async (request) => {
    const url = new URL(request.url);
    const body = request.body ?? new Uint8Array();
    if (url.host !== host) throw new Error(`localApiGateway: no API at ${url.host} (this one is ${host})`);
    const found = matchRoute(routes, stage, url.pathname, request.method);
    if (found === undefined) return apiGatewayError(403, 'MissingAuthenticationTokenException', API_GATEWAY_MESSAGES.missingToken);
    if (body.length > MAX_PAYLOAD_BYTES) return apiGatewayError(413, 'RequestTooLarge', API_GATEWAY_MESSAGES.tooLarge);
    const auth = await verifySignature(request, url, body, options, now());
    if (!auth.ok) return auth.response;

    const event = proxyEvent({ request, url, body, route: found.route, pathParameters: found.params, stage, host, caller: auth.caller, binaryTypes });
    calls.push({ functionName: found.route.functionName, event });
    const context = lambdaContext({ remainingMs: found.route.timeoutMs });
    let result: APIGatewayProxyResult;
    try {
      result = await withTimeout(invoke(found.route.target, event, context), integrationTimeoutMs);
    } catch (err) {
      if (err instanceof IntegrationTimeout) return apiGatewayError(504, 'IntegrationTimeout', API_GATEWAY_MESSAGES.timeout);
      return apiGatewayError(502, 'InternalServerErrorException', API_GATEWAY_MESSAGES.internal);
    }
    return proxyResponse(result, request.headers['accept'], binaryTypes);
  };

  return { baseUrl, transport, calls };
}

// ---- routing -----------------------------------------------------------------------------------

function routesOf(operations: Readonly<Record<string, OperationSpec>>): Route[] {
  const functions = serverlessFunctions(operations) as Record<string, { timeout: number }>;
  const routes: Route[] = Object.entries(operations).map(([name, spec]) => ({
    method: spec.route.method,
    path: spec.route.path,
    segments: segmentsOf(spec.route.path),
    functionName: name,
    target: { kind: 'operation', spec },
    timeoutMs: functions[name]!.timeout * 1000,
  }));
  routes.push({
    method: DOCS_FUNCTION.route.method,
    path: DOCS_FUNCTION.route.path,
    segments: segmentsOf(DOCS_FUNCTION.route.path),
    functionName: DOCS_FUNCTION.name,
    target: { kind: 'docs' },
    timeoutMs: DOCS_FUNCTION.timeoutSeconds * 1000,
  });
  return routes;
}

function segmentsOf(path: string): string[] {
  return path.split('/').slice(1);
}

const isParameter = (segment: string): boolean => /^\{\w+\}$/.test(segment);

/**
 * Finds the resource for a path as API Gateway does: segment by segment, a literal segment beats a
 * parameter (so `/v1/sessions/delete` is that resource, never `/v1/sessions/{sessionId}`); then the
 * method must exist on that resource, with no fallback to a less specific one.
 */
function matchRoute(
  routes: readonly Route[],
  stage: string,
  wirePath: string,
  method: string,
): { route: Route; params: Record<string, string> } | undefined {
  const parts = segmentsOf(wirePath);
  if (parts[0] !== stage) return undefined;
  const segments = parts.slice(1);
  if (segments.some((s) => s === '')) return undefined;
  const candidates = routes.filter(
    (r) => r.segments.length === segments.length && r.segments.every((s, i) => isParameter(s) || s === segments[i]),
  );
  if (candidates.length === 0) return undefined;
  const resource = candidates.reduce((best, r) => (moreSpecific(r.segments, best.segments) ? r : best)).path;
  const route = candidates.find((r) => r.path === resource && r.method === method.toUpperCase());
  if (route === undefined) return undefined;
  const params: Record<string, string> = {};
  // REST APIs pass path parameters as they appear in the URL (not percent-decoded).
  route.segments.forEach((s, i) => {
    if (isParameter(s)) params[s.slice(1, -1)] = segments[i]!;
  });
  return { route, params };
}

function moreSpecific(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const literalA = !isParameter(a[i]!);
    const literalB = !isParameter(b[i]!);
    if (literalA !== literalB) return literalA;
  }
  return false;
}

// ---- SigV4 -------------------------------------------------------------------------------------

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

type Verified = { ok: true; caller: KnownCaller } | { ok: false; response: TransportResponse };

async function verifySignature(
  request: TransportRequest,
  url: URL,
  body: Uint8Array,
  options: LocalApiGatewayOptions,
  now: Date,
): Promise<Verified> {
  const fail = (type: string, message: string): Verified => ({ ok: false, response: apiGatewayError(403, type, message) });
  const authorization = request.headers['authorization'];
  if (authorization === undefined) return fail('MissingAuthenticationTokenException', API_GATEWAY_MESSAGES.missingToken);
  const parsed = AUTHORIZATION.exec(authorization);
  const amzDate = request.headers['x-amz-date'];
  if (parsed === null || amzDate === undefined) return fail('IncompleteSignatureException', API_GATEWAY_MESSAGES.incompleteSignature);
  const [, accessKeyId, day, region, service, signedHeaderList] = parsed as unknown as [string, string, string, string, string, string];
  const caller = options.callers.find((c) => c.credentials.accessKeyId === accessKeyId);
  // Temporary credentials: the token must be the one issued with the key (and present when one was).
  if (caller === undefined || request.headers['x-amz-security-token'] !== caller.credentials.sessionToken) {
    return fail('UnrecognizedClientException', API_GATEWAY_MESSAGES.unknownKey);
  }
  if (region !== options.region) return fail('InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'.`);
  if (service !== EXECUTE_API) return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${EXECUTE_API}'.`);

  const signingDate = parseAmzDate(amzDate);
  if (signingDate === undefined || amzDate.slice(0, 8) !== day) return fail('IncompleteSignatureException', API_GATEWAY_MESSAGES.incompleteSignature);
  if (now.getTime() - signingDate.getTime() > SIGNATURE_WINDOW_MS) {
    return fail('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier than ${amzDateOf(new Date(now.getTime() - SIGNATURE_WINDOW_MS))} (${amzDateOf(now)} - 5 min.)`);
  }
  if (signingDate.getTime() - now.getTime() > SIGNATURE_WINDOW_MS) {
    return fail('InvalidSignatureException', `Signature not yet current: ${amzDate} is still later than ${amzDateOf(new Date(now.getTime() + SIGNATURE_WINDOW_MS))} (${amzDateOf(now)} + 5 min.)`);
  }

  // Only the headers the caller signed, with the values received; the body hash from the bytes received.
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) return fail('InvalidSignatureException', API_GATEWAY_MESSAGES.mismatch);
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = request.headers[name];
    if (value === undefined) return fail('InvalidSignatureException', API_GATEWAY_MESSAGES.mismatch);
    headers[name] = value;
  }
  const bodyHash = createHash('sha256').update(body).digest('hex');
  if ('x-amz-content-sha256' in headers) headers['x-amz-content-sha256'] = bodyHash;
  const signer = new SignatureV4({
    service,
    region,
    credentials: async () => caller.credentials,
    sha256: NodeSha256,
    applyChecksum: signedHeaders.includes('x-amz-content-sha256'),
  });
  const resigned = await signRequest(
    signer,
    { method: request.method, url, path: url.pathname, query: queryOf(url).single, headers, body: body.length === 0 ? undefined : body },
    signingDate,
  );
  const expected = Buffer.from(resigned['authorization'] ?? '');
  const received = Buffer.from(authorization);
  if (expected.length !== received.length || !timingSafeEqual(expected, received)) {
    return fail('InvalidSignatureException', API_GATEWAY_MESSAGES.mismatch);
  }
  return { ok: true, caller };
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

function amzDateOf(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// ---- the proxy event and the answer ------------------------------------------------------------

/** Query values percent-decoded, last value winning in `single` (API Gateway's queryStringParameters). */
function queryOf(url: URL): { single: Record<string, string>; multi: Record<string, string[]> } {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const pair of url.search.replace(/^\?/, '').split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
    const value = at < 0 ? '' : decodeURIComponent(pair.slice(at + 1));
    single[name] = value;
    multi[name] = [...(multi[name] ?? []), value];
  }
  return { single, multi };
}

function proxyEvent(input: {
  request: TransportRequest;
  url: URL;
  body: Uint8Array;
  route: Route;
  pathParameters: Record<string, string>;
  stage: string;
  host: string;
  caller: KnownCaller;
  binaryTypes: readonly string[];
}): APIGatewayProxyEvent {
  const { request, url, body, route, caller } = input;
  const query = queryOf(url);
  const headers: Record<string, string> = {
    ...request.headers,
    'x-forwarded-for': '127.0.0.1',
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
    'x-amzn-trace-id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)}`,
  };
  const contentType = request.headers['content-type'];
  const binary = contentType !== undefined && isBinaryType(contentType, input.binaryTypes);
  const path = url.pathname.slice(input.stage.length + 1);
  const accountId = /^arn:aws:(?:iam|sts)::(\d{12}):/.exec(caller.userArn)?.[1] ?? '000000000000';
  const now = Date.now();
  return {
    resource: route.path,
    path,
    httpMethod: request.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: Object.keys(query.single).length === 0 ? null : query.single,
    multiValueQueryStringParameters: Object.keys(query.multi).length === 0 ? null : query.multi,
    pathParameters: Object.keys(input.pathParameters).length === 0 ? null : input.pathParameters,
    stageVariables: null,
    body: body.length === 0 ? null : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString(binary ? 'base64' : 'utf8'),
    isBase64Encoded: body.length > 0 && binary,
    requestContext: {
      accountId,
      apiId: API_ID,
      authorizer: null,
      domainName: input.host,
      domainPrefix: API_ID,
      extendedRequestId: randomUUID(),
      httpMethod: request.method,
      identity: {
        accessKey: caller.credentials.accessKeyId,
        accountId,
        apiKey: null,
        apiKeyId: null,
        caller: caller.credentials.accessKeyId,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '127.0.0.1',
        user: caller.credentials.accessKeyId,
        userAgent: request.headers['user-agent'] ?? null,
        userArn: caller.userArn,
      },
      path: url.pathname,
      protocol: 'HTTP/1.1',
      requestId: randomUUID(),
      requestTime: new Date(now).toUTCString(),
      requestTimeEpoch: now,
      resourceId: route.functionName,
      resourcePath: route.path,
      stage: input.stage,
    },
  };
}

function proxyResponse(result: APIGatewayProxyResult, accept: string | undefined, binaryTypes: readonly string[]): TransportResponse {
  if (typeof result?.statusCode !== 'number') return apiGatewayError(502, 'InternalServerErrorException', API_GATEWAY_MESSAGES.internal);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.multiValueHeaders ?? {})) headers[name.toLowerCase()] = value.map(String).join(', ');
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
  headers['x-amzn-requestid'] = randomUUID();
  const text = result.body ?? '';
  // API Gateway decodes a base64 answer only when the caller's first Accept type is a binary media type.
  const firstAccept = accept?.split(',')[0]?.trim();
  const decode = result.isBase64Encoded === true && firstAccept !== undefined && isBinaryType(firstAccept, binaryTypes);
  return { status: result.statusCode, headers, body: decode ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8') };
}

function apiGatewayError(status: number, type: string, message: string): TransportResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID() },
    body: Buffer.from(JSON.stringify({ message })),
  };
}

/** `type/subtype` against binaryMediaTypes entries, which may use `*` wildcards. */
function isBinaryType(contentType: string, binaryTypes: readonly string[]): boolean {
  const [type = '', subtype = ''] = (contentType.split(';')[0] ?? '').trim().toLowerCase().split('/');
  return binaryTypes.some((entry) => {
    const [t = '', s = ''] = entry.toLowerCase().split('/');
    return (t === '*' || t === type) && (s === '*' || s === subtype);
  });
}

function serverlessBinaryMediaTypes(): string[] {
  const config = load(readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8')) as {
    provider?: { apiGateway?: { binaryMediaTypes?: string[] } };
  };
  return config.provider?.apiGateway?.binaryMediaTypes ?? [];
}

class IntegrationTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new IntegrationTimeout()), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
