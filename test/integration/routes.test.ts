import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { provisionSealedKey, resealSecret, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { testEmulator } from '../support/aws.ts';
import { JPEG, apiEvent, lambdaContext, multipartBody } from '../support/api-events.ts';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { OPERATIONS, type OperationName } from '../../lib/operations/table.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { loadConfig } from '../../lib/runtime/config.ts';

// The four routes end to end: handler → sealed key (KMS on the emulator) → Didit client → sandbox.
const WORKFLOW = '11111111-2222-4333-8444-555555555555';
const em = testEmulator();
let sandbox: Sandbox;
let sealed: SealedKeyResources;
let deps: GatewayDependencies;
let logs: string[] = [];
const allLogs: string[] = [];

function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    STAGE: 'routes',
    SEALED_KEY_SECRET_ID: sealed.secretId,
    KMS_KEY_ID: sealed.kmsKeyArn,
    DIDIT_BASE_URL: sandbox.url,
    DIDIT_CA_FILE: sandbox.caFile,
    AWS_REGION: em.region,
    CIPHERTEXT_TTL_SECONDS: '300',
    ...extra,
  };
}

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: em.endpoint,
    AWS_REGION: em.region,
    AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
  });
  sandbox = await startSandbox();
  sealed = await provisionSealedKey(em, { stage: 'routes', apiKey: sandbox.apiKey });
  deps = createDependencies(loadConfig(environment()));
  // Capture the structured logs (Powertools writes JSON lines to stdout, errors to stderr).
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      logs.push(text);
      allLogs.push(text);
      for (const heard of [...listeners]) heard(text);
      return (write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
  }
});

afterAll(async () => {
  deps?.didit.close();
  if (sealed) await teardownSealedKey(em, sealed);
  await sandbox?.close();
});

beforeEach(() => {
  sandbox.reset();
  logs = [];
});

function call(name: OperationName, event: Parameters<ReturnType<typeof createOperationHandler>>[0], d = deps, remainingMs = 30_000) {
  return createOperationHandler(OPERATIONS[name], { dependencies: () => d })(event, lambdaContext({ remainingMs })) as Promise<APIGatewayProxyResult>;
}

const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const createEvent = (body: unknown) => apiEvent({ method: 'POST', path: '/v1/sessions', ...json(body) });
const decisionEvent = (sessionId: string) =>
  apiEvent({ method: 'GET', path: `/v1/sessions/${sessionId}/decision`, pathParameters: { sessionId } });
const amlEvent = (body: unknown) => apiEvent({ method: 'POST', path: '/v1/aml', ...json(body) });
const body = (r: APIGatewayProxyResult) => JSON.parse(r.body) as Record<string, any>;
const audits = () => logs.filter((l) => l.includes('"audit":"didit-key-use"')).map((l) => JSON.parse(l) as Record<string, unknown>);

/** Log lines are handed to these as they are written (see the capture in beforeAll). */
const listeners = new Set<(text: string) => void>();
/** The first audit record of this test: already logged, or the next one to be. */
function audited(): Promise<Record<string, unknown>> {
  const [first] = audits();
  if (first !== undefined) return Promise.resolve(first);
  return new Promise((resolve) => {
    const heard = (text: string) => {
      if (!text.includes('"audit":"didit-key-use"')) return;
      listeners.delete(heard);
      resolve(JSON.parse(text) as Record<string, unknown>);
    };
    listeners.add(heard);
  });
}

