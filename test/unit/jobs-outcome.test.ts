import { describe, expect, it } from 'vitest';
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
  KmsAccessDeniedError,
  KmsThrottledError,
  OperationTooSlowForGatewayError,
  SecretsUnavailableError,
  ValidationError,
} from '../../lib/errors/index.ts';
import { decideFailure, jobErrorOf } from '../../lib/adapters/jobs/outcome.ts';
import { WireError } from '../../lib/transport/errors.ts';

const paid = { idempotent: false, answered: false };
const free = { idempotent: true, answered: false };
const wire = (phase: 'connect' | 'write' | 'read', requestSent: boolean) =>
  new WireError('x', { phase, reused: false, requestSent, responseStarted: false } as ConstructorParameters<typeof WireError>[1]);

describe('what a failed Didit call of a job leads to', () => {
  it('Didit refused without processing (5xx, 429): redelivered, paid or not', () => {
    for (const err of [new DiditServerError('500', { diditStatus: 500 }), new DiditRateLimitedError('429', { diditStatus: 429 })]) {
      expect(decideFailure(err, paid)).toBe('retry');
      expect(decideFailure(err, free)).toBe('retry');
    }
  });

  it('the key could not be had (KMS, Secrets Manager), or our key is refused: redelivered (dead-lettered if it persists)', () => {
    for (const err of [new KmsThrottledError('t'), new SecretsUnavailableError('s'), new KmsAccessDeniedError('a'), new DiditUnauthorizedError('401')]) {
      expect(decideFailure(err, paid)).toBe('retry');
    }
  });

  it('no answer to a paid call (timeout, connection lost after sending): outcome unknown, never called again', () => {
    for (const err of [
      new DiditTimeoutError('t'),
      new OperationTooSlowForGatewayError('t'),
      new DiditNetworkError('reset', { cause: wire('read', true) }),
      new DiditNetworkError('?'),
    ]) {
      expect(decideFailure(err, paid)).toBe('unknown');
      expect(decideFailure(err, free)).toBe('retry');
    }
  });

  it('a connection that never carried the request: redelivered even for a paid call', () => {
    expect(decideFailure(new DiditNetworkError('refused', { cause: wire('connect', false) }), paid)).toBe('retry');
    expect(decideFailure(new DiditNetworkError('not sent', { cause: wire('write', false) }), paid)).toBe('retry');
  });

  it('Didit answered 4xx, or the input is invalid: the job fails', () => {
    for (const err of [
      new DiditBadRequestError(['full_name']),
      new DiditForbiddenError('403'),
      new DiditNotFoundError('404'),
      new DiditResponseError('malformed'),
      new ValidationError([{ field: 'x', message: 'y' }]),
    ]) {
      expect(decideFailure(err, paid)).toBe('fail');
      expect(decideFailure(err, free)).toBe('fail');
    }
  });

  it('anything after Didit answered, and any bug, fails the job: the call is never repeated', () => {
    expect(decideFailure(new KmsThrottledError('seal after the call'), { idempotent: false, answered: true })).toBe('fail');
    expect(decideFailure(new DiditServerError('500'), { idempotent: true, answered: true })).toBe('fail');
    expect(decideFailure(new TypeError('bug'), paid)).toBe('fail');
  });

  it('the job error is the public code and message', () => {
    expect(jobErrorOf(new DiditNotFoundError('Didit: not found'))).toEqual({ code: 'NOT_FOUND', message: 'Not found.' });
    expect(jobErrorOf(new KmsAccessDeniedError('internal detail'))).toEqual({ code: 'INTERNAL', message: 'The request could not be completed.' });
    expect(jobErrorOf(new Error('anything'))).toEqual({ code: 'INTERNAL', message: 'The request could not be completed.' });
  });
});
