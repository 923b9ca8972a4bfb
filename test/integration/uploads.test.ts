import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyResult, S3Event } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { loadIntakeConfig, loadPresignConfig } from '../../lib/adapters/uploads/config.ts';
import { createIntakeDependencies, type IntakeDependencies } from '../../lib/adapters/uploads/dependencies.ts';
import { createUploadHandler, decodeS3Key, type UploadRecordResult } from '../../lib/adapters/uploads/intake.ts';
import { fileKey, manifestBytes, manifestKey, uploadPrefix, type Manifest } from '../../lib/adapters/uploads/layout.ts';
import type { UploadEventDetail } from '../../lib/adapters/uploads/outcome.ts';
import { createPresignDependencies, createPresignHandler, type PresignDependencies, type UploadTicket } from '../../lib/adapters/uploads/presign.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { JPEG, PNG, apiEvent, lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { eventCapture, queueReader, type EventCapture, type QueueReader } from '../support/event-capture.ts';

// S3 uploads end to end on the emulators: POST /v1/uploads → presigned PUTs with fetch → the emulator's own
// S3 notification for the manifest (S3 → SQS, read back here: the real S3Event) → onUpload → sealed key (KMS)
// → Didit sandbox; Powertools idempotency on DynamoDB; the result on an EventBridge bus → rule → SQS.
// No emulator runs Lambda, so the handler is invoked in-process with the event S3 produced.

const em = testEmulator();
const dynamoEndpoint = testDynamoDbEndpoint();
const suffix = randomBytes(4).toString('hex');
const STAGE = 'uploads';
const names = {
  bucket: `didit-intake-${suffix}`,
  table: `didit-uploads-idempotency-${suffix}`,
  bus: `didit-uploads-${suffix}`,
  results: `didit-upload-results-${suffix}`,
  notifications: `didit-intake-notifications-${suffix}`,
  rule: `didit-uploads-to-sqs-${suffix}`,
};
const clientConfig = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });

/** What the sandbox's specimen document says: none of it may reach an event. */
const PII = ['SANDBOX123', '99999999R', 'Carmen', 'Española', 'Madrid', '1980-01-01', 'document_number', 'full_name', 'portrait_image'];

let sandbox: Sandbox;
let sealed: SealedKeyResources;
let gateway: GatewayDependencies;
let s3: S3Client;
let kms: KMSClient;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let sqs: SQSClient;
let uploadKeyArn: string;
let results: EventCapture<ReceivedEvent>;
let notifications: QueueReader<Partial<S3Event>>;
let notificationsUrl: string;
let intake: IntakeDependencies;
let presignDeps: PresignDependencies;
/** Every S3 command the upload handler sent, with its key (proves what was read and what was not). */
const s3Calls: Array<{ command: string; key: string | undefined }> = [];

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: em.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_REGION: em.region,
    AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
  });
  sandbox = await startSandbox();
  sealed = await provisionSealedKey(em, { stage: STAGE, apiKey: sandbox.apiKey });
  gateway = createDependencies(
    loadConfig({
      STAGE,
      SEALED_KEY_SECRET_ID: sealed.secretId,
      KMS_KEY_ID: sealed.kmsKeyArn,
      DIDIT_BASE_URL: sandbox.url,
      DIDIT_CA_FILE: sandbox.caFile,
      AWS_REGION: em.region,
    }),
  );

  // Path-style: LocalStack's presigned URLs on a custom endpoint need it (and moto is happy with it).
  const s3Options = { ...clientConfig(em.endpoint), forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } as const;
  s3 = new S3Client(s3Options);
  kms = new KMSClient(clientConfig(em.endpoint));
  dynamodb = new DynamoDBClient(clientConfig(dynamoEndpoint));
  eventBridge = new EventBridgeClient(clientConfig(em.endpoint));
  sqs = new SQSClient(clientConfig(em.endpoint));

  // The SSE-KMS key of the intake bucket (the uploads' headers name it).
  uploadKeyArn = (await kms.send(new CreateKeyCommand({ Description: `didit intake ${suffix}` }))).KeyMetadata!.Arn!;
  await s3.send(new CreateBucketCommand({ Bucket: names.bucket }));

  // S3 → SQS for the manifests only (the deployed notification targets onUpload with the same filter).
  notificationsUrl = (await sqs.send(new CreateQueueCommand({ QueueName: names.notifications }))).QueueUrl!;
  const notificationsArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: notificationsUrl, AttributeNames: ['QueueArn'] }))).Attributes!['QueueArn']!;
  notifications = queueReader<Partial<S3Event>>(sqs, notificationsUrl);
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: names.bucket,
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Id: 'intake-manifests',
            QueueArn: notificationsArn,
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'intake/' }, { Name: 'suffix', Value: '/manifest.json' }] } },
          },
        ],
      },
    }),
  );

  await createIdempotencyTable(dynamodb, names.table);
  results = await eventCapture<ReceivedEvent>({ eventBridge, sqs, bus: names.bus, rule: names.rule, queue: names.results, pattern: { source: ['didit.gateway'], 'detail-type': ['didit.upload.completed'] } });

  // The handler's own S3 client, recording each command and key.
  const handlerS3 = new S3Client(s3Options);
  handlerS3.middlewareStack.add(
    (next, context) => async (args) => {
      s3Calls.push({ command: context.commandName ?? '?', key: (args.input as { Key?: string }).Key });
      return next(args);
    },
    { step: 'initialize', name: 'recordUploadCalls' },
  );
  const env = {
    AWS_REGION: em.region,
    UPLOAD_BUCKET: names.bucket,
    UPLOAD_KMS_KEY_ID: uploadKeyArn,
    S3_FORCE_PATH_STYLE: 'true',
    IDEMPOTENCY_TABLE: names.table,
    EVENT_BUS_NAME: names.bus,
  };
  intake = createIntakeDependencies(loadIntakeConfig(env), { s3: handlerS3, dynamodb, eventBridge, gateway });
  presignDeps = createPresignDependencies(loadPresignConfig(env), s3);
  await notifications.drain();
});

