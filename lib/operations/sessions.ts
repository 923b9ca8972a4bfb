import * as z from 'zod';
import { defineOperation } from './types.ts';
import { MB, alpha3, base64Image, e164, intText, isoDate, text, uuid } from './formats.ts';

// Session operations (didit-api.md §3).

export const createSession = defineOperation({
  name: 'createSession',
  successStatus: 201,
  summary: 'Create a verification session (hosted flow) for a workflow',
  route: { method: 'POST', path: '/v1/sessions' },
  didit: { method: 'POST', path: '/v3/session/' },
  body: 'json',
  input: () => z.strictObject({
    workflow_id: uuid,
    vendor_data: text(256).optional(),
    callback: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048).optional(),
    callback_method: z.enum(['initiator', 'completer', 'both']).optional(),
    metadata: z.union([z.record(z.string(), z.unknown()), z.string().max(4096)]).optional(),
    language: z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/, 'must be an ISO 639-1 code (e.g. en, pt-BR)').optional(),
    contact_details: z
      .strictObject({
        email: z.email({ message: 'must be an email address' }).optional(),
        send_notification_emails: z.boolean().optional(),
        email_lang: z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/).optional(),
        phone: e164.optional(),
      })
      .optional(),
    expected_details: z
      .strictObject({
        first_name: text(128).optional(),
        last_name: text(128).optional(),
        date_of_birth: isoDate.optional(),
        gender: z.enum(['M', 'F']).nullable().optional(),
        nationality: alpha3.optional(),
        country: alpha3.optional(),
        id_country: alpha3.optional(),
        poa_country: alpha3.optional(),
        address: text(512).optional(),
        identification_number: text(64).optional(),
        ip_address: z.union([z.ipv4(), z.ipv6()], { message: 'must be an IP address' }).optional(),
        expected_document_types: z.array(z.string().regex(/^[A-Z]{1,3}$/)).max(10).optional(),
      })
      .optional(),
    portrait_image: base64Image(1 * MB).optional(),
  }),
  timeoutMs: 10_000,
  // Didit returns the same unfinished session for the same workflow and vendor_data (§3.1).
  idempotent: (input) => typeof input['vendor_data'] === 'string',
  billing: 'free to create; the session is billed when the user completes it',
});

export const retrieveDecision = defineOperation({
  name: 'retrieveDecision',
  summary: "Retrieve a session's decision",
  route: { method: 'GET', path: '/v1/sessions/{sessionId}/decision' },
  didit: { method: 'GET', path: '/v3/session/{sessionId}/decision/' },
  body: 'none',
  params: () => z.strictObject({ sessionId: uuid }),
  timeoutMs: 10_000,
  idempotent: true,
  billing: 'free',
});

// Local formats of this area (not exported: every export of an area module is a table entry).

/**
 * A closed set of strings. The message lists the choices, and a missing field reads "is required"
 * like every other missing field (zod reports a missing enum as a wrong value).
 */
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  const choices = `must be one of: ${values.join(', ')}`;
  return z.enum(values, { error: (issue) => (issue.input === undefined ? 'is required' : choices) });
}

/** The exact, case-sensitive session statuses (§7.2). */
const sessionStatus = oneOf([
  'Not Started',
  'In Progress',
  'Approved',
  'Declined',
  'In Review',
  'Resubmitted',
  'Expired',
  'Abandoned',
  'Kyc Expired',
  'Awaiting User',
]);

/** Reviewer comments: free text that may span lines, but no other control characters. */
const comment = z
  .string()
  .min(1, 'must not be empty')
  .max(2000, 'must be at most 2000 characters')
  .refine((v) => ![...v].some(isDisallowedControl), 'must not contain control characters other than line breaks and tabs');

function isDisallowedControl(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return (c < 0x20 && ch !== '\n' && ch !== '\r' && ch !== '\t') || c === 0x7f;
}

/**
 * Didit's PDF route only matches lowercase UUIDs (§3.7): an upper-case id would cost a round trip
 * for a 404 that does not say why, so it is refused here with the reason.
 */
const lowercaseSessionId = uuid.refine((v) => v === v.toLowerCase(), 'must be a lowercase UUID (Didit does not match upper-case letters here)');

