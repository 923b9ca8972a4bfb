import { createHash, createHmac } from 'node:crypto';
import busboy from 'busboy';
import { SignatureV4 } from '@smithy/signature-v4';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import {
  createGatewayClient,
  executeApiSigner,
  GatewayClientError,
  NodeSha256,
  signRequest,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from '../../lib/client/index.ts';
import type { DiditRequest, DiditResponse } from '../../lib/didit/client.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { API_GATEWAY_MESSAGES, localApiGateway, type RouteTarget } from '../support/local-api-gateway.ts';
import { JPEG, PNG } from '../support/api-events.ts';

// The typed client (request building, signing, answers and errors) and the API Gateway stand-in
// (signature checks, routing, proxy events), without a network.

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'AKIDUNITTEST0000', secretAccessKey: 'unit-test-secret-access-key/0000000000' };
const CALLER = { credentials: CREDENTIALS, userArn: 'arn:aws:iam::123456789012:user/unit-caller' };
const BASE = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';
const SESSION = '3f1c2a9e-5b7d-4c1e-9a2b-6d8e0f1a2b3c';
const WORKFLOW = '11111111-2222-4333-8444-555555555555';
const PDF = Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n', 'latin1');

function json(status: number, body: unknown, headers: Record<string, string> = {}): TransportResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(JSON.stringify(body)) };
}

/** A transport that records what it is given and answers from a queue (default 200 `{}`). */
function recorder(...answers: TransportResponse[]) {
  const sent: TransportRequest[] = [];
  const transport: Transport = async (request) => {
    sent.push(request);
    return answers.shift() ?? json(200, {});
  };
  return { sent, transport };
}

function client(transport: Transport, extra: Partial<Parameters<typeof createGatewayClient>[0]> = {}) {
  return createGatewayClient({ baseUrl: BASE, region: REGION, credentials: CREDENTIALS, transport, ...extra });
}

const text = (body: Uint8Array | undefined) => Buffer.from(body ?? new Uint8Array()).toString('utf8');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/**
 * SigV4 recomputed from AWS's specification, independently of the signer under test: the canonical
 * request (path URI-encoded twice as for every service but S3, sorted query, signed headers, body
 * hash), the string to sign, and the derived key.
 */
function independentSignature(request: TransportRequest, secret: string): string {
  const url = new URL(request.url);
  const auth = /Credential=[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=/.exec(request.headers['authorization']!)!;
  const [, day, region, service, signedHeaders] = auth as unknown as [string, string, string, string, string];
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonicalPath = url.pathname.split('/').map((seg) => enc(seg)).join('/');
  const canonicalQuery = [...new URLSearchParams(url.search)].map(([k, v]) => `${enc(k)}=${enc(v)}`).sort().join('&');
  const names = signedHeaders.split(';');
  const canonicalHeaders = names.map((n) => `${n}:${(n === 'host' ? url.host : request.headers[n]!).trim()}\n`).join('');
  const canonical = [request.method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, sha256(request.body ?? new Uint8Array())].join('\n');
  const amzDate = request.headers['x-amz-date']!;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, `${day}/${region}/${service}/aws4_request`, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

function multipartParts(request: TransportRequest): Promise<{ fields: Record<string, string>; files: Record<string, { filename: string; mimeType: string; data: Buffer }> }> {
  const fields: Record<string, string> = {};
  const files: Record<string, { filename: string; mimeType: string; data: Buffer }> = {};
  return new Promise((resolve, reject) => {
    const parser = busboy({ headers: { 'content-type': request.headers['content-type']! } });
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (name, stream, info: { filename?: string; mimeType: string }) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        files[name] = { filename: info.filename ?? '', mimeType: info.mimeType, data: Buffer.concat(chunks) };
      });
    });
    parser.on('error', reject);
    parser.on('close', () => resolve({ fields, files }));
    parser.end(Buffer.from(request.body!));
  });
}

