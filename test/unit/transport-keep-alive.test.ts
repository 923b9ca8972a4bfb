import { describe, expect, it } from 'vitest';
import { DEFAULT_IDLE_MS, MAX_IDLE_MS, idleBudgetFromHeader, mayReuse } from '../../lib/transport/keep-alive.ts';
import { TlsSessionCache } from '../../lib/transport/tls-sessions.ts';

describe('idleBudgetFromHeader', () => {
  it('takes the server timeout minus a margin', () => {
    expect(idleBudgetFromHeader('timeout=120')).toBe(118_000);
    expect(idleBudgetFromHeader('timeout=5, max=1000')).toBe(3_000);
    expect(idleBudgetFromHeader('max=100, Timeout="60"')).toBe(58_000);
  });

  it('never below half a second for a short positive timeout, 0 for timeout=0', () => {
    expect(idleBudgetFromHeader('timeout=1')).toBe(500);
    expect(idleBudgetFromHeader('timeout=2')).toBe(500);
    expect(idleBudgetFromHeader('timeout=0')).toBe(0);
  });

  it('is capped, and undefined when no timeout is named or it is malformed', () => {
    expect(idleBudgetFromHeader('timeout=86400')).toBe(MAX_IDLE_MS - 2_000);
    expect(idleBudgetFromHeader(undefined)).toBeUndefined();
    expect(idleBudgetFromHeader('max=5')).toBeUndefined();
    expect(idleBudgetFromHeader('timeout=-3')).toBeUndefined();
    expect(idleBudgetFromHeader('timeout=5s')).toBeUndefined();
    expect(idleBudgetFromHeader('xtimeout=5')).toBeUndefined();
  });
});

describe('mayReuse', () => {
  it('within the learned budget, for any request', () => {
    expect(mayReuse(60_000, 118_000, false)).toBe(true);
    expect(mayReuse(118_000, 118_000, false)).toBe(false);
  });

  it('beyond a budget the server announced: never (it has closed, or is about to)', () => {
    expect(mayReuse(10_000, 3_000, true)).toBe(false);
    expect(mayReuse(1, 0, true)).toBe(false);
  });

  it('a silent server: the default for requests that must not be resent, open connections for those that may', () => {
    expect(mayReuse(DEFAULT_IDLE_MS - 1, undefined, false)).toBe(true);
    expect(mayReuse(60_000, undefined, false)).toBe(false);
    expect(mayReuse(60_000, undefined, true)).toBe(true);
    expect(mayReuse(MAX_IDLE_MS, undefined, true)).toBe(false);
  });
});

describe('TlsSessionCache', () => {
  it('keeps a copy of the latest session in secure memory and wipes nothing of the caller', () => {
    const cache = new TlsSessionCache();
    expect(cache.current()).toBeUndefined();
    const first = Buffer.from('first-session-bytes');
    cache.store(first);
    expect(cache.current()?.equals(first)).toBe(true);
    const second = Buffer.from('second-session');
    cache.store(second);
    expect(cache.current()?.equals(second)).toBe(true);
    expect(first.toString()).toBe('first-session-bytes');
    cache.clear();
    expect(cache.current()).toBeUndefined();
  });

  it('ignores empty or oversized sessions', () => {
    const cache = new TlsSessionCache();
    cache.store(Buffer.alloc(0));
    cache.store(Buffer.alloc(64 * 1024, 1));
    expect(cache.current()).toBeUndefined();
  });
});
