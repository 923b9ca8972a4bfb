import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context, S3Event, S3EventRecord } from 'aws-lambda';
import { GatewayError, ValidationError, type FieldIssue } from '../../errors/index.ts';
import { hasReservedKey, RESERVED_NAME_MESSAGE } from '../../validation/reserved-names.ts';
import { validateStructured } from '../../validation/request.ts';
import { logger, metrics, MetricUnit } from '../../observability/telemetry.ts';
import type { OperationSpec } from '../../operations/types.ts';
import { executeOperation } from '../../runtime/execute-operation.ts';
import { classifyFailure } from '../../runtime/failure-class.ts';
import { triggerExecution } from '../../runtime/trigger-execution.ts';
import { sharedIntakeDependencies, type IntakeDependencies } from './dependencies.ts';
import { ObjectTooLargeError, UploadDeadlineError, UploadRejectedError } from './errors.ts';
import {
  fileKey,
  manifestSchema,
  MAX_MANIFEST_BYTES,
  METADATA,
  parseManifestKey,
  uploadPrefix,
  type Manifest,
  type UploadLocation,
} from './layout.ts';
import { uploadOperation } from './operations.ts';
import { eventDetail, failed, skipped, succeeded, UPLOAD_COMPLETED_DETAIL_TYPE, type UploadOutcome } from './outcome.ts';

/** middy answers this long before the Lambda deadline; the Didit call itself gives up earlier (triggerExecution). */
const MIDDY_TIMEOUT_EARLY_MS = 1_000;
const MB = 1024 * 1024;

export interface UploadHandlerOptions {
  /** Injected in tests; the default builds them from the environment once per execution environment. */
  readonly dependencies?: () => IntakeDependencies;
}

export interface UploadRecordResult {
  readonly key: string;
  /** `ignored`: not an upload manifest of this bucket (nothing done, nothing stored). */
  readonly status: UploadOutcome['status'] | 'ignored';
  /** The outcome came from an earlier invocation (a redelivered event): Didit was not called. */
  readonly replayed: boolean;
  /** The result event was published by this invocation (false: by an earlier one, or nothing to publish). */
  readonly published: boolean;
  readonly errorCode?: string;
}

/**
 * `onUpload`: the S3 trigger of the intake bucket (ObjectCreated on `intake/…/manifest.json`, see
 * layout.ts). Per manifest:
 *
 *  1. the Didit call, at most once per manifest version (Powertools Idempotency keyed on bucket, key and
 *     versionId/eTag): read the manifest (size-capped), HeadObject every file (size, upload id) BEFORE reading
 *     any, read them with If-Match and a byte cap, validateStructured, executeOperation. Its outcome is stored;
 *     a redelivered event gets it back and Didit is not called again;
 *  2. a final outcome (success, or a failure that retrying cannot change) deletes every object of the upload;
 *  3. one `didit.upload.completed` event (source `didit.gateway`), at most once per manifest version.
 *
 * A fault that a retry can fix (KMS, Secrets Manager, S3, DynamoDB, Didit 429/5xx before processing) is
 * thrown: the objects stay, Lambda's asynchronous retry (then the on-failure destination) runs it again.
 *
 * A final failure is not thrown: it is the upload's outcome, published as `didit.upload.completed` with
 * `status: "failed"` and its `errorCode` — MANIFEST_INVALID, OPERATION_NOT_ALLOWED, VALIDATION_FAILED,
 * PAYLOAD_TOO_LARGE (see `UploadRejectedError`), SPEND_CAP_REACHED, Didit's 4xx codes, or the code of a
 * non-idempotent call whose outcome is unknown (DIDIT_TIMEOUT, DIDIT_NETWORK, DIDIT_BAD_RESPONSE, with
 * `outcomeUnknown`); see lib/runtime/failure-class.ts.
 *
 * @example
 * ```ts
 * // functions/uploads.ts: S3 ObjectCreated on intake/…/manifest.json.
 * export const onUpload = traced(createUploadHandler());
 *
 * // A test: the real trigger over emulator-bound dependencies.
 * const onUpload = createUploadHandler({ dependencies: () => createIntakeDependencies(config, clients) });
 * const { results } = await onUpload(s3Event, context);
 * ```
 * @throws the first retryable error of the event's records, after every record has run (the finished ones
 *   replay their stored outcome on the retry): the key's SECRETS_UNAVAILABLE / KMS_* / SECRET_* /
 *   KEY_SHAPE_INVALID, SPEND_COUNTER_UNAVAILABLE, TRIGGER_IN_PROGRESS, IDEMPOTENCY_STORE_UNAVAILABLE,
 *   EVENT_PUBLISH_FAILED, S3's own errors, RATE_LIMITED, DIDIT_UNAVAILABLE, DIDIT_UNAUTHORIZED, and a timeout or
 *   lost connection of an idempotent operation (or of a request that never left).
 * @throws {UploadDeadlineError} UPLOAD_TIMEOUT (503, retryable) when the invocation reaches its deadline.
 * @throws {ConfigError} when the function's configuration is invalid (the invocation fails and is retried).
 */