describe('client: one signed method per operation', () => {
  it('has a method for every table entry (and `call`)', () => {
    const c = client(recorder().transport);
    for (const name of Object.keys(OPERATIONS)) expect(typeof (c as unknown as Record<string, unknown>)[name], name).toBe('function');
    expect(typeof c.call).toBe('function');
  });

  it('JSON operation: POST to the route under the stage, JSON body, SigV4 for execute-api that AWS would compute', async () => {
    const { sent, transport } = recorder(json(201, { session_id: SESSION }));
    const res = await client(transport).createSession({ input: { workflow_id: WORKFLOW, vendor_data: 'user-1' } });
    expect(res).toMatchObject({ status: 201, body: { session_id: SESSION } });
    const [request] = sent;
    expect(request).toMatchObject({ method: 'POST', url: `${BASE}/v1/sessions` });
    expect(JSON.parse(text(request!.body))).toEqual({ workflow_id: WORKFLOW, vendor_data: 'user-1' });
    expect(request!.headers).toMatchObject({ 'content-type': 'application/json', accept: 'application/json', host: 'abc123.execute-api.eu-west-1.amazonaws.com' });
    expect(request!.headers['authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDUNITTEST0000\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*\bhost\b[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    expect(request!.headers['authorization']).toContain('content-type');
    expect(request!.headers['x-amz-content-sha256']).toBe(sha256(request!.body!));
    expect(request!.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(request!.headers['authorization']!.endsWith(independentSignature(request!, CREDENTIALS.secretAccessKey))).toBe(true);
  });

  it('GET with path parameters and query: escaped as SigV4 canonicalises them, signature still AWS-correct', async () => {
    const { sent, transport } = recorder(json(200, { results: [] }), json(200, {}));
    await client(transport).listSessions({ query: { status: 'In Review', vendor_data: "a+b/c!'()*", limit: '5' } });
    const url = new URL(sent[0]!.url);
    expect(url.pathname).toBe('/prod/v1/sessions');
    expect(url.search).toBe("?status=In%20Review&vendor_data=a%2Bb%2Fc%21%27%28%29%2A&limit=5");
    expect(sent[0]!.body).toBeUndefined();
    expect(sent[0]!.headers['content-type']).toBeUndefined();
    expect(sent[0]!.headers['authorization']!.endsWith(independentSignature(sent[0]!, CREDENTIALS.secretAccessKey))).toBe(true);

    await client(transport).retrieveDecision({ params: { sessionId: 'a b/c' } });
    expect(new URL(sent[1]!.url).pathname).toBe('/prod/v1/sessions/a%20b%2Fc/decision');
    expect(sent[1]!.headers['authorization']!.endsWith(independentSignature(sent[1]!, CREDENTIALS.secretAccessKey))).toBe(true);
  });

  it('refuses to build a URL without a path parameter (it would be another route)', async () => {
    const { sent, transport } = recorder();
    const call = client(transport).retrieveDecision as unknown as (args: unknown) => Promise<unknown>;
    await expect(call({ params: {} })).rejects.toThrow(/retrieveDecision: params.sessionId is required/);
    expect(sent).toHaveLength(0);
  });

  it('multipart operation: text fields and file parts, types sniffed from the bytes unless given', async () => {
    const { sent, transport } = recorder(json(200, { id_verification: { status: 'Approved' } }));
    await client(transport).idVerification({
      files: { front_image: { data: JPEG }, back_image: { data: PNG, filename: 'back "side".png', contentType: 'image/png' } },
      input: { minimum_age: '18', perform_document_liveness: 'true' },
    });
    const request = sent[0]!;
    expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const parts = await multipartParts(request);
    expect(parts.fields).toEqual({ minimum_age: '18', perform_document_liveness: 'true' });
    expect(parts.files['front_image']).toMatchObject({ filename: 'front_image.jpg', mimeType: 'image/jpeg' });
    expect(parts.files['front_image']!.data.equals(JPEG)).toBe(true);
    expect(parts.files['back_image']).toMatchObject({ filename: 'back %22side%22.png', mimeType: 'image/png' });
    expect(request.headers['x-amz-content-sha256']).toBe(sha256(request.body!));
  });

  it('multipart operation as JSON with base64 files, only when asked', async () => {
    const { sent, transport } = recorder();
    await client(transport).faceMatch({ encoding: 'json-base64', files: { user_image: { data: JPEG }, ref_image: { data: PNG } }, input: { rotate_image: 'true' } });
    expect(sent[0]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(text(sent[0]!.body))).toEqual({ rotate_image: 'true', user_image: JPEG.toString('base64'), ref_image: PNG.toString('base64') });
  });

  it('binary operation: asks for application/pdf first and returns the bytes', async () => {
    const { sent, transport } = recorder({ status: 200, headers: { 'Content-Type': 'application/pdf' }, body: PDF });
    const res = await client(transport).generateSessionPdf({ params: { sessionId: SESSION } });
    expect(sent[0]!.headers['accept']!.split(',')[0]).toBe('application/pdf');
    expect(res.body).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(res.body).equals(PDF)).toBe(true);
    expect(res.headers['content-type']).toBe('application/pdf');
  });

  it('an empty answer (204) has an undefined body', async () => {
    const { transport } = recorder({ status: 204, headers: {}, body: new Uint8Array() });
    const res = await client(transport).deleteSession({ params: { sessionId: SESSION } });
    expect(res).toEqual({ status: 204, headers: {}, body: undefined });
  });

  it('non-2xx: GatewayClientError with the error body, code, issues, request id and Retry-After', async () => {
    const validation = { error: { code: 'VALIDATION_FAILED', message: 'The request is invalid; see `issues`.', requestId: 'req-1', issues: [{ field: 'workflow_id', message: 'must be a UUID' }] } };
    const { transport } = recorder(
      json(400, validation),
      json(429, { error: { code: 'RATE_LIMITED', message: 'Too many requests', requestId: 'req-2' } }, { 'Retry-After': '7' }),
      json(403, { message: 'Missing Authentication Token' }),
      { status: 502, headers: { 'content-type': 'text/html' }, body: Buffer.from('<html>bad gateway</html>') },
    );
    const c = client(transport);
    const bad = await c.createSession({ input: { workflow_id: 'nope' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(GatewayClientError);
    expect(bad).toMatchObject({ operation: 'createSession', status: 400, code: 'VALIDATION_FAILED', requestId: 'req-1', body: validation, issues: [{ field: 'workflow_id', message: 'must be a UUID' }] });
    expect((bad as Error).message).toBe('createSession: HTTP 400 VALIDATION_FAILED: The request is invalid; see `issues`.');

    const limited = await c.amlScreening({ input: { full_name: 'Ana' } }).catch((e: unknown) => e);
    expect(limited).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfterSeconds: 7 });

    const unsigned = await c.listWorkflows().catch((e: unknown) => e);
    expect(unsigned).toMatchObject({ status: 403, code: undefined, body: { message: 'Missing Authentication Token' } });
    expect((unsigned as Error).message).toContain('Missing Authentication Token');

    const html = await c.listWorkflows().catch((e: unknown) => e);
    expect(html).toMatchObject({ status: 502, body: '<html>bad gateway</html>' });
  });

  it('a credentials function is asked on every request; a session token is sent and signed', async () => {
    const provider = vi.fn(async () => ({ ...CREDENTIALS, sessionToken: 'session-token-1' }));
    const { sent, transport } = recorder();
    const c = createGatewayClient({ baseUrl: BASE, region: REGION, credentials: provider, transport });
    await c.listWorkflows();
    await c.listWorkflows();
    expect(provider).toHaveBeenCalledTimes(2);
    expect(sent[0]!.headers['x-amz-security-token']).toBe('session-token-1');
    expect(sent[0]!.headers['authorization']).toContain('x-amz-security-token');
  });

  it('`call` dispatches by name; unknown names and bad options are refused', async () => {
    const { sent, transport } = recorder();
    const c = client(transport);
    await c.call('getWorkflow', { params: { workflowId: WORKFLOW } });
    expect(new URL(sent[0]!.url).pathname).toBe(`/prod/v1/workflows/${WORKFLOW}`);
    await expect((c.call as (n: string) => Promise<unknown>)('toString')).rejects.toThrow(/unknown operation/);
    expect(() => createGatewayClient({ baseUrl: BASE, region: '', credentials: CREDENTIALS })).toThrow(/region is required/);
    expect(() => createGatewayClient({ baseUrl: `${BASE}?x=1`, region: REGION, credentials: CREDENTIALS })).toThrow(/query/);
  });

  it('the node:crypto SHA-256 gives the signer the AWS test-suite signature (get-vanilla)', async () => {
    const signer = new SignatureV4({
      service: 'service',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
      sha256: NodeSha256,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      { method: 'GET', protocol: 'https:', hostname: 'example.amazonaws.com', path: '/', query: {}, headers: { host: 'example.amazonaws.com' } },
      { signingDate: new Date('2015-08-30T12:36:00Z') },
    );
    expect(signed.headers['authorization']).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it('and the AWS test-suite signature of a request with a body (post-x-www-form-urlencoded: the payload is hashed)', async () => {
    const suite = { service: 'service', region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' } };
    const signer = new SignatureV4({ ...suite, sha256: NodeSha256, applyChecksum: false });
    const signed = await signer.sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname: 'example.amazonaws.com',
        path: '/',
        query: {},
        headers: { host: 'example.amazonaws.com', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Param1=value1',
      },
      { signingDate: new Date('2015-08-30T12:36:00Z') },
    );
    expect(signed.headers['authorization']).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
    );
  });
});

// ---- the API Gateway stand-in ------------------------------------------------------------------

/** A gateway whose functions record their event and answer `answer` (default 200 `{ok:true}`). */
function capturingGateway(answer?: (target: RouteTarget, event: APIGatewayProxyEvent) => APIGatewayProxyResult | Promise<APIGatewayProxyResult>, extra: Partial<Parameters<typeof localApiGateway>[0]> = {}) {
  const seen: Array<{ target: RouteTarget; event: APIGatewayProxyEvent }> = [];
  const gateway = localApiGateway({
    region: REGION,
    callers: [CALLER],
    binaryMediaTypes: ['multipart/form-data', 'application/pdf'],
    invoke: async (target, event) => {
      seen.push({ target, event });
      return answer === undefined ? { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' } : answer(target, event);
    },
    ...extra,
  });
  const c = createGatewayClient({ baseUrl: gateway.baseUrl, region: REGION, credentials: CREDENTIALS, transport: gateway.transport });
  const nameOf = (i: number) => {
    const t = seen[i]!.target;
    return t.kind === 'docs' ? 'docs' : t.spec.name;
  };
  return { gateway, client: c, seen, nameOf };
}

describe('local API Gateway: IAM authorisation', () => {
  it('an unsigned request is a 403 Missing Authentication Token and reaches no function', async () => {
    const { gateway, seen } = capturingGateway();
    const res = await gateway.transport({ method: 'GET', url: `${gateway.baseUrl}/v1/workflows`, headers: {} });
    expect(res.status).toBe(403);
    expect(JSON.parse(text(res.body))).toEqual({ message: API_GATEWAY_MESSAGES.missingToken });
    expect(seen).toHaveLength(0);
  });

  it('a tampered body, path or header is a 403 signature mismatch', async () => {
    const { gateway, seen } = capturingGateway();
    let tamper: (r: TransportRequest) => TransportRequest = (r) => r;
    const c = createGatewayClient({ baseUrl: gateway.baseUrl, region: REGION, credentials: CREDENTIALS, transport: (r) => gateway.transport(tamper(r)) });
    const mismatch = { status: 403, body: { message: API_GATEWAY_MESSAGES.mismatch } };

    tamper = (r) => ({ ...r, body: Buffer.from(text(r.body).replace('user-1', 'user-2')) });
    await expect(c.createSession({ input: { workflow_id: WORKFLOW, vendor_data: 'user-1' } })).rejects.toMatchObject(mismatch);
    tamper = (r) => ({ ...r, url: r.url.replace(SESSION, '00000000-0000-4000-8000-000000000000') });
    await expect(c.retrieveDecision({ params: { sessionId: SESSION } })).rejects.toMatchObject(mismatch);
    tamper = (r) => ({ ...r, headers: { ...r.headers, 'content-type': 'text/plain' } });
    await expect(c.createSession({ input: { workflow_id: WORKFLOW } })).rejects.toMatchObject(mismatch);
    tamper = (r) => ({ ...r, url: `${r.url}?limit=1` });
    await expect(c.listSessions()).rejects.toMatchObject(mismatch);
    expect(seen).toHaveLength(0);

    // Unsigned headers may change on the way (API Gateway does not check them).
    tamper = (r) => ({ ...r, headers: { ...r.headers, 'user-agent': 'proxy/1.0' } });
    await expect(c.listSessions()).resolves.toMatchObject({ status: 200 });
  });

  it('a wrong secret, an unknown key, another region and an old signature are refused', async () => {
    const { gateway, seen } = capturingGateway();
    const via = (extra: Partial<Parameters<typeof createGatewayClient>[0]>) =>
      createGatewayClient({ baseUrl: gateway.baseUrl, region: REGION, credentials: CREDENTIALS, transport: gateway.transport, ...extra }).listWorkflows();
    await expect(via({ credentials: { ...CREDENTIALS, secretAccessKey: 'wrong' } })).rejects.toMatchObject({ status: 403, body: { message: API_GATEWAY_MESSAGES.mismatch } });
    await expect(via({ credentials: { ...CREDENTIALS, accessKeyId: 'AKIDSOMEONEELSE0' } })).rejects.toMatchObject({ status: 403, body: { message: API_GATEWAY_MESSAGES.unknownKey } });
    await expect(via({ region: 'us-east-1' })).rejects.toMatchObject({ status: 403, body: { message: expect.stringMatching(/valid region/) } });
    await expect(via({ now: () => new Date(Date.now() - 10 * 60_000) })).rejects.toMatchObject({ status: 403, body: { message: expect.stringMatching(/^Signature expired/) } });
    await expect(via({ credentials: { ...CREDENTIALS, sessionToken: 'not-registered' } })).rejects.toMatchObject({ status: 403 });
    expect(seen).toHaveLength(0);
    await expect(via({})).resolves.toMatchObject({ status: 200 });
  });
});

describe('local API Gateway: routes and proxy events', () => {
  it('literal segments win over parameters; a method missing on the matched resource is a 403', async () => {
    const { gateway, client: c, nameOf } = capturingGateway();
    await c.batchDeleteSessions({ input: { delete_all: true } });
    await c.importSharedSession({ input: { share_token: 'token-123456', trust_review: true, workflow_id: WORKFLOW } });
    await c.deleteSession({ params: { sessionId: SESSION } });
    await c.retrieveDecision({ params: { sessionId: SESSION } });
    expect([0, 1, 2, 3].map(nameOf)).toEqual(['batchDeleteSessions', 'importSharedSession', 'deleteSession', 'retrieveDecision']);

    // `/v1/sessions/delete` is a resource of its own (POST only): DELETE there does not fall back to {sessionId}.
    const signedDelete = createGatewayClient({
      baseUrl: gateway.baseUrl,
      region: REGION,
      credentials: CREDENTIALS,
      transport: gateway.transport,
    });
    await expect(signedDelete.deleteSession({ params: { sessionId: 'delete' } })).rejects.toMatchObject({ status: 403, body: { message: API_GATEWAY_MESSAGES.missingToken } });
    const unknown = await gateway.transport({ method: 'GET', url: `${gateway.baseUrl}/v1/nothing-here`, headers: {} });
    expect(unknown.status).toBe(403);
    const wrongStage = await gateway.transport({ method: 'GET', url: gateway.baseUrl.replace(/\/test$/, '/prod/v1/workflows'), headers: {} });
    expect(wrongStage.status).toBe(403);
  });

  it('builds the REST v1 proxy event: parameters, query, headers, identity of the signer', async () => {
    const { client: c, seen } = capturingGateway();
    await c.getWebhookDestination({ params: { destinationId: WORKFLOW }, query: { seal: 'true' } });
    const { event } = seen[0]!;
    expect(event).toMatchObject({
      httpMethod: 'GET',
      resource: '/v1/webhook-destinations/{destinationId}',
      path: `/v1/webhook-destinations/${WORKFLOW}`,
      pathParameters: { destinationId: WORKFLOW },
      queryStringParameters: { seal: 'true' },
      multiValueQueryStringParameters: { seal: ['true'] },
      body: null,
      isBase64Encoded: false,
      requestContext: {
        apiId: expect.any(String),
        httpMethod: 'GET',
        stage: 'test',
        resourcePath: '/v1/webhook-destinations/{destinationId}',
        path: `/test/v1/webhook-destinations/${WORKFLOW}`,
        identity: { userArn: CALLER.userArn, accessKey: CREDENTIALS.accessKeyId, accountId: '123456789012' },
      },
    });
    expect(event.headers['authorization']).toMatch(/^AWS4-HMAC-SHA256 /);
  });

  it('multipart bodies reach the function base64-encoded (a binary media type), JSON bodies as text', async () => {
    const { client: c, seen } = capturingGateway();
    await c.passiveLiveness({ files: { user_image: { data: JPEG } } });
    await c.passiveLiveness({ files: { user_image: { data: JPEG } }, encoding: 'json-base64' });
    expect(seen[0]!.event.isBase64Encoded).toBe(true);
    expect(Buffer.from(seen[0]!.event.body!, 'base64').includes(JPEG)).toBe(true);
    expect(seen[1]!.event.isBase64Encoded).toBe(false);
    expect(JSON.parse(seen[1]!.event.body!)).toEqual({ user_image: JPEG.toString('base64') });
  });

  it('a base64 answer is decoded only when the first Accept type is binary, as API Gateway does', async () => {
    const pdfAnswer = (): APIGatewayProxyResult => ({ statusCode: 200, headers: { 'content-type': 'application/pdf' }, body: PDF.toString('base64'), isBase64Encoded: true });
    const decoded = capturingGateway(pdfAnswer);
    const res = await decoded.client.generateSessionPdf({ params: { sessionId: SESSION } });
    expect(Buffer.from(res.body).equals(PDF)).toBe(true);

    const notBinary = capturingGateway(pdfAnswer, { binaryMediaTypes: ['multipart/form-data'] });
    const raw = await notBinary.client.generateSessionPdf({ params: { sessionId: SESSION } });
    expect(Buffer.from(raw.body).toString('utf8')).toBe(PDF.toString('base64'));
  });

  it('a function that throws is a 502, one slower than the integration timeout a 504', async () => {
    const failing = capturingGateway(() => {
      throw new Error('boom');
    });
    await expect(failing.client.listWorkflows()).rejects.toMatchObject({ status: 502, body: { message: API_GATEWAY_MESSAGES.internal } });
    const slow = capturingGateway(() => new Promise(() => {}), { integrationTimeoutMs: 50 });
    await expect(slow.client.listWorkflows()).rejects.toMatchObject({ status: 504, body: { message: API_GATEWAY_MESSAGES.timeout } });
  });

  it('serves the documentation route from the docs function (a route that is not a table entry)', async () => {
    const gateway = localApiGateway({ region: REGION, callers: [CALLER] });
    const url = new URL(`${gateway.baseUrl}/v1/openapi.json`);
    const signer = executeApiSigner({ region: REGION, credentials: CREDENTIALS });
    const headers = await signRequest(signer, { method: 'GET', url, path: url.pathname, query: {}, headers: { host: url.host, accept: 'application/json' } });
    const res = await gateway.transport({ method: 'GET', url: url.href, headers });
    expect(res.status).toBe(200);
    expect(JSON.parse(text(res.body))).toMatchObject({ openapi: '3.1.0' });
    expect(gateway.calls.map((c) => c.functionName)).toEqual(['openApiDocument']);
    const unsigned = await gateway.transport({ method: 'GET', url: url.href, headers: {} });
    expect(unsigned.status).toBe(403);
  });
});

describe('client → API Gateway stand-in → real handler', () => {
  /** Dependencies whose "Didit" answers from `reply`; the key is a dummy (no KMS here). */
  function fakeDependencies(reply: (request: DiditRequest) => Partial<DiditResponse>) {
    const requests: DiditRequest[] = [];
    const deps = {
      config: { service: 'didit-kms-gateway', stage: 'unit', region: REGION, kmsKeyId: undefined },
      encryptionContext: { service: 'didit-kms-gateway', stage: 'unit', purpose: 'didit-api-key' },
      sealedKey: { withKey: async <T>(fn: (key: unknown) => Promise<T>) => fn(Buffer.from('dummy')) },
      didit: {
        send: async (_key: unknown, request: DiditRequest): Promise<DiditResponse> => {
          requests.push(request);
          const body = reply(request);
          return { status: 200, contentType: 'application/json', contentDisposition: undefined, json: undefined, body: Buffer.alloc(0), rateLimit: {}, attempts: 1, ...body };
        },
        close: () => undefined,
      },
    } as unknown as GatewayDependencies;
    return { deps, requests };
  }

  it('a valid call reaches "Didit" with the validated input; an invalid one is a typed 400 and never does', async () => {
    const { deps, requests } = fakeDependencies(() => ({ status: 201, json: { session_id: SESSION }, rateLimit: { limit: 600, remaining: 599 } }));
    const gateway = localApiGateway({ region: REGION, callers: [CALLER], dependencies: () => deps });
    const c = createGatewayClient({ baseUrl: gateway.baseUrl, region: REGION, credentials: CREDENTIALS, transport: gateway.transport });

    const ok = await c.createSession({ input: { workflow_id: WORKFLOW, vendor_data: 'user-1' } });
    expect(ok).toMatchObject({ status: 201, body: { session_id: SESSION }, headers: { 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '599' } });
    expect(ok.headers['x-request-id']).toBeDefined();
    expect(requests[0]).toMatchObject({ method: 'POST', path: '/v3/session/', body: { kind: 'json', value: { workflow_id: WORKFLOW, vendor_data: 'user-1' } } });

    const bad = await c.createSession({ input: { workflow_id: 'not-a-uuid' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(GatewayClientError);
    expect(bad).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', issues: [{ field: 'workflow_id', message: 'must be a UUID' }] });
    expect(requests).toHaveLength(1);
  });

  it('multipart and JSON-base64 uploads arrive as the same files; a PDF answer comes back as bytes', async () => {
    const { deps, requests } = fakeDependencies((r) =>
      r.path.includes('generate-pdf') ? { contentType: 'application/pdf', body: PDF } : { json: { ok: true } },
    );
    const gateway = localApiGateway({ region: REGION, callers: [CALLER], dependencies: () => deps, binaryMediaTypes: ['multipart/form-data', 'application/pdf'] });
    const c = createGatewayClient({ baseUrl: gateway.baseUrl, region: REGION, credentials: CREDENTIALS, transport: gateway.transport });
    for (const encoding of ['multipart', 'json-base64'] as const) {
      await c.idVerification({ encoding, files: { front_image: { data: JPEG } }, input: { minimum_age: '21' } });
    }
    const bodies = requests.map((r) => r.body);
    for (const body of bodies) {
      expect(body.kind).toBe('multipart');
      if (body.kind !== 'multipart') continue;
      const fields = Object.fromEntries(body.fields);
      expect(fields['minimum_age']).toBe('21');
      expect(fields['front_image']).toMatchObject({ contentType: 'image/jpeg' });
      expect(Buffer.from((fields['front_image'] as { data: Uint8Array }).data).equals(JPEG)).toBe(true);
    }
    const pdf = await c.generateSessionPdf({ params: { sessionId: SESSION } });
    expect(Buffer.from(pdf.body).equals(PDF)).toBe(true);
  });
});
