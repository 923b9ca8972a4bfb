import type { FieldIssue } from '../../errors/index.ts';
import type { OperationSpec } from '../../operations/types.ts';
import type { UploadLocation } from './layout.ts';

/** EventBridge `detail-type` of every upload result (source `didit.gateway`), success or failure. */
export const UPLOAD_COMPLETED_DETAIL_TYPE = 'didit.upload.completed';

/**
 * What came of one upload. Stored in the idempotency table (so a redelivered S3 event gets it back without
 * calling Didit) and, for `succeeded`/`failed`, published as the event detail. Built by allow-list: only
 * identifiers, statuses, risk tags and codes — no image, document number, name, address or media URL,
 * whatever Didit's answer contains. `skipped` (the manifest is gone or was replaced) publishes nothing.
 */
export type UploadOutcome = {
  readonly schemaVersion: 1;
  readonly operation: string;
  readonly callerRef: string;
  readonly uploadId: string;
  readonly status: 'succeeded' | 'failed' | 'skipped';
  /** Didit's verdict on the feature (`id_verification.status`, `face_match.status`, …): Approved, Declined, In Review. */
  readonly decisionStatus?: string;
  /** The `risk` tags of Didit's warnings (e.g. `MINIMUM_AGE_NOT_MET`): codes, never descriptions. */
  readonly risks?: readonly string[];
  /** Didit's `request_id`: with `save_api_request` (default) a session id usable with retrieveDecision. */
  readonly diditRequestId?: string;
  /** Why it failed (VALIDATION_FAILED, PAYLOAD_TOO_LARGE, OPERATION_NOT_ALLOWED, DIDIT_REJECTED_INPUT, …). */
  readonly errorCode?: string;
  /** Which fields were wrong and why (known field names only: an unknown name is caller input). */
  readonly issues?: readonly FieldIssue[];
  /** Didit may have processed (and billed) the call although no answer came back: not retried automatically. */
  readonly outcomeUnknown?: boolean;
};

export type UploadEventDetail = Omit<UploadOutcome, 'status'> & { readonly status: 'succeeded' | 'failed' };

/** The top-level key of each file operation's result in Didit's answer (didit-api.md §5.1–§5.7). */
const FEATURE_KEYS: Readonly<Record<string, readonly string[]>> = {
  idVerification: ['id_verification'],
  passiveLiveness: ['liveness'],
  faceMatch: ['face_match'],
  faceSearch: ['face_search'],
  // Two generations of the answer (§5.5): parse both.
  ageEstimation: ['age_estimation', 'liveness'],
  proofOfAddress: ['poa'],
};

const STATUS = /^[A-Za-z][A-Za-z ]{0,31}$/;
const RISK = /^[A-Z0-9_]{1,64}$/;
const REQUEST_ID = /^[A-Za-z0-9-]{8,64}$/;
const MAX_RISKS = 50;
const MAX_ISSUES = 50;

export function succeeded(at: UploadLocation, answer: unknown): UploadOutcome {
  const body = record(answer) ?? {};
  const out: { -readonly [K in keyof UploadOutcome]: UploadOutcome[K] } = { ...base(at), status: 'succeeded' };
  const requestId = body['request_id'];
  if (typeof requestId === 'string' && REQUEST_ID.test(requestId)) out.diditRequestId = requestId;
  for (const key of (Object.hasOwn(FEATURE_KEYS, at.operation) ? FEATURE_KEYS[at.operation] : undefined) ?? []) {
    const feature = record(body[key]);
    if (feature === undefined) continue;
    const status = feature['status'];
    if (typeof status === 'string' && STATUS.test(status)) out.decisionStatus = status;
    out.risks = risks(feature['warnings']);
    break;
  }
  return out;
}

export function failed(
  at: UploadLocation,
  errorCode: string,
  extra: { readonly issues?: readonly FieldIssue[]; readonly spec?: OperationSpec; readonly outcomeUnknown?: boolean } = {},
): UploadOutcome {
  const out: { -readonly [K in keyof UploadOutcome]: UploadOutcome[K] } = { ...base(at), status: 'failed', errorCode };
  if (extra.issues !== undefined && extra.issues.length > 0) {
    const known = knownFields(extra.spec);
    const issues = extra.issues.filter((i) => known(i.field)).slice(0, MAX_ISSUES).map((i) => ({ field: i.field, message: i.message.slice(0, 200) }));
    if (issues.length > 0) out.issues = issues;
  }
  if (extra.outcomeUnknown === true) out.outcomeUnknown = true;
  return out;
}

export function skipped(at: UploadLocation, reason: string): UploadOutcome {
  return { ...base(at), status: 'skipped', errorCode: reason };
}

/** The event detail: the outcome as stored (already allow-listed), for published statuses only. */
export function eventDetail(outcome: UploadOutcome): UploadEventDetail | undefined {
  if (outcome.status === 'skipped') return undefined;
  return { ...outcome, status: outcome.status };
}

function base(at: UploadLocation) {
  return { schemaVersion: 1 as const, operation: at.operation, callerRef: at.callerRef, uploadId: at.uploadId };
}

/** Names that come from the operation's table entry or from this module, never from the caller alone. */
function knownFields(spec: OperationSpec | undefined): (field: string) => boolean {
  const names = new Set<string>(MANIFEST_ISSUE_FIELDS);
  for (const name of Object.keys(spec?.files ?? {})) names.add(name);
  for (const name of schemaKeys(spec?.input)) names.add(name);
  return (field) => names.has(field);
}

/** The fields issues about the upload itself (its operation, its manifest) are reported under. */
export const MANIFEST_ISSUE_FIELDS: readonly string[] = [
  'operation',
  'manifest',
  'manifest.version',
  'manifest.operation',
  'manifest.callerRef',
  'manifest.uploadId',
  'manifest.files',
  'manifest.fields',
];

/** Top-level keys of a zod object schema (through refinements and pipes), without importing zod internals. */
function schemaKeys(schema: unknown, depth = 0): string[] {
  if (schema === null || typeof schema !== 'object' || depth > 3) return [];
  const shape = (schema as { shape?: unknown }).shape;
  if (shape !== null && typeof shape === 'object') return Object.keys(shape);
  return schemaKeys((schema as { in?: unknown }).in, depth + 1);
}

function risks(warnings: unknown): string[] {
  if (!Array.isArray(warnings)) return [];
  const out: string[] = [];
  for (const w of warnings) {
    const risk = record(w)?.['risk'];
    if (typeof risk === 'string' && RISK.test(risk) && out.length < MAX_RISKS) out.push(risk);
  }
  return out;
}

function record(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
