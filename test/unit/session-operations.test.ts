import { describe, expect, it } from 'vitest';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { ValidRequest } from '../../lib/validation/request.ts';
import { validateRequest } from '../../lib/adapters/http/validate-request.ts';
import { ValidationError } from '../../lib/errors/index.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { apiEvent } from '../support/api-events.ts';

// Validation of the session operations (didit-api.md §3): what is refused before any Didit call.
const SESSION = '0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f';
const WORKFLOW = '11111111-2222-4333-8444-555555555555';

const get = (path: string, extra: { pathParameters?: Record<string, string>; query?: Record<string, string> } = {}) =>
  apiEvent({ method: 'GET', path, ...extra });
const withJson = (method: string, path: string, body: unknown, pathParameters?: Record<string, string>) =>
  apiEvent({
    method,
    path,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(pathParameters === undefined ? {} : { pathParameters }),
  });

async function issuesOf(spec: OperationSpec, event: APIGatewayProxyEvent): Promise<Record<string, string>> {
  try {
    await validateRequest(spec, event);
  } catch (err) {
    if (err instanceof ValidationError) return Object.fromEntries(err.issues.map((i) => [i.field, i.message]));
    throw err;
  }
  throw new Error('expected a validation error');
}

const valid = (spec: OperationSpec, event: APIGatewayProxyEvent): Promise<ValidRequest> => validateRequest(spec, event);

describe('listSessions', () => {
  const spec = OPERATIONS.listSessions;
  it('accepts every documented filter', async () => {
    const query = {
      vendor_data: 'user-1',
      status: 'Kyc Expired',
      country: 'ESP',
      workflow_id: WORKFLOW,
      session_kind: 'all',
      limit: '200',
      offset: '12000',
    };
    expect((await valid(spec, get('/v1/sessions', { query }))).query).toEqual(query);
    expect((await valid(spec, get('/v1/sessions'))).query).toEqual({});
  });

  it('refuses statuses that are not the exact strings, and bad ranges, all at once', async () => {
    expect(
      await issuesOf(
        spec,
        get('/v1/sessions', {
          query: { status: 'approved', country: 'ES', workflow_id: 'x', session_kind: 'kyb', limit: '201', offset: '-1', page: '2' },
        }),
      ),
    ).toEqual({
      'query.status': expect.stringContaining('must be one of: Not Started, In Progress, Approved'),
      'query.country': expect.stringContaining('alpha-3'),
      'query.workflow_id': 'must be a UUID',
      'query.session_kind': 'must be one of: user, business, all',
      'query.limit': 'must be between 1 and 200',
      'query.offset': 'must be a whole number of at least 0',
      'query.page': 'is not a known field',
    });
    expect(await issuesOf(spec, get('/v1/sessions', { query: { limit: '0' } }))).toEqual({ 'query.limit': 'must be between 1 and 200' });
    expect(await issuesOf(spec, get('/v1/sessions', { query: { limit: '1.5' } }))).toEqual({ 'query.limit': 'must be a whole number' });
  });
});

describe('deleteSession', () => {
  it('needs a UUID and no body', async () => {
    const spec = OPERATIONS.deleteSession;
    expect((await valid(spec, apiEvent({ method: 'DELETE', path: `/v1/sessions/${SESSION}`, pathParameters: { sessionId: SESSION } }))).params).toEqual({
      sessionId: SESSION,
    });
    expect(await issuesOf(spec, apiEvent({ method: 'DELETE', path: '/v1/sessions/1001', pathParameters: { sessionId: '1001' } }))).toEqual({
      'path.sessionId': 'must be a UUID',
    });
  });
});

