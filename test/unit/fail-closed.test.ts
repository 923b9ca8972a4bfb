import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { DiditClient, DiditRequest, DiditResponse } from '../../lib/didit/client.ts';
import { DiditResponseError, WebhookSecretMissingError } from '../../lib/errors/index.ts';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { validateStructured } from '../../lib/validation/request.ts';
import { ResultCrypto } from '../../lib/adapters/jobs/result-crypto.ts';
import type { generateDataKeyToSecureBuffer } from '../../lib/kms/data-key.ts';
import { BatchKeyScope } from '../../lib/adapters/jobs/key-scope.ts';
import { logger, metrics } from '../../lib/observability/telemetry.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { executeOperation } from '../../lib/runtime/execute-operation.ts';
import type { CiphertextSource } from '../../lib/sealed-key/ciphertext-source.ts';
import { SealedKey } from '../../lib/sealed-key/sealed-key.ts';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import { apiEvent, JPEG, lambdaContext, multipartBody } from '../support/api-events.ts';

// Issue 8, findings 2 and 4: whatever guards a secret fails closed, and every buffer that holds one is
// released on every path — including a throwing observer, logger or metrics.

// Every key KMS "decrypts" here, to check each was disposed.
const keys: SecureBuffer[] = [];
vi.mock('../../lib/kms/decrypt.ts', async (original) => ({
  ...(await original<typeof import('../../lib/kms/decrypt.ts')>()),
  decryptToSecureBuffer: async () => {
    const key = SecureBuffer.alloc(40);
    key.bytes().fill(0x4b); // 'K' x 40: a plausible header token
    keys.push(key);
    return { plaintext: key, keyId: 'arn:aws:kms:eu-west-1:000000000000:key/test' };
  },
}));

const SECRET = 'whsec_0123456789abcdefghijklmnopqrstuvwxyzABCD';
const DESTINATION = JSON.stringify({ uuid: '0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f', url: 'https://example.com/hook', secret_shared_key: SECRET });

const source: CiphertextSource = {
  get: async () => ({ ciphertext: new Uint8Array([1, 2, 3]), fingerprint: 'fp', versionId: 'v1' }),
  refresh: async () => ({ ciphertext: new Uint8Array([1, 2, 3]), fingerprint: 'fp', versionId: 'v1' }),
} as unknown as CiphertextSource;

/** Didit answering one fixed response; every answer it hands out is kept to check it was wiped. */
function fakeDidit(answer: () => Omit<DiditResponse, 'attempts' | 'rateLimit'>) {
  const answers: DiditResponse[] = [];
  const requests: DiditRequest[] = [];
  const didit = {
    send: async (_key: SecureBuffer, request: DiditRequest): Promise<DiditResponse> => {
      requests.push(request);
      const response = { ...answer(), attempts: 1, rateLimit: {} };
      answers.push(response);
      return response;
    },
  };
  return { didit: didit as unknown as DiditClient, answers, requests };
}

function dependencies(didit: DiditClient): GatewayDependencies {
  const encryptionContext = { service: 'didit-kms-gateway', stage: 'unit', purpose: 'didit-api-key' };
  return {
    config: {
      region: 'eu-west-1',
      service: 'didit-kms-gateway',
      stage: 'unit',
      sealedKeySecretId: 'didit/unit',
      kmsKeyId: 'arn:aws:kms:eu-west-1:000000000000:key/test',
      ciphertextTtlMs: 300_000,
      diditBaseUrl: 'https://didit.invalid',
      diditCa: undefined,
    },
    encryptionContext,
    sealedKey: new SealedKey({ kms: {} as KMSClient, source, encryptionContext }),
    didit,
    kmsHandler: undefined as never,
  } as GatewayDependencies;
}

const json = (body: string, contentType = 'application/json') => ({
  status: 200,
  contentType,
  contentDisposition: undefined,
  json: contentType.includes('json') ? (JSON.parse(body) as unknown) : undefined,
  body: Buffer.from(body),
});
const nonJson = (body: string, contentType: string) => ({ status: 200, contentType, contentDisposition: undefined, json: undefined, body: Buffer.from(body) });

