import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, DeleteEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyResult, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { validateStructured } from '../../lib/validation/request.ts';
import { createGetJobHandler, createSubmitJobHandler } from '../../lib/adapters/jobs/api.ts';
import { loadJobConfig } from '../../lib/adapters/jobs/config.ts';
import { createJobDependencies, type JobDependencies } from '../../lib/adapters/jobs/dependencies.ts';
import { createJobsTable, deleteJobsTable } from '../../lib/adapters/jobs/store.ts';
import { createJobWorker } from '../../lib/adapters/jobs/worker.ts';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import { OPERATIONS, type OperationName } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { setUpGateway, type GatewayFixture } from '../support/gateway-fixture.ts';
import { contentType, fieldName, hostileJson, hostileString, invalidUtf8, ownMap, PROBE, protoKey, serialize, toNode, type JsonNode } from './support/arbitraries.ts';
import { fuzz, type Violations } from './support/campaign.ts';
import { captureOutput, checkAnswer, checkLogs, errorCode, secretForms, settle, trackRejections, type CapturedOutput, type RejectionTracker } from './support/invariants.ts';
import { SEEDS } from './support/operation-seeds.ts';
import { jsonBody } from './support/requests.ts';

// Asynchronous jobs through their real handlers: submit (`POST /v1/jobs/{operation}`), read
// (`GET /v1/jobs/{jobId}`) and the SQS worker, on the emulator's DynamoDB, SQS, EventBridge and KMS, with
// the sandbox as Didit.

const em = testEmulator();
const STAGE = 'fuzz-jobs';
const suffix = randomBytes(4).toString('hex');
const names = { jobsTable: `didit-fuzz-jobs-${suffix}`, idempotencyTable: `didit-fuzz-jobs-idem-${suffix}`, bus: `didit-fuzz-jobs-${suffix}`, queue: `didit-fuzz-jobs-${suffix}` };
const UNLIMITED = 1_000_000_000;
const OPERATION_NAMES = Object.keys(OPERATIONS) as OperationName[];

let gateway: GatewayFixture;
let dynamodb: DynamoDBClient;
let sqs: SQSClient;
let eventBridge: EventBridgeClient;
let jobs: JobDependencies;
let queueUrl: string;
let output: CapturedOutput;
let rejections: RejectionTracker;
let keyForms: string[];
const sent: string[] = [];
/** Job ids that exist (submitted), for the read entry point to find. */
const known: string[] = [];

beforeAll(async () => {
  const dynamoEndpoint = testDynamoDbEndpoint();
  gateway = await setUpGateway(STAGE, { sandbox: { rateLimits: { decision: UNLIMITED, create: UNLIMITED, pdf: UNLIMITED, other: UNLIMITED } } });
  process.env['AWS_ENDPOINT_URL_DYNAMODB'] = dynamoEndpoint;
  const clientConfig = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });
  dynamodb = new DynamoDBClient(clientConfig(dynamoEndpoint));
  sqs = new SQSClient(clientConfig(em.endpoint));
  eventBridge = new EventBridgeClient(clientConfig(em.endpoint));
  await Promise.all([createJobsTable(dynamodb, names.jobsTable), createIdempotencyTable(dynamodb, names.idempotencyTable)]);
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: names.queue }))).QueueUrl!;
  await eventBridge.send(new CreateEventBusCommand({ Name: names.bus }));
  const real = createJobDependencies(
    loadJobConfig(gateway.environment({ JOBS_TABLE: names.jobsTable, JOBS_QUEUE_URL: queueUrl, IDEMPOTENCY_TABLE: names.idempotencyTable, EVENT_BUS_NAME: names.bus })),
    { dynamodb, sqs, eventBridge, kms: createSecureKmsClient({ region: em.region }).client },
  );
  jobs = {
    ...real,
    queue: {
      send: (body, options) => {
        sent.push(body);
        return real.queue.send(body, options);
      },
    },
  };
  keyForms = secretForms(gateway.sandbox.apiKey);
  output = captureOutput();
  rejections = trackRejections();
});

afterAll(async () => {
  output?.restore();
  rejections?.stop();
  await eventBridge?.send(new DeleteEventBusCommand({ Name: names.bus })).catch(() => undefined);
  if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  if (dynamodb) {
    await deleteJobsTable(dynamodb, names.jobsTable).catch(() => undefined);
    await deleteIdempotencyTable(dynamodb, names.idempotencyTable).catch(() => undefined);
  }
  for (const c of [dynamodb, sqs, eventBridge]) c?.destroy();
  await gateway?.close();
});

