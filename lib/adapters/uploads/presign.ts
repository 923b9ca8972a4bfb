import { createHash } from 'node:crypto';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import * as z from 'zod';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError, type FieldIssue } from '../../errors/index.ts';
import { errorResponder } from '../../responses/error-responder.ts';
import { jsonResponse } from '../../responses/json-response.ts';
import { hasReservedKey, RESERVED_NAME_MESSAGE } from '../../validation/reserved-names.ts';
import { validateStructured } from '../../validation/request.ts';
import { logger, metrics, MetricUnit } from '../../observability/telemetry.ts';
import { MIME } from '../../operations/file-types.ts';
import type { OperationSpec } from '../../operations/types.ts';
import { sharedPresignDependencies, type PresignDependencies } from './dependencies.ts';
import { uploadOperation, uploadOperationNames } from './operations.ts';
import {
  callerRef,
  fileKey,
  manifestBytes,
  manifestKey,
  MANIFEST_VERSION,
  MAX_MANIFEST_BYTES,
  METADATA,
  type FieldValue,
  type Manifest,
  type UploadLocation,
} from './layout.ts';

/** The composition root moved to ./dependencies.ts (with the intake's); re-exported for existing importers. */
export { createPresignDependencies, sharedPresignDependencies, type PresignDependencies } from './dependencies.ts';

/** The route (IAM auth): `POST /v1/uploads`. */
export const UPLOAD_ROUTE = Object.freeze({ method: 'POST', path: '/v1/uploads' });

const MAX_BODY_BYTES = MAX_MANIFEST_BYTES + 16 * 1024;

/** `POST /v1/uploads` body. */
export const uploadRequestSchema = z.strictObject({
  operation: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') }).max(64),
  callerRef,
  files: z
    .array(
      z.strictObject({
        field: z.string().max(64),
        contentType: z.string().max(128),
        size: z.number().int('must be a whole number of bytes').min(1, 'must be at least 1 byte'),
      }),
    )
    .min(1, 'must list at least one file'),
  fields: z.record(z.string().max(64), z.unknown()).optional(),
});

export type UploadRequest = z.infer<typeof uploadRequestSchema>;

