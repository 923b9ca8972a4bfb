/**
 * In-memory verification sessions and the documents Didit returns for them (didit-api.md §3): the
 * decision, list rows, review activity, soft deletion and share tokens.
 *
 * Workflow sessions come from `POST /v3/session/`. Standalone API calls saved with
 * `save_api_request` (the default) are stored too, because Didit makes their `request_id` readable
 * through the decision endpoint (§5 intro).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { idVerificationResult } from './sample-identity.ts';
import type { Warning } from './sample-identity.ts';
import type { SessionStatus } from './types.ts';
import { isSessionStatus } from './types.ts';

export interface StoredSession {
  sessionId: string;
  sessionNumber: number;
  sessionToken: string | null;
  url: string | null;
  workflowId: string | null;
  workflowVersion: number | null;
  vendorData: string | null;
  metadata: unknown;
  callback: string | null;
  callbackMethod: string | null;
  language: string | null;
  contactDetails: Record<string, unknown> | null;
  expectedDetails: Record<string, unknown> | null;
  status: SessionStatus;
  createdAt: Date;
  /** Soft deletion (§3.4): the session disappears from every route but stays in memory. */
  deletedAt: Date | null;
  /** Review activity, oldest first (§3.8). */
  reviews: ReviewEntry[];
  /** Result of a saved standalone API call; absent for workflow sessions. */
  apiResult?: { feature: 'ID_VERIFICATION' | 'AML'; result: Record<string, unknown> };
}

/** One item of `GET /v3/sessions/{id}/reviews/` (§3.8). */
export interface ReviewEntry {
  id: string;
  /** `STATUS_UPDATED` from update-status (§3.6), `REVIEW_ADDED` from the reviews route. */
  action: 'STATUS_UPDATED' | 'REVIEW_ADDED';
  oldStatus: SessionStatus;
  newStatus: SessionStatus;
  note: string | null;
  createdAt: Date;
}

export interface NewWorkflowSession {
  workflowId: string;
  vendorData: string | null;
  metadata: unknown;
  callback: string | null;
  callbackMethod: string | null;
  language: string | null;
  contactDetails: Record<string, unknown> | null;
  expectedDetails: Record<string, unknown> | null;
}

/** Statuses in which Didit hands back the existing session instead of creating one (§3.1). */
const REUSABLE: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Not Started', 'In Progress', 'Resubmitted', 'Awaiting User']);

/** Sandbox workflows are always on their first published version. */
const WORKFLOW_VERSION = 1;
const FIRST_SESSION_NUMBER = 1001;

export interface SessionStore {
  /** Creates a session, or returns the reusable one for (workflow, vendor_data) updated in place. */
  createOrReuse(input: NewWorkflowSession): { session: StoredSession; reused: boolean };
  saveApiResult(requestId: string, vendorData: string | null, metadata: unknown, feature: 'ID_VERIFICATION' | 'AML', result: Record<string, unknown>, status: SessionStatus): void;
  /** A session that exists and is not deleted. */
  get(sessionId: string): StoredSession | undefined;
  /** Workflow sessions that are not deleted, newest first (§3.3). */
  list(): StoredSession[];
  setStatus(sessionId: string, status: SessionStatus): void;
  /** Soft-deletes one session; false when it does not exist or is already deleted (§3.4). */
  softDelete(sessionId: string): boolean;
  /** Soft-deletes the sessions with these numbers (unknown numbers are skipped), or all of them (§3.5). */
  softDeleteMany(target: { numbers: ReadonlySet<number> } | { all: true }): number;
  addReview(session: StoredSession, action: ReviewEntry['action'], newStatus: SessionStatus, note: string | null): ReviewEntry;
  /** A new share token for a session (§3.8). Each call mints another one. */
  share(session: StoredSession): string;
  /** The live session a share token points to. */
  sharedSession(token: string): StoredSession | undefined;
  /**
   * Copies a shared session into this application (§3.8), or returns undefined when the session was
   * already imported (once per partner application; the sandbox is a single application).
   */
  importShared(source: StoredSession, into: { workflowId: string; vendorData: string | null; status: SessionStatus }): StoredSession | undefined;
  clear(): void;
}

/**
 * Told after a stored session's status changed (update-status, a review, the control route): where the
 * sandbox's webhook sender (webhook-sender.ts) hooks in, as Didit sends `status.updated` on each change.
 */
export type StatusChangeListener = (session: StoredSession, previous: SessionStatus) => void;

