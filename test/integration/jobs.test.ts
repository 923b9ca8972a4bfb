import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import type { HttpRequest } from '@smithy/types';
import type { APIGatewayProxyResult, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { createGetJobHandler, createSubmitJobHandler } from '../../lib/adapters/jobs/api.ts';
import { loadJobConfig } from '../../lib/adapters/jobs/config.ts';
import { createJobDependencies, type JobDependencies } from '../../lib/adapters/jobs/dependencies.ts';
import { JobStoreUnavailableError } from '../../lib/adapters/jobs/errors.ts';
import type { JobCompletedDetail } from '../../lib/adapters/jobs/events.ts';
import { createJobsTable, deleteJobsTable, JobStore } from '../../lib/adapters/jobs/store.ts';
import { createJobWorker, type JobWorkerDependencies } from '../../lib/adapters/jobs/worker.ts';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import type { SecureKmsRequestHandler } from '../../lib/kms/secure-request-handler.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { apiEvent, JPEG, lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { eventCapture, queueReader, type EventCapture } from '../support/event-capture.ts';

// Asynchronous jobs end to end on the emulators: submit (validation, job record in DynamoDB, SQS message) →
// the worker on the messages read back from SQS, in the SQSEvent shape Lambda builds (the emulators cannot
// invoke Lambda from SQS) → sealed key (Secrets Manager + KMS) → sandbox → result sealed with a KMS data key →
// Powertools idempotency on DynamoDB → EventBridge bus → rule → SQS, read back here → GET decrypts the result.

const em = testEmulator();
const dynamoEndpoint = testDynamoDbEndpoint();
const suffix = randomBytes(4).toString('hex');
const STAGE = 'jobs';
const names = {
  jobsTable: `didit-jobs-${suffix}`,
  idempotencyTable: `didit-jobs-idempotency-${suffix}`,
  bus: `didit-jobs-${suffix}`,
  rule: `didit-jobs-to-sqs-${suffix}`,
  queue: `didit-jobs-${suffix}`,
  dlq: `didit-jobs-dlq-${suffix}`,
  events: `didit-job-events-${suffix}`,
};
const MAX_RECEIVE_COUNT = 3;
const clientConfig = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });

let sandbox: Sandbox;
let sealed: SealedKeyResources;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let sqs: SQSClient;
let queueUrl: string;
let queueArn: string;
let dlqUrl: string;
let events: EventCapture<ReceivedEvent>;
let gateway: GatewayDependencies;
let jobs: JobDependencies;
let jobsKmsHandler: SecureKmsRequestHandler;
let logs: string[] = [];
/** KMS requests by X-Amz-Target, on both KMS clients (the sealed API key's, and the job results'). */
const kmsCalls: string[] = [];

function environment(): NodeJS.ProcessEnv {
  return {
    STAGE,
    AWS_REGION: em.region,
    SEALED_KEY_SECRET_ID: sealed.secretId,
    KMS_KEY_ID: sealed.kmsKeyArn,
    DIDIT_BASE_URL: sandbox.url,
    DIDIT_CA_FILE: sandbox.caFile,
    JOBS_TABLE: names.jobsTable,
    JOBS_QUEUE_URL: queueUrl,
    IDEMPOTENCY_TABLE: names.idempotencyTable,
    EVENT_BUS_NAME: names.bus,
  };
}

function countKms(handler: SecureKmsRequestHandler): void {
  const handle = handler.handle.bind(handler);
  handler.handle = (request: HttpRequest, options?: Parameters<SecureKmsRequestHandler['handle']>[1]) => {
    const target = Object.entries(request.headers).find(([k]) => k.toLowerCase() === 'x-amz-target')?.[1] ?? '?';
    kmsCalls.push(target.replace('TrentService.', ''));
    return handle(request, options);
  };
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
  sqs = new SQSClient(clientConfig(em.endpoint));

  sandbox = await startSandbox();
  sealed = await provisionSealedKey(em, { stage: STAGE, apiKey: sandbox.apiKey });
  await Promise.all([createJobsTable(dynamodb, names.jobsTable), createIdempotencyTable(dynamodb, names.idempotencyTable)]);

  // The job queue and its dead-letter queue (as the stack defines them: redrive after MAX_RECEIVE_COUNT).
  dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: names.dlq }))).QueueUrl!;
  const dlqArn = await arnOf(dlqUrl);
  queueUrl = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: names.queue,
        Attributes: {
          VisibilityTimeout: '30',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
        },
      }),
    )
  ).QueueUrl!;
  queueArn = await arnOf(queueUrl);

  // Completion events: bus → rule (source didit.jobs) → a queue read back here.
  events = await eventCapture<ReceivedEvent>({ eventBridge, sqs, bus: names.bus, rule: names.rule, queue: names.events, pattern: { source: ['didit.jobs'] } });

  gateway = createDependencies(loadConfig(environment()));
  countKms(gateway.kmsHandler);
  const jobsKms = createSecureKmsClient({ region: em.region });
  jobsKmsHandler = jobsKms.handler;
  countKms(jobsKmsHandler);
  jobs = createJobDependencies(loadJobConfig(environment()), { dynamodb, sqs, eventBridge, kms: jobsKms.client });

  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return (write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
  }
});

