import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Sandbox, SessionStatus } from '../sandbox/index.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { OPERATIONS, type OperationName } from '../../lib/operations/table.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { setUpGateway, type GatewayFixture } from '../support/gateway-fixture.ts';

// The session operations (didit-api.md §3.3–§3.8) end to end: handler → sealed key (KMS on the
// emulator) → Didit client → sandbox. Each has a success case and a bad input that never leaves.
const WORKFLOW = '11111111-2222-4333-8444-555555555555';
const OTHER_WORKFLOW = '22222222-3333-4444-8555-666666666666';
const UNKNOWN = '0b0c3f43-3c35-4bb4-8f44-2d1c1f0c9a11';
let sandbox: Sandbox;
let deps: GatewayDependencies;

let gateway: GatewayFixture;

beforeAll(async () => {
  gateway = await setUpGateway('sessions');
  ({ sandbox, deps } = gateway);
});

afterAll(async () => {
  await gateway?.close();
});

beforeEach(() => {
  sandbox.reset();
});

function call(name: OperationName, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return createOperationHandler(OPERATIONS[name], { dependencies: () => deps })(event, lambdaContext()) as Promise<APIGatewayProxyResult>;
}

const body = (r: APIGatewayProxyResult) => JSON.parse(r.body) as Record<string, any>;
const jsonEvent = (method: string, path: string, payload: unknown, pathParameters?: Record<string, string>) =>
  apiEvent({
    method,
    path,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    ...(pathParameters === undefined ? {} : { pathParameters }),
  });
const onSession = (method: string, sessionId: string, tail: string) =>
  apiEvent({ method, path: `/v1/sessions/${sessionId}${tail}`, pathParameters: { sessionId } });

async function newSession(options: { vendorData?: string; status?: SessionStatus } = {}): Promise<{ id: string; number: number }> {
  const created = await call(
    'createSession',
    jsonEvent('POST', '/v1/sessions', { workflow_id: WORKFLOW, ...(options.vendorData === undefined ? {} : { vendor_data: options.vendorData }) }),
  );
  expect(created.statusCode).toBe(201);
  const id = String(body(created)['session_id']);
  if (options.status !== undefined) sandbox.setSessionStatus(id, options.status);
  return { id, number: Number(body(created)['session_number']) };
}

async function decisionStatus(sessionId: string): Promise<number> {
  return (await call('retrieveDecision', onSession('GET', sessionId, '/decision'))).statusCode;
}

/** Sends a bad request and checks it was refused before any Didit call. */
async function refusedLocally(name: OperationName, event: APIGatewayProxyEvent): Promise<Array<{ field: string; message: string }>> {
  const before = sandbox.received.length;
  const res = await call(name, event);
  expect(res.statusCode).toBe(400);
  expect(body(res).error.code).toBe('VALIDATION_FAILED');
  expect(sandbox.received.length).toBe(before);
  return body(res).error.issues as Array<{ field: string; message: string }>;
}

describe('listSessions', () => {
  it('passes the filters through and answers the Didit page', async () => {
    // Finished first: an unfinished session for the same vendor_data would be reused (§3.1).
    const approved = await newSession({ vendorData: 'user-a', status: 'Approved' });
    await newSession({ vendorData: 'user-a' });
    await newSession({ vendorData: 'user-b' });

    const query = { vendor_data: 'user-a', limit: '1', session_kind: 'user' };
    const res = await call('listSessions', apiEvent({ method: 'GET', path: '/v1/sessions', query }));
    expect(res.statusCode).toBe(200);
    const page = body(res);
    expect(page['count']).toBe(2);
    expect(page['results']).toHaveLength(1);
    expect(page['next']).toContain('offset=1');
    expect(page['previous']).toBeNull();
    expect(sandbox.received.at(-1)).toMatchObject({ method: 'GET', path: '/v3/sessions/', query, keyMatched: true });

    const filtered = body(await call('listSessions', apiEvent({ method: 'GET', path: '/v1/sessions', query: { status: 'Approved', country: 'ESP' } })));
    expect(filtered['results']).toEqual([
      expect.objectContaining({ session_id: approved.id, status: 'Approved', country: 'ESP', full_name: expect.any(String), vendor_data: 'user-a' }),
    ]);
  });

  it('refuses a status that is not one of the exact strings, without calling Didit', async () => {
    const issues = await refusedLocally('listSessions', apiEvent({ method: 'GET', path: '/v1/sessions', query: { status: 'approved', limit: '500' } }));
    expect(issues.map((i) => i.field)).toEqual(['query.status', 'query.limit']);
  });
});

