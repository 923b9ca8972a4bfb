import type { Logger } from '@aws-lambda-powertools/logger';
import type { Request } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import * as jobErrors from '../../lib/adapters/jobs/errors.ts';
import * as triggerErrors from '../../lib/adapters/triggers/errors.ts';
import * as uploadErrors from '../../lib/adapters/uploads/errors.ts';
import * as webhookErrors from '../../lib/adapters/webhooks/errors.ts';
import * as coreErrors from '../../lib/errors/index.ts';
import * as kmsErrors from '../../lib/kms/errors.ts';
import * as secureErrors from '../../lib/secure/errors.ts';
import * as transportErrors from '../../lib/transport/errors.ts';
import {
  DiditBadRequestError,
  DiditNotFoundError,
  DiditRateLimitedError,
  GatewayError,
  KmsAccessDeniedError,
  KmsInvalidCiphertextError,
  KmsKeyUnusableError,
  KmsThrottledError,
  NamedError,
  PayloadTooLargeError,
  SpendCapReachedError,
  ValidationError,
  WebhookInProgressError,
} from '../../lib/errors/index.ts';
import { mapEncryptError } from '../../lib/kms/encrypt.ts';
import { mapKmsError } from '../../lib/kms/errors.ts';
import { errorResponder } from '../../lib/responses/error-responder.ts';

// What must never reach a caller from a 5xx: an operator message (it names dependencies and causes).
const MARKER = 'operator-only detail 7f3a';

type ErrorClass = abstract new (...args: never[]) => GatewayError;

/** Every error class the gateway exports, core and adapters, by name. */
function everyErrorClass(): Map<string, ErrorClass> {
  const out = new Map<string, ErrorClass>();
  for (const module of [coreErrors, jobErrors, triggerErrors, uploadErrors, webhookErrors]) {
    for (const [name, exported] of Object.entries(module)) {
      if (typeof exported === 'function' && exported.prototype instanceof GatewayError) out.set(name, exported as unknown as ErrorClass);
    }
  }
  return out;
}

/** Classes whose constructor is not `(message, options)`. */
const BUILD = new Map<string, () => GatewayError>([
  ['ValidationError', () => new ValidationError([{ field: 'a', message: MARKER }])],
  ['DiditBadRequestError', () => new DiditBadRequestError(['a'], { diditStatus: 400 })],
  ['UploadRejectedError', () => new uploadErrors.UploadRejectedError('MANIFEST_INVALID', [{ field: 'manifest', message: MARKER }])],
  ['SpendCapReachedError', () => new SpendCapReachedError({ retryAfterSeconds: 60 })],
]);

/** Families: extended by declared classes, never thrown themselves. */
const FAMILIES = new Set(['DiditError']);

/** Codes that two classes share on purpose: the same meaning to a caller, from two layers. */
const SHARED_CODES = new Map<string, readonly string[]>([
  ['NOT_FOUND', ['DiditNotFoundError', 'JobNotFoundError']],
  ['VALIDATION_FAILED', ['UploadRejectedError', 'ValidationError']],
]);

function instances(): Array<[string, GatewayError]> {
  const out: Array<[string, GatewayError]> = [];
  for (const [name, Class] of everyErrorClass()) {
    if (FAMILIES.has(name)) continue;
    const build = BUILD.get(name) ?? (() => Reflect.construct(Class, [MARKER, { cause: new Error('cause') }]) as GatewayError);
    out.push([name, build()]);
  }
  return out;
}