afterAll(async () => {
  gateway?.didit.close();
  await events?.dispose();
  for (const url of [queueUrl, dlqUrl]) if (url) await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => {});
  if (dynamodb) {
    await deleteJobsTable(dynamodb, names.jobsTable);
    await deleteIdempotencyTable(dynamodb, names.idempotencyTable);
  }
  if (sealed) await teardownSealedKey(em, sealed);
  await sandbox?.close();
  jobsKmsHandler?.destroy();
  for (const c of [dynamodb, eventBridge, sqs]) c?.destroy();
});

beforeEach(async () => {
  sandbox.reset();
  logs = [];
  kmsCalls.length = 0;
  await drain(queueUrl);
  await events.drain();
});

// ---- helpers -----------------------------------------------------------------------------------------

async function arnOf(url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return out.Attributes!['QueueArn']!;
}

const body = (r: APIGatewayProxyResult) => JSON.parse(r.body) as Record<string, any>;
const audits = () => logs.filter((l) => l.includes('"audit":"didit-key-use"')).map((l) => JSON.parse(l) as Record<string, unknown>);

async function submit(operation: string, input: unknown, d: JobDependencies = jobs): Promise<APIGatewayProxyResult> {
  const event = apiEvent({
    method: 'POST',
    path: `/v1/jobs/${operation}`,
    resource: '/v1/jobs/{operation}',
    pathParameters: { operation },
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  return (await createSubmitJobHandler({ dependencies: () => d })(event, lambdaContext())) as APIGatewayProxyResult;
}

async function getJob(jobId: string): Promise<APIGatewayProxyResult> {
  const event = apiEvent({ method: 'GET', path: `/v1/jobs/${jobId}`, resource: '/v1/jobs/{jobId}', pathParameters: { jobId } });
  return (await createGetJobHandler({ dependencies: () => jobs })(event, lambdaContext())) as APIGatewayProxyResult;
}

async function submitAml(fullName = 'Ana García'): Promise<string> {
  const res = await submit('amlScreening', { body: { full_name: fullName, nationality: 'ES' } });
  expect(res.statusCode).toBe(202);
  return body(res)['jobId'] as string;
}

/** Receives until `n` messages are in hand (a Lambda batch can be any set of visible messages), long-polling. */
async function receive(url: string, n: number): Promise<Message[]> {
  const messages: Message[] = [];
  while (messages.length < n) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: Math.min(10, n - messages.length), WaitTimeSeconds: 20, MessageSystemAttributeNames: ['All'] }),
    );
    messages.push(...(out.Messages ?? []));
  }
  return messages;
}

/** Nothing visible is waiting in the queue: a marker sent now is the first message to come back. */
async function receiveNone(url: string): Promise<void> {
  expect(await queueReader(sqs, url).collect(0)).toEqual([]);
}

/** Deletes every message sent to the queue so far (read up to a marker sent after them). */
async function drain(url: string): Promise<void> {
  await queueReader(sqs, url).drain();
}

/** The record Lambda's SQS event source mapping builds from a received message. */
function sqsRecord(message: Message, arn = queueArn): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body!,
    attributes: {
      ApproximateReceiveCount: a['ApproximateReceiveCount'] ?? '1',
      SentTimestamp: a['SentTimestamp'] ?? String(Date.now()),
      SenderId: a['SenderId'] ?? 'AIDATEST',
      ApproximateFirstReceiveTimestamp: a['ApproximateFirstReceiveTimestamp'] ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: em.region,
  };
}

