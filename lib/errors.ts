/**
 * Typed errors of the gateway. Each carries the HTTP status the caller gets, a stable `code`, and
 * the original error as `cause` (for logs only). Messages are written here, never copied from a
 * dependency, so no error can carry key material, ciphertext or a caller's personal data.
 *
 * `publicMessage` is what a caller may read; `message` is for operators and still secret-free.
 */
export interface GatewayErrorOptions {
  cause?: unknown;
  /** Seconds the caller should wait before retrying (429/503). */
  retryAfterSeconds?: number;
}

export abstract class GatewayError extends Error {
  abstract readonly code: string;
  abstract readonly statusCode: number;
  /** Whether it is worth retrying the same request later (drives our own retries and queue redelivery). */
  readonly retryable: boolean = false;
  readonly retryAfterSeconds: number | undefined;

  constructor(message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // The class name is the error's name in logs (the bundler keeps names: esbuild keepNames).
    this.name = new.target.name;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /**
   * The code callers see. A 500 is our own misconfiguration or a bug: callers get `INTERNAL` and
   * the request id, operators get the precise code in the log line with that id.
   */
  get publicCode(): string {
    return this.statusCode === 500 ? 'INTERNAL' : this.code;
  }

  /** Safe for callers: no internal detail. Subclasses that are the caller's fault say more. */
  get publicMessage(): string {
    return this.statusCode >= 500 ? 'The request could not be completed.' : this.message;
  }
}

// ---- caller input ----------------------------------------------------------------------------

export interface FieldIssue {
  /** Dotted path of the field, e.g. `contact_details.email` or `path.sessionId`. */
  readonly field: string;
  readonly message: string;
}

/** The caller's input is invalid. Nothing was sent to Didit. */
export class ValidationError extends GatewayError {
  readonly code = 'VALIDATION_FAILED';
  readonly statusCode = 400;
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[]) {
    // Not the field names: an unknown field's name is caller input and could carry personal data.
    super(`invalid request: ${issues.length} issue(s)`);
    this.issues = issues;
  }
  override get publicMessage(): string {
    return 'The request is invalid; see `issues`.';
  }
}

export class PayloadTooLargeError extends GatewayError {
  readonly code = 'PAYLOAD_TOO_LARGE';
  readonly statusCode = 413;
}

export class UnsupportedMediaTypeError extends GatewayError {
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
  readonly statusCode = 415;
}

// ---- sealed key: Secrets Manager and KMS -----------------------------------------------------

export class SecretNotFoundError extends GatewayError {
  readonly code = 'SECRET_NOT_FOUND';
  readonly statusCode = 500;
}

/** The secret exists but does not hold a usable ciphertext (e.g. SecretString instead of SecretBinary). */
export class SecretMalformedError extends GatewayError {
  readonly code = 'SECRET_MALFORMED';
  readonly statusCode = 500;
}

export class SecretsUnavailableError extends GatewayError {
  readonly code = 'SECRETS_UNAVAILABLE';
  readonly statusCode = 503;
  override readonly retryable = true;
}

export class KmsThrottledError extends GatewayError {
  readonly code = 'KMS_THROTTLED';
  readonly statusCode = 503;
  override readonly retryable = true;
}

export class KmsUnavailableError extends GatewayError {
  readonly code = 'KMS_UNAVAILABLE';
  readonly statusCode = 503;
  override readonly retryable = true;
}

export class KmsAccessDeniedError extends GatewayError {
  readonly code = 'KMS_ACCESS_DENIED';
  readonly statusCode = 500;
}

/** KMS refused the ciphertext: corrupted, from another key, or sealed under another encryption context. */
export class KmsInvalidCiphertextError extends GatewayError {
  readonly code = 'KMS_INVALID_CIPHERTEXT';
  readonly statusCode = 500;
}

/** The key used is disabled, pending deletion, or otherwise not usable. */
export class KmsKeyUnusableError extends GatewayError {
  readonly code = 'KMS_KEY_UNUSABLE';
  readonly statusCode = 500;
}

/** KMS answered but the response could not be used (no Plaintext, bad base64, unexpected key id). */
export class KmsResponseError extends GatewayError {
  readonly code = 'KMS_BAD_RESPONSE';
  readonly statusCode = 502;
}

