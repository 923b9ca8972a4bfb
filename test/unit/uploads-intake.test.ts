import type { Context, S3Event, S3EventRecord } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DiditRequest, DiditResponse } from '../../lib/didit/client.ts';
import {
  DiditBadRequestError,
  DiditNetworkError,
  DiditRateLimitedError,
  DiditServerError,
  DiditTimeoutError,
  DiditUnauthorizedError,
  KmsUnavailableError,
  SecretNotFoundError,
  SpendCapReachedError,
  ValidationError,
} from '../../lib/errors/index.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { WireError } from '../../lib/transport/errors.ts';
import { classifyFailure } from '../../lib/runtime/failure-class.ts';
import type { Once } from '../../lib/idempotency/outcome-store.ts';
import type { IntakeConfig } from '../../lib/adapters/uploads/config.ts';
import type { IntakeDependencies } from '../../lib/adapters/uploads/dependencies.ts';
import { ObjectTooLargeError, UploadRejectedError } from '../../lib/adapters/uploads/errors.ts';
import type { SpendGate } from '../../lib/spend-cap/gate.ts';
import { createUploadHandler, type UploadRecordResult } from '../../lib/adapters/uploads/intake.ts';
import { fileKey, manifestBytes, manifestKey, type Manifest, type UploadLocation } from '../../lib/adapters/uploads/layout.ts';
import type { ObjectHead } from '../../lib/adapters/uploads/objects.ts';
import type { UploadEventDetail, UploadOutcome } from '../../lib/adapters/uploads/outcome.ts';
import type { DedupeOutcome } from '../../lib/idempotency/delivery-dedupe.ts';
import type { PublishReceipt } from '../../lib/events/publisher.ts';
import { JPEG, PNG, lambdaContext } from '../support/api-events.ts';

// onUpload with in-memory stand-ins for S3, the idempotency table, EventBridge and Didit: every branch of
// "final or retry", and what is read, deleted and published. test/integration/uploads.test.ts runs the same
// paths on the emulators.

const BUCKET = 'didit-intake-unit';
const config: IntakeConfig = {
  region: 'us-east-1',
  bucket: BUCKET,
  forcePathStyle: false,
  idempotencyTable: 'unit-idempotency',
  outcomeTtlSeconds: 86_400,
  eventBusName: 'unit-bus',
};

interface StoredObject {
  body: Buffer;
  metadata: Record<string, string>;
  etag: string;
}

interface Fake {
  deps: IntakeDependencies;
  objects: Map<string, StoredObject>;
  reads: string[];
  heads: string[];
  published: UploadEventDetail[];
  diditCalls: DiditRequest[];
  /** What "Didit" does with the next call. */
  reply: (request: DiditRequest) => Promise<Partial<DiditResponse>>;
  outcomes: Map<string, UploadOutcome>;
}

let fake: Fake;
let etagCounter = 0;