describe('deleteSession', () => {
  it('answers 204 with an empty body; the session is gone and a second delete is 404', async () => {
    const { id } = await newSession();
    const res = await call('deleteSession', onSession('DELETE', id, ''));
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(sandbox.received.at(-1)).toMatchObject({ method: 'DELETE', path: `/v3/session/${id}/delete/`, status: 204 });
    expect(await decisionStatus(id)).toBe(404);
    const again = await call('deleteSession', onSession('DELETE', id, ''));
    expect(again.statusCode).toBe(404);
    expect(body(again).error.code).toBe('NOT_FOUND');
  });

  it('refuses an id that is not a UUID, without calling Didit', async () => {
    expect(await refusedLocally('deleteSession', onSession('DELETE', '1001', ''))).toEqual([{ field: 'path.sessionId', message: 'must be a UUID' }]);
  });
});

describe('batchDeleteSessions', () => {
  it('deletes the listed session numbers, then everything with delete_all', async () => {
    const first = await newSession();
    const second = await newSession();
    const listed = await call('batchDeleteSessions', jsonEvent('POST', '/v1/sessions/delete', { session_numbers: [String(first.number)] }));
    expect(listed.statusCode).toBe(204);
    expect(sandbox.received.at(-1)).toMatchObject({ path: '/v3/sessions/delete/', json: { session_numbers: [String(first.number)] } });
    expect(await decisionStatus(first.id)).toBe(404);
    expect(await decisionStatus(second.id)).toBe(200);

    const all = await call('batchDeleteSessions', jsonEvent('POST', '/v1/sessions/delete', { delete_all: true }));
    expect(all.statusCode).toBe(204);
    expect(await decisionStatus(second.id)).toBe(404);
  });

  it('never resends delete_all after a Didit 5xx (a retry could delete a session created in between)', async () => {
    sandbox.inject({ fault: { kind: 'status', status: 503 }, pathPrefix: '/v3/sessions/delete/' });
    const res = await call('batchDeleteSessions', jsonEvent('POST', '/v1/sessions/delete', { delete_all: true }));
    expect(res.statusCode).toBe(502);
    expect(sandbox.count({ pathPrefix: '/v3/sessions/delete/' })).toBe(1);
  });

  it('refuses an empty list, and a body naming neither target, without calling Didit', async () => {
    expect(await refusedLocally('batchDeleteSessions', jsonEvent('POST', '/v1/sessions/delete', { session_numbers: [] }))).toEqual([
      { field: 'session_numbers', message: 'must list at least one session number' },
    ]);
    expect(await refusedLocally('batchDeleteSessions', jsonEvent('POST', '/v1/sessions/delete', {}))).toEqual([
      { field: 'session_numbers', message: 'is required unless delete_all is true' },
    ]);
  });
});

describe('updateSessionStatus', () => {
  it('approves a session in review; the change shows in the decision and its reviews', async () => {
    const { id } = await newSession({ status: 'In Review' });
    const payload = { new_status: 'Approved', comment: 'Checked by hand.' };
    const res = await call('updateSessionStatus', jsonEvent('PATCH', `/v1/sessions/${id}/status`, payload, { sessionId: id }));
    expect(res.statusCode).toBe(200);
    expect(body(res)).toEqual({ session_id: id, session_kind: 'user' });
    expect(sandbox.received.at(-1)).toMatchObject({ method: 'PATCH', path: `/v3/session/${id}/update-status/`, json: payload });
    const decision = body(await call('retrieveDecision', onSession('GET', id, '/decision')));
    expect(decision['status']).toBe('Approved');
    expect(decision['reviews']).toEqual([expect.objectContaining({ old_status: 'In Review', new_status: 'Approved', note: 'Checked by hand.' })]);
  });

  it("passes on Didit's refusal of a session that is not finished (Wrong Current Status)", async () => {
    const { id } = await newSession();
    const res = await call('updateSessionStatus', jsonEvent('PATCH', `/v1/sessions/${id}/status`, { new_status: 'Declined' }, { sessionId: id }));
    expect(res.statusCode).toBe(400);
    expect(body(res).error.code).toBe('DIDIT_REJECTED_INPUT');
  });

  it('refuses send_email without an address, without calling Didit', async () => {
    const issues = await refusedLocally(
      'updateSessionStatus',
      jsonEvent('PATCH', `/v1/sessions/${UNKNOWN}/status`, { new_status: 'Declined', send_email: true }, { sessionId: UNKNOWN }),
    );
    expect(issues).toEqual([{ field: 'email_address', message: 'is required when send_email is true' }]);
  });
});

