/**
 * In-memory verification sessions and the decision document Didit returns for them
 * (didit-api.md §3.1, §3.2).
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
  /** Result of a saved standalone API call; absent for workflow sessions. */
  apiResult?: { feature: 'ID_VERIFICATION' | 'AML'; result: Record<string, unknown> };
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
  get(sessionId: string): StoredSession | undefined;
  setStatus(sessionId: string, status: SessionStatus): void;
  clear(): void;
}

export function createSessionStore(): SessionStore {
  const sessions = new Map<string, StoredSession>();
  let nextNumber = FIRST_SESSION_NUMBER;

  return {
    createOrReuse(input) {
      if (input.vendorData !== null) {
        for (const existing of sessions.values()) {
          if (
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
      // Didit session tokens are short URL-safe strings; the hosted UI lives at verify.didit.me.
      const sessionToken = randomBytes(9).toString('base64url');
      const session: StoredSession = {
        sessionId: randomUUID(),
        sessionNumber: nextNumber++,
        sessionToken,
        url: `https://verify.didit.me/session/${sessionToken}`,
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
        createdAt: new Date(),
      };
      sessions.set(session.sessionId, session);
      return { session, reused: false };
    },
    saveApiResult(requestId, vendorData, metadata, feature, result, status) {
      sessions.set(requestId, {
        sessionId: requestId,
        sessionNumber: nextNumber++,
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
        createdAt: new Date(),
        apiResult: { feature, result },
      });
    },
    get(sessionId) {
      return sessions.get(sessionId);
    },
    setStatus(sessionId, status) {
      if (!isSessionStatus(status)) throw new RangeError(`unknown session status: ${String(status)}`);
      const session = sessions.get(sessionId);
      if (session === undefined) throw new RangeError(`no sandbox session ${sessionId}`);
      session.status = status;
    },
    clear() {
      sessions.clear();
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
    reviews: [],
    created_at: session.createdAt.toISOString(),
  };
}
