import type { TLSSocket } from 'node:tls';
import type { Origin } from './origin.ts';
import { Connection, type WireRequest } from './connection.ts';
import { WireError } from './errors.ts';
import { idleBudgetFromHeader, mayReuse } from './keep-alive.ts';
import type { ParsedResponse } from './response-reader.ts';
import { TlsSessionCache } from './tls-sessions.ts';
import { is, withDefaults } from '../config/options.ts';

export interface PoolOptions {
  /** Trust anchors for TLS (PEM). Absent: the runtime's default CA store. Verification is never disabled. */
  readonly ca?: string | Buffer;
  /** How many idle connections to keep. A Lambda environment runs one invocation at a time: 1 is enough. */
  readonly maxIdle?: number;
  /** Resume TLS sessions on reconnect (default true). Off only to measure what resumption saves. */
  readonly resumeTls?: boolean;
  /**
   * Wall clock on Date.now()'s scale (connections stamp their last use with it), replaceable in tests
   * that need an idle period without waiting for it.
   */
  readonly now?: () => number;
}

/** The pool's defaults: one idle connection (one invocation at a time per environment), TLS resumption on. */
export const defaults = Object.freeze({ maxIdle: 1, resumeTls: true, now: (): number => Date.now() });

const rules = { ca: is.pem, maxIdle: is.integer(0, 64), resumeTls: is.boolean, now: is.function };

export interface PoolStats {
  /** TCP connections opened (TLS handshakes for https origins) since the pool was created. */
  connectionsOpened: number;
  /** Exchanges sent on a connection that had served an earlier exchange. */
  reusedExchanges: number;
  exchanges: number;
  /** TLS connections opened with a full handshake (certificate, signature): what resumption avoids. */
  fullTlsHandshakes: number;
  /** TLS connections that resumed an earlier session. */
  resumedTlsHandshakes: number;
  /** Idle connections found closed by the server when a request wanted one (detected before writing). */
  closedWhileIdle: number;
}

/** A connection idle at least this long may have slept through a freeze: let pending I/O events run first. */
const SETTLE_AFTER_IDLE_MS = 50;

/**
 * Keep-alive connections to one origin, kept across warm invocations (module scope in the handler)
 * so a warm call pays no TCP or TLS handshake — also after the environment sat frozen for minutes.
 *
 * - Idle connections are reused for as long as the server keeps them: the pool learns the server's
 *   `Keep-Alive: timeout=N` (keep-alive.ts). A server that says nothing is trusted for 4 s with
 *   requests that must not be sent twice, and for as long as the connection stays open with
 *   requests that may be (a dead one then costs a resend, not a second charge); never after 300 s.
 * - A server may close an idle connection while the environment is frozen; its FIN then waits in
 *   the kernel and is read only when the event loop polls after the thaw. Before reusing a connection
 *   idle long enough to have been frozen, the pool lets one full poll phase run ({@link settle}) and
 *   drops a connection that turned out closed instead of writing into it.
 * - A reconnect resumes the origin's last TLS 1.3 session (tls-sessions.ts): one round trip and no
 *   certificate work instead of a full handshake.
 */
export class ConnectionPool {
  readonly origin: Origin;
  readonly #options: Readonly<PoolOptions & typeof defaults>;
  readonly #idle: Connection[] = [];
  readonly #sessions = new TlsSessionCache();
  readonly #now: () => number;
  /** Reuse budget learned from the server's last response; undefined until it advertises one. */
  #idleBudgetMs: number | undefined;
  readonly stats: PoolStats = {
    connectionsOpened: 0,
    reusedExchanges: 0,
    exchanges: 0,
    fullTlsHandshakes: 0,
    resumedTlsHandshakes: 0,
    closedWhileIdle: 0,
  };

  constructor(origin: Origin, options: PoolOptions = {}) {
    this.origin = origin;
    this.#options = withDefaults('ConnectionPool', defaults, rules, options);
    this.#now = this.#options.now;
  }

  /** The server's keep-alive as learned (ms of reuse allowed), for diagnostics. */
  get idleBudgetMs(): number | undefined {
    return this.#idleBudgetMs;
  }