describe('the four routes', () => {
  it('create session: 201 with the Didit body, rate-limit headers and one audit record', async () => {
    const res = await call('createSession', createEvent({ workflow_id: WORKFLOW, vendor_data: 'user-1' }));
    expect(res.statusCode).toBe(201);
    expect(body(res)).toMatchObject({ workflow_id: WORKFLOW, status: 'Not Started', vendor_data: 'user-1' });
    expect(res.headers?.['x-ratelimit-limit']).toBe('600');
    expect(sandbox.count({ method: 'POST', pathPrefix: '/v3/session/', keyMatched: true })).toBe(1);
    const [audit, ...more] = audits();
    expect(more).toEqual([]);
    expect(audit).toMatchObject({
      operation: 'createSession',
      caller: 'arn:aws:iam::000000000000:user/test-caller',
      encryptionContext: { service: 'didit-kms-gateway', stage: 'routes', purpose: 'didit-api-key' },
      diditStatus: 201,
      outcome: 'success',
    });
    expect(audit!['ciphertextFingerprint']).toMatch(/^sha256:[0-9a-f]{16}$/);
    // EMF metrics for CloudWatch: KMS and Didit latency, the Didit status class, by operation.
    const emf = logs.map((l) => l.trim()).filter((l) => l.startsWith('{') && l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ operation: 'createSession', DiditStatus2xx: 1 });
    expect(emf[0]!['KmsDecryptLatency']).toBeTypeOf('number');
    expect(emf[0]!['DiditLatency']).toBeTypeOf('number');
    expect(String(audit!['kmsKeyId'])).toContain(sealed.kmsKeyId);
  });

  it('create session: bad input is a 400 with field issues and never reaches Didit', async () => {
    const res = await call('createSession', createEvent({ workflow_id: 'not-a-uuid', colour: 'red' }));
    expect(res.statusCode).toBe(400);
    expect(body(res).error).toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [
        { field: 'workflow_id', message: 'must be a UUID' },
        { field: 'colour', message: 'is not a known field' },
      ],
    });
    expect(sandbox.received.length).toBe(0);
    expect(audits()).toEqual([]); // no key use at all
  });

  it('retrieve decision: 200 for a real session, 404 for an unknown one, 400 without calling Didit for a bad id', async () => {
    const created = body(await call('createSession', createEvent({ workflow_id: WORKFLOW })));
    const ok = await call('retrieveDecision', decisionEvent(created['session_id']));
    expect(ok.statusCode).toBe(200);
    expect(body(ok)).toMatchObject({ session_id: created['session_id'], status: 'Not Started' });
    const missing = await call('retrieveDecision', decisionEvent('0b0c3f43-3c35-4bb4-8f44-2d1c1f0c9a11'));
    expect(missing.statusCode).toBe(404);
    expect(body(missing).error.code).toBe('NOT_FOUND');
    const before = sandbox.received.length;
    const bad = await call('retrieveDecision', decisionEvent('..%2F..%2Fsessions'));
    expect(bad.statusCode).toBe(400);
    expect(sandbox.received.length).toBe(before);
  });

  it('id verification: multipart images reach Didit as sent; an oversized image is a 400 and is not sent', async () => {
    const mp = multipartBody([
      ['front_image', { filename: 'front.jpg', type: 'image/jpeg', data: JPEG }],
      ['minimum_age', '18'],
    ]);
    const res = await call('idVerification', apiEvent({ method: 'POST', path: '/v1/id-verification', headers: { 'content-type': mp.contentType }, body: mp.body }));
    expect(res.statusCode).toBe(200);
    expect(body(res).id_verification.status).toBeDefined();
    const seen = sandbox.received.at(-1)!;
    expect(seen.files?.['front_image']).toMatchObject({ bytes: JPEG.length, mimeType: 'image/jpeg' });
    expect(seen.fields).toMatchObject({ minimum_age: '18' });

    const big = multipartBody([['front_image', { filename: 'f.jpg', type: 'image/jpeg', data: Buffer.concat([JPEG, Buffer.alloc(5 * 1024 * 1024)]) }]]);
    const tooBig = await call('idVerification', apiEvent({ method: 'POST', path: '/v1/id-verification', headers: { 'content-type': big.contentType }, body: big.body }));
    expect(tooBig.statusCode).toBe(400);
    expect(body(tooBig).error.issues).toEqual([{ field: 'front_image', message: 'must be at most 5 MB' }]);
    expect(sandbox.received.length).toBe(1);
  });

  it('AML: screened by Didit; inconsistent weights are a 400 and not sent', async () => {
    const clear = await call('amlScreening', amlEvent({ full_name: 'Ana García', nationality: 'ES' }));
    expect(clear.statusCode).toBe(200);
    expect(body(clear).aml.status).toBe('Approved');
    const hit = await call('amlScreening', amlEvent({ full_name: 'Sanction Person' }));
    expect(body(hit).aml.status).toBe('Declined');
    const bad = await call('amlScreening', amlEvent({ full_name: 'X', aml_name_weight: 90 }));
    expect(bad.statusCode).toBe(400);
    expect(sandbox.received.length).toBe(2);
  });
});

