/**
 * Session-based blocklist: `POST /v3/blocklist/add/`, `POST /v3/blocklist/remove/`,
 * `GET /v3/blocklist/` (didit-api.md §4.3). Entries point at sessions of the sandbox's session store,
 * so a test blocklists a session it created first.
 */
import { jsonObjectInput } from './json-input.ts';
import type { Reply } from './reply.ts';
import { detailReply, jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import type { RouteContext } from './route.ts';
import { areaState } from './route.ts';
import { booleanField, pageLinks, pageOf, rejectUnknown, uuidField } from './management-fields.ts';
import type { StoredSession } from './sessions.ts';
import { ErrorBag, choiceMessage } from './validation.ts';

const ITEM_TYPES = ['face', 'document', 'phone', 'email'] as const;
type ItemType = (typeof ITEM_TYPES)[number];

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 200;
const UPDATED = { message: 'Successfully updated blocklist.' };

interface Entry {
  type: ItemType;
  sessionId: string;
  at: Date;
}

function entries(ctx: RouteContext): Map<string, Entry> {
  return areaState(ctx, 'blocklist', () => new Map<string, Entry>());
}

export function blocklistAdd(body: ParsedBody, ctx: RouteContext): Reply {
  return change(body, ctx, 'blocklist_', (store, type, sessionId) => {
    const key = `${type}:${sessionId}`;
    if (!store.has(key)) store.set(key, { type, sessionId, at: new Date() });
  });
}

export function blocklistRemove(body: ParsedBody, ctx: RouteContext): Reply {
  return change(body, ctx, 'unblock_', (store, type, sessionId) => {
    store.delete(`${type}:${sessionId}`);
  });
}

function change(body: ParsedBody, ctx: RouteContext, prefix: string, apply: (store: Map<string, Entry>, type: ItemType, sessionId: string) => void): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();
  const flags = ITEM_TYPES.map((type) => `${prefix}${type}`);
  rejectUnknown(data, new Set(['session_id', ...flags]), errors);
  const sessionId = uuidField(data, 'session_id', errors, true);
  const chosen = ITEM_TYPES.filter((type) => booleanField(data, `${prefix}${type}`, errors) === true);
  if (errors.empty && chosen.length === 0) errors.add('non_field_errors', `At least one of ${flags.join(', ')} must be true.`);
  if (!errors.empty || sessionId === undefined) return jsonReply(400, errors.errors);
  if (ctx.sessions.get(sessionId) === undefined) return detailReply(404, 'Session not found.');
  const store = entries(ctx);
  for (const type of chosen) apply(store, type, sessionId);
  return jsonReply(200, UPDATED);
}

export function listBlocklist(ctx: RouteContext): Reply {
  const errors = new ErrorBag();
  const itemType = ctx.query['item_type'];
  if (itemType !== undefined && !(ITEM_TYPES as readonly string[]).includes(itemType)) errors.add('item_type', choiceMessage(itemType));
  const page = pageOf(ctx.query, errors, DEFAULT_LIMIT, MAX_LIMIT);
  if (!errors.empty) return jsonReply(400, errors.errors);
  const all = [...entries(ctx).values()].filter((e) => itemType === undefined || e.type === itemType);
  const results = all.slice(page.offset, page.offset + page.limit).map((e) => entryBody(e, ctx.sessions.get(e.sessionId)));
  return jsonReply(200, { count: all.length, ...pageLinks('/v3/blocklist/', ctx.query, page, all.length), results });
}

/** One item of the list (§4.3): the fields of its type are filled from the session, the others null. */
function entryBody(entry: Entry, session: StoredSession | undefined): Record<string, unknown> {
  const contact = session?.contactDetails ?? {};
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    type: entry.type,
    session_id: entry.sessionId,
    session_number: session?.sessionNumber ?? null,
    blocklisted_at: entry.at.toISOString(),
    face_image: entry.type === 'face' ? `https://media.didit.me/blocklist/${entry.sessionId}/face.jpg` : null,
    document_type: entry.type === 'document' ? 'P' : null,
    document_number: entry.type === 'document' ? 'PAB123456' : null,
    front_image: entry.type === 'document' ? `https://media.didit.me/blocklist/${entry.sessionId}/front.jpg` : null,
    phone_number: entry.type === 'phone' ? (text(contact['phone']) ?? '+34600000000') : null,
    country_code: entry.type === 'phone' ? 'ES' : null,
    email: entry.type === 'email' ? (text(contact['email']) ?? 'user@example.com') : null,
  };
}
