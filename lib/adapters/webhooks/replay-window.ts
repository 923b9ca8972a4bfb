/**
 * The freshness checks of a delivery (didit-api.md §6.4): `|now − X-Timestamp| ≤ tolerance`, and — because
 * `X-Signature-V2` and `X-Signature` do not cover that header, so a captured delivery could be replayed
 * with a new one — the body's own timestamp (`timestamp`, else `created_at`) must be no older than the
 * tolerance (and not further ahead than it). Replays inside the window are caught by the dedupe store.
 */
import { JsonNumber, type JsonTree } from './canonical-json.ts';

/** The window's default half-width, ±5 minutes (`WEBHOOK_TOLERANCE_SECONDS` overrides it, 30..3600). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const UNIX_SECONDS = /^[0-9]{1,12}(?:\.[0-9]{1,9})?$/;
// ISO 8601 with a zone, as the entity webhooks' envelope carries it ("2026-04-16T10:00:00Z").
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** `X-Timestamp`: unix seconds (digits, optionally a fraction). Undefined when absent or malformed. */
export function parseHeaderTimestamp(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return UNIX_SECONDS.test(trimmed) ? Number(trimmed) : undefined;
}

/**
 * A body timestamp in seconds: a JSON number or digit string of unix seconds, or an ISO 8601 date-time.
 * Undefined for anything else.
 */
export function parseBodyTimestamp(value: JsonTree | undefined): number | undefined {
  if (value instanceof JsonNumber) {
    const n = value.value;
    return Number.isFinite(n) && n > 0 ? n : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (UNIX_SECONDS.test(trimmed)) return Number(trimmed);
  if (ISO_DATE_TIME.test(trimmed)) {
    const ms = Date.parse(trimmed);
    return Number.isFinite(ms) ? ms / 1000 : undefined;
  }
  return undefined;
}

export type Freshness = 'fresh' | 'stale' | 'future';

/** Where `timestamp` (s) stands relative to `now` (s) given a tolerance (s) both ways. */
export function freshness(timestamp: number, now: number, toleranceSeconds: number): Freshness {
  if (now - timestamp > toleranceSeconds) return 'stale';
  if (timestamp - now > toleranceSeconds) return 'future';
  return 'fresh';
}
