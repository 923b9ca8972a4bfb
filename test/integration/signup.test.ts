import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { validateStructured } from '../../lib/validation/request.ts';
import { listSessions } from '../../lib/operations/sessions.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { executeOperation } from '../../lib/runtime/execute-operation.ts';
import { loadSignupConfig } from '../../lib/adapters/triggers/config.ts';
import { createSignupDependencies, type SignupDependencies } from '../../lib/adapters/triggers/dependencies.ts';
import {
  createSignupHandler,
  SIGNUP_EVENT,
  SIGNUP_EVENT_PATTERN,
  type SessionCreatedDetail,
  type SignupResult,
} from '../../lib/adapters/triggers/signup.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { eventCapture, type EventCapture } from '../support/event-capture.ts';

// The `user.signup` trigger end to end on the emulators: PutEvents on the application's bus → the documented
// rule (SIGNUP_EVENT_PATTERN) → SQS standing in for the Lambda target (no emulator invokes Lambda), read
// back here as the real EventBridge event → onSignup → sealed key (KMS) → Didit sandbox; Powertools
// idempotency on DynamoDB; didit.session.created on the gateway's bus → rule → SQS.

const em = testEmulator();
const dynamoEndpoint = testDynamoDbEndpoint();
const suffix = randomBytes(4).toString('hex');
const STAGE = 'signup';
const WORKFLOW = randomUUID();
const DEFAULT_WORKFLOW = randomUUID();
const names = {
  table: `didit-signup-idempotency-${suffix}`,
  appBus: `app-users-${suffix}`,
  gatewayBus: `didit-gateway-${suffix}`,
  signups: `app-signups-${suffix}`,
  results: `didit-session-events-${suffix}`,
  signupRule: `user-signup-to-didit-${suffix}`,
  resultRule: `didit-sessions-to-sqs-${suffix}`,
};
const clientConfig = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });

let sandbox: Sandbox;
let sealed: SealedKeyResources;
let gateway: GatewayDependencies;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let sqs: SQSClient;
let signups: EventCapture<AppEvent>;
let results: EventCapture<Published['event']>;
let deps: SignupDependencies;
const env = () => ({ AWS_REGION: em.region, IDEMPOTENCY_TABLE: names.table, EVENT_BUS_NAME: names.gatewayBus, DEFAULT_WORKFLOW_ID: DEFAULT_WORKFLOW });

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
  dynamodb = new DynamoDBClient(clientConfig(dynamoEndpoint));
  eventBridge = new EventBridgeClient(clientConfig(em.endpoint));
  sqs = new SQSClient(clientConfig(em.endpoint));
  await createIdempotencyTable(dynamodb, names.table);

  // The documented rule, as deployed (there its target is onSignup).
  signups = await eventCapture<AppEvent>({ eventBridge, sqs, bus: names.appBus, rule: names.signupRule, queue: names.signups, pattern: SIGNUP_EVENT_PATTERN, targetId: 'onSignup' });
  results = await eventCapture<Published['event']>({
    eventBridge,
    sqs,
    bus: names.gatewayBus,
    rule: names.resultRule,
    queue: names.results,
    pattern: { source: ['didit.gateway'], 'detail-type': [{ prefix: 'didit.session.' }] },
  });
  deps = createSignupDependencies(loadSignupConfig(env()), { dynamodb, eventBridge, gateway });
});

afterAll(async () => {
  await signups?.dispose();
  await results?.dispose();
  if (dynamodb) await deleteIdempotencyTable(dynamodb, names.table);
  if (sealed) await teardownSealedKey(em, sealed);
  gateway?.didit.close();
  await sandbox?.close();
  for (const c of [dynamodb, eventBridge, sqs]) c?.destroy();
});

beforeEach(() => {
  sandbox.reset();
});

type AppEvent = EventBridgeEvent<'user.signup', Record<string, unknown>>;

