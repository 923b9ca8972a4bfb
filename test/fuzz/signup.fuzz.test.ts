import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, DeleteEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { EventBridgeEvent } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { loadSignupConfig } from '../../lib/adapters/triggers/config.ts';
import { createSignupDependencies, type SignupDependencies } from '../../lib/adapters/triggers/dependencies.ts';
import { createSignupHandler } from '../../lib/adapters/triggers/signup.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { setUpGateway, type GatewayFixture } from '../support/gateway-fixture.ts';
import { fieldName, hostileJson, hostileNumber, hostileString, protoKey, serialize, type JsonNode } from './support/arbitraries.ts';
import { fuzz, type Violations } from './support/campaign.ts';
import { captureOutput, checkLogs, secretForms, settle, trackRejections, type CapturedOutput, type RejectionTracker } from './support/invariants.ts';
import { WORKFLOW } from './support/operation-seeds.ts';

// The `user.signup` EventBridge trigger through its real handler: sealed key on the emulator, Powertools
// idempotency on DynamoDB, the sandbox as Didit; every publication recorded.

const em = testEmulator();
const STAGE = 'fuzz-signup';
const suffix = randomBytes(4).toString('hex');
const names = { table: `didit-fuzz-signup-${suffix}`, bus: `didit-fuzz-signup-${suffix}` };
const UNLIMITED = 1_000_000_000;
/** An email address that must never be published. */
const EMAIL_MARK = 'fuzzmail';

let gateway: GatewayFixture;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let deps: SignupDependencies;
let output: CapturedOutput;
let rejections: RejectionTracker;
let keyForms: string[];
const published: Array<{ detailType: string; detail: unknown }> = [];

beforeAll(async () => {
  const dynamoEndpoint = testDynamoDbEndpoint();
  gateway = await setUpGateway(STAGE, { sandbox: { rateLimits: { decision: UNLIMITED, create: UNLIMITED, pdf: UNLIMITED, other: UNLIMITED } } });
  process.env['AWS_ENDPOINT_URL_DYNAMODB'] = dynamoEndpoint;
  const clientConfig = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });
  dynamodb = new DynamoDBClient(clientConfig(dynamoEndpoint));
  eventBridge = new EventBridgeClient(clientConfig(em.endpoint));
  await createIdempotencyTable(dynamodb, names.table);
  await eventBridge.send(new CreateEventBusCommand({ Name: names.bus }));
  const real = createSignupDependencies(loadSignupConfig({ AWS_REGION: em.region, IDEMPOTENCY_TABLE: names.table, EVENT_BUS_NAME: names.bus, DEFAULT_WORKFLOW_ID: WORKFLOW }), {
    dynamodb,
    eventBridge,
    gateway: gateway.deps,
  });
  deps = {
    ...real,
    publisher: {
      publish: (detailType, detail, options) => {
        published.push({ detailType, detail });
        return real.publisher.publish(detailType, detail, options);
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
  if (dynamodb) await deleteIdempotencyTable(dynamodb, names.table).catch(() => undefined);
  for (const c of [dynamodb, eventBridge]) c?.destroy();
  await gateway?.close();
});

interface SignupCase {
  readonly id: JsonNode;
  readonly source: JsonNode;
  readonly detailType: JsonNode;
  readonly userId: JsonNode | undefined;
  readonly email: JsonNode | undefined;
  readonly workflowId: JsonNode | undefined;
  readonly extra: ReadonlyArray<readonly [string, JsonNode]>;
  /** The whole detail replaced by something else. */
  readonly detail: JsonNode | undefined;
}

const uuid = fc.uuid({ version: 4 });

const signupCase: fc.Arbitrary<SignupCase> = fc.record({
  id: fc.oneof({ weight: 8, arbitrary: uuid }, fc.constantFrom<JsonNode>('', null, { $num: '1' }), protoKey),
  source: fc.oneof({ weight: 9, arbitrary: fc.constant<JsonNode>('app.users') }, fc.constantFrom<JsonNode>('app.other', '', null)),
  detailType: fc.oneof({ weight: 9, arbitrary: fc.constant<JsonNode>('user.signup') }, fc.constantFrom<JsonNode>('user.deleted', null)),
  userId: fc.option(fc.oneof({ weight: 4, arbitrary: uuid.map((u) => `u-${u}`) }, hostileString, protoKey, hostileNumber, fc.constantFrom<JsonNode>('', 'x'.repeat(257), true, { $obj: [] })), { freq: 8, nil: undefined }),
  email: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constant<JsonNode>(`${EMAIL_MARK}@example.com`) }, fc.constantFrom<JsonNode>(`${EMAIL_MARK}`, `a@${EMAIL_MARK}`, '', { $num: '1' })), { freq: 2, nil: undefined }),
  workflowId: fc.option(fc.oneof({ weight: 3, arbitrary: uuid }, hostileString, fc.constantFrom<JsonNode>('', 'not-a-uuid', WORKFLOW.toUpperCase(), null)), { freq: 2, nil: undefined }),
  extra: fc.oneof({ weight: 5, arbitrary: fc.constant([]) }, fc.array(fc.tuple(fieldName(['userId', 'email', 'workflowId', 'vendor_data', 'callback']), hostileJson([], 1)), { maxLength: 2 })),
  detail: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, hostileJson(['userId', 'email', 'workflowId'])),
});

