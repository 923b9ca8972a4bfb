/**
 * Webhook destinations: `GET/POST /v3/webhook/destinations/`, `GET/PATCH/DELETE
 * /v3/webhook/destinations/{uuid}/` (didit-api.md §6.5).
 *
 * Each destination gets its own signing secret (`secret_shared_key`, a 43-character URL-safe token,
 * §6.4), returned in full to API-key callers as Didit does. The (application, url) pair is unique;
 * PATCH replaces `subscribed_events` as a whole.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { jsonObjectInput } from './json-input.ts';
import type { Reply } from './reply.ts';
import { NOT_FOUND, jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import type { RouteContext } from './route.ts';
import { areaState } from './route.ts';
import { EMPTY_LIST, booleanField, choiceField, listMessage, rejectUnknown, stringField } from './management-fields.ts';
import { ErrorBag, MESSAGES, choiceMessage, isHttpUrl, isPathUuid } from './validation.ts';

const EVENTS = [
  'status.updated',
  'data.updated',
  'user.status.updated',
  'user.data.updated',
  'business.status.updated',
  'business.data.updated',
  'activity.created',
  'transaction.created',
  'transaction.status.updated',
] as const;
const VERSIONS = ['v1', 'v2', 'v3'] as const;
const KNOWN = new Set(['label', 'url', 'subscribed_events', 'enabled', 'webhook_version']);

interface Destination {
  uuid: string;
  label: string;
  url: string;
  enabled: boolean;
  version: string;
  secret: string;
  events: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** Insertion-ordered: the list is oldest first. */
function destinations(ctx: RouteContext): Map<string, Destination> {
  return areaState(ctx, 'webhookDestinations', () => new Map<string, Destination>());
}

/** 32 random bytes as base64url: 43 characters. */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function listDestinations(ctx: RouteContext): Reply {
  return jsonReply(200, [...destinations(ctx).values()].map(destinationBody));
}

export function createDestination(body: ParsedBody, ctx: RouteContext): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const parsed = parseDestination(input.value, false, ctx, undefined);
  if (!parsed.ok) return jsonReply(400, parsed.errors);
  const now = new Date();
  const f = parsed.fields;
  const destination: Destination = {
    uuid: randomUUID(),
    label: f.label ?? '',
    url: f.url ?? '',
    enabled: f.enabled ?? true,
    version: f.version ?? 'v3',
    secret: newSecret(),
    events: f.events ?? [],
    createdAt: now,
    updatedAt: now,
  };
  destinations(ctx).set(destination.uuid, destination);
  return jsonReply(201, destinationBody(destination));
}

export function getDestination(id: string, ctx: RouteContext): Reply {
  const destination = find(id, ctx);
  return destination === undefined ? NOT_FOUND : jsonReply(200, destinationBody(destination));
}

export function updateDestination(id: string, body: ParsedBody, ctx: RouteContext): Reply {
  const destination = find(id, ctx);
  if (destination === undefined) return NOT_FOUND;
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const parsed = parseDestination(input.value, true, ctx, destination.uuid);
  if (!parsed.ok) return jsonReply(400, parsed.errors);
  const f = parsed.fields;
  if (f.label !== undefined) destination.label = f.label;
  if (f.url !== undefined) destination.url = f.url;
  if (f.enabled !== undefined) destination.enabled = f.enabled;
  if (f.version !== undefined) destination.version = f.version;
  // Replaced wholesale, never merged.
  if (f.events !== undefined) destination.events = f.events;
  destination.updatedAt = new Date();
  return jsonReply(200, destinationBody(destination));
}

export function deleteDestination(id: string, ctx: RouteContext): Reply {
  if (find(id, ctx) === undefined) return NOT_FOUND;
  destinations(ctx).delete(id);
  return { status: 204 };
}

function find(id: string, ctx: RouteContext): Destination | undefined {
  return isPathUuid(id) ? destinations(ctx).get(id) : undefined;
}

interface DestinationFields {
  label?: string;
  url?: string;
  enabled?: boolean;
  version?: string;
  events?: string[];
}

type Parsed = { ok: true; fields: DestinationFields } | { ok: false; errors: Record<string, string[]> };

function parseDestination(data: Record<string, unknown>, partial: boolean, ctx: RouteContext, self: string | undefined): Parsed {
  const errors = new ErrorBag();
  rejectUnknown(data, KNOWN, errors);
  const fields: DestinationFields = {};
  const label = stringField(data, 'label', errors, { required: !partial, max: 255 });
  if (label !== undefined) fields.label = label;
  const url = stringField(data, 'url', errors, { required: !partial, max: 2048 });
  if (url !== undefined) {
    if (!isHttpUrl(url)) errors.add('url', MESSAGES.notUrl);
    else if ([...destinations(ctx).values()].some((d) => d.url === url && d.uuid !== self)) {
      errors.add('url', 'A webhook destination with this URL already exists for this application.');
    } else fields.url = url;
  }
  const enabled = booleanField(data, 'enabled', errors);
  if (enabled !== undefined) fields.enabled = enabled;
  const version = choiceField(data, 'webhook_version', VERSIONS, errors);
  if (version !== undefined) fields.version = version;
  const events = data['subscribed_events'];
  if (events === undefined || events === null) {
    if (!partial) errors.add('subscribed_events', MESSAGES.required);
  } else if (!Array.isArray(events)) {
    errors.add('subscribed_events', listMessage(events));
  } else if (events.length === 0) {
    errors.add('subscribed_events', EMPTY_LIST);
  } else {
    // Exact names only: no wildcard, no pattern (§6.2).
    for (const event of events) {
      if (typeof event !== 'string' || !(EVENTS as readonly string[]).includes(event)) errors.add('subscribed_events', choiceMessage(event));
    }
    if (new Set(events).size !== events.length) errors.add('subscribed_events', 'Duplicate events are not allowed.');
    if (!errors.has('subscribed_events')) fields.events = [...(events as string[])];
  }
  return errors.empty ? { ok: true, fields } : { ok: false, errors: errors.errors };
}

/** §6.5's 201 body: the secret in full, and delivery statistics (none yet in the sandbox). */
function destinationBody(d: Destination): Record<string, unknown> {
  return {
    uuid: d.uuid,
    label: d.label,
    url: d.url,
    enabled: d.enabled,
    webhook_version: d.version,
    secret_shared_key: d.secret,
    subscribed_events: [...d.events],
    created_at: d.createdAt.toISOString(),
    updated_at: d.updatedAt.toISOString(),
    summary: {
      total_deliveries: 0,
      failed_deliveries: 0,
      error_rate_percentage: 0,
      min_response_time_ms: null,
      avg_response_time_ms: null,
      max_response_time_ms: null,
      last_delivery_at: null,
    },
  };
}
