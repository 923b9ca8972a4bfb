import { X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox } from '../sandbox/index.ts';
import type { Sandbox } from '../sandbox/index.ts';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json(): unknown;
}

interface Call {
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  agent?: Agent;
  timeoutMs?: number;
}

/** One HTTPS exchange that trusts only the sandbox CA (never rejectUnauthorized: false). */
function call(sandbox: Sandbox, c: Call): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${sandbox.url}${c.path}`, {
      method: c.method ?? 'GET',
      ca: sandbox.caPem,
      headers: c.headers ?? {},
      ...(c.agent === undefined ? {} : { agent: c.agent }),
    });
    if (c.timeoutMs !== undefined) {
      req.setTimeout(c.timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'ETIMEDOUT' })));
    }
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown });
      });
    });
    req.end(c.body);
  });
}

function keyHeader(key: Buffer): Record<string, string> {
  return { 'x-api-key': key.toString('latin1') };
}

function postJson(sandbox: Sandbox, path: string, body: unknown, key: Buffer | null = sandbox.apiKey): Promise<Answer> {
  const payload = JSON.stringify(body);
  return call(sandbox, {
    method: 'POST',
    path,
    body: payload,
    headers: { 'content-type': 'application/json', ...(key === null ? {} : keyHeader(key)) },
  });
}

interface Part {
  name: string;
  value: string | Buffer;
  filename?: string;
  type?: string;
}

function multipart(parts: Part[]): { body: Buffer; contentType: string } {
  const boundary = `----sandboxtest${Math.random().toString(16).slice(2)}`;
  const pieces: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"\r\nContent-Type: ${part.type ?? 'application/octet-stream'}`;
    pieces.push(Buffer.from(`${head}\r\n\r\n`), Buffer.isBuffer(part.value) ? part.value : Buffer.from(part.value), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(pieces), contentType: `multipart/form-data; boundary=${boundary}` };
}

function postMultipart(sandbox: Sandbox, parts: Part[]): Promise<Answer> {
  const { body, contentType } = multipart(parts);
  return call(sandbox, { method: 'POST', path: '/v3/id-verification/', body, headers: { 'content-type': contentType, ...keyHeader(sandbox.apiKey) } });
}

/** A buffer that starts like a JPEG (SOI + APP0 marker) padded to `size` bytes. */
function jpegLike(size: number): Buffer {
  const buffer = Buffer.alloc(size, 0x20);
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]).copy(buffer);
  return buffer;
}