describe('generateSessionPdf', () => {
  it('passes the PDF through base64-encoded with its content type', async () => {
    const { id } = await newSession({ status: 'Approved' });
    const res = await call('generateSessionPdf', onSession('GET', id, '/pdf'));
    expect(res.statusCode).toBe(200);
    expect(res.isBase64Encoded).toBe(true);
    expect(res.headers?.['content-type']).toBe('application/pdf');
    const pdf = Buffer.from(res.body, 'base64');
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.toString('latin1').trimEnd().endsWith('%%EOF')).toBe(true);
    expect(pdf.toString('latin1')).toContain(id);
    expect(sandbox.received.at(-1)).toMatchObject({ method: 'GET', path: `/v3/session/${id}/generate-pdf/`, status: 200 });
  });

  it("passes on Didit's 403 for a session without a report yet", async () => {
    const { id } = await newSession();
    const res = await call('generateSessionPdf', onSession('GET', id, '/pdf'));
    expect(res.statusCode).toBe(403);
    expect(body(res).error.code).toBe('DIDIT_FORBIDDEN');
  });

  it('refuses an upper-case UUID with the reason, without calling Didit', async () => {
    const issues = await refusedLocally('generateSessionPdf', onSession('GET', UNKNOWN.toUpperCase(), '/pdf'));
    expect(issues).toEqual([{ field: 'path.sessionId', message: expect.stringContaining('lowercase UUID') }]);
  });
});

describe('shareSession and importSharedSession', () => {
  it('shares a finished session and imports it once, in review unless the review is trusted', async () => {
    const { id } = await newSession({ vendorData: 'partner-user', status: 'Approved' });
    const shared = await call('shareSession', onSession('POST', id, '/share'));
    expect(shared.statusCode).toBe(200);
    const token = String(body(shared)['share_token']);
    expect(token.length).toBeGreaterThan(20);

    const payload = { share_token: token, trust_review: false, workflow_id: OTHER_WORKFLOW, vendor_data: 'our-user' };
    const imported = await call('importSharedSession', jsonEvent('POST', '/v1/sessions/import-shared', payload));
    expect(imported.statusCode).toBe(201);
    expect(body(imported)).toMatchObject({ status: 'In Review', workflow_id: OTHER_WORKFLOW, vendor_data: 'our-user' });
    expect(body(imported)['session_id']).not.toBe(id);
    expect(sandbox.received.at(-1)).toMatchObject({ path: '/v3/session/import-shared/', json: payload });

    const twice = await call('importSharedSession', jsonEvent('POST', '/v1/sessions/import-shared', payload));
    expect(twice.statusCode).toBe(400);
    expect(body(twice).error.code).toBe('DIDIT_REJECTED_INPUT');
  });

  it('Didit refuses to share an unfinished session', async () => {
    const { id } = await newSession();
    const res = await call('shareSession', onSession('POST', id, '/share'));
    expect(res.statusCode).toBe(400);
    expect(body(res).error.code).toBe('DIDIT_REJECTED_INPUT');
  });

  it('refuses a bad session id and an import without trust_review, without calling Didit', async () => {
    expect(await refusedLocally('shareSession', onSession('POST', 'not-a-session', '/share'))).toEqual([
      { field: 'path.sessionId', message: 'must be a UUID' },
    ]);
    expect(
      await refusedLocally('importSharedSession', jsonEvent('POST', '/v1/sessions/import-shared', { share_token: 'abcdefghijkl', workflow_id: WORKFLOW })),
    ).toEqual([{ field: 'trust_review', message: 'is required' }]);
  });
});