type WorkerDeps = Partial<JobWorkerDependencies> & { jobs?: JobDependencies };

async function runWorker(messages: Message[], d: WorkerDeps = {}, remainingMs = 60_000, arn = queueArn): Promise<SQSBatchResponse> {
  const worker = createJobWorker({ dependencies: () => ({ jobs: d.jobs ?? jobs, gateway: d.gateway ?? gateway }) });
  const event: SQSEvent = { Records: messages.map((m) => sqsRecord(m, arn)) };
  return (await worker(event, lambdaContext({ remainingMs }))) as SQSBatchResponse;
}

/**
 * What the event source mapping does with the answer: deletes the messages that succeeded; the failed ones
 * stay in flight until their visibility timeout ends (made immediate here).
 */
async function settle(url: string, messages: Message[], response: SQSBatchResponse, options: { deleteSucceeded?: boolean } = {}): Promise<void> {
  const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  for (const m of messages) {
    if (failed.has(m.MessageId!)) await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
    else if (options.deleteSucceeded !== false) await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
    else await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
  }
}

/** Receives `n` job messages, runs the worker on them as one batch, settles them as Lambda would. */
async function deliver(n = 1, d: WorkerDeps = {}, remainingMs = 60_000): Promise<{ messages: Message[]; response: SQSBatchResponse }> {
  const messages = await receive(queueUrl, n);
  expect(messages).toHaveLength(n);
  const response = await runWorker(messages, d, remainingMs);
  await settle(queueUrl, messages, response);
  return { messages, response };
}

interface ReceivedEvent {
  source: string;
  'detail-type': string;
  detail: JobCompletedDetail;
}

/** The completion events published so far, once at least `min` arrived (read up to a marker put on the bus after them). */
async function receiveEvents(min: number): Promise<ReceivedEvent[]> {
  return (await events.collect(min)).map((c) => c.event);
}

async function jobItem(jobId: string): Promise<string> {
  const out = await dynamodb.send(new GetItemCommand({ TableName: names.jobsTable, Key: { jobId: { S: jobId } }, ConsistentRead: true }));
  return JSON.stringify(out.Item ?? null);
}

/** Job dependencies whose store fails `complete` the first `times` times (a lost write after the Didit call). */
function withFailingComplete(times: number): JobDependencies {
  const store = new JobStore({ client: dynamodb, tableName: names.jobsTable });
  let left = times;
  return {
    ...jobs,
    store: {
      create: (r) => store.create(r),
      get: (id) => store.get(id),
      delete: (id) => store.delete(id),
      beginCall: (id, now) => store.beginCall(id, now),
      endCall: (id, now) => store.endCall(id, now),
      markNotified: (id, now) => store.markNotified(id, now),
      complete: async (id, outcome, now) => {
        if (left-- > 0) throw new JobStoreUnavailableError('simulated DynamoDB outage');
        return store.complete(id, outcome, now);
      },
    },
  };
}

// ---- tests -------------------------------------------------------------------------------------------

