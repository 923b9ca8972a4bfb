/**
 * Didit-style rate limiting: a fixed one-minute window per scope (didit-api.md §7.3).
 *
 * Didit counts per application, so only requests that presented the right key are counted. Every
 * counted answer carries X-RateLimit-Limit / -Remaining / -Reset (epoch seconds), and a request past
 * the budget gets 429 with Retry-After.
 */
import type { RateLimits } from './types.ts';

export type RateScope = keyof RateLimits;

// didit-api.md §7.3: decision retrieval and PDF generation have their own 100 rpm budgets.
export const DEFAULT_RATE_LIMITS: RateLimits = { decision: 100, create: 600, pdf: 100, other: 300 };

const WINDOW_SECONDS = 60;

export interface RateDecision {
  allowed: boolean;
  headers: Record<string, string>;
  /** Seconds until the window resets; set when not allowed. */
  retryAfterSeconds?: number;
}

export interface RateLimiter {
  take(scope: RateScope, nowMs?: number): RateDecision;
  reset(): void;
}

export function createRateLimiter(limits: RateLimits): RateLimiter {
  const windows = new Map<RateScope, { start: number; used: number }>();

  return {
    take(scope, nowMs = Date.now()) {
      const nowSeconds = Math.floor(nowMs / 1000);
      const start = nowSeconds - (nowSeconds % WINDOW_SECONDS);
      let window = windows.get(scope);
      if (window === undefined || window.start !== start) {
        window = { start, used: 0 };
        windows.set(scope, window);
      }
      const limit = limits[scope];
      const resetAt = start + WINDOW_SECONDS;
      const allowed = window.used < limit;
      if (allowed) window.used += 1;
      const headers = {
        'X-RateLimit-Limit': String(limit),
        'X-RateLimit-Remaining': String(Math.max(0, limit - window.used)),
        'X-RateLimit-Reset': String(resetAt),
      };
      if (allowed) return { allowed, headers };
      return { allowed, headers, retryAfterSeconds: Math.max(1, resetAt - nowSeconds) };
    },
    reset() {
      windows.clear();
    },
  };
}