/** Puts a sign-up on the application's bus and returns the event as the rule delivered it. */
async function signUp(detail: Record<string, unknown>): Promise<AppEvent> {
  const put = await eventBridge.send(
    new PutEventsCommand({ Entries: [{ EventBusName: names.appBus, Source: SIGNUP_EVENT.source, DetailType: SIGNUP_EVENT.detailType, Detail: JSON.stringify(detail) }] }),
  );
  const id = put.Entries![0]!.EventId!;
  return (await signups.next((c) => c.event.id === id)).event;
}

async function onSignup(event: AppEvent, d: SignupDependencies = deps): Promise<SignupResult> {
  return (await createSignupHandler({ dependencies: () => d })(event, lambdaContext({ remainingMs: 30_000 }))) as SignupResult;
}

interface Published {
  raw: string;
  event: { source: string; 'detail-type': string; detail: Record<string, unknown> };
}

/** The result events published so far, once at least `min` arrived (read up to a marker put on the bus after them). */
async function receiveResults(min: number): Promise<Published[]> {
  return results.collect(min);
}

const creates = () => sandbox.count({ method: 'POST', pathPrefix: '/v3/session/' });

/** Sessions Didit holds for this vendor_data, asked through the same path (validateStructured + executeOperation). */
async function sessionsOf(userId: string): Promise<Array<Record<string, unknown>>> {
  const valid = validateStructured(listSessions, { query: { vendor_data: userId } });
  const { json } = await executeOperation(listSessions, valid, {
    deps: gateway,
    signal: new AbortController().signal,
    deadline: Date.now() + 10_000,
    timeoutMs: 10_000,
    caller: 'test',
    lambdaRequestId: randomUUID(),
    sourceRequestId: undefined,
  });
  return (json as { results: Array<Record<string, unknown>> }).results;
}

