/**
 * The Lambda entry points of S3 uploads (lib/adapters/uploads/):
 *
 * - `createUploadUrl`: `POST /v1/uploads` (IAM auth). Validates what will be uploaded against the
 *   operation's table entry and answers presigned PUT URLs for each file and for the manifest; callers
 *   never need write access to the bucket. Never sees the Didit key.
 * - `onUpload`: S3 ObjectCreated on `intake/<operation>/<callerRef>/<uploadId>/manifest.json`. Runs the
 *   operation once per manifest version, deletes the objects, publishes `didit.upload.completed`.
 */
import { traced } from '../lib/observability/tracing.ts';
import { createUploadHandler } from '../lib/adapters/uploads/intake.ts';
import { createPresignHandler } from '../lib/adapters/uploads/presign.ts';

/** `POST /v1/uploads`: see {@link createPresignHandler}. */
export const createUploadUrl = traced(createPresignHandler());
/** S3 ObjectCreated on an upload manifest: see {@link createUploadHandler}. */
export const onUpload = traced(createUploadHandler());