const context = (deps: GatewayDependencies) => ({
  deps,
  signal: new AbortController().signal,
  deadline: Date.now() + 30_000,
  timeoutMs: 10_000,
  caller: 'unit',
  lambdaRequestId: 'req',
  sourceRequestId: undefined,
});

/** A valid request of `spec` (path parameters and a body where it needs one). */
function validFor(spec: OperationSpec, query: Record<string, string> = {}) {
  const params = spec.params === undefined ? undefined : { destinationId: '0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f' };
  const body = spec.body === 'json' ? (spec.route.method === 'PATCH' ? { label: 'x' } : { label: 'x', url: 'https://example.com/h', subscribed_events: ['status.updated'] }) : undefined;
  return validateStructured(spec, { params, query, body });
}

const zeroed = (buffer: Buffer) => buffer.every((b) => b === 0);
const GUARDED = Object.values(OPERATIONS as Record<string, OperationSpec>).filter((s) => s.redact !== undefined || s.postprocess !== undefined);

let logged: string[];
beforeEach(() => {
  keys.length = 0;
  logged = [];
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    vi.spyOn(logger, level).mockImplementation((...args: unknown[]) => {
      logged.push(JSON.stringify(args));
    });
  }
  vi.stubEnv('WEBHOOK_SECRET_SECRET_ID', 'didit/unit/webhook-secret');
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('entries that redact or seal fail closed (finding 2)', () => {
  it('are the webhook destination entries, and each needs a test here', () => {
    expect(GUARDED.map((s) => s.name).sort()).toEqual(['createWebhookDestination', 'getWebhookDestination', 'listWebhookDestinations', 'updateWebhookDestination']);
  });

  it('withhold a non-JSON, empty or non-object answer as DIDIT_BAD_RESPONSE, wipe it and log only that', async () => {
    const answers = [
      () => nonJson(DESTINATION, 'text/plain'),
      () => nonJson(DESTINATION, 'application/octet-stream'),
      () => nonJson('', 'application/json'),
      () => json(JSON.stringify(SECRET)),
    ];
    for (const spec of GUARDED) {
      for (const [i, answer] of answers.entries()) {
        for (const query of (spec.postprocess === undefined ? [{}] : [{}, { seal: 'true' }]) as Array<Record<string, string>>) {
          const didit = fakeDidit(answer);
          const error = await executeOperation(spec, validFor(spec, query), context(dependencies(didit.didit))).catch((e: unknown) => e);
          const label = `${spec.name} answer ${i} ${JSON.stringify(query)}`;
          expect(error, label).toBeInstanceOf(DiditResponseError);
          expect((error as DiditResponseError).statusCode, label).toBe(502);
          expect((error as DiditResponseError).publicCode, label).toBe('DIDIT_BAD_RESPONSE');
          expect(zeroed(didit.answers[0]!.body), label).toBe(true);
        }
      }
    }
    expect(logged.some((l) => l.includes('withheld'))).toBe(true);
    expect(logged.join('\n')).not.toContain(SECRET);
    expect(keys.every((k) => k.disposed)).toBe(true);
  });

  it('the route answers 502 with our code only, never the body as base64, with or without seal=true', async () => {
    for (const query of [undefined, { seal: 'true' }]) {
      const didit = fakeDidit(() => nonJson(DESTINATION, 'text/html'));
      const handler = createOperationHandler(OPERATIONS.createWebhookDestination, { dependencies: () => dependencies(didit.didit) });
      const event = apiEvent({
        method: 'POST',
        path: '/v1/webhook-destinations',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ label: 'x', url: 'https://example.com/h', subscribed_events: ['status.updated'] }),
        ...(query === undefined ? {} : { query }),
      });
      const res = (await handler(event, lambdaContext())) as APIGatewayProxyResult;
      expect(res.statusCode).toBe(502);
      expect(res.isBase64Encoded).toBeFalsy();
      expect(JSON.parse(res.body).error.code).toBe('DIDIT_BAD_RESPONSE');
      expect(res.body).not.toContain(SECRET);
      expect(res.body).not.toContain(Buffer.from(DESTINATION).toString('base64').slice(0, 40));
      expect(didit.requests).toHaveLength(1);
    }
  });

  it('a seal step that fails answers no 2xx and still wipes the raw answer', async () => {
    const didit = fakeDidit(() => json(JSON.stringify({ uuid: 'u', secret_shared_key: 'short' })));
    const spec = OPERATIONS.createWebhookDestination as OperationSpec;
    await expect(executeOperation(spec, validFor(spec, { seal: 'true' }), context(dependencies(didit.didit)))).rejects.toBeInstanceOf(WebhookSecretMissingError);
    expect(zeroed(didit.answers[0]!.body)).toBe(true);
  });

  it('a JSON answer is still redacted, and its raw bytes wiped', async () => {
    const didit = fakeDidit(() => json(DESTINATION));
    const spec = OPERATIONS.getWebhookDestination as OperationSpec;
    const { json: out } = await executeOperation(spec, validFor(spec), context(dependencies(didit.didit)));
    expect(out).toMatchObject({ secret_shared_key: '[redacted]' });
    expect(zeroed(didit.answers[0]!.body)).toBe(true);
  });
});