describe('job API and worker on the emulators', () => {
  it('submit → 202 → worker on the message read back from SQS → GET shows succeeded with the decrypted result', async () => {
    const res = await submit('amlScreening', { body: { full_name: 'Ana García', nationality: 'ES' } });
    expect(res.statusCode).toBe(202);
    const accepted = body(res);
    expect(accepted).toEqual({ jobId: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'queued', statusUrl: `/v1/jobs/${accepted['jobId']}` });
    expect(res.headers?.['location']).toBe(accepted['statusUrl']);
    const jobId = accepted['jobId'] as string;
    expect(sandbox.received).toHaveLength(0); // nothing sent to Didit at submit

    const queued = await getJob(jobId);
    expect(queued.statusCode).toBe(200);
    expect(body(queued)).toEqual({ jobId, operation: 'amlScreening', status: 'queued', createdAt: expect.any(String), completedAt: null });

    const { response } = await deliver(1);
    expect(response.batchItemFailures).toEqual([]);
    expect(sandbox.count({ pathPrefix: '/v3/aml/', keyMatched: true })).toBe(1);

    const done = await getJob(jobId);
    expect(done.statusCode).toBe(200);
    const view = body(done);
    expect(view).toMatchObject({ jobId, operation: 'amlScreening', status: 'succeeded', completedAt: expect.any(String) });
    expect(view['result'].aml.status).toBe('Approved');
    expect(view['error']).toBeUndefined();

    // At rest the result is sealed: neither the job record nor the idempotency record holds it in clear.
    const item = await jobItem(jobId);
    expect(item).toContain('"A256GCM"');
    expect(item).not.toContain('Approved');
    expect(item).not.toContain('Ana');
    const idempotency = JSON.stringify((await dynamodb.send(new ScanCommand({ TableName: names.idempotencyTable }))).Items);
    expect(idempotency).toContain('didit-job#');
    expect(idempotency).not.toContain('Approved');
    expect(idempotency).not.toContain('Ana');

    // One completion event, with identifiers and status only.
    const events = await receiveEvents(1);
    expect(events).toHaveLength(1);
    expect(events[0]!.source).toBe('didit.jobs');
    expect(events[0]!['detail-type']).toBe('didit.job.completed');
    expect(events[0]!.detail).toEqual({ schema_version: 1, jobId, operation: 'amlScreening', status: 'succeeded', completedAt: view['completedAt'] });
    expect(JSON.stringify(events[0])).not.toContain('Ana');

    // One audit record for the one Didit call, with the submitter as caller.
    const [audit, ...more] = audits();
    expect(more).toEqual([]);
    expect(audit).toMatchObject({ operation: 'amlScreening', caller: 'arn:aws:iam::000000000000:user/test-caller', diditStatus: 200, outcome: 'success' });
    // The API key: one Decrypt; the result: one GenerateDataKey (worker) and one Decrypt (GET).
    expect(kmsCalls.filter((c) => c === 'Decrypt')).toHaveLength(2);
    expect(kmsCalls.filter((c) => c === 'GenerateDataKey')).toHaveLength(1);
  });

  it('a file operation as a job: the image travels base64 in the message and reaches Didit as multipart', async () => {
    const res = await submit('idVerification', { body: { front_image: JPEG.toString('base64'), minimum_age: 18 } });
    expect(res.statusCode).toBe(202);
    const jobId = body(res)['jobId'] as string;
    const bad = await submit('idVerification', { body: { front_image: Buffer.from('not an image').toString('base64') } });
    expect(bad.statusCode).toBe(400);
    expect(body(bad).error.issues).toEqual([{ field: 'front_image', message: expect.stringMatching(/^must be one of/) }]);
    const { response } = await deliver(1);
    expect(response.batchItemFailures).toEqual([]);
    const seen = sandbox.received.at(-1)!;
    expect(seen.files?.['front_image']).toMatchObject({ bytes: JPEG.length, mimeType: 'image/jpeg' });
    expect(seen.fields).toMatchObject({ minimum_age: '18' });
    const view = body(await getJob(jobId));
    expect(view['status']).toBe('succeeded');
    expect(view['result'].id_verification.status).toBeDefined();
  });

  it('a batch of N messages performs exactly ONE KMS Decrypt of the API key (one audit record per Didit call)', async () => {
    const N = 5;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push(await submitAml(`Person ${i}`));
    kmsCalls.length = 0;
    logs = [];
    const { response, messages } = await deliver(N);
    expect(messages).toHaveLength(N);
    expect(response.batchItemFailures).toEqual([]);
    expect(sandbox.count({ pathPrefix: '/v3/aml/', keyMatched: true })).toBe(N);
    // Worker only (no GET yet): one Decrypt (the sealed API key), one GenerateDataKey (the batch's data key).
    expect([...kmsCalls].sort()).toEqual(['Decrypt', 'GenerateDataKey']);
    expect(audits()).toHaveLength(N);
    const summary = logs.find((l) => l.includes('"job batch done"'));
    expect(JSON.parse(summary!)).toMatchObject({ records: N, succeeded: N, kmsDecrypts: 1, sharedKeyUses: N });
    for (const id of ids) expect(body(await getJob(id))['status']).toBe('succeeded');
  });

  it('a batch of 3 with one poison message: batchItemFailures lists exactly that one, the others succeed', async () => {
    const a = await submitAml('Ana');
    const b = await submitAml('Bea');
    // A message whose job record does not exist (e.g. sent by hand, or the record expired).
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ v: 1, jobId: randomUUID(), operation: 'amlScreening', input: { body: { full_name: 'X' } } }) }));
    const messages = await receive(queueUrl, 3);
    const poison = messages.find((m) => ![a, b].includes(JSON.parse(m.Body!).jobId))!;
    const response = await runWorker(messages);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: poison.MessageId }]);
    await settle(queueUrl, messages, response);
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(2);
    expect(kmsCalls.filter((c) => c === 'Decrypt')).toHaveLength(1);
    for (const id of [a, b]) expect(body(await getJob(id))['status']).toBe('succeeded');

    // An operation name this version does not know is poison too.
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ v: 1, jobId: a, operation: 'launchRocket', input: {} }) }));
    const [unknown] = await receive(queueUrl, 1);
    expect((await runWorker([unknown!])).batchItemFailures).toEqual([{ itemIdentifier: unknown!.MessageId }]);
    await drain(queueUrl);
  });

  it('redelivery of a processed message (its delete failed): Didit is not called again, the event is not repeated', async () => {
    const jobId = await submitAml();
    const [message] = await receive(queueUrl, 1);
    const first = await runWorker([message!]);
    expect(first.batchItemFailures).toEqual([]);
    // The delete is lost: SQS delivers the message again.
    await settle(queueUrl, [message!], first, { deleteSucceeded: false });
    const [again] = await receive(queueUrl, 1);
    expect(again!.MessageId).toBe(message!.MessageId);
    expect(Number(again!.Attributes?.['ApproximateReceiveCount'])).toBe(2);
    const second = await runWorker([again!]);
    expect(second.batchItemFailures).toEqual([]);
    await settle(queueUrl, [again!], second);
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1);
    expect(body(await getJob(jobId))['status']).toBe('succeeded');
    expect((await receiveEvents(1)).filter((e) => e.detail.jobId === jobId)).toHaveLength(1);
  });

  it('redelivery after the job record update failed: the stored outcome is replayed, Didit called once', async () => {
    const jobId = await submitAml();
    const { response } = await deliver(1, { jobs: withFailingComplete(1) });
    expect(response.batchItemFailures).toHaveLength(1); // the record could not be written: redelivered
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1);
    expect(body(await getJob(jobId))['status']).toBe('running');

    const retry = await deliver(1);
    expect(retry.response.batchItemFailures).toEqual([]);
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1); // exactly one Didit call
    const view = body(await getJob(jobId));
    expect(view['status']).toBe('succeeded');
    expect(view['result'].aml.status).toBe('Approved');
    expect(logs.some((l) => l.includes('replayed from the idempotency record'))).toBe(true);
    expect(audits()).toHaveLength(1);
  });

  it('Didit 500 on a paid operation: item failure (no retry in the worker), next delivery succeeds: 2 calls, 1 billed 200', async () => {
    const jobId = await submitAml();
    sandbox.inject({ fault: { kind: 'status', status: 500 }, pathPrefix: '/v3/aml/' });
    const first = await deliver(1);
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: first.messages[0]!.MessageId }]);
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1);
    expect(body(await getJob(jobId))['status']).toBe('running');
    expect(await jobItem(jobId)).not.toContain('callStartedAt'); // nothing paid: the marker was cleared

    const second = await deliver(1);
    expect(second.response.batchItemFailures).toEqual([]);
    const calls = sandbox.received.filter((r) => r.path.startsWith('/v3/aml/'));
    expect(calls.map((r) => r.status)).toEqual([500, 200]);
    expect(body(await getJob(jobId))).toMatchObject({ status: 'succeeded' });
    expect(await jobItem(jobId)).toContain('"attempts":{"N":"2"}');
  });

  it('a non-retryable Didit answer (404): job failed with the error code, message deleted, event with the code', async () => {
    const res = await submit('retrieveDecision', { params: { sessionId: '0b0c3f43-3c35-4bb4-8f44-2d1c1f0c9a11' } });
    expect(res.statusCode).toBe(202);
    const jobId = body(res)['jobId'] as string;
    const { response } = await deliver(1);
    expect(response.batchItemFailures).toEqual([]);
    await receiveNone(queueUrl);
    expect(body(await getJob(jobId))).toMatchObject({ status: 'failed', error: { code: 'NOT_FOUND', message: 'Not found.' } });
    const events = (await receiveEvents(1)).filter((e) => e.detail.jobId === jobId);
    expect(events).toHaveLength(1);
    expect(events[0]!.detail).toMatchObject({ jobId, status: 'failed', errorCode: 'NOT_FOUND' });
  });

  it('a paid call that times out is not retried (outcome unknown): one Didit call, job failed DIDIT_OUTCOME_UNKNOWN', async () => {
    const jobId = await submitAml();
    sandbox.inject({ fault: { kind: 'delay', ms: 6_000 }, pathPrefix: '/v3/aml/' });
    // 8 s left in the invocation: the Didit call gets ~3 s, the rest is kept to record the outcome.
    const { response } = await deliver(1, {}, 8_000);
    expect(response.batchItemFailures).toEqual([]);
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1);
    expect(body(await getJob(jobId))).toMatchObject({ status: 'failed', error: { code: 'DIDIT_OUTCOME_UNKNOWN' } });
  });

  it('an earlier attempt died after starting its Didit call: the redelivery does not call again (paid operation)', async () => {
    const jobId = await submitAml();
    // What a crashed invocation leaves: the job marked running with a call started, no idempotency record
    // (its IN_PROGRESS record expired with the invocation).
    const start = await new JobStore({ client: dynamodb, tableName: names.jobsTable }).beginCall(jobId, Date.now() - 120_000);
    expect(start).toEqual({ started: true, unresolvedEarlierCall: false });
    const { response } = await deliver(1);
    expect(response.batchItemFailures).toEqual([]);
    expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(0);
    expect(body(await getJob(jobId))).toMatchObject({ status: 'failed', error: { code: 'DIDIT_OUTCOME_UNKNOWN' } });
  });

  it('a poison message ends in the dead-letter queue after maxReceiveCount deliveries', async () => {
    await drain(dlqUrl);
    const poison = JSON.stringify({ v: 1, jobId: randomUUID(), operation: 'amlScreening', input: { body: { full_name: 'X' } } });
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: poison }));
    for (let i = 1; i <= MAX_RECEIVE_COUNT; i++) {
      const [message] = await receive(queueUrl, 1);
      expect(message?.MessageId).toBe(sent.MessageId);
      expect(Number(message!.Attributes?.['ApproximateReceiveCount'])).toBe(i);
      const response = await runWorker([message!]);
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: sent.MessageId }]);
      await settle(queueUrl, [message!], response);
    }
    // The next receive finds it over the limit: SQS moves it to the DLQ instead of delivering it.
    await receiveNone(queueUrl);
    const [dead] = await receive(dlqUrl, 1);
    expect(dead?.MessageId).toBe(sent.MessageId);
    expect(dead?.Body).toBe(poison);
    await drain(dlqUrl);
    expect(sandbox.received).toHaveLength(0);
  });

  it('invalid input in the message (not possible via the API) fails the job without calling Didit, not retried', async () => {
    const jobId = await submitAml();
    await drain(queueUrl);
    // The same job, its message replaced by one with input the schema refuses.
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ v: 1, jobId, operation: 'amlScreening', input: { body: { full_name: 'X', aml_name_weight: 90 } } }) }));
    const { response } = await deliver(1);
    expect(response.batchItemFailures).toEqual([]);
    expect(sandbox.received).toHaveLength(0);
    expect(kmsCalls).toEqual([]); // no message needed the key: no decrypt at all
    expect(body(await getJob(jobId))).toMatchObject({ status: 'failed', error: { code: 'VALIDATION_FAILED' } });
  });

  it('submit: bad input is a 400 with field issues; nothing is queued, recorded or sent to Didit', async () => {
    const before = (await dynamodb.send(new ScanCommand({ TableName: names.jobsTable, Select: 'COUNT' }))).Count;
    const bad = await submit('amlScreening', { body: { full_name: 'X', aml_name_weight: 90, colour: 'red' } });
    expect(bad.statusCode).toBe(400);
    expect(body(bad).error.code).toBe('VALIDATION_FAILED');
    expect(body(bad).error.issues).toContainEqual({ field: 'colour', message: 'is not a known field' });
    const notAnObject = await submit('amlScreening', { body: ['x'] });
    expect(notAnObject.statusCode).toBe(400);
    const extraKey = await submit('amlScreening', { body: { full_name: 'X' }, files: {} });
    expect(extraKey.statusCode).toBe(400);
    await receiveNone(queueUrl);
    expect((await dynamodb.send(new ScanCommand({ TableName: names.jobsTable, Select: 'COUNT' }))).Count).toBe(before);
    expect(sandbox.received).toHaveLength(0);
    expect(kmsCalls).toEqual([]);
  });

  it('the routes as the stack declares them (`/v1/jobs/{id}` for both: one variable per level in API Gateway)', async () => {
    const post = apiEvent({
      method: 'POST',
      path: '/v1/jobs/amlScreening',
      resource: '/v1/jobs/{id}',
      pathParameters: { id: 'amlScreening' },
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ body: { full_name: 'Ana' } }),
    });
    // requestContext.path carries the stage on the execute-api host: the status URL keeps it.
    post.requestContext.path = '/prod/v1/jobs/amlScreening';
    const res = (await createSubmitJobHandler({ dependencies: () => jobs })(post, lambdaContext())) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(202);
    const jobId = body(res)['jobId'] as string;
    expect(body(res)['statusUrl']).toBe(`/prod/v1/jobs/${jobId}`);
    const get = apiEvent({ method: 'GET', path: `/v1/jobs/${jobId}`, resource: '/v1/jobs/{id}', pathParameters: { id: jobId } });
    const view = (await createGetJobHandler({ dependencies: () => jobs })(get, lambdaContext())) as APIGatewayProxyResult;
    expect(body(view)).toMatchObject({ jobId, status: 'queued' });
    await drain(queueUrl);
  });

  it('submit: unknown operation 404, binary operation 400, oversized input 413, unknown job id 404', async () => {
    expect((await submit('launchRocket', {})).statusCode).toBe(404);
    const pdf = await submit('generateSessionPdf', { params: { sessionId: randomUUID() } });
    expect(pdf.statusCode).toBe(400);
    expect(body(pdf).error.code).toBe('OPERATION_NOT_ASYNC');
    const small = createJobDependencies(loadJobConfig({ ...environment(), JOB_MAX_MESSAGE_BYTES: '2048' }), { dynamodb, sqs, eventBridge });
    const big = await submit('amlScreening', { body: { full_name: 'X'.repeat(250), address: 'Y'.repeat(1900) } }, small);
    expect(big.statusCode).toBe(413);
    await receiveNone(queueUrl);
    expect((await getJob(randomUUID())).statusCode).toBe(404);
    expect((await getJob('not-a-uuid')).statusCode).toBe(404);
  });

  it('job store: status changes are conditional (no second completion, no restart of a completed job)', async () => {
    const store = new JobStore({ client: dynamodb, tableName: names.jobsTable });
    const jobId = await submitAml();
    const failed = { status: 'failed' as const, error: { code: 'NOT_FOUND', message: 'Not found.' } };
    expect(await store.beginCall(jobId, Date.now())).toEqual({ started: true, unresolvedEarlierCall: false });
    expect(await store.beginCall(jobId, Date.now())).toEqual({ started: true, unresolvedEarlierCall: true });
    const done = await store.complete(jobId, failed, Date.now());
    expect(done).toMatchObject({ jobId, status: 'failed', attempts: 2, error: failed.error });
    expect(done!.callStartedAt).toBeUndefined();
    expect(await store.complete(jobId, { status: 'failed', error: { code: 'OTHER', message: 'x' } }, Date.now())).toBeUndefined();
    expect(await store.beginCall(jobId, Date.now())).toEqual({ started: false, unresolvedEarlierCall: false });
    await store.endCall(jobId, Date.now());
    expect(await store.get(jobId)).toMatchObject({ status: 'failed', error: failed.error });
    expect(await store.beginCall(randomUUID(), Date.now())).toEqual({ started: false, unresolvedEarlierCall: false });
    await drain(queueUrl);
  });

  it('a tampered result is refused (authenticated encryption bound to the job id)', async () => {
    const a = await submitAml('Ana');
    const b = await submitAml('Bea');
    await deliver(2);
    // Move b's sealed result into a's record: the ciphertext is bound to b's job id.
    const itemB = await dynamodb.send(new GetItemCommand({ TableName: names.jobsTable, Key: { jobId: { S: b } }, ConsistentRead: true }));
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: names.jobsTable,
        Key: { jobId: { S: a } },
        UpdateExpression: 'SET #r = :r',
        ExpressionAttributeNames: { '#r': 'result' },
        ExpressionAttributeValues: { ':r': itemB.Item!['result']! },
      }),
    );
    const res = await getJob(a);
    expect(res.statusCode).toBe(500);
    expect(body(res).error.code).toBe('INTERNAL');
    expect(logs.some((l) => l.includes('RESULT_UNREADABLE'))).toBe(true);
    expect((await getJob(b)).statusCode).toBe(200);
  });
});