/** One presigned request the client makes: method, URL and the exact headers to send (all are signed). */
export interface PresignedPut {
  readonly method: 'PUT';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface UploadTicket {
  readonly uploadId: string;
  readonly operation: string;
  readonly callerRef: string;
  readonly bucket: string;
  readonly expiresAt: string;
  readonly files: ReadonlyArray<PresignedPut & { readonly field: string; readonly key: string }>;
  /** PUT it LAST, with exactly `body`: its arrival starts the operation. */
  readonly manifest: PresignedPut & { readonly key: string; readonly body: string };
}

/**
 * Checks an upload request against the operation's table entry, without the bytes: the operation takes
 * files, each field is one of its file fields (once), the declared content type is one its rule allows,
 * the size within its limit, every required file is there, and the text fields pass the operation's schema
 * (through validateStructured, the one validation path; only "file is required" is left to the trigger).
 *
 * @throws {ValidationError} VALIDATION_FAILED (400) listing every issue: the request's shape, an operation that
 *   takes no files, an unknown or repeated file field, a content type or size the rule refuses, a missing
 *   required file, a text field the operation's schema refuses, a reserved key (`__proto__`, …).
 */
export function checkUploadRequest(body: unknown): { spec: OperationSpec; request: UploadRequest } {
  // zod drops a `__proto__` key silently; refuse all three names outright, as every other entry point does.
  if (hasReservedKey(body)) throw new ValidationError([{ field: 'body', message: RESERVED_NAME_MESSAGE }]);
  const parsed = uploadRequestSchema.safeParse(body, { reportInput: true });
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap((issue): FieldIssue[] => {
      const at = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ field: at === '' ? k : `${at}.${k}`, message: 'is not a known field' }));
      if (issue.code === 'invalid_type' && issue.input === undefined) return [{ field: at || 'body', message: 'is required' }];
      return [{ field: at || 'body', message: issue.message }];
    });
    throw new ValidationError(issues);
  }
  const request = parsed.data;
  const spec = uploadOperation(request.operation);
  if (spec === undefined) throw new ValidationError([{ field: 'operation', message: `must be one of: ${uploadOperationNames().join(', ')}` }]);
  const rules = spec.files ?? {};
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  for (const [i, file] of request.files.entries()) {
    const at = `files.${i}`;
    const rule = Object.hasOwn(rules, file.field) ? rules[file.field] : undefined;
    if (rule === undefined) {
      issues.push({ field: `${at}.field`, message: `must be one of: ${Object.keys(rules).join(', ')}` });
      continue;
    }
    if (seen.has(file.field)) {
      issues.push({ field: `${at}.field`, message: 'is given more than once' });
      continue;
    }
    seen.add(file.field);
    const allowed = rule.types.map((t) => MIME[t]);
    if (!allowed.includes(mediaType(file.contentType))) issues.push({ field: `${at}.contentType`, message: `must be one of: ${allowed.join(', ')}` });
    if (file.size > rule.maxBytes) issues.push({ field: `${at}.size`, message: `must be at most ${rule.maxBytes} bytes` });
  }
  for (const [name, rule] of Object.entries(rules)) {
    if (rule.required && !seen.has(name)) issues.push({ field: 'files', message: `must include ${name}` });
  }
  const fields = request.fields ?? {};
  for (const name of Object.keys(fields)) {
    if (Object.hasOwn(rules, name)) issues.push({ field: `fields.${name}`, message: 'is a file: list it in files' });
  }
  if (!issues.some((i) => i.field.startsWith('fields.'))) {
    try {
      validateStructured(spec, { body: fields });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      for (const issue of err.issues) {
        // The files are not here yet: their checks are the trigger's (sizes and types above are declared).
        if (Object.hasOwn(rules, issue.field)) continue;
        issues.push({ field: `fields.${issue.field}`, message: issue.message });
      }
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return { spec, request };
}

/**
 * Presigned PUTs for the files and the manifest of one upload; nothing is written to S3 here.
 *
 * @throws {PayloadTooLargeError} PAYLOAD_TOO_LARGE (413) when the manifest would exceed `MAX_MANIFEST_BYTES`.
 */
export async function presignUpload(deps: PresignDependencies, request: UploadRequest): Promise<UploadTicket> {
  const { config, s3 } = deps;
  const uploadId = deps.newUploadId();
  const at: UploadLocation = { operation: request.operation, callerRef: request.callerRef, uploadId };
  const expiresIn = config.urlExpiresSeconds;
  const common = {
    'x-amz-server-side-encryption': 'aws:kms',
    'x-amz-server-side-encryption-aws-kms-key-id': config.kmsKeyId,
    [`x-amz-meta-${METADATA.callerRef}`]: request.callerRef,
    [`x-amz-meta-${METADATA.uploadId}`]: uploadId,
  };
  const sign = async (key: string, contentType: string, length: number, md5?: string): Promise<PresignedPut> => {
    const command = new PutObjectCommand({
      Bucket: config.bucket,
      Key: key,
      ContentType: contentType,
      ContentLength: length,
      ContentMD5: md5,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: config.kmsKeyId,
      Metadata: { [METADATA.callerRef]: request.callerRef, [METADATA.uploadId]: uploadId },
    });
    const url = await getSignedUrl(s3, command, {
      expiresIn,
      // Bound into the signature: S3 refuses the PUT unless these are sent with these values.
      signableHeaders: new Set(['content-type', 'content-length', ...(md5 === undefined ? [] : ['content-md5'])]),
      // Kept as headers (not moved into the query string): the URL carries nothing but the signature parts.
      unhoistableHeaders: new Set(Object.keys(common)),
    });
    const headers: Record<string, string> = { 'content-type': contentType, 'content-length': String(length), ...common };
    if (md5 !== undefined) headers['content-md5'] = md5;
    return { method: 'PUT', url, headers };
  };

  const files = [];
  const declared: Record<string, { size: number; contentType: string }> = {};
  for (const file of request.files) {
    const key = fileKey(at, file.field);
    const contentType = mediaType(file.contentType);
    declared[file.field] = { size: file.size, contentType };
    files.push({ field: file.field, key, ...(await sign(key, contentType, file.size)) });
  }
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    operation: at.operation,
    callerRef: at.callerRef,
    uploadId,
    files: declared,
    fields: scalarFields(request.fields ?? {}),
  };
  const body = manifestBytes(manifest);
  if (body.length > MAX_MANIFEST_BYTES) throw new PayloadTooLargeError(`the manifest would exceed ${MAX_MANIFEST_BYTES} bytes`);
  const md5 = createHash('md5').update(body).digest('base64');
  const key = manifestKey(at);
  const signedManifest = await sign(key, 'application/json', body.length, md5);
  return {
    uploadId,
    operation: at.operation,
    callerRef: at.callerRef,
    bucket: config.bucket,
    expiresAt: new Date(deps.now() + expiresIn * 1000).toISOString(),
    files,
    manifest: { key, ...signedManifest, body: body.toString('utf8') },
  };
}