export function createUploadHandler(options: UploadHandlerOptions = {}) {
  const dependencies = options.dependencies ?? sharedIntakeDependencies;

  const core = async (event: S3Event, context: Context, { signal }: { signal: AbortSignal }): Promise<{ results: UploadRecordResult[] }> => {
    metrics.addDimension('operation', 'onUpload');
    const deps = dependencies();
    const results: UploadRecordResult[] = [];
    let retry: unknown;
    for (const record of event.Records ?? []) {
      try {
        results.push(await processRecord(deps, record, context, signal));
      } catch (err) {
        // The other records still run; the invocation fails at the end so that Lambda retries (the
        // finished ones replay their stored outcome).
        retry ??= err;
        metrics.addMetric('UploadRetried', MetricUnit.Count, 1);
        logger.warn('upload failed, left for a retry', {
          errorName: err instanceof Error ? err.name : typeof err,
          errorCode: err instanceof GatewayError ? err.code : undefined,
          key: record.s3?.object?.key,
        });
      }
    }
    if (retry !== undefined) throw retry;
    return { results };
  };

  return middy(core, {
    timeoutEarlyInMillis: MIDDY_TIMEOUT_EARLY_MS,
    timeoutEarlyResponse: () => {
      throw new UploadDeadlineError('invocation deadline reached');
    },
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}

async function processRecord(deps: IntakeDependencies, record: S3EventRecord, context: Context, signal: AbortSignal): Promise<UploadRecordResult> {
  const object = record.s3?.object;
  const bucket = record.s3?.bucket?.name;
  const key = decodeS3Key(object?.key);
  if (bucket !== deps.config.bucket || key === undefined) {
    logger.warn('S3 event for another bucket or with an unreadable key: ignored', { bucket });
    metrics.addMetric('UploadIgnored', MetricUnit.Count, 1);
    return { key: key ?? '', status: 'ignored', replayed: false, published: false };
  }
  const at = parseManifestKey(key);
  if (at === undefined) {
    metrics.addMetric('UploadIgnored', MetricUnit.Count, 1);
    logger.warn('object key is not an upload manifest (intake/<operation>/<callerRef>/<uploadId>/manifest.json): ignored', { key: key.slice(0, 256) });
    return { key, status: 'ignored', replayed: false, published: false };
  }
  // Same for every delivery of this event, different for every new version of the manifest.
  const idempotencyKey = `${bucket}/${key}#${object.versionId ?? ''}#${object.eTag ?? ''}`;
  const eventEtag = object.eTag;
  const { outcome, replayed } = await deps.outcomes.once(idempotencyKey, context, () =>
    runUpload(deps, at, key, { versionId: object.versionId, eTag: eventEtag, size: object.size }, record, context, signal),
  );
  const detail = eventDetail(outcome);
  if (detail === undefined) {
    metrics.addMetric('UploadSkipped', MetricUnit.Count, 1);
    logger.info('upload skipped', { ...logFields(outcome), replayed });
    return { key, status: outcome.status, replayed, published: false, errorCode: outcome.errorCode };
  }
  const deleted = await deps.objects.deletePrefix(uploadPrefix(at), signal);
  const event = await deps.published.once(idempotencyKey, context, () => deps.publisher.publish(UPLOAD_COMPLETED_DETAIL_TYPE, detail, { abortSignal: signal }));
  metrics.addMetric(replayed ? 'UploadReplayed' : outcome.status === 'succeeded' ? 'UploadSucceeded' : 'UploadFailed', MetricUnit.Count, 1);
  logger.info('upload processed', {
    ...logFields(outcome),
    replayed,
    deletedObjects: deleted,
    eventDuplicate: event.duplicate,
    eventBridgeEventId: event.receipt.eventId,
  });
  return { key, status: outcome.status, replayed, published: !event.duplicate, errorCode: outcome.errorCode };
}

interface ManifestVersion {
  readonly versionId: string | undefined;
  readonly eTag: string | undefined;
  readonly size: number | undefined;
}

/** The idempotent unit: returns a final outcome, or throws for a retry (see classifyFailure). */
async function runUpload(
  deps: IntakeDependencies,
  at: UploadLocation,
  key: string,
  version: ManifestVersion,
  record: S3EventRecord,
  context: Context,
  signal: AbortSignal,
): Promise<UploadOutcome> {
  const spec = uploadOperation(at.operation);
  if (spec === undefined) {
    return failed(at, 'OPERATION_NOT_ALLOWED', { issues: [{ field: 'operation', message: 'must be an operation that takes files' }] });
  }
  let idempotent = typeof spec.idempotent === 'boolean' ? spec.idempotent : false;
  try {
    const manifest = await readManifest(deps, at, key, version, signal);
    if (!('version' in manifest)) return manifest;
    if (typeof spec.idempotent === 'function') idempotent = spec.idempotent(manifest.fields);
    const files = await readFiles(deps, spec, at, manifest, signal);
    try {
      const valid = validateStructured(spec, { body: manifest.fields, files });
      const { json } = await executeOperation(
        spec,
        valid,
        triggerExecution(spec, deps.gateway, context, signal, {
          caller: `s3-upload:${record.userIdentity?.principalId ?? 'unknown'}`,
          requestId: record.responseElements?.['x-amz-request-id'],
        }),
      );
      return succeeded(at, json);
    } finally {
      // Identity documents and faces: not left in memory longer than the call.
      for (const bytes of Object.values(files)) bytes.fill(0);
    }
  } catch (err) {
    const failure = classifyFailure(err, { idempotent });
    if (failure.kind === 'retry') throw err;
    const issues = err instanceof ValidationError || err instanceof UploadRejectedError ? err.issues : undefined;
    logger.warn('upload failed', { operation: at.operation, callerRef: at.callerRef, uploadId: at.uploadId, errorCode: failure.code, outcomeUnknown: failure.outcomeUnknown });
    return failed(at, failure.code, { issues, spec, outcomeUnknown: failure.outcomeUnknown });
  }
}

async function readManifest(
  deps: IntakeDependencies,
  at: UploadLocation,
  key: string,
  version: ManifestVersion,
  signal: AbortSignal,
): Promise<Manifest | UploadOutcome> {
  const invalid = (field: string, message: string) => new UploadRejectedError('MANIFEST_INVALID', [{ field, message }]);
  if (version.size !== undefined && version.size > MAX_MANIFEST_BYTES) throw invalid('manifest', `must be at most ${MAX_MANIFEST_BYTES / 1024} KB`);
  if (version.size === 0) throw invalid('manifest', 'is empty');
  let read: Awaited<ReturnType<IntakeDependencies['objects']['read']>>;
  try {
    read = await deps.objects.read(key, { maxBytes: MAX_MANIFEST_BYTES, versionId: version.versionId, signal });
  } catch (err) {
    if (err instanceof ObjectTooLargeError) throw invalid('manifest', `must be at most ${MAX_MANIFEST_BYTES / 1024} KB`);
    throw err;
  }
  // Processed and deleted by an earlier event, or expired: nothing left to do.
  if (read === undefined) return skipped(at, 'MANIFEST_GONE');
  // Overwritten since this event: the newer version has its own event.
  if (version.versionId === undefined && version.eTag !== undefined && read.etag !== undefined && unquote(read.etag) !== unquote(version.eTag)) {
    read.bytes.fill(0);
    return skipped(at, 'MANIFEST_REPLACED');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(read.bytes));
  } catch {
    // Not the parser's message: it quotes the input.
    throw invalid('manifest', 'must be a UTF-8 JSON object');
  } finally {
    read.bytes.fill(0);
  }
  // zod would drop a `__proto__` field silently (input the caller meant to send): refused like everywhere else.
  if (hasReservedKey(parsed)) throw invalid('manifest', RESERVED_NAME_MESSAGE);
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => {
      const top = issue.path[0];
      return { field: typeof top === 'string' ? `manifest.${top}` : 'manifest', message: issue.code === 'unrecognized_keys' ? 'has unknown keys' : issue.message };
    });
    throw new UploadRejectedError('MANIFEST_INVALID', issues);
  }
  const manifest = result.data as Manifest;
  const issues: FieldIssue[] = [];
  if (manifest.operation !== at.operation) issues.push({ field: 'manifest.operation', message: 'does not match the object key' });
  if (manifest.callerRef !== at.callerRef) issues.push({ field: 'manifest.callerRef', message: 'does not match the object key' });
  if (manifest.uploadId !== at.uploadId) issues.push({ field: 'manifest.uploadId', message: 'does not match the object key' });
  if (issues.length > 0) throw new UploadRejectedError('MANIFEST_INVALID', issues);
  return manifest;
}

