/**
 * The gateway's error taxonomy, in the spirit of middy's `HttpError` (`@middy/util`): every error a
 * caller can get is a {@link GatewayError} with a stable `code`, the HTTP `status` the caller gets,
 * whether its `message` may reach the caller (`expose`), whether retrying can help (`retryable`), and
 * the original error as `cause` (for logs only). Classes are declared, not written out: see
 * {@link gatewayError}.
 *
 * Messages are written here, never copied from a dependency, so no error can carry key material,
 * ciphertext or a caller's personal data.
 */

export interface GatewayErrorOptions {
  cause?: unknown;
  /** Seconds the caller should wait before retrying (429/503). */
  retryAfterSeconds?: number;
}

/** What a class of errors means to a caller: the whole of it, declared once. */
export interface GatewayErrorSpec {
  /** Stable code; callers see it, except for a 500 (see {@link GatewayError.publicCode}). */
  readonly code: string;
  /** HTTP status the caller gets. */
  readonly status: number;
  /** Worth retrying the same request later (drives our own retries and queue redelivery). Default false. */
  readonly retryable?: boolean;
  /**
   * The fixed sentence callers read. When set, `message` is for operators only (`expose` is false).
   * When absent, a 4xx shows its `message` and a 5xx a generic sentence.
   */
  readonly publicMessage?: string;
}

const GENERIC_MESSAGE = 'The request could not be completed.';

type SpecBearer = { readonly spec?: GatewayErrorSpec };

/**
 * Base of every caller-facing error. Never constructed directly: a class gets its spec from
 * {@link gatewayError}, and the base reads it from `new.target`, so each error is a real class
 * (`instanceof` works; `name` is the class name, which logs use — the bundler keeps names: esbuild
 * keepNames).
 *
 * The caller-visible answer is `{ code: publicCode, message: publicMessage }` with `status` and, for
 * 429/503, `retryAfterSeconds`. A 5xx never exposes its `message`.
 *
 * @example
 * ```ts
 * // Declared once:
 * export class PayloadTooLargeError extends gatewayError({ code: 'PAYLOAD_TOO_LARGE', status: 413 }) {}
 * export class KmsThrottledError extends gatewayError({ code: 'KMS_THROTTLED', status: 503, retryable: true }) {}
 *
 * // Thrown with an operator message and the dependency's error as cause:
 * throw new KmsThrottledError('KMS Decrypt failed: ThrottlingException', { cause: err });
 *
 * // Read generically (error-responder, failure-class):
 * if (err instanceof GatewayError && err.status < 500 && !err.retryable) { ... } // final: the caller's fault
 * ```
 */
export abstract class GatewayError extends Error {
  /** The spec a {@link gatewayError} class carries; inherited by its subclasses. */
  static readonly spec?: GatewayErrorSpec;

  readonly code: string;
  /** HTTP status the caller gets. */
  readonly status: number;
  /** Whether `message` may reach a caller (a 4xx without a fixed public sentence). Never for a 5xx. */
  readonly expose: boolean;
  /** Whether it is worth retrying the same request later (drives our own retries and queue redelivery). */
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly #publicMessage: string | undefined;

  constructor(message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const spec = (new.target as SpecBearer).spec;
    if (spec === undefined) throw new TypeError(`${new.target.name} is not declared with gatewayError()`);
    // The class name is the error's name in logs (the bundler keeps names: esbuild keepNames).
    this.name = new.target.name;
    this.code = spec.code;
    this.status = spec.status;
    this.retryable = spec.retryable ?? false;
    this.expose = spec.status < 500 && spec.publicMessage === undefined;
    this.#publicMessage = spec.publicMessage;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The same as `status`, as middy's `HttpError` has both (and code written before the taxonomy reads it). */
  get statusCode(): number {
    return this.status;
  }

  /**
   * The code callers see. A 500 is our own misconfiguration or a bug: callers get `INTERNAL` and
   * the request id, operators get the precise code in the log line with that id.
   */
  get publicCode(): string {
    return this.status === 500 ? 'INTERNAL' : this.code;
  }

  /** Safe for callers: the message when exposed, else the class's fixed sentence or a generic one. */
  get publicMessage(): string {
    return this.expose ? this.message : (this.#publicMessage ?? GENERIC_MESSAGE);
  }
}

/**
 * Declares a class of errors. The returned class is abstract in intent: extend it with a named class
 * (`class XError extends gatewayError({...}) {}`) so that `instanceof` and `name` say what it is.
 * `base` is a family to extend instead of {@link GatewayError} (e.g. `DiditError`, which carries
 * Didit's status and rate limits); the result keeps that family's constructor.
 */
export function gatewayError<B extends typeof GatewayError = typeof GatewayError>(spec: GatewayErrorSpec, base?: B): B {
  const Base: typeof GatewayError = base ?? GatewayError;
  const Declared = class extends Base {
    static override readonly spec = Object.freeze({ ...spec });
  };
  // The anonymous class adds nothing but the spec: its constructor is the family's.
  return Declared as unknown as B;
}

/**
 * Base of the internal errors, which never reach a caller as themselves (transport, secure memory, the
 * KMS plaintext paths, an adapter's parsing): a plain Error, not a {@link GatewayError}, whose `name` is
 * its class name. Where one could surface, a map turns it into a GatewayError first (the Didit client,
 * lib/kms/errors.ts); otherwise it is a bug, and the caller sees the generic `INTERNAL` 500.
 *
 * @example
 * ```ts
 * export class ResponseFramingError extends NamedError {}
 * ```
 */
export abstract class NamedError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Anything else: a bug. The caller sees a generic 500. */
export class InternalError extends gatewayError({ code: 'INTERNAL', status: 500 }) {}
