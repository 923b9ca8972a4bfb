/**
 * One request through the sandbox, in the order a real deployment would apply things:
 * body cap (413) → record → injected fault → trailing-slash redirect (301) → API key (401)
 * → rate limit (429) → route.
 *
 * Every Didit-route request is recorded (before any answer, so a test sees it even while a delay fault
 * holds the answer back); the record says whether the key matched and never holds the key itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestKeyMatches } from './api-key.ts';
import type { ControlTarget } from './control.ts';
import { CONTROL_PREFIX, handleControl } from './control.ts';
import type { FaultQueue } from './faults.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { Reply } from './reply.ts';
import { detailReply, writeReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import { parseBody, readBody } from './request-body.ts';
import { dispatch, scopeOf, slashRedirect } from './routes.ts';
import type { SessionStore } from './sessions.ts';
import type { Fault, RecordedFile, RecordedRequest } from './types.ts';

export interface HandlerState {
  acceptedKey(): Buffer;
  readonly received: RecordedRequest[];
  readonly faults: FaultQueue;
  readonly sessions: SessionStore;
  /** Per-area state of the route modules (workflows, blocklist, …), cleared by reset(). */
  readonly areas: Map<string, unknown>;
  readonly rateLimiter: RateLimiter;
  /** Present only when the control routes are enabled. */
  readonly control: ControlTarget | undefined;
  /** Waits `ms`, or less if the sandbox closes first. */
  sleep(ms: number): Promise<void>;
  /** Answer with a TCP reset instead of a response. */
  resetConnection(req: IncomingMessage): void;
}

const REASONS: Record<number, string> = {
  429: 'Request was throttled.',
  500: 'A server error occurred.',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function createRequestHandler(state: HandlerState): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(state, req, res).catch((error: unknown) => {
      // Only the error's message: never request headers, which carry the key.
      process.stderr.write(`didit sandbox: handler failed: ${error instanceof Error ? error.message : 'unknown error'}\n`);
      writeReply(res, detailReply(500, 'A server error occurred.'), { chunked: false });
    });
  };
}

async function handle(state: HandlerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const url = new URL(req.url ?? '/', 'https://sandbox.invalid');
  const path = url.pathname;
  const contentType = req.headers['content-type'];

  if (state.control !== undefined && path.startsWith(CONTROL_PREFIX)) {
    const read = await readBody(req);
    if (read.kind === 'aborted') return;
    const body: ParsedBody = read.kind === 'ok' ? await parseBody(contentType, read.body) : { kind: 'empty' };
    writeReply(res, handleControl(method, path, body, state.control), { chunked: false });
    return;
  }

  const record: RecordedRequest = {
    method,
    path,
    query: Object.fromEntries(url.searchParams),
    keyMatched: requestKeyMatches(req, state.acceptedKey()),
    status: 0,
    at: Date.now(),
  };
  if (contentType !== undefined) record.contentType = contentType;

  const read = await readBody(req);
  state.received.push(record);
  if (read.kind === 'aborted') return;

  let chunked = false;
  const answer = (reply: Reply, extraHeaders?: Record<string, string>): void => {
    record.status = reply.status;
    writeReply(res, reply, extraHeaders === undefined ? { chunked } : { chunked, extraHeaders });
  };

  if (read.kind === 'too-large') {
    answer(detailReply(413, 'Request body is too large.', { Connection: 'close' }));
    return;
  }

  const body = await parseBody(contentType, read.body);
  describeBody(record, body);

  const fault = state.faults.take(method, path);
  if (fault !== undefined) {
    switch (fault.kind) {
      case 'status':
        answer(faultReply(fault));
        return;
      case 'reset':
        state.resetConnection(req);
        return;
      case 'malformed-json':
        // Looks like the start of a session body, then stops: a parser must reject it, not guess.
        answer({ status: 200, raw: '{"session_id": "3f2c9a4e-", "status": "Appro', headers: { 'Content-Type': 'application/json' } });
        return;
      case 'chunked':
        chunked = true;
        break;
      case 'delay':
        await state.sleep(fault.ms);
        if (res.destroyed || req.socket.destroyed) return;
        break;
    }
  }

  const location = slashRedirect(path, url.search);
  if (location !== null) {
    answer({ status: 301, headers: { Location: location } });
    return;
  }

  if (!record.keyMatched) {
    answer(detailReply(401, 'Invalid or missing API key'));
    return;
  }

  const rate = state.rateLimiter.take(scopeOf(method, path));
  if (!rate.allowed) {
    const wait = rate.retryAfterSeconds ?? 1;
    answer(detailReply(429, `Request was throttled. Expected available in ${wait} seconds.`, { 'Retry-After': String(wait) }), rate.headers);
    return;
  }
  answer(dispatch(method, path, body, { sessions: state.sessions, query: record.query, areas: state.areas }), rate.headers);
}

function faultReply(fault: Extract<Fault, { kind: 'status' }>): Reply {
  const headers: Record<string, string> = {};
  if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  if (fault.body !== undefined) {
    headers['Content-Type'] = looksLikeJson(fault.body) ? 'application/json' : 'text/html; charset=utf-8';
    return { status: fault.status, raw: fault.body, headers };
  }
  let detail = REASONS[fault.status] ?? `Sandbox fault ${fault.status}.`;
  if (fault.status === 429 && fault.retryAfterSeconds !== undefined) {
    detail = `Request was throttled. Expected available in ${fault.retryAfterSeconds} seconds.`;
  }
  return detailReply(fault.status, detail, headers);
}

function looksLikeJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** What the record keeps of a body: parsed JSON, text fields, and for files only name, size and type. */
function describeBody(record: RecordedRequest, body: ParsedBody): void {
  if (body.kind === 'json') {
    record.json = body.value;
  } else if (body.kind === 'multipart') {
    const fields: Record<string, string> = {};
    for (const [name, values] of body.fields) {
      const last = values.at(-1);
      if (last !== undefined) fields[name] = last;
    }
    const files: Record<string, RecordedFile> = {};
    for (const [name, uploads] of body.files) {
      const last = uploads.at(-1);
      if (last !== undefined) files[name] = { filename: last.filename, bytes: last.bytes, mimeType: last.mimeType };
    }
    record.fields = fields;
    record.files = files;
  }
}
