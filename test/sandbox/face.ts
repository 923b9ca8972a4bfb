/**
 * The standalone face endpoints (didit-api.md §5.2–§5.5): passive liveness, 1:1 face match, 1:N face
 * search and age estimation. Multipart in, the documented envelope out.
 *
 * Deterministic so tests can steer them:
 * - every face is live with score 89.5, and looks 27.4 years old: the request's thresholds decide
 *   (score ≤ liveness threshold → LOW_LIVENESS_SCORE; age < age threshold → AGE_BELOW_MINIMUM);
 * - face match scores 99.1 for the same image twice and 87.6 for two different ones;
 * - a face is "the same person" as another when the image bytes look the same (format, size, first
 *   bytes); saved liveness, age-estimation and face-search calls enrol the face, so a later call
 *   sees it as a duplicate (liveness) or a match (face search); face match never enrols;
 * - a `vendor_data` containing "blocklisted" makes the face match the sandbox blocklist's one entry
 *   (FACE_IN_BLOCKLIST, which declines liveness and face search).
 */
import { randomUUID } from 'node:crypto';
import type { Reply } from './reply.ts';
import { jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import type { RouteContext } from './route.ts';
import { areaState } from './route.ts';
import type { Warning } from './sample-identity.ts';
import type { FormFile } from './standalone-form.ts';
import { IMAGE_FORMATS, MB, openForm } from './standalone-form.ts';

export const LIVENESS_SCORE = 89.5;
export const ESTIMATED_AGE = 27.4;
export const SAME_FACE_SCORE = 99.1;
export const OTHER_FACE_SCORE = 87.6;
const DEFAULT_SCORE_THRESHOLD = 30;
const DEFAULT_AGE_THRESHOLD = 18;
const MAX_MATCHES = 5;

const COMMON_FIELDS = ['rotate_image', 'save_api_request', 'vendor_data'];
const USER_IMAGE = { required: true, maxBytes: 5 * MB, formats: IMAGE_FORMATS };

interface EnrolledFace {
  key: string;
  sessionId: string;
  sessionNumber: number;
  vendorData: string | null;
  status: string;
  createdAt: string;
}

interface FaceState {
  enrolled: EnrolledFace[];
  nextSessionNumber: number;
}

const faces = (ctx: RouteContext): FaceState => areaState(ctx, 'faces', () => ({ enrolled: [], nextSessionNumber: 5001 }));

/** What identifies a face here: the image as far as the sandbox sees it. */
function faceKey(file: FormFile): string {
  return `${file.format}:${file.upload.bytes}:${file.upload.head.toString('hex')}`;
}

function isBlocklisted(vendorData: string | null): boolean {
  return vendorData?.includes('blocklisted') ?? false;
}

function enrol(ctx: RouteContext, key: string, sessionId: string, vendorData: string | null, status: string): void {
  const state = faces(ctx);
  state.enrolled.push({ key, sessionId, sessionNumber: state.nextSessionNumber++, vendorData, status, createdAt: new Date().toISOString() });
}

/** Enrolled faces of other users: Didit leaves out faces saved with the same vendor_data (§5.2). */
function sameFaces(ctx: RouteContext, key: string, vendorData: string | null): EnrolledFace[] {
  return faces(ctx).enrolled.filter((face) => face.key === key && (vendorData === null || face.vendorData !== vendorData));
}

function imageAnalysis(): Record<string, unknown> {
  return {
    entities: [{ bbox: [112, 84, 398, 441], confidence: 0.998, age: ESTIMATED_AGE, gender: 'female' }],
    best_angle: 0,
  };
}

function warning(risk: string, logType: Warning['log_type'], short: string, long: string, feature: string, data?: Record<string, unknown>): Warning {
  return { risk, log_type: logType, short_description: short, long_description: long, feature, additional_data: data ?? null };
}

const lowLiveness = (threshold: number, feature: string): Warning =>
  warning(
    'LOW_LIVENESS_SCORE',
    'error',
    'Low liveness score',
    `The liveness score ${LIVENESS_SCORE} is at or below the decline threshold ${threshold}.`,
    feature,
  );

const inBlocklist = (feature: string): Warning =>
  warning('FACE_IN_BLOCKLIST', 'error', 'Face in blocklist', 'The face matches an entry of the application blocklist.', feature);

function envelope(feature: string, result: Record<string, unknown>, vendorData: string | null): Reply {
  return jsonReply(200, { request_id: randomUUID(), [feature]: result, vendor_data: vendorData, created_at: new Date().toISOString() });
}

const statusOf = (warnings: Warning[]): string => (warnings.some((w) => w.log_type === 'error') ? 'Declined' : 'Approved');

/** `POST /v3/passive-liveness/` (§5.2). */
export function passiveLiveness(body: ParsedBody, ctx: RouteContext): Reply {
  const opened = openForm(body, {
    files: { user_image: USER_IMAGE },
    text: ['face_liveness_score_decline_threshold', ...COMMON_FIELDS],
  });
  if (!opened.ok) return opened.reply;
  const form = opened.form;
  const threshold = form.integer('face_liveness_score_decline_threshold', 0, 100) ?? DEFAULT_SCORE_THRESHOLD;
  form.boolean('rotate_image');
  const save = form.boolean('save_api_request') ?? true;
  const vendorData = form.text('vendor_data') ?? null;
  const image = form.files.get('user_image');
  if (!form.errors.empty || image === undefined) return jsonReply(400, form.errors.errors);

  const key = faceKey(image);
  const warnings: Warning[] = [];
  if (LIVENESS_SCORE <= threshold) warnings.push(lowLiveness(threshold, 'LIVENESS'));
  if (isBlocklisted(vendorData)) warnings.push(inBlocklist('LIVENESS'));
  for (const face of sameFaces(ctx, key, vendorData).slice(0, 1)) {
    warnings.push(
      warning('DUPLICATED_FACE', 'information', 'Duplicated face', 'The same face was found in a previous session.', 'LIVENESS', {
        session_id: face.sessionId,
        vendor_data: face.vendorData,
      }),
    );
  }
  const status = statusOf(warnings);
  const reply = envelope(
    'liveness',
    {
      status,
      method: 'PASSIVE',
      score: LIVENESS_SCORE,
      user_image: imageAnalysis(),
      face_quality: 85.2,
      face_luminance: 55.1,
      warnings,
    },
    vendorData,
  );
  if (save) enrol(ctx, key, (reply.json as { request_id: string }).request_id, vendorData, status);
  return reply;
}

/** `POST /v3/face-match/` (§5.3). Never enrols, never screens the blocklist. */
export function faceMatch(body: ParsedBody): Reply {
  const opened = openForm(body, {
    files: { user_image: USER_IMAGE, ref_image: USER_IMAGE },
    text: ['face_match_score_decline_threshold', ...COMMON_FIELDS],
  });
  if (!opened.ok) return opened.reply;
  const form = opened.form;
  const threshold = form.integer('face_match_score_decline_threshold', 0, 100) ?? DEFAULT_SCORE_THRESHOLD;
  form.boolean('rotate_image');
  form.boolean('save_api_request');
  const vendorData = form.text('vendor_data') ?? null;
  const user = form.files.get('user_image');
  const ref = form.files.get('ref_image');
  if (!form.errors.empty || user === undefined || ref === undefined) return jsonReply(400, form.errors.errors);

  const score = faceKey(user) === faceKey(ref) ? SAME_FACE_SCORE : OTHER_FACE_SCORE;
  const warnings: Warning[] = [];
  // Approved only strictly above the threshold (§5.3).
  if (score <= threshold) {
    warnings.push(
      warning(
        'LOW_FACE_MATCH_SIMILARITY',
        'error',
        'Low face match similarity',
        `The similarity ${score} is at or below the decline threshold ${threshold}.`,
        'FACE_MATCH',
      ),
    );
  }
  return envelope(
    'face_match',
    { status: statusOf(warnings), score, user_image: imageAnalysis(), ref_image: imageAnalysis(), warnings },
    vendorData,
  );
}

/** `POST /v3/face-search/` (§5.4). */
export function faceSearch(body: ParsedBody, ctx: RouteContext): Reply {
  const opened = openForm(body, { files: { user_image: USER_IMAGE }, text: ['search_type', ...COMMON_FIELDS] });
  if (!opened.ok) return opened.reply;
  const form = opened.form;
  const searchType = form.choice('search_type', ['most_similar', 'blocklisted_or_approved'] as const) ?? 'most_similar';
  form.boolean('rotate_image');
  const save = form.boolean('save_api_request') ?? true;
  const vendorData = form.text('vendor_data') ?? null;
  const image = form.files.get('user_image');
  if (!form.errors.empty || image === undefined) return jsonReply(400, form.errors.errors);

  const key = faceKey(image);
  const matches: Array<Record<string, unknown>> = [];
  if (isBlocklisted(vendorData)) {
    matches.push({
      session_id: null,
      session_number: null,
      similarity_percentage: 98.2,
      source: 'list_entry',
      vendor_data: null,
      verification_date: null,
      user_details: null,
      match_image_url: null,
      status: null,
      is_blocklisted: true,
      is_allowlisted: false,
    });
  }
  for (const face of sameFaces(ctx, key, vendorData)) {
    if (searchType === 'blocklisted_or_approved' && face.status !== 'Approved') continue;
    matches.push({
      session_id: face.sessionId,
      session_number: face.sessionNumber,
      similarity_percentage: 97.8,
      source: 'session',
      vendor_data: face.vendorData,
      verification_date: face.createdAt,
      user_details: { full_name: null, document_type: null, document_number: null },
      // The sandbox has no media to serve (as for a key without media access).
      match_image_url: null,
      status: face.status,
      is_blocklisted: false,
      is_allowlisted: false,
    });
  }
  const warnings: Warning[] = isBlocklisted(vendorData) ? [inBlocklist('FACE_SEARCH')] : [];
  const status = statusOf(warnings);
  const reply = envelope(
    'face_search',
    { status, total_matches: matches.length, matches: matches.slice(0, MAX_MATCHES), user_image: imageAnalysis(), warnings },
    vendorData,
  );
  if (save) enrol(ctx, key, (reply.json as { request_id: string }).request_id, vendorData, status);
  return reply;
}

/**
 * `POST /v3/age-estimation/` (§5.5). Didit's pages show two response shapes; the sandbox answers the
 * newer one, a top-level `age_estimation` object (not the older `liveness` object).
 */
export function ageEstimation(body: ParsedBody, ctx: RouteContext): Reply {
  const opened = openForm(body, {
    files: { user_image: USER_IMAGE },
    text: ['face_liveness_score_decline_threshold', 'age_estimation_decline_threshold', ...COMMON_FIELDS],
  });
  if (!opened.ok) return opened.reply;
  const form = opened.form;
  const livenessThreshold = form.integer('face_liveness_score_decline_threshold', 0, 100) ?? DEFAULT_SCORE_THRESHOLD;
  const ageThreshold = form.integer('age_estimation_decline_threshold', 0, 1000) ?? DEFAULT_AGE_THRESHOLD;
  form.boolean('rotate_image');
  const save = form.boolean('save_api_request') ?? true;
  const vendorData = form.text('vendor_data') ?? null;
  const image = form.files.get('user_image');
  if (!form.errors.empty || image === undefined) return jsonReply(400, form.errors.errors);

  // Any warning declines on this endpoint (§5.5); a threshold of 0 disables the age check.
  const warnings: Warning[] = [];
  if (LIVENESS_SCORE <= livenessThreshold) warnings.push(lowLiveness(livenessThreshold, 'AGE_ESTIMATION'));
  if (ageThreshold > 0 && ESTIMATED_AGE < ageThreshold) {
    warnings.push(
      warning(
        'AGE_BELOW_MINIMUM',
        'error',
        'Age below minimum',
        `The estimated age ${ESTIMATED_AGE} is below the minimum of ${ageThreshold}.`,
        'AGE_ESTIMATION',
      ),
    );
  }
  const status = warnings.length > 0 ? 'Declined' : 'Approved';
  const reply = envelope(
    'age_estimation',
    { status, method: 'PASSIVE', score: LIVENESS_SCORE, user_image: imageAnalysis(), age_estimation: ESTIMATED_AGE, warnings },
    vendorData,
  );
  if (save) enrol(ctx, faceKey(image), (reply.json as { request_id: string }).request_id, vendorData, status);
  return reply;
}