/**
 * HeadObject for every file first (nothing is read when one is missing, foreign or too large), then the
 * bytes, each read bounded by its rule and pinned to the checked version with If-Match.
 */
async function readFiles(
  deps: IntakeDependencies,
  spec: OperationSpec,
  at: UploadLocation,
  manifest: Manifest,
  signal: AbortSignal,
): Promise<Record<string, Buffer>> {
  const rules = spec.files ?? {};
  const issues: FieldIssue[] = [];
  let tooLarge = false;
  for (const name of Object.keys(manifest.fields)) {
    if (Object.hasOwn(rules, name)) issues.push({ field: name, message: 'must be uploaded as a file, not a text field' });
  }
  const checked: Array<{ field: string; maxBytes: number; etag: string | undefined }> = [];
  for (const [field, declared] of Object.entries(manifest.files)) {
    const rule = Object.hasOwn(rules, field) ? rules[field] : undefined;
    if (rule === undefined) {
      issues.push({ field, message: 'is not a file field of this operation' });
      continue;
    }
    const head = await deps.objects.head(fileKey(at, field), signal);
    if (head === undefined) issues.push({ field, message: 'was not uploaded' });
    else if (head.metadata[METADATA.uploadId] !== at.uploadId) issues.push({ field, message: 'was not uploaded for this upload (x-amz-meta-upload-id)' });
    else if (head.size > rule.maxBytes) {
      tooLarge = true;
      issues.push({ field, message: `must be at most ${rule.maxBytes / MB} MB` });
    } else if (head.size === 0) issues.push({ field, message: 'is empty' });
    else if (head.size !== declared.size) issues.push({ field, message: 'does not have the size the manifest declares' });
    else checked.push({ field, maxBytes: rule.maxBytes, etag: head.etag });
  }
  if (issues.length > 0) throw new UploadRejectedError(tooLarge ? 'PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED', issues);

  // No prototype: the field names come from the caller's manifest.
  const files: Record<string, Buffer> = Object.create(null);
  try {
    for (const { field, maxBytes, etag } of checked) {
      const read = await deps.objects.read(fileKey(at, field), { maxBytes, ifMatch: etag, signal });
      // Gone between HeadObject and GetObject: another invocation finished it; the retry replays its outcome.
      if (read === undefined) throw new Error('an upload object disappeared while it was being read');
      files[field] = read.bytes;
    }
  } catch (err) {
    for (const bytes of Object.values(files)) bytes.fill(0);
    if (err instanceof ObjectTooLargeError) throw new UploadRejectedError('PAYLOAD_TOO_LARGE', [{ field: 'manifest.files', message: 'a file grew past its limit' }]);
    throw err;
  }
  return files;
}

/** S3 event keys are URL-encoded, with `+` for spaces. */
export function decodeS3Key(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}

function logFields(outcome: UploadOutcome): Record<string, unknown> {
  return {
    operation: outcome.operation,
    callerRef: outcome.callerRef,
    uploadId: outcome.uploadId,
    status: outcome.status,
    decisionStatus: outcome.decisionStatus,
    errorCode: outcome.errorCode,
  };
}
