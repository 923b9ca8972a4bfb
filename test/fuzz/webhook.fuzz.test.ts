import { createHmac, randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, DeleteEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyResult } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { canonicalForms, parseJsonTree } from '../../lib/adapters/webhooks/canonical-json.ts';
import { loadWebhookConfig } from '../../lib/adapters/webhooks/config.ts';
import { createWebhookDependencies, type WebhookDependencies } from '../../lib/adapters/webhooks/dependencies.ts';
import { readEnvelope } from '../../lib/adapters/webhooks/envelope.ts';
import { detailTypeFor } from '../../lib/adapters/webhooks/event-mapping.ts';
import { createWebhookHandler } from '../../lib/adapters/webhooks/handler.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { sessionStatusPayload, webhookEvent, webhookSecret } from '../sandbox/webhook-signer.ts';
import { lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { setUpGateway, type GatewayFixture } from '../support/gateway-fixture.ts';
import { fieldName, hostileJson, invalidUtf8, serialize, toNode, type JsonNode } from './support/arbitraries.ts';
import { fuzz, type Violations } from './support/campaign.ts';
import { captureOutput, checkAnswer, checkLogs, secretForms, settle, trackRejections, type CapturedOutput, type RejectionTracker } from './support/invariants.ts';
import { countKmsCalls, type KmsCallCounter } from './support/kms-calls.ts';

// The Didit webhook receiver through its real handler: sealed webhook secret on the emulator (KMS +
// Secrets Manager), Powertools idempotency on DynamoDB, EventBridge; every KMS request of the process
// counted, every publication recorded. Deliveries are signed with the real secret, then edited, re-signed
// wrongly, left unsigned, made stale, cut, oversized or made not-UTF-8.

const em = testEmulator();
const STAGE = 'fuzz-webhook';
const suffix = randomBytes(4).toString('hex');
const names = { table: `didit-fuzz-webhook-${suffix}`, bus: `didit-fuzz-webhooks-${suffix}` };
const TOLERANCE = 300;
const MAX_BODY = 64 * 1024;
/** Planted after signing in fields that only V2/V1 cover: published, it means unauthenticated data went out. */
const TAMPER = 'FUZZTAMPER';

const secret = webhookSecret();
let gateway: GatewayFixture;
let sealed: SealedKeyResources;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let secretsManager: SecretsManagerClient;
let deps: WebhookDependencies;
let output: CapturedOutput;
let rejections: RejectionTracker;
let kms: KmsCallCounter;
const published: Array<{ detailType: string; detail: unknown }> = [];

beforeAll(async () => {
  const dynamoEndpoint = testDynamoDbEndpoint();
  // The sandbox and the sealed API key too: a receiver that fetches the authoritative decision from Didit
  // (Simple-only deliveries) finds them in its environment.
  gateway = await setUpGateway(`${STAGE}-api`);
  process.env['AWS_ENDPOINT_URL_DYNAMODB'] = dynamoEndpoint;
  const clientConfig = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });
  dynamodb = new DynamoDBClient(clientConfig(dynamoEndpoint));
  eventBridge = new EventBridgeClient(clientConfig(em.endpoint));
  secretsManager = new SecretsManagerClient(clientConfig(em.endpoint));
  sealed = await provisionSealedKey(em, { stage: STAGE, apiKey: secret, purpose: 'didit-webhook-secret' });
  await createIdempotencyTable(dynamodb, names.table);
  await eventBridge.send(new CreateEventBusCommand({ Name: names.bus }));
  const config = loadWebhookConfig({
    ...gateway.environment(),
    STAGE,
    WEBHOOK_SECRET_SECRET_ID: sealed.secretId,
    KMS_KEY_ID: sealed.kmsKeyArn,
    IDEMPOTENCY_TABLE: names.table,
    EVENT_BUS_NAME: names.bus,
    WEBHOOK_TOLERANCE_SECONDS: String(TOLERANCE),
    WEBHOOK_MAX_BODY_BYTES: String(MAX_BODY),
  });
  // The gateway's dependencies too, for a receiver that fetches Didit's decision (ignored by one that does not).
  const clients = { dynamodb, eventBridge, secretsManager, gateway: gateway.deps };
  const real = createWebhookDependencies(config, clients);
  deps = {
    ...real,
    publisher: {
      publish: (detailType, detail, options) => {
        published.push({ detailType, detail });
        return real.publisher.publish(detailType, detail, options);
      },
    },
  };
  kms = countKmsCalls();
  output = captureOutput();
  rejections = trackRejections();
});

