import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import type { SealedCiphertext } from '../../lib/sealed-key/ciphertext-source.ts';
import { encryptionContextFor } from '../../lib/sealed-key/encryption-context.ts';
import type { WebhookConfig } from '../../lib/adapters/webhooks/config.ts';
import type { DedupeOutcome } from '../../lib/idempotency/delivery-dedupe.ts';
import type { WebhookDependencies } from '../../lib/adapters/webhooks/dependencies.ts';
import { WebhookDecisionUnavailableError } from '../../lib/adapters/webhooks/errors.ts';
import type { WebhookEventDetail } from '../../lib/adapters/webhooks/event-mapping.ts';
import { createWebhookHandler } from '../../lib/adapters/webhooks/handler.ts';
import type { PublishReceipt } from '../../lib/events/publisher.ts';
import { lambdaContext } from '../support/api-events.ts';
import {
  SENSITIVE_MARKERS,
  sessionStatusPayload,
  signDelivery,
  webhookEvent,
  webhookSecret,
  type SignerForm,
} from '../sandbox/webhook-signer.ts';

// The handler with in-memory stand-ins for KMS/Secrets Manager, DynamoDB and EventBridge: every check
// and every answer. test/integration/webhook.test.ts runs the same paths against the emulators.

const config: WebhookConfig = {
  region: 'us-east-1',
  service: 'didit-kms-gateway',
  stage: 'unit',
  webhookSecretSecretId: 'unit/webhook',
  kmsKeyId: undefined,
  ciphertextTtlMs: 300_000,
  idempotencyTable: 'unit-idempotency',
  dedupeTtlSeconds: 86_400,
  eventBusName: 'unit-bus',
  toleranceSeconds: 300,
  maxBodyBytes: 64 * 1024,
  acceptSimple: true,
};

interface Fake {
  deps: WebhookDependencies;
  published: Array<{ detailType: string; detail: WebhookEventDetail }>;
  /** KMS Decrypts of the webhook secret. */
  decrypts: number;
  /** Decision fetches from Didit (each one a KMS Decrypt of the API key in production). */
  fetches: string[];
  /** What Didit's decision route answers per session (absent: the fetch fails like a Didit 404). */
  decisions: Map<string, Record<string, unknown>>;
  refreshes: number;
  /** What the sealed secret decrypts to (tests swap it to simulate a rotation). */
  current: Buffer;
  fingerprint: string;
  fetchedAt: number;
  clock: number;
}

let secret: Buffer;
let fake: Fake;

function makeFake(): Fake {
  const seen = new Map<string, PublishReceipt>();
  const f: Fake = {
    published: [],
    decrypts: 0,
    fetches: [],
    decisions: new Map(),
    refreshes: 0,
    current: secret,
    fingerprint: 'sha256:0000000000000001',
    fetchedAt: Date.now(),
    clock: Date.now(),
    deps: undefined as unknown as WebhookDependencies,
  };
  const sealed = (): SealedCiphertext => ({ ciphertext: new Uint8Array(8), versionId: 'v1', fingerprint: f.fingerprint, fetchedAt: f.fetchedAt });
  f.deps = {
    config,
    encryptionContext: encryptionContextFor({ service: config.service, stage: config.stage, purpose: 'didit-webhook-secret' }),
    now: () => f.clock,
    secret: {
      withKey: async <T>(fn: (key: SecureBuffer) => Promise<T>): Promise<T> => {
        f.decrypts++;
        const key = SecureBuffer.alloc(f.current.length);
        key.bytes().set(f.current);
        try {
          return await fn(key);
        } finally {
          key.dispose();
        }
      },
    },
    secretSource: {
      get: async () => sealed(),
      refresh: async () => {
        f.refreshes++;
        f.fetchedAt = f.clock;
        return sealed();
      },
    },
    dedupe: {
      once: async (key: string, _context: Context, publish: () => Promise<PublishReceipt>): Promise<DedupeOutcome> => {
        const known = seen.get(key);
        if (known !== undefined) return { duplicate: true, receipt: known };
        const receipt = await publish();
        seen.set(key, receipt);
        return { duplicate: false, receipt };
      },
    },
    publisher: {
      publish: async (detailType: string, detail: WebhookEventDetail) => {
        f.published.push({ detailType, detail });
        return { eventId: randomUUID(), detailType };
      },
    },
    decisions: {
      fetch: async (request) => {
        const sessionId = request.params['sessionId']!;
        f.fetches.push(sessionId);
        const decision = f.decisions.get(sessionId);
        if (decision === undefined) throw new WebhookDecisionUnavailableError('decision fetch failed (NOT_FOUND)');
        return decision;
      },
    },
  };
  return f;
}

