import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  DeleteEventBusCommand,
  DeleteRuleCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { loadWebhookConfig, type WebhookConfig } from '../../lib/webhooks/config.ts';
import { createWebhookDependencies, type WebhookDependencies } from '../../lib/webhooks/dependencies.ts';
import type { WebhookEventDetail } from '../../lib/webhooks/event-mapping.ts';
import { createWebhookHandler } from '../../lib/webhooks/handler.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/webhooks/idempotency-table.ts';
import { lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { SENSITIVE_MARKERS, sessionStatusPayload, signDelivery, webhookEvent, webhookSecret, type SignerForm } from '../sandbox/webhook-signer.ts';

// The webhook receiver end to end on the emulators: sealed secret (Secrets Manager + KMS with the
// `didit-webhook-secret` context) → verification → Powertools idempotency on DynamoDB → EventBridge bus →
// rule → SQS queue, read back here.

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
let sealed: SealedKeyResources;
let wrongPurpose: SealedKeyResources | undefined;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let secretsManager: SecretsManagerClient;
let sqs: SQSClient;
let queueUrl: string;
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

  sealed = await provisionSealedKey(em, { stage: STAGE, apiKey: secret, purpose: 'didit-webhook-secret' });
  await createIdempotencyTable(dynamodb, names.table);

  const bus = await eventBridge.send(new CreateEventBusCommand({ Name: names.bus }));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: names.queue }));
  queueUrl = queue.QueueUrl!;
  const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const queueArn = attributes.Attributes!['QueueArn']!;
  const rule = await eventBridge.send(
    new PutRuleCommand({ Name: names.rule, EventBusName: names.bus, EventPattern: JSON.stringify({ source: ['didit.webhooks'] }) }),
  );
  // As in AWS: the queue lets this rule send to it (the emulators do not enforce it).
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: queueUrl,
      Attributes: {
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: queueArn, Condition: { ArnEquals: { 'aws:SourceArn': rule.RuleArn } } },
          ],
        }),
      },
    }),
  );
  await eventBridge.send(new PutTargetsCommand({ Rule: names.rule, EventBusName: names.bus, Targets: [{ Id: 'queue', Arn: queueArn }] }));
  expect(bus.EventBusArn).toContain(names.bus);

  deps = createWebhookDependencies(config(), { dynamodb, eventBridge, secretsManager });

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
  await eventBridge?.send(new RemoveTargetsCommand({ Rule: names.rule, EventBusName: names.bus, Ids: ['queue'] })).catch(() => {});
  await eventBridge?.send(new DeleteRuleCommand({ Name: names.rule, EventBusName: names.bus })).catch(() => {});
  await eventBridge?.send(new DeleteEventBusCommand({ Name: names.bus })).catch(() => {});
  if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
  if (dynamodb) await deleteIdempotencyTable(dynamodb, names.table);
  if (sealed) await teardownSealedKey(em, sealed);
  if (wrongPurpose) await teardownSealedKey(em, wrongPurpose);
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

interface ReceivedEvent {
  source: string;
  'detail-type': string;
  detail: WebhookEventDetail;
}

/**
 * Reads the queue until at least `min` events arrived, then keeps listening for `settleMs` so that an
 * extra (duplicate) event would be seen too. Deletes what it read.
 */
async function receiveEvents(min: number, settleMs = 2_500, timeoutMs = 20_000): Promise<ReceivedEvent[]> {
  const events: ReceivedEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  let settleUntil = min === 0 ? Date.now() + settleMs : Number.POSITIVE_INFINITY;
  while (Date.now() < Math.min(deadline, settleUntil)) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    for (const message of out.Messages ?? []) {
      events.push(JSON.parse(message.Body!) as ReceivedEvent);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
    }
    if (events.length >= min && settleUntil === Number.POSITIVE_INFINITY) settleUntil = Date.now() + settleMs;
  }
  return events;
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
    for (const [forms, base64, form] of cases) {
      const res = await deliver(webhookEvent(sign(sessionStatusPayload({ vendorData: 'Zoë' }), forms, { indent: 1 }), { base64 }));
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
    expect(await receiveEvents(0, 2_000)).toEqual([]);
    // Two decryptions (wrong secret, tampered), each zeroed: two audit lines naming the webhook purpose.
    const audits = logs.filter((l) => l.includes('"audit":"didit-webhook-secret-use"')).map((l) => JSON.parse(l) as Record<string, any>);
    expect(audits).toHaveLength(2);
    for (const audit of audits) {
      expect(audit).toMatchObject({ outcome: 'no_match', encryptionContext: { service: 'didit-kms-gateway', stage: STAGE, purpose: 'didit-webhook-secret' } });
      expect(audit['ciphertextFingerprint']).toMatch(/^sha256:[0-9a-f]{16}$/);
    }
  });

  it('an unknown webhook_type is accepted and published as didit.webhook.unknown', async () => {
    const res = await deliver(webhookEvent(sign(sessionStatusPayload({ webhookType: 'session.teleported' }), ['v2'])));
    expect(body(res)).toEqual({ status: 'accepted' });
    const [event, ...more] = await receiveEvents(1);
    expect(more).toEqual([]);
    expect(event!['detail-type']).toBe('didit.webhook.unknown');
    expect(event!.detail.webhook_type).toBe('session.teleported');
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

  it('the webhook secret never appears in the logs (ASCII, base64, hex)', () => {
    const text = allLogs.join('');
    expect(text).toContain('didit webhook accepted');
    for (const form of [secret.toString('latin1'), secret.toString('base64'), secret.toString('base64url'), secret.toString('hex')]) {
      expect(text.includes(form)).toBe(false);
    }
  });
});
