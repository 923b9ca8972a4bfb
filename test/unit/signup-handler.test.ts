import type { Context, EventBridgeEvent } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DiditRequest, DiditResponse } from '../../lib/didit/client.ts';
import {
  DiditBadRequestError,
  DiditServerError,
  DiditTimeoutError,
  EventPublishError,
  SpendCapReachedError,
} from '../../lib/errors/index.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import type { SpendGate } from '../../lib/spend-cap/gate.ts';
import { loadSignupConfig, type SignupConfig } from '../../lib/adapters/triggers/config.ts';
import type { SignupDependencies } from '../../lib/adapters/triggers/dependencies.ts';
import { createSignupHandler, SIGNUP_EVENT_PATTERN, type SignupResult } from '../../lib/adapters/triggers/signup.ts';
import type { DedupeOutcome } from '../../lib/idempotency/delivery-dedupe.ts';
import type { PublishReceipt } from '../../lib/events/publisher.ts';
import { lambdaContext } from '../support/api-events.ts';

// onSignup with in-memory stand-ins for DynamoDB, EventBridge and Didit. test/integration/signup.test.ts runs
// the same paths on the emulators (with the sandbox's real vendor_data dedupe).

const WORKFLOW = '0b6a6b6e-1111-4222-8333-444455556666';
const DEFAULT_WORKFLOW = '9c9c9c9c-1111-4222-8333-444455556666';
const config: SignupConfig = loadSignupConfig({ IDEMPOTENCY_TABLE: 't', EVENT_BUS_NAME: 'b', DEFAULT_WORKFLOW_ID: DEFAULT_WORKFLOW });

interface Fake {
  deps: SignupDependencies;
  calls: DiditRequest[];
  published: Array<{ detailType: string; detail: Record<string, unknown> }>;
  reply: (request: DiditRequest) => Promise<Partial<DiditResponse>>;
  publishFails: boolean;
}

let fake: Fake;

function makeFake(cfg: SignupConfig = config): Fake {
  const done = new Map<string, PublishReceipt>();
  const f: Fake = {
    calls: [],
    published: [],
    publishFails: false,
    reply: async (request) => ({
      status: 201,
      json: {
        session_id: '11111111-2222-4333-8444-555555555555',
        session_number: 1001,
        session_token: 'tok123',
        url: 'https://verify.didit.me/session/tok123',
        status: 'Not Started',
        vendor_data: (request.body as { value: Record<string, unknown> }).value['vendor_data'],
        contact_details: { email: 'ana@example.com' },
      },
    }),
    deps: undefined as unknown as SignupDependencies,
  };
  const gateway = {
    config: { service: 'didit-kms-gateway', stage: 'unit', region: 'us-east-1', kmsKeyId: undefined },
    encryptionContext: { service: 'didit-kms-gateway', stage: 'unit', purpose: 'didit-api-key' },
    sealedKey: { withKey: async <T>(fn: (key: unknown) => Promise<T>) => fn(Buffer.from('dummy')) },
    didit: {
      send: async (_key: unknown, request: DiditRequest): Promise<DiditResponse> => {
        f.calls.push(request);
        const answer = await f.reply(request);
        return { status: 201, contentType: 'application/json', contentDisposition: undefined, json: undefined, body: Buffer.alloc(0), rateLimit: {}, attempts: 1, ...answer };
      },
      close: () => undefined,
    },
  } as unknown as GatewayDependencies;
  f.deps = {
    config: cfg,
    gateway,
    dedupe: {
      // Like DeliveryDedupe: the work's receipt is stored; a throw stores nothing.
      once: async (key: string, _context: Context, work: () => Promise<PublishReceipt>): Promise<DedupeOutcome> => {
        const stored = done.get(key);
        if (stored !== undefined) return { duplicate: true, receipt: stored };
        const receipt = await work();
        done.set(key, receipt);
        return { duplicate: false, receipt };
      },
    },
    publisher: {
      publish: async (detailType: string, detail: object): Promise<PublishReceipt> => {
        if (f.publishFails) throw new EventPublishError('EventBridge PutEvents failed (unit)');
        f.published.push({ detailType, detail: JSON.parse(JSON.stringify(detail)) as Record<string, unknown> });
        return { eventId: `evt-${f.published.length}`, detailType };
      },
    },
  };
  return f;
}

beforeEach(() => {
  fake = makeFake();
});

function signup(detail: unknown, overrides: Partial<EventBridgeEvent<string, unknown>> = {}): EventBridgeEvent<string, unknown> {
  return {
    version: '0',
    id: overrides.id ?? crypto.randomUUID(),
    'detail-type': 'user.signup',
    source: 'app.users',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [],
    detail,
    ...overrides,
  };
}