beforeEach(() => {
  secret = webhookSecret();
  fake = makeFake();
});

const handler = () => createWebhookHandler({ dependencies: () => fake.deps });
async function deliver(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return (await handler()(event, lambdaContext())) as APIGatewayProxyResult;
}
const now = () => Math.floor(fake.clock / 1000);
const sign = (payload: unknown, forms?: SignerForm[], extra: { headerTimestamp?: number; secret?: Uint8Array; indent?: number } = {}) =>
  signDelivery({ secret: extra.secret ?? secret, payload, forms, headerTimestamp: extra.headerTimestamp ?? now(), indent: extra.indent });
const body = (r: APIGatewayProxyResult) => JSON.parse(r.body) as Record<string, any>;

/** What Didit's decision route answers for a session (§3.2): the truth a Simple-only delivery is completed with. */
function authoritativeDecision(sessionId: string, status: string): Record<string, unknown> {
  return {
    session_id: sessionId,
    session_number: 77,
    status,
    workflow_id: '11111111-2222-4333-8444-555555555555',
    workflow_version: 3,
    features: ['ID_VERIFICATION', 'FACE_MATCH'],
    vendor_data: 'from-didit-api',
    id_verifications: [{ node_id: 'feature_ocr', status, document_number: SENSITIVE_MARKERS.documentNumber, warnings: [{ risk: 'DOCUMENT_EXPIRED', long_description: SENSITIVE_MARKERS.warningDescription }] }],
    face_matches: [{ node_id: 'feature_face', status, warnings: [] }],
  };
}

describe('accepted deliveries', () => {
  for (const [forms, expected] of [
    [['v2'], 'v2'],
    [['v2-timestamped'], 'v2-timestamped'],
    [['v2-ascii'], 'v2-ascii'],
    [['v1'], 'v1-raw'],
    [['simple'], 'simple'],
    [['v2', 'v1', 'simple'], 'v2'],
  ] as const) {
    it(`${forms.join('+')} → 200 accepted, verified as ${expected}`, async () => {
      const payload = sessionStatusPayload({ vendorData: 'kunde-Ø-42' });
      fake.decisions.set(payload['session_id'] as string, authoritativeDecision(payload['session_id'] as string, 'Approved'));
      const res = await deliver(webhookEvent(sign(payload, [...forms], { indent: 2 })));
      expect(res.statusCode).toBe(200);
      expect(body(res)).toEqual({ status: 'accepted' });
      expect(fake.published).toHaveLength(1);
      expect(fake.published[0]!.detailType).toBe('didit.session.status-updated');
      expect(fake.published[0]!.detail.delivery.signature).toBe(expected);
      expect(fake.decrypts).toBe(1);
    });
  }

  it('V1 over a base64-encoded API Gateway body verifies the raw bytes', async () => {
    const delivery = sign(sessionStatusPayload(), ['v1'], { indent: 3 });
    const res = await deliver(webhookEvent(delivery, { base64: true }));
    expect(res.statusCode).toBe(200);
    expect(fake.published[0]!.detail.delivery.signature).toBe('v1-raw');
  });

  it('header names in any case', async () => {
    const delivery = sign(sessionStatusPayload(), ['v2']);
    const headers = Object.fromEntries(Object.entries(delivery.headers).map(([k, v]) => [k.toLowerCase(), v]));
    expect((await deliver(webhookEvent({ ...delivery, headers }))).statusCode).toBe(200);
  });

  it('maps every documented webhook_type to its detail-type', async () => {
    const cases: Array<[string, string]> = [
      ['status.updated', 'didit.session.status-updated'],
      ['data.updated', 'didit.session.data-updated'],
    ];
    for (const [type, detailType] of cases) {
      const res = await deliver(webhookEvent(sign(sessionStatusPayload({ webhookType: type }), ['v2'])));
      expect(res.statusCode, type).toBe(200);
      expect(fake.published.at(-1)!.detailType).toBe(detailType);
    }
  });

  it('entity events (user.status.updated envelope without session_id, ISO timestamp) are accepted', async () => {
    const payload = {
      webhook_type: 'user.status.updated',
      application_id: 'app_abc123',
      timestamp: new Date(fake.clock).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      data: { vendor_data: 'user-42', uuid: randomUUID(), status: 'BLOCKED', previous_status: 'ACTIVE', reason: 'session_declined', metadata: { note: SENSITIVE_MARKERS.firstName } },
    };
    const res = await deliver(webhookEvent(sign(payload, ['v2'])));
    expect(res.statusCode).toBe(200);
    const { detailType, detail } = fake.published[0]!;
    expect(detailType).toBe('didit.user.status-updated');
    expect(detail.entity).toMatchObject({ status: 'BLOCKED', previous_status: 'ACTIVE', reason: 'session_declined' });
    expect(detail.vendor_data).toBe('user-42');
    expect(JSON.stringify(detail)).not.toContain(SENSITIVE_MARKERS.firstName);
  });
});