describe('every secret-holding buffer is released on every path (finding 4)', () => {
  const spec = OPERATIONS.getWebhookDestination as OperationSpec;

  it('a throwing metrics sink (the decrypted observer) does not leak the key', async () => {
    vi.spyOn(metrics, 'addMetric').mockImplementation(() => {
      throw new Error('metrics down');
    });
    const didit = fakeDidit(() => json(DESTINATION));
    await expect(executeOperation(spec, validFor(spec), context(dependencies(didit.didit)))).rejects.toThrow('metrics down');
    expect(keys).toHaveLength(1);
    expect(keys[0]!.disposed).toBe(true);
  });

  it('a throwing observer in SealedKey itself does not leak the key', async () => {
    const sealed = new SealedKey({ kms: {} as KMSClient, source, encryptionContext: { service: 's', stage: 'x', purpose: 'p' } });
    const fn = vi.fn(async () => 'never');
    await expect(
      sealed.withKey(fn, {
        observer: {
          decrypted: () => {
            throw new Error('observer down');
          },
        },
      }),
    ).rejects.toThrow('observer down');
    expect(fn).not.toHaveBeenCalled();
    expect(keys[0]!.disposed).toBe(true);
  });

  it('a throwing audit logger (the released observer) after Didit answered wipes the answer and the key', async () => {
    vi.spyOn(logger, 'info').mockImplementation(() => {
      throw new Error('logger down');
    });
    const didit = fakeDidit(() => json(DESTINATION));
    await expect(executeOperation(spec, validFor(spec), context(dependencies(didit.didit)))).rejects.toThrow('logger down');
    expect(keys[0]!.disposed).toBe(true);
    expect(zeroed(didit.answers[0]!.body)).toBe(true);
  });

  it('the same through a batch key scope: throwing metrics or audit, the key is zeroed on close', async () => {
    for (const broken of ['metrics', 'audit'] as const) {
      vi.restoreAllMocks();
      keys.length = 0;
      if (broken === 'metrics') {
        vi.spyOn(metrics, 'addMetric').mockImplementation(() => {
          throw new Error('metrics down');
        });
      } else {
        vi.spyOn(logger, 'info').mockImplementation(() => {
          throw new Error('logger down');
        });
      }
      const didit = fakeDidit(() => json(DESTINATION));
      const deps = dependencies(didit.didit);
      const scope = new BatchKeyScope(deps.sealedKey);
      await expect(executeOperation(spec, validFor(spec), { ...context(deps), useKey: scope.useKey }), broken).rejects.toThrow(/down/);
      await scope.close();
      expect(keys.every((k) => k.disposed), broken).toBe(true);
      for (const answer of didit.answers) expect(zeroed(answer.body), broken).toBe(true);
      await expect(scope.useKey(async () => 1, {}), 'no lease after close').rejects.toThrow(/after close/);
    }
  });
});