async function run(event: EventBridgeEvent<string, unknown>, f: Fake = fake): Promise<SignupResult> {
  return (await createSignupHandler({ dependencies: () => f.deps })(event, lambdaContext())) as SignupResult;
}

describe('onSignup', () => {
  it('creates the session with vendor_data = userId and publishes only the user id, the session and its link', async () => {
    const result = await run(signup({ userId: 'u-1', email: 'ana@example.com', workflowId: WORKFLOW, name: 'Ana' }));
    expect(result).toEqual({ status: 'created', duplicate: false, eventBridgeEventId: 'evt-1' });
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({
      method: 'POST',
      path: '/v3/session/',
      idempotent: true,
      body: { kind: 'json', value: { workflow_id: WORKFLOW, vendor_data: 'u-1', contact_details: { email: 'ana@example.com' } } },
    });
    expect(JSON.stringify(fake.calls[0]!.body)).not.toContain('Ana');
    expect(fake.published).toEqual([
      {
        detailType: 'didit.session.created',
        detail: {
          schemaVersion: 1,
          userId: 'u-1',
          sessionId: '11111111-2222-4333-8444-555555555555',
          sessionUrl: 'https://verify.didit.me/session/tok123',
          status: 'Not Started',
          workflowId: WORKFLOW,
        },
      },
    ]);
  });

  it('over the daily spend cap: creation-failed with SPEND_CAP_REACHED, nothing sent, not retried', async () => {
    const capped = new SpendCapReachedError({ retryAfterSeconds: 60 });
    const gate: SpendGate = { reserve: async () => Promise.reject(capped) };
    fake.deps = { ...fake.deps, gateway: { ...fake.deps.gateway, spendGate: gate } };
    await run(signup({ userId: 'u-cap' }));
    expect(fake.calls).toHaveLength(0);
    expect(fake.published).toEqual([
      { detailType: 'didit.session.creation-failed', detail: expect.objectContaining({ userId: 'u-cap', errorCode: 'SPEND_CAP_REACHED' }) },
    ]);
  });

  it('the same event id twice: one Didit call, one event', async () => {
    const event = signup({ userId: 'u-2' });
    await run(event);
    expect(await run(event)).toEqual({ status: 'created', duplicate: true, eventBridgeEventId: 'evt-1' });
    expect(fake.calls).toHaveLength(1);
    expect(fake.published).toHaveLength(1);
  });

  it('the workflow comes from the event, else DEFAULT_WORKFLOW_ID; SIGNUP_CALLBACK_URL is passed as callback', async () => {
    const f = makeFake(loadSignupConfig({ IDEMPOTENCY_TABLE: 't', EVENT_BUS_NAME: 'b', DEFAULT_WORKFLOW_ID: DEFAULT_WORKFLOW, SIGNUP_CALLBACK_URL: 'https://app.example.com/kyc/done' }));
    await run(signup({ userId: 'u-3' }), f);
    expect(f.calls[0]!.body).toEqual({ kind: 'json', value: { vendor_data: 'u-3', workflow_id: DEFAULT_WORKFLOW, callback: 'https://app.example.com/kyc/done' } });
    expect(f.published[0]!.detail).toMatchObject({ workflowId: DEFAULT_WORKFLOW });
  });

  it('unusable details are reported once (creation-failed, field names only) and never sent to Didit', async () => {
    const f = makeFake(loadSignupConfig({ IDEMPOTENCY_TABLE: 't', EVENT_BUS_NAME: 'b' }));
    const cases: Array<[unknown, Record<string, unknown>]> = [
      [{ email: 'ana@example.com', workflowId: WORKFLOW }, { errorCode: 'VALIDATION_FAILED', invalidFields: ['userId'] }],
      [{ userId: 'u-4' }, { userId: 'u-4', errorCode: 'VALIDATION_FAILED', invalidFields: ['workflowId'] }],
      [{ userId: 'u-5', workflowId: WORKFLOW, email: 'not an email' }, { userId: 'u-5', errorCode: 'VALIDATION_FAILED', invalidFields: ['email'] }],
      [{ userId: 'x'.repeat(300), workflowId: WORKFLOW }, { errorCode: 'VALIDATION_FAILED', invalidFields: ['userId'] }],
      [{ userId: 42, workflowId: WORKFLOW }, { errorCode: 'VALIDATION_FAILED', invalidFields: ['userId'] }],
      ['not an object', { errorCode: 'TRIGGER_EVENT_INVALID' }],
    ];
    for (const [detail, expected] of cases) {
      expect(await run(signup(detail), f)).toMatchObject({ status: 'failed', duplicate: false });
      expect(f.published.at(-1)).toEqual({ detailType: 'didit.session.creation-failed', detail: { schemaVersion: 1, ...expected } });
    }
    expect(f.calls).toEqual([]);
    expect(JSON.stringify(f.published)).not.toContain('not an email');
  });

  it('Didit refusing the request is final (reported); 5xx and timeouts are thrown for the retry (Didit dedupes by vendor_data)', async () => {
    fake.reply = async () => {
      throw new DiditBadRequestError(['workflow_id'], { diditStatus: 400 });
    };
    expect(await run(signup({ userId: 'u-6', workflowId: WORKFLOW }))).toMatchObject({ status: 'failed' });
    expect(fake.published.at(-1)).toEqual({ detailType: 'didit.session.creation-failed', detail: { schemaVersion: 1, userId: 'u-6', errorCode: 'DIDIT_REJECTED_INPUT' } });

    for (const error of [new DiditServerError('503', { diditStatus: 503 }), new DiditTimeoutError('Didit did not answer in time')]) {
      const event = signup({ userId: 'u-7', workflowId: WORKFLOW });
      const before = fake.published.length;
      fake.reply = async () => {
        throw error;
      };
      await expect(run(event)).rejects.toBe(error);
      expect(fake.published.length).toBe(before);
      fake.reply = makeFake().reply;
      expect(await run(event)).toMatchObject({ status: 'created', duplicate: false });
    }
  });

  it('a publish failure is thrown and not remembered: the retry creates (Didit returns the same session) and publishes', async () => {
    const event = signup({ userId: 'u-8', workflowId: WORKFLOW });
    fake.publishFails = true;
    await expect(run(event)).rejects.toMatchObject({ code: 'EVENT_PUBLISH_FAILED' });
    fake.publishFails = false;
    expect(await run(event)).toMatchObject({ status: 'created', duplicate: false });
    expect(fake.calls).toHaveLength(2);
    expect(fake.published).toHaveLength(1);
  });

  it('an answer without session id or URL is retried, never published half-empty', async () => {
    fake.reply = async () => ({ status: 201, json: { status: 'Not Started' } });
    await expect(run(signup({ userId: 'u-9', workflowId: WORKFLOW }))).rejects.toThrow('session_id');
    expect(fake.published).toEqual([]);
  });

  it('events the rule should not have delivered are ignored', async () => {
    expect(await run(signup({ userId: 'u' }, { source: 'app.billing' }))).toEqual({ status: 'ignored', duplicate: false });
    expect(await run(signup({ userId: 'u' }, { 'detail-type': 'user.deleted' }))).toEqual({ status: 'ignored', duplicate: false });
    expect(await run(signup({ userId: 'u' }, { id: '' }))).toEqual({ status: 'ignored', duplicate: false });
    expect(fake.calls).toEqual([]);
    expect(SIGNUP_EVENT_PATTERN).toEqual({ source: ['app.users'], 'detail-type': ['user.signup'] });
  });

  it('configuration: table and bus required, the default workflow a UUID, the callback https, the dedupe window at least a day', () => {
    expect(() => loadSignupConfig({ EVENT_BUS_NAME: 'b' })).toThrow('IDEMPOTENCY_TABLE');
    expect(() => loadSignupConfig({ IDEMPOTENCY_TABLE: 't' })).toThrow('EVENT_BUS_NAME');
    expect(() => loadSignupConfig({ IDEMPOTENCY_TABLE: 't', EVENT_BUS_NAME: 'b', DEFAULT_WORKFLOW_ID: 'kyc' })).toThrow('DEFAULT_WORKFLOW_ID');
    expect(() => loadSignupConfig({ IDEMPOTENCY_TABLE: 't', EVENT_BUS_NAME: 'b', SIGNUP_CALLBACK_URL: 'http://app' })).toThrow('SIGNUP_CALLBACK_URL');
    expect(() => loadSignupConfig({ IDEMPOTENCY_TABLE: 't', EVENT_BUS_NAME: 'b', SIGNUP_DEDUPE_TTL_SECONDS: '600' })).toThrow('SIGNUP_DEDUPE_TTL_SECONDS');
    expect(loadSignupConfig({ IDEMPOTENCY_TABLE: 't', EVENT_BUS_NAME: 'b' })).toMatchObject({ defaultWorkflowId: undefined, callbackUrl: undefined, dedupeTtlSeconds: 86_400 });
  });
});