/** Query values arrive as strings; offsets can exceed what intText's four digits allow. */
const offsetText = z.string().regex(/^\d{1,9}$/, 'must be a whole number of at least 0');

/** `session_number` values are integers sent as digit strings (§3.5). */
const sessionNumber = z.string().regex(/^\d{1,12}$/, 'must be a session number (digits only)');

const languageCode = z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/, 'must be an ISO 639-1 code (e.g. en, pt-BR)');

const sessionIdParams = z.strictObject({ sessionId: uuid });

export const listSessions = defineOperation({
  name: 'listSessions',
  summary: 'List sessions, newest first, with filters and offset pagination',
  route: { method: 'GET', path: '/v1/sessions' },
  didit: { method: 'GET', path: '/v3/sessions/' },
  body: 'none',
  query: () => z.strictObject({
    vendor_data: text(256).optional(),
    status: sessionStatus.optional(),
    country: alpha3.optional(),
    workflow_id: uuid.optional(),
    session_kind: oneOf(['user', 'business', 'all']).optional(),
    limit: intText(1, 200).optional(),
    offset: offsetText.optional(),
  }),
  timeoutMs: 10_000,
  idempotent: true,
  billing: 'free',
});

export const deleteSession = defineOperation({
  name: 'deleteSession',
  successStatus: 204,
  summary: 'Soft-delete one session (no undo, no webhook)',
  route: { method: 'DELETE', path: '/v1/sessions/{sessionId}' },
  didit: { method: 'DELETE', path: '/v3/session/{sessionId}/delete/' },
  body: 'none',
  params: () => sessionIdParams,
  timeoutMs: 10_000,
  // Safe to resend: nothing is billed, no webhook fires, and the end state is the same (§3.4). A
  // resend after an answer that got lost sees 404, which for a delete still means "the session is
  // gone" — better than leaving the caller with a network error and no answer at all.
  idempotent: true,
  billing: 'free',
});

export const batchDeleteSessions = defineOperation({
  name: 'batchDeleteSessions',
  successStatus: 204,
  summary: 'Soft-delete sessions by session number, or all sessions of the application',
  route: { method: 'POST', path: '/v1/sessions/delete' },
  didit: { method: 'POST', path: '/v3/sessions/delete/' },
  body: 'json',
  input: () => z
    .strictObject({
      session_numbers: z.array(sessionNumber).min(1, 'must list at least one session number').optional(),
      delete_all: z.boolean().optional(),
    })
    .superRefine((v, ctx) => {
      // Exactly one target: an explicit list, or everything (§3.5). Both at once is ambiguous about
      // what the caller meant to delete, so it is refused rather than guessed.
      const all = v.delete_all === true;
      if (v.session_numbers === undefined && !all) {
        ctx.addIssue({ code: 'custom', path: ['session_numbers'], message: 'is required unless delete_all is true' });
      }
      if (v.session_numbers !== undefined && all) {
        ctx.addIssue({ code: 'custom', path: ['delete_all'], message: 'must not be combined with session_numbers' });
      }
    }),
  timeoutMs: 15_000,
  // Deleting listed sessions twice ends the same way. Resending delete_all does not: it would also
  // delete a session created between the two attempts.
  idempotent: (input) => input['delete_all'] !== true,
  billing: 'free',
});