describe('entity events with all three headers', () => {
  it('a Simple header on a body without session_id/status cannot vouch for anything: ignored next to a verified V2/raw, refused alone', async () => {
    const payload = {
      event: 'user.status.updated',
      timestamp: new Date(fake.clock).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      data: { uuid: randomUUID(), status: 'FLAGGED', previous_status: 'ACTIVE' },
    };
    const delivery = sign(payload, ['v2', 'v1']);
    // What Didit puts in X-Signature-Simple for an entity event is not documented: any well-formed value.
    const res = await deliver(webhookEvent(delivery, { headers: { 'X-Signature-Simple': 'd'.repeat(64) } }));
    expect(res.statusCode).toBe(200);
    expect(fake.published[0]!.detail.delivery).toMatchObject({ signature: 'v2', authenticated: 'body' });
    const alone = await deliver(webhookEvent({ body: delivery.body, headers: { 'X-Timestamp': delivery.headers['X-Timestamp']!, 'X-Signature-Simple': 'd'.repeat(64) } }));
    expect(alone.statusCode).toBe(401);
    expect(fake.decrypts).toBe(1);
  });
});

describe('replays', () => {
  it('the same delivery twice → accepted, then duplicate; published once', async () => {
    const delivery = sign(sessionStatusPayload(), ['v2']);
    expect(body(await deliver(webhookEvent(delivery)))).toEqual({ status: 'accepted' });
    const again = await deliver(webhookEvent(delivery));
    expect(again.statusCode).toBe(200);
    expect(body(again)).toEqual({ status: 'duplicate' });
    expect(fake.published).toHaveLength(1);
  });

  it('dedupes on event_id when present (a retry with a new timestamp is still a duplicate)', async () => {
    const eventId = randomUUID();
    const sessionId = randomUUID();
    await deliver(webhookEvent(sign(sessionStatusPayload({ eventId, sessionId }), ['v2'])));
    fake.clock += 60_000;
    const retry = await deliver(webhookEvent(sign(sessionStatusPayload({ eventId, sessionId, timestamp: now() }), ['v2'])));
    expect(body(retry)).toEqual({ status: 'duplicate' });
    const other = await deliver(webhookEvent(sign(sessionStatusPayload({ eventId: randomUUID(), sessionId, timestamp: now() }), ['v2'])));
    expect(body(other)).toEqual({ status: 'accepted' });
    expect(fake.published).toHaveLength(2);
  });

  it('without event_id, on session_id + status + webhook_type + timestamp', async () => {
    const sessionId = randomUUID();
    fake.decisions.set(sessionId, authoritativeDecision(sessionId, 'In Progress'));
    const t = now();
    await deliver(webhookEvent(sign(sessionStatusPayload({ sessionId, status: 'In Progress', timestamp: t }), ['v2'])));
    expect(body(await deliver(webhookEvent(sign(sessionStatusPayload({ sessionId, status: 'In Progress', timestamp: t }), ['simple']))))).toEqual({ status: 'duplicate' });
    expect(body(await deliver(webhookEvent(sign(sessionStatusPayload({ sessionId, status: 'Approved', timestamp: t }), ['v2']))))).toEqual({ status: 'accepted' });
    expect(body(await deliver(webhookEvent(sign(sessionStatusPayload({ sessionId, status: 'In Progress', timestamp: t + 1 }), ['v2']))))).toEqual({ status: 'accepted' });
    expect(fake.published).toHaveLength(3);
  });
});

