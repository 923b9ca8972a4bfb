import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, DeleteEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyResult, S3Event, S3EventRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { validateStructured } from '../../lib/validation/request.ts';
import { OPERATIONS, type OperationName } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { loadIntakeConfig, loadPresignConfig } from '../../lib/adapters/uploads/config.ts';
import { createIntakeDependencies, type IntakeDependencies } from '../../lib/adapters/uploads/dependencies.ts';
import { createUploadHandler } from '../../lib/adapters/uploads/intake.ts';
import { fileKey, MAX_MANIFEST_BYTES, manifestKey, manifestSchema, parseManifestKey } from '../../lib/adapters/uploads/layout.ts';
import { createPresignDependencies, createPresignHandler, type PresignDependencies } from '../../lib/adapters/uploads/presign.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { setUpGateway, type GatewayFixture } from '../support/gateway-fixture.ts';
import { contentType, fieldName, fileBytes, fileSpec, hostileJson, hostileString, invalidUtf8, ownMap, PROBE, protoKey, serialize, toNode, type FileSpec, type JsonNode } from './support/arbitraries.ts';
import { fuzz, type Violations } from './support/campaign.ts';
import { captureOutput, checkAnswer, checkLogs, secretForms, settle, trackRejections, type CapturedOutput, type RejectionTracker } from './support/invariants.ts';
import { countKmsCalls, type KmsCallCounter } from './support/kms-calls.ts';
import { SEEDS } from './support/operation-seeds.ts';

// S3 uploads through their real handlers: the upload URL request (`POST /v1/uploads`, presign), the
// manifest's S3 notification (onUpload) with files and manifests really written to the emulator's bucket,
// and S3 notification records of any shape.

const em = testEmulator();
const STAGE = 'fuzz-uploads';
const suffix = randomBytes(4).toString('hex');
const names = { bucket: `didit-fuzz-intake-${suffix}`, table: `didit-fuzz-uploads-${suffix}`, bus: `didit-fuzz-uploads-${suffix}` };
const UNLIMITED = 1_000_000_000;
const FILE_OPERATIONS = (Object.keys(OPERATIONS) as OperationName[]).filter((n) => OPERATIONS[n].body === 'multipart');

let gateway: GatewayFixture;
let s3: S3Client;
let kmsClient: KMSClient;
let dynamodb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let uploadKeyArn: string;
let intake: IntakeDependencies;
let presignDeps: PresignDependencies;
let output: CapturedOutput;
let rejections: RejectionTracker;
let kms: KmsCallCounter;
let keyForms: string[];

beforeAll(async () => {
  const dynamoEndpoint = testDynamoDbEndpoint();
  gateway = await setUpGateway(STAGE, { sandbox: { rateLimits: { decision: UNLIMITED, create: UNLIMITED, pdf: UNLIMITED, other: UNLIMITED } } });
  process.env['AWS_ENDPOINT_URL_DYNAMODB'] = dynamoEndpoint;
  const clientConfig = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });
  s3 = new S3Client({ ...clientConfig(em.endpoint), forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  kmsClient = new KMSClient(clientConfig(em.endpoint));
  dynamodb = new DynamoDBClient(clientConfig(dynamoEndpoint));
  eventBridge = new EventBridgeClient(clientConfig(em.endpoint));
  uploadKeyArn = (await kmsClient.send(new CreateKeyCommand({ Description: `didit fuzz intake ${suffix}` }))).KeyMetadata!.Arn!;
  await s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  await createIdempotencyTable(dynamodb, names.table);
  await eventBridge.send(new CreateEventBusCommand({ Name: names.bus }));
  const env = {
    AWS_REGION: em.region,
    UPLOAD_BUCKET: names.bucket,
    UPLOAD_KMS_KEY_ID: uploadKeyArn,
    S3_FORCE_PATH_STYLE: 'true',
    IDEMPOTENCY_TABLE: names.table,
    EVENT_BUS_NAME: names.bus,
  };
  intake = createIntakeDependencies(loadIntakeConfig(env), { s3, dynamodb, eventBridge, gateway: gateway.deps });
  presignDeps = createPresignDependencies(loadPresignConfig(env), s3);
  keyForms = secretForms(gateway.sandbox.apiKey);
  kms = countKmsCalls();
  output = captureOutput();
  rejections = trackRejections();
});

