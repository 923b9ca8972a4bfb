import { describe, expect, it } from 'vitest';
import { parseJsonTree } from '../../lib/adapters/webhooks/canonical-json.ts';
import { readEnvelope } from '../../lib/adapters/webhooks/envelope.ts';
import { WebhookPayloadError } from '../../lib/adapters/webhooks/errors.ts';
import { freshness, parseBodyTimestamp, parseHeaderTimestamp } from '../../lib/adapters/webhooks/replay-window.ts';

const envelope = (body: string) => readEnvelope(parseJsonTree(body));

describe('replay window', () => {
  it('parses X-Timestamp as unix seconds only', () => {
    expect(parseHeaderTimestamp('1700000000')).toBe(1_700_000_000);
    expect(parseHeaderTimestamp(' 1700000000.25 ')).toBe(1_700_000_000.25);
    for (const bad of [undefined, '', '-1', '1e9', '0x10', '2026-01-01T00:00:00Z', '17000000000000']) expect(parseHeaderTimestamp(bad)).toBeUndefined();
  });

  it('parses body timestamps: numbers, digit strings, ISO 8601 with a zone', () => {
    const t = (json: string) => parseBodyTimestamp(parseJsonTree(json));
    expect(t('1700000000')).toBe(1_700_000_000);
    expect(t('1700000000.0')).toBe(1_700_000_000);
    expect(t('"1700000000"')).toBe(1_700_000_000);
    expect(t('"2023-11-14T22:13:20Z"')).toBe(1_700_000_000);
    expect(t('"2023-11-14T23:13:20.000+01:00"')).toBe(1_700_000_000);
    for (const bad of ['"2023-11-14"', '"yesterday"', 'null', '-5', '0', '{}']) expect(t(bad)).toBeUndefined();
  });

  it('is ±tolerance inclusive', () => {
    expect(freshness(1000, 1300, 300)).toBe('fresh');
    expect(freshness(1000, 1301, 300)).toBe('stale');
    expect(freshness(1300, 1000, 300)).toBe('fresh');
    expect(freshness(1301, 1000, 300)).toBe('future');
  });
});

describe('envelope', () => {
  it('reads the session fields, the body timestamp and the Simple message as Python formats it', () => {
    const e = envelope('{"webhook_type":"status.updated","session_id":"s-1","status":"Approved","timestamp":1700000000,"created_at":1}');
    expect(e).toMatchObject({ webhookType: 'status.updated', sessionId: 's-1', status: 'Approved', timestamp: 1_700_000_000, timestampField: 'timestamp' });
    expect(e.simpleMessage).toBe('1700000000:s-1:Approved:status.updated');
    // f"{timestamp}" of a float is its repr: no shortening for Simple.
    expect(envelope('{"webhook_type":"status.updated","session_id":"s","status":"A","timestamp":1700000000.0}').simpleMessage).toBe('1700000000.0:s:A:status.updated');
  });

  it('falls back to created_at, and has no Simple message without a body timestamp field', () => {
    const e = envelope('{"webhook_type":"status.updated","session_id":"s","status":"A","created_at":1700000000}');
    expect(e.timestampField).toBe('created_at');
    expect(e.simpleMessage).toBeUndefined();
  });

  it('dedupe key: event_id when present, else session + status + type + timestamp', () => {
    const a = envelope('{"event_id":"e-1","webhook_type":"status.updated","session_id":"s","status":"A","timestamp":1}');
    const b = envelope('{"event_id":"e-1","webhook_type":"status.updated","session_id":"s","status":"B","timestamp":2}');
    expect(a.dedupeKey).toBe(b.dedupeKey);
    const c = envelope('{"webhook_type":"status.updated","session_id":"s","status":"A","timestamp":1}');
    const d = envelope('{"status":"A","timestamp":1,"session_id":"s","webhook_type":"status.updated","decision":{}}');
    expect(c.dedupeKey).toBe(d.dedupeKey);
    expect(c.dedupeKey).not.toBe(a.dedupeKey);
    expect(envelope('{"webhook_type":"status.updated","session_id":"s","status":"A","timestamp":2}').dedupeKey).not.toBe(c.dedupeKey);
  });

  it('entity events need neither session_id nor status; their subject comes from data', () => {
    const e = envelope('{"event":"user.status.updated","timestamp":"2026-04-16T10:00:00Z","data":{"uuid":"u-1","status":"BLOCKED"}}');
    expect(e.webhookType).toBe('user.status.updated');
    expect(e.dedupeKey).toBe(JSON.stringify(['fields', 'u-1', 'BLOCKED', 'user.status.updated', '2026-04-16T10:00:00Z']));
  });

  it('rejects what is not a delivery', () => {
    for (const body of ['[]', 'null', '1', '{"webhook_type":"status.updated","status":"A","timestamp":1}', '{"webhook_type":"x y","session_id":"s","status":"A","timestamp":1}', '{"__proto__":{"webhook_type":"status.updated"},"session_id":"s","status":"A","timestamp":1}']) {
      expect(() => envelope(body), body).toThrow(WebhookPayloadError);
    }
  });
});