describe('rejected deliveries', () => {
  async function rejected(event: APIGatewayProxyEvent, status: number, code: string): Promise<void> {
    const res = await deliver(event);
    expect(res.statusCode).toBe(status);
    const error = body(res)['error'] as Record<string, unknown>;
    expect(error['code']).toBe(code);
    expect(Object.keys(error).sort()).toEqual(['code', 'message', 'requestId']);
    expect(fake.published).toHaveLength(0);
  }

  it('wrong secret → 401 with a generic message, after one decrypt', async () => {
    await rejected(webhookEvent(sign(sessionStatusPayload(), undefined, { secret: webhookSecret() })), 401, 'WEBHOOK_SIGNATURE_INVALID');
    expect(fake.decrypts).toBe(1);
    const res = await deliver(webhookEvent(sign(sessionStatusPayload(), ['v2'], { secret: webhookSecret() })));
    expect(body(res)['error']['message']).toBe('The webhook delivery could not be authenticated.');
  });

  it('tampered body (signed status changed) → 401 for every form', async () => {
    const delivery = sign(sessionStatusPayload({ status: 'Declined' }));
    await rejected(webhookEvent({ ...delivery, body: delivery.body.replace('"Declined"', '"Approved"') }), 401, 'WEBHOOK_SIGNATURE_INVALID');
  });

  it('tampered decision with only V2/V1 signatures → 401; Simple alone does not cover the decision', async () => {
    const delivery = sign(sessionStatusPayload({ status: 'Approved' }), ['v2', 'v1']);
    await rejected(webhookEvent({ ...delivery, body: delivery.body.replace('"LIVENESS"', '"NFC"') }), 401, 'WEBHOOK_SIGNATURE_INVALID');
  });

  it('no signature header, or only malformed ones → 401 without decrypting the secret', async () => {
    const delivery = sign(sessionStatusPayload(), []);
    await rejected(webhookEvent(delivery), 401, 'WEBHOOK_SIGNATURE_INVALID');
    await rejected(webhookEvent(delivery, { headers: { 'X-Signature-V2': 'not-hex', 'X-Signature': 'ab'.repeat(31) } }), 401, 'WEBHOOK_SIGNATURE_INVALID');
    expect(fake.decrypts).toBe(0);
  });

  it('stale, future or missing X-Timestamp → 401 without decrypting', async () => {
    await rejected(webhookEvent(sign(sessionStatusPayload(), ['v2'], { headerTimestamp: now() - 301 })), 401, 'WEBHOOK_TIMESTAMP_INVALID');
    await rejected(webhookEvent(sign(sessionStatusPayload(), ['v2'], { headerTimestamp: now() + 301 })), 401, 'WEBHOOK_TIMESTAMP_INVALID');
    const delivery = sign(sessionStatusPayload(), ['v2']);
    const { 'X-Timestamp': _dropped, ...headers } = delivery.headers;
    await rejected(webhookEvent({ ...delivery, headers }), 401, 'WEBHOOK_TIMESTAMP_INVALID');
    await rejected(webhookEvent(delivery, { headers: { 'X-Timestamp': 'yesterday' } }), 401, 'WEBHOOK_TIMESTAMP_INVALID');
    expect(fake.decrypts).toBe(0);
  });

  it('a header timestamp just inside the window is fine', async () => {
    expect((await deliver(webhookEvent(sign(sessionStatusPayload({ timestamp: now() - 299 }), ['v2'], { headerTimestamp: now() - 299 })))).statusCode).toBe(200);
  });

  it('stale body timestamp with a fresh X-Timestamp and valid signatures → 401 (V2 does not cover the header)', async () => {
    // A captured delivery replayed later with a new X-Timestamp: V2 and V1 still verify.
    const old = sessionStatusPayload({ timestamp: now() - 3_600 });
    await rejected(webhookEvent(sign(old, ['v2', 'v1'])), 401, 'WEBHOOK_TIMESTAMP_INVALID');
    const oldCreatedAt = sessionStatusPayload();
    delete oldCreatedAt['timestamp'];
    oldCreatedAt['created_at'] = now() - 301;
    await rejected(webhookEvent(sign(oldCreatedAt, ['v2'])), 401, 'WEBHOOK_TIMESTAMP_INVALID');
  });

  it('bodies that are not Didit deliveries → 400 before any decrypt', async () => {
    const cases: unknown[] = [
      'not json at all',
      '[1,2,3]',
      '"a string"',
      { ...sessionStatusPayload(), session_id: undefined },
      { ...sessionStatusPayload(), status: undefined },
      { ...sessionStatusPayload(), webhook_type: undefined },
      { ...sessionStatusPayload(), timestamp: undefined, created_at: undefined },
      { ...sessionStatusPayload(), webhook_type: 'has spaces and <html>' },
    ];
    for (const payload of cases) {
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      const delivery = { body: text, headers: { 'X-Timestamp': String(now()), 'X-Signature-V2': 'a'.repeat(64) } };
      await rejected(webhookEvent(delivery), 400, 'WEBHOOK_PAYLOAD_INVALID');
    }
    await rejected(webhookEvent({ body: '', headers: {} }), 400, 'WEBHOOK_PAYLOAD_INVALID');
    const invalidUtf8 = webhookEvent({ body: '', headers: { 'X-Timestamp': String(now()) } });
    invalidUtf8.body = Buffer.from([0x7b, 0xff, 0x7d]).toString('base64');
    invalidUtf8.isBase64Encoded = true;
    await rejected(invalidUtf8, 400, 'WEBHOOK_PAYLOAD_INVALID');
    expect(fake.decrypts).toBe(0);
  });

  it('oversized body → 413', async () => {
    const payload = { ...sessionStatusPayload(), padding: 'x'.repeat(config.maxBodyBytes) };
    await rejected(webhookEvent(sign(payload, ['v2'])), 413, 'PAYLOAD_TOO_LARGE');
  });
});