describe('Didit faults map to defined answers, retried only where safe', () => {
  it('429 on a non-idempotent call: passed to the caller with Retry-After, not retried', async () => {
    sandbox.inject({ fault: { kind: 'status', status: 429, retryAfterSeconds: 7 }, pathPrefix: '/v3/aml/' });
    const res = await call('amlScreening', amlEvent({ full_name: 'Ana' }));
    expect(res.statusCode).toBe(429);
    expect(res.headers?.['retry-after']).toBe('7');
    expect(body(res).error.code).toBe('RATE_LIMITED');
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1);
  });

  it('429 on a read: waits Retry-After and retries once', async () => {
    const created = body(await call('createSession', createEvent({ workflow_id: WORKFLOW })));
    sandbox.inject({ fault: { kind: 'status', status: 429, retryAfterSeconds: 1 }, pathPrefix: `/v3/session/${created['session_id']}` });
    const res = await call('retrieveDecision', decisionEvent(created['session_id']));
    expect(res.statusCode).toBe(200);
    expect(sandbox.count({ method: 'GET' })).toBe(2);
  });

  it('500 on a paid call: 502, not retried (never pay twice)', async () => {
    sandbox.inject({ fault: { kind: 'status', status: 500 }, pathPrefix: '/v3/aml/' });
    const res = await call('amlScreening', amlEvent({ full_name: 'Ana' }));
    expect(res.statusCode).toBe(502);
    expect(body(res).error).toEqual({ code: 'DIDIT_UNAVAILABLE', message: 'The request could not be completed.', requestId: expect.any(String) });
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1);
  });

  it('500 on a read: retried once, then succeeds', async () => {
    const created = body(await call('createSession', createEvent({ workflow_id: WORKFLOW })));
    sandbox.inject({ fault: { kind: 'status', status: 503 }, method: 'GET' });
    const res = await call('retrieveDecision', decisionEvent(created['session_id']));
    expect(res.statusCode).toBe(200);
    expect(sandbox.count({ method: 'GET' })).toBe(2);
  });

  it('a slow Didit: 504 at the invocation deadline, with the key zeroed (audit outcome recorded)', async () => {
    sandbox.inject({ fault: { kind: 'delay', ms: 4_000 }, pathPrefix: '/v3/aml/' });
    const res = await call('amlScreening', amlEvent({ full_name: 'Ana' }), deps, 2_500);
    expect(res.statusCode).toBe(504);
    expect(body(res).error.code).toBe('DIDIT_TIMEOUT');
    // It answered at its own deadline, not after Didit's: the one call (paid: not retried) never got an answer.
    expect(sandbox.received.filter((r) => r.path.startsWith('/v3/aml/')).map((r) => r.status)).toEqual([0]);
    expect(await audited()).toMatchObject({ operation: 'amlScreening', outcome: expect.stringMatching(/aborted|didit_error/) });
  });

  it('an operation slower than API Gateway allows: our 504 with guidance before API Gateway cuts', async () => {
    sandbox.inject({ fault: { kind: 'delay', ms: 1_500 }, pathPrefix: '/v3/aml/' });
    const handler = createOperationHandler(OPERATIONS.amlScreening, { dependencies: () => deps, apiGatewayBudgetMs: 300 });
    const res = (await handler(amlEvent({ full_name: 'Ana' }), lambdaContext())) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(504);
    expect(body(res).error.code).toBe('EXCEEDS_GATEWAY_TIMEOUT');
    expect(body(res).error.message).toMatch(/29 s/);
    expect(res.headers?.['retry-after']).toBe('60');
    // A fast operation is not affected by the budget.
    const quick = createOperationHandler(OPERATIONS.createSession, { dependencies: () => deps, apiGatewayBudgetMs: 300 });
    expect(((await quick(createEvent({ workflow_id: WORKFLOW }), lambdaContext())) as APIGatewayProxyResult).statusCode).toBe(201);
  });

  it('connection reset after a paid request was sent: 502, not resent', async () => {
    sandbox.inject({ fault: { kind: 'reset' }, pathPrefix: '/v3/aml/' });
    const res = await call('amlScreening', amlEvent({ full_name: 'Ana' }));
    expect(res.statusCode).toBe(502);
    expect(body(res).error.code).toBe('DIDIT_NETWORK');
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1);
  });

  it('connection reset on a read: resent once on a new connection', async () => {
    const created = body(await call('createSession', createEvent({ workflow_id: WORKFLOW })));
    sandbox.inject({ fault: { kind: 'reset' }, method: 'GET' });
    const res = await call('retrieveDecision', decisionEvent(created['session_id']));
    expect(res.statusCode).toBe(200);
  });

  it('malformed JSON from Didit: 502 DIDIT_BAD_RESPONSE', async () => {
    sandbox.inject({ fault: { kind: 'malformed-json' }, pathPrefix: '/v3/session/' });
    const res = await call('createSession', createEvent({ workflow_id: WORKFLOW }));
    expect(res.statusCode).toBe(502);
    expect(body(res).error.code).toBe('DIDIT_BAD_RESPONSE');
  });

  it('chunked responses are read like sized ones', async () => {
    sandbox.inject({ fault: { kind: 'chunked' }, pathPrefix: '/v3/session/' });
    const res = await call('createSession', createEvent({ workflow_id: WORKFLOW }));
    expect(res.statusCode).toBe(201);
    expect(body(res).workflow_id).toBe(WORKFLOW);
  });

  it('warm calls reuse one TLS connection to Didit', async () => {
    const d = createDependencies(loadConfig(environment()));
    const handshakes = sandbox.tlsHandshakes();
    for (let i = 0; i < 5; i++) expect((await call('createSession', createEvent({ workflow_id: WORKFLOW }), d)).statusCode).toBe(201);
    expect(sandbox.tlsHandshakes() - handshakes).toBe(1);
    expect(d.didit.stats).toMatchObject({ connectionsOpened: 1, exchanges: 5, reusedExchanges: 4 });
    d.didit.close();
  });
});