afterAll(async () => {
  output?.restore();
  rejections?.stop();
  kms?.restore();
  await eventBridge?.send(new DeleteEventBusCommand({ Name: names.bus })).catch(() => undefined);
  if (dynamodb) await deleteIdempotencyTable(dynamodb, names.table).catch(() => undefined);
  if (s3) {
    for (;;) {
      const left = ((await s3.send(new ListObjectsV2Command({ Bucket: names.bucket })).catch(() => undefined))?.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (left.length === 0) break;
      await s3.send(new DeleteObjectsCommand({ Bucket: names.bucket, Delete: { Objects: left } })).catch(() => undefined);
    }
    await s3.send(new DeleteBucketCommand({ Bucket: names.bucket })).catch(() => undefined);
  }
  if (uploadKeyArn) await kmsClient.send(new ScheduleKeyDeletionCommand({ KeyId: uploadKeyArn, PendingWindowInDays: 7 })).catch(() => undefined);
  for (const c of [s3, kmsClient, dynamodb, eventBridge]) c?.destroy();
  await gateway?.close();
});

function finish(violations: Violations, context: string): Violations {
  const lines = output.take();
  violations.push(...checkLogs(lines, { 'Didit API key': keyForms }));
  violations.push(...rejections.take());
  if (violations.length > 0) {
    const notes = lines.filter((l) => l.includes('"level":"ERROR"') || l.includes('"level":"WARN"')).map((l) => l.slice(0, 300));
    violations.push(`(${context}${notes.length > 0 ? `; logs: ${notes.join(' | ').slice(0, 1_000)}` : ''})`);
  }
  return violations;
}

const operationName: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...FILE_OPERATIONS) },
  { weight: 1, arbitrary: fc.constantFrom('createSession', 'amlScreening', 'nope', '') },
  { weight: 1, arbitrary: protoKey },
);

/** The text fields of an operation's seed, edited (values stay JSON scalars mostly). */
function fieldsFor(operation: string): fc.Arbitrary<JsonNode> {
  const seed = Object.hasOwn(SEEDS, operation) ? SEEDS[operation as OperationName] : {};
  const known = Object.keys(seed.body ?? {});
  const base = Object.entries(seed.body ?? {}).map(([k, v]) => [k, toNode(v)] as const);
  return fc
    .array(fc.tuple(fieldName([...known, ...Object.keys((Object.hasOwn(OPERATIONS, operation) ? (OPERATIONS[operation as OperationName] as OperationSpec).files : undefined) ?? {})]), fc.oneof(hostileString, fc.constantFrom<JsonNode>('AAAA', true, { $num: '18' }, null), hostileJson(known, 1))), { maxLength: 2 })
    .map((edits) => ({ $obj: [...base, ...edits] }));
}

interface DeclaredFile {
  readonly field: string;
  readonly contentType: string;
  /** 'actual' declares the uploaded size. */
  readonly size: 'actual' | number;
  readonly file: FileSpec | null;
}