function toEvent(c: SignupCase): EventBridgeEvent<string, unknown> {
  const detail: JsonNode =
    c.detail ??
    {
      $obj: [
        ...(c.userId === undefined ? [] : [['userId', c.userId] as const]),
        ...(c.email === undefined ? [] : [['email', c.email] as const]),
        ...(c.workflowId === undefined ? [] : [['workflowId', c.workflowId] as const]),
        ...c.extra,
      ],
    };
  const event: JsonNode = {
    $obj: [
      ['version', '0'],
      ['id', c.id],
      ['detail-type', c.detailType],
      ['source', c.source],
      ['account', '000000000000'],
      ['time', new Date().toISOString()],
      ['region', em.region],
      ['resources', { $arr: [] }],
      ['detail', detail],
    ],
  };
  return JSON.parse(serialize(event)) as EventBridgeEvent<string, unknown>;
}

/** Obviously unusable sign-ups (by the documented rules): they must never reach Didit. */
function obviouslyInvalid(event: EventBridgeEvent<string, unknown>): string | undefined {
  const d = event.detail as Record<string, unknown> | null;
  if (d === null || typeof d !== 'object' || Array.isArray(d)) return 'detail is not an object';
  const userId = Object.hasOwn(d, 'userId') ? d['userId'] : undefined;
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 256) return 'userId missing or not 1–256 characters';
  // Optional fields: null is taken as absent (the default workflow, no email).
  const workflowId = Object.hasOwn(d, 'workflowId') ? d['workflowId'] : undefined;
  if (workflowId !== undefined && workflowId !== null && (typeof workflowId !== 'string' || !/^[0-9a-f-]{36}$/i.test(workflowId))) return 'workflowId is not a UUID';
  const email = Object.hasOwn(d, 'email') ? d['email'] : undefined;
  if (email !== undefined && email !== null && (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))) return 'email is not an address';
  return undefined;
}

const handler = createSignupHandler({ dependencies: () => deps });

async function runCase(c: SignupCase): Promise<Violations> {
  const event = toEvent(c);
  const calls = gateway.sandbox.received.length;
  const before = published.length;
  const outcome = await settle(() => handler(event, lambdaContext()) as Promise<unknown>);
  const moved = gateway.sandbox.received.length - calls;
  const newly = published.slice(before);
  const violations: Violations = [];
  if (outcome.hung) violations.push('[hang] the handler did not settle within 30 s');
  const ours = event.source === 'app.users' && event['detail-type'] === 'user.signup' && typeof event.id === 'string' && event.id !== '';
  const invalid = ours ? obviouslyInvalid(event) : 'not a user.signup event';
  if (invalid !== undefined && moved > 0) violations.push(`[didit-call] ${moved} Didit call(s) for a sign-up that is not valid (${invalid})`);
  // Bad detail is a published failure, not an exception (EventBridge would retry it for a day).
  if (invalid !== undefined && 'threw' in outcome) violations.push(`[signup-retry-invalid] the handler threw for an unusable event (${invalid}): ${String(outcome.threw).slice(0, 200)}`);
  if ('threw' in outcome && !(outcome.threw instanceof Error && 'code' in outcome.threw)) violations.push(`[threw] the handler threw an untyped error: ${String(outcome.threw).slice(0, 200)}`);
  for (const p of newly) if (JSON.stringify(p.detail).includes(EMAIL_MARK)) violations.push(`[signup-published-email] the email reached the published ${p.detailType}`);
  const lines = output.take();
  violations.push(...checkLogs(lines, { 'Didit API key': keyForms }));
  violations.push(...rejections.take());
  if (violations.length > 0) violations.push(`(Didit calls: ${moved}; outcome: ${JSON.stringify(outcome.value ?? null).slice(0, 200)}; published: ${JSON.stringify(newly).slice(0, 300)})`);
  return violations;
}

describe('fuzz: the sign-up trigger', () => {
  it('user.signup event', async () => {
    await fuzz('sign-up event (EventBridge)', signupCase, runCase);
  });
});