function makeFake(): Fake {
  const outcomes = new Map<string, UploadOutcome>();
  const publishedKeys = new Map<string, PublishReceipt>();
  const f: Fake = {
    objects: new Map(),
    reads: [],
    heads: [],
    published: [],
    diditCalls: [],
    reply: async () => ({ status: 200, json: { request_id: '11111111-2222-4333-8444-555555555555', liveness: { status: 'Approved', warnings: [] } } }),
    outcomes,
    deps: undefined as unknown as IntakeDependencies,
  };
  const gateway = {
    config: { service: 'didit-kms-gateway', stage: 'unit', region: 'us-east-1', kmsKeyId: undefined },
    encryptionContext: { service: 'didit-kms-gateway', stage: 'unit', purpose: 'didit-api-key' },
    sealedKey: { withKey: async <T>(fn: (key: unknown) => Promise<T>) => fn(Buffer.from('dummy')) },
    didit: {
      send: async (_key: unknown, request: DiditRequest): Promise<DiditResponse> => {
        f.diditCalls.push(request);
        const answer = await f.reply(request);
        return { status: 200, contentType: 'application/json', contentDisposition: undefined, json: undefined, body: Buffer.alloc(0), rateLimit: {}, attempts: 1, ...answer };
      },
      close: () => undefined,
    },
  } as unknown as GatewayDependencies;
  f.deps = {
    config,
    gateway,
    objects: {
      head: async (key: string): Promise<ObjectHead | undefined> => {
        f.heads.push(key);
        const o = f.objects.get(key);
        return o === undefined ? undefined : { size: o.body.length, etag: `"${o.etag}"`, metadata: o.metadata };
      },
      read: async (key: string, options: { maxBytes: number; ifMatch?: string | undefined }) => {
        f.reads.push(key);
        const o = f.objects.get(key);
        if (o === undefined) return undefined;
        if (options.ifMatch !== undefined && options.ifMatch !== `"${o.etag}"`) throw Object.assign(new Error('PreconditionFailed'), { name: 'PreconditionFailed' });
        if (o.body.length > options.maxBytes) throw new ObjectTooLargeError('too large');
        return { bytes: Buffer.from(o.body), etag: `"${o.etag}"` };
      },
      deletePrefix: async (prefix: string) => {
        let n = 0;
        for (const key of [...f.objects.keys()]) if (key.startsWith(prefix)) n += f.objects.delete(key) ? 1 : 0;
        return n;
      },
    },
    outcomes: {
      once: async (key: string, _context: Context, work: () => Promise<UploadOutcome>): Promise<Once<UploadOutcome>> => {
        const stored = outcomes.get(key);
        if (stored !== undefined) return { outcome: stored, replayed: true };
        const outcome = await work();
        outcomes.set(key, outcome);
        return { outcome, replayed: false };
      },
    },
    published: {
      once: async (key: string, _context: Context, publish: () => Promise<PublishReceipt>): Promise<DedupeOutcome> => {
        const stored = publishedKeys.get(key);
        if (stored !== undefined) return { duplicate: true, receipt: stored };
        const receipt = await publish();
        publishedKeys.set(key, receipt);
        return { duplicate: false, receipt };
      },
    },
    publisher: {
      publish: async (detailType: string, detail: object): Promise<PublishReceipt> => {
        expect(detailType).toBe('didit.upload.completed');
        f.published.push(JSON.parse(JSON.stringify(detail)) as UploadEventDetail);
        return { eventId: `evt-${f.published.length}`, detailType };
      },
    },
  };
  return f;
}

beforeEach(() => {
  fake = makeFake();
});

const UPLOAD_ID = '6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f';
const liveness: UploadLocation = { operation: 'passiveLiveness', callerRef: 'selfie-1', uploadId: UPLOAD_ID };

function put(key: string, body: Buffer, uploadId = UPLOAD_ID): StoredObject {
  const o = { body, metadata: { 'caller-ref': 'x', 'upload-id': uploadId }, etag: `etag-${++etagCounter}` };
  fake.objects.set(key, o);
  return o;
}

/** Files + manifest as a client would upload them; returns the S3 event of the manifest. */
function upload(at: UploadLocation, files: Record<string, Buffer>, fields: Manifest['fields'] = {}, manifestOverride?: Partial<Manifest>): S3Event {
  const declared: Record<string, { size: number; contentType: string }> = {};
  for (const [field, body] of Object.entries(files)) {
    put(fileKey(at, field), body, at.uploadId);
    declared[field] = { size: body.length, contentType: 'image/jpeg' };
  }
  const manifest: Manifest = { version: 1, ...at, files: declared, fields, ...manifestOverride };
  const stored = put(manifestKey(at), manifestBytes(manifest), at.uploadId);
  return s3Event(manifestKey(at), stored);
}

