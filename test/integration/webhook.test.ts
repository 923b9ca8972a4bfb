import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { validateStructured } from '../../lib/validation/request.ts';
import { createSession } from '../../lib/operations/sessions.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { executeOperation } from '../../lib/runtime/execute-operation.ts';
import { loadWebhookConfig, type WebhookConfig } from '../../lib/adapters/webhooks/config.ts';
import { createWebhookDependencies, type WebhookDependencies } from '../../lib/adapters/webhooks/dependencies.ts';
import type { WebhookEventDetail } from '../../lib/adapters/webhooks/event-mapping.ts';
import { createWebhookHandler } from '../../lib/adapters/webhooks/handler.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { startSandbox, type Sandbox, type SessionStatus } from '../sandbox/index.ts';
import { lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { eventCapture, type EventCapture } from '../support/event-capture.ts';
import { SENSITIVE_MARKERS, sessionStatusPayload, signDelivery, webhookEvent, webhookSecret, type SignerForm } from '../sandbox/webhook-signer.ts';

// The webhook receiver end to end on the emulators: sealed secret (Secrets Manager + KMS with the
// `didit-webhook-secret` context) → verification → Powertools idempotency on DynamoDB → EventBridge bus →
// rule → SQS queue, read back here. A delivery signed by X-Signature-Simple alone is completed with the
// decision from the Didit sandbox (sealed API key, `didit-api-key` context). KMS is reached through a
// counting forwarder (AWS_ENDPOINT_URL_KMS), so the tests count the Decrypt calls the emulator receives.

const em = testEmulator();
const dynamoEndpoint = testDynamoDbEndpoint();
const suffix = randomBytes(4).toString('hex');
const STAGE = 'webhook';
const names = {
  table: `didit-webhook-idempotency-${suffix}`,
  bus: `didit-webhooks-${suffix}`,
  queue: `didit-webhook-events-${suffix}`,
  rule: `didit-webhooks-to-sqs-${suffix}`,
};
const clientConfig = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });

const secret = webhookSecret();
let sandbox: Sandbox;
let apiKeySealed: SealedKeyResources;
let gateway: GatewayDependencies;
let kmsForwarder: Server;
/** `X-Amz-Target` operations (Decrypt, …) the emulator received through the forwarder, in order. */
const kmsCalls: string[] = [];
let sealed: SealedKeyResources;
let wrongPurpose: SealedKeyResources | undefined;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let secretsManager: SecretsManagerClient;
let sqs: SQSClient;
let capture: EventCapture<ReceivedEvent>;
let deps: WebhookDependencies;
let logs: string[] = [];
const allLogs: string[] = [];

function config(extra: Record<string, string> = {}): WebhookConfig {
  return loadWebhookConfig({
    STAGE,
    AWS_REGION: em.region,
    WEBHOOK_SECRET_SECRET_ID: sealed.secretId,
    KMS_KEY_ID: sealed.kmsKeyArn,
    IDEMPOTENCY_TABLE: names.table,
    EVENT_BUS_NAME: names.bus,
    ...extra,
  });
}

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: em.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_REGION: em.region,
    AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
  });
  dynamodb = new DynamoDBClient(clientConfig(dynamoEndpoint));
  eventBridge = new EventBridgeClient(clientConfig(em.endpoint));
  secretsManager = new SecretsManagerClient(clientConfig(em.endpoint));
  sqs = new SQSClient(clientConfig(em.endpoint));

  // Every KMS request of the clients built below goes through here to the emulator, counted by operation.
  kmsForwarder = createServer((req, res) => {
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string') kmsCalls.push(target.replace(/^TrentService\./, ''));
    const upstream = httpRequest(new URL(req.url ?? '/', em.endpoint), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => kmsForwarder.listen(0, '127.0.0.1', resolve));
  process.env['AWS_ENDPOINT_URL_KMS'] = `http://127.0.0.1:${(kmsForwarder.address() as AddressInfo).port}`;

  sealed = await provisionSealedKey(em, { stage: STAGE, apiKey: secret, purpose: 'didit-webhook-secret' });
  sandbox = await startSandbox();
  apiKeySealed = await provisionSealedKey(em, { stage: STAGE, apiKey: sandbox.apiKey });
  gateway = createDependencies(
    loadConfig({
      STAGE,
      SEALED_KEY_SECRET_ID: apiKeySealed.secretId,
      KMS_KEY_ID: apiKeySealed.kmsKeyArn,
      DIDIT_BASE_URL: sandbox.url,
      DIDIT_CA_FILE: sandbox.caFile,
      AWS_REGION: em.region,
    }),
  );
  await createIdempotencyTable(dynamodb, names.table);

  capture = await eventCapture<ReceivedEvent>({ eventBridge, sqs, bus: names.bus, rule: names.rule, queue: names.queue, pattern: { source: ['didit.webhooks'] } });
  expect(capture.busArn).toContain(names.bus);

  deps = createWebhookDependencies(config(), { dynamodb, eventBridge, secretsManager, gateway });

  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      logs.push(text);
      allLogs.push(text);
      return (write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
  }
});

