/** Didit's rate-limit headers (didit-api.md §7.3), passed on to callers as they came. */
export interface RateLimitInfo {
  readonly limit?: number;
  readonly remaining?: number;
  /** Epoch seconds when the window resets. */
  readonly reset?: number;
}

export function rateLimitOf(headers: Readonly<Record<string, string>>): RateLimitInfo {
  return {
    limit: intOrUndefined(headers['x-ratelimit-limit']),
    remaining: intOrUndefined(headers['x-ratelimit-remaining']),
    reset: intOrUndefined(headers['x-ratelimit-reset']),
  };
}

/**
 * Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
 * Falls back to X-RateLimit-Reset, then to 1 s.
 */
export function retryAfterSeconds(headers: Readonly<Record<string, string>>, nowMs = Date.now()): number {
  const raw = headers['retry-after']?.trim();
  if (raw !== undefined && raw !== '') {
    if (/^\d+$/.test(raw)) return Math.min(Number(raw), 3600);
    const date = Date.parse(raw);
    if (Number.isFinite(date)) return clamp(Math.ceil((date - nowMs) / 1000));
  }
  const reset = intOrUndefined(headers['x-ratelimit-reset']);
  if (reset !== undefined) return clamp(reset - Math.floor(nowMs / 1000));
  return 1;
}

function clamp(seconds: number): number {
  return Math.min(Math.max(seconds, 0), 3600);
}

function intOrUndefined(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Number(value);
}
