/** Errors of a Didit call: what Didit answered (or failed to), with Didit's status and rate limits. */
import { GatewayError, gatewayError, type GatewayErrorOptions } from './gateway-error.ts';

export interface DiditErrorOptions extends GatewayErrorOptions {
  diditStatus?: number;
  diditRequestId?: string;
  /** Didit's X-RateLimit-* values, passed on to the caller. */
  rateLimit?: { readonly limit?: number; readonly remaining?: number; readonly reset?: number };
}

/** The family of Didit errors; never thrown itself (it has no spec). */
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
export class DiditBadRequestError extends gatewayError({ code: 'DIDIT_REJECTED_INPUT', status: 400 }, DiditError) {
  readonly fields: readonly string[];
  constructor(fields: readonly string[], options: DiditErrorOptions = {}) {
    super('Didit rejected the request input.', options);
    this.fields = fields;
  }
}

/** Didit did not accept our key, even after re-reading the sealed key. Our configuration, not the caller's. */
export class DiditUnauthorizedError extends gatewayError({ code: 'DIDIT_UNAUTHORIZED', status: 502 }, DiditError) {}

/** 402/403: no permission for this resource, insufficient credits, IP not allowed, or status not eligible. */
export class DiditForbiddenError extends gatewayError(
  { code: 'DIDIT_FORBIDDEN', status: 403, publicMessage: 'Didit refused this operation (permission, credits, or the resource state).' },
  DiditError,
) {}

export class DiditNotFoundError extends gatewayError({ code: 'NOT_FOUND', status: 404, publicMessage: 'Not found.' }, DiditError) {}

export class DiditRateLimitedError extends gatewayError(
  { code: 'RATE_LIMITED', status: 429, retryable: true, publicMessage: 'Too many requests to Didit; retry after the time in Retry-After.' },
  DiditError,
) {}

export class DiditServerError extends gatewayError({ code: 'DIDIT_UNAVAILABLE', status: 502, retryable: true }, DiditError) {}

/** Didit did not answer in the operation's time budget. It may still have processed (and billed) it. */
export class DiditTimeoutError extends gatewayError({ code: 'DIDIT_TIMEOUT', status: 504, retryable: true }, DiditError) {}

/**
 * The operation may take longer than API Gateway lets a request live (29 s): the call was cut short
 * so the caller gets an explanation rather than API Gateway's bare 504.
 */
export class OperationTooSlowForGatewayError extends gatewayError(
  {
    code: 'EXCEEDS_GATEWAY_TIMEOUT',
    status: 504,
    retryable: true,
    publicMessage:
      'Didit did not answer within the 29 s API Gateway allows; this operation can take longer (see Retry-After). Retry later, or use the asynchronous job route when it is available.',
  },
  DiditError,
) {}

/** Connection-level failure: refused, reset, TLS failure. */
export class DiditNetworkError extends gatewayError({ code: 'DIDIT_NETWORK', status: 502, retryable: true }, DiditError) {}

/** Didit answered something we cannot read (malformed JSON, oversized body, bad framing). */
export class DiditResponseError extends gatewayError({ code: 'DIDIT_BAD_RESPONSE', status: 502 }, DiditError) {}