/** The decrypted bytes are not a plausible Didit key (not visible ASCII, or wrong length). */
export class KeyShapeError extends GatewayError {
  readonly code = 'KEY_SHAPE_INVALID';
  readonly statusCode = 500;
}

// ---- Didit ------------------------------------------------------------------------------------

export interface DiditErrorOptions extends GatewayErrorOptions {
  diditStatus?: number;
  diditRequestId?: string;
  /** Didit's X-RateLimit-* values, passed on to the caller. */
  rateLimit?: { readonly limit?: number; readonly remaining?: number; readonly reset?: number };
}

export abstract class DiditError extends GatewayError {
  readonly diditStatus: number | undefined;
  readonly diditRequestId: string | undefined;
  readonly rateLimit: DiditErrorOptions['rateLimit'];
  constructor(message: string, options: DiditErrorOptions = {}) {
    super(message, options);
    this.diditStatus = options.diditStatus;
    this.diditRequestId = options.diditRequestId;
    this.rateLimit = options.rateLimit;
  }
}

/** Didit rejected the input (400). Field names only are passed on: Didit's messages may echo values. */
export class DiditBadRequestError extends DiditError {
  readonly code = 'DIDIT_REJECTED_INPUT';
  readonly statusCode = 400;
  readonly fields: readonly string[];
  constructor(fields: readonly string[], options: DiditErrorOptions = {}) {
    super('Didit rejected the request input.', options);
    this.fields = fields;
  }
}

/** Didit did not accept our key, even after re-reading the sealed key. Our configuration, not the caller's. */
export class DiditUnauthorizedError extends DiditError {
  readonly code = 'DIDIT_UNAUTHORIZED';
  readonly statusCode = 502;
}

/** 402/403: no permission for this resource, insufficient credits, IP not allowed, or status not eligible. */
export class DiditForbiddenError extends DiditError {
  readonly code = 'DIDIT_FORBIDDEN';
  readonly statusCode = 403;
  override get publicMessage(): string {
    return 'Didit refused this operation (permission, credits, or the resource state).';
  }
}

export class DiditNotFoundError extends DiditError {
  readonly code = 'NOT_FOUND';
  readonly statusCode = 404;
  override get publicMessage(): string {
    return 'Not found.';
  }
}

export class DiditRateLimitedError extends DiditError {
  readonly code = 'RATE_LIMITED';
  readonly statusCode = 429;
  override readonly retryable = true;
  override get publicMessage(): string {
    return 'Too many requests to Didit; retry after the time in Retry-After.';
  }
}

export class DiditServerError extends DiditError {
  readonly code = 'DIDIT_UNAVAILABLE';
  readonly statusCode = 502;
  override readonly retryable = true;
}

/** Didit did not answer in the operation's time budget. It may still have processed (and billed) it. */
export class DiditTimeoutError extends DiditError {
  readonly code = 'DIDIT_TIMEOUT';
  readonly statusCode = 504;
  override readonly retryable = true;
}

/**
 * The operation may take longer than API Gateway lets a request live (29 s): the call was cut short
 * so the caller gets an explanation rather than API Gateway's bare 504.
 */
export class OperationTooSlowForGatewayError extends DiditError {
  readonly code = 'EXCEEDS_GATEWAY_TIMEOUT';
  readonly statusCode = 504;
  override readonly retryable = true;
  override get publicMessage(): string {
    return 'Didit did not answer within the 29 s API Gateway allows; this operation can take longer (see Retry-After). Retry later, or use the asynchronous job route when it is available.';
  }
}

/** Connection-level failure: refused, reset, TLS failure. */
export class DiditNetworkError extends DiditError {
  readonly code = 'DIDIT_NETWORK';
  readonly statusCode = 502;
  override readonly retryable = true;
}

/** Didit answered something we cannot read (malformed JSON, oversized body, bad framing). */
export class DiditResponseError extends DiditError {
  readonly code = 'DIDIT_BAD_RESPONSE';
  readonly statusCode = 502;
}

/** Anything else: a bug. The caller sees a generic 500. */
export class InternalError extends GatewayError {
  readonly code = 'INTERNAL';
  readonly statusCode = 500;
}