function common(violations: Violations, res: { statusCode: number; body: string } | undefined): Violations {
  const lines = output.take();
  violations.push(...checkLogs(lines, { 'Didit API key': keyForms }));
  violations.push(...rejections.take());
  if (violations.length > 0 && res !== undefined) violations.push(`(answer: ${res.statusCode} ${res.body.slice(0, 300)})`);
  return violations;
}

// ---- job input: {params, query, body} of an operation, edited ------------------------------------

const operationName: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...OPERATION_NAMES) },
  { weight: 2, arbitrary: protoKey },
  { weight: 1, arbitrary: fc.constantFrom('', 'nope', 'createsession', 'OPERATIONS', 'a'.repeat(80)) },
);

/** The job input document for `name` (a table operation or not), edited at the top level. */
function jobInput(name: string): fc.Arbitrary<JsonNode> {
  const spec = Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name as OperationName] : undefined;
  const seed = spec === undefined ? {} : SEEDS[name as OperationName];
  const body = spec === undefined ? hostileJson([]) : jsonBody(spec, seed);
  return fc.tuple(body, fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, fc.array(fc.tuple(fieldName(['params', 'query', 'body']), hostileJson(['sessionId', 'workflowId'], 1)), { maxLength: 2 }))).map(([b, edits]) => {
    const entries: Array<readonly [string, JsonNode]> = [];
    if (seed.params !== undefined) entries.push(['params', toNode(seed.params)]);
    if (seed.query !== undefined) entries.push(['query', toNode(seed.query)]);
    if (spec?.body !== 'none') entries.push(['body', b]);
    for (const [k, v] of edits) {
      const at = entries.findIndex(([name]) => name === k);
      if (at >= 0) entries[at] = [k, v];
      else entries.push([k, v]);
    }
    return { $obj: entries };
  });
}

// ---- submit --------------------------------------------------------------------------------------

interface SubmitCase {
  readonly operation: string;
  readonly viaId: boolean;
  readonly input: JsonNode;
  readonly body: 'json' | 'none' | 'oversized' | { readonly cut: number } | { readonly bad: readonly number[]; readonly at: number };
  readonly contentType: string | undefined;
  readonly base64: boolean;
}

const submitCase: fc.Arbitrary<SubmitCase> = operationName.chain((operation) =>
  fc.record({
    operation: fc.constant(operation),
    viaId: fc.boolean(),
    input: jobInput(operation),
    body: fc.oneof(
      { weight: 8, arbitrary: fc.constant('json' as const) },
      { weight: 1, arbitrary: fc.constantFrom('none' as const, 'oversized' as const) },
      { weight: 1, arbitrary: fc.nat().map((cut) => ({ cut })) },
      { weight: 1, arbitrary: fc.record({ bad: invalidUtf8, at: fc.nat() }) },
    ),
    contentType: contentType('application/json'),
    base64: fc.boolean(),
  }),
);

const submit = createSubmitJobHandler({ dependencies: () => jobs });

async function runSubmit(c: SubmitCase): Promise<Violations> {
  let bytes: Buffer | undefined = Buffer.from(serialize(c.input), 'utf8');
  if (c.body === 'none') bytes = undefined;
  else if (c.body === 'oversized') bytes = Buffer.alloc(300 * 1024, 0x20);
  else if (typeof c.body === 'object' && 'cut' in c.body) bytes = bytes.subarray(0, bytes.length === 0 ? 0 : c.body.cut % bytes.length);
  else if (typeof c.body === 'object') {
    const at = c.body.at % Math.max(1, bytes.length);
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(c.body.bad), bytes.subarray(at)]);
  }
  const base64 = c.base64 || (typeof c.body === 'object' && 'bad' in c.body);
  const event = apiEvent({
    method: 'POST',
    path: `/v1/jobs/${c.operation}`,
    resource: '/v1/jobs/{id}',
    ...(bytes === undefined ? {} : { body: base64 ? bytes : bytes.toString('utf8'), base64 }),
  });
  event.headers = ownMap(c.contentType === undefined ? [] : [['content-type', c.contentType]]);
  event.pathParameters = ownMap([[c.viaId ? 'id' : 'operation', c.operation]]);
  const calls = gateway.sandbox.received.length;
  const sends = sent.length;
  const outcome = await settle(() => submit(event, lambdaContext()) as Promise<APIGatewayProxyResult>);
  const violations: Violations = [];
  if (outcome.hung) violations.push('[hang] the handler did not settle within 30 s');
  if ('threw' in outcome) violations.push(`[threw] the handler threw instead of answering: ${String(outcome.threw).slice(0, 200)}`);
  const res = outcome.value;
  violations.push(...checkAnswer(res, { probes: [PROBE], secrets: { 'Didit API key': keyForms } }));
  if (gateway.sandbox.received.length !== calls) violations.push('[didit-call] a job submission called Didit');
  const queued = sent.length - sends;
  if (res !== undefined && res.statusCode === 202) {
    if (queued !== 1) violations.push(`[job-queue] 202 with ${queued} queued message(s)`);
    known.push((JSON.parse(res.body) as { jobId: string }).jobId);
  } else if (queued !== 0) violations.push(`[job-queue] ${res?.statusCode} ${errorCode(res)} but ${queued} message(s) queued`);
  return common(violations, res);
}