function s3Event(key: string, o: { body: Buffer; etag: string }, bucket = BUCKET): S3Event {
  const record = {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: new Date().toISOString(),
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:AROAEXAMPLE:createUploadUrl' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'REQ1', 'x-amz-id-2': 'ID2' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'intake-manifests',
      bucket: { name: bucket, ownerIdentity: { principalId: 'OWNER' }, arn: `arn:aws:s3:::${bucket}` },
      object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), size: o.body.length, eTag: o.etag, sequencer: '0055AED6DCD90281E5' },
    },
  } as S3EventRecord;
  return { Records: [record] };
}

async function run(event: S3Event, context: Context = lambdaContext({ remainingMs: 60_000 })): Promise<UploadRecordResult[]> {
  const out = (await createUploadHandler({ dependencies: () => fake.deps })(event, context)) as { results: UploadRecordResult[] };
  return out.results;
}

const keysUnder = (at: UploadLocation) => [...fake.objects.keys()].filter((k) => k.includes(at.uploadId));

describe('onUpload: the daily spend cap', () => {
  it('over the cap: a final failed outcome with SPEND_CAP_REACHED, nothing sent to Didit, not retried', async () => {
    const gate: SpendGate = { reserve: async () => Promise.reject(new SpendCapReachedError({ retryAfterSeconds: 60 })) };
    fake.deps = { ...fake.deps, gateway: { ...fake.deps.gateway, spendGate: gate } };
    const [result] = await run(upload(liveness, { user_image: JPEG }));
    expect(result).toMatchObject({ status: 'failed', errorCode: 'SPEND_CAP_REACHED', published: true });
    expect(fake.diditCalls).toHaveLength(0);
    expect(fake.published).toEqual([expect.objectContaining({ status: 'failed', errorCode: 'SPEND_CAP_REACHED' })]);
  });
});

describe('onUpload: the happy path', () => {
  it('one Didit call with the file and the fields; objects deleted; one allow-listed event; the redelivery replays', async () => {
    const event = upload(liveness, { user_image: JPEG }, { face_liveness_score_decline_threshold: 40, rotate_image: false });
    fake.reply = async () => ({
      status: 200,
      json: { request_id: '11111111-2222-4333-8444-555555555555', liveness: { status: 'Declined', score: 12, warnings: [{ risk: 'LOW_LIVENESS_SCORE', short_description: 'Carmen' }] }, vendor_data: 'user-7' },
    });
    const [result] = await run(event);
    expect(result).toEqual({ key: manifestKey(liveness), status: 'succeeded', replayed: false, published: true, errorCode: undefined });
    expect(fake.diditCalls).toHaveLength(1);
    const call = fake.diditCalls[0]!;
    expect(call).toMatchObject({ method: 'POST', path: '/v3/passive-liveness/', idempotent: false });
    expect(call.body.kind).toBe('multipart');
    const fields = (call.body as unknown as { fields: Array<readonly [string, unknown]> }).fields;
    expect(fields.map(([name]) => name)).toEqual(['face_liveness_score_decline_threshold', 'rotate_image', 'user_image']);
    expect(fields[0]![1]).toBe('40');
    expect(fields[2]![1]).toMatchObject({ filename: 'upload.jpg', contentType: 'image/jpeg' });
    // The fetched bytes were zeroed after the call.
    expect((fields[2]![1] as { data: Buffer }).data.every((b) => b === 0)).toBe(true);
    expect(keysUnder(liveness)).toEqual([]);
    expect(fake.published).toEqual([
      {
        schemaVersion: 1,
        ...liveness,
        status: 'succeeded',
        decisionStatus: 'Declined',
        risks: ['LOW_LIVENESS_SCORE'],
        diditRequestId: '11111111-2222-4333-8444-555555555555',
      },
    ]);

    const [again] = await run(event);
    expect(again).toMatchObject({ status: 'succeeded', replayed: true, published: false });
    expect(fake.diditCalls).toHaveLength(1);
    expect(fake.published).toHaveLength(1);
  });

  it('reads nothing before every file passed HeadObject, and reads each with If-Match and its byte cap', async () => {
    const at = { ...liveness, operation: 'faceMatch' };
    const event = upload(at, { user_image: JPEG, ref_image: PNG });
    fake.reply = async () => ({ status: 200, json: { face_match: { status: 'Approved', warnings: [] } } });
    await run(event);
    expect(fake.heads).toEqual([fileKey(at, 'user_image'), fileKey(at, 'ref_image')]);
    expect(fake.reads).toEqual([manifestKey(at), fileKey(at, 'user_image'), fileKey(at, 'ref_image')]);
  });
});