function declaredFiles(operation: string): fc.Arbitrary<DeclaredFile[]> {
  const spec: OperationSpec | undefined = Object.hasOwn(OPERATIONS, operation) ? OPERATIONS[operation as OperationName] : undefined;
  const fields = Object.keys(spec?.files ?? {});
  const valid: fc.Arbitrary<DeclaredFile> = fc.record({
    field: fields.length > 0 ? fc.constantFrom(...fields) : fc.constant('user_image'),
    contentType: fc.constantFrom('image/jpeg', 'image/jpeg', 'image/png', 'application/pdf'),
    size: fc.oneof({ weight: 6, arbitrary: fc.constant('actual' as const) }, fc.constantFrom(0, 1, -1, 1.5, 2 ** 53, 50 * 1024 * 1024)),
    file: fc.oneof({ weight: 8, arbitrary: fileSpec }, fc.constant(null)),
  });
  const hostile: fc.Arbitrary<DeclaredFile> = fc.record({
    field: fieldName(fields),
    contentType: fc.oneof(fc.constantFrom('image/jpeg', '', 'x'.repeat(200)), hostileString),
    size: fc.constant('actual' as const),
    file: fc.option(fileSpec, { freq: 4 }),
  });
  const required = fields.filter((f) => spec?.files?.[f]?.required === true);
  const seeded: DeclaredFile[] = required.map((field) => ({ field, contentType: field === 'document' ? 'application/pdf' : 'image/jpeg', size: 'actual', file: { $file: field === 'document' ? 'pdf' : 'jpeg', size: 2_048, truncate: 0 } }));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(seeded) },
    { weight: 4, arbitrary: fc.tuple(fc.subarray(seeded), fc.array(fc.oneof({ weight: 3, arbitrary: valid }, hostile), { maxLength: 3 })).map(([a, b]) => [...a, ...b]) },
  );
}

// ---- upload URL requests (presign) --------------------------------------------------------------------

interface PresignCase {
  readonly operation: string;
  readonly callerRef: string;
  readonly files: readonly DeclaredFile[];
  readonly fields: JsonNode;
  readonly top: ReadonlyArray<readonly [string, JsonNode]>;
  readonly body: 'json' | 'none' | { readonly bad: readonly number[] } | 'oversized';
  readonly contentType: string | undefined;
}

const callerRef = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('order-1234', 'fuzz.ref_1') }, hostileString, protoKey, fc.constantFrom('', 'a'.repeat(129), '../x', 'a/b'));

const presignCase: fc.Arbitrary<PresignCase> = operationName.chain((operation) =>
  fc.record({
    operation: fc.constant(operation),
    callerRef,
    files: declaredFiles(operation),
    fields: fieldsFor(operation),
    top: fc.oneof({ weight: 5, arbitrary: fc.constant([]) }, fc.array(fc.tuple(fieldName(['operation', 'callerRef', 'files', 'fields']), hostileJson(['field', 'size', 'contentType'], 2)), { maxLength: 2 })),
    body: fc.oneof({ weight: 8, arbitrary: fc.constant('json' as const) }, fc.constantFrom('none' as const, 'oversized' as const), invalidUtf8.map((bad) => ({ bad }))),
    contentType: contentType('application/json'),
  }),
);

function presignDocument(c: PresignCase): JsonNode {
  const files: JsonNode = {
    $arr: c.files.map((f) => ({
      $obj: [
        ['field', f.field],
        ['contentType', f.contentType],
        ['size', { $num: String(f.size === 'actual' ? (f.file === null ? 2_048 : fileBytes(f.file).length) : f.size) }],
      ],
    })),
  };
  const entries: Array<readonly [string, JsonNode]> = [
    ['operation', c.operation],
    ['callerRef', c.callerRef],
    ['files', files],
    ['fields', c.fields],
  ];
  for (const [k, v] of c.top) {
    const at = entries.findIndex(([n]) => n === k);
    if (at >= 0) entries[at] = [k, v];
    else entries.push([k, v]);
  }
  return { $obj: entries };
}

const presign = createPresignHandler({ dependencies: () => presignDeps });