  /**
   * Sends one request. A reused connection can turn out to be dead before any response byte (the
   * server closed it and its FIN arrived only as we wrote). Then the request is sent once more on a
   * fresh connection if that cannot do harm: the request is idempotent, or it never left. A
   * non-idempotent request that was handed to the kernel might have been processed, so it is not
   * resent; reusing only within the server's keep-alive, after the pending close events have run,
   * keeps that rare.
   */
  async send(build: () => WireRequest, options: { idempotent: boolean }): Promise<ParsedResponse> {
    const first = build();
    const connection = await this.#acquire(first, options.idempotent);
    try {
      return await this.#exchange(connection, first);
    } catch (err) {
      if (!(err instanceof WireError) || !err.staleSocket) throw err;
      if (!options.idempotent && err.requestSent) throw err;
      const again = build();
      const fresh = await this.#connect(again);
      return await this.#exchange(fresh, again);
    }
  }

  /** Closes every idle connection and forgets the TLS session (tests, shutdown). */
  close(): void {
    for (const c of this.#idle.splice(0)) c.destroy();
    this.#sessions.clear();
  }

  async #exchange(connection: Connection, request: WireRequest): Promise<ParsedResponse> {
    this.stats.exchanges++;
    if (connection.uses > 0) this.stats.reusedExchanges++;
    try {
      const response = await connection.send(request);
      const budget = idleBudgetFromHeader(response.headers['keep-alive']);
      if (budget !== undefined) this.#idleBudgetMs = budget;
      this.#release(connection);
      return response;
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  async #acquire(request: WireRequest, idempotent: boolean): Promise<Connection> {
    const newest = this.#idle.at(-1);
    if (newest !== undefined && alive(newest) && this.#now() - newest.lastUsed >= SETTLE_AFTER_IDLE_MS) {
      // Let a FIN or close_notify that is already in the kernel (it arrived while the environment was
      // frozen) be read before choosing: the connection's 'end' handler then marks it closed.
      await settle();
    }
    while (this.#idle.length > 0) {
      const candidate = this.#idle.pop()!;
      if (alive(candidate) && mayReuse(this.#now() - candidate.lastUsed, this.#idleBudgetMs, idempotent)) {
        candidate.socket.ref();
        return candidate;
      }
      if (!alive(candidate)) this.stats.closedWhileIdle++;
      candidate.destroy();
    }
    return this.#connect(request);
  }

  async #connect(request: WireRequest): Promise<Connection> {
    const resume = this.#options.resumeTls && this.origin.protocol === 'https:';
    let tlsSocket: TLSSocket | undefined;
    try {
      const connection = await Connection.open(this.origin, {
        ca: this.#options.ca,
        deadline: request.deadline,
        signal: request.signal,
        session: resume ? this.#sessions.current() : undefined,
        onTlsSocket: (socket) => {
          tlsSocket = socket;
          if (resume) this.#sessions.watch(socket);
        },
      });
      this.stats.connectionsOpened++;
      if (tlsSocket !== undefined) {
        if (tlsSocket.isSessionReused()) this.stats.resumedTlsHandshakes++;
        else this.stats.fullTlsHandshakes++;
      }
      return connection;
    } catch (err) {
      // The request never left: release its secret head now.
      request.headOwner?.dispose();
      throw err;
    }
  }

  #release(connection: Connection): void {
    if (!connection.usable) return;
    // Each environment runs one invocation at a time, so there is normally one idle connection;
    // the most recently used one is the likeliest to be alive, and is the one taken first.
    this.#idle.push(connection);
    while (this.#idle.length > this.#options.maxIdle) this.#idle.shift()!.destroy();
    // Do not keep the process alive for an idle socket (tests and scripts exit cleanly).
    connection.socket.unref();
  }
}

/**
 * Resolves after one full poll phase of the event loop has run, so every socket event that was pending
 * when it was called has been delivered. One setImmediate is not enough when called from the poll
 * phase itself (it runs in the same iteration's check phase, before the next poll): measured, a peer
 * close in the same iteration was seen only on the second turn. Costs two loop turns (~0.1 ms).
 */
async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Open in both directions, as far as this process has seen. */
function alive(connection: Connection): boolean {
  return connection.usable && !connection.socket.readableEnded;
}