export interface PresignHandlerOptions {
  readonly dependencies?: () => PresignDependencies;
}

/**
 * `createUploadUrl`: `POST /v1/uploads` → 201 with an {@link UploadTicket}. Signs PUTs with the function's
 * role; never reads the bucket, never sees the Didit key.
 *
 * Never rejects: errors are answered by `errorResponder` as `{ error: { code, message, requestId } }` (a 500
 * as `INTERNAL`, e.g. a `ConfigError` or a signing failure).
 *
 * @example
 * ```ts
 * // functions/uploads.ts
 * export const createUploadUrl = traced(createPresignHandler());
 * // Caller: POST /v1/uploads
 * //   {"operation": "idVerification", "callerRef": "order-1234",
 * //    "files": [{"field": "front_image", "contentType": "image/jpeg", "size": 482113}]}
 * //   → 201 {uploadId, files: [{field, key, method: "PUT", url, headers}], manifest: {key, url, headers, body}, …}
 * ```
 * @throws {ValidationError} VALIDATION_FAILED (400, with `issues`): see {@link checkUploadRequest}.
 * @throws {UnsupportedMediaTypeError} UNSUPPORTED_MEDIA_TYPE (415): not `application/json`.
 * @throws {PayloadTooLargeError} PAYLOAD_TOO_LARGE (413): the request body, or the manifest it would make, is
 *   over its limit.
 */
export function createPresignHandler(options: PresignHandlerOptions = {}) {
  const dependencies = options.dependencies ?? sharedPresignDependencies;
  const core = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
    metrics.addDimension('operation', 'createUploadUrl');
    let request: UploadRequest;
    try {
      request = checkUploadRequest(jsonBody(event)).request;
    } catch (err) {
      metrics.addMetric('UploadPresignRefused', MetricUnit.Count, 1);
      throw err;
    }
    const ticket = await presignUpload(dependencies(), request);
    metrics.addMetric('UploadPresigned', MetricUnit.Count, 1);
    logger.info('upload presigned', { operation: ticket.operation, callerRef: ticket.callerRef, uploadId: ticket.uploadId, files: ticket.files.length });
    return jsonResponse(201, ticket, { 'x-request-id': context.awsRequestId });
  };
  return middy(core)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(errorResponder({ logger }));
}

function jsonBody(event: APIGatewayProxyEvent): unknown {
  const contentType = Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
  if (!/^application\/json\b/i.test(contentType)) throw new UnsupportedMediaTypeError('expected content-type application/json');
  const raw = event.body === null || event.body === undefined ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (raw.length > MAX_BODY_BYTES) throw new PayloadTooLargeError(`request body exceeds ${MAX_BODY_BYTES} bytes`);
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch {
    // The parser's message quotes the input.
  }
  throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
}

/** The text fields as the manifest carries them (validateStructured accepted them; nulls are dropped as there). */
function scalarFields(fields: Readonly<Record<string, unknown>>): Record<string, FieldValue> {
  // No prototype: the names are the caller's.
  const out: Record<string, FieldValue> = Object.create(null);
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) out[name] = value;
  }
  return out;
}

/** `image/JPEG; charset=x` → `image/jpeg`. */
function mediaType(value: string): string {
  return (value.split(';')[0] ?? '').trim().toLowerCase();
}