async function runPresign(c: PresignCase): Promise<Violations> {
  let bytes: Buffer | undefined = Buffer.from(serialize(presignDocument(c)), 'utf8');
  if (c.body === 'none') bytes = undefined;
  else if (c.body === 'oversized') bytes = Buffer.alloc(3 * 1024 * 1024, 0x20);
  else if (typeof c.body === 'object') bytes = Buffer.concat([bytes.subarray(0, 5), Buffer.from(c.body.bad), bytes.subarray(5)]);
  const base64 = typeof c.body === 'object';
  const event = apiEvent({ method: 'POST', path: '/v1/uploads', ...(bytes === undefined ? {} : { body: base64 ? bytes : bytes.toString('utf8'), base64 }) });
  event.headers = ownMap(c.contentType === undefined ? [] : [['content-type', c.contentType]]);
  const calls = gateway.sandbox.received.length;
  const decrypts = kms.of('Decrypt');
  const outcome = await settle(() => presign(event, lambdaContext()) as Promise<APIGatewayProxyResult>);
  const violations: Violations = [];
  if (outcome.hung) violations.push('[hang] the handler did not settle within 30 s');
  if ('threw' in outcome) violations.push(`[threw] the handler threw instead of answering: ${String(outcome.threw).slice(0, 200)}`);
  const res = outcome.value;
  violations.push(...checkAnswer(res, { probes: [PROBE], secrets: { 'Didit API key': keyForms } }));
  if (gateway.sandbox.received.length !== calls) violations.push('[didit-call] an upload URL request called Didit');
  if (kms.of('Decrypt') !== decrypts) violations.push('[kms] an upload URL request decrypted with KMS (it never needs the key)');
  return finish(violations, `answer: ${res?.statusCode} ${res?.body.slice(0, 300)}`);
}

// ---- manifests (onUpload on a manifest really written to S3) ----------------------------------------

interface ManifestCase {
  readonly operation: string;
  readonly files: readonly DeclaredFile[];
  readonly fields: JsonNode;
  readonly top: ReadonlyArray<readonly [string, JsonNode]>;
  readonly damage: 'none' | 'cut' | 'bytes' | 'oversized' | 'empty' | 'other-upload-id' | 'version-2';
  readonly bad: readonly number[];
  /** Upload the files with another upload's metadata. */
  readonly foreignFiles: boolean;
}

const manifestCase: fc.Arbitrary<ManifestCase> = fc.constantFrom(...FILE_OPERATIONS).chain((operation) =>
  fc.record({
    operation: fc.constant(operation),
    files: declaredFiles(operation),
    fields: fieldsFor(operation),
    top: fc.oneof({ weight: 6, arbitrary: fc.constant([]) }, fc.array(fc.tuple(fieldName(['version', 'operation', 'callerRef', 'uploadId', 'files', 'fields']), hostileJson(['size', 'contentType'], 2)), { maxLength: 2 })),
    damage: fc.oneof({ weight: 10, arbitrary: fc.constant('none' as const) }, fc.constantFrom('cut' as const, 'bytes' as const, 'oversized' as const, 'empty' as const, 'other-upload-id' as const, 'version-2' as const)),
    bad: invalidUtf8,
    foreignFiles: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, fc.constant(true)),
  }),
);

const onUpload = createUploadHandler({ dependencies: () => intake });

async function put(key: string, body: Buffer, uploadId: string, type = 'application/octet-stream'): Promise<string | undefined> {
  const out = await s3.send(
    new PutObjectCommand({ Bucket: names.bucket, Key: key, Body: body, ContentType: type, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: uploadKeyArn, Metadata: { 'caller-ref': 'fuzz', 'upload-id': uploadId } }),
  );
  return out.ETag;
}

function s3Record(key: string, size: number, eTag: string | undefined): S3EventRecord {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: em.region,
    eventTime: new Date().toISOString(),
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:AIDAFUZZ' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': randomUUID(), 'x-amz-id-2': 'fuzz' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'intake-manifests',
      bucket: { name: names.bucket, ownerIdentity: { principalId: 'fuzz' }, arn: `arn:aws:s3:::${names.bucket}` },
      object: { key: encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+'), size, eTag: (eTag ?? '').replace(/"/g, ''), sequencer: '0055AED6DCD90281E5' },
    },
  };
}

/** Whether the oracle sees an upload Didit may be called for (the manifest and files pass every check). */
function mayCall(manifestText: Buffer, uploaded: Readonly<Record<string, Buffer>>, c: ManifestCase, uploadId: string): boolean {
  try {
    if (manifestText.length === 0 || manifestText.length > MAX_MANIFEST_BYTES || c.foreignFiles) return false;
    const parsed = manifestSchema.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestText)));
    if (!parsed.success || parsed.data.uploadId !== uploadId || parsed.data.operation !== c.operation) return false;
    const spec = OPERATIONS[c.operation as OperationName];
    const files: Record<string, Uint8Array> = {};
    for (const [field, declared] of Object.entries(parsed.data.files)) {
      const bytes = uploaded[field];
      if (bytes === undefined || bytes.length !== declared.size) return false;
      files[field] = bytes;
    }
    validateStructured(spec, { body: parsed.data.fields, files });
    return true;
  } catch {
    return false;
  }
}