describe('onUpload: final failures (stored, objects deleted, failed event, Didit not called again)', () => {
  const cases: Array<[string, () => S3Event, string, Array<{ field: string }> | undefined]> = [
    ['a file over its limit (HeadObject), never read', () => upload(liveness, { user_image: Buffer.concat([JPEG, Buffer.alloc(5 * 1024 * 1024)]) }), 'PAYLOAD_TOO_LARGE', [{ field: 'user_image' }]],
    ['a file that is not an image by its bytes', () => upload(liveness, { user_image: Buffer.from('GIF89a not allowed') }), 'VALIDATION_FAILED', [{ field: 'user_image' }]],
    ['a required file missing from the manifest', () => upload(liveness, {}), 'VALIDATION_FAILED', [{ field: 'user_image' }]],
    [
      'a listed file that was never uploaded',
      () => upload(liveness, {}, {}, { files: { user_image: { size: 10, contentType: 'image/jpeg' } } }),
      'VALIDATION_FAILED',
      [{ field: 'user_image' }],
    ],
    ['a file field sent as a text field', () => upload(liveness, { user_image: JPEG }, { user_image: 'aGVsbG8=' }), 'VALIDATION_FAILED', [{ field: 'user_image' }]],
    ['an invalid text field', () => upload(liveness, { user_image: JPEG }, { face_liveness_score_decline_threshold: 101 }), 'VALIDATION_FAILED', [{ field: 'face_liveness_score_decline_threshold' }]],
    ['a manifest that names another upload', () => upload(liveness, { user_image: JPEG }, {}, { callerRef: 'someone-else' }), 'MANIFEST_INVALID', [{ field: 'manifest.callerRef' }]],
    ['an operation without files', () => upload({ ...liveness, operation: 'amlScreening' }, {}, { full_name: 'Carmen Española' }), 'OPERATION_NOT_ALLOWED', [{ field: 'operation' }]],
  ];
  for (const [name, make, code, issues] of cases) {
    it(name, async () => {
      const event = make();
      const [result] = await run(event);
      expect(result).toMatchObject({ status: 'failed', errorCode: code, published: true });
      expect(fake.diditCalls).toEqual([]);
      expect(fake.published).toHaveLength(1);
      expect(fake.published[0]).toMatchObject({ status: 'failed', errorCode: code, ...(issues === undefined ? {} : { issues: issues.map((i) => expect.objectContaining(i)) }) });
      expect(JSON.stringify(fake.published)).not.toContain('Carmen');
      expect(fake.objects.size).toBe(0);
      const [again] = await run(event);
      expect(again).toMatchObject({ status: 'failed', replayed: true, published: false });
    });
  }

  it('the oversized file is not read', async () => {
    await run(upload(liveness, { user_image: Buffer.concat([JPEG, Buffer.alloc(5 * 1024 * 1024)]) }));
    expect(fake.reads).toEqual([manifestKey(liveness)]);
  });

  it('a file uploaded for another upload id is refused', async () => {
    const event = upload(liveness, { user_image: JPEG });
    fake.objects.get(fileKey(liveness, 'user_image'))!.metadata['upload-id'] = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const [result] = await run(event);
    expect(result).toMatchObject({ status: 'failed', errorCode: 'VALIDATION_FAILED' });
    expect(fake.published[0]!.issues).toEqual([{ field: 'user_image', message: 'was not uploaded for this upload (x-amz-meta-upload-id)' }]);
  });

  it('a manifest field named __proto__, constructor or prototype is refused, never dropped, and Didit is not called (issue 8, finding 3)', async () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const at = { ...liveness, uploadId: `aaaaaaaa-bbbb-4ccc-8ddd-${name === '__proto__' ? '1' : name === 'constructor' ? '2' : '3'}eeeeeeeeeee` };
      // JSON.parse makes the name an own key, as it is in the bytes a caller uploads.
      const event = upload(at, { user_image: JPEG }, JSON.parse(`{"${name}":"x"}`) as Manifest['fields']);
      expect(fake.objects.get(manifestKey(at))!.body.toString('utf8'), name).toContain(`"${name}":"x"`);
      const [result] = await run(event);
      expect(result, name).toMatchObject({ status: 'failed', errorCode: 'MANIFEST_INVALID' });
      expect(fake.diditCalls, name).toEqual([]);
    }
  });

  it('a manifest that is not JSON, or over 64 KB, is MANIFEST_INVALID without reading a file', async () => {
    const stored = put(manifestKey(liveness), Buffer.from('{"version":1,'));
    expect((await run(s3Event(manifestKey(liveness), stored)))[0]).toMatchObject({ status: 'failed', errorCode: 'MANIFEST_INVALID' });
    const big = { body: Buffer.alloc(64 * 1024 + 1, 0x20), etag: 'e-big' };
    const at2 = { ...liveness, uploadId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' };
    fake.objects.set(manifestKey(at2), { ...big, metadata: {} });
    expect((await run(s3Event(manifestKey(at2), big)))[0]).toMatchObject({ status: 'failed', errorCode: 'MANIFEST_INVALID' });
    expect(fake.heads).toEqual([]);
  });

  it('Didit refusing the input (400) and a paid call with no answer (timeout) are final', async () => {
    fake.reply = async () => {
      throw new DiditBadRequestError(['user_image'], { diditStatus: 400 });
    };
    expect((await run(upload(liveness, { user_image: JPEG })))[0]).toMatchObject({ status: 'failed', errorCode: 'DIDIT_REJECTED_INPUT' });
    const at2 = { ...liveness, callerRef: 'slow' };
    fake.reply = async () => {
      throw new DiditTimeoutError('Didit did not answer in time');
    };
    expect((await run(upload(at2, { user_image: JPEG })))[0]).toMatchObject({ status: 'failed', errorCode: 'DIDIT_TIMEOUT' });
    expect(fake.published.at(-1)).toMatchObject({ outcomeUnknown: true });
    expect(fake.diditCalls).toHaveLength(2);
  });
});

