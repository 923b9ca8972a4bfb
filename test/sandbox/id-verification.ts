/**
 * `POST /v3/id-verification/`: standalone document check, multipart in, JSON out (didit-api.md §5.1).
 *
 * The sandbox checks the form the way Didit would (required file, 5 MB per file, format by magic
 * bytes, typed text fields) and then "reads" the same specimen document every time.
 */
import { randomUUID } from 'node:crypto';
import type { Reply } from './reply.ts';
import { detailReply, jsonReply } from './reply.ts';
import type { ParsedBody, UploadedFile } from './request-body.ts';
import { ageOn, idVerificationResult, minimumAgeWarning, SAMPLE_DATE_OF_BIRTH } from './sample-identity.ts';
import type { Warning } from './sample-identity.ts';
import type { SessionStore } from './sessions.ts';
import { ErrorBag, MESSAGES, choiceMessage, maxValueMessage, minValueMessage } from './validation.ts';

/** Per-file limit (§5.1). */
export const MAX_DOCUMENT_BYTES = 5 * 1024 * 1024;

const FILE_FIELDS = ['front_image', 'back_image'] as const;
const ACTION_FIELDS = ['expiration_date_not_detected_action', 'invalid_mrz_action', 'inconsistent_data_action'] as const;
const BOOLEAN_FIELDS = ['perform_document_liveness', 'save_api_request'] as const;
const FREE_TEXT_FIELDS = ['vendor_data', 'metadata', 'preferred_characters'] as const;
const TEXT_FIELDS: readonly string[] = ['minimum_age', ...ACTION_FIELDS, ...BOOLEAN_FIELDS, ...FREE_TEXT_FIELDS];
const ACTIONS = ['DECLINE', 'NO_ACTION'];

export type DocumentFormat = 'jpeg' | 'png' | 'webp' | 'tiff' | 'pdf';

/** Recognise the accepted formats by their leading bytes, whatever the filename or part type claims. */
export function sniffDocumentFormat(head: Buffer): DocumentFormat | null {
  const startsWith = (bytes: number[], offset = 0): boolean => bytes.every((byte, i) => head[offset + i] === byte);
  if (startsWith([0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith([0x52, 0x49, 0x46, 0x46]) && startsWith([0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  if (startsWith([0x49, 0x49, 0x2a, 0x00]) || startsWith([0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith([0x25, 0x50, 0x44, 0x46, 0x2d])) return 'pdf';
  return null;
}

export function idVerification(body: ParsedBody, store: SessionStore): Reply {
  if (body.kind === 'invalid-multipart') return detailReply(400, `Multipart form parse error - ${body.message}`);
  if (body.kind !== 'multipart') {
    const mediaType = body.kind === 'other' ? body.mediaType : body.kind === 'empty' ? 'none' : 'application/json';
    return detailReply(400, `Unsupported media type "${mediaType}" in request. Send multipart/form-data.`);
  }

  const errors = new ErrorBag();
  const { fields, files } = body;

  for (const name of fields.keys()) {
    if (!TEXT_FIELDS.includes(name) && !(FILE_FIELDS as readonly string[]).includes(name)) errors.add(name, MESSAGES.unknownField);
  }
  for (const name of files.keys()) {
    if (!(FILE_FIELDS as readonly string[]).includes(name) && !TEXT_FIELDS.includes(name)) errors.add(name, MESSAGES.unknownField);
  }
  for (const name of body.truncatedFields) errors.add(name, 'Ensure this field has no more than 1048576 characters.');

  for (const name of FILE_FIELDS) {
    if (fields.has(name)) {
      errors.add(name, MESSAGES.notAFile);
      continue;
    }
    const uploads = files.get(name);
    if (uploads === undefined) {
      if (name === 'front_image') errors.add(name, MESSAGES.noFile);
      continue;
    }
    const problem = fileProblem(uploads);
    if (problem !== null) errors.add(name, problem);
  }

  const text = (name: string): string | undefined => {
    if (files.has(name)) {
      errors.add(name, MESSAGES.notString);
      return undefined;
    }
    const values = fields.get(name);
    if (values === undefined) return undefined;
    if (values.length > 1) {
      errors.add(name, 'Multiple values were submitted for this field.');
      return undefined;
    }
    return values[0];
  };

  let minimumAge: number | undefined;
  const minimumAgeText = text('minimum_age');
  if (minimumAgeText !== undefined) {
    if (!/^\d{1,4}$/.test(minimumAgeText)) errors.add('minimum_age', MESSAGES.notInteger);
    else {
      minimumAge = Number(minimumAgeText);
      if (minimumAge < 1) errors.add('minimum_age', minValueMessage(1));
      else if (minimumAge > 120) errors.add('minimum_age', maxValueMessage(120));
    }
  }

  for (const name of ACTION_FIELDS) {
    const value = text(name);
    if (value !== undefined && !ACTIONS.includes(value)) errors.add(name, choiceMessage(value));
  }

  const booleans: Record<string, boolean> = {};
  for (const name of BOOLEAN_FIELDS) {
    const value = text(name);
    if (value === undefined) continue;
    if (value === 'true' || value === 'false') booleans[name] = value === 'true';
    else errors.add(name, MESSAGES.notBoolean);
  }

  const vendorData = text('vendor_data') ?? null;
  const metadata = text('metadata') ?? null;
  text('preferred_characters');

  if (!errors.empty) return jsonReply(400, errors.errors);

  const warnings: Warning[] = [];
  const age = ageOn(SAMPLE_DATE_OF_BIRTH);
  if (minimumAge !== undefined && age < minimumAge) warnings.push(minimumAgeWarning(minimumAge, age));
  const status = warnings.some((warning) => warning.log_type === 'error') ? 'Declined' : 'Approved';
  const result = idVerificationResult({ status, warnings });

  const requestId = randomUUID();
  if (booleans['save_api_request'] !== false) {
    // Saved calls become API sessions whose request_id works with the decision endpoint (§5 intro).
    store.saveApiResult(requestId, vendorData, metadata, 'ID_VERIFICATION', result, status);
  }
  return jsonReply(200, {
    request_id: requestId,
    id_verification: result,
    vendor_data: vendorData,
    metadata,
    created_at: new Date().toISOString(),
  });
}

function fileProblem(uploads: UploadedFile[]): string | null {
  if (uploads.length > 1) return 'Multiple files were submitted for this field.';
  const upload = uploads[0];
  if (upload === undefined) return MESSAGES.noFile;
  if (upload.bytes === 0) return MESSAGES.emptyFile;
  if (upload.bytes > MAX_DOCUMENT_BYTES) return 'File size exceeds the maximum allowed size of 5 MB.';
  if (sniffDocumentFormat(upload.head) === null) return 'Unsupported file format. Allowed formats: JPEG, PNG, WebP, TIFF, PDF.';
  return null;
}