// ---- read ------------------------------------------------------------------------------------------

type ReadCase = { readonly known: number } | { readonly id: string };

const readCase: fc.Arbitrary<ReadCase> = fc.oneof(
  { weight: 3, arbitrary: fc.nat().map((n) => ({ known: n })) },
  { weight: 2, arbitrary: fc.uuid().map((id) => ({ id })) },
  { weight: 3, arbitrary: fc.oneof(protoKey, hostileString, fc.constantFrom('', '00000000-0000-0000-0000-000000000000', 'A'.repeat(36))).map((id) => ({ id })) },
);

const read = createGetJobHandler({ dependencies: () => jobs });

async function runRead(c: ReadCase): Promise<Violations> {
  const id = 'known' in c ? (known.length === 0 ? randomUUID() : known[c.known % known.length]!) : c.id;
  const event = apiEvent({ method: 'GET', path: `/v1/jobs/${id}`, resource: '/v1/jobs/{id}' });
  event.pathParameters = ownMap([['jobId', id]]);
  const calls = gateway.sandbox.received.length;
  const outcome = await settle(() => read(event, lambdaContext()) as Promise<APIGatewayProxyResult>);
  const violations: Violations = [];
  if (outcome.hung) violations.push('[hang] the handler did not settle within 30 s');
  if ('threw' in outcome) violations.push(`[threw] the handler threw instead of answering: ${String(outcome.threw).slice(0, 200)}`);
  const res = outcome.value;
  violations.push(...checkAnswer(res, { probes: [PROBE], secrets: { 'Didit API key': keyForms } }));
  if (gateway.sandbox.received.length !== calls) violations.push('[didit-call] reading a job called Didit');
  if (res !== undefined && res.statusCode !== 200 && res.statusCode !== 404 && res.statusCode < 500) violations.push(`[job-read] answered ${res.statusCode}`);
  return common(violations, res);
}

// ---- worker ----------------------------------------------------------------------------------------

type RecordCase =
  /** A job record and its message (input edited): the normal path. */
  | { readonly kind: 'job'; readonly operation: string; readonly input: JsonNode; readonly extra: ReadonlyArray<readonly [string, JsonNode]> }
  /** A well-formed message without a job record. */
  | { readonly kind: 'orphan'; readonly operation: string; readonly input: JsonNode }
  | { readonly kind: 'junk'; readonly body: JsonNode }
  | { readonly kind: 'bytes'; readonly text: string };

const recordCase: fc.Arbitrary<RecordCase> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom(...OPERATION_NAMES.filter((n) => (OPERATIONS[n] as OperationSpec).response !== 'binary'))
      .chain((operation) =>
        fc.record({
          kind: fc.constant('job' as const),
          operation: fc.constant(operation),
          input: jobInput(operation),
          extra: fc.oneof({ weight: 5, arbitrary: fc.constant([]) }, fc.array(fc.tuple(fieldName(['v', 'jobId', 'operation', 'input']), hostileJson([], 1)), { maxLength: 2 })),
        }),
      ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('orphan' as const), operation: operationName, input: fc.constant({ $obj: [] }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('junk' as const), body: hostileJson(['v', 'jobId', 'operation', 'input']) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), text: fc.oneof(hostileString, fc.constantFrom('', '{', 'null', '[]', '{"v":1}')) }) },
);

const worker = createJobWorker({ dependencies: () => ({ jobs, gateway: gateway.deps }) });

