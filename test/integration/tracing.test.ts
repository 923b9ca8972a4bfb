import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretsClientFor } from '../../infra/local/provision.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';
import { testEmulator } from '../support/aws.ts';
import { setUpGateway, type GatewayFixture } from '../support/gateway-fixture.ts';

// Tracing on, as a stage with `tracing: true` runs it: the real functions/operation.ts entry point (Powertools
// Tracer loaded lazily by lib/observability/tracing.ts) in "Lambda" mode, sending to a UDP stand-in for the
// X-Ray daemon (AWS_XRAY_DAEMON_ADDRESS). The sealed key is decrypted by KMS on the emulator and used against
// the sandbox. Every datagram is then scanned for the key, the ciphertext, headers and the caller's PII.

interface Received {
  readonly raw: string;
  readonly doc: Record<string, unknown>;
}

const FULL_NAME = `Zoë Trace-Probe ${randomBytes(3).toString('hex')}`;
const DATE_OF_BIRTH = '1987-03-14';

let gateway: GatewayFixture;
let daemon: Socket;
const received: Received[] = [];
let onDatagram: (() => void) | undefined;
let handler: (event: unknown, context: Context) => Promise<APIGatewayProxyResult>;

/** Resolves once the received segments satisfy `done` (the test timeout bounds the wait). */
function until(done: (all: readonly Received[]) => boolean): Promise<void> {
  if (done(received)) return Promise.resolve();
  return new Promise((resolve) => {
    onDatagram = () => {
      if (done(received)) {
        onDatagram = undefined;
        resolve();
      }
    };
  });
}

const named = (name: string) => (r: Received) => r.doc['name'] === name;
const annotations = (r: Received) => (r.doc['annotations'] ?? {}) as Record<string, unknown>;

beforeAll(async () => {
  gateway = await setUpGateway('tracing');
  daemon = createSocket('udp4');
  daemon.on('message', (msg) => {
    const raw = msg.toString('utf8');
    // The daemon protocol: a JSON header line, then the (sub)segment document.
    const body = raw.slice(raw.indexOf('\n') + 1);
    received.push({ raw, doc: JSON.parse(body) as Record<string, unknown> });
    onDatagram?.();
  });
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  const traceId = `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  Object.assign(
    process.env,
    gateway.environment({ OPERATION: 'amlScreening' }),
    {
      // What Lambda sets for a function with Active tracing.
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      LAMBDA_TASK_ROOT: process.cwd(),
      _X_AMZN_TRACE_ID: `Root=${traceId};Parent=${randomBytes(8).toString('hex')};Sampled=1`,
      AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}`,
      // The stage's `tracing: true` and serverless.yml's provider environment.
      POWERTOOLS_TRACE_ENABLED: 'true',
      POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: 'false',
      POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      POWERTOOLS_TRACER_CAPTURE_ERROR: 'false',
    },
  );
  // Imported only now: the entry point decides at import whether it traces.
  ({ handler } = (await import('../../functions/operation.ts')) as unknown as { handler: typeof handler });
});

afterAll(async () => {
  for (const name of ['AWS_EXECUTION_ENV', 'AWS_LAMBDA_INITIALIZATION_TYPE', 'LAMBDA_TASK_ROOT', '_X_AMZN_TRACE_ID', 'AWS_XRAY_DAEMON_ADDRESS', 'POWERTOOLS_TRACE_ENABLED']) delete process.env[name];
  daemon?.close();
  await gateway?.close();
});

const aml = () =>
  apiEvent({
    method: 'POST',
    path: OPERATIONS.amlScreening.route.path,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ full_name: FULL_NAME, date_of_birth: DATE_OF_BIRTH, nationality: 'ES' }),
  });