async function runManifest(c: ManifestCase): Promise<Violations> {
  const uploadId = randomUUID();
  const at = { operation: c.operation, callerRef: 'fuzz-ref', uploadId };
  const uploaded: Record<string, Buffer> = {};
  for (const f of c.files) {
    if (f.file === null || !/^[a-z_]{1,64}$/.test(f.field) || uploaded[f.field] !== undefined) continue;
    const bytes = fileBytes(f.file);
    if (bytes.length > 6 * 1024 * 1024) continue;
    uploaded[f.field] = bytes;
    await put(fileKey(at, f.field), bytes, c.foreignFiles ? randomUUID() : uploadId, /^[\x21-\x7e]{1,100}$/.test(f.contentType) ? f.contentType : 'application/octet-stream');
  }
  const filesNode: JsonNode = {
    $obj: c.files.map((f) => [f.field, { $obj: [['size', { $num: String(f.size === 'actual' ? (uploaded[f.field]?.length ?? 2_048) : f.size) }], ['contentType', f.contentType]] }] as const),
  };
  const entries: Array<readonly [string, JsonNode]> = [
    ['version', { $num: c.damage === 'version-2' ? '2' : '1' }],
    ['operation', c.operation],
    ['callerRef', at.callerRef],
    ['uploadId', c.damage === 'other-upload-id' ? randomUUID() : uploadId],
    ['files', filesNode],
    ['fields', c.fields],
  ];
  for (const [k, v] of c.top) {
    const i = entries.findIndex(([n]) => n === k);
    if (i >= 0) entries[i] = [k, v];
    else entries.push([k, v]);
  }
  let manifest = Buffer.from(serialize({ $obj: entries }), 'utf8');
  if (c.damage === 'cut') manifest = manifest.subarray(0, Math.floor(manifest.length / 2));
  if (c.damage === 'bytes') manifest = Buffer.concat([manifest.subarray(0, 10), Buffer.from(c.bad), manifest.subarray(10)]);
  if (c.damage === 'oversized') manifest = Buffer.concat([manifest.subarray(0, manifest.length - 1), Buffer.from(`,"pad":"${'x'.repeat(MAX_MANIFEST_BYTES)}"}`)]);
  if (c.damage === 'empty') manifest = Buffer.alloc(0);
  const key = manifestKey(at);
  const eTag = await put(key, manifest, uploadId, 'application/json');

  const expected = mayCall(manifest, uploaded, c, uploadId);
  const calls = gateway.sandbox.received.length;
  const outcome = await settle(() => onUpload({ Records: [s3Record(key, manifest.length, eTag)] }, lambdaContext({ remainingMs: 60_000 })) as Promise<unknown>, 60_000);
  const moved = gateway.sandbox.received.length - calls;
  const violations: Violations = [];
  if (outcome.hung) violations.push('[hang] the handler did not settle within 60 s');
  if (!expected && moved > 0) violations.push(`[didit-call] ${moved} Didit call(s) for an upload whose manifest or files fail the checks`);
  // A bad upload is a failed outcome (published once): throwing makes Lambda retry it, in vain, twice more.
  if (!expected && 'threw' in outcome) violations.push(`[upload-retry-invalid] the handler threw (Lambda retries) for an invalid upload: ${describeError(outcome.threw)}`);
  if ('threw' in outcome && !(outcome.threw instanceof Error && 'code' in outcome.threw)) violations.push(`[threw] the handler threw an untyped error: ${describeError(outcome.threw)}`);
  return finish(violations, `Didit calls: ${moved}; oracle: ${expected ? 'valid' : 'invalid'}; outcome: ${JSON.stringify(outcome.value ?? null).slice(0, 300)}`);
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : String(error).slice(0, 200);
}

// ---- S3 notification records of any shape -----------------------------------------------------------