afterAll(async () => {
  output?.restore();
  rejections?.stop();
  kms?.restore();
  await eventBridge?.send(new DeleteEventBusCommand({ Name: names.bus })).catch(() => undefined);
  if (dynamodb) await deleteIdempotencyTable(dynamodb, names.table);
  if (sealed) await teardownSealedKey(em, sealed);
  for (const c of [dynamodb, eventBridge, secretsManager]) c?.destroy();
  await gateway?.close();
});

// ---- deliveries --------------------------------------------------------------------------------

type SignatureMode = 'right' | 'right-upper' | 'right-prefixed' | 'right-timestamped' | 'wrong' | 'malformed' | 'absent';
type Clock = { readonly at: 'fresh' | 'stale' | 'future'; readonly offset: number } | { readonly at: 'absent' } | { readonly at: 'text'; readonly text: string };

interface DeliveryCase {
  readonly status: string;
  readonly webhookType: string;
  readonly eventId: string | null;
  readonly bodyClock: Clock;
  readonly headerClock: Clock;
  /** Fields set before signing: odd but signed payloads. */
  readonly edits: ReadonlyArray<readonly [string, JsonNode]>;
  readonly signatures: { readonly v2: SignatureMode; readonly v1: SignatureMode; readonly simple: SignatureMode };
  /** What is changed after signing. */
  readonly tamper: 'none' | 'decision' | 'vendor_data' | 'event_id' | 'status' | 'reformat';
  readonly body: { readonly kind: 'json' } | { readonly kind: 'indented' } | { readonly kind: 'cut'; readonly keep: number } | { readonly kind: 'bytes'; readonly at: number; readonly bad: readonly number[] } | { readonly kind: 'oversized' } | { readonly kind: 'empty' } | { readonly kind: 'hostile'; readonly node: JsonNode };
  readonly base64: boolean;
}

const signatureMode = fc.oneof(
  { weight: 5, arbitrary: fc.constant<SignatureMode>('right') },
  { weight: 3, arbitrary: fc.constant<SignatureMode>('absent') },
  { weight: 3, arbitrary: fc.constantFrom<SignatureMode>('wrong', 'malformed') },
  { weight: 1, arbitrary: fc.constantFrom<SignatureMode>('right-upper', 'right-prefixed', 'right-timestamped') },
);

const clock: fc.Arbitrary<Clock> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -60, max: 60 }).map((offset) => ({ at: 'fresh' as const, offset })) },
  { weight: 1, arbitrary: fc.integer({ min: TOLERANCE + 5, max: 10 * 365 * 86_400 }).map((s) => ({ at: 'stale' as const, offset: -s })) },
  { weight: 1, arbitrary: fc.integer({ min: TOLERANCE + 5, max: 10 * 365 * 86_400 }).map((s) => ({ at: 'future' as const, offset: s })) },
  { weight: 1, arbitrary: fc.constant({ at: 'absent' as const }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'now', '1e999', '-1', '17e8', '0x10', ' 1700000000 ', '1700000000.5', 'NaN').map((text) => ({ at: 'text' as const, text })) },
);

const KNOWN_TYPES = ['status.updated', 'data.updated', 'user.status.updated', 'business.status.updated', 'activity.created'];

