/**
 * How long an idle keep-alive connection may be reused, learned from the server.
 *
 * A Lambda environment is frozen between invocations, so "idle" can be seconds or minutes. Dropping
 * connections after a fixed few seconds (undici's 4 s) makes every call after a pause pay a TCP and a
 * TLS handshake. Servers say how long they keep an idle connection (`Keep-Alive: timeout=N`, RFC 9112
 * appendix and the de-facto header Node, nginx and Apache send); reuse stays safe a margin before that.
 */

/** Used when the server never said: the keep-alive timeout most client stacks assume (undici). */
export const DEFAULT_IDLE_MS = 4_000;
/**
 * Never reuse after this long, whatever the server says: middleboxes forget idle flows (an AWS NAT
 * gateway after 350 s), and a forgotten flow is not a FIN we could notice but a silent black hole.
 */
export const MAX_IDLE_MS = 300_000;
/**
 * Stop reusing this long before the server's deadline: its timer and ours do not start at the same
 * instant (the response is in flight), and a write racing the server's close may be lost.
 */
export const IDLE_MARGIN_MS = 2_000;
/** A margin never shrinks the budget below this (an advertised `timeout=1` is still worth a second). */
const MIN_BUDGET_MS = 500;

/**
 * The reuse budget, in ms, that a `Keep-Alive` header value allows; undefined when it names no timeout.
 * `timeout=0` (or anything that leaves no time) gives 0: do not reuse.
 */
export function idleBudgetFromHeader(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  // `Keep-Alive: timeout=5, max=1000`; parameter names are case-insensitive, values may be quoted.
  const match = /(?:^|[\s,;])timeout\s*=\s*"?(\d{1,9})"?(?=$|[\s,;])/i.exec(value);
  if (match === null) return undefined;
  const seconds = Number(match[1]);
  if (seconds <= 0) return 0;
  const advertised = Math.min(seconds * 1000, MAX_IDLE_MS);
  return Math.max(Math.min(MIN_BUDGET_MS, advertised), advertised - IDLE_MARGIN_MS);
}

/**
 * Whether a connection idle for `idleMs` may carry the next request.
 *
 * - Within the server's advertised budget (or the default when it said nothing): yes.
 * - Beyond it, only for a request that is safe to send twice: a connection still open after the pool
 *   has let pending close events run is most likely alive (servers that do not advertise often keep
 *   connections for minutes, as LocalStack and AWS endpoints do), and if it was not, the pool resends
 *   on a fresh connection. A request that must not be sent twice never takes that gamble.
 */
export function mayReuse(idleMs: number, budgetMs: number | undefined, idempotent: boolean): boolean {
  if (idleMs >= MAX_IDLE_MS) return false;
  if (idleMs < (budgetMs ?? DEFAULT_IDLE_MS)) return true;
  return idempotent && budgetMs === undefined;
}