describe('batchDeleteSessions', () => {
  const spec = OPERATIONS.batchDeleteSessions;
  const event = (body: unknown) => withJson('POST', '/v1/sessions/delete', body);
  it('takes session numbers or delete_all: true', async () => {
    expect((await valid(spec, event({ session_numbers: ['1001', '1002'] }))).input).toEqual({ session_numbers: ['1001', '1002'] });
    expect((await valid(spec, event({ delete_all: true }))).input).toEqual({ delete_all: true });
    expect((await valid(spec, event({ session_numbers: ['7'], delete_all: false }))).input).toEqual({ session_numbers: ['7'], delete_all: false });
  });

  it('is resent only for an explicit list: resending delete_all could delete a session created in between', () => {
    const idempotent = spec.idempotent as (input: Record<string, unknown>) => boolean;
    expect(idempotent({ session_numbers: ['1001'] })).toBe(true);
    expect(idempotent({ delete_all: true })).toBe(false);
  });

  it('refuses an empty list, neither target, both targets and non-digit numbers', async () => {
    expect(await issuesOf(spec, event({ session_numbers: [] }))).toEqual({ session_numbers: 'must list at least one session number' });
    expect(await issuesOf(spec, event({}))).toEqual({ session_numbers: 'is required unless delete_all is true' });
    expect(await issuesOf(spec, event({ delete_all: false }))).toEqual({ session_numbers: 'is required unless delete_all is true' });
    expect(await issuesOf(spec, event({ session_numbers: ['1001'], delete_all: true }))).toEqual({
      delete_all: 'must not be combined with session_numbers',
    });
    expect(await issuesOf(spec, event({ session_numbers: ['1001', '10a', 1003] }))).toEqual({
      'session_numbers.1': 'must be a session number (digits only)',
      // The message of a wrong JSON type comes from validate-request.ts; only the field is asserted here.
      'session_numbers.2': expect.any(String),
    });
    expect(await issuesOf(spec, event({ delete_all: 'yes' }))).toEqual({ delete_all: expect.any(String) });
  });
});

describe('updateSessionStatus', () => {
  const spec = OPERATIONS.updateSessionStatus;
  const event = (body: unknown) => withJson('PATCH', `/v1/sessions/${SESSION}/status`, body, { sessionId: SESSION });
  it('accepts the documented body, multi-line comments included', async () => {
    const body = {
      new_status: 'Resubmitted',
      comment: 'Blurry photo.\nPlease retake.',
      send_email: true,
      email_address: 'user@example.com',
      email_language: 'es',
      nodes_to_resubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }],
    };
    expect((await valid(spec, event(body))).input).toEqual(body);
    expect((await valid(spec, event({ new_status: 'Approved' }))).input).toEqual({ new_status: 'Approved' });
  });

  it('refuses other statuses, a missing email address, nodes outside Resubmitted and bad nodes', async () => {
    expect(await issuesOf(spec, event({}))).toEqual({ new_status: 'is required' });
    expect(await issuesOf(spec, event({ new_status: 'In Review' }))).toEqual({ new_status: 'must be one of: Approved, Declined, Resubmitted' });
    expect(await issuesOf(spec, event({ new_status: 'Declined', send_email: true }))).toEqual({ email_address: 'is required when send_email is true' });
    expect(await issuesOf(spec, event({ new_status: 'Declined', nodes_to_resubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }] }))).toEqual({
      nodes_to_resubmit: 'is only allowed when new_status is Resubmitted',
    });
    expect(
      await issuesOf(spec, event({ new_status: 'Resubmitted', nodes_to_resubmit: [{ node_id: 'feature ocr', feature: 'ocr', extra: 1 }], comment: 'a\u0000b' })),
    ).toEqual({
      'nodes_to_resubmit.0.node_id': 'must be a workflow node id (e.g. feature_ocr)',
      'nodes_to_resubmit.0.feature': 'must be a feature name (e.g. OCR)',
      'nodes_to_resubmit.0.extra': 'is not a known field',
      comment: 'must not contain control characters other than line breaks and tabs',
    });
    expect(await issuesOf(spec, event({ new_status: 'Resubmitted', nodes_to_resubmit: [] }))).toEqual({
      nodes_to_resubmit: 'must list at least one node',
    });
  });
});

describe('generateSessionPdf', () => {
  const spec = OPERATIONS.generateSessionPdf;
  it('is a binary passthrough', () => {
    expect(spec.response).toBe('binary');
  });

  it('takes a lowercase UUID only, saying why an upper-case one is refused', async () => {
    const ok = await valid(spec, get(`/v1/sessions/${SESSION}/pdf`, { pathParameters: { sessionId: SESSION } }));
    expect(ok.params).toEqual({ sessionId: SESSION });
    const upper = SESSION.toUpperCase();
    expect(await issuesOf(spec, get(`/v1/sessions/${upper}/pdf`, { pathParameters: { sessionId: upper } }))).toEqual({
      'path.sessionId': expect.stringContaining('lowercase UUID'),
    });
    expect(await issuesOf(spec, get('/v1/sessions/x/pdf', { pathParameters: { sessionId: 'x' } }))).toEqual({ 'path.sessionId': 'must be a UUID' });
  });
});