describe('secret rotation', () => {
  it('on a mismatch with an old cached ciphertext, re-reads the sealed secret once and verifies again', async () => {
    const rotated = webhookSecret();
    const delivery = sign(sessionStatusPayload(), ['v2'], { secret: rotated });
    fake.fetchedAt = fake.clock - 120_000;
    // Secrets Manager now holds the new secret: refresh() yields a new fingerprint and the new bytes.
    const refresh = fake.deps.secretSource.refresh;
    (fake.deps as { secretSource: WebhookDependencies['secretSource'] }).secretSource = {
      get: fake.deps.secretSource.get,
      refresh: async (o) => {
        fake.fingerprint = 'sha256:0000000000000002';
        fake.current = rotated;
        return refresh(o);
      },
    };
    const res = await deliver(webhookEvent(delivery));
    expect(res.statusCode).toBe(200);
    expect(fake.refreshes).toBe(1);
    expect(fake.decrypts).toBe(2);
  });

  it('does not re-read a freshly cached ciphertext (forged deliveries cannot drive Secrets Manager reads)', async () => {
    fake.fetchedAt = fake.clock - 1_000;
    const res = await deliver(webhookEvent(sign(sessionStatusPayload(), ['v2'], { secret: webhookSecret() })));
    expect(res.statusCode).toBe(401);
    expect(fake.refreshes).toBe(0);
  });
});

