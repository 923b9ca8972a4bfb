import net from 'node:net';
import tls from 'node:tls';
import { SecureBuffer, needs, wipe } from '../secure/secure-buffer.ts';
import type { Origin } from './origin.ts';
import { cleansingSecureOptions } from './tls-read-scrub.ts';
import { ResponseReader, type BodySink, type ParsedResponse } from './response-reader.ts';
import { AbortedError, DeadlineError, WireError, type WirePhase } from './errors.ts';

/** Size of the per-connection read buffer; TLS hands out at most 16 KiB of cleartext per record. */
const READ_BUFFER_BYTES = 16 * 1024;

export interface WireRequest {
  /** The complete request head, ending in CRLF CRLF. */
  readonly head: Buffer;
  /** Owner of `head` when it holds a secret: zeroed and freed as soon as the head is written. */
  readonly headOwner?: SecureBuffer;
  readonly body: readonly Uint8Array[];
  readonly sink: BodySink;
  readonly maxBodyBytes: number;
  /** Absolute deadline (ms since epoch) for the whole exchange. */
  readonly deadline: number;
  readonly signal?: AbortSignal;
}

export interface ConnectOptions {
  readonly ca?: string | Buffer;
  readonly deadline: number;
  readonly signal?: AbortSignal;
  /** A TLS session of an earlier connection to resume (tls-sessions.ts); ignored for plain http. */
  readonly session?: Buffer;
  /** Sees the TLS socket before any of its events fire (to watch for session tickets). */
  readonly onTlsSocket?: (socket: tls.TLSSocket) => void;
}

/**
 * One HTTP/1.1 connection (TCP or TLS) that serves one exchange at a time.
 *
 * Reads land in a single secure buffer through the socket's `onread` option, so the runtime does not
 * allocate a fresh Buffer per read, and the buffer is wiped after every read: a KMS response
 * carrying a plaintext never lingers in read chunks. The request head is written with exactly one
 * `write` when nothing else is queued, so TLS encrypts it straight from our buffer (no native
 * concatenation copy, key-hygiene.md §4).
 */
export class Connection {
  readonly socket: net.Socket;
  readonly #readBuffer: SecureBuffer;
  #exchange: ActiveExchange | undefined;
  #closed = false;
  #uses = 0;
  lastUsed = Date.now();