const deliveryCase: fc.Arbitrary<DeliveryCase> = fc.record({
  status: fc.constantFrom('Approved', 'Declined', 'In Review', 'Not Started', 'Abandoned', 'approved', ''),
  webhookType: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...KNOWN_TYPES) }, { weight: 2, arbitrary: fc.constantFrom('unknown.event', 'status.UPDATED', 'x', '__proto__', 'constructor', 'toString', 'a'.repeat(64)) }),
  eventId: fc.option(fc.uuid(), { freq: 5 }),
  bodyClock: clock,
  headerClock: clock,
  edits: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: fc.array(fc.tuple(fieldName(['decision', 'vendor_data', 'data', 'metadata', 'session_id', 'status', 'event_id', 'event']), hostileJson(['status', 'uuid', 'id_verifications'], 2)), { maxLength: 2 }) }),
  signatures: fc.record({ v2: signatureMode, v1: signatureMode, simple: signatureMode }),
  tamper: fc.oneof({ weight: 5, arbitrary: fc.constant('none' as const) }, { weight: 3, arbitrary: fc.constantFrom('decision' as const, 'vendor_data' as const, 'event_id' as const, 'status' as const, 'reformat' as const) }),
  body: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom({ kind: 'json' as const }, { kind: 'indented' as const }) },
    { weight: 1, arbitrary: fc.nat().map((keep) => ({ kind: 'cut' as const, keep })) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(), bad: invalidUtf8 }) },
    { weight: 1, arbitrary: fc.constantFrom({ kind: 'oversized' as const }, { kind: 'empty' as const }) },
    { weight: 1, arbitrary: hostileJson(['webhook_type', 'session_id', 'status', 'timestamp', 'created_at', 'event_id', 'event', 'data']).map((node) => ({ kind: 'hostile' as const, node })) },
  ),
  base64: fc.boolean(),
});

function clockValue(c: Clock, now: number): JsonNode | undefined {
  if (c.at === 'absent') return undefined;
  if (c.at === 'text') return c.text;
  return { $num: String(now + c.offset) };
}

const hmac = (message: string | Uint8Array): string => createHmac('sha256', secret).update(message).digest('hex');

interface Materialised {
  readonly event: ReturnType<typeof webhookEvent>;
  /** The body bytes as delivered. */
  readonly raw: Buffer;
  readonly headers: Record<string, string>;
}

function setField(node: { $obj: ReadonlyArray<readonly [string, JsonNode]> }, key: string, value: JsonNode | undefined): { $obj: Array<readonly [string, JsonNode]> } {
  const entries = node.$obj.filter(([k]) => k !== key);
  return { $obj: value === undefined ? entries : [...entries, [key, value]] };
}

function materialise(c: DeliveryCase, now: number): Materialised {
  const base = sessionStatusPayload({ status: c.status, webhookType: c.webhookType, sessionId: '5f0c4b1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f', ...(c.eventId === null ? {} : { eventId: c.eventId }) });
  delete base['timestamp'];
  delete base['created_at'];
  let signedNode = toNode(base) as { $obj: Array<readonly [string, JsonNode]> };
  const bodyTs = clockValue(c.bodyClock, now);
  signedNode = setField(setField(signedNode, 'timestamp', bodyTs), 'created_at', bodyTs);
  for (const [k, v] of c.edits) signedNode = setField(signedNode, k, v);
  if (c.body.kind === 'hostile') signedNode = c.body.node as { $obj: Array<readonly [string, JsonNode]> };
  const signedText = c.body.kind === 'indented' ? indent(serialize(signedNode)) : serialize(signedNode);

  const headerTs = clockValue(c.headerClock, now);
  const headerTsText = headerTs === undefined ? undefined : typeof headerTs === 'string' ? headerTs : serialize(headerTs);
  const right = {
    v2: safe(() => hmac(canonicalForms(signedText).unicode)),
    v2Timestamped: safe(() => hmac(`${headerTsText ?? ''}:${canonicalForms(signedText).unicode}`)),
    v1: hmac(Buffer.from(signedText, 'utf8')),
    simple: safe(() => {
      const message = readEnvelope(parseJsonTree(signedText)).simpleMessage;
      return message === undefined ? undefined : hmac(message);
    }),
  };
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'DiditWebhook/2.0 +https://didit.me' };
  if (headerTsText !== undefined) headers['X-Timestamp'] = headerTsText;
  const put = (name: string, mode: SignatureMode, value: string | undefined, timestamped?: string): void => {
    const wrong = createHmac('sha256', 'not-the-secret').update(signedText).digest('hex');
    switch (mode) {
      case 'absent':
        return;
      case 'wrong':
        headers[name] = wrong;
        return;
      case 'malformed':
        headers[name] = `${wrong.slice(0, 40)}zz`;
        return;
      case 'right-timestamped':
        headers[name] = timestamped ?? value ?? wrong;
        return;
      case 'right-upper':
        headers[name] = (value ?? wrong).toUpperCase();
        return;
      case 'right-prefixed':
        headers[name] = `sha256=${value ?? wrong}`;
        return;
      case 'right':
        headers[name] = value ?? wrong;
    }
  };
  put('X-Signature-V2', c.signatures.v2, right.v2, right.v2Timestamped);
  put('X-Signature', c.signatures.v1, right.v1);
  put('X-Signature-Simple', c.signatures.simple, right.simple);

  // After signing: what an attacker holding an old delivery edits.
  let deliveredNode = signedNode;
  let text = signedText;
  if (c.body.kind !== 'hostile' && c.tamper !== 'none' && c.tamper !== 'reformat') {
    const edit: Record<string, JsonNode> = {
      decision: { $obj: [['status', `${TAMPER}-Approved`], ['session_id', 'x']] },
      vendor_data: `${TAMPER}-vendor`,
      event_id: '00000000-0000-4000-8000-00000000f00d',
      status: 'Approved',
    };
    deliveredNode = setField(signedNode, c.tamper, edit[c.tamper]);
    text = c.body.kind === 'indented' ? indent(serialize(deliveredNode)) : serialize(deliveredNode);
  } else if (c.tamper === 'reformat') {
    text = c.body.kind === 'indented' ? serialize(deliveredNode) : indent(serialize(deliveredNode));
  }
  let raw = Buffer.from(text, 'utf8');
  if (c.body.kind === 'cut') raw = raw.subarray(0, raw.length === 0 ? 0 : c.body.keep % raw.length);
  if (c.body.kind === 'bytes') {
    const at = c.body.at % Math.max(1, raw.length);
    raw = Buffer.concat([raw.subarray(0, at), Buffer.from(c.body.bad), raw.subarray(at)]);
  }
  if (c.body.kind === 'oversized') raw = Buffer.concat([raw.subarray(0, raw.length - 1), Buffer.from(`,"pad":"${'x'.repeat(MAX_BODY)}"}`)]);
  if (c.body.kind === 'empty') raw = Buffer.alloc(0);
  const base64 = c.base64 || c.body.kind === 'bytes';
  const event = webhookEvent({ body: raw.toString('utf8'), headers }, { base64 });
  if (base64) event.body = raw.toString('base64');
  return { event, raw, headers };
}