describe('onUpload: retryable faults (thrown, nothing stored, objects kept, nothing published)', () => {
  const faults: Array<[string, () => Error]> = [
    ['Didit 5xx', () => new DiditServerError('Didit server error 503', { diditStatus: 503 })],
    ['Didit 429', () => new DiditRateLimitedError('rate', { diditStatus: 429 })],
    ['a connection that failed before sending', () => new DiditNetworkError('refused', { cause: new WireError('refused', { phase: 'connect', reused: false, requestSent: false, responseStarted: false }) })],
    ['our key refused (configuration)', () => new DiditUnauthorizedError('401', { diditStatus: 401 })],
    ['KMS unavailable', () => new KmsUnavailableError('kms')],
    ['the sealed secret missing (configuration)', () => new SecretNotFoundError('secret')],
  ];
  for (const [name, error] of faults) {
    it(name, async () => {
      const event = upload(liveness, { user_image: JPEG });
      fake.reply = async () => {
        throw error();
      };
      await expect(run(event)).rejects.toBeInstanceOf(Error);
      expect(fake.outcomes.size).toBe(0);
      expect(keysUnder(liveness)).toHaveLength(2);
      expect(fake.published).toEqual([]);
      // The retry runs it again.
      fake.reply = async () => ({ status: 200, json: { liveness: { status: 'Approved', warnings: [] } } });
      expect((await run(event))[0]).toMatchObject({ status: 'succeeded', replayed: false });
      expect(fake.diditCalls).toHaveLength(2);
    });
  }

  it('a batch with one retryable record still finishes the others, then fails for the retry', async () => {
    const good = upload(liveness, { user_image: JPEG });
    const at2 = { ...liveness, callerRef: 'second', uploadId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' };
    const bad = upload(at2, { user_image: PNG });
    fake.reply = async (request) => {
      const file = (request.body as unknown as { fields: Array<readonly [string, unknown]> }).fields.find(([n]) => n === 'user_image')![1] as { contentType: string };
      if (file.contentType === 'image/png') throw new DiditServerError('503', { diditStatus: 503 });
      return { status: 200, json: { liveness: { status: 'Approved', warnings: [] } } };
    };
    await expect(run({ Records: [...bad.Records, ...good.Records] })).rejects.toMatchObject({ code: 'DIDIT_UNAVAILABLE' });
    expect(fake.published).toHaveLength(1);
    expect(keysUnder(liveness)).toEqual([]);
    expect(keysUnder(at2).length).toBeGreaterThan(0);
  });
});

describe('onUpload: events that are not ours', () => {
  it('another bucket, a key outside the layout, a manifest already gone: nothing called, nothing published', async () => {
    const stored = put(manifestKey(liveness), Buffer.from('{}'));
    expect((await run(s3Event(manifestKey(liveness), stored, 'someone-elses-bucket')))[0]).toMatchObject({ status: 'ignored' });
    expect((await run(s3Event('intake/passiveLiveness/manifest.json', stored)))[0]).toMatchObject({ status: 'ignored' });
    fake.objects.clear();
    expect((await run(s3Event(manifestKey(liveness), stored)))[0]).toMatchObject({ status: 'skipped', errorCode: 'MANIFEST_GONE', published: false });
    expect(await run({ Records: [] })).toEqual([]);
    expect(fake.diditCalls).toEqual([]);
    expect(fake.published).toEqual([]);
  });

  it('a manifest replaced since the event (another eTag) is skipped: its own event will run it', async () => {
    const event = upload(liveness, { user_image: JPEG });
    fake.objects.get(manifestKey(liveness))!.etag = 'newer';
    expect((await run(event))[0]).toMatchObject({ status: 'skipped', errorCode: 'MANIFEST_REPLACED' });
    expect(keysUnder(liveness)).toHaveLength(2);
  });
});

describe('classifyFailure', () => {
  const sent = new WireError('reset', { phase: 'wait', reused: true, requestSent: true, responseStarted: false });
  it.each([
    ['validation', new ValidationError([{ field: 'a', message: 'b' }]), false, 'final', false],
    ['upload rejected', new UploadRejectedError('PAYLOAD_TOO_LARGE', []), false, 'final', false],
    ['Didit 400', new DiditBadRequestError([], { diditStatus: 400 }), false, 'final', false],
    ['timeout, paid call', new DiditTimeoutError('t'), false, 'final', true],
    ['timeout, idempotent call', new DiditTimeoutError('t'), true, 'retry', true],
    ['reset after sending, paid call', new DiditNetworkError('n', { cause: sent }), false, 'final', true],
    ['unknown transport failure, paid call', new DiditNetworkError('n'), false, 'final', true],
    ['Didit 503', new DiditServerError('s', { diditStatus: 503 }), false, 'retry', false],
    ['a bug', new TypeError('x'), false, 'retry', false],
  ])('%s', (_name, error, idempotent, kind, outcomeUnknown) => {
    expect(classifyFailure(error, { idempotent })).toMatchObject({ kind, outcomeUnknown });
  });
});