afterAll(async () => {
  await capture?.dispose();
  if (dynamodb) await deleteIdempotencyTable(dynamodb, names.table);
  if (sealed) await teardownSealedKey(em, sealed);
  if (wrongPurpose) await teardownSealedKey(em, wrongPurpose);
  if (apiKeySealed) await teardownSealedKey(em, apiKeySealed);
  await sandbox?.close();
  delete process.env['AWS_ENDPOINT_URL_KMS'];
  await new Promise<void>((resolve) => (kmsForwarder ? kmsForwarder.close(() => resolve()) : resolve()));
  for (const c of [dynamodb, eventBridge, secretsManager, sqs]) c?.destroy();
});

beforeEach(() => {
  logs = [];
});

async function deliver(event: APIGatewayProxyEvent, d: WebhookDependencies = deps): Promise<APIGatewayProxyResult> {
  return (await createWebhookHandler({ dependencies: () => d })(event, lambdaContext())) as APIGatewayProxyResult;
}
const sign = (payload: unknown, forms?: SignerForm[], extra: { headerTimestamp?: number; secret?: Uint8Array; indent?: number } = {}) =>
  signDelivery({ secret: extra.secret ?? secret, payload, forms, headerTimestamp: extra.headerTimestamp, indent: extra.indent });
const body = (r: APIGatewayProxyResult) => JSON.parse(r.body) as Record<string, any>;
const now = () => Math.floor(Date.now() / 1000);

/** A session in the Didit sandbox, moved to `status`: what its decision route then answers. */
async function sandboxSession(status: SessionStatus, vendorData: string): Promise<string> {
  const valid = validateStructured(createSession, { body: { workflow_id: randomUUID(), vendor_data: vendorData } });
  const { json } = await executeOperation(createSession, valid, {
    deps: gateway,
    signal: new AbortController().signal,
    deadline: Date.now() + 10_000,
    timeoutMs: 10_000,
    caller: 'test',
    lambdaRequestId: randomUUID(),
    sourceRequestId: undefined,
  });
  const sessionId = (json as { session_id: string }).session_id;
  sandbox.setSessionStatus(sessionId, status);
  return sessionId;
}

const decisionFetches = () => sandbox.count({ method: 'GET', pathPrefix: '/v3/session/' });
const kmsDecrypts = () => kmsCalls.filter((op) => op === 'Decrypt').length;

interface ReceivedEvent {
  source: string;
  'detail-type': string;
  detail: WebhookEventDetail;
}

/**
 * The events published so far, once at least `min` arrived (read up to a marker put on the bus after them,
 * so an extra, duplicate, event would be among them). Deletes what it read.
 */
async function receiveEvents(min: number): Promise<ReceivedEvent[]> {
  return (await capture.collect(min)).map((c) => c.event);
}

