/**
 * Session routes beyond create and decision (didit-api.md §3.3–§3.8): list, delete, batch delete,
 * manual status update, PDF report, share/import and reviews. Errors answer like DRF (§7.1); where
 * Didit's exact wording is not documented the message is ours, in the same shape.
 */
import type { Reply } from './reply.ts';
import { NOT_FOUND, detailReply, jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import { jsonObjectInput } from './json-input.ts';
import { sessionPdf } from './session-pdf.ts';
import type { SessionStore, StoredSession } from './sessions.ts';
import { listRowBody, reviewBody } from './sessions.ts';
import type { SessionStatus } from './types.ts';
import { SESSION_STATUSES } from './types.ts';
import { ErrorBag, MESSAGES, choiceMessage, isPathUuid, isRecord, isUuid, jsonTypeName } from './validation.ts';

/** Where DRF builds `next`/`previous` links: Didit's own host. */
const DIDIT_ORIGIN = 'https://verification.didit.me';
const DEFAULT_LIMIT = 50;
/** Didit's maximum page size is not documented; DRF's LimitOffsetPagination clamps to its max_limit. */
const MAX_LIMIT = 200;

/** Current statuses from which a manual update is allowed (§3.6). */
const UPDATABLE_FROM: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Kyc Expired', 'Abandoned', 'Resubmitted']);
const UPDATE_TO = ['Approved', 'Declined', 'Resubmitted'] as const;
const REVIEW_TO = ['Approved', 'Declined', 'In Review'] as const;
/** Statuses with a PDF report (§3.7, KYC sessions). */
const PDF_STATUSES: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Kyc Expired']);
/** "Finished sessions only" (§3.8): a final decision was reached. */
const SHAREABLE: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined']);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The session a path names: Django's `<uuid:>` converter only matches lowercase ids, anything else is 404. */
function sessionAt(sessionId: string, store: SessionStore): StoredSession | undefined {
  return isPathUuid(sessionId) ? store.get(sessionId) : undefined;
}

// --- GET /v3/sessions/ (§3.3) -------------------------------------------------------------------

export function listSessions(query: Readonly<Record<string, string>>, store: SessionStore): Reply {
  const errors = new ErrorBag();
  const status = query['status'];
  if (status !== undefined && !(SESSION_STATUSES as readonly string[]).includes(status)) errors.add('status', filterChoiceMessage(status));
  const kind = query['session_kind'] ?? 'user';
  if (!['user', 'business', 'all'].includes(kind)) errors.add('session_kind', filterChoiceMessage(kind));
  const workflowId = query['workflow_id'];
  if (workflowId !== undefined && !isUuid(workflowId)) errors.add('workflow_id', 'Enter a valid UUID.');
  if (!errors.empty) return jsonReply(400, errors.errors);

  // DRF's LimitOffsetPagination: a bad limit or offset falls back to the default, a large limit is clamped.
  const limit = Math.min(positiveInt(query['limit'], { strict: true }) ?? DEFAULT_LIMIT, MAX_LIMIT);
  const offset = positiveInt(query['offset'], { strict: false }) ?? 0;

  // The sandbox has no KYB sessions: `business` is an empty page and `all` equals `user`.
  const rows =
    kind === 'business'
      ? []
      : store
          .list()
          .map(listRowBody)
          .filter(
            (row) =>
              (query['vendor_data'] === undefined || row['vendor_data'] === query['vendor_data']) &&
              (status === undefined || row['status'] === status) &&
              (query['country'] === undefined || row['country'] === query['country']) &&
              (workflowId === undefined || row['workflow_id'] === workflowId.toLowerCase()),
          );
  const page = rows.slice(offset, offset + limit);
  return jsonReply(200, {
    count: rows.length,
    next: offset + limit < rows.length ? pageLink(query, limit, offset + limit) : null,
    previous: offset > 0 ? pageLink(query, limit, Math.max(0, offset - limit)) : null,
    results: page,
  });
}

/** django-filter's message for a value outside a ChoiceFilter's choices. */
function filterChoiceMessage(value: string): string {
  return `Select a valid choice. ${value} is not one of the available choices.`;
}

function positiveInt(value: string | undefined, options: { strict: boolean }): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value)) return undefined;
  const n = Number(value);
  return options.strict && n === 0 ? undefined : n;
}

function pageLink(query: Readonly<Record<string, string>>, limit: number, offset: number): string {
  const params = new URLSearchParams(query);
  params.set('limit', String(limit));
  if (offset === 0) params.delete('offset');
  else params.set('offset', String(offset));
  return `${DIDIT_ORIGIN}/v3/sessions/?${params.toString()}`;
}

