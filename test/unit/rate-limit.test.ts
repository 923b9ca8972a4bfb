import { describe, expect, it } from 'vitest';
import { rateLimitOf, retryAfterSeconds } from '../../lib/didit/rate-limit.ts';

describe('rate limit headers', () => {
  it('reads X-RateLimit-* as numbers, ignoring junk', () => {
    expect(rateLimitOf({ 'x-ratelimit-limit': '300', 'x-ratelimit-remaining': '12', 'x-ratelimit-reset': '1700000000' })).toEqual({
      limit: 300,
      remaining: 12,
      reset: 1700000000,
    });
    expect(rateLimitOf({ 'x-ratelimit-limit': 'lots' }).limit).toBeUndefined();
  });

  it('takes Retry-After as seconds or an HTTP date, else the reset time, else 1 s', () => {
    const now = Date.parse('2026-11-28T00:00:00Z');
    expect(retryAfterSeconds({ 'retry-after': '7' }, now)).toBe(7);
    expect(retryAfterSeconds({ 'retry-after': 'Sat, 28 Nov 2026 00:00:30 GMT' }, now)).toBe(30);
    expect(retryAfterSeconds({ 'x-ratelimit-reset': String(now / 1000 + 12) }, now)).toBe(12);
    expect(retryAfterSeconds({}, now)).toBe(1);
    expect(retryAfterSeconds({ 'retry-after': '999999' }, now)).toBe(3600);
  });
});