afterAll(async () => {
  await results?.dispose();
  if (notificationsUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: notificationsUrl })).catch(() => {});
  if (s3) {
    const left = await listKeys('');
    if (left.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: names.bucket, Delete: { Objects: left.map((Key) => ({ Key })) } })).catch(() => {});
    await s3.send(new DeleteBucketCommand({ Bucket: names.bucket })).catch(() => {});
  }
  if (uploadKeyArn) await kms.send(new ScheduleKeyDeletionCommand({ KeyId: uploadKeyArn, PendingWindowInDays: 7 })).catch(() => {});
  if (dynamodb) await deleteIdempotencyTable(dynamodb, names.table);
  if (sealed) await teardownSealedKey(em, sealed);
  gateway?.didit.close();
  await sandbox?.close();
  for (const c of [s3, kms, dynamodb, eventBridge, sqs, intake?.objects]) (c as { destroy?: () => void } | undefined)?.destroy?.();
});

beforeEach(() => {
  sandbox.reset();
  s3Calls.length = 0;
});

async function presign(body: unknown): Promise<APIGatewayProxyResult> {
  const event = apiEvent({ method: 'POST', path: '/v1/uploads', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await createPresignHandler({ dependencies: () => presignDeps })(event, lambdaContext())) as APIGatewayProxyResult;
}

async function ticketFor(body: unknown): Promise<UploadTicket> {
  const res = await presign(body);
  expect(res.statusCode, res.body).toBe(201);
  return JSON.parse(res.body) as UploadTicket;
}

/** PUTs each file to its presigned URL with the headers the ticket lists, then the manifest (last). */
async function uploadWithTicket(ticket: UploadTicket, files: Readonly<Record<string, Buffer>>): Promise<void> {
  for (const file of ticket.files) {
    const res = await fetch(file.url, { method: file.method, headers: file.headers, body: files[file.field]! });
    expect(res.status, `${file.field}: ${await res.text()}`).toBe(200);
  }
  const res = await fetch(ticket.manifest.url, { method: ticket.manifest.method, headers: ticket.manifest.headers, body: ticket.manifest.body });
  expect(res.status, await res.text()).toBe(200);
}

/** The S3 event the emulator delivered for this manifest key (skips s3:TestEvent and other keys). */
async function s3EventFor(key: string): Promise<S3Event> {
  return (await notifications.next(({ event }) => event.Records?.some((r) => decodeS3Key(r.s3.object.key) === key) === true)).event as S3Event;
}

async function onUpload(event: S3Event): Promise<UploadRecordResult[]> {
  const out = (await createUploadHandler({ dependencies: () => intake })(event, lambdaContext({ remainingMs: 60_000 }))) as { results: UploadRecordResult[] };
  return out.results;
}

interface ReceivedEvent {
  source: string;
  'detail-type': string;
  detail: UploadEventDetail;
}

/**
 * The result events of one upload (by callerRef; others, e.g. late ones of an earlier test, are dropped)
 * published so far, once `min` arrived: read up to a marker put on the bus after them, so a duplicate shows.
 */
async function receiveResults(callerRef: string, min: number): Promise<Array<{ raw: string; event: ReceivedEvent }>> {
  return results.collect(min, ({ event }) => event.detail?.callerRef === callerRef);
}

async function listKeys(prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: names.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/** A writer with bucket rights (no presigned URL): for uploads the presign endpoint would refuse. */
async function putDirect(key: string, body: Buffer, uploadId: string, contentType = 'application/octet-stream'): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: names.bucket,
      Key: key,
      Body: body,
      ContentType: contentType,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: uploadKeyArn,
      Metadata: { 'caller-ref': 'direct', 'upload-id': uploadId },
    }),
  );
}

