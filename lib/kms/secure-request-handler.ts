import { readFileSync } from 'node:fs';
import type { HttpHandlerOptions, HttpRequest, HttpResponse, RequestHandlerOutput } from '@smithy/types';
import { ConnectionPool } from '../transport/pool.ts';
import { WireError } from '../transport/errors.ts';
import { isLoopbackHost, originOf } from '../transport/origin.ts';
import { prepareTlsReadScrub, scrubTlsReadStack } from '../transport/tls-read-scrub.ts';
import type { ParsedResponse } from '../transport/response-reader.ts';
import type { SecureBuffer } from '../secure/secure-buffer.ts';
import { emulatorCaFileOf } from '../config/env.ts';
import { is, withDefaults } from '../config/options.ts';

/** KMS responses are small JSON documents; anything larger is not a Decrypt answer. */
const MAX_KMS_RESPONSE_BYTES = 64 * 1024;

// Response bodies handed to the SDK that still live in secure memory, until the capture middleware
// has scrubbed and released them. Keyed weakly by the view the SDK sees.
const pendingSecureBodies = new WeakMap<Uint8Array, SecureBuffer>();

/** Takes ownership of a secure response body produced by {@link SecureKmsRequestHandler}. */
export function takeSecureBody(body: unknown): SecureBuffer | undefined {
  if (!(body instanceof Uint8Array)) return undefined;
  const secure = pendingSecureBodies.get(body);
  pendingSecureBodies.delete(body);
  return secure;
}

export interface SecureKmsRequestHandlerOptions {
  /** Extra trust anchors (PEM) for a private endpoint; default: the runtime's CA store. */
  readonly ca?: string | Buffer;
  /**
   * Trust anchor (PEM) for a local emulator, honoured ONLY when the KMS endpoint is a loopback address.
   * Default: the file `emulatorCaFile` names, read when the first loopback connection is made.
   * A real KMS endpoint (kms.<region>.amazonaws.com) is never loopback, so this cannot widen what
   * production trusts, whatever the environment says.
   */
  readonly emulatorCa?: string | Buffer;
  /** File of the emulator's trust anchor (`KMS_EMULATOR_CA_FILE`, passed in by createSecureKmsClient from the config). */
  readonly emulatorCaFile?: string;
  /** Per-attempt time budget; the SDK's retry strategy decides about further attempts. */
  readonly requestTimeoutMs?: number;
  /** Plain http to a loopback endpoint: only for an explicit local emulator (lib/config/env.ts). */
  readonly allowPlainHttpLoopback?: boolean;
}

/**
 * The KMS transport's defaults. `requestTimeoutMs` is THE KMS per-attempt timeout: 3 s, the value every
 * client built by createSecureKmsClient has always used (the 5 s this handler fell back to applied to no
 * production path).
 */
export const defaults = Object.freeze({ requestTimeoutMs: 3_000, allowPlainHttpLoopback: false });

const rules = {
  ca: is.pem,
  emulatorCa: is.pem,
  emulatorCaFile: is.string,
  requestTimeoutMs: is.integer(100, 60_000),
  allowPlainHttpLoopback: is.boolean,
};

/**
 * An SDK request handler for the KMS client that reads responses into secure memory.
 *
 * The stock Node handler hands the body to the SDK as read chunks it cannot wipe. This one uses
 * the same keep-alive transport as the Didit client: one secure read buffer per connection, wiped
 * after every read, and the body assembled in a secure buffer. The SDK then sees that buffer, but
 * only through the capture middleware, which takes `Plaintext` out before anything parses it.
 */
