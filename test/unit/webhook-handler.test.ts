import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import type { SealedCiphertext } from '../../lib/sealed-key/ciphertext-source.ts';
import { encryptionContextFor } from '../../lib/sealed-key/encryption-context.ts';
import type { WebhookConfig } from '../../lib/webhooks/config.ts';
import type { DedupeOutcome } from '../../lib/webhooks/dedupe.ts';
import type { WebhookDependencies } from '../../lib/webhooks/dependencies.ts';
import type { WebhookEventDetail } from '../../lib/webhooks/event-mapping.ts';
import { createWebhookHandler } from '../../lib/webhooks/handler.ts';
import type { PublishReceipt } from '../../lib/webhooks/publisher.ts';
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
};

interface Fake {
  deps: WebhookDependencies;
  published: Array<{ detailType: string; detail: WebhookEventDetail }>;
  decrypts: number;
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
      const res = await deliver(webhookEvent(sign(sessionStatusPayload({ vendorData: 'kunde-Ø-42' }), [...forms], { indent: 2 })));
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

  it('maps every documented webhook_type to its detail-type; unknown ones are published as didit.webhook.unknown', async () => {
    const cases: Array<[string, string]> = [
      ['status.updated', 'didit.session.status-updated'],
      ['data.updated', 'didit.session.data-updated'],
      ['some.future.event', 'didit.webhook.unknown'],
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
