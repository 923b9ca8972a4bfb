/**
 * Where uploads go in the intake bucket and what the manifest says. One upload = one Didit call.
 *
 * ```
 * intake/<operation>/<callerRef>/<uploadId>/<field>          one object per file field (e.g. front_image)
 * intake/<operation>/<callerRef>/<uploadId>/manifest.json    uploaded LAST: the trigger fires on it
 * ```
 *
 * - `operation`: a table entry that takes files (idVerification, faceMatch, passiveLiveness, faceSearch,
 *   ageEstimation, proofOfAddress);
 * - `callerRef`: the caller's own reference for the upload (1–128 of `A-Z a-z 0-9 . _ -`, starting with a
 *   letter or digit). It appears in keys, logs and events: an opaque id, never a name or an email;
 * - `uploadId`: a random UUID chosen by `POST /v1/uploads`, so that every upload has fresh keys (a retry
 *   of the same callerRef never collides with an earlier one, and the trigger's idempotency key is unique);
 * - every object carries the metadata `x-amz-meta-caller-ref` and `x-amz-meta-upload-id` (bound into the
 *   presigned URLs); the trigger refuses a file whose `upload-id` differs from its key's.
 *
 * The manifest (JSON, UTF-8, at most {@link MAX_MANIFEST_BYTES}) lists the files and carries the text fields:
 *
 * ```json
 * {
 *   "version": 1,
 *   "operation": "idVerification",
 *   "callerRef": "order-1234",
 *   "uploadId": "6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f",
 *   "files": { "front_image": { "size": 482113, "contentType": "image/jpeg" },
 *              "back_image":  { "size": 470002, "contentType": "image/jpeg" } },
 *   "fields": { "minimum_age": "18", "vendor_data": "user-7" }
 * }
 * ```
 *
 * The text fields are in the manifest, not in object metadata: S3 user metadata is limited to 2 KB per
 * object and to header-safe characters, while fields such as `expected_address` or a `vendor_data` with
 * non-ASCII letters need neither limit. `POST /v1/uploads` writes the manifest itself (after validating
 * it) and binds it into the manifest URL with Content-MD5, so what was validated is what runs; the
 * trigger validates everything again anyway (the bucket may have other writers).
 */
import * as z from 'zod';

export const INTAKE_PREFIX = 'intake/';
export const MANIFEST_NAME = 'manifest.json';
export const MANIFEST_SUFFIX = `/${MANIFEST_NAME}`;
export const MAX_MANIFEST_BYTES = 64 * 1024;
export const MANIFEST_VERSION = 1;

/** User-metadata names (sent as `x-amz-meta-<name>`; S3 returns them lower-cased without the prefix). */
export const METADATA = Object.freeze({ callerRef: 'caller-ref', uploadId: 'upload-id' });

export const CALLER_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const UPLOAD_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OPERATION_PATTERN = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
const FIELD_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

export const callerRef = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .regex(CALLER_REF_PATTERN, 'must be 1-128 letters, digits, dots, underscores or dashes, starting with a letter or digit');

export interface UploadLocation {
  readonly operation: string;
  readonly callerRef: string;
  readonly uploadId: string;
}

export function uploadPrefix(at: UploadLocation): string {
  return `${INTAKE_PREFIX}${at.operation}/${at.callerRef}/${at.uploadId}/`;
}

export function fileKey(at: UploadLocation, field: string): string {
  if (!FIELD_PATTERN.test(field)) throw new RangeError('file field names are lower-case identifiers');
  return `${uploadPrefix(at)}${field}`;
}

export function manifestKey(at: UploadLocation): string {
  return `${uploadPrefix(at)}${MANIFEST_NAME}`;
}

/** The upload a manifest key belongs to, or undefined when the key is not laid out as documented. */
export function parseManifestKey(key: string): UploadLocation | undefined {
  if (!key.startsWith(INTAKE_PREFIX) || !key.endsWith(MANIFEST_SUFFIX)) return undefined;
  const parts = key.slice(INTAKE_PREFIX.length, -MANIFEST_SUFFIX.length).split('/');
  if (parts.length !== 3) return undefined;
  const [operation, ref, uploadId] = parts as [string, string, string];
  if (!OPERATION_PATTERN.test(operation) || !CALLER_REF_PATTERN.test(ref) || !UPLOAD_ID_PATTERN.test(uploadId)) return undefined;
  return { operation, callerRef: ref, uploadId };
}

export function isUploadId(value: string): boolean {
  return UPLOAD_ID_PATTERN.test(value);
}

/** A text field value as the manifest carries it (the form encoding of multipart: `true`, `18`, text). */
export type FieldValue = string | number | boolean;

export interface ManifestFile {
  readonly size: number;
  readonly contentType: string;
}

export interface Manifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly operation: string;
  readonly callerRef: string;
  readonly uploadId: string;
  readonly files: Readonly<Record<string, ManifestFile>>;
  readonly fields: Readonly<Record<string, FieldValue>>;
}

/** The manifest's shape. Its fields and files are then checked against the operation (validateStructured). */
export const manifestSchema = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  operation: z.string().regex(OPERATION_PATTERN),
  callerRef,
  uploadId: z.string().regex(UPLOAD_ID_PATTERN),
  files: z.record(
    z.string().regex(FIELD_PATTERN),
    z.strictObject({ size: z.number().int().min(1), contentType: z.string().max(128) }),
  ),
  fields: z.record(z.string().min(1).max(64), z.union([z.string(), z.number(), z.boolean()])).default({}),
});

/** The exact bytes of a manifest, as `POST /v1/uploads` hands them out (and binds with Content-MD5). */
export function manifestBytes(manifest: Manifest): Buffer {
  return Buffer.from(JSON.stringify(manifest), 'utf8');
}