// --- DELETE /v3/session/{id}/delete/ (§3.4) and POST /v3/sessions/delete/ (§3.5) ----------------

export function deleteSession(sessionId: string, store: SessionStore): Reply {
  // A second delete finds nothing: 404, as documented.
  if (!isPathUuid(sessionId) || !store.softDelete(sessionId)) return NOT_FOUND;
  return { status: 204 };
}

export function batchDeleteSessions(body: ParsedBody, store: SessionStore): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors: Record<string, unknown> = {};

  const deleteAll = data['delete_all'];
  if (deleteAll !== undefined && typeof deleteAll !== 'boolean') errors['delete_all'] = [MESSAGES.notBoolean];

  const list = data['session_numbers'];
  const numbers = new Set<number>();
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list)) {
      errors['session_numbers'] = [`Expected a list of items but got type "${jsonTypeName(list)}".`];
    } else if (list.length === 0) {
      errors['session_numbers'] = ['This list may not be empty.'];
    } else {
      // DRF's ListField reports item errors keyed by index.
      const itemErrors: Record<string, string[]> = {};
      list.forEach((item: unknown, i) => {
        if (typeof item === 'string' && /^\d+$/.test(item)) numbers.add(Number(item));
        else itemErrors[String(i)] = ['Session numbers must contain digits only.'];
      });
      if (Object.keys(itemErrors).length > 0) errors['session_numbers'] = itemErrors;
    }
  }
  if (Object.keys(errors).length > 0) return jsonReply(400, errors);

  const hasList = list !== undefined && list !== null;
  // Bare-array errors, as Didit's users/delete answers (§3.5).
  if (!hasList && deleteAll !== true) return jsonReply(400, ['Provide session_numbers or set delete_all=true.']);
  if (hasList && deleteAll === true) return jsonReply(400, ['Provide either session_numbers or delete_all=true, not both.']);

  store.softDeleteMany(deleteAll === true ? { all: true } : { numbers });
  return { status: 204 };
}

// --- PATCH /v3/session/{id}/update-status/ (§3.6) -----------------------------------------------

export function updateSessionStatus(sessionId: string, body: ParsedBody, store: SessionStore): Reply {
  const session = sessionAt(sessionId, store);
  if (session === undefined) return NOT_FOUND;
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();
  const nested: Record<string, unknown> = {};

  const newStatus = requiredChoice(data, 'new_status', UPDATE_TO, errors);
  const comment = optionalString(data, 'comment', errors);
  const sendEmail = data['send_email'] ?? false;
  if (typeof sendEmail !== 'boolean') errors.add('send_email', MESSAGES.notBoolean);
  const emailAddress = optionalString(data, 'email_address', errors);
  if (emailAddress !== null && !EMAIL.test(emailAddress)) errors.add('email_address', 'Enter a valid email address.');
  if (sendEmail === true && emailAddress === null && !errors.has('email_address')) {
    errors.add('email_address', 'This field is required when send_email is true.');
  }
  optionalString(data, 'email_language', errors);

  const nodes = data['nodes_to_resubmit'];
  if (nodes !== undefined && nodes !== null) {
    if (!Array.isArray(nodes)) {
      errors.add('nodes_to_resubmit', `Expected a list of items but got type "${jsonTypeName(nodes)}".`);
    } else {
      // A nested serializer with many=True: one error object per item, empty for valid ones.
      const itemErrors = nodes.map((node: unknown) => nodeErrors(node));
      if (itemErrors.some((e) => Object.keys(e).length > 0)) nested['nodes_to_resubmit'] = itemErrors;
    }
  }
  if (!errors.empty || Object.keys(nested).length > 0 || newStatus === null) return jsonReply(400, { ...errors.errors, ...nested });

  if (!UPDATABLE_FROM.has(session.status)) return detailReply(400, 'Wrong Current Status');
  if (newStatus === session.status) {
    return jsonReply(400, { new_status: ['New status must be different from the current status.'] });
  }
  store.addReview(session, 'STATUS_UPDATED', newStatus, comment);
  return jsonReply(200, { session_id: session.sessionId, session_kind: 'user' });
}

function nodeErrors(node: unknown): Record<string, string[]> {
  if (!isRecord(node)) return { non_field_errors: [`Invalid data. Expected a dictionary, but got ${jsonTypeName(node)}.`] };
  const errors: Record<string, string[]> = {};
  for (const field of ['node_id', 'feature']) {
    const value = node[field];
    if (value === undefined || value === null) errors[field] = [MESSAGES.required];
    else if (typeof value !== 'string') errors[field] = [MESSAGES.notString];
    else if (value.trim() === '') errors[field] = [MESSAGES.blank];
  }
  return errors;
}

