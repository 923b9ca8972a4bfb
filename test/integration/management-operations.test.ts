import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { DecryptCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DeleteSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { kmsClientFor, provisionSealedKey, secretsClientFor, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { testEmulator } from '../support/aws.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { OPERATIONS, type OperationName } from '../../lib/operations/table.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { encryptionContextFor } from '../../lib/sealed-key/encryption-context.ts';

// Workflows, blocklist and webhook destinations end to end: handler → sealed key (KMS on the emulator)
// → Didit client → sandbox; and `seal=true`, which seals a destination's secret back into the emulator.
const STAGE = 'management';
const MISSING = '0b0c3f43-3c35-4bb4-8f44-2d1c1f0c9a11';
const em = testEmulator();
let sandbox: Sandbox;
let sealed: SealedKeyResources;
let deps: GatewayDependencies;
/** The secret that receives sealed webhook secrets (WEBHOOK_SECRET_SECRET_ID). */
let webhookSecretArn: string;
let logs: string[] = [];

function environment(): NodeJS.ProcessEnv {
  return {
    STAGE,
    SEALED_KEY_SECRET_ID: sealed.secretId,
    KMS_KEY_ID: sealed.kmsKeyArn,
    DIDIT_BASE_URL: sandbox.url,
    DIDIT_CA_FILE: sandbox.caFile,
    AWS_REGION: em.region,
    CIPHERTEXT_TTL_SECONDS: '300',
  };
}

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: em.endpoint,
    AWS_REGION: em.region,
    AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
  });
  sandbox = await startSandbox();
  sealed = await provisionSealedKey(em, { stage: STAGE, apiKey: sandbox.apiKey });
  deps = createDependencies(loadConfig(environment()));
  const sm = secretsClientFor(em);
  try {
    const created = await sm.send(
      new CreateSecretCommand({
        Name: `didit-kms-gateway/${STAGE}/didit-webhook-secret-${randomBytes(5).toString('hex')}`,
        // A placeholder first version: the deployment creates the secret, each seal adds a version.
        SecretBinary: Buffer.from('placeholder'),
      }),
    );
    webhookSecretArn = created.ARN!;
  } finally {
    sm.destroy();
  }
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return (write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
  }
});

afterAll(async () => {
  delete process.env['WEBHOOK_SECRET_SECRET_ID'];
  deps?.didit.close();
  if (webhookSecretArn) {
    const sm = secretsClientFor(em);
    await sm.send(new DeleteSecretCommand({ SecretId: webhookSecretArn, ForceDeleteWithoutRecovery: true })).finally(() => sm.destroy());
  }
  if (sealed) await teardownSealedKey(em, sealed);
  await sandbox?.close();
});

beforeEach(() => {
  sandbox.reset();
  logs = [];
  process.env['WEBHOOK_SECRET_SECRET_ID'] = webhookSecretArn;
});

function call(name: OperationName, event: Parameters<ReturnType<typeof createOperationHandler>>[0]) {
  return createOperationHandler(OPERATIONS[name], { dependencies: () => deps })(event, lambdaContext()) as Promise<APIGatewayProxyResult>;
}

const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const body = (r: APIGatewayProxyResult) => JSON.parse(r.body) as Record<string, any>;
const issues = (r: APIGatewayProxyResult) => Object.fromEntries((body(r).error.issues as Array<{ field: string; message: string }>).map((i) => [i.field, i.message]));

const workflowEvent = (method: string, workflowId?: string, payload?: unknown) =>
  apiEvent({
    method,
    path: workflowId === undefined ? '/v1/workflows' : `/v1/workflows/${workflowId}`,
    resource: workflowId === undefined ? '/v1/workflows' : '/v1/workflows/{workflowId}',
    ...(workflowId === undefined ? {} : { pathParameters: { workflowId } }),
    ...(payload === undefined ? {} : json(payload)),
  });

const destinationEvent = (method: string, options: { id?: string; payload?: unknown; query?: Record<string, string> } = {}) =>
  apiEvent({
    method,
    path: options.id === undefined ? '/v1/webhook-destinations' : `/v1/webhook-destinations/${options.id}`,
    resource: options.id === undefined ? '/v1/webhook-destinations' : '/v1/webhook-destinations/{destinationId}',
    ...(options.id === undefined ? {} : { pathParameters: { destinationId: options.id } }),
    ...(options.query === undefined ? {} : { query: options.query }),
    ...(options.payload === undefined ? {} : json(options.payload)),
  });