describe('X-Ray segments (tracing on)', () => {
  it('Didit and KMS calls are subsegments with operation, status, attempts and latency', async () => {
    const res = await handler(aml(), { ...lambdaContext({ remainingMs: 60_000 }), functionName: 'didit-kms-gateway-tracing-amlScreening' });
    expect(res.statusCode).toBe(200);
    // A Didit fault is a subsegment too, flagged, with Didit's status.
    gateway.sandbox.inject({ fault: { kind: 'status', status: 400 }, pathPrefix: '/v3/aml' });
    expect((await handler(aml(), lambdaContext({ remainingMs: 60_000 }))).statusCode).toBe(400);
    await until((all) => all.filter(named('Didit')).length >= 2 && all.filter((r) => String(r.doc['name']).startsWith('## ')).length >= 2);

    const handlerSegment = received.find(named('## didit-kms-gateway-tracing-amlScreening'))!;
    expect(handlerSegment).toBeDefined();
    expect(annotations(handlerSegment)).toMatchObject({ ColdStart: true, Service: 'didit-kms-gateway' });
    // The second invocation is warm, and its spans are its own.
    const second = received.find(named('## didit-kms-gateway-test'))!;
    expect(annotations(second)).toMatchObject({ ColdStart: false });

    const [ok, rejected] = received.filter(named('Didit'));
    expect(ok!.doc).toMatchObject({ namespace: 'remote', parent_id: handlerSegment.doc['id'] });
    expect(annotations(ok!)).toMatchObject({ operation: 'amlScreening', status: 200, attempts: 1 });
    expect(typeof annotations(ok!)['latency_ms']).toBe('number');
    expect(annotations(rejected!)).toMatchObject({ operation: 'amlScreening', status: 400 });
    expect(rejected!.doc).toMatchObject({ error: true, parent_id: second.doc['id'] });

    // The sealed key's ciphertext is read once (then cached for CIPHERTEXT_TTL_SECONDS).
    expect(received.filter(named('SecretsManager')).map(annotations)).toEqual([expect.objectContaining({ operation: 'GetSecretValue', status: 200 })]);
    const kms = received.filter(named('KMS'));
    expect(kms.length).toBeGreaterThanOrEqual(2);
    for (const span of kms) {
      expect(span.doc['namespace']).toBe('aws');
      expect(annotations(span)).toMatchObject({ operation: 'Decrypt', status: 200, attempts: 1, outcome: 'ok' });
    }
  });

  it('no segment holds the key, the ciphertext, a header, a body or the caller\'s personal data', async () => {
    const em = testEmulator();
    const sm = secretsClientFor(em);
    const sealed = await sm.send(new GetSecretValueCommand({ SecretId: gateway.sealed.secretId }));
    sm.destroy();
    const ciphertext = Buffer.from(sealed.SecretBinary!);
    const key = gateway.sandbox.apiKey;
    const forbidden: Array<[string, string]> = [
      ['the key', key.toString('latin1')],
      ['the key (base64)', key.toString('base64')],
      ['the key (hex)', key.toString('hex')],
      ['the ciphertext (base64)', ciphertext.toString('base64')],
      ['the ciphertext (hex)', ciphertext.toString('hex')],
      ['a prefix of the ciphertext (base64)', ciphertext.toString('base64').slice(0, 24)],
      ['the key header', 'x-api-key'],
      ['an authorization header', 'authorization'],
      ['an AWS signature', 'x-amz-'],
      // (An emulator's secret is a short word like "test"; a real one is 40 characters.)
      ...(em.credentials.secretAccessKey.length >= 16 ? [['the AWS secret key', em.credentials.secretAccessKey] as [string, string]] : []),
      ['a content type', 'application/json'],
      ['the name', FULL_NAME],
      ['the name (JSON-escaped)', JSON.stringify(FULL_NAME).slice(1, -1)],
      ['the date of birth', DATE_OF_BIRTH],
      ['the Didit path', '/v3/aml'],
      ['the sandbox host', new URL(gateway.sandbox.url).host],
    ];
    expect(received.length).toBeGreaterThanOrEqual(6);
    for (const { raw, doc } of received) {
      const lower = raw.toLowerCase();
      for (const [what, value] of forbidden) expect(lower.includes(value.toLowerCase()), `${what} in ${doc['name']}`).toBe(false);
      // Nothing beyond names, ids, times, flags and our annotations: no http, metadata, cause or sql blocks.
      for (const field of ['http', 'metadata', 'cause', 'sql', 'aws']) expect(doc[field], `${field} in ${doc['name']}`).toBeUndefined();
    }
  });
});