describe('session reviews', () => {
  it('adds a review (201) and lists it', async () => {
    const { id } = await newSession({ status: 'Approved' });
    const added = await call('addSessionReview', jsonEvent('POST', `/v1/sessions/${id}/reviews`, { new_status: 'In Review', comment: 'Second look.' }, { sessionId: id }));
    expect(added.statusCode).toBe(201);
    expect(body(added)).toMatchObject({ old_status: 'Approved', new_status: 'In Review', note: 'Second look.' });

    const listed = await call('listSessionReviews', onSession('GET', id, '/reviews'));
    expect(listed.statusCode).toBe(200);
    expect(JSON.parse(listed.body)).toEqual([body(added)]);
    expect(sandbox.received.at(-1)).toMatchObject({ method: 'GET', path: `/v3/sessions/${id}/reviews/` });
  });

  it('list: an unknown session is 404; a bad id is refused without calling Didit', async () => {
    expect((await call('listSessionReviews', onSession('GET', UNKNOWN, '/reviews'))).statusCode).toBe(404);
    expect(await refusedLocally('listSessionReviews', onSession('GET', '1001', '/reviews'))).toEqual([{ field: 'path.sessionId', message: 'must be a UUID' }]);
  });

  it('add: a status reviews cannot set is refused without calling Didit', async () => {
    const issues = await refusedLocally('addSessionReview', jsonEvent('POST', `/v1/sessions/${UNKNOWN}/reviews`, { new_status: 'Resubmitted' }, { sessionId: UNKNOWN }));
    expect(issues).toEqual([{ field: 'new_status', message: 'must be one of: Approved, Declined, In Review' }]);
  });
});

/** Straight to the sandbox with the key, for answers the gateway's own validation never lets happen. */
function direct(method: string, path: string, payload?: unknown): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${sandbox.url}${path}`, {
      method,
      ca: sandbox.caPem,
      headers: { 'x-api-key': sandbox.apiKey.toString('latin1'), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('latin1') }));
    });
    req.end(payload === undefined ? undefined : JSON.stringify(payload));
  });
}

describe('the sandbox answers like Didit where the gateway never sends such requests', () => {
  it('PDF: attachment filename, 404 for an upper-case id', async () => {
    const { id } = await newSession({ status: 'Declined' });
    const pdf = await direct('GET', `/v3/session/${id}/generate-pdf/`);
    expect(pdf.status).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.headers['content-disposition']).toBe(`attachment; filename=session_${id}.pdf`);
    expect(pdf.text.startsWith('%PDF-1.4')).toBe(true);
    expect((await direct('GET', `/v3/session/${id.toUpperCase()}/generate-pdf/`)).status).toBe(404);
  });

  it('update-status: preconditions and DRF-style field errors', async () => {
    const { id } = await newSession({ status: 'Approved' });
    const same = await direct('PATCH', `/v3/session/${id}/update-status/`, { new_status: 'Approved' });
    expect(same.status).toBe(400);
    expect(JSON.parse(same.text)).toEqual({ new_status: ['New status must be different from the current status.'] });
    const bad = await direct('PATCH', `/v3/session/${id}/update-status/`, { new_status: 'In Review', send_email: true, nodes_to_resubmit: [{ node_id: 'x' }] });
    expect(JSON.parse(bad.text)).toEqual({
      new_status: ['"In Review" is not a valid choice.'],
      email_address: ['This field is required when send_email is true.'],
      nodes_to_resubmit: [{ feature: ['This field is required.'] }],
    });
    const fresh = await newSession();
    const wrong = await direct('PATCH', `/v3/session/${fresh.id}/update-status/`, { new_status: 'Approved' });
    expect([wrong.status, JSON.parse(wrong.text)]).toEqual([400, { detail: 'Wrong Current Status' }]);
  });

  it('batch delete: empty list, no target, non-digit numbers', async () => {
    expect(JSON.parse((await direct('POST', '/v3/sessions/delete/', { session_numbers: [] })).text)).toEqual({ session_numbers: ['This list may not be empty.'] });
    expect(JSON.parse((await direct('POST', '/v3/sessions/delete/', {})).text)).toEqual(['Provide session_numbers or set delete_all=true.']);
    const digits = await direct('POST', '/v3/sessions/delete/', { session_numbers: ['1001', 'x1'] });
    expect([digits.status, JSON.parse(digits.text)]).toEqual([400, { session_numbers: { '1': ['Session numbers must contain digits only.'] } }]);
  });

  it('list: a status outside the exact strings is a django-filter 400; a bad limit falls back to the default', async () => {
    const bad = await direct('GET', '/v3/sessions/?status=approved');
    expect([bad.status, JSON.parse(bad.text)]).toEqual([400, { status: ['Select a valid choice. approved is not one of the available choices.'] }]);
    await newSession();
    const page = JSON.parse((await direct('GET', '/v3/sessions/?limit=abc')).text) as Record<string, unknown>;
    expect(page).toMatchObject({ count: 1, next: null, previous: null });
  });
});