export function createSessionStore(onStatusChange?: StatusChangeListener): SessionStore {
  const changed = (session: StoredSession, previous: SessionStatus): void => {
    if (session.status !== previous) onStatusChange?.(session, previous);
  };
  const sessions = new Map<string, StoredSession>();
  /** Share token → shared session id. */
  const shares = new Map<string, string>();
  /** Ids of sessions already imported into this (the only) application. */
  const imported = new Set<string>();
  let nextNumber = FIRST_SESSION_NUMBER;

  const live = (sessionId: string): StoredSession | undefined => {
    const session = sessions.get(sessionId);
    return session === undefined || session.deletedAt !== null ? undefined : session;
  };

  const insert = (fields: Omit<StoredSession, 'sessionNumber' | 'createdAt' | 'deletedAt' | 'reviews'>): StoredSession => {
    const session: StoredSession = { ...fields, sessionNumber: nextNumber++, createdAt: new Date(), deletedAt: null, reviews: [] };
    sessions.set(session.sessionId, session);
    return session;
  };

  const newSessionLink = (): { sessionToken: string; url: string } => {
    // Didit session tokens are short URL-safe strings; the hosted UI lives at verify.didit.me.
    const sessionToken = randomBytes(9).toString('base64url');
    return { sessionToken, url: `https://verify.didit.me/session/${sessionToken}` };
  };

  return {
    createOrReuse(input) {
      if (input.vendorData !== null) {
        for (const existing of sessions.values()) {
          if (
            existing.deletedAt === null &&
            existing.workflowId === input.workflowId &&
            existing.vendorData === input.vendorData &&
            existing.workflowVersion === WORKFLOW_VERSION &&
            existing.url !== null &&
            REUSABLE.has(existing.status)
          ) {
            existing.callback = input.callback;
            existing.metadata = input.metadata;
            return { session: existing, reused: true };
          }
        }
      }
      const session = insert({
        sessionId: randomUUID(),
        ...newSessionLink(),
        workflowId: input.workflowId,
        workflowVersion: WORKFLOW_VERSION,
        vendorData: input.vendorData,
        metadata: input.metadata,
        callback: input.callback,
        callbackMethod: input.callbackMethod,
        language: input.language,
        contactDetails: input.contactDetails,
        expectedDetails: input.expectedDetails,
        status: 'Not Started',
      });
      return { session, reused: false };
    },
    saveApiResult(requestId, vendorData, metadata, feature, result, status) {
      insert({
        sessionId: requestId,
        sessionToken: null,
        url: null,
        workflowId: null,
        workflowVersion: null,
        vendorData,
        metadata,
        callback: null,
        callbackMethod: null,
        language: null,
        contactDetails: null,
        expectedDetails: null,
        status,
        apiResult: { feature, result },
      });
    },
    get: live,
    list() {
      return [...sessions.values()]
        .filter((s) => s.deletedAt === null && s.apiResult === undefined)
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.sessionNumber - a.sessionNumber);
    },
    setStatus(sessionId, status) {
      if (!isSessionStatus(status)) throw new RangeError(`unknown session status: ${String(status)}`);
      const session = live(sessionId);
      if (session === undefined) throw new RangeError(`no sandbox session ${sessionId}`);
      const previous = session.status;
      session.status = status;
      changed(session, previous);
    },
    softDelete(sessionId) {
      const session = live(sessionId);
      if (session === undefined) return false;
      session.deletedAt = new Date();
      return true;
    },
    softDeleteMany(target) {
      let deleted = 0;
      for (const session of sessions.values()) {
        if (session.deletedAt !== null) continue;
        if ('all' in target || target.numbers.has(session.sessionNumber)) {
          session.deletedAt = new Date();
          deleted++;
        }
      }
      return deleted;
    },
    addReview(session, action, newStatus, note) {
      const entry: ReviewEntry = { id: randomUUID(), action, oldStatus: session.status, newStatus, note, createdAt: new Date() };
      session.reviews.push(entry);
      const previous = session.status;
      session.status = newStatus;
      changed(session, previous);
      return entry;
    },
    share(session) {
      const token = randomBytes(32).toString('base64url');
      shares.set(token, session.sessionId);
      return token;
    },
    sharedSession(token) {
      const sessionId = shares.get(token);
      return sessionId === undefined ? undefined : live(sessionId);
    },
    importShared(source, into) {
      if (imported.has(source.sessionId)) return undefined;
      imported.add(source.sessionId);
      return insert({
        sessionId: randomUUID(),
        ...newSessionLink(),
        workflowId: into.workflowId,
        workflowVersion: WORKFLOW_VERSION,
        vendorData: into.vendorData,
        metadata: null,
        callback: null,
        callbackMethod: null,
        language: source.language,
        contactDetails: null,
        expectedDetails: null,
        status: into.status,
      });
    },
    clear() {
      sessions.clear();
      shares.clear();
      imported.clear();
      nextNumber = FIRST_SESSION_NUMBER;
    },
  };
}

/** The 201 body of `POST /v3/session/` (§3.1). */
export function createdSessionBody(session: StoredSession): Record<string, unknown> {
  return {
    session_id: session.sessionId,
    session_number: session.sessionNumber,
    session_token: session.sessionToken,
    url: session.url,
    vendor_data: session.vendorData,
    metadata: session.metadata,
    status: session.status,
    workflow_id: session.workflowId,
    callback: session.callback,
    workflow_version: session.workflowVersion,
    session_kind: 'user',
  };
}