// --- GET /v3/session/{id}/generate-pdf/ (§3.7) --------------------------------------------------

export function generatePdf(sessionId: string, store: SessionStore): Reply {
  const session = sessionAt(sessionId, store);
  if (session === undefined) return NOT_FOUND;
  if (!PDF_STATUSES.has(session.status)) {
    return detailReply(403, `PDF reports are only available for sessions that are Approved, Declined, In Review or Kyc Expired (this one is ${session.status}).`);
  }
  return {
    status: 200,
    bytes: sessionPdf(session),
    headers: {
      'Content-Type': 'application/pdf',
      'Content-Disposition': `attachment; filename=session_${session.sessionId}.pdf`,
    },
  };
}

// --- Share and import (§3.8) --------------------------------------------------------------------

export function shareSession(sessionId: string, store: SessionStore): Reply {
  const session = sessionAt(sessionId, store);
  if (session === undefined) return NOT_FOUND;
  if (!SHAREABLE.has(session.status)) return detailReply(400, `Only finished sessions can be shared (this one is ${session.status}).`);
  return jsonReply(200, { session_id: session.sessionId, share_token: store.share(session) });
}

export function importSharedSession(body: ParsedBody, store: SessionStore): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();

  const token = data['share_token'];
  if (token === undefined || token === null) errors.add('share_token', MESSAGES.required);
  else if (typeof token !== 'string') errors.add('share_token', MESSAGES.notString);
  else if (token.trim() === '') errors.add('share_token', MESSAGES.blank);

  const trustReview = data['trust_review'];
  if (trustReview === undefined || trustReview === null) errors.add('trust_review', MESSAGES.required);
  else if (typeof trustReview !== 'boolean') errors.add('trust_review', MESSAGES.notBoolean);

  const workflowId = data['workflow_id'];
  if (workflowId === undefined || workflowId === null) errors.add('workflow_id', MESSAGES.required);
  else if (typeof workflowId !== 'string' || !isUuid(workflowId)) errors.add('workflow_id', MESSAGES.notUuid);

  const vendorData = optionalString(data, 'vendor_data', errors);
  if (!errors.empty || typeof token !== 'string' || typeof workflowId !== 'string') return jsonReply(400, errors.errors);

  const source = store.sharedSession(token);
  if (source === undefined) return jsonReply(400, { share_token: ['Invalid or expired share token.'] });
  // trust_review: false puts the copy in review instead of keeping the partner's decision.
  const copy = store.importShared(source, {
    workflowId: workflowId.toLowerCase(),
    vendorData,
    status: trustReview === true ? source.status : 'In Review',
  });
  if (copy === undefined) return detailReply(400, 'This session has already been imported into this application.');
  return jsonReply(201, {
    session_id: copy.sessionId,
    session_number: copy.sessionNumber,
    session_kind: 'user',
    status: copy.status,
    workflow_id: copy.workflowId,
    vendor_data: copy.vendorData,
  });
}

// --- GET/POST /v3/sessions/{id}/reviews/ (§3.8) -------------------------------------------------

export function listReviews(sessionId: string, store: SessionStore): Reply {
  const session = sessionAt(sessionId, store);
  if (session === undefined) return NOT_FOUND;
  return jsonReply(200, session.reviews.map(reviewBody));
}

export function addReview(sessionId: string, body: ParsedBody, store: SessionStore): Reply {
  const session = sessionAt(sessionId, store);
  if (session === undefined) return NOT_FOUND;
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const errors = new ErrorBag();
  const newStatus = requiredChoice(input.value, 'new_status', REVIEW_TO, errors);
  const comment = optionalString(input.value, 'comment', errors);
  if (!errors.empty || newStatus === null) return jsonReply(400, errors.errors);
  return jsonReply(201, reviewBody(store.addReview(session, 'REVIEW_ADDED', newStatus, comment)));
}

// --- Field helpers ------------------------------------------------------------------------------

function requiredChoice<T extends string>(data: Record<string, unknown>, field: string, choices: readonly T[], errors: ErrorBag): T | null {
  const value = data[field];
  if (value === undefined || value === null) {
    errors.add(field, MESSAGES.required);
    return null;
  }
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    errors.add(field, choiceMessage(value));
    return null;
  }
  return value as T;
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