const WORKFLOW_ID = '5d1b7a52-1c8f-4b0e-9d38-2a6f0c4e7b11';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('didit sandbox', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox.close();
  });
  beforeEach(() => {
    sandbox.reset();
  });

  describe('startup', () => {
    it('serves https on loopback with a generated 40-character key', () => {
      expect(sandbox.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(sandbox.apiKey.toString('latin1')).toMatch(/^[A-Za-z0-9_-]{40}$/);
    });

    it('uses a CA (basicConstraints CA:true) that signed a server certificate for 127.0.0.1 and localhost', async () => {
      const ca = new X509Certificate(sandbox.caPem);
      expect(ca.ca).toBe(true);
      const socketCert = await new Promise<X509Certificate>((resolve, reject) => {
        const req = httpsRequest(`${sandbox.url}/`, { ca: sandbox.caPem, agent: false });
        req.on('socket', (socket) => {
          socket.once('secureConnect', () => {
            const peer = (socket as TLSSocket).getPeerX509Certificate();
            if (peer === undefined) reject(new Error('no peer certificate'));
            else resolve(peer);
            req.destroy();
          });
        });
        req.on('error', () => undefined);
        req.end();
      });
      expect(socketCert.ca).toBe(false);
      expect(socketCert.checkIssued(ca)).toBe(true);
      expect(socketCert.verify(ca.publicKey)).toBe(true);
      expect(socketCert.subjectAltName).toContain('IP Address:127.0.0.1');
      expect(socketCert.subjectAltName).toContain('DNS:localhost');
    });

    it('writes the CA to a 0600 temp file that matches caPem', async () => {
      const info = await stat(sandbox.caFile);
      expect(info.mode & 0o777).toBe(0o600);
      expect(sandbox.caFile.startsWith(process.cwd())).toBe(false);
    });

    it('uses fresh keys on every start and removes the CA file on close', async () => {
      const other = await startSandbox({ apiKey: Buffer.from('fixed-key-for-this-test') });
      expect(other.caPem).not.toBe(sandbox.caPem);
      expect(other.apiKey.toString()).toBe('fixed-key-for-this-test');
      const file = other.caFile;
      await other.close();
      await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });

  describe('authentication', () => {
    it('answers 401 without a key', async () => {
      const answer = await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID }, null);
      expect(answer.status).toBe(401);
      expect(answer.json()).toEqual({ detail: 'Invalid or missing API key' });
      expect(sandbox.received[0]).toMatchObject({ method: 'POST', path: '/v3/session/', keyMatched: false, status: 401 });
    });

    it('answers 401 for a wrong key, also one that is a prefix of the right key', async () => {
      expect((await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID }, Buffer.from('wrong'))).status).toBe(401);
      const prefix = sandbox.apiKey.subarray(0, sandbox.apiKey.length - 1);
      expect((await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID }, prefix)).status).toBe(401);
      expect(sandbox.count({ keyMatched: false })).toBe(2);
    });

    it('accepts the header name in any case', async () => {
      const answer = await call(sandbox, {
        method: 'POST',
        path: '/v3/session/',
        body: JSON.stringify({ workflow_id: WORKFLOW_ID }),
        headers: { 'content-type': 'application/json', 'X-API-Key': sandbox.apiKey.toString('latin1') },
      });
      expect(answer.status).toBe(201);
      expect(sandbox.count({ keyMatched: true })).toBe(1);
    });

    it('switches keys on acceptKey: the old key then gets 401', async () => {
      const rotating = await startSandbox({ apiKey: Buffer.from('old-key-0000') });
      try {
        const oldKey = Buffer.from(rotating.apiKey);
        const newKey = Buffer.from('new-key-1111');
        rotating.acceptKey(newKey);
        expect((await postJson(rotating, '/v3/session/', { workflow_id: WORKFLOW_ID }, oldKey)).status).toBe(401);
        expect((await postJson(rotating, '/v3/session/', { workflow_id: WORKFLOW_ID }, newKey)).status).toBe(201);
        expect(rotating.apiKey.equals(newKey)).toBe(true);
      } finally {
        await rotating.close();
      }
    });

    it('never records the key or the header value', async () => {
      await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID, vendor_data: 'user-1' });
      await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID }, Buffer.from('wrong-key-value'));
      await postMultipart(sandbox, [{ name: 'front_image', value: jpegLike(64), filename: 'f.jpg', type: 'image/jpeg' }]);
      const dump = JSON.stringify(sandbox.received);
      expect(sandbox.received).toHaveLength(3);
      expect(dump).not.toContain(sandbox.apiKey.toString('latin1'));
      expect(dump).not.toContain(sandbox.apiKey.toString('base64'));
      expect(dump).not.toContain('wrong-key-value');
      expect(dump.toLowerCase()).not.toContain('x-api-key');
    });
  });

  describe('POST /v3/session/', () => {
    it('creates a session (201) with a Didit-shaped body and rate-limit headers', async () => {
      const answer = await postJson(sandbox, '/v3/session/', {
        workflow_id: WORKFLOW_ID,
        vendor_data: 'user-1',
        callback: 'https://example.com/done',
        callback_method: 'both',
        metadata: { plan: 'gold' },
        language: 'es',
        contact_details: { email: 'a@example.com' },
        expected_details: { first_name: 'Carmen' },
      });
      expect(answer.status).toBe(201);
      const body = answer.json() as Record<string, unknown>;
      expect(body['session_id']).toMatch(UUID_V4);
      expect(typeof body['session_number']).toBe('number');
      expect(body['url']).toBe(`https://verify.didit.me/session/${String(body['session_token'])}`);
      expect(body).toMatchObject({
        vendor_data: 'user-1',
        metadata: { plan: 'gold' },
        status: 'Not Started',
        workflow_id: WORKFLOW_ID,
        callback: 'https://example.com/done',
        workflow_version: 1,
        session_kind: 'user',
      });
      expect(answer.headers['x-ratelimit-limit']).toBe('600');
      expect(answer.headers['x-ratelimit-remaining']).toBe('599');
      expect(Number(answer.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
    });

    it('returns the same unfinished session for the same workflow and vendor_data, with updated callback and metadata', async () => {
      const first = (await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID, vendor_data: 'user-2', metadata: { v: 1 } })).json() as Record<string, unknown>;
      const again = await postJson(sandbox, '/v3/session/', {
        workflow_id: WORKFLOW_ID,
        vendor_data: 'user-2',
        metadata: { v: 2 },
        callback: 'https://example.com/cb',
      });
      expect(again.status).toBe(201);
      const second = again.json() as Record<string, unknown>;
      expect(second['session_id']).toBe(first['session_id']);
      expect(second['metadata']).toEqual({ v: 2 });
      expect(second['callback']).toBe('https://example.com/cb');

      const otherUser = (await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID, vendor_data: 'user-3' })).json() as Record<string, unknown>;
      expect(otherUser['session_id']).not.toBe(first['session_id']);

      sandbox.setSessionStatus(String(first['session_id']), 'Approved');
      const afterFinish = (await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID, vendor_data: 'user-2' })).json() as Record<string, unknown>;
      expect(afterFinish['session_id']).not.toBe(first['session_id']);
    });

    it('never reuses sessions without vendor_data', async () => {
      const a = (await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID })).json() as Record<string, unknown>;
      const b = (await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID })).json() as Record<string, unknown>;
      expect(a['session_id']).not.toBe(b['session_id']);
    });

    it('answers 400 DRF-style for a missing or malformed workflow_id and bad optional fields', async () => {
      const missing = await postJson(sandbox, '/v3/session/', { vendor_data: 'x' });
      expect(missing.status).toBe(400);
      expect(missing.json()).toEqual({ workflow_id: ['This field is required.'] });

      const bad = await postJson(sandbox, '/v3/session/', {
        workflow_id: 'not-a-uuid',
        callback: 'notaurl',
        callback_method: 'sometimes',
        contact_details: 'x',
        vendor_data: 5,
        portrait_image: '***',
      });
      expect(bad.status).toBe(400);
      expect(Object.keys(bad.json() as object).sort()).toEqual(
        ['callback', 'callback_method', 'contact_details', 'portrait_image', 'vendor_data', 'workflow_id'].sort(),
      );
    });

    it('limits portrait_image to 1 MB decoded', async () => {
      const ok = await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID, portrait_image: Buffer.alloc(1024 * 1024).toString('base64') });
      expect(ok.status).toBe(201);
      const big = await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID, portrait_image: Buffer.alloc(1024 * 1024 + 3).toString('base64') });
      expect(big.status).toBe(400);
      expect(big.json()).toHaveProperty('portrait_image');
    });

    it('answers 400 for broken JSON and 415 for another media type', async () => {
      const broken = await call(sandbox, {
        method: 'POST',
        path: '/v3/session/',
        body: '{"workflow_id":',
        headers: { 'content-type': 'application/json', ...keyHeader(sandbox.apiKey) },
      });
      expect(broken.status).toBe(400);
      const text = await call(sandbox, { method: 'POST', path: '/v3/session/', body: 'hi', headers: { 'content-type': 'text/plain', ...keyHeader(sandbox.apiKey) } });
      expect(text.status).toBe(415);
    });
  });

  describe('GET /v3/session/{id}/decision/', () => {
    it('returns the decision of a known session and follows setSessionStatus', async () => {
      const created = (await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID, vendor_data: 'user-9', metadata: { k: 'v' } })).json() as Record<string, unknown>;
      const id = String(created['session_id']);
      const first = await call(sandbox, { path: `/v3/session/${id}/decision/`, headers: keyHeader(sandbox.apiKey) });
      expect(first.status).toBe(200);
      expect(first.headers['x-ratelimit-limit']).toBe('100');
      expect(first.json()).toMatchObject({
        session_id: id,
        session_number: created['session_number'],
        session_url: created['url'],
        status: 'Not Started',
        workflow_id: WORKFLOW_ID,
        vendor_data: 'user-9',
        metadata: { k: 'v' },
        id_verifications: [],
      });

      sandbox.setSessionStatus(id, 'Approved');
      const approved = (await call(sandbox, { path: `/v3/session/${id}/decision/`, headers: keyHeader(sandbox.apiKey) })).json() as Record<string, unknown>;
      expect(approved['status']).toBe('Approved');
      expect(approved['id_verifications']).toEqual([expect.objectContaining({ status: 'Approved', document_type: 'Identity Card' })]);
      expect(typeof approved['created_at']).toBe('string');
    });

    it('answers 404 for an unknown UUID and for a non-UUID id', async () => {
      const unknown = await call(sandbox, { path: '/v3/session/0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f/decision/', headers: keyHeader(sandbox.apiKey) });
      expect(unknown.status).toBe(404);
      expect(unknown.json()).toEqual({ detail: 'Not found.' });
      const notUuid = await call(sandbox, { path: '/v3/session/12345/decision/', headers: keyHeader(sandbox.apiKey) });
      expect(notUuid.status).toBe(404);
    });

    it('rejects unknown status names in setSessionStatus', async () => {
      const created = (await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID })).json() as Record<string, unknown>;
      expect(() => sandbox.setSessionStatus(String(created['session_id']), 'approved' as 'Approved')).toThrow();
      expect(() => sandbox.setSessionStatus('0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f', 'Approved')).toThrow();
    });
  });

  describe('POST /v3/id-verification/', () => {
    it('accepts a JPEG front image with valid fields and records only sizes', async () => {
      const answer = await postMultipart(sandbox, [
        { name: 'front_image', value: jpegLike(2048), filename: 'front.jpg', type: 'image/jpeg' },
        { name: 'back_image', value: Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(100)]), filename: 'back.pdf', type: 'application/pdf' },
        { name: 'minimum_age', value: '18' },
        { name: 'invalid_mrz_action', value: 'DECLINE' },
        { name: 'perform_document_liveness', value: 'true' },
        { name: 'vendor_data', value: 'user-7' },
      ]);
      expect(answer.status).toBe(200);
      const body = answer.json() as Record<string, unknown>;
      expect(body['request_id']).toMatch(UUID_V4);
      expect(body['vendor_data']).toBe('user-7');
      expect(body['id_verification']).toMatchObject({
        status: 'Approved',
        document_type: 'Identity Card',
        document_number: 'SANDBOX123',
        issuing_state: 'ESP',
        warnings: [],
      });
      const record = sandbox.received.at(-1);
      expect(record?.files).toEqual({
        front_image: { filename: 'front.jpg', bytes: 2048, mimeType: 'image/jpeg' },
        back_image: { filename: 'back.pdf', bytes: 109, mimeType: 'application/pdf' },
      });
      expect(record?.fields).toEqual({ minimum_age: '18', invalid_mrz_action: 'DECLINE', perform_document_liveness: 'true', vendor_data: 'user-7' });

      // Saved standalone calls are readable through the decision endpoint.
      const decision = await call(sandbox, { path: `/v3/session/${String(body['request_id'])}/decision/`, headers: keyHeader(sandbox.apiKey) });
      expect(decision.status).toBe(200);
    });

    it('accepts a file of exactly 5 MB and rejects 5 MB + 1 byte', async () => {
      const exact = await postMultipart(sandbox, [{ name: 'front_image', value: jpegLike(5 * 1024 * 1024), filename: 'f.jpg', type: 'image/jpeg' }]);
      expect(exact.status).toBe(200);
      const over = await postMultipart(sandbox, [{ name: 'front_image', value: jpegLike(5 * 1024 * 1024 + 1), filename: 'f.jpg', type: 'image/jpeg' }]);
      expect(over.status).toBe(400);
      expect(over.json()).toHaveProperty('front_image');
    });

    it('rejects a file whose magic bytes are not an accepted format, whatever its declared type', async () => {
      const answer = await postMultipart(sandbox, [{ name: 'front_image', value: Buffer.from('GIF89a-not-accepted'), filename: 'f.jpg', type: 'image/jpeg' }]);
      expect(answer.status).toBe(400);
      expect(answer.json()).toHaveProperty('front_image');
    });

    it('rejects a missing front_image, unknown fields, bad values and a wrong content type', async () => {
      const missing = await postMultipart(sandbox, [{ name: 'vendor_data', value: 'x' }]);
      expect(missing.status).toBe(400);
      expect(missing.json()).toEqual({ front_image: ['No file was submitted.'] });

      const unknown = await postMultipart(sandbox, [
        { name: 'front_image', value: jpegLike(100), filename: 'f.jpg', type: 'image/jpeg' },
        { name: 'surprise', value: '1' },
      ]);
      expect(unknown.status).toBe(400);
      expect(unknown.json()).toHaveProperty('surprise');

      const badValues = await postMultipart(sandbox, [
        { name: 'front_image', value: jpegLike(100), filename: 'f.jpg', type: 'image/jpeg' },
        { name: 'minimum_age', value: '121' },
        { name: 'inconsistent_data_action', value: 'MAYBE' },
        { name: 'save_api_request', value: 'yes' },
      ]);
      expect(badValues.status).toBe(400);
      expect(Object.keys(badValues.json() as object).sort()).toEqual(['inconsistent_data_action', 'minimum_age', 'save_api_request']);

      const json = await postJson(sandbox, '/v3/id-verification/', { front_image: 'x' });
      expect(json.status).toBe(400);
    });

    it('declines when the document holder is younger than minimum_age', async () => {
      const answer = await postMultipart(sandbox, [
        { name: 'front_image', value: jpegLike(100), filename: 'f.jpg', type: 'image/jpeg' },
        { name: 'minimum_age', value: '120' },
      ]);
      expect(answer.status).toBe(200);
      expect(answer.json()).toMatchObject({ id_verification: { status: 'Declined', warnings: [expect.objectContaining({ risk: 'MINIMUM_AGE_NOT_MET' })] } });
    });
  });

  describe('POST /v3/aml/', () => {
    it('approves a clean name with no hits', async () => {
      const answer = await postJson(sandbox, '/v3/aml/', { full_name: 'Jane Doe', date_of_birth: '1990-02-03', nationality: 'ES' });
      expect(answer.status).toBe(200);
      expect(answer.json()).toMatchObject({ aml: { status: 'Approved', total_hits: 0, score: 0, hits: [], entity_type: 'person' } });
    });

    it('declines a name containing "Sanction" with one hit scored 95', async () => {
      const answer = await postJson(sandbox, '/v3/aml/', { full_name: 'Ivan Sanction', vendor_data: 'user-1' });
      expect(answer.status).toBe(200);
      const body = answer.json() as { aml: { status: string; total_hits: number; score: number; hits: Array<Record<string, unknown>> }; vendor_data: string };
      expect(body.aml.status).toBe('Declined');
      expect(body.aml.total_hits).toBe(1);
      expect(body.aml.score).toBe(95);
      expect(body.aml.hits[0]).toMatchObject({ match_score: 95, risk_score: 95 });
      expect(body.vendor_data).toBe('user-1');
    });

    it('validates fields DRF-style', async () => {
      expect((await postJson(sandbox, '/v3/aml/', {})).json()).toEqual({ full_name: ['This field is required.'] });
      const bad = await postJson(sandbox, '/v3/aml/', {
        full_name: 'x',
        entity_type: 'robot',
        date_of_birth: '1990-13-01',
        nationality: 'XX',
        aml_score_approve_threshold: 101,
        include_adverse_media: 'yes',
      });
      expect(bad.status).toBe(400);
      expect(Object.keys(bad.json() as object).sort()).toEqual(
        ['aml_score_approve_threshold', 'date_of_birth', 'entity_type', 'include_adverse_media', 'nationality'].sort(),
      );
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x', aml_name_weight: 50, aml_dob_weight: 30, aml_country_weight: 30 })).status).toBe(400);
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x', aml_name_weight: 50, aml_dob_weight: 30, aml_country_weight: 20 })).status).toBe(200);
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x', aml_score_approve_threshold: 90, aml_score_review_threshold: 80 })).status).toBe(400);
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x', include_ongoing_monitoring: true, save_api_request: false })).status).toBe(400);
    });
  });

  describe('routing', () => {
    it('redirects a path without its trailing slash (301) and keeps the query', async () => {
      const answer = await call(sandbox, { path: '/v3/session/0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f/decision?x=1', headers: keyHeader(sandbox.apiKey) });
      expect(answer.status).toBe(301);
      expect(answer.headers.location).toBe('/v3/session/0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f/decision/?x=1');
      const post = await postJson(sandbox, '/v3/session', { workflow_id: WORKFLOW_ID });
      expect(post.status).toBe(301);
      expect(post.headers.location).toBe('/v3/session/');
    });

    it('answers 404 for unknown routes and 405 for a wrong method', async () => {
      const unknown = await call(sandbox, { path: '/v3/no-such-route/', headers: keyHeader(sandbox.apiKey) });
      expect(unknown.status).toBe(404);
      expect(unknown.json()).toEqual({ detail: 'Not found.' });
      const wrongMethod = await call(sandbox, { path: '/v3/session/', headers: keyHeader(sandbox.apiKey) });
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.allow).toBe('POST');
    });

    it('keeps the control routes closed unless started with control: true', async () => {
      expect((await call(sandbox, { path: '/__sandbox/stats' })).status).toBe(401);
      expect((await call(sandbox, { path: '/__sandbox/stats', headers: keyHeader(sandbox.apiKey) })).status).toBe(404);
    });

    it('answers 413 for a body over 16 MB', async () => {
      const answer = await call(sandbox, {
        method: 'POST',
        path: '/v3/aml/',
        body: Buffer.alloc(16 * 1024 * 1024 + 1, 0x20),
        headers: { 'content-type': 'application/json', ...keyHeader(sandbox.apiKey) },
      });
      expect(answer.status).toBe(413);
    });

    it('records query strings, content types and statuses', async () => {
      await call(sandbox, { path: '/v3/sessions/?limit=5&vendor_data=u', headers: keyHeader(sandbox.apiKey) });
      expect(sandbox.received[0]).toMatchObject({ method: 'GET', path: '/v3/sessions/', query: { limit: '5', vendor_data: 'u' }, status: 200, keyMatched: true });
      expect(sandbox.count({ method: 'get', pathPrefix: '/v3/' })).toBe(1);
      expect(sandbox.count({ method: 'POST' })).toBe(0);
    });
  });

  describe('rate limits', () => {
    it('answers 429 with Retry-After once the per-minute budget is spent', async () => {
      const limited = await startSandbox({ rateLimits: { create: 2 } });
      try {
        const statuses: number[] = [];
        let last: Answer | undefined;
        for (let i = 0; i < 3; i++) {
          last = await postJson(limited, '/v3/session/', { workflow_id: WORKFLOW_ID });
          statuses.push(last.status);
        }
        expect(statuses).toEqual([201, 201, 429]);
        expect(Number(last?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(last?.headers['x-ratelimit-remaining']).toBe('0');
        // Other scopes have their own budget.
        expect((await postJson(limited, '/v3/aml/', { full_name: 'x' })).status).toBe(200);
      } finally {
        await limited.close();
      }
    });
  });

  describe('faults', () => {
    it('status: answers the injected status (429 with Retry-After) once, then normally', async () => {
      sandbox.inject({ fault: { kind: 'status', status: 429, retryAfterSeconds: 7 } });
      const throttled = await postJson(sandbox, '/v3/aml/', { full_name: 'x' });
      expect(throttled.status).toBe(429);
      expect(throttled.headers['retry-after']).toBe('7');
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x' })).status).toBe(200);
    });

    it('status: honours times, method, pathPrefix and a custom body', async () => {
      sandbox.inject({ fault: { kind: 'status', status: 502, body: '<html>bad gateway</html>' }, times: 2, method: 'GET', pathPrefix: '/v3/session/' });
      expect((await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID })).status).toBe(201);
      const path = '/v3/session/0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f/decision/';
      const first = await call(sandbox, { path, headers: keyHeader(sandbox.apiKey) });
      expect(first.status).toBe(502);
      expect(first.text).toBe('<html>bad gateway</html>');
      expect((await call(sandbox, { path, headers: keyHeader(sandbox.apiKey) })).status).toBe(502);
      expect((await call(sandbox, { path, headers: keyHeader(sandbox.apiKey) })).status).toBe(404);
    });

    it('status: faults are consumed in order and clearFaults drops the rest', async () => {
      sandbox.inject({ fault: { kind: 'status', status: 500 } });
      sandbox.inject({ fault: { kind: 'status', status: 503 } });
      sandbox.inject({ fault: { kind: 'status', status: 504 } });
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x' })).status).toBe(500);
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x' })).status).toBe(503);
      sandbox.clearFaults();
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x' })).status).toBe(200);
    });

    it('delay: holds the answer back (a short client timeout fires), then answers normally', async () => {
      // A delay no client timeout can lose to (close() ends it): the request is recorded, never answered.
      sandbox.inject({ fault: { kind: 'delay', ms: 600_000 } });
      await expect(call(sandbox, { method: 'POST', path: '/v3/aml/', body: '{"full_name":"x"}', headers: { 'content-type': 'application/json', ...keyHeader(sandbox.apiKey) }, timeoutMs: 150 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect(sandbox.count({ pathPrefix: '/v3/aml/' })).toBe(1);
      expect(sandbox.received.at(-1)?.status).toBe(0);

      sandbox.inject({ fault: { kind: 'delay', ms: 200 } });
      const slow = await postJson(sandbox, '/v3/aml/', { full_name: 'x' });
      expect(slow.status).toBe(200);
      expect(sandbox.received.at(-1)?.status).toBe(200);
    });

    it('reset: drops the connection without an answer (ECONNRESET)', async () => {
      sandbox.inject({ fault: { kind: 'reset' } });
      await expect(postJson(sandbox, '/v3/aml/', { full_name: 'x' })).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(sandbox.received.at(-1)?.status).toBe(0);
      expect((await postJson(sandbox, '/v3/aml/', { full_name: 'x' })).status).toBe(200);
    });

    it('malformed-json: 200 with application/json that does not parse', async () => {
      sandbox.inject({ fault: { kind: 'malformed-json' } });
      const answer = await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID });
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(() => answer.json()).toThrow(SyntaxError);
    });

    it('chunked: the normal answer, framed with Transfer-Encoding: chunked', async () => {
      sandbox.inject({ fault: { kind: 'chunked' } });
      const answer = await postJson(sandbox, '/v3/session/', { workflow_id: WORKFLOW_ID, vendor_data: 'c' });
      expect(answer.status).toBe(201);
      expect(answer.headers['transfer-encoding']).toBe('chunked');
      expect(answer.headers['content-length']).toBeUndefined();
      expect(answer.json()).toMatchObject({ workflow_id: WORKFLOW_ID, vendor_data: 'c' });
    });

    it('rejects malformed rules', () => {
      expect(() => sandbox.inject({ fault: { kind: 'status', status: 42 } })).toThrow();
      expect(() => sandbox.inject({ fault: { kind: 'delay', ms: -1 } })).toThrow();
      expect(() => sandbox.inject({ fault: { kind: 'reset' }, times: 0 })).toThrow();
    });
  });

  describe('connections', () => {
    it('keeps connections alive: two requests on a keep-alive agent use one TCP connection and one handshake', async () => {
      const fresh = await startSandbox();
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await call(fresh, { path: '/v3/sessions/', headers: keyHeader(fresh.apiKey), agent });
        expect(first.headers.connection).toBe('keep-alive');
        expect(first.headers['keep-alive']).toBe('timeout=120');
        await call(fresh, { path: '/v3/sessions/', headers: keyHeader(fresh.apiKey), agent });
        expect(fresh.connections()).toBe(1);
        expect(fresh.tlsHandshakes()).toBe(1);
      } finally {
        agent.destroy();
        await fresh.close();
      }
    });

    it('close() ends idle keep-alive connections', async () => {
      const fresh = await startSandbox();
      const agent = new Agent({ keepAlive: true });
      try {
        await call(fresh, { path: '/v3/sessions/', headers: keyHeader(fresh.apiKey), agent });
        const idle = Object.values(agent.freeSockets).flat()[0]!;
        const ended = new Promise<void>((resolve) => idle.once('close', () => resolve()));
        // close() resolves without waiting out the 120 s keep-alive (the test's timeout would), and the
        // server has ended the idle connection the agent was keeping.
        await fresh.close();
        await ended;
        expect(idle.destroyed).toBe(true);
      } finally {
        agent.destroy();
      }
    });
  });

  describe('control routes (control: true)', () => {
    let controlled: Sandbox;
    beforeAll(async () => {
      controlled = await startSandbox({ control: true });
    });
    afterAll(async () => {
      await controlled.close();
    });

    it('queues faults, reports stats and records, resets — without a key', async () => {
      const injected = await call(controlled, {
        method: 'POST',
        path: '/__sandbox/faults',
        body: JSON.stringify({ fault: { kind: 'status', status: 503 }, pathPrefix: '/v3/aml/' }),
        headers: { 'content-type': 'application/json' },
      });
      expect(injected.status).toBe(201);
      expect((await postJson(controlled, '/v3/aml/', { full_name: 'x' })).status).toBe(503);

      const stats = (await call(controlled, { path: '/__sandbox/stats' })).json() as Record<string, number>;
      expect(stats['count']).toBe(1);
      expect(stats['connections']).toBeGreaterThanOrEqual(1);
      expect(stats['tlsHandshakes']).toBeGreaterThanOrEqual(1);

      const received = (await call(controlled, { path: '/__sandbox/received' })).json() as unknown[];
      expect(received).toEqual([expect.objectContaining({ path: '/v3/aml/', status: 503, keyMatched: true })]);

      const bad = await call(controlled, { method: 'POST', path: '/__sandbox/faults', body: '{"fault":{"kind":"nope"}}', headers: { 'content-type': 'application/json' } });
      expect(bad.status).toBe(400);

      expect((await call(controlled, { method: 'POST', path: '/__sandbox/reset' })).status).toBe(200);
      expect(controlled.received).toHaveLength(0);
    });

    it('sets a session status', async () => {
      const created = (await postJson(controlled, '/v3/session/', { workflow_id: WORKFLOW_ID })).json() as Record<string, unknown>;
      const id = String(created['session_id']);
      const set = await call(controlled, {
        method: 'POST',
        path: `/__sandbox/sessions/${id}/status`,
        body: JSON.stringify({ status: 'Declined' }),
        headers: { 'content-type': 'application/json' },
      });
      expect(set.status).toBe(200);
      const decision = (await call(controlled, { path: `/v3/session/${id}/decision/`, headers: keyHeader(controlled.apiKey) })).json() as Record<string, unknown>;
      expect(decision['status']).toBe('Declined');
    });
  });
});