describe('the error taxonomy', () => {
  it('finds the classes (so the checks below check something)', () => {
    const names = [...everyErrorClass().keys()];
    expect(names.length).toBeGreaterThan(50);
    expect(names).toContain('KmsThrottledError');
    expect(names).toContain('WebhookDeadlineError');
  });

  it('every class is a named class: instanceof works and `name` (what logs show) is the class name', () => {
    for (const [name, error] of instances()) {
      expect(error.name, name).toBe(name);
      expect(error, name).toBeInstanceOf(Error);
      expect(error, name).toBeInstanceOf(everyErrorClass().get(name) as unknown as typeof GatewayError);
    }
  });

  it('a family is never thrown itself', () => {
    for (const name of FAMILIES) {
      const Family = everyErrorClass().get(name);
      expect(Family, name).toBeDefined();
      expect(() => Reflect.construct(Family as unknown as typeof GatewayError, [MARKER]), name).toThrow(TypeError);
    }
  });

  it('every status is a 4xx or a 5xx, and a retryable error is a 429 or a 5xx', () => {
    for (const [name, error] of instances()) {
      expect(Number.isInteger(error.status) && error.status >= 400 && error.status <= 599, `${name}: ${error.status}`).toBe(true);
      expect(error.statusCode, name).toBe(error.status);
      if (error.retryable) expect(error.status === 429 || error.status >= 500, `${name} is retryable`).toBe(true);
    }
  });

  it('every code is an upper-case identifier, and one code is one class unless shared on purpose', () => {
    const byCode = new Map<string, string[]>();
    for (const [name, error] of instances()) {
      expect(error.code, name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      byCode.set(error.code, [...(byCode.get(error.code) ?? []), name]);
    }
    for (const [code, names] of byCode) {
      if (names.length > 1) expect([...names].sort(), code).toEqual(SHARED_CODES.get(code));
    }
  });

  it('a 5xx never exposes its message; a 500 is INTERNAL to callers', () => {
    for (const [name, error] of instances()) {
      if (error.status < 500) continue;
      expect(error.expose, name).toBe(false);
      expect(error.publicMessage, name).not.toContain(MARKER);
      expect(error.publicCode, name).toBe(error.status === 500 ? 'INTERNAL' : error.code);
    }
  });

  it('a 4xx shows its message only when exposed, never a field value', () => {
    for (const [name, error] of instances()) {
      if (error.status >= 500) continue;
      expect(error.publicCode, name).toBe(error.code);
      if (error.expose) expect(error.publicMessage, name).toBe(error.message);
      else expect(error.publicMessage, name).not.toContain(MARKER);
    }
  });
});

describe('internal errors', () => {
  it('are plain named errors, never GatewayErrors, so a caller only ever sees them as INTERNAL', () => {
    let seen = 0;
    for (const module of [transportErrors, secureErrors, kmsErrors, uploadErrors, webhookErrors]) {
      for (const [name, exported] of Object.entries(module)) {
        if (typeof exported !== 'function' || !(exported.prototype instanceof Error) || exported.prototype instanceof GatewayError) continue;
        expect(exported.prototype, name).toBeInstanceOf(NamedError);
        const args = name === 'WireError' ? [MARKER, { phase: 'connect', reused: false, requestSent: false, responseStarted: false }] : [MARKER];
        const error = Reflect.construct(exported, args) as Error;
        expect(error.name, name).toBe(name);
        seen += 1;
      }
    }
    expect(seen).toBeGreaterThanOrEqual(12);
  });
});

describe('what a caller gets (error-responder)', () => {
  function respond(error: unknown): { status: number; headers: Record<string, unknown>; body: unknown } {
    const noop = (): void => undefined;
    const logger = { error: noop, warn: noop } as unknown as Logger;
    const request = {
      error,
      context: { awsRequestId: 'req-1' },
      response: undefined,
    } as unknown as Request<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>;
    const onError = errorResponder({ logger }).onError;
    if (onError === undefined) throw new Error('errorResponder has no onError');
    void onError(request);
    const response = request.response as APIGatewayProxyResult;
    return { status: response.statusCode, headers: response.headers ?? {}, body: JSON.parse(response.body) };
  }

  it('a 500 of ours: INTERNAL, the generic sentence, the request id, no Retry-After', () => {
    const { status, headers, body } = respond(new KmsAccessDeniedError(`KMS Decrypt failed: AccessDeniedException ${MARKER}`));
    expect(status).toBe(500);
    expect(body).toEqual({ error: { code: 'INTERNAL', message: 'The request could not be completed.', requestId: 'req-1' } });
    expect(headers['retry-after']).toBeUndefined();
    expect(headers['x-request-id']).toBe('req-1');
  });

  it('anything outside the taxonomy is answered exactly as a 500 of ours', () => {
    expect(respond(new TypeError(MARKER))).toEqual(respond(new KmsInvalidCiphertextError(MARKER)));
  });

  it('a 503: its code, the generic sentence, Retry-After 1 unless the error says otherwise', () => {
    const throttled = respond(new KmsThrottledError(MARKER));
    expect(throttled.status).toBe(503);
    expect(throttled.body).toEqual({ error: { code: 'KMS_THROTTLED', message: 'The request could not be completed.', requestId: 'req-1' } });
    expect(throttled.headers['retry-after']).toBe('1');

    const inProgress = respond(new WebhookInProgressError(MARKER));
    expect(inProgress.body).toEqual({
      error: { code: 'WEBHOOK_IN_PROGRESS', message: 'This delivery is already being processed; retry later.', requestId: 'req-1' },
    });
    expect(inProgress.headers['retry-after']).toBe('30');
  });

  it('a 4xx: its code and message, issues or fields, Didit rate limits', () => {
    expect(respond(new PayloadTooLargeError('body exceeds 6 MB')).body).toEqual({
      error: { code: 'PAYLOAD_TOO_LARGE', message: 'body exceeds 6 MB', requestId: 'req-1' },
    });
    const invalid = respond(new ValidationError([{ field: 'email', message: 'must be an email' }]));
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({
      error: {
        code: 'VALIDATION_FAILED',
        message: 'The request is invalid; see `issues`.',
        requestId: 'req-1',
        issues: [{ field: 'email', message: 'must be an email' }],
      },
    });
    const limited = respond(new DiditRateLimitedError(MARKER, { retryAfterSeconds: 12, rateLimit: { limit: 100, remaining: 0, reset: 12 } }));
    expect(limited.status).toBe(429);
    expect(limited.headers).toMatchObject({ 'retry-after': '12', 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '12' });
    expect(respond(new DiditNotFoundError(MARKER)).body).toEqual({ error: { code: 'NOT_FOUND', message: 'Not found.', requestId: 'req-1' } });
  });
});

describe('one KMS error map for every KMS call', () => {
  const sdkError = (name: string): Error => Object.assign(new Error(MARKER), { name, $metadata: { httpStatusCode: 400 } });

  it('maps the union of what Decrypt and Encrypt mapped, the same for every call', () => {
    for (const call of ['Decrypt', 'Encrypt', 'GenerateDataKey'] as const) {
      expect(mapKmsError(sdkError('InvalidArnException'), call), call).toBeInstanceOf(KmsKeyUnusableError);
      expect(mapKmsError(sdkError('InvalidCiphertextException'), call), call).toBeInstanceOf(KmsInvalidCiphertextError);
      expect(mapKmsError(sdkError('ThrottlingException'), call), call).toBeInstanceOf(KmsThrottledError);
    }
    expect(mapEncryptError(sdkError('InvalidArnException'))).toBeInstanceOf(KmsKeyUnusableError);
  });

  it("never copies KMS's message", () => {
    for (const name of ['AccessDeniedException', 'SomethingNew', '']) {
      expect(mapKmsError(sdkError(name), 'Decrypt').message, name).not.toContain(MARKER);
    }
  });
});