function indent(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

// ---- the oracle --------------------------------------------------------------------------------

const HEX64 = /^[0-9a-f]{64}$/;

function normalise(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return (trimmed.startsWith('sha256=') ? trimmed.slice(7) : trimmed).toLowerCase();
}

/** Which presented signatures verify over the body as delivered (every documented form of each header). */
function verdicts(m: Materialised): { presented: string[]; failing: string[]; malformed: string[] } {
  const text = m.raw.toString('utf8');
  const ts = m.headers['X-Timestamp'] ?? '';
  const canonical = safe(() => canonicalForms(text));
  const expected: Record<string, Array<string | undefined>> = {
    'X-Signature-V2':
      canonical === undefined
        ? []
        : [hmac(canonical.unicode), hmac(`${ts}:${canonical.unicode}`), hmac(canonical.ascii), hmac(`${ts}:${canonical.ascii}`)],
    'X-Signature': [hmac(m.raw)],
    'X-Signature-Simple': [
      safe(() => {
        const message = readEnvelope(parseJsonTree(text)).simpleMessage;
        return message === undefined ? undefined : hmac(message);
      }),
    ],
  };
  const presented: string[] = [];
  const failing: string[] = [];
  const malformed: string[] = [];
  for (const [name, candidates] of Object.entries(expected)) {
    const value = normalise(m.headers[name]);
    if (value === undefined) continue;
    presented.push(name);
    if (!HEX64.test(value)) malformed.push(name);
    else if (!candidates.some((c) => c !== undefined && c === value)) failing.push(name);
  }
  return { presented, failing, malformed };
}

/** Checks that need no secret and that this delivery fails: it must cost no KMS call. */
function cheapFailures(c: DeliveryCase, m: Materialised, now: number): string[] {
  const reasons: string[] = [];
  if (m.raw.length === 0) reasons.push('empty body');
  if (m.raw.length > MAX_BODY) reasons.push('body over the size limit');
  let envelope: ReturnType<typeof readEnvelope> | undefined;
  try {
    envelope = readEnvelope(parseJsonTree(new TextDecoder('utf-8', { fatal: true }).decode(m.raw)));
  } catch {
    reasons.push('body is not a UTF-8 JSON object with the envelope fields');
  }
  const ts = m.headers['X-Timestamp'];
  const headerTs = ts !== undefined && /^\d{9,11}$/.test(ts.trim()) ? Number(ts.trim()) : undefined;
  if (headerTs === undefined) reasons.push('X-Timestamp missing or malformed');
  else if (Math.abs(headerTs - now) > TOLERANCE) reasons.push('X-Timestamp outside the replay window');
  if (envelope !== undefined && (envelope.timestamp < now - TOLERANCE || envelope.timestamp > now + TOLERANCE)) reasons.push('body timestamp outside the replay window');
  const wellFormed = ['X-Signature-V2', 'X-Signature', 'X-Signature-Simple'].some((h) => {
    const v = normalise(m.headers[h]);
    return v !== undefined && HEX64.test(v);
  });
  if (!wellFormed) reasons.push('no well-formed signature header');
  if (envelope !== undefined && !detailTypeFor(envelope.webhookType).known) reasons.push(`unknown webhook_type ${JSON.stringify(envelope.webhookType).slice(0, 70)}`);
  void c;
  return reasons;
}

const handler = createWebhookHandler({ dependencies: () => deps });

async function runCase(c: DeliveryCase): Promise<Violations> {
  const now = Math.floor(Date.now() / 1000);
  const m = materialise(c, now);
  const kmsBefore = kms.total();
  const publishedBefore = published.length;
  const outcome = await settle(() => handler(m.event, lambdaContext()) as Promise<APIGatewayProxyResult>);
  const kmsCalls = kms.total() - kmsBefore;
  const newly = published.slice(publishedBefore);
  const violations: Violations = [];
  if (outcome.hung) violations.push('[hang] the handler did not settle within 30 s');
  if ('threw' in outcome) violations.push(`[threw] the handler threw instead of answering: ${String(outcome.threw).slice(0, 200)}`);
  const res = outcome.value;
  violations.push(...checkAnswer(res, { secrets: { 'webhook secret': secretForms(secret), 'Didit API key': secretForms(gateway.sandbox.apiKey) } }));

  const { presented, failing, malformed } = verdicts(m);
  if (newly.length > 0 && failing.length > 0) {
    violations.push(`[webhook-unverified-published] published although ${failing.join(', ')} did not verify (presented: ${presented.join(', ')}; the strongest presented signature must decide)`);
  }
  // A header that is there but not even a signature: ignored, it lets a weaker form decide.
  if (newly.length > 0 && failing.length === 0 && malformed.length > 0) {
    violations.push(`[webhook-malformed-signature-ignored] published although ${malformed.join(', ')} was presented malformed (presented: ${presented.join(', ')})`);
  }
  if (newly.length > 0 && presented.length === 0) violations.push('[webhook-unverified-published] published without any signature');
  for (const p of newly) {
    if (JSON.stringify(p.detail).includes(TAMPER)) violations.push(`[webhook-tamper-published] published a field edited after signing (${c.tamper}), which the verifying signature does not cover: ${JSON.stringify(p.detail).slice(0, 300)}`);
  }
  if (res !== undefined && res.statusCode < 300 && failing.length > 0) violations.push(`[webhook-unverified-accepted] answered ${res.statusCode} to a delivery whose ${failing.join(', ')} did not verify`);
  const cheap = cheapFailures(c, m, now);
  if (kmsCalls > 0 && cheap.length > 0) violations.push(`[webhook-kms-before-cheap-checks] ${kmsCalls} KMS call(s) for a delivery that fails checks needing no secret: ${cheap.join('; ')}`);

  const lines = output.take();
  violations.push(...checkLogs(lines, { 'webhook secret': secretForms(secret), 'Didit API key': secretForms(gateway.sandbox.apiKey) }));
  violations.push(...rejections.take());
  if (violations.length > 0 && res !== undefined) violations.push(`(answer: ${res.statusCode} ${res.body.slice(0, 200)}; KMS calls: ${kmsCalls}; published: ${newly.length})`);
  return violations;
}

describe('fuzz: the webhook receiver', () => {
  it('webhook delivery', async () => {
    await fuzz('webhook receiver', deliveryCase, runCase);
  });
});
