import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionPool } from '../transport/pool.ts';
import { WireError } from '../transport/errors.ts';
import { originOf } from '../transport/origin.ts';
import type { ParsedResponse } from '../transport/response-reader.ts';
import type { SecureBuffer } from '../secure/secure-buffer.ts';
import { is, required, withDefaults } from '../config/options.ts';
import {
  DiditBadRequestError,
  DiditForbiddenError,
  DiditNetworkError,
  DiditNotFoundError,
  DiditRateLimitedError,
  DiditResponseError,
  DiditServerError,
  DiditTimeoutError,
  DiditUnauthorizedError,
  type DiditError,
} from '../errors/index.ts';
import { buildRequestHead } from './request-head.ts';
import { encodeMultipart, type MultipartValue } from './multipart.ts';
import { rateLimitOf, retryAfterSeconds, type RateLimitInfo } from './rate-limit.ts';

export type DiditBody =
  | { readonly kind: 'none' }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'multipart'; readonly fields: ReadonlyArray<readonly [string, MultipartValue]> };

export interface DiditRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  /** Path below the base URL, already validated and encoded, e.g. `/v3/session/<uuid>/decision/`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body: DiditBody;
  readonly timeoutMs: number;
  /** Safe to send twice (reads, and writes Didit deduplicates); drives retries on 5xx, resets and 429. */
  readonly idempotent: boolean;
  /** Accept header; default application/json. Binary operations ask for their type (errors stay JSON). */
  readonly accept?: string;
  /** Absolute deadline from the Lambda's remaining time; the earlier of this and `timeoutMs` wins. */
  readonly deadline?: number;
  readonly signal?: AbortSignal;
}

export interface DiditResponse {
  readonly status: number;
  readonly contentType: string | undefined;
  /** Didit's Content-Disposition (the file name of a PDF report), passed on with binary answers. */
  readonly contentDisposition: string | undefined;
  /** Parsed JSON for JSON responses; undefined for empty or binary bodies. */
  readonly json: unknown;
  readonly body: Buffer;
  readonly rateLimit: RateLimitInfo;
  readonly attempts: number;
}

export interface DiditClientOptions {
  /** Didit's base URL; https only. */
  readonly baseUrl: string;
  /** Extra trust anchor (PEM) for a private CA, e.g. the local sandbox's. Verification is never disabled. */
  readonly ca?: string | Buffer;
  readonly maxResponseBytes?: number;
  /** Longest Retry-After we wait in-process for a retry-safe call; longer waits go back to the caller. */
  readonly maxRetryWaitMs?: number;
  readonly userAgent?: string;
}

/** The Didit client's defaults: the one place its limits live. */
export const defaults = Object.freeze({
  /** Largest answer read (documents, PDFs): 8 MiB. */
  maxResponseBytes: 8 * 1024 * 1024,
  /** Longest Retry-After waited in-process. */
  maxRetryWaitMs: 5_000,
  userAgent: 'didit-kms-gateway/0.1',
});

const rules = {
  baseUrl: required(is.string),
  ca: is.pem,
  maxResponseBytes: is.integer(1, 64 * 1024 * 1024),
  maxRetryWaitMs: is.integer(0, 60_000),
  userAgent: is.string,
};

/**
 * HTTP/1.1 client for Didit's API that writes `x-api-key` from secure memory.
 *
 * Every request head is built in a secure buffer and written with one socket write (see
 * {@link buildRequestHead}); the connection is kept alive across warm invocations. Responses carry
 * no secret and are parsed normally. Retries follow one rule: send again only what cannot be
 * charged twice — requests that never reached Didit, and idempotent operations.
 *
 * Create it once per execution environment (lib/runtime/dependencies.ts) and call it only inside a key scope:
 * the key is read from secure memory while the request head is built, never kept.
 *
 * @example
 * ```ts
 * const didit = new DiditClient({ baseUrl: 'https://verification.didit.me' });
 * const response = await sealedKey.withKey((key) =>
 *   didit.send(key, { method: 'GET', path: `/v3/session/${sessionId}/decision/`, body: { kind: 'none' }, timeoutMs: 10_000, idempotent: true }),
 * );
 * ```
 * @throws {ConfigError} from the constructor, for an unknown or invalid option.
 */
export class DiditClient {
  readonly #pool: ConnectionPool;
  readonly #basePath: string;
  readonly #options: Readonly<DiditClientOptions & typeof defaults>;