export const updateSessionStatus = defineOperation({
  name: 'updateSessionStatus',
  summary: 'Approve, decline or ask the user to resubmit a finished session',
  route: { method: 'PATCH', path: '/v1/sessions/{sessionId}/status' },
  didit: { method: 'PATCH', path: '/v3/session/{sessionId}/update-status/' },
  body: 'json',
  params: () => sessionIdParams,
  input: () => z
    .strictObject({
      new_status: oneOf(['Approved', 'Declined', 'Resubmitted']),
      comment: comment.optional(),
      send_email: z.boolean().optional(),
      email_address: z.email({ message: 'must be an email address' }).optional(),
      email_language: languageCode.optional(),
      nodes_to_resubmit: z
        .array(
          z.strictObject({
            node_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a workflow node id (e.g. feature_ocr)'),
            feature: z.string().regex(/^[A-Z][A-Z0-9_]{1,39}$/, 'must be a feature name (e.g. OCR)'),
          }),
        )
        .min(1, 'must list at least one node')
        .max(50)
        .optional(),
    })
    .superRefine((v, ctx) => {
      if (v.send_email === true && v.email_address === undefined) {
        ctx.addIssue({ code: 'custom', path: ['email_address'], message: 'is required when send_email is true' });
      }
      if (v.nodes_to_resubmit !== undefined && v.new_status !== 'Resubmitted') {
        ctx.addIssue({ code: 'custom', path: ['nodes_to_resubmit'], message: 'is only allowed when new_status is Resubmitted' });
      }
    }),
  timeoutMs: 10_000,
  // Not resent: a second identical call is refused (the new status must differ, §3.6), so a resend
  // after a lost answer would report a 400 for a change that was made, and each success fires a
  // status.updated webhook and possibly an email. The caller re-reads the decision instead.
  idempotent: false,
  billing: 'free',
});

export const generateSessionPdf = defineOperation({
  name: 'generateSessionPdf',
  summary: 'Download the PDF report of a finished session',
  route: { method: 'GET', path: '/v1/sessions/{sessionId}/pdf' },
  didit: { method: 'GET', path: '/v3/session/{sessionId}/generate-pdf/' },
  body: 'none',
  params: () => z.strictObject({ sessionId: lowercaseSessionId }),
  // Rendered fresh on every call (§3.7): allow more than a JSON read.
  timeoutMs: 20_000,
  idempotent: true,
  billing: 'free',
  response: 'binary',
});

export const shareSession = defineOperation({
  name: 'shareSession',
  summary: 'Create a share token for a finished session (reusable KYC with a partner)',
  route: { method: 'POST', path: '/v1/sessions/{sessionId}/share' },
  didit: { method: 'POST', path: '/v3/session/{sessionId}/share/' },
  body: 'none',
  params: () => sessionIdParams,
  timeoutMs: 10_000,
  // Each call may mint another valid token for the same personal data (§3.8): never resent.
  idempotent: false,
  billing: 'not documented (believed free)',
});

export const importSharedSession = defineOperation({
  name: 'importSharedSession',
  successStatus: 201,
  summary: "Import a partner's shared session into one of this application's workflows",
  route: { method: 'POST', path: '/v1/sessions/import-shared' },
  didit: { method: 'POST', path: '/v3/session/import-shared/' },
  body: 'json',
  input: () => z.strictObject({
    share_token: z.string().regex(/^[A-Za-z0-9._~+/=-]{8,512}$/, 'must be a share token as returned by the share operation'),
    trust_review: z.boolean({ message: 'must be true or false' }),
    workflow_id: uuid,
    vendor_data: text(256).optional(),
  }),
  timeoutMs: 15_000,
  // A session can be imported once per application (§3.8), and whether an import is billed is not
  // documented: never resent.
  idempotent: false,
  billing: 'not documented; a reusable-KYC import may be billed',
});

export const listSessionReviews = defineOperation({
  name: 'listSessionReviews',
  summary: "List a session's review activity",
  route: { method: 'GET', path: '/v1/sessions/{sessionId}/reviews' },
  didit: { method: 'GET', path: '/v3/sessions/{sessionId}/reviews/' },
  body: 'none',
  params: () => sessionIdParams,
  timeoutMs: 10_000,
  idempotent: true,
  billing: 'free',
});

export const addSessionReview = defineOperation({
  name: 'addSessionReview',
  successStatus: 201,
  summary: 'Add a review (status and comment) to a session',
  route: { method: 'POST', path: '/v1/sessions/{sessionId}/reviews' },
  didit: { method: 'POST', path: '/v3/sessions/{sessionId}/reviews/' },
  body: 'json',
  params: () => sessionIdParams,
  input: () => z.strictObject({
    new_status: oneOf(['Approved', 'Declined', 'In Review']),
    comment: comment.optional(),
  }),
  timeoutMs: 10_000,
  // Each call adds a review entry: a resend would record it twice.
  idempotent: false,
  billing: 'free',
});
