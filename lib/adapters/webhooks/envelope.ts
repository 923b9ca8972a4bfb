import { JsonNumber, pythonStr, type JsonTree } from './canonical-json.ts';
import { WebhookPayloadError } from './errors.ts';
import { parseBodyTimestamp } from './replay-window.ts';

/**
 * The fields of a delivery that decide what happens to it, read before the signature is checked (so a
 * malformed body costs no KMS call). Session events (§6.3) always carry `session_id`, `status` and
 * `webhook_type`; entity events use an envelope `{event, timestamp, data{uuid, status, …}}` in the newer
 * docs, so `event` stands in for `webhook_type` and `session_id`/`status` are required only for session
 * events and for types this code does not know.
 */
export interface WebhookEnvelope {
  readonly webhookType: string;
  /** Where `webhookType` came from: only `webhook_type` is signed by X-Signature-Simple. */
  readonly webhookTypeField: 'webhook_type' | 'event';
  readonly sessionId: string | undefined;
  readonly status: string | undefined;
  readonly eventId: string | undefined;
  /** Body timestamp in unix seconds, from `timestamp`, else `created_at`. */
  readonly timestamp: number;
  readonly timestampField: 'timestamp' | 'created_at';
  /**
   * What replays of a delivery whose whole body is authenticated (V2, V1) are recognised by: `event_id`,
   * else {@link fieldsKey}.
   */
  readonly dedupeKey: string;
  /**
   * Session (or entity) + status + type + timestamp text. For a delivery authenticated by X-Signature-Simple
   * alone this is the only key: Simple signs exactly these fields, so a key on `event_id` (unsigned) would
   * let a replayed Simple signature with a fresh `event_id` pass as a new delivery.
   */
  readonly fieldsKey: string;
  /** The string `X-Signature-Simple` signs, when the body has all four fields. */
  readonly simpleMessage: string | undefined;
}

/** Session-scoped event types: `session_id` and `status` are mandatory (§6.3). */
export const SESSION_EVENT_TYPES: ReadonlySet<string> = new Set(['status.updated', 'data.updated']);

/** Documented non-session event types (§6.2): their payloads need not carry `session_id`/`status`. */
export const NON_SESSION_EVENT_TYPES: ReadonlySet<string> = new Set([
  'user.status.updated',
  'user.data.updated',
  'business.status.updated',
  'business.data.updated',
  'activity.created',
  'transaction.created',
  'transaction.status.updated',
]);

const EVENT_TYPE = /^[A-Za-z0-9_.:-]{1,64}$/;

export function readEnvelope(tree: JsonTree): WebhookEnvelope {
  if (tree === null || typeof tree !== 'object' || Array.isArray(tree) || tree instanceof JsonNumber) {
    throw new WebhookPayloadError('body is not a JSON object');
  }
  const body = tree as Readonly<Record<string, JsonTree>>;
  const typeFromBody = text(own(body, 'webhook_type'), 64);
  const webhookTypeField = typeFromBody === undefined ? 'event' : 'webhook_type';
  const webhookType = typeFromBody ?? text(own(body, 'event'), 64);
  if (webhookType === undefined) throw new WebhookPayloadError('body has no webhook_type');
  if (!EVENT_TYPE.test(webhookType)) throw new WebhookPayloadError('webhook_type is not a plausible event name');

  const sessionId = text(own(body, 'session_id'), 128);
  const status = text(own(body, 'status'), 64);
  if (!NON_SESSION_EVENT_TYPES.has(webhookType)) {
    if (sessionId === undefined) throw new WebhookPayloadError('body has no session_id');
    if (status === undefined) throw new WebhookPayloadError('body has no status');
  }

  let timestampField: 'timestamp' | 'created_at' = 'timestamp';
  let timestamp = parseBodyTimestamp(own(body, 'timestamp'));
  if (timestamp === undefined) {
    timestampField = 'created_at';
    timestamp = parseBodyTimestamp(own(body, 'created_at'));
  }
  if (timestamp === undefined) throw new WebhookPayloadError('body has no usable timestamp or created_at');

  const rawEventId = own(body, 'event_id');
  const eventId = text(rawEventId, 128) ?? (rawEventId instanceof JsonNumber ? rawEventId.text : undefined);

  const data = own(body, 'data');
  const entity = data !== null && typeof data === 'object' && !Array.isArray(data) && !(data instanceof JsonNumber) ? data : undefined;
  const subject = sessionId ?? text(entity === undefined ? undefined : own(entity, 'uuid'), 128) ?? '';
  const subjectStatus = status ?? text(entity === undefined ? undefined : own(entity, 'status'), 64) ?? '';
  const timestampText = pythonStr(own(body, timestampField)) ?? '';
  const fieldsKey = JSON.stringify(['fields', subject, subjectStatus, webhookType, timestampText]);
  const dedupeKey = eventId !== undefined ? JSON.stringify(['event_id', eventId]) : fieldsKey;

  // Simple form: f"{timestamp}:{session_id}:{status}:{webhook_type}" with the body's own values.
  const simpleParts = [own(body, 'timestamp'), own(body, 'session_id'), own(body, 'status'), own(body, 'webhook_type')].map(pythonStr);
  const simpleMessage = simpleParts.every((p) => p !== undefined) ? simpleParts.join(':') : undefined;

  return { webhookType, webhookTypeField, sessionId, status, eventId, timestamp, timestampField, dedupeKey, fieldsKey, simpleMessage };
}

/** Own property only: a body key named `__proto__` or `constructor` is data, never the prototype's. */
function own(obj: Readonly<Record<string, JsonTree>>, key: string): JsonTree | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function text(value: JsonTree | undefined, max: number): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= max ? value : undefined;
}
