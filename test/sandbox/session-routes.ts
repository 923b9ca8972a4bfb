/**
 * The session routes (didit-api.md §3): create and decision here, the others in session-actions.ts.
 */
import type { Reply } from './reply.ts';
import type { Route } from './route.ts';
import { NOT_FOUND, jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import { jsonObjectInput } from './json-input.ts';
import {
  addReview,
  batchDeleteSessions,
  deleteSession,
  generatePdf,
  importSharedSession,
  listReviews,
  listSessions,
  shareSession,
  updateSessionStatus,
} from './session-actions.ts';
import type { NewWorkflowSession, SessionStore } from './sessions.ts';
import { createdSessionBody, decisionBody } from './sessions.ts';
import { ErrorBag, MESSAGES, choiceMessage, dictMessage, isHttpUrl, isPathUuid, isRecord, isUuid } from './validation.ts';

const CALLBACK_METHODS = ['initiator', 'completer', 'both'];
/** `portrait_image` limit: 1 MB of decoded image (§3.1). */
const MAX_PORTRAIT_BYTES = 1024 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function createSession(body: ParsedBody, store: SessionStore): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();

  const workflowId = data['workflow_id'];
  if (workflowId === undefined || workflowId === null) errors.add('workflow_id', MESSAGES.required);
  else if (typeof workflowId !== 'string' || !isUuid(workflowId)) errors.add('workflow_id', MESSAGES.notUuid);

  const vendorData = optionalString(data, 'vendor_data', errors);
  const language = optionalString(data, 'language', errors);

  const callback = optionalString(data, 'callback', errors);
  if (callback !== null && !isHttpUrl(callback)) errors.add('callback', MESSAGES.notUrl);

  const callbackMethod = optionalString(data, 'callback_method', errors);
  if (callbackMethod !== null && !CALLBACK_METHODS.includes(callbackMethod)) errors.add('callback_method', choiceMessage(callbackMethod));

  const contactDetails = optionalObject(data, 'contact_details', errors);
  const expectedDetails = optionalObject(data, 'expected_details', errors);

  // Didit documents metadata as a JSON object but its schema says string: accept both (§3.1).
  const metadata = data['metadata'] ?? null;
  if (metadata !== null && typeof metadata !== 'string' && !isRecord(metadata)) errors.add('metadata', dictMessage(metadata));

  const portrait = data['portrait_image'];
  if (portrait !== undefined && portrait !== null) {
    const problem = portraitProblem(portrait);
    if (problem !== null) errors.add('portrait_image', problem);
  }

  if (!errors.empty || typeof workflowId !== 'string') return jsonReply(400, errors.errors);

  const request: NewWorkflowSession = {
    workflowId: workflowId.toLowerCase(),
    vendorData,
    metadata,
    callback,
    callbackMethod: callbackMethod ?? 'initiator',
    language,
    contactDetails,
    expectedDetails,
  };
  const { session } = store.createOrReuse(request);
  return jsonReply(201, createdSessionBody(session));
}

export function sessionDecision(sessionId: string, store: SessionStore): Reply {
  if (!isPathUuid(sessionId)) return NOT_FOUND;
  const session = store.get(sessionId);
  if (session === undefined) return NOT_FOUND;
  return jsonReply(200, decisionBody(session));
}

function optionalString(data: Record<string, unknown>, field: string, errors: ErrorBag): string | null {
  const value = data[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    errors.add(field, MESSAGES.notString);
    return null;
  }
  return value;
}

function optionalObject(data: Record<string, unknown>, field: string, errors: ErrorBag): Record<string, unknown> | null {
  const value = data[field];
  if (value === undefined || value === null) return null;
  if (!isRecord(value)) {
    errors.add(field, dictMessage(value));
    return null;
  }
  return value;
}

/** Base64 (optionally a data: URI) of at most 1 MB decoded, or a message saying why not. */
function portraitProblem(value: unknown): string | null {
  if (typeof value !== 'string') return MESSAGES.notString;
  const payload = value.replace(/^data:image\/[A-Za-z0-9.+-]+;base64,/, '');
  if (payload === '' || !BASE64.test(payload)) return 'Invalid base64 image.';
  const padding = payload.endsWith('==') ? 2 : payload.endsWith('=') ? 1 : 0;
  const decodedBytes = (payload.length / 4) * 3 - padding;
  if (decodedBytes > MAX_PORTRAIT_BYTES) return 'Image size exceeds the maximum allowed size of 1 MB.';
  return null;
}

/** One UUID-shaped path segment; the handlers apply Django's lowercase `<uuid:>` rule and answer 404. */
const ID = '([^/]+)';

export const SESSION_ROUTES: readonly Route[] = [
  { pattern: /^\/v3\/session\/$/, method: 'POST', scope: 'create', handle: (_, body, ctx) => createSession(body, ctx.sessions) },
  {
    pattern: new RegExp(`^/v3/session/${ID}/decision/$`),
    method: 'GET',
    scope: 'decision',
    handle: ([sessionId = ''], _, ctx) => sessionDecision(sessionId, ctx.sessions),
  },
  { pattern: /^\/v3\/sessions\/$/, method: 'GET', scope: 'other', handle: (_, __, ctx) => listSessions(ctx.query, ctx.sessions) },
  {
    pattern: new RegExp(`^/v3/session/${ID}/delete/$`),
    method: 'DELETE',
    scope: 'other',
    handle: ([sessionId = ''], _, ctx) => deleteSession(sessionId, ctx.sessions),
  },
  { pattern: /^\/v3\/sessions\/delete\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => batchDeleteSessions(body, ctx.sessions) },
  {
    pattern: new RegExp(`^/v3/session/${ID}/update-status/$`),
    method: 'PATCH',
    scope: 'other',
    handle: ([sessionId = ''], body, ctx) => updateSessionStatus(sessionId, body, ctx.sessions),
  },
  {
    // Didit gives PDF generation its own 100 rpm budget (§7.3).
    pattern: new RegExp(`^/v3/session/${ID}/generate-pdf/$`),
    method: 'GET',
    scope: 'pdf',
    handle: ([sessionId = ''], _, ctx) => generatePdf(sessionId, ctx.sessions),
  },
  {
    pattern: new RegExp(`^/v3/session/${ID}/share/$`),
    method: 'POST',
    scope: 'other',
    handle: ([sessionId = ''], _, ctx) => shareSession(sessionId, ctx.sessions),
  },
  {
    pattern: /^\/v3\/session\/import-shared\/$/,
    method: 'POST',
    scope: 'other',
    handle: (_, body, ctx) => importSharedSession(body, ctx.sessions),
  },
  {
    pattern: new RegExp(`^/v3/sessions/${ID}/reviews/$`),
    method: 'GET',
    scope: 'other',
    handle: ([sessionId = ''], _, ctx) => listReviews(sessionId, ctx.sessions),
  },
  {
    pattern: new RegExp(`^/v3/sessions/${ID}/reviews/$`),
    method: 'POST',
    scope: 'other',
    handle: ([sessionId = ''], body, ctx) => addReview(sessionId, body, ctx.sessions),
  },
];