describe('shareSession and importSharedSession', () => {
  it('share takes no body', async () => {
    const spec = OPERATIONS.shareSession;
    const event = apiEvent({
      method: 'POST',
      path: `/v1/sessions/${SESSION}/share`,
      pathParameters: { sessionId: SESSION },
      headers: { 'content-type': 'application/json' },
      body: '{"x":1}',
    });
    expect(await issuesOf(spec, event)).toEqual({ body: 'this operation takes no body' });
  });

  it('import needs share_token, trust_review and workflow_id', async () => {
    const spec = OPERATIONS.importSharedSession;
    const event = (body: unknown) => withJson('POST', '/v1/sessions/import-shared', body);
    const body = { share_token: 'kT3-x_9Qa8VbZr2LmN0pYc4sD7fHj1uW6eGiOtRqKvA', trust_review: false, workflow_id: WORKFLOW, vendor_data: 'user-1' };
    expect((await valid(spec, event(body))).input).toEqual(body);
    expect(await issuesOf(spec, event({}))).toEqual({ share_token: 'is required', trust_review: 'is required', workflow_id: 'is required' });
    expect(await issuesOf(spec, event({ share_token: 'has spaces in it', trust_review: 'false', workflow_id: WORKFLOW }))).toEqual({
      share_token: 'must be a share token as returned by the share operation',
      // Wrong JSON type: the message comes from validate-request.ts; only the field is asserted here.
      trust_review: expect.any(String),
    });
  });
});

describe('session reviews', () => {
  it('list takes a UUID', async () => {
    const spec = OPERATIONS.listSessionReviews;
    expect(await issuesOf(spec, get('/v1/sessions/nope/reviews', { pathParameters: { sessionId: 'nope' } }))).toEqual({ 'path.sessionId': 'must be a UUID' });
  });

  it('add takes Approved, Declined or In Review and an optional comment', async () => {
    const spec = OPERATIONS.addSessionReview;
    const event = (body: unknown) => withJson('POST', `/v1/sessions/${SESSION}/reviews`, body, { sessionId: SESSION });
    expect((await valid(spec, event({ new_status: 'In Review', comment: 'Second look' }))).input).toEqual({ new_status: 'In Review', comment: 'Second look' });
    expect(await issuesOf(spec, event({ new_status: 'Resubmitted', comment: '' }))).toEqual({
      new_status: 'must be one of: Approved, Declined, In Review',
      comment: 'must not be empty',
    });
  });
});

describe('the route table (API Gateway)', () => {
  const routes = Object.values(OPERATIONS).map((spec) => ({ name: spec.name, method: spec.route.method, segments: spec.route.path.split('/').slice(1) }));
  const isParam = (segment: string) => /^\{\w+\}$/.test(segment);

  it('has one operation per (method, path)', () => {
    const keys = routes.map((r) => `${r.method} /${r.segments.join('/')}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('never lets one request match two operations: a literal segment never overlaps a parameter for the same method', () => {
    const overlaps: string[] = [];
    for (const [i, a] of routes.entries()) {
      for (const b of routes.slice(i + 1)) {
        if (a.method !== b.method || a.segments.length !== b.segments.length) continue;
        const unifiable = a.segments.every((s, k) => s === b.segments[k] || isParam(s) || isParam(b.segments[k] ?? ''));
        if (unifiable) overlaps.push(`${a.name} / ${b.name}`);
      }
    }
    expect(overlaps).toEqual([]);
  });

  it('names sibling parameters alike, as API Gateway requires of one resource tree', () => {
    const paramAt = new Map<string, string>();
    const clashes: string[] = [];
    for (const route of routes) {
      route.segments.forEach((segment, k) => {
        if (!isParam(segment)) return;
        const parent = route.segments.slice(0, k).join('/');
        const seen = paramAt.get(parent);
        if (seen !== undefined && seen !== segment) clashes.push(`${parent}: ${seen} vs ${segment}`);
        paramAt.set(parent, segment);
      });
    }
    expect(clashes).toEqual([]);
  });

  it('declares every path parameter of both paths in params', () => {
    for (const spec of Object.values(OPERATIONS) as OperationSpec[]) {
      const names = new Set([...`${spec.route.path}${spec.didit.path}`.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
      expect(Object.keys(spec.params?.shape ?? {}).sort(), spec.name).toEqual([...names].sort());
    }
  });
});