/** What each feature node reports while the session is in a given status; null means "not reached yet". */
function featureStatusFor(status: SessionStatus): string | null {
  switch (status) {
    case 'Not Started':
    case 'Expired':
      return null;
    case 'Approved':
    case 'Kyc Expired':
      return 'Approved';
    case 'Declined':
      return 'Declined';
    case 'In Review':
      return 'In Review';
    default:
      return 'Not Finished';
  }
}

const LOW_FACE_MATCH: Warning = {
  risk: 'LOW_FACE_MATCH_SIMILARITY',
  log_type: 'error',
  short_description: 'Low face match similarity',
  long_description: 'The face in the selfie does not match the portrait on the document closely enough.',
  feature: 'FACE_MATCH',
  additional_data: null,
};

const POSSIBLE_DUPLICATE: Warning = {
  risk: 'POSSIBLE_DUPLICATED_USER',
  log_type: 'warning',
  short_description: 'Possible duplicated user',
  long_description: 'A previous session with a similar document was found; the session needs a manual review.',
  feature: 'ID_VERIFICATION',
  additional_data: null,
};

/** The decision document of `GET /v3/session/{id}/decision/` (§3.2). */
export function decisionBody(session: StoredSession): Record<string, unknown> {
  const arrays: Record<string, unknown[]> = {
    id_verifications: [],
    nfc_verifications: [],
    liveness_checks: [],
    face_matches: [],
    poa_verifications: [],
    phone_verifications: [],
    email_verifications: [],
    aml_screenings: [],
    database_validations: [],
    ip_analyses: [],
  };
  let features: string[];

  if (session.apiResult !== undefined) {
    features = [session.apiResult.feature];
    const key = session.apiResult.feature === 'AML' ? 'aml_screenings' : 'id_verifications';
    arrays[key] = [{ node_id: session.apiResult.feature === 'AML' ? 'feature_aml' : 'feature_ocr', ...session.apiResult.result }];
  } else {
    features = ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH'];
    const nodeStatus = featureStatusFor(session.status);
    if (nodeStatus !== null) {
      arrays['id_verifications'] = [
        idVerificationResult({ status: nodeStatus, nodeId: 'feature_ocr', warnings: nodeStatus === 'In Review' ? [POSSIBLE_DUPLICATE] : [] }),
      ];
      arrays['liveness_checks'] = [
        {
          node_id: 'feature_liveness',
          status: nodeStatus === 'In Review' ? 'Approved' : nodeStatus,
          method: 'PASSIVE',
          score: 89.5,
          reference_image: null,
          video_url: null,
          age_estimation: 44.2,
          face_quality: 85.2,
          face_luminance: 55.1,
          warnings: [],
        },
      ];
      arrays['face_matches'] = [
        {
          node_id: 'feature_face',
          status: nodeStatus === 'In Review' ? 'Approved' : nodeStatus,
          score: nodeStatus === 'Declined' ? 21.4 : 92.3,
          source_image: null,
          target_image: null,
          warnings: nodeStatus === 'Declined' ? [LOW_FACE_MATCH] : [],
        },
      ];
    }
  }

  return {
    session_id: session.sessionId,
    session_number: session.sessionNumber,
    session_kind: 'user',
    session_url: session.url,
    status: session.status,
    environment: 'live',
    workflow_id: session.workflowId,
    workflow_version: session.workflowVersion,
    features,
    vendor_data: session.vendorData,
    metadata: session.metadata,
    callback: session.callback,
    expected_details: session.expectedDetails,
    contact_details: session.contactDetails,
    ...arrays,
    reviews: session.reviews.map(reviewBody),
    created_at: session.createdAt.toISOString(),
  };
}

/** One item of the review list (§3.8). */
export function reviewBody(entry: ReviewEntry): Record<string, unknown> {
  return {
    id: entry.id,
    action: entry.action,
    old_status: entry.oldStatus,
    new_status: entry.newStatus,
    note: entry.note,
    created_at: entry.createdAt.toISOString(),
  };
}

/** A row of `GET /v3/sessions/` (§3.3): the document fields appear once the ID step has run. */
export function listRowBody(session: StoredSession): Record<string, unknown> {
  const nodeStatus = featureStatusFor(session.status);
  const document = nodeStatus === null ? null : idVerificationResult({ status: nodeStatus });
  const email = session.contactDetails?.['email'];
  const phone = session.contactDetails?.['phone'];
  return {
    session_id: session.sessionId,
    session_number: session.sessionNumber,
    session_url: session.url,
    session_kind: 'user',
    status: session.status,
    workflow_id: session.workflowId,
    vendor_data: session.vendorData,
    portrait_image: null,
    document_type: document?.['document_type'] ?? null,
    full_name: document?.['full_name'] ?? null,
    country: document?.['issuing_state'] ?? null,
    features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH'].map((feature) => ({ feature, status: nodeStatus ?? 'Not Started' })),
    phone_number: typeof phone === 'string' ? { number: phone, is_verified: false } : null,
    email_address: typeof email === 'string' ? { email, is_verified: false } : null,
    created_at: session.createdAt.toISOString(),
  };
}