// Issue 8, finding 1: the strongest presented signature decides; Simple authenticates four fields only.
describe('signature downgrade', () => {
  /** A genuine Didit delivery (all three headers), Declined with a decision that says so. */
  function genuine(options: { eventId?: string } = {}) {
    const payload = sessionStatusPayload({ status: 'Declined', eventId: options.eventId ?? randomUUID(), vendorData: 'customer-42' });
    const sessionId = payload['session_id'] as string;
    fake.decisions.set(sessionId, authoritativeDecision(sessionId, 'Declined'));
    return { payload, sessionId, delivery: sign(payload) };
  }
  /** The attacker's edit: the decision says Approved, a new event_id, another vendor_data. Simple still matches. */
  function edited(payload: Record<string, unknown>): string {
    const decision = structuredClone(payload['decision']) as Record<string, any>;
    decision['status'] = 'Approved';
    decision['face_matches'][0].status = 'Approved';
    decision['face_matches'][0].warnings = [];
    return JSON.stringify({ ...payload, decision, event_id: randomUUID(), vendor_data: 'attacker-account' });
  }
  const withHeaders = (delivery: { headers: Record<string, string> }, names: string[]) =>
    Object.fromEntries(Object.entries(delivery.headers).filter(([name]) => !name.startsWith('X-Signature') || names.includes(name)));

  it('a replayed Simple signature with edited decision/event_id/vendor_data, after the original: a duplicate, nothing fetched or published', async () => {
    const { payload, delivery } = genuine();
    expect(body(await deliver(webhookEvent(delivery)))).toEqual({ status: 'accepted' });
    for (let i = 0; i < 2; i++) {
      const forged = { body: edited(payload), headers: withHeaders(delivery, ['X-Signature-Simple']) };
      const res = await deliver(webhookEvent(forged));
      expect(res.statusCode).toBe(200);
      expect(body(res)).toEqual({ status: 'duplicate' });
    }
    expect(fake.published).toHaveLength(1);
    expect(fake.published[0]!.detail.decision!.status).toBe('Declined');
    expect(fake.fetches).toEqual([]);
  });

  it('a replayed Simple signature with edited fields, original unseen: publishes Didit\'s decision, none of the edited fields', async () => {
    const { payload, sessionId, delivery } = genuine();
    const first = await deliver(webhookEvent({ body: edited(payload), headers: withHeaders(delivery, ['X-Signature-Simple']) }));
    expect(first.statusCode).toBe(200);
    expect(fake.fetches).toEqual([sessionId]);
    const { detail } = fake.published[0]!;
    expect(detail).toMatchObject({
      webhook_type: 'status.updated',
      session_id: sessionId,
      status: 'Declined',
      vendor_data: 'from-didit-api',
      decision: { status: 'Declined', features: ['ID_VERIFICATION', 'FACE_MATCH'] },
      delivery: { signature: 'simple', authenticated: 'envelope', decision_source: 'didit-api' },
    });
    expect(detail.decision!.results).toEqual([
      { feature: 'id_verifications', node_id: 'feature_ocr', status: 'Declined', risks: ['DOCUMENT_EXPIRED'] },
      { feature: 'face_matches', node_id: 'feature_face', status: 'Declined', risks: [] },
    ]);
    expect(detail.event_id).toBeUndefined();
    const published = JSON.stringify(detail);
    for (const unsigned of ['attacker-account', 'customer-42', 'Approved', SENSITIVE_MARKERS.documentNumber, SENSITIVE_MARKERS.warningDescription]) {
      expect(published).not.toContain(unsigned);
    }
    // Another replay with yet another event_id is the same delivery: the dedupe key has no unsigned field.
    const again = await deliver(webhookEvent({ body: edited(payload), headers: withHeaders(delivery, ['X-Signature-Simple']) }));
    expect(body(again)).toEqual({ status: 'duplicate' });
    expect(fake.published).toHaveLength(1);
    expect(fake.fetches).toHaveLength(1);
  });

  it('wrong X-Signature-V2 + right Simple → 401, nothing fetched or published', async () => {
    const { payload, delivery } = genuine();
    const headers = { ...withHeaders(delivery, ['X-Signature-Simple']), 'X-Signature-V2': '0'.repeat(64) };
    for (const text of [delivery.body, edited(payload)]) {
      const res = await deliver(webhookEvent({ body: text, headers }));
      expect(res.statusCode).toBe(401);
      expect(body(res).error.code).toBe('WEBHOOK_SIGNATURE_INVALID');
    }
    expect(fake.published).toEqual([]);
    expect(fake.fetches).toEqual([]);
  });

  it('wrong raw X-Signature + right Simple → 401', async () => {
    const { payload, delivery } = genuine();
    const headers = { ...withHeaders(delivery, ['X-Signature-Simple']), 'X-Signature': 'f'.repeat(64) };
    for (const text of [delivery.body, edited(payload)]) {
      expect((await deliver(webhookEvent({ body: text, headers }))).statusCode).toBe(401);
    }
    // The original V2 header with the edited body (it no longer verifies) next to raw and Simple: refused too.
    expect((await deliver(webhookEvent({ body: edited(payload), headers: withHeaders(delivery, ['X-Signature-V2', 'X-Signature-Simple']) }))).statusCode).toBe(401);
    expect(fake.published).toEqual([]);
  });

  it('wrong V2 + right raw → 401: the strongest presented form decides, whatever weaker one verifies', async () => {
    const { delivery } = genuine();
    const res = await deliver(webhookEvent({ body: delivery.body, headers: { ...withHeaders(delivery, ['X-Signature', 'X-Signature-Simple']), 'X-Signature-V2': 'a'.repeat(64) } }));
    expect(res.statusCode).toBe(401);
    expect(fake.published).toEqual([]);
  });

  it('right V2 + a wrong weaker signature → 401: every presented signature must verify', async () => {
    const { delivery } = genuine();
    for (const [name, bad] of [['X-Signature', 'b'.repeat(64)], ['X-Signature-Simple', 'c'.repeat(64)]] as const) {
      const res = await deliver(webhookEvent({ body: delivery.body, headers: { ...delivery.headers, [name]: bad } }));
      expect(res.statusCode, name).toBe(401);
    }
    expect(fake.published).toEqual([]);
  });

  it('a malformed or repeated stronger header next to a right Simple → 401 before any decrypt', async () => {
    const { delivery } = genuine();
    const simpleOnly = withHeaders(delivery, ['X-Signature-Simple']);
    for (const bad of ['not-a-signature', '', 'a'.repeat(63), `${'a'.repeat(64)}, ${'b'.repeat(64)}`]) {
      const res = await deliver(webhookEvent({ body: delivery.body, headers: { ...simpleOnly, 'X-Signature-V2': bad } }));
      expect(res.statusCode, JSON.stringify(bad)).toBe(401);
    }
    const repeated = webhookEvent({ body: delivery.body, headers: simpleOnly });
    repeated.multiValueHeaders = { ...repeated.multiValueHeaders, 'X-Signature-V2': ['1'.repeat(64), delivery.headers['X-Signature-V2']!] };
    repeated.headers = { ...repeated.headers, 'X-Signature-V2': delivery.headers['X-Signature-V2']! };
    expect((await deliver(repeated)).statusCode).toBe(401);
    expect(fake.decrypts).toBe(0);
    expect(fake.published).toEqual([]);
  });
});