const calls = (path: string) => sandbox.count({ pathPrefix: path });

function expectNoPii(raw: string): void {
  for (const marker of PII) expect(raw, marker).not.toContain(marker);
  expect(raw).not.toMatch(/https?:\/\//);
}

describe('S3 uploads on the emulators', () => {
  it('id verification: presign, PUT front + back + manifest, one Didit call with both files, objects deleted, one event without PII; a redelivered S3 event calls nothing', async () => {
    const callerRef = `order-${suffix}-1`;
    const back = Buffer.concat([PNG, Buffer.alloc(300, 2)]);
    const ticket = await ticketFor({
      operation: 'idVerification',
      callerRef,
      files: [
        { field: 'front_image', contentType: 'image/jpeg', size: JPEG.length },
        { field: 'back_image', contentType: 'image/png', size: back.length },
      ],
      fields: { minimum_age: 18, perform_document_liveness: true, vendor_data: 'user-7' },
    });
    expect(ticket.files.map((f) => f.key)).toEqual([
      `intake/idVerification/${callerRef}/${ticket.uploadId}/front_image`,
      `intake/idVerification/${callerRef}/${ticket.uploadId}/back_image`,
    ]);
    // Nothing secret in the URLs: the SSE and metadata values travel as signed headers, not in the query.
    for (const url of [...ticket.files.map((f) => f.url), ticket.manifest.url]) {
      const query = new URL(url).searchParams;
      expect([...query.keys()].filter((k) => !k.startsWith('X-Amz-') && k !== 'x-id')).toEqual([]);
      expect(query.get('X-Amz-Expires')).toBe('300');
      expect(url).not.toContain(uploadKeyArn);
    }

    await uploadWithTicket(ticket, { front_image: JPEG, back_image: back });
    const event = await s3EventFor(ticket.manifest.key);
    expect(await listKeys(uploadPrefix(ticket))).toHaveLength(3);

    const [result] = await onUpload(event);
    expect(result).toMatchObject({ status: 'succeeded', replayed: false, published: true });
    expect(calls('/v3/id-verification/')).toBe(1);
    const seen = sandbox.received.at(-1)!;
    expect(seen).toMatchObject({ method: 'POST', keyMatched: true, status: 200 });
    expect(seen.files).toEqual({
      front_image: { filename: 'upload.jpg', bytes: JPEG.length, mimeType: 'image/jpeg' },
      back_image: { filename: 'upload.png', bytes: back.length, mimeType: 'image/png' },
    });
    expect(seen.fields).toEqual({ minimum_age: '18', perform_document_liveness: 'true', vendor_data: 'user-7' });
    // Sizes were checked before reading: one HeadObject per file, then the reads.
    const firstGet = s3Calls.findIndex((c) => c.command === 'GetObjectCommand' && c.key !== ticket.manifest.key);
    const lastHead = s3Calls.map((c) => c.command).lastIndexOf('HeadObjectCommand');
    expect(lastHead).toBeLessThan(firstGet);

    expect(await listKeys(uploadPrefix(ticket))).toEqual([]);
    const events = await receiveResults(callerRef, 1);
    expect(events).toHaveLength(1);
    const [{ raw, event: published }] = events as [{ raw: string; event: ReceivedEvent }];
    expect(published.source).toBe('didit.gateway');
    expect(published['detail-type']).toBe('didit.upload.completed');
    expect(published.detail).toEqual({
      schemaVersion: 1,
      operation: 'idVerification',
      callerRef,
      uploadId: ticket.uploadId,
      status: 'succeeded',
      decisionStatus: 'Approved',
      risks: [],
      diditRequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expectNoPii(raw);
    expect(raw).not.toContain('user-7');

    // S3 delivers again (or Lambda retries): the stored outcome answers, Didit is not called, no second event.
    const [again] = await onUpload(event);
    expect(again).toMatchObject({ status: 'succeeded', replayed: true, published: false });
    expect(calls('/v3/id-verification/')).toBe(1);
    expect(await receiveResults(callerRef, 0)).toEqual([]);

    // The stored outcome is the allow-listed summary: no PII in DynamoDB either.
    const scan = await dynamodb.send(new ScanCommand({ TableName: names.table }));
    const records = (scan.Items ?? []).filter((i) => i['id']?.S?.startsWith('didit-upload#'));
    expect(records).toHaveLength(1);
    expect(records[0]!['status']?.S).toBe('COMPLETED');
    expectNoPii(JSON.stringify(records));
  });

  it('face match: user_image and ref_image arrive together in one Didit call', async () => {
    const other = Buffer.concat([JPEG, Buffer.alloc(100, 9)]);
    const ticket = await ticketFor({
      operation: 'faceMatch',
      callerRef: `selfie-${suffix}`,
      files: [
        { field: 'user_image', contentType: 'image/jpeg', size: JPEG.length },
        { field: 'ref_image', contentType: 'image/jpeg', size: other.length },
      ],
      fields: { face_match_score_decline_threshold: '90' },
    });
    await uploadWithTicket(ticket, { user_image: JPEG, ref_image: other });
    const [result] = await onUpload(await s3EventFor(ticket.manifest.key));
    expect(result).toMatchObject({ status: 'succeeded', published: true });
    expect(calls('/v3/face-match/')).toBe(1);
    expect(sandbox.received.at(-1)!.files).toMatchObject({ user_image: { bytes: JPEG.length }, ref_image: { bytes: other.length } });
    const [{ event }] = (await receiveResults(`selfie-${suffix}`, 1)) as [{ raw: string; event: ReceivedEvent }];
    expect(event.detail).toMatchObject({ operation: 'faceMatch', status: 'succeeded', decisionStatus: 'Declined', risks: ['LOW_FACE_MATCH_SIMILARITY'] });
    expect(await listKeys(uploadPrefix(ticket))).toEqual([]);
  });

  it('a file over the rule (HeadObject size) is refused without reading it and without calling Didit', async () => {
    const uploadId = randomUUID();
    const at = { operation: 'passiveLiveness', callerRef: `big-${suffix}`, uploadId };
    // 5 MB + 1 byte, written with bucket rights: the presign endpoint would have refused the declared size.
    const big = Buffer.concat([JPEG.subarray(0, 4), Buffer.alloc(5 * 1024 * 1024 + 1 - 4)]);
    await putDirect(fileKey(at, 'user_image'), big, uploadId, 'image/jpeg');
    const manifest: Manifest = { version: 1, ...at, files: { user_image: { size: big.length, contentType: 'image/jpeg' } }, fields: {} };
    await putDirect(manifestKey(at), manifestBytes(manifest), uploadId, 'application/json');

    const [result] = await onUpload(await s3EventFor(manifestKey(at)));
    expect(result).toMatchObject({ status: 'failed', errorCode: 'PAYLOAD_TOO_LARGE', published: true });
    expect(s3Calls).toContainEqual({ command: 'HeadObjectCommand', key: fileKey(at, 'user_image') });
    expect(s3Calls.filter((c) => c.command === 'GetObjectCommand' && c.key === fileKey(at, 'user_image'))).toEqual([]);
    expect(sandbox.received).toHaveLength(0);
    expect(await listKeys(uploadPrefix(at))).toEqual([]);
    const [{ event }] = (await receiveResults(at.callerRef, 1)) as [{ raw: string; event: ReceivedEvent }];
    expect(event.detail).toEqual({
      schemaVersion: 1,
      ...at,
      status: 'failed',
      errorCode: 'PAYLOAD_TOO_LARGE',
      issues: [{ field: 'user_image', message: 'must be at most 5 MB' }],
    });
  });

  it('a file whose bytes are not an allowed type fails by magic bytes: failed event, nothing sent to Didit', async () => {
    const text = Buffer.from('this is not an image, whatever the content type says\n'.repeat(20));
    const ticket = await ticketFor({
      operation: 'idVerification',
      callerRef: `fake-${suffix}`,
      files: [{ field: 'front_image', contentType: 'image/jpeg', size: text.length }],
    });
    await uploadWithTicket(ticket, { front_image: text });
    const [result] = await onUpload(await s3EventFor(ticket.manifest.key));
    expect(result).toMatchObject({ status: 'failed', errorCode: 'VALIDATION_FAILED' });
    expect(sandbox.received).toHaveLength(0);
    expect(await listKeys(uploadPrefix(ticket))).toEqual([]);
    const [{ raw, event }] = (await receiveResults(ticket.callerRef, 1)) as [{ raw: string; event: ReceivedEvent }];
    expect(event.detail).toMatchObject({
      operation: 'idVerification',
      status: 'failed',
      errorCode: 'VALIDATION_FAILED',
      issues: [{ field: 'front_image', message: 'must be one of: jpeg, png, webp, tiff, pdf' }],
    });
    expect(raw).not.toContain('this is not an image');
  });

  it('a retryable Didit fault keeps the objects and publishes nothing; the retry calls Didit again and succeeds', async () => {
    const ticket = await ticketFor({
      operation: 'passiveLiveness',
      callerRef: `retry-${suffix}`,
      files: [{ field: 'user_image', contentType: 'image/png', size: PNG.length }],
    });
    await uploadWithTicket(ticket, { user_image: PNG });
    const event = await s3EventFor(ticket.manifest.key);
    sandbox.inject({ fault: { kind: 'status', status: 503 }, pathPrefix: '/v3/passive-liveness/' });

    await expect(onUpload(event)).rejects.toMatchObject({ code: 'DIDIT_UNAVAILABLE' });
    expect(calls('/v3/passive-liveness/')).toBe(1);
    expect(await listKeys(uploadPrefix(ticket))).toHaveLength(2);
    expect(await receiveResults(ticket.callerRef, 0)).toEqual([]);

    // Lambda's asynchronous retry: the same event. The 503 was not billed; this call is the one that counts.
    const [result] = await onUpload(event);
    expect(result).toMatchObject({ status: 'succeeded', replayed: false, published: true });
    expect(calls('/v3/passive-liveness/')).toBe(2);
    expect(sandbox.received.map((r) => r.status)).toEqual([503, 200]);
    expect(await listKeys(uploadPrefix(ticket))).toEqual([]);
    expect(await receiveResults(ticket.callerRef, 1)).toHaveLength(1);
  });

  it('a Didit timeout on a paid call is final (it may have been billed): reported as outcomeUnknown, never retried automatically', async () => {
    const ticket = await ticketFor({
      operation: 'ageEstimation',
      callerRef: `slow-${suffix}`,
      files: [{ field: 'user_image', contentType: 'image/jpeg', size: JPEG.length }],
    });
    await uploadWithTicket(ticket, { user_image: JPEG });
    const event = await s3EventFor(ticket.manifest.key);
    // An invocation with 10 s left: the call is cut 5 s before the deadline (not the 25 s table budget), and
    // storing, deleting and publishing still fit in what is left.
    sandbox.inject({ fault: { kind: 'delay', ms: 12_000 }, pathPrefix: '/v3/age-estimation/' });
    const handler = createUploadHandler({ dependencies: () => intake });
    const out = (await handler(event, lambdaContext({ remainingMs: 10_000 }))) as { results: UploadRecordResult[] };
    expect(out.results[0]).toMatchObject({ status: 'failed', errorCode: 'DIDIT_TIMEOUT', published: true });
    const [again] = await onUpload(event);
    expect(again).toMatchObject({ status: 'failed', replayed: true });
    expect(calls('/v3/age-estimation/')).toBe(1);
    const [{ event: published }] = (await receiveResults(ticket.callerRef, 1)) as [{ raw: string; event: ReceivedEvent }];
    expect(published.detail).toMatchObject({ status: 'failed', errorCode: 'DIDIT_TIMEOUT', outcomeUnknown: true });
  });

  it('the manifest is bound to what was validated: S3 refuses a changed body (Content-MD5), and the trigger validates again anyway', async () => {
    const ticket = await ticketFor({
      operation: 'idVerification',
      callerRef: `tamper-${suffix}`,
      files: [{ field: 'front_image', contentType: 'image/jpeg', size: JPEG.length }],
      fields: { minimum_age: '18' },
    });
    for (const file of ticket.files) await fetch(file.url, { method: 'PUT', headers: file.headers, body: JPEG });
    // Same length (Content-Length is signed too), different bytes.
    const tampered = ticket.manifest.body.replace('"minimum_age":"18"', '"minimum_age":"1x"');
    expect(tampered).not.toBe(ticket.manifest.body);
    const res = await fetch(ticket.manifest.url, { method: 'PUT', headers: ticket.manifest.headers, body: tampered });
    const localstack = await fetch(`${em.endpoint}/_localstack/health`).then((r) => r.ok, () => false);
    if (localstack) {
      // LocalStack checks Content-MD5 like S3 does.
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('BadDigest');
      await fetch(ticket.manifest.url, { method: 'PUT', headers: ticket.manifest.headers, body: ticket.manifest.body });
      const [result] = await onUpload(await s3EventFor(ticket.manifest.key));
      expect(result).toMatchObject({ status: 'succeeded' });
      expect(calls('/v3/id-verification/')).toBe(1);
    } else {
      // moto stores it regardless: the trigger's own validation is what refuses it.
      expect(res.status).toBe(200);
      const [result] = await onUpload(await s3EventFor(ticket.manifest.key));
      expect(result).toMatchObject({ status: 'failed', errorCode: 'VALIDATION_FAILED' });
      expect(sandbox.received).toHaveLength(0);
    }
    expect(await listKeys(uploadPrefix(ticket))).toEqual([]);
    expect(await receiveResults(ticket.callerRef, 1)).toHaveLength(1);
  });

  it('operations without files: refused by POST /v1/uploads, and a manifest for one fails with OPERATION_NOT_ALLOWED', async () => {
    const res = await presign({ operation: 'amlScreening', callerRef: 'aml-1', files: [{ field: 'document', contentType: 'application/pdf', size: 10 }] });
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).error.issues[0]).toMatchObject({ field: 'operation' });

    const uploadId = randomUUID();
    const at = { operation: 'amlScreening', callerRef: `aml-${suffix}`, uploadId };
    await putDirect(manifestKey(at), manifestBytes({ version: 1, ...at, files: {}, fields: { full_name: 'Carmen Española' } }), uploadId, 'application/json');
    const [result] = await onUpload(await s3EventFor(manifestKey(at)));
    expect(result).toMatchObject({ status: 'failed', errorCode: 'OPERATION_NOT_ALLOWED' });
    expect(sandbox.received).toHaveLength(0);
    expect(s3Calls.filter((c) => c.command === 'GetObjectCommand')).toEqual([]);
    const [{ raw, event }] = (await receiveResults(at.callerRef, 1)) as [{ raw: string; event: ReceivedEvent }];
    expect(event.detail).toMatchObject({ operation: 'amlScreening', status: 'failed', errorCode: 'OPERATION_NOT_ALLOWED' });
    expectNoPii(raw);
    expect(await listKeys(uploadPrefix(at))).toEqual([]);
  });

  it('POST /v1/uploads checks sizes, types, required files and text fields before signing anything', async () => {
    const res = await presign({
      operation: 'idVerification',
      callerRef: 'ref with spaces',
      files: [
        { field: 'back_image', contentType: 'image/gif', size: 6 * 1024 * 1024 },
        { field: 'selfie', contentType: 'image/jpeg', size: 10 },
      ],
      fields: { minimum_age: 200, colour: 'red' },
    });
    expect(res.statusCode).toBe(400);
    const issues = JSON.parse(res.body).error.issues as Array<{ field: string }>;
    expect(issues.map((i) => i.field)).toEqual(['callerRef']);
    const res2 = await presign({
      operation: 'idVerification',
      callerRef: 'ref-ok',
      files: [
        { field: 'back_image', contentType: 'image/gif', size: 6 * 1024 * 1024 },
        { field: 'selfie', contentType: 'image/jpeg', size: 10 },
      ],
      fields: { minimum_age: 200, colour: 'red' },
    });
    expect(res2.statusCode).toBe(400);
    const fields = (JSON.parse(res2.body).error.issues as Array<{ field: string }>).map((i) => i.field).sort();
    expect(fields).toEqual(['fields.colour', 'fields.minimum_age', 'files', 'files.0.contentType', 'files.0.size', 'files.1.field']);
    expect(await listKeys('intake/idVerification/ref-ok/')).toEqual([]);
  });
});