describe('user.signup → Didit session on the emulators', () => {
  it('one sign-up creates one session (vendor_data = userId) and publishes its URL; the same event delivered twice calls Didit once', async () => {
    const userId = `user-${suffix}-1`;
    const email = `ana.${suffix}@example.com`;
    const event = await signUp({ userId, email, workflowId: WORKFLOW, plan: 'pro' });
    expect(event).toMatchObject({ source: 'app.users', 'detail-type': 'user.signup', detail: { userId } });

    const first = await onSignup(event);
    expect(first).toMatchObject({ status: 'created', duplicate: false });
    expect(creates()).toBe(1);
    expect(sandbox.received.at(-1)!).toMatchObject({ keyMatched: true, status: 201, json: { workflow_id: WORKFLOW, vendor_data: userId, contact_details: { email } } });
    // Unknown detail keys are never forwarded.
    expect(JSON.stringify(sandbox.received.at(-1)!.json)).not.toContain('plan');

    const [published, ...more] = await receiveResults(1);
    expect(more).toEqual([]);
    expect(published!.event.source).toBe('didit.gateway');
    expect(published!.event['detail-type']).toBe('didit.session.created');
    const detail = published!.event.detail as SessionCreatedDetail;
    expect(detail).toEqual({
      schemaVersion: 1,
      userId,
      sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      sessionUrl: expect.stringMatching(/^https:\/\/verify\.didit\.me\/session\/[A-Za-z0-9_-]+$/),
      status: 'Not Started',
      workflowId: WORKFLOW,
    });
    // No other personal data: not the email, not the session token separately.
    expect(published!.raw).not.toContain(email);
    expect(published!.raw).not.toContain('session_token');

    // EventBridge/Lambda deliver the same event again: nothing is created, nothing published.
    const again = await onSignup(event);
    expect(again).toEqual({ status: 'created', duplicate: true, eventBridgeEventId: first.eventBridgeEventId });
    expect(creates()).toBe(1);
    expect(await receiveResults(0)).toEqual([]);
    expect(await sessionsOf(userId)).toHaveLength(1);

    const scan = await dynamodb.send(new ScanCommand({ TableName: names.table }));
    const records = (scan.Items ?? []).filter((i) => i['id']?.S?.startsWith('didit-signup#'));
    expect(records).toHaveLength(1);
    // The record holds the publish receipt, not the session link or the email.
    expect(JSON.stringify(records)).not.toContain('verify.didit.me');
    expect(JSON.stringify(records)).not.toContain(email);
  });

  it('a second sign-up event for the same user (another event id) gets the same session back from Didit', async () => {
    const userId = `user-${suffix}-2`;
    await onSignup(await signUp({ userId, workflowId: WORKFLOW }));
    await onSignup(await signUp({ userId, workflowId: WORKFLOW }));
    expect(creates()).toBe(2);
    const events = await receiveResults(2);
    expect(events).toHaveLength(2);
    const [a, b] = events.map((e) => e.event.detail as SessionCreatedDetail);
    expect(a!.sessionId).toBe(b!.sessionId);
    expect(a!.sessionUrl).toBe(b!.sessionUrl);
    expect(await sessionsOf(userId)).toHaveLength(1);
  });

  it('when publishing fails after Didit created the session, the retry publishes the same session: still one session at Didit', async () => {
    const userId = `user-${suffix}-3`;
    const event = await signUp({ userId });
    const unreachable = new EventBridgeClient({ ...clientConfig('http://127.0.0.1:9'), maxAttempts: 1 });
    const broken = createSignupDependencies(loadSignupConfig(env()), { dynamodb, eventBridge: unreachable, gateway });
    await expect(onSignup(event, broken)).rejects.toMatchObject({ code: 'EVENT_PUBLISH_FAILED' });
    unreachable.destroy();
    expect(creates()).toBe(1);

    const retried = await onSignup(event);
    expect(retried).toMatchObject({ status: 'created', duplicate: false });
    expect(creates()).toBe(2);
    const [published, ...more] = await receiveResults(1);
    expect(more).toEqual([]);
    // No workflowId in the event: DEFAULT_WORKFLOW_ID.
    expect(published!.event.detail).toMatchObject({ userId, workflowId: DEFAULT_WORKFLOW });
    const sessions = await sessionsOf(userId);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!['session_id']).toBe((published!.event.detail as SessionCreatedDetail).sessionId);
  });

  it('Didit 5xx: thrown for the EventBridge/Lambda retry, nothing published; the retry creates the session', async () => {
    const userId = `user-${suffix}-4`;
    const event = await signUp({ userId, workflowId: WORKFLOW });
    // createSession with vendor_data is idempotent: the client itself retries once, so two faults.
    sandbox.inject({ fault: { kind: 'status', status: 503 }, times: 2, method: 'POST', pathPrefix: '/v3/session/' });
    await expect(onSignup(event)).rejects.toMatchObject({ code: 'DIDIT_UNAVAILABLE' });
    expect(await receiveResults(0)).toEqual([]);
    expect(await onSignup(event)).toMatchObject({ status: 'created', duplicate: false });
    expect(sandbox.received.map((r) => r.status)).toEqual([503, 503, 201]);
    expect(await receiveResults(1)).toHaveLength(1);
  });

  it('an unusable sign-up (no userId, bad workflowId, bad email) is reported once as creation-failed and never sent to Didit', async () => {
    const event = await signUp({ workflowId: 'not-a-uuid', email: 'nope' });
    expect(await onSignup(event)).toMatchObject({ status: 'failed', duplicate: false });
    const bad = await signUp({ userId: `user-${suffix}-5`, workflowId: 'not-a-uuid', email: 'nope' });
    expect(await onSignup(bad)).toMatchObject({ status: 'failed', duplicate: false });
    expect(await onSignup(bad)).toMatchObject({ status: 'failed', duplicate: true });
    expect(sandbox.received).toHaveLength(0);
    const events = await receiveResults(2);
    expect(events).toHaveLength(2);
    expect(events.map((e) => e.event['detail-type'])).toEqual(['didit.session.creation-failed', 'didit.session.creation-failed']);
    expect(events[0]!.event.detail).toEqual({ schemaVersion: 1, errorCode: 'VALIDATION_FAILED', invalidFields: ['userId'] });
    expect(events[1]!.event.detail).toEqual({ schemaVersion: 1, userId: `user-${suffix}-5`, errorCode: 'VALIDATION_FAILED', invalidFields: ['workflowId', 'email'] });
    expect(events.map((e) => e.raw).join('')).not.toContain('nope');
  });
});