describe('each form alone: a field it covers is protected, a field it does not is never trusted', () => {
  it('V2: an edited decision → 401; an edited X-Timestamp (not covered) → accepted, the published timestamp is the body\'s', async () => {
    const payload = sessionStatusPayload({ timestamp: now() - 10 });
    const delivery = sign(payload, ['v2']);
    expect((await deliver(webhookEvent({ ...delivery, body: delivery.body.replace('"LIVENESS"', '"NFC"') }))).statusCode).toBe(401);
    const res = await deliver(webhookEvent(delivery, { headers: { 'X-Timestamp': String(now() + 100) } }));
    expect(res.statusCode).toBe(200);
    expect(fake.published[0]!.detail).toMatchObject({ timestamp: now() - 10, delivery: { signature: 'v2', authenticated: 'body', decision_source: 'delivery' } });
    expect(fake.fetches).toEqual([]);
  });

  it('X-Signature (raw): one changed byte, even whitespace → 401; an edited X-Timestamp → accepted, the body\'s timestamp published', async () => {
    const payload = sessionStatusPayload({ timestamp: now() - 20 });
    const delivery = sign(payload, ['v1']);
    expect((await deliver(webhookEvent({ ...delivery, body: `${delivery.body} ` }))).statusCode).toBe(401);
    expect((await deliver(webhookEvent({ ...delivery, body: delivery.body.replace('customer-42', 'customer-43') }))).statusCode).toBe(401);
    const res = await deliver(webhookEvent(delivery, { headers: { 'X-Timestamp': String(now() + 100) } }));
    expect(res.statusCode).toBe(200);
    expect(fake.published[0]!.detail).toMatchObject({ timestamp: now() - 20, vendor_data: 'customer-42', delivery: { signature: 'v1-raw', authenticated: 'body' } });
  });

  it('Simple: an edited status, session_id, webhook_type or timestamp → 401; an edited decision → accepted with Didit\'s decision', async () => {
    const payload = sessionStatusPayload({ status: 'In Review' });
    const sessionId = payload['session_id'] as string;
    fake.decisions.set(sessionId, authoritativeDecision(sessionId, 'In Review'));
    const delivery = sign(payload, ['simple']);
    const covered: Array<Record<string, unknown>> = [
      { status: 'Approved' },
      { session_id: randomUUID() },
      { webhook_type: 'data.updated' },
      { timestamp: (payload['timestamp'] as number) - 1 },
    ];
    for (const change of covered) {
      const res = await deliver(webhookEvent({ ...delivery, body: JSON.stringify({ ...payload, ...change }) }));
      expect(res.statusCode, JSON.stringify(change)).toBe(401);
    }
    expect(fake.fetches).toEqual([]);
    const decision = structuredClone(payload['decision']) as Record<string, unknown>;
    decision['status'] = 'Approved';
    const res = await deliver(webhookEvent({ ...delivery, body: JSON.stringify({ ...payload, decision, previous_status: 'Approved' }) }));
    expect(res.statusCode).toBe(200);
    const { detail } = fake.published[0]!;
    expect(detail.decision!.status).toBe('In Review');
    expect(detail.previous_status).toBeUndefined();
    expect(detail.delivery).toMatchObject({ signature: 'simple', authenticated: 'envelope', decision_source: 'didit-api' });
    expect(fake.fetches).toEqual([sessionId]);
  });

  it('Simple: when Didit cannot give the decision → 502 (Didit redelivers), nothing published, and the retry is not a duplicate', async () => {
    const payload = sessionStatusPayload({ status: 'Approved' });
    const delivery = sign(payload, ['simple']);
    const failed = await deliver(webhookEvent(delivery));
    expect(failed.statusCode).toBe(502);
    expect(body(failed).error.code).toBe('WEBHOOK_DECISION_UNAVAILABLE');
    expect(fake.published).toEqual([]);
    fake.decisions.set(payload['session_id'] as string, authoritativeDecision(payload['session_id'] as string, 'Approved'));
    expect(body(await deliver(webhookEvent(delivery)))).toEqual({ status: 'accepted' });
    expect(fake.published).toHaveLength(1);
  });
});

describe('Simple acceptance is a per-stage setting', () => {
  it('off: a Simple-only delivery → 401 without a decrypt; V2 deliveries are unaffected', async () => {
    (fake.deps as { config: WebhookConfig }).config = { ...config, acceptSimple: false };
    const payload = sessionStatusPayload();
    fake.decisions.set(payload['session_id'] as string, authoritativeDecision(payload['session_id'] as string, 'Approved'));
    const res = await deliver(webhookEvent(sign(payload, ['simple'])));
    expect(res.statusCode).toBe(401);
    expect(body(res).error.code).toBe('WEBHOOK_SIGNATURE_INVALID');
    expect(fake.decrypts).toBe(0);
    expect(fake.fetches).toEqual([]);
    expect((await deliver(webhookEvent(sign(payload, ['v2', 'v1', 'simple'])))).statusCode).toBe(200);
  });
});

