import type { Origin } from './origin.ts';
import { Connection, WireError, type WireRequest } from './connection.ts';
import type { ParsedResponse } from './response-reader.ts';

export interface PoolOptions {
  /** Trust anchors for TLS (PEM). Absent: the runtime's default CA store. Verification is never disabled. */
  readonly ca?: string | Buffer;
  /**
   * Idle connections older than this are closed rather than reused (servers drop idle sockets, and
   * a frozen Lambda environment cannot notice). Default 4 s, as undici's keep-alive timeout.
   */
  readonly idleTimeoutMs?: number;
  /** How many idle connections to keep. A Lambda environment runs one invocation at a time: 1 is enough. */
  readonly maxIdle?: number;
}

export interface PoolStats {
  /** TCP connections opened (TLS handshakes for https origins) since the pool was created. */
  connectionsOpened: number;
  /** Exchanges sent on a connection that had served an earlier exchange. */
  reusedExchanges: number;
  exchanges: number;
}

/**
 * Keep-alive connections to one origin, kept across warm invocations (module scope in the handler)
 * so a warm call pays no TCP or TLS handshake.
 */
export class ConnectionPool {
  readonly origin: Origin;
  readonly #options: PoolOptions;
  readonly #idle: Connection[] = [];
  readonly stats: PoolStats = { connectionsOpened: 0, reusedExchanges: 0, exchanges: 0 };

  constructor(origin: Origin, options: PoolOptions = {}) {
    this.origin = origin;
    this.#options = options;
  }

  /**
   * Sends one request. A reused connection can turn out to be dead before any response byte (the
   * server closed it while the Lambda environment was frozen). Then the request is sent once more
   * on a fresh connection if that cannot do harm: the request is idempotent, or it never left.
   * A non-idempotent request that was handed to the kernel might have been processed, so it is not
   * resent; connections idle longer than `idleTimeoutMs` are not reused, which keeps that rare.
   */
  async send(build: () => WireRequest, options: { idempotent: boolean }): Promise<ParsedResponse> {
    const first = build();
    const connection = await this.#acquire(first);
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

  /** Closes every idle connection (tests, shutdown). */
  close(): void {
    for (const c of this.#idle.splice(0)) c.destroy();
  }

  async #exchange(connection: Connection, request: WireRequest): Promise<ParsedResponse> {
    this.stats.exchanges++;
    if (connection.uses > 0) this.stats.reusedExchanges++;
    try {
      const response = await connection.send(request);
      this.#release(connection);
      return response;
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  async #acquire(request: WireRequest): Promise<Connection> {
    const idleTimeout = this.#options.idleTimeoutMs ?? 4_000;
    while (this.#idle.length > 0) {
      const candidate = this.#idle.pop()!;
      if (candidate.usable && Date.now() - candidate.lastUsed < idleTimeout) {
        candidate.socket.ref();
        return candidate;
      }
      candidate.destroy();
    }
    return this.#connect(request);
  }

  async #connect(request: WireRequest): Promise<Connection> {
    try {
      const connection = await Connection.open(this.origin, {
        ca: this.#options.ca,
        deadline: request.deadline,
        signal: request.signal,
      });
      this.stats.connectionsOpened++;
      return connection;
    } catch (err) {
      // The request never left: release its secret head now.
      request.headOwner?.dispose();
      throw err;
    }
  }

  #release(connection: Connection): void {
    if (!connection.usable) return;
    this.#idle.push(connection);
    while (this.#idle.length > (this.#options.maxIdle ?? 1)) this.#idle.shift()!.destroy();
    // Do not keep the process alive for an idle socket (tests and scripts exit cleanly).
    connection.socket.unref();
  }
}