describe('webhook receiver on the emulators', () => {
  it('a V2-signed delivery is accepted and becomes exactly one EventBridge event; its replay is a duplicate', async () => {
    const payload = sessionStatusPayload({ status: 'In Review', vendorData: 'kunde-Ø-42' });
    const delivery = sign(payload, ['v2', 'v1', 'simple'], { indent: 2 });
    const first = await deliver(webhookEvent(delivery));
    expect(first.statusCode).toBe(200);
    expect(body(first)).toEqual({ status: 'accepted' });

    const replay = await deliver(webhookEvent(delivery));
    expect(replay.statusCode).toBe(200);
    expect(body(replay)).toEqual({ status: 'duplicate' });

    const events = await receiveEvents(1);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event!.source).toBe('didit.webhooks');
    expect(event!['detail-type']).toBe('didit.session.status-updated');
    expect(event!.detail).toMatchObject({
      schema_version: 1,
      webhook_type: 'status.updated',
      session_id: payload['session_id'],
      status: 'In Review',
      vendor_data: 'kunde-Ø-42',
      workflow_id: payload['workflow_id'],
      delivery: { signature: 'v2' },
      decision: { status: 'In Review', features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH'] },
    });
    expect(event!.detail.decision!.results[0]).toEqual({ feature: 'id_verifications', node_id: 'feature_ocr', status: 'In Review', risks: ['POSSIBLE_DUPLICATED_USER'] });
    // The delivery's decision had a document number, names, an address and media URLs: none is published.
    const published = JSON.stringify(event);
    for (const marker of Object.values(SENSITIVE_MARKERS)) expect(published).not.toContain(marker);
    expect(published).not.toContain('document_number');
    expect(published).not.toMatch(/https?:\/\/media/);

    // One idempotency record (this is the file's first delivery), COMPLETED, holding only the receipt.
    const scan = await dynamodb.send(new ScanCommand({ TableName: names.table }));
    expect(scan.Items).toHaveLength(1);
    const record = scan.Items![0]!;
    expect(record['id']?.S).toMatch(/^didit-webhook#/);
    expect(record['status']?.S).toBe('COMPLETED');
    expect(Object.keys(record['data']?.M ?? {}).sort()).toEqual(['detailType', 'eventId']);
    expect(Number(record['expiration']?.N)).toBeGreaterThan(now() + 86_000);
  });

  it('V1 raw-body signature over a base64-encoded API Gateway body, Simple, and the timestamped V2 variant are accepted', async () => {
    const cases: Array<[SignerForm[], boolean, string]> = [
      [['v1'], true, 'v1-raw'],
      [['simple'], false, 'simple'],
      [['v2-timestamped'], false, 'v2-timestamped'],
      [['v2-ascii'], false, 'v2-ascii'],
    ];
    // One sandbox session (Simple-only deliveries fetch its decision); one timestamp per case, so that
    // none is a replay of another (session + status + type + timestamp).
    const sessionId = await sandboxSession('Approved', 'Zoë');
    const t0 = now();
    for (const [i, [forms, base64, form]] of cases.entries()) {
      const res = await deliver(webhookEvent(sign(sessionStatusPayload({ sessionId, vendorData: 'Zoë', timestamp: t0 - i }), forms, { indent: 1 }), { base64 }));
      expect(res.statusCode, form).toBe(200);
      expect(body(res)).toEqual({ status: 'accepted' });
    }
    const events = await receiveEvents(cases.length);
    expect(events.map((e) => e.detail.delivery.signature).sort()).toEqual(cases.map(([, , form]) => form).sort());
  });

  it('wrong secret, tampered body, stale X-Timestamp and stale body timestamp are rejected and publish nothing', async () => {
    const stale = sessionStatusPayload({ timestamp: now() - 600 });
    const tampered = sign(sessionStatusPayload({ status: 'Declined' }));
    const rejected: Array<[APIGatewayProxyEvent, number, string]> = [
      [webhookEvent(sign(sessionStatusPayload(), undefined, { secret: webhookSecret() })), 401, 'WEBHOOK_SIGNATURE_INVALID'],
      [webhookEvent({ ...tampered, body: tampered.body.replace('"Declined"', '"Approved"') }), 401, 'WEBHOOK_SIGNATURE_INVALID'],
      [webhookEvent(sign(sessionStatusPayload(), ['v2'], { headerTimestamp: now() - 301 })), 401, 'WEBHOOK_TIMESTAMP_INVALID'],
      [webhookEvent(sign(stale, ['v2', 'v1', 'simple'])), 401, 'WEBHOOK_TIMESTAMP_INVALID'],
      [webhookEvent(sign({ ...sessionStatusPayload(), session_id: undefined }, ['v2'])), 400, 'WEBHOOK_PAYLOAD_INVALID'],
    ];
    for (const [event, status, code] of rejected) {
      const res = await deliver(event);
      expect(res.statusCode).toBe(status);
      expect(body(res).error.code).toBe(code);
    }
    expect(await receiveEvents(0)).toEqual([]);
    // Two decryptions (wrong secret, tampered), each zeroed: two audit lines naming the webhook purpose.
    const audits = logs.filter((l) => l.includes('"audit":"didit-webhook-secret-use"')).map((l) => JSON.parse(l) as Record<string, any>);
    expect(audits).toHaveLength(2);
    for (const audit of audits) {
      expect(audit).toMatchObject({ outcome: 'no_match', encryptionContext: { service: 'didit-kms-gateway', stage: STAGE, purpose: 'didit-webhook-secret' } });
      expect(audit['ciphertextFingerprint']).toMatch(/^sha256:[0-9a-f]{16}$/);
    }
  });

  it('an unknown webhook_type is refused (400) before the secret is decrypted, and publishes nothing', async () => {
    const before = kmsDecrypts();
    const res = await deliver(webhookEvent(sign(sessionStatusPayload({ webhookType: 'session.teleported' }), ['v2'])));
    expect(res.statusCode).toBe(400);
    expect(body(res).error.code).toBe('WEBHOOK_TYPE_UNKNOWN');
    expect(kmsDecrypts()).toBe(before);
    expect(await receiveEvents(0)).toEqual([]);
  });

  it('when EventBridge fails, answers 5xx (Didit retries) and forgets the attempt, so the retry publishes', async () => {
    // EventBridge unreachable (a closed port): emulator-independent, unlike an unknown bus, which
    // LocalStack 4.14 accepts silently.
    const unreachable = new EventBridgeClient({ ...clientConfig('http://127.0.0.1:9'), maxAttempts: 1 });
    const broken = createWebhookDependencies(config(), { dynamodb, eventBridge: unreachable, secretsManager });
    const delivery = sign(sessionStatusPayload({ eventId: randomUUID() }), ['v2']);
    const failed = await deliver(webhookEvent(delivery), broken);
    unreachable.destroy();
    expect(failed.statusCode).toBe(502);
    expect(body(failed).error.code).toBe('EVENT_PUBLISH_FAILED');
    const retried = await deliver(webhookEvent(delivery));
    expect(body(retried)).toEqual({ status: 'accepted' });
    expect(await receiveEvents(1)).toHaveLength(1);
  });

  it('the encryption context binds the secret to its purpose: an API-key ciphertext is refused by KMS', async () => {
    wrongPurpose = await provisionSealedKey(em, { stage: STAGE, apiKey: secret, purpose: 'didit-api-key' });
    const misconfigured = createWebhookDependencies(
      config({ WEBHOOK_SECRET_SECRET_ID: wrongPurpose.secretId, KMS_KEY_ID: wrongPurpose.kmsKeyArn }),
      { dynamodb, eventBridge, secretsManager },
    );
    const res = await deliver(webhookEvent(sign(sessionStatusPayload(), ['v2'])), misconfigured);
    expect(res.statusCode).toBe(500);
    expect(body(res).error.code).toBe('INTERNAL');
    expect(logs.join('')).toContain('KMS_INVALID_CIPHERTEXT');
  });

  // Issue 8, finding 1: the strongest presented signature decides; Simple authenticates four fields only.
  it('a Simple signature replayed with an edited decision, event_id and vendor_data publishes nothing new; a wrong V2 or raw signature next to it is 401', async () => {
    const sessionId = await sandboxSession('Declined', 'customer-42');
    const payload = sessionStatusPayload({ sessionId, status: 'Declined', eventId: randomUUID(), vendorData: 'customer-42' });
    const genuine = sign(payload);
    expect(body(await deliver(webhookEvent(genuine)))).toEqual({ status: 'accepted' });

    const decision = structuredClone(payload['decision']) as Record<string, any>;
    decision['status'] = 'Approved';
    decision['face_matches'][0].status = 'Approved';
    const edited = () => JSON.stringify({ ...payload, decision, event_id: randomUUID(), vendor_data: 'attacker-account' });
    const { 'X-Signature-V2': v2, 'X-Signature': v1, ...simpleOnly } = genuine.headers;
    expect(v2 && v1).toBeTruthy();
    const fetchesBefore = decisionFetches();
    for (let i = 0; i < 2; i++) {
      const replay = await deliver(webhookEvent({ body: edited(), headers: simpleOnly }));
      expect(body(replay)).toEqual({ status: 'duplicate' });
    }
    const wrongs: Array<Record<string, string>> = [{ 'X-Signature-V2': '0'.repeat(64) }, { 'X-Signature': 'f'.repeat(64) }, { 'X-Signature-V2': v2! }];
    for (const wrong of wrongs) {
      const res = await deliver(webhookEvent({ body: edited(), headers: { ...simpleOnly, ...wrong } }));
      expect(res.statusCode).toBe(401);
      expect(body(res).error.code).toBe('WEBHOOK_SIGNATURE_INVALID');
    }
    expect(decisionFetches()).toBe(fetchesBefore);
    const events = await receiveEvents(1);
    expect(events).toHaveLength(1);
    expect(events[0]!.detail).toMatchObject({ session_id: sessionId, vendor_data: 'customer-42', decision: { status: 'Declined' }, delivery: { signature: 'v2' } });
  });

  it('a Simple-only delivery publishes the four signed fields and the decision from Didit (one KMS Decrypt of the API key), not its body', async () => {
    const sessionId = await sandboxSession('Declined', 'customer-7');
    const payload = sessionStatusPayload({ sessionId, status: 'Declined', vendorData: 'customer-7' });
    const genuine = sign(payload, ['simple']);
    const decision = structuredClone(payload['decision']) as Record<string, any>;
    decision['status'] = 'Approved';
    const forgedBody = JSON.stringify({ ...payload, decision, event_id: 'forged-event', vendor_data: 'attacker-account', previous_status: 'Approved' });
    const fetchesBefore = decisionFetches();
    const decryptsBefore = kmsDecrypts();
    logs = [];
    const res = await deliver(webhookEvent({ body: forgedBody, headers: genuine.headers }));
    expect(res.statusCode).toBe(200);
    expect(body(res)).toEqual({ status: 'accepted' });
    expect(decisionFetches() - fetchesBefore).toBe(1);
    // The webhook secret (verification) and the API key (the decision): one Decrypt each.
    expect(kmsDecrypts() - decryptsBefore).toBe(2);
    const audits = logs.filter((l) => l.includes('"audit":"didit-key-use"')).map((l) => JSON.parse(l) as Record<string, any>);
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ operation: 'retrieveDecision', caller: 'didit-webhook', outcome: 'success', encryptionContext: { purpose: 'didit-api-key' } });

    const [event, ...more] = await receiveEvents(1);
    expect(more).toEqual([]);
    expect(event!.detail).toMatchObject({
      webhook_type: 'status.updated',
      session_id: sessionId,
      status: 'Declined',
      timestamp: payload['timestamp'],
      vendor_data: 'customer-7',
      decision: { status: 'Declined' },
      delivery: { signature: 'simple', authenticated: 'envelope', decision_source: 'didit-api' },
    });
    expect(event!.detail.event_id).toBeUndefined();
    expect(event!.detail.previous_status).toBeUndefined();
    expect(JSON.stringify(event)).not.toContain('attacker-account');
    expect(JSON.stringify(event)).not.toContain('Approved');
  });

  it('Simple acceptance off: a Simple-only delivery is 401, with no KMS call and no Didit call', async () => {
    const strict = createWebhookDependencies(config({ WEBHOOK_ACCEPT_SIMPLE: 'false' }), { dynamodb, eventBridge, secretsManager, gateway });
    const sessionId = await sandboxSession('Approved', 'customer-8');
    const [fetchesBefore, decryptsBefore] = [decisionFetches(), kmsDecrypts()];
    const res = await deliver(webhookEvent(sign(sessionStatusPayload({ sessionId }), ['simple'])), strict);
    expect(res.statusCode).toBe(401);
    expect([decisionFetches() - fetchesBefore, kmsDecrypts() - decryptsBefore]).toEqual([0, 0]);
  });

  // Issue 8, finding 5 (webhook part): a forged delivery that fails a key-free check costs no KMS call.
  it('forged deliveries failing the key-free checks reach neither KMS nor Didit', async () => {
    const good = sessionStatusPayload({ sessionId: await sandboxSession('Approved', 'customer-9') });
    const wrong = 'e'.repeat(64);
    const headers = (extra: Record<string, string>) => ({ 'Content-Type': 'application/json', 'X-Timestamp': String(now()), ...extra });
    const forged: Array<[string, APIGatewayProxyEvent, number]> = [
      ['oversized', webhookEvent({ body: JSON.stringify({ ...good, pad: 'x'.repeat(2 * 1024 * 1024) }), headers: headers({ 'X-Signature-V2': wrong }) }), 413],
      ['not JSON', webhookEvent({ body: '{"webhook_type":', headers: headers({ 'X-Signature-V2': wrong }) }), 400],
      ['unknown webhook_type', webhookEvent({ body: JSON.stringify({ ...good, webhook_type: 'session.teleported' }), headers: headers({ 'X-Signature-V2': wrong }) }), 400],
      ['stale X-Timestamp', webhookEvent({ body: JSON.stringify(good), headers: headers({ 'X-Timestamp': String(now() - 3_600), 'X-Signature-V2': wrong }) }), 401],
      ['stale body timestamp', webhookEvent({ body: JSON.stringify({ ...good, timestamp: now() - 3_600 }), headers: headers({ 'X-Signature-V2': wrong }) }), 401],
      ['no signature header', webhookEvent({ body: JSON.stringify(good), headers: headers({}) }), 401],
      ['malformed signature next to a well-formed one', webhookEvent({ body: JSON.stringify(good), headers: headers({ 'X-Signature-V2': 'not-hex', 'X-Signature-Simple': wrong }) }), 401],
      ['Simple-only, session_id not a UUID', webhookEvent({ body: JSON.stringify({ ...good, session_id: 'sess-1' }), headers: headers({ 'X-Signature-Simple': wrong }) }), 400],
    ];
    const [fetchesBefore, decryptsBefore] = [decisionFetches(), kmsDecrypts()];
    for (const [name, event, status] of forged) {
      const res = await deliver(event);
      expect(res.statusCode, name).toBe(status);
    }
    expect(kmsDecrypts() - decryptsBefore).toBe(0);
    expect(decisionFetches() - fetchesBefore).toBe(0);
    // The same forgery with well-formed, fresh headers gets as far as one Decrypt of the webhook secret.
    expect((await deliver(webhookEvent({ body: JSON.stringify(good), headers: headers({ 'X-Signature-V2': wrong }) }))).statusCode).toBe(401);
    expect(kmsDecrypts() - decryptsBefore).toBe(1);
    expect(decisionFetches() - fetchesBefore).toBe(0);
    expect(await receiveEvents(0)).toEqual([]);
  });

  it('the webhook secret never appears in the logs (ASCII, base64, hex)', () => {
    const text = allLogs.join('');
    expect(text).toContain('didit webhook accepted');
    for (const form of [secret.toString('latin1'), secret.toString('base64'), secret.toString('base64url'), secret.toString('hex')]) {
      expect(text.includes(form)).toBe(false);
    }
  });
});