describe('the sealed key', () => {
  it('a key rotated since it was cached: 401, re-read, one retry with the new key', async () => {
    const d = createDependencies(loadConfig(environment()));
    const original = Buffer.from(sandbox.apiKey);
    expect((await call('createSession', createEvent({ workflow_id: WORKFLOW }), d)).statusCode).toBe(201);
    const rotated = Buffer.from(`sk_rotated_${randomBytes(16).toString('hex')}`);
    sandbox.acceptKey(rotated);
    await resealSecret(em, sealed, rotated);
    logs = [];
    const res = await call('createSession', createEvent({ workflow_id: WORKFLOW }), d);
    expect(res.statusCode).toBe(201);
    expect(audits().map((a) => [a['diditStatus'], a['outcome'], a['afterRefresh']])).toEqual([
      [401, 'didit_rejected', false],
      [201, 'success', true],
    ]);
    // Put the original key back for the other tests (their dependencies cache the first version).
    sandbox.acceptKey(original);
    await resealSecret(em, sealed, original);
    d.didit.close();
  });

  it('a key Didit rejects with no newer version: 502, one Didit call only', async () => {
    const original = Buffer.from(sandbox.apiKey);
    // Fresh dependencies: their cached ciphertext is the secret's current version.
    const d = createDependencies(loadConfig(environment()));
    sandbox.acceptKey(Buffer.from(`sk_other_${randomBytes(16).toString('hex')}`));
    try {
      const res = await call('createSession', createEvent({ workflow_id: WORKFLOW }), d);
      expect(res.statusCode).toBe(502);
      expect(body(res).error.code).toBe('DIDIT_UNAUTHORIZED');
      expect(sandbox.count({ keyMatched: false })).toBe(1);
    } finally {
      sandbox.acceptKey(original);
      d.didit.close();
    }
  });

  it('a KMS failure (wrong encryption context) is a generic 500 that reveals nothing', async () => {
    const wrong = createDependencies(loadConfig(environment({ STAGE: 'someone-else' })));
    const res = await call('createSession', createEvent({ workflow_id: WORKFLOW }), wrong);
    expect(res.statusCode).toBe(500);
    expect(body(res).error).toEqual({ code: 'INTERNAL', message: 'The request could not be completed.', requestId: expect.any(String) });
    expect(sandbox.received.length).toBe(0);
    // Operators get the precise cause, under the same request id.
    const line = logs.find((l) => l.includes('"request failed"'))!;
    expect(JSON.parse(line)).toMatchObject({ errorCode: 'KMS_INVALID_CIPHERTEXT', errorName: 'KmsInvalidCiphertextError', status: 500 });
  });

  it('a missing secret is a 500 SECRET_NOT_FOUND and nothing is sent', async () => {
    const missing = createDependencies(loadConfig(environment({ SEALED_KEY_SECRET_ID: 'didit/does-not-exist' })));
    const res = await call('createSession', createEvent({ workflow_id: WORKFLOW }), missing);
    expect(res.statusCode).toBe(500);
    expect(body(res).error.code).toBe('INTERNAL');
    expect(logs.join('')).toContain('"errorCode":"SECRET_NOT_FOUND"');
    expect(sandbox.received.length).toBe(0);
  });

  it('no log line of this file ever contained the key', () => {
    // Checked last, over every line this file's handlers wrote.
    const key = sandbox.apiKey.toString('latin1');
    expect(allLogs.length).toBeGreaterThan(20);
    expect(allLogs.some((l) => l.includes(key))).toBe(false);
  });
});