export class SecureKmsRequestHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };
  readonly #options: Readonly<SecureKmsRequestHandlerOptions & typeof defaults>;
  readonly #pools = new Map<string, ConnectionPool>();

  constructor(options: SecureKmsRequestHandlerOptions = {}) {
    this.#options = withDefaults('SecureKmsRequestHandler', defaults, rules, options);
  }

  /** Connections opened so far, across endpoints (for the benchmark's "handshakes per warm call"). */
  get connectionsOpened(): number {
    let n = 0;
    for (const pool of this.#pools.values()) n += pool.stats.connectionsOpened;
    return n;
  }

  /** TLS handshakes so far, full and resumed, across endpoints (the idle benchmark's client-side count). */
  get tlsHandshakes(): { full: number; resumed: number } {
    let full = 0;
    let resumed = 0;
    for (const pool of this.#pools.values()) {
      full += pool.stats.fullTlsHandshakes;
      resumed += pool.stats.resumedTlsHandshakes;
    }
    return { full, resumed };
  }

  async handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<RequestHandlerOutput<HttpResponse>> {
    const pool = this.#pool(request);
    const timeout = options.requestTimeout ?? this.#options.requestTimeoutMs;
    const body = toBytes(request.body);
    const head = Buffer.from(requestHead(request, pool.origin.hostHeader, body.length), 'latin1');
    let response: ParsedResponse;
    try {
      response = await pool.send(() => ({
        head,
        body: [body],
        sink: 'secure',
        maxBodyBytes: MAX_KMS_RESPONSE_BYTES,
        deadline: Date.now() + timeout,
        signal: options.abortSignal as AbortSignal | undefined,
      }), { idempotent: true }); // Decrypt has no side effect: safe to resend.
    } catch (err) {
      // A failed exchange may still have read part of an answer through TLS: scrub on this path too.
      if (pool.origin.protocol === 'https:') await scrubTlsReadStack().catch(() => undefined);
      throw sdkTransportError(err);
    }
    const secure = response.body as SecureBuffer;
    if (pool.origin.protocol === 'https:') {
      // The answer (a Decrypt plaintext, a data key) passed through TLSWrap::ClearOut's stack array:
      // overwrite it now, before anyone uses the key, so no later path (a Didit reset, a timeout, a
      // freeze) can leave it there. Fail closed: without the scrub the secret is not handed on.
      try {
        await scrubTlsReadStack();
      } catch (err) {
        secure.dispose();
        throw err;
      }
    }
    const view = secure.bytes();
    pendingSecureBodies.set(view, secure);
    return { response: { statusCode: response.status, headers: { ...response.headers }, body: view } };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
  }

  #pool(request: HttpRequest): ConnectionPool {
    const port = request.port === undefined ? '' : `:${request.port}`;
    const key = `${request.protocol}//${request.hostname}${port}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      // Plain http only for a local emulator the configuration names, on loopback; otherwise always https.
      const origin = originOf(key, { allowPlainHttp: this.#options.allowPlainHttpLoopback && isLoopbackHost(request.hostname) });
      pool = new ConnectionPool(origin, { ca: kmsTrustAnchors(origin.hostname, origin.protocol, this.#options) });
      // The first answer over TLS will need the scrub's loopback pair: open it while KMS is being reached.
      if (origin.protocol === 'https:') prepareTlsReadScrub();
      this.#pools.set(key, pool);
    }
    return pool;
  }
}

function requestHead(request: HttpRequest, hostHeader: string, bodyLength: number): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(request.query ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== null && v !== undefined) query.append(name, v);
  }
  const qs = query.toString();
  let head = `${request.method} ${request.path}${qs === '' ? '' : `?${qs}`} HTTP/1.1\r\n`;
  let hasHost = false;
  for (const [name, value] of Object.entries(request.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    if (lower === 'host') hasHost = true;
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new TypeError('header contains CR or LF');
    head += `${name}: ${value}\r\n`;
  }
  if (!hasHost) head += `host: ${hostHeader}\r\n`;
  head += `content-length: ${bodyLength}\r\nconnection: keep-alive\r\n\r\n`;
  return head;
}

function toBytes(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('unsupported KMS request body type');
}

/**
 * The trust anchors for a KMS endpoint: `ca` when given; for an https endpoint on a loopback address, the
 * local emulator's CA (the `emulatorCa` option, else the file `emulatorCaFile` names, or, when an
 * environment is passed, its `KMS_EMULATOR_CA_FILE`); otherwise none, which means the runtime's CA store.
 * Any other host never gets the emulator CA, whatever is configured.
 */
export function kmsTrustAnchors(
  hostname: string,
  protocol: string,
  options: Pick<SecureKmsRequestHandlerOptions, 'ca' | 'emulatorCa' | 'emulatorCaFile'>,
  env?: NodeJS.ProcessEnv,
): string | Buffer | undefined {
  if (options.ca !== undefined) return options.ca;
  if (protocol !== 'https:' || !isLoopbackHost(hostname)) return undefined;
  if (options.emulatorCa !== undefined) return options.emulatorCa;
  const file = env === undefined ? options.emulatorCaFile : emulatorCaFileOf(env);
  return file === undefined ? undefined : readFileSync(file);
}


/** Errors shaped so the SDK's retry strategy recognises them as transient. */
function sdkTransportError(err: unknown): Error {
  if (!(err instanceof WireError)) return err instanceof Error ? err : new Error('KMS transport failure');
  const out = new Error(`KMS transport: ${err.message}`, { cause: err });
  if (err.timedOut) out.name = 'TimeoutError';
  else if (err.aborted) out.name = 'AbortError';
  else Object.assign(out, { code: err.phase === 'connect' ? 'ECONNREFUSED' : 'ECONNRESET' });
  return out;
}