/** What the oracle expects of one record: whether Didit may be called for it, and whether it is a bad input. */
function expectation(c: RecordCase): { mayCall: boolean; invalidInput: boolean } {
  if (c.kind !== 'job' || c.extra.length > 0) return { mayCall: c.kind === 'job', invalidInput: false };
  try {
    const input = JSON.parse(serialize(c.input)) as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: Record<string, unknown> };
    // Not the shape submit produces ({params?, query?, body?} of objects): a poison message, not bad input.
    const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);
    if (!isObject(input)) return { mayCall: false, invalidInput: false };
    for (const [k, v] of Object.entries(input)) if (!['params', 'query', 'body'].includes(k) || !isObject(v)) return { mayCall: false, invalidInput: false };
    validateStructured(OPERATIONS[c.operation as OperationName], { params: input.params, query: input.query, body: input.body });
    return { mayCall: true, invalidInput: false };
  } catch {
    return { mayCall: false, invalidInput: true };
  }
}

async function runWorker(batch: readonly RecordCase[]): Promise<Violations> {
  const records: SQSRecord[] = [];
  const ids: Array<string | undefined> = [];
  for (const c of batch) {
    let body: string;
    let jobId: string | undefined;
    if (c.kind === 'job' || c.kind === 'orphan') {
      jobId = randomUUID();
      if (c.kind === 'job') {
        const now = Date.now();
        const iso = new Date(now).toISOString();
        await jobs.store.create({ jobId, operation: c.operation, status: 'queued', createdAt: iso, updatedAt: iso, expiresAt: Math.floor(now / 1000) + 3_600, caller: 'fuzz' });
      }
      const extra = c.kind === 'job' ? c.extra : [];
      const entries: Array<readonly [string, JsonNode]> = [['v', { $num: '1' }], ['jobId', jobId], ['operation', c.operation], ['input', c.input], ...extra];
      body = serialize({ $obj: entries });
    } else body = c.kind === 'junk' ? serialize(c.body) : c.text;
    ids.push(jobId);
    records.push({
      messageId: randomUUID(),
      receiptHandle: 'fuzz',
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'AIDAFUZZ', ApproximateFirstReceiveTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${em.region}:000000000000:${names.queue}`,
      awsRegion: em.region,
    });
  }
  const calls = gateway.sandbox.received.length;
  const event: SQSEvent = { Records: records };
  const outcome = await settle(() => worker(event, lambdaContext({ remainingMs: 60_000 })) as Promise<SQSBatchResponse>, 60_000);
  const violations: Violations = [];
  if (outcome.hung) violations.push('[hang] the worker did not settle within 60 s');
  if ('threw' in outcome) violations.push(`[threw] the worker threw (the whole batch would come back): ${String(outcome.threw).slice(0, 200)}`);
  const res = outcome.value;
  const failed = new Set((res?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  for (const id of failed) if (!records.some((r) => r.messageId === id)) violations.push(`[worker-answer] batchItemFailures names an unknown message ${id}`);
  const expected = batch.map(expectation);
  const moved = gateway.sandbox.received.length - calls;
  if (moved > 0 && !expected.some((e) => e.mayCall)) violations.push(`[didit-call] ${moved} Didit call(s) for a batch with no valid job`);
  for (const [i, e] of expected.entries()) {
    if (!e.invalidInput) continue;
    // Bad input is a failed job (VALIDATION_FAILED), settled at once: not a retry that ends in the DLQ.
    const job = await jobs.store.get(ids[i]!);
    if (failed.has(records[i]!.messageId) || job?.status !== 'failed') {
      violations.push(`[worker-invalid-input] a job with invalid input ended as ${failed.has(records[i]!.messageId) ? 'a batch item failure (retried until the DLQ)' : `status ${job?.status}`}, not a failed job`);
    }
  }
  const lines = output.take();
  violations.push(...checkLogs(lines, { 'Didit API key': keyForms }));
  violations.push(...rejections.take());
  if (violations.length > 0) {
    const errors = lines.filter((l) => l.includes('"level":"ERROR"') || l.includes('"level":"WARN"')).map((l) => l.slice(0, 400));
    violations.push(`(batchItemFailures: ${failed.size}; Didit calls: ${moved}; logs: ${errors.join(' | ').slice(0, 1_200)})`);
  }
  return violations;
}

describe('fuzz: asynchronous jobs', () => {
  it('job submit', async () => {
    await fuzz('job submit', submitCase, runSubmit);
  });
  it('job read', async () => {
    await fuzz('job read', readCase, runRead);
  });
  it('SQS job records', async () => {
    await fuzz('SQS job records (worker)', fc.array(recordCase, { minLength: 1, maxLength: 3 }), runWorker);
  });
});