const keyText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('intake/idVerification/ref/00000000-0000-4000-8000-000000000000/manifest.json', 'intake/constructor/ref/00000000-0000-4000-8000-000000000000/manifest.json', 'intake/__proto__/x/y/manifest.json', 'other/file', '', '%zz', 'intake/idVerification/ref/abc/manifest.json', 'intake//manifest.json'),
  fc.tuple(fc.oneof(fc.constantFrom(...FILE_OPERATIONS), protoKey), fc.oneof(callerRef, fc.constant('ref')), fc.oneof(fc.uuid(), hostileString)).map(([op, ref, id]) => `intake/${op}/${ref}/${id}/manifest.json`),
  hostileString,
);

const notification: fc.Arbitrary<JsonNode> = fc
  .array(
    fc.record({
      bucket: fc.oneof({ weight: 4, arbitrary: fc.constant('BUCKET') }, hostileString, protoKey),
      key: keyText,
      encode: fc.boolean(),
      size: fc.oneof(fc.constantFrom<JsonNode>(null, 'x', { $num: '-1' }, { $num: '1e999' }), fc.nat().map((n) => ({ $num: String(n) }))),
      drop: fc.constantFrom('none', 'none', 'none', 's3', 'object', 'key', 'bucket'),
      extra: fc.array(fc.tuple(fieldName(['s3', 'eventName', 'eventSource']), hostileJson([], 1)), { maxLength: 1 }),
    }),
    { maxLength: 3 },
  )
  .map((records) => ({
    $obj: [
      [
        'Records',
        {
          $arr: records.map((r): JsonNode => {
            const key = r.encode ? encodeKey(r.key) : r.key;
            const object: JsonNode = { $obj: r.drop === 'key' ? [['size', r.size]] : [['key', key], ['size', r.size], ['eTag', 'abc']] };
            const bucket: JsonNode = { $obj: [['name', r.bucket]] };
            const s3Entries: Array<readonly [string, JsonNode]> = [];
            if (r.drop !== 'bucket') s3Entries.push(['bucket', bucket]);
            if (r.drop !== 'object') s3Entries.push(['object', object]);
            const entries: Array<readonly [string, JsonNode]> = [['eventSource', 'aws:s3'], ['eventName', 'ObjectCreated:Put'], ...r.extra];
            if (r.drop !== 's3') entries.push(['s3', { $obj: s3Entries }]);
            return { $obj: entries };
          }),
        },
      ],
    ],
  }));

/** S3's URL encoding of a key; a key with lone surrogates cannot be encoded and is sent as is. */
function encodeKey(key: string): string {
  try {
    return encodeURIComponent(key).replace(/%2F/g, '/');
  } catch {
    return key;
  }
}

async function runNotification(node: JsonNode): Promise<Violations> {
  const event = JSON.parse(serialize(node).replace(/"BUCKET"/g, JSON.stringify(names.bucket))) as S3Event;
  const calls = gateway.sandbox.received.length;
  const outcome = await settle(() => onUpload(event, lambdaContext({ remainingMs: 60_000 })) as Promise<unknown>, 60_000);
  const violations: Violations = [];
  if (outcome.hung) violations.push('[hang] the handler did not settle within 60 s');
  if (gateway.sandbox.received.length !== calls) violations.push('[didit-call] an S3 notification without an upload called Didit');
  if ('threw' in outcome && !(outcome.threw instanceof Error && 'code' in outcome.threw)) violations.push(`[threw] the handler threw an untyped error: ${describeError(outcome.threw)}`);
  void parseManifestKey;
  return finish(violations, `outcome: ${'threw' in outcome ? describeError(outcome.threw) : JSON.stringify(outcome.value ?? null).slice(0, 300)}`);
}

describe('fuzz: S3 uploads', () => {
  it('upload URL request', async () => {
    await fuzz('upload URL request (presign)', presignCase, runPresign);
  });
  it('upload manifest', async () => {
    await fuzz('upload manifest (onUpload)', manifestCase, runManifest);
  });
  it('S3 notification', async () => {
    await fuzz('S3 notification records', notification, runNotification);
  });
});