// Issue 8, finding 5 (webhook part): a forged delivery that fails a key-free check costs no KMS call.
describe('key-free checks come first', () => {
  it('every forged delivery failing a cheap check is refused with no KMS Decrypt (webhook secret or API key)', async () => {
    const good = sessionStatusPayload();
    const wrong = 'e'.repeat(64);
    const forged: Array<[string, APIGatewayProxyEvent, number]> = [
      ['oversized', webhookEvent({ body: JSON.stringify({ ...good, pad: 'x'.repeat(config.maxBodyBytes) }), headers: { 'X-Timestamp': String(now()), 'X-Signature-V2': wrong } }), 413],
      ['not JSON', webhookEvent({ body: '{"webhook_type":', headers: { 'X-Timestamp': String(now()), 'X-Signature-V2': wrong } }), 400],
      ['unknown webhook_type', webhookEvent({ body: JSON.stringify({ ...good, webhook_type: 'session.teleported' }), headers: { 'X-Timestamp': String(now()), 'X-Signature-V2': wrong } }), 400],
      ['prototype-named webhook_type', webhookEvent({ body: JSON.stringify({ ...good, webhook_type: 'constructor' }), headers: { 'X-Timestamp': String(now()), 'X-Signature-V2': wrong } }), 400],
      ['stale X-Timestamp', webhookEvent({ body: JSON.stringify(good), headers: { 'X-Timestamp': String(now() - 3_600), 'X-Signature-V2': wrong } }), 401],
      ['stale body timestamp', webhookEvent({ body: JSON.stringify({ ...good, timestamp: now() - 3_600 }), headers: { 'X-Timestamp': String(now()), 'X-Signature-V2': wrong } }), 401],
      ['two X-Timestamp values', (() => {
        const e = webhookEvent({ body: JSON.stringify(good), headers: { 'X-Timestamp': String(now()), 'X-Signature-V2': wrong } });
        e.multiValueHeaders = { ...e.multiValueHeaders, 'X-Timestamp': [String(now() - 3_600), String(now())] };
        return e;
      })(), 401],
      ['no signature header', webhookEvent({ body: JSON.stringify(good), headers: { 'X-Timestamp': String(now()) } }), 401],
      ['malformed signature', webhookEvent({ body: JSON.stringify(good), headers: { 'X-Timestamp': String(now()), 'X-Signature': 'zz'.repeat(32) } }), 401],
      ['V2 on a body with no canonical form', webhookEvent({ body: JSON.stringify(good).replace('"workflow_version":3', '"workflow_version":1e400'), headers: { 'X-Timestamp': String(now()), 'X-Signature-V2': wrong } }), 401],
      ['Simple-only, session_id not a UUID', webhookEvent({ body: JSON.stringify({ ...good, session_id: 'not-a-session' }), headers: { 'X-Timestamp': String(now()), 'X-Signature-Simple': wrong } }), 400],
      ['Simple-only, freshness only on the unsigned created_at', webhookEvent({ body: JSON.stringify({ ...good, timestamp: 'soon' }), headers: { 'X-Timestamp': String(now()), 'X-Signature-Simple': wrong } }), 401],
      ['Simple-only, type only from the unsigned `event`', webhookEvent({ body: JSON.stringify({ ...good, webhook_type: 7, event: 'status.updated' }), headers: { 'X-Timestamp': String(now()), 'X-Signature-Simple': wrong } }), 401],
      ['Simple-only on a body without the Simple fields', webhookEvent({ body: JSON.stringify({ ...good, timestamp: undefined }), headers: { 'X-Timestamp': String(now()), 'X-Signature-Simple': wrong } }), 401],
    ];
    for (const [name, event, status] of forged) {
      const res = await deliver(event);
      expect(res.statusCode, name).toBe(status);
      expect(fake.decrypts, name).toBe(0);
      expect(fake.fetches, name).toEqual([]);
    }
    (fake.deps as { config: WebhookConfig }).config = { ...config, acceptSimple: false };
    const refused = await deliver(webhookEvent({ body: JSON.stringify(good), headers: { 'X-Timestamp': String(now()), 'X-Signature-Simple': wrong } }));
    expect(refused.statusCode).toBe(401);
    expect(fake.decrypts).toBe(0);
    expect(fake.published).toEqual([]);
  });

  it('a forged delivery that passes them costs exactly one decrypt of the webhook secret and no decision fetch', async () => {
    const res = await deliver(webhookEvent({ body: JSON.stringify(sessionStatusPayload()), headers: { 'X-Timestamp': String(now()), 'X-Signature-Simple': 'e'.repeat(64) } }));
    expect(res.statusCode).toBe(401);
    expect(fake.decrypts).toBe(1);
    expect(fake.fetches).toEqual([]);
  });
});