  constructor(options: DiditClientOptions) {
    this.#options = withDefaults('DiditClient', defaults, rules, options);
    const url = new URL(this.#options.baseUrl);
    this.#pool = new ConnectionPool(originOf(url), { ca: this.#options.ca });
    this.#basePath = url.pathname.replace(/\/+$/, '');
  }

  get stats(): Readonly<{ connectionsOpened: number; reusedExchanges: number; exchanges: number }> {
    return this.#pool.stats;
  }

  close(): void {
    this.#pool.close();
  }

  /**
   * Sends one request with `key` as `x-api-key` and reads the whole answer. Retried once, in-process, only
   * when that cannot charge twice: a request that never reached Didit (any operation), or an idempotent one
   * after a 429/5xx (waiting Retry-After, at most `maxRetryWaitMs` and never past the deadline) or a lost
   * connection. The deadline is the earlier of `timeoutMs` and `request.deadline`.
   *
   * A 2xx answer is returned with its body (the caller wipes it when it may hold a secret). On an error
   * answer only the field names of the body are kept; the body is zeroed.
   *
   * @throws {DiditBadRequestError} DIDIT_REJECTED_INPUT (400 or 422 from Didit; `fields` lists the field names).
   * @throws {DiditUnauthorizedError} DIDIT_UNAUTHORIZED (502): Didit refused the key (401); the key scope may re-read it.
   * @throws {DiditForbiddenError} DIDIT_FORBIDDEN (403): Didit answered 402 or 403.
   * @throws {DiditNotFoundError} NOT_FOUND (404).
   * @throws {DiditRateLimitedError} RATE_LIMITED (429, retryable, `retryAfterSeconds` from Didit's Retry-After).
   * @throws {DiditServerError} DIDIT_UNAVAILABLE (502, retryable): Didit answered 5xx.
   * @throws {DiditTimeoutError} DIDIT_TIMEOUT (504, retryable): the deadline passed or `request.signal` fired; Didit
   *   may still have processed (and billed) the request.
   * @throws {DiditNetworkError} DIDIT_NETWORK (502, retryable): refused, reset or TLS failure; its `cause` (a
   *   `WireError`) says whether the request was sent.
   * @throws {DiditResponseError} DIDIT_BAD_RESPONSE (502): an answer we cannot read (malformed JSON, over
   *   `maxResponseBytes`, bad framing) or a status not listed here (a 3xx, another 4xx).
   * Every DiditError carries `diditStatus`, `diditRequestId` and `rateLimit` when Didit answered. (An abort
   * during the in-process wait before a retry rejects with the signal's `AbortError` instead.)
   */
  async send(key: SecureBuffer, request: DiditRequest): Promise<DiditResponse> {
    const deadline = Math.min(Date.now() + request.timeoutMs, request.deadline ?? Number.POSITIVE_INFINITY);
    const body = encodeBody(request.body);
    const target = this.#target(request);
    let attempts = 0;
    for (;;) {
      attempts++;
      let response: ParsedResponse;
      try {
        response = await this.#pool.send(() => ({
          ...this.#head(request, target, body, key),
          body: body.pieces,
          sink: 'plain',
          maxBodyBytes: this.#options.maxResponseBytes,
          deadline,
          signal: request.signal,
        }), { idempotent: request.idempotent });
      } catch (err) {
        const mapped = mapWireError(err);
        if (attempts === 1 && canRetryAfterWireError(err, request)) continue;
        throw mapped;
      }
      const status = response.status;
      const headers = response.headers;
      const rateLimit = rateLimitOf(headers);
      if (status >= 200 && status < 300) {
        return {
          status,
          contentType: headers['content-type'],
          contentDisposition: headers['content-disposition'],
          json: parseJsonIfAny(response.body as Buffer, headers['content-type'], status),
          body: response.body as Buffer,
          rateLimit,
          attempts,
        };
      }
      const error = errorFor(status, response.body as Buffer, headers, rateLimit);
      // Only field names are kept from an error body; the rest may echo input (personal data).
      (response.body as Buffer).fill(0);
      if (attempts === 1 && request.idempotent && error.retryable) {
        const waitMs = status === 429 ? retryAfterSeconds(headers) * 1000 : 200 + Math.random() * 300;
        const budget = Math.min(this.#options.maxRetryWaitMs, deadline - Date.now() - 1_000);
        if (waitMs <= budget) {
          await sleep(waitMs, undefined, { signal: request.signal });
          continue;
        }
      }
      throw error;
    }
  }

  #target(request: DiditRequest): string {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) query.append(name, value);
    const qs = query.toString();
    return `${this.#basePath}${request.path}${qs === '' ? '' : `?${qs}`}`;
  }

  #head(
    request: DiditRequest,
    target: string,
    body: EncodedBody,
    key: SecureBuffer,
  ): { head: Buffer; headOwner: SecureBuffer } {
    const headers: Array<[string, string]> = [
      ['user-agent', this.#options.userAgent],
      ['accept', request.accept ?? 'application/json'],
      ['connection', 'keep-alive'],
    ];
    if (body.contentType !== undefined) headers.push(['content-type', body.contentType]);
    if (body.length > 0 || request.method !== 'GET') headers.push(['content-length', String(body.length)]);
    const owner = buildRequestHead({ method: request.method, target, host: this.#pool.origin.hostHeader, headers }, key);
    return { head: owner.bytes(), headOwner: owner };
  }
}

interface EncodedBody {
  readonly contentType: string | undefined;
  readonly pieces: readonly Uint8Array[];
  readonly length: number;
}

function encodeBody(body: DiditBody): EncodedBody {
  switch (body.kind) {
    case 'none':
      return { contentType: undefined, pieces: [], length: 0 };
    case 'json': {
      const bytes = Buffer.from(JSON.stringify(body.value), 'utf8');
      return { contentType: 'application/json', pieces: [bytes], length: bytes.length };
    }
    case 'multipart':
      return encodeMultipart(body.fields);
  }
}

function canRetryAfterWireError(err: unknown, request: DiditRequest): boolean {
  if (!(err instanceof WireError) || err.timedOut || err.aborted || err.tooLarge) return false;
  // Never reached Didit: safe for any operation. Otherwise only for idempotent ones.
  if (err.phase === 'connect' || !err.requestSent) return true;
  return request.idempotent;
}

function mapWireError(err: unknown): DiditError {
  if (err instanceof WireError) {
    if (err.timedOut) return new DiditTimeoutError('Didit did not answer in time', { cause: err });
    if (err.aborted) return new DiditTimeoutError('Didit call aborted (invocation deadline)', { cause: err });
    if (err.tooLarge) return new DiditResponseError('Didit response too large', { cause: err });
    if (err.cause instanceof Error && err.cause.name === 'ResponseFramingError') {
      return new DiditResponseError('Didit response could not be parsed', { cause: err });
    }
    return new DiditNetworkError(`Didit connection failed (${err.phase})`, { cause: err });
  }
  return new DiditNetworkError('Didit call failed', { cause: err });
}

function errorFor(
  status: number,
  body: Buffer,
  headers: Readonly<Record<string, string>>,
  rateLimit: RateLimitInfo,
): DiditError {
  const options = { diditStatus: status, diditRequestId: headers['x-request-id'], rateLimit };
  switch (true) {
    case status === 400:
    case status === 422:
      return new DiditBadRequestError(fieldNames(body), options);
    case status === 401:
      return new DiditUnauthorizedError('Didit rejected the API key', options);
    case status === 402:
    case status === 403:
      return new DiditForbiddenError(`Didit refused the operation (${status})`, options);
    case status === 404:
      return new DiditNotFoundError('Didit: not found', options);
    case status === 429:
      return new DiditRateLimitedError('Didit rate limit', { ...options, retryAfterSeconds: retryAfterSeconds(headers) });
    case status >= 500:
      return new DiditServerError(`Didit server error ${status}`, options);
    default:
      return new DiditResponseError(`Didit unexpected status ${status}`, options);
  }
}

/** Field names of a DRF-style error body (`{"field": ["msg"]}`); messages are dropped (they may echo input). */
function fieldNames(body: Buffer): string[] {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return Object.keys(parsed).filter((k) => /^[A-Za-z0-9_.]{1,64}$/.test(k) && k !== 'detail').slice(0, 50);
    }
  } catch {
    // Not JSON: no field names to pass on.
  }
  return [];
}

function parseJsonIfAny(body: Buffer, contentType: string | undefined, status: number): unknown {
  if (status === 204 || body.length === 0) return undefined;
  if (contentType === undefined || !/^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType)) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    // Unreadable, so never passed on; it may still hold what an entry redacts (a webhook secret): wiped.
    body.fill(0);
    throw new DiditResponseError('Didit answered malformed JSON', { cause: err, diditStatus: status });
  }
}