const KYC_FEATURES = [
  { feature: 'OCR', config: { duplicated_user_action: 'review' } },
  { feature: 'LIVENESS', config: { face_liveness_method: 'passive' } },
  { feature: 'FACE_MATCH', config: { face_match_score_decline_threshold: 40, face_match_score_review_threshold: 60 } },
];

describe('workflows', () => {
  it('create (features array): 201 with the workflow, the body reaching Didit as sent', async () => {
    const payload = { workflow_label: 'Standard KYC', features: KYC_FEATURES, max_retry_attempts: 2, retry_window_days: null };
    const res = await call('createWorkflow', workflowEvent('POST', undefined, payload));
    expect(res.statusCode).toBe(201);
    expect(body(res)).toMatchObject({
      workflow_label: 'Standard KYC',
      features: ['OCR', 'LIVENESS', 'FACE_MATCH'],
      is_simple_workflow: true,
      max_retry_attempts: 2,
      retry_window_days: null,
      status: 'published',
      version: 1,
    });
    expect(body(res).uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(sandbox.received).toHaveLength(1);
    expect(sandbox.received[0]).toMatchObject({ method: 'POST', path: '/v3/workflows/', keyMatched: true, json: payload });
  });

  it('create (flat switches): 201', async () => {
    const res = await call(
      'createWorkflow',
      workflowEvent('POST', undefined, {
        workflow_label: 'Flat KYC',
        workflow_type: 'kyc',
        is_liveness_enabled: true,
        face_liveness_method: 'active_3d',
        is_face_match_enabled: true,
        face_match_score_decline_threshold: 30,
        is_aml_enabled: true,
        aml_decline_threshold: 80,
        documents_allowed: { ESP: { P: { enabled: 1 } } },
      }),
    );
    expect(res.statusCode).toBe(201);
    expect(body(res)).toMatchObject({ workflow_type: 'kyc', features: ['OCR', 'LIVENESS', 'FACE_MATCH', 'AML'], is_simple_workflow: false });
  });

  it('create: ordering, QUESTIONNAIRE config, ranges and unknown features are 400s that never reach Didit', async () => {
    const res = await call(
      'createWorkflow',
      workflowEvent('POST', undefined, {
        features: [
          { feature: 'FACE_MATCH' },
          { feature: 'OCR', config: { face_match_score_decline_threshold: 140 } },
          { feature: 'QUESTIONNAIRE', config: {} },
          { feature: 'SELFIE' },
        ],
        max_retry_attempts: 11,
        retry_window_days: 0,
        is_liveness_enabled: true,
      }),
    );
    expect(res.statusCode).toBe(400);
    expect(issues(res)).toMatchObject({
      workflow_label: 'is required',
      'features.0.feature': 'FACE_MATCH must come after OCR',
      'features.1.config.face_match_score_decline_threshold': 'must be a number between 0 and 100',
      'features.2.config.questionnaire_uuid': 'is required for QUESTIONNAIRE',
      'features.3.feature': expect.stringContaining('must be one of'),
      max_retry_attempts: expect.any(String),
      retry_window_days: expect.any(String),
      is_liveness_enabled: 'cannot be combined with features',
    });
    const empty = await call('createWorkflow', workflowEvent('POST', undefined, { workflow_label: 'x', features: [] }));
    expect(issues(empty)).toEqual({ features: 'must list at least one feature' });
    const extra = await call('createWorkflow', workflowEvent('POST', undefined, { workflow_label: 'x', colour: 'red' }));
    expect(issues(extra)).toEqual({ colour: 'is not a known field' });
    expect(sandbox.received).toHaveLength(0);
  });

  it('list, get, update (partial), delete (204); unknown ids are 404 from Didit, malformed ids 400 from us', async () => {
    const created = body(await call('createWorkflow', workflowEvent('POST', undefined, { workflow_label: 'A', features: KYC_FEATURES })));
    const list = await call('listWorkflows', workflowEvent('GET'));
    expect(list.statusCode).toBe(200);
    expect(JSON.parse(list.body)).toEqual([expect.objectContaining({ uuid: created.uuid })]);

    const got = await call('getWorkflow', workflowEvent('GET', created.uuid));
    expect(got.statusCode).toBe(200);
    expect(body(got).workflow_label).toBe('A');

    const patched = await call('updateWorkflow', workflowEvent('PATCH', created.uuid, { workflow_label: 'B', max_retry_attempts: 5 }));
    expect(patched.statusCode).toBe(200);
    expect(body(patched)).toMatchObject({ workflow_label: 'B', max_retry_attempts: 5, features: ['OCR', 'LIVENESS', 'FACE_MATCH'] });
    expect(sandbox.received.at(-1)).toMatchObject({ method: 'PATCH', path: `/v3/workflows/${created.uuid}/`, json: { workflow_label: 'B', max_retry_attempts: 5 } });

    const deleted = await call('deleteWorkflow', workflowEvent('DELETE', created.uuid));
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    const gone = await call('getWorkflow', workflowEvent('GET', created.uuid));
    expect(gone.statusCode).toBe(404);
    expect(body(gone).error.code).toBe('NOT_FOUND');
    const missing = await call('deleteWorkflow', workflowEvent('DELETE', MISSING));
    expect(missing.statusCode).toBe(404);

    const before = sandbox.received.length;
    for (const [name, event] of [
      ['getWorkflow', workflowEvent('GET', 'not-a-uuid')],
      ['deleteWorkflow', workflowEvent('DELETE', '..%2F..%2Fsessions')],
      ['updateWorkflow', workflowEvent('PATCH', created.uuid, {})],
      ['updateWorkflow', workflowEvent('PATCH', created.uuid, { features: [{ feature: 'NFC' }] })],
      ['listWorkflows', apiEvent({ method: 'GET', path: '/v1/workflows', query: { page: '2' } })],
    ] as const) {
      const res = await call(name, event);
      expect(res.statusCode, name).toBe(400);
    }
    expect(sandbox.received.length).toBe(before);
  });
});

describe('blocklist', () => {
  const add = (payload: unknown) => apiEvent({ method: 'POST', path: '/v1/blocklist/add', ...json(payload) });
  const remove = (payload: unknown) => apiEvent({ method: 'POST', path: '/v1/blocklist/remove', ...json(payload) });
  const list = (query?: Record<string, string>) => apiEvent({ method: 'GET', path: '/v1/blocklist', ...(query === undefined ? {} : { query }) });

  async function newSession(): Promise<string> {
    const res = await call(
      'createSession',
      apiEvent({
        method: 'POST',
        path: '/v1/sessions',
        ...json({ workflow_id: '11111111-2222-4333-8444-555555555555', contact_details: { email: 'ana@example.com' } }),
      }),
    );
    return body(res)['session_id'] as string;
  }

  it('add, list by type, remove', async () => {
    const sessionId = await newSession();
    const added = await call('blocklistAdd', add({ session_id: sessionId, blocklist_face: true, blocklist_email: true }));
    expect(added.statusCode).toBe(200);
    expect(body(added)).toEqual({ message: 'Successfully updated blocklist.' });

    const faces = await call('listBlocklist', list({ item_type: 'face', limit: '10' }));
    expect(faces.statusCode).toBe(200);
    expect(body(faces)).toMatchObject({ count: 1, results: [{ type: 'face', session_id: sessionId }] });
    expect(sandbox.received.at(-1)).toMatchObject({ path: '/v3/blocklist/', query: { item_type: 'face', limit: '10' } });
    const all = body(await call('listBlocklist', list()));
    expect(all.count).toBe(2);
    expect(all.results).toContainEqual(expect.objectContaining({ type: 'email', email: 'ana@example.com' }));

    const removed = await call('blocklistRemove', remove({ session_id: sessionId, unblock_face: true }));
    expect(removed.statusCode).toBe(200);
    expect(body(await call('listBlocklist', list({ item_type: 'face' })))).toMatchObject({ count: 0, results: [] });
    // A session Didit does not know: Didit's 404 passes through.
    expect((await call('blocklistAdd', add({ session_id: MISSING, blocklist_phone: true }))).statusCode).toBe(404);
  });

  it('bad input is a 400 and never reaches Didit', async () => {
    const cases: Array<[OperationName, ReturnType<typeof apiEvent>, Record<string, string>]> = [
      ['blocklistAdd', add({ session_id: MISSING }), { blocklist_face: expect.stringContaining('at least one of') }],
      ['blocklistAdd', add({ session_id: MISSING, blocklist_face: false, blocklist_document: false }), { blocklist_face: expect.stringContaining('must be true') }],
      ['blocklistAdd', add({ session_id: 'abc', blocklist_face: 'yes' }), { session_id: 'must be a UUID', blocklist_face: expect.any(String) }],
      ['blocklistAdd', add({ blocklist_face: true, unblock_face: true }), { session_id: 'is required', unblock_face: 'is not a known field' }],
      ['blocklistRemove', remove({ session_id: MISSING, blocklist_face: true }), { blocklist_face: 'is not a known field', unblock_face: expect.any(String) }],
      ['listBlocklist', list({ item_type: 'ip_address' }), { 'query.item_type': expect.any(String) }],
      ['listBlocklist', list({ limit: '0', offset: '-1' }), { 'query.limit': 'must be at least 1', 'query.offset': 'must be a whole number' }],
    ];
    for (const [name, event, expected] of cases) {
      const res = await call(name, event);
      expect(res.statusCode, name).toBe(400);
      expect(issues(res), name).toEqual(expected);
    }
    expect(sandbox.received).toHaveLength(0);
  });
});

describe('webhook destinations', () => {
  const NEW = { label: 'Main', url: 'https://hooks.example.com/didit', subscribed_events: ['status.updated', 'data.updated'] };

  /** The secret as Didit hands it to an API-key caller: read straight from the sandbox. */
  function sandboxSecret(destinationId: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${sandbox.url}/v3/webhook/destinations/${destinationId}/`, {
        ca: sandbox.caPem,
        headers: { 'x-api-key': sandbox.apiKey.toString('latin1') },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { secret_shared_key: string }).secret_shared_key));
      });
      req.end();
    });
  }

  async function createDestination(payload: unknown = NEW, query?: Record<string, string>) {
    return call('createWebhookDestination', destinationEvent('POST', { payload, ...(query === undefined ? {} : { query }) }));
  }

  it('create: 201, the secret redacted (it appears nowhere in the answer)', async () => {
    const res = await createDestination();
    expect(res.statusCode).toBe(201);
    const created = body(res);
    expect(created).toMatchObject({ label: 'Main', url: NEW.url, enabled: true, subscribed_events: NEW.subscribed_events, secret_shared_key: '[redacted]' });
    expect(sandbox.received[0]).toMatchObject({ method: 'POST', path: '/v3/webhook/destinations/', json: NEW, query: {} });
    const secret = await sandboxSecret(created.uuid);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body).not.toContain(secret);
  });

  it('list, get and update are redacted too; PATCH replaces subscribed_events; delete is 204', async () => {
    const created = body(await createDestination());
    const second = body(await createDestination({ ...NEW, url: 'https://hooks.example.com/other', webhook_version: 'v2', enabled: false }));
    const secret = await sandboxSecret(created.uuid);
    const otherSecret = await sandboxSecret(second.uuid);

    const list = await call('listWebhookDestinations', destinationEvent('GET'));
    expect(list.statusCode).toBe(200);
    expect(JSON.parse(list.body).map((d: { uuid: string; secret_shared_key: string }) => [d.uuid, d.secret_shared_key])).toEqual([
      [created.uuid, '[redacted]'],
      [second.uuid, '[redacted]'],
    ]);
    expect(list.body).not.toContain(secret);
    expect(list.body).not.toContain(otherSecret);

    const got = await call('getWebhookDestination', destinationEvent('GET', { id: created.uuid }));
    expect(got.statusCode).toBe(200);
    expect(body(got).secret_shared_key).toBe('[redacted]');
    expect(got.body).not.toContain(secret);

    const patched = await call('updateWebhookDestination', destinationEvent('PATCH', { id: created.uuid, payload: { subscribed_events: ['user.status.updated'] } }));
    expect(patched.statusCode).toBe(200);
    expect(body(patched)).toMatchObject({ subscribed_events: ['user.status.updated'], secret_shared_key: '[redacted]', label: 'Main' });
    expect(patched.body).not.toContain(secret);

    // (application, url) is unique: Didit's 400 comes back with the field name only.
    const clash = await call('updateWebhookDestination', destinationEvent('PATCH', { id: second.uuid, payload: { url: NEW.url } }));
    expect(clash.statusCode).toBe(400);
    expect(body(clash).error).toMatchObject({ code: 'DIDIT_REJECTED_INPUT', fields: ['url'] });

    const deleted = await call('deleteWebhookDestination', destinationEvent('DELETE', { id: created.uuid }));
    expect(deleted.statusCode).toBe(204);
    expect((await call('getWebhookDestination', destinationEvent('GET', { id: created.uuid }))).statusCode).toBe(404);
    expect((await call('deleteWebhookDestination', destinationEvent('DELETE', { id: MISSING }))).statusCode).toBe(404);
  });

  it('bad input is a 400 and never reaches Didit', async () => {
    const cases: Array<[OperationName, ReturnType<typeof apiEvent>, Record<string, string>]> = [
      ['createWebhookDestination', destinationEvent('POST', { payload: { label: 'x', url: 'http://hooks.example.com' } }), {
        url: 'must be an https URL',
        subscribed_events: 'is required',
      }],
      ['createWebhookDestination', destinationEvent('POST', { payload: { ...NEW, subscribed_events: ['*'] } }), { 'subscribed_events.0': expect.stringContaining('must be one of') }],
      ['createWebhookDestination', destinationEvent('POST', { payload: { ...NEW, subscribed_events: [] } }), { subscribed_events: expect.stringContaining('at least one event') }],
      ['createWebhookDestination', destinationEvent('POST', { payload: { ...NEW, subscribed_events: ['status.updated', 'status.updated'] } }), {
        subscribed_events: 'must not list an event twice',
      }],
      ['createWebhookDestination', destinationEvent('POST', { payload: { ...NEW, webhook_version: 'v4', secret_shared_key: 'mine' } }), {
        webhook_version: expect.any(String),
        secret_shared_key: 'is not a known field',
      }],
      ['createWebhookDestination', destinationEvent('POST', { payload: NEW, query: { seal: 'yes' } }), { 'query.seal': expect.any(String) }],
      ['getWebhookDestination', destinationEvent('GET', { id: 'nope' }), { 'path.destinationId': 'must be a UUID' }],
      ['updateWebhookDestination', destinationEvent('PATCH', { id: MISSING, payload: {} }), { body: 'must change at least one field' }],
      ['deleteWebhookDestination', destinationEvent('DELETE', { id: 'nope' }), { 'path.destinationId': 'must be a UUID' }],
      ['listWebhookDestinations', destinationEvent('GET', { query: { seal: 'true' } }), { 'query.seal': 'is not a known field' }],
    ];
    for (const [name, event, expected] of cases) {
      const res = await call(name, event);
      expect(res.statusCode, name).toBe(400);
      expect(issues(res), name).toEqual(expected);
    }
    expect(sandbox.received).toHaveLength(0);
  });

  describe('seal=true', () => {
    async function storedCiphertext(versionId: string): Promise<Uint8Array> {
      const sm = secretsClientFor(em);
      try {
        const out = await sm.send(new GetSecretValueCommand({ SecretId: webhookSecretArn, VersionId: versionId }));
        expect(out.SecretString).toBeUndefined();
        return out.SecretBinary!;
      } finally {
        sm.destroy();
      }
    }

    async function decrypt(ciphertext: Uint8Array, purpose: 'didit-webhook-secret' | 'didit-api-key'): Promise<string> {
      const kms = kmsClientFor(em);
      try {
        const context = encryptionContextFor({ service: 'didit-kms-gateway', stage: STAGE, purpose });
        const out = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { ...context } }));
        return Buffer.from(out.Plaintext!).toString('latin1');
      } finally {
        kms.destroy();
      }
    }

    it('create: the secret is sealed into Secrets Manager under the webhook context, never answered', async () => {
      const res = await createDestination(NEW, { seal: 'true' });
      expect(res.statusCode).toBe(201);
      const answer = body(res);
      expect(answer.secret_shared_key).toBe('[sealed]');
      expect(answer.sealed_secret).toEqual({ secretId: webhookSecretArn, versionId: expect.any(String), fingerprint: expect.stringMatching(/^sha256:[0-9a-f]{16}$/) });
      // `seal` is the gateway's parameter: Didit does not see it.
      expect(sandbox.received[0]).toMatchObject({ path: '/v3/webhook/destinations/', query: {} });

      const secret = await sandboxSecret(answer.uuid);
      expect(res.body).not.toContain(secret);
      expect(logs.join('')).not.toContain(secret);
      expect(logs.join('')).toContain('webhook secret sealed');

      const ciphertext = await storedCiphertext(answer.sealed_secret.versionId);
      expect(await decrypt(ciphertext, 'didit-webhook-secret')).toBe(secret);
      // Bound to its purpose: the same ciphertext does not open as the Didit API key.
      await expect(decrypt(ciphertext, 'didit-api-key')).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    });

    it('get: an existing destination can be sealed later, as a new version', async () => {
      const created = body(await createDestination());
      const first = body(await call('getWebhookDestination', destinationEvent('GET', { id: created.uuid, query: { seal: 'true' } })));
      const second = body(await call('getWebhookDestination', destinationEvent('GET', { id: created.uuid, query: { seal: 'true' } })));
      expect(first.secret_shared_key).toBe('[sealed]');
      expect(second.sealed_secret.versionId).not.toBe(first.sealed_secret.versionId);
      const secret = await sandboxSecret(created.uuid);
      expect(await decrypt(await storedCiphertext(second.sealed_secret.versionId), 'didit-webhook-secret')).toBe(secret);
      // seal=false is the default behaviour: redacted.
      const plain = await call('getWebhookDestination', destinationEvent('GET', { id: created.uuid, query: { seal: 'false' } }));
      expect(body(plain).secret_shared_key).toBe('[redacted]');
      expect(body(plain).sealed_secret).toBeUndefined();
    });

    // Issue 8, finding 2: before, a non-JSON answer skipped redaction and went out as base64, secret included.
    it('an answer that is not JSON: 502 DIDIT_BAD_RESPONSE, nothing sealed, the secret nowhere (with or without seal=true)', async () => {
      const secret = randomBytes(32).toString('base64url');
      const raw = `<html>created uuid=0b0c3f43 secret_shared_key=${secret}</html>`;
      for (const query of [undefined, { seal: 'true' }]) {
        sandbox.reset();
        logs = [];
        sandbox.inject({ fault: { kind: 'status', status: 201, body: raw }, pathPrefix: '/v3/webhook/destinations/' });
        const res = await createDestination(NEW, query);
        expect(res.statusCode, JSON.stringify(query)).toBe(502);
        expect(res.isBase64Encoded).toBeFalsy();
        expect(body(res).error).toMatchObject({ code: 'DIDIT_BAD_RESPONSE' });
        expect(sandbox.received).toHaveLength(1);
        for (const text of [res.body, logs.join('')]) {
          expect(text).not.toContain(secret);
          expect(text).not.toContain(Buffer.from(raw).toString('base64').slice(8, 48));
        }
        expect(logs.join('')).toContain('withheld');
        expect(logs.join('')).not.toContain('webhook secret sealed');
      }
    });

    it('without WEBHOOK_SECRET_SECRET_ID: a typed 500 that says nothing of the secret', async () => {
      const created = body(await createDestination());
      delete process.env['WEBHOOK_SECRET_SECRET_ID'];
      const res = await call('getWebhookDestination', destinationEvent('GET', { id: created.uuid, query: { seal: 'true' } }));
      expect(res.statusCode).toBe(500);
      expect(body(res).error).toMatchObject({ code: 'INTERNAL' });
      const secret = await sandboxSecret(created.uuid);
      expect(res.body).not.toContain(secret);
      expect(logs.join('')).toContain('SEALING_NOT_CONFIGURED');
      expect(logs.join('')).not.toContain(secret);
    });
  });
});