describe('ResultSealer keeps track of its data key (finding 4)', () => {
  /** Data keys handed out one by one, on the test's command. */
  function controlledKeys() {
    const made: SecureBuffer[] = [];
    const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
    const generate = ((_kms, _input, _options) =>
      new Promise((resolve, reject) => {
        pending.push({
          resolve: () => {
            const plaintext = SecureBuffer.alloc(32);
            made.push(plaintext);
            resolve({ plaintext, ciphertext: new Uint8Array([9, 9]), keyId: 'k' });
          },
          reject,
        });
      })) as typeof generateDataKeyToSecureBuffer;
    const crypto = new ResultCrypto({ kms: {} as KMSClient, encryptionContext: { service: 's', stage: 'x', purpose: 'p' }, keyId: 'k', generateDataKey: generate });
    return { sealer: crypto.sealer(), made, pending };
  }
  const flush = () => new Promise((resolve) => setImmediate(resolve));

  it('seal() racing dispose() fails plainly (no undefined key) and the key is zeroed', async () => {
    const { sealer, made, pending } = controlledKeys();
    const ready = sealer.ready();
    pending[0]!.resolve();
    await ready;
    const sealing = sealer.seal('job-1', { a: 1 });
    const disposing = sealer.dispose();
    await expect(sealing).rejects.toThrow(/after dispose/);
    await disposing;
    expect(made).toHaveLength(1);
    expect(made[0]!.disposed).toBe(true);
  });

  it('a failed attempt does not make dispose() lose a newer in-flight data key', async () => {
    const { sealer, made, pending } = controlledKeys();
    const first = sealer.ready();
    pending[0]!.reject(new Error('kms throttled'));
    await expect(first).rejects.toThrow('kms throttled');
    const second = sealer.ready();
    await flush();
    expect(pending).toHaveLength(2);
    pending[1]!.resolve();
    await second;
    await sealer.dispose();
    expect(made.every((k) => k.disposed)).toBe(true);
  });
});

describe('input past a limit never reaches Didit (finding 5)', () => {
  it('a multipart request with more parts than the limit: 413 and no Didit call', async () => {
    const didit = fakeDidit(() => json('{}'));
    const handler = createOperationHandler(OPERATIONS.idVerification, { dependencies: () => dependencies(didit.didit) });
    const front = ['front_image', { filename: 'f.jpg', type: 'image/jpeg', data: JPEG }] as const;
    const fields = Array.from({ length: 40 }, (_, i) => [`f${i}`, 'x'] as const);
    const { body, contentType } = multipartBody([front, ...fields]);
    const res = (await handler(apiEvent({ method: 'POST', path: '/v1/id-verification', headers: { 'content-type': contentType }, body }), lambdaContext())) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(didit.requests).toHaveLength(0);
    expect(keys).toHaveLength(0);
  });

  it('a prototype-named field in the JSON form of a multipart operation: 400, no Didit call, no KMS call (finding 3)', async () => {
    const didit = fakeDidit(() => json('{}'));
    const handler = createOperationHandler(OPERATIONS.idVerification, { dependencies: () => dependencies(didit.didit) });
    const event = apiEvent({ method: 'POST', path: '/v1/id-verification', headers: { 'content-type': 'application/json' }, body: '{"constructor":"AAAA"}' });
    const res = (await handler(event, lambdaContext())) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('VALIDATION_FAILED');
    expect(didit.requests).toHaveLength(0);
    expect(keys).toHaveLength(0);
    expect(logged.some((l) => l.includes('INTERNAL'))).toBe(false);
  });
});