  private constructor(socket: net.Socket, readBuffer: SecureBuffer) {
    this.socket = socket;
    this.#readBuffer = readBuffer;
    socket.on('end', () => this.#onEnd());
    socket.on('close', () => this.#onClose());
    socket.on('error', (err) => this.#fail(err));
  }

  static async open(origin: Origin, options: ConnectOptions): Promise<Connection> {
    const readBuffer = SecureBuffer.alloc(READ_BUFFER_BYTES);
    let connection: Connection | undefined;
    const onread = {
      buffer: readBuffer.capacity(),
      callback: (nread: number, buf: Buffer): boolean => {
        const chunk = buf.subarray(0, nread);
        try {
          connection?.onData(chunk);
        } finally {
          wipe(chunk);
        }
        return true;
      },
    };
    const socket =
      origin.protocol === 'https:'
        ? tls.connect({
            host: origin.hostname,
            port: origin.port,
            servername: origin.servername,
            session: options.session,
            ca: options.ca,
            ALPNProtocols: ['http/1.1'],
            minVersion: 'TLSv1.2',
            // OpenSSL cleanses each record's cleartext in its own read buffer once handed over (and the
            // buffer when released): answers on these connections may carry a secret (tls-read-scrub.ts).
            secureOptions: cleansingSecureOptions(),
            // Supported by TLSSocket since Node 14 (test-tls-onread-static-buffer), missing from @types/node.
            ...({ onread } as object),
          })
        : net.connect({ host: origin.hostname, port: origin.port, onread });
    connection = new Connection(socket, readBuffer);
    if (socket instanceof tls.TLSSocket) options.onTlsSocket?.(socket);
    socket.setNoDelay(true);
    const ready = origin.protocol === 'https:' ? 'secureConnect' : 'connect';
    try {
      await waitFor(socket, ready, options.deadline, options.signal);
    } catch (err) {
      connection.destroy();
      throw new WireError(`connect to ${origin.hostname}:${origin.port} failed: ${describe(err)}`, {
        phase: 'connect',
        reused: false,
        requestSent: false,
        responseStarted: false,
        timedOut: err instanceof DeadlineError,
        aborted: err instanceof AbortedError,
        cause: err,
      });
    }
    return connection;
  }

  get usable(): boolean {
    return !this.#closed && this.#exchange === undefined && !this.socket.destroyed && this.socket.writable;
  }

  get uses(): number {
    return this.#uses;
  }

  /** Sends one request and resolves with its complete response. */
  send(request: WireRequest): Promise<ParsedResponse> {
    needs(this.#exchange === undefined, 'connection already has an exchange in flight');
    const reused = this.#uses > 0;
    this.#uses++;
    return new Promise<ParsedResponse>((resolve, reject) => {
      const exchange = new ActiveExchange(request, reused, resolve, reject, () => this.#finish(exchange));
      this.#exchange = exchange;
      if (this.#closed || this.socket.destroyed || !this.socket.writable) {
        request.headOwner?.dispose();
        exchange.fail(new Error('socket already closed'), 'write');
        return;
      }
      // One write for the head, only onto an empty, uncorked queue: see the class comment.
      if (this.socket.writableLength !== 0 || this.socket.writableCorked !== 0) {
        request.headOwner?.dispose();
        exchange.fail(new Error('socket has queued writes'), 'write');
        return;
      }
      this.socket.write(request.head, (err) => {
        request.headOwner?.dispose();
        if (err) exchange.fail(err, 'write');
        else exchange.headWritten();
      });
      for (const piece of request.body) {
        if (piece.byteLength > 0) this.socket.write(piece);
      }
    });
  }

  destroy(): void {
    this.#closed = true;
    // The read buffer is released on 'close', once the runtime can no longer read into it;
    // it holds nothing meanwhile, since every read is wiped as soon as it is parsed.
    this.socket.destroy();
  }

  /** Called from the onread callback with a view into the read buffer (wiped right after). */
  onData(chunk: Buffer): void {
    const exchange = this.#exchange;
    if (exchange === undefined) {
      // Bytes nobody asked for (a late response after a timeout, or a server's goodbye): drop the connection.
      this.destroy();
      return;
    }
    exchange.data(chunk);
  }

  #onEnd(): void {
    this.#closed = true;
    this.#exchange?.peerEnded();
    this.socket.end();
  }

  #onClose(): void {
    this.#closed = true;
    this.#exchange?.fail(new Error('socket closed'), 'read');
    if (!this.#readBuffer.disposed) this.#readBuffer.dispose();
  }

  #fail(err: Error): void {
    this.#closed = true;
    this.#exchange?.fail(err, 'read');
  }

  #finish(exchange: ActiveExchange): void {
    if (this.#exchange === exchange) this.#exchange = undefined;
    this.lastUsed = Date.now();
    if (!exchange.reusable) this.destroy();
  }
}

class ActiveExchange {
  readonly #request: WireRequest;
  readonly #reused: boolean;
  readonly #reader: ResponseReader;
  readonly #resolve: (r: ParsedResponse) => void;
  readonly #reject: (e: WireError) => void;
  readonly #done: () => void;
  readonly #timer: NodeJS.Timeout;
  readonly #onAbort: () => void;
  #sent = false;
  #started = false;
  #settled = false;
  reusable = false;

  constructor(
    request: WireRequest,
    reused: boolean,
    resolve: (r: ParsedResponse) => void,
    reject: (e: WireError) => void,
    done: () => void,
  ) {
    this.#request = request;
    this.#reused = reused;
    this.#reader = new ResponseReader({ maxBodyBytes: request.maxBodyBytes, sink: request.sink });
    this.#resolve = resolve;
    this.#reject = reject;
    this.#done = done;
    const wait = Math.max(0, request.deadline - Date.now());
    this.#timer = setTimeout(() => this.fail(new DeadlineError(), this.#started ? 'read' : 'wait'), wait);
    this.#onAbort = () => this.fail(new AbortedError(), this.#started ? 'read' : 'wait');
    if (request.signal?.aborted) queueMicrotask(this.#onAbort);
    else request.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  headWritten(): void {
    this.#sent = true;
  }

  data(chunk: Buffer): void {
    if (this.#settled) return;
    this.#started = true;
    try {
      this.#reader.push(chunk);
    } catch (err) {
      this.fail(err, 'read');
      return;
    }
    if (this.#reader.complete) this.#succeed();
  }

  peerEnded(): void {
    if (this.#settled) return;
    try {
      this.#reader.end();
    } catch (err) {
      this.fail(err, this.#started ? 'read' : 'wait');
      return;
    }
    this.#succeed(false);
  }

  fail(err: unknown, phase: WirePhase): void {
    if (this.#settled) return;
    this.#settle();
    this.#reader.discard();
    // The head may still sit in the socket's queue; its write callback disposes it when the socket dies.
    this.reusable = false;
    this.#done();
    this.#reject(
      new WireError(describe(err), {
        phase: phase === 'wait' && !this.#sent ? 'write' : phase,
        reused: this.#reused,
        requestSent: this.#sent,
        responseStarted: this.#started,
        timedOut: err instanceof DeadlineError,
        aborted: err instanceof AbortedError,
        tooLarge: err instanceof Error && err.name === 'ResponseTooLargeError',
        cause: err,
      }),
    );
  }

  #succeed(keepAliveAllowed = true): void {
    this.#settle();
    const response = this.#reader.take();
    this.reusable = keepAliveAllowed && response.keepAlive;
    this.#done();
    this.#resolve(response);
  }

  #settle(): void {
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#request.signal?.removeEventListener('abort', this.#onAbort);
  }
}

function waitFor(socket: net.Socket, event: string, deadline: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off(event, onReady);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('socket closed during connect'));
    };
    const onAbort = (): void => {
      cleanup();
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new DeadlineError());
    }, Math.max(0, deadline - Date.now()));
    socket.once(event, onReady);
    socket.once('error', onError);
    socket.once('close', onClose);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Error text for logs: names and codes only, never payloads. */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === undefined ? `${err.name}: ${err.message}` : `${err.name} ${code}`;
  }
  return 'unknown error';
}
