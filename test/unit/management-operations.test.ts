import { afterEach, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { validateRequest } from '../../lib/adapters/http/validate-request.ts';
import { checkPostprocess, runPostprocess } from '../../lib/runtime/postprocess.ts';
import { redact } from '../../lib/runtime/redact.ts';
import { SealingNotConfiguredError, ValidationError, WebhookSecretMissingError } from '../../lib/errors/index.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { apiEvent } from '../support/api-events.ts';
import { dispatch } from '../sandbox/routes.ts';
import type { ParsedBody } from '../sandbox/request-body.ts';
import type { RouteContext } from '../sandbox/route.ts';
import { createSessionStore } from '../sandbox/sessions.ts';

// Management operations (didit-api.md §4.1, §4.3, §6.5): what the gateway refuses before any Didit
// call, what the sealing step does without AWS, and the sandbox's Didit-side behaviour.
const UUID = '0b6f9a55-9f3c-4f32-9a4c-7a0c1b2d3e4f';

const withJson = (method: string, path: string, body: unknown, extra: { pathParameters?: Record<string, string>; query?: Record<string, string> } = {}) =>
  apiEvent({ method, path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...extra });

async function issuesOf(spec: OperationSpec, event: APIGatewayProxyEvent): Promise<Record<string, string>> {
  try {
    await validateRequest(spec, event);
  } catch (err) {
    if (err instanceof ValidationError) return Object.fromEntries(err.issues.map((i) => [i.field, i.message]));
    throw err;
  }
  throw new Error('expected a validation error');
}

const accepts = async (spec: OperationSpec, event: APIGatewayProxyEvent) => expect((await validateRequest(spec, event)).input).toBeDefined();

describe('the management entries', () => {
  const names = Object.keys(OPERATIONS).filter((n) => /Workflow|[Bb]locklist|WebhookDestination/.test(n));

  it('are the thirteen operations of §4.1, §4.3 and §6.5, free, on /v1 routes and /v3/ Didit paths', () => {
    expect(names.sort()).toEqual(
      [
        'blocklistAdd',
        'blocklistRemove',
        'createWebhookDestination',
        'createWorkflow',
        'deleteWebhookDestination',
        'deleteWorkflow',
        'getWebhookDestination',
        'getWorkflow',
        'listBlocklist',
        'listWebhookDestinations',
        'listWorkflows',
        'updateWebhookDestination',
        'updateWorkflow',
      ].sort(),
    );
    for (const name of names) {
      const spec = OPERATIONS[name as keyof typeof OPERATIONS] as OperationSpec;
      expect(spec.route.path, name).toMatch(/^\/v1\//);
      expect(spec.didit.path, name).toMatch(/^\/v3\/.*\/$/);
      expect(spec.billing, name).toMatch(/^free/);
    }
  });

  it('never let a destination secret through: redacted on every answer that carries it, sealable on create and get', () => {
    const destinations = names.filter((n) => n.includes('WebhookDestination')).map((n) => OPERATIONS[n as keyof typeof OPERATIONS] as OperationSpec);
    for (const spec of destinations) {
      if (spec.route.method === 'DELETE') continue;
      expect(spec.redact, spec.name).toEqual(['secret_shared_key']);
    }
    expect(OPERATIONS.createWebhookDestination.postprocess).toBe('sealWebhookSecret');
    expect(OPERATIONS.getWebhookDestination.postprocess).toBe('sealWebhookSecret');
    expect(destinations.filter((s) => s.postprocess !== undefined).map((s) => s.name).sort()).toEqual(['createWebhookDestination', 'getWebhookDestination']);
  });

  it('retry only what cannot change the outcome', () => {
    const idempotent = (spec: OperationSpec) => (typeof spec.idempotent === 'function' ? spec.idempotent({}) : spec.idempotent);
    expect(idempotent(OPERATIONS.createWorkflow)).toBe(false);
    expect(idempotent(OPERATIONS.createWebhookDestination)).toBe(false);
    expect(idempotent(OPERATIONS.deleteWorkflow)).toBe(false);
    expect(idempotent(OPERATIONS.deleteWebhookDestination)).toBe(false);
    expect(idempotent(OPERATIONS.updateWorkflow)).toBe(false);
    expect(idempotent(OPERATIONS.updateWebhookDestination)).toBe(true);
    expect(idempotent(OPERATIONS.blocklistAdd)).toBe(true);
    expect(idempotent(OPERATIONS.listWorkflows)).toBe(true);
  });
});

describe('createWorkflow / updateWorkflow validation', () => {
  const create = (body: unknown) => withJson('POST', '/v1/workflows', body);
  const update = (body: unknown) => withJson('PATCH', `/v1/workflows/${UUID}`, body, { pathParameters: { workflowId: UUID } });

  it('accepts both documented shapes', async () => {
    await accepts(
      OPERATIONS.createWorkflow,
      create({
        workflow_label: 'Standard KYC',
        features: [
          { feature: 'OCR', config: { documents_allowed: { USA: { DL: { enabled: 1, sides: 2 } } }, duplicated_user_action: 'REVIEW' } },
          { feature: 'LIVENESS', config: { face_liveness_method: 'passive', face_liveness_score_decline_threshold: 30 } },
          { feature: 'FACE_MATCH' },
          { feature: 'NFC' },
          { feature: 'DATABASE_VALIDATION' },
          { feature: 'AML', config: { aml_decline_threshold: 80 } },
          { feature: 'QUESTIONNAIRE', config: { questionnaire_uuid: UUID } },
        ],
        is_white_label_enabled: true,
        max_retry_attempts: 0,
        retry_window_days: 365,
      }),
    );
    await accepts(
      OPERATIONS.createWorkflow,
      create({
        workflow_label: 'Flat',
        workflow_type: 'biometric_authentication',
        is_default: true,
        is_liveness_enabled: true,
        face_liveness_method: 'flashing',
        face_match_score_decline_threshold: 40,
        face_match_score_review_threshold: 60,
        duplicated_user_action: 'no_action',
        max_retry_attempts: 10,
        retry_window_days: null,
      }),
    );
    // Business flows: AML after the registry, KYB sub-features after it too.
    await accepts(
      OPERATIONS.createWorkflow,
      create({
        workflow_label: 'KYB',
        features: [{ feature: 'KYB_REGISTRY' }, { feature: 'KYB_DOCUMENTS', config: { kyb_required_document_groups: ['registry'] } }, { feature: 'AML' }],
      }),
    );
  });

  it('enforces the linear order: OCR before FACE_MATCH, NFC, DB validation and AML', async () => {
    const issues = await issuesOf(
      OPERATIONS.createWorkflow,
      create({
        workflow_label: 'x',
        features: [{ feature: 'NFC' }, { feature: 'DATABASE_VALIDATION' }, { feature: 'AML' }, { feature: 'KYB_KEY_PEOPLE' }, { feature: 'OCR' }, { feature: 'FACE_MATCH' }],
      }),
    );
    expect(issues).toEqual({
      'features.0.feature': 'NFC must come after OCR',
      'features.1.feature': 'DATABASE_VALIDATION must come after OCR',
      'features.2.feature': 'AML must come after OCR or KYB_REGISTRY or DOCUMENT_AI',
      'features.3.feature': 'KYB_KEY_PEOPLE must come after KYB_REGISTRY',
    });
  });

  it('checks feature configs: questionnaire uuid, thresholds, known values; keeps unknown config keys', async () => {
    expect(
      await issuesOf(
        OPERATIONS.createWorkflow,
        create({
          workflow_label: 'x',
          features: [
            { feature: 'OCR', config: { documents_allowed: { es: {} }, custom_option: true } },
            { feature: 'LIVENESS', config: { face_liveness_method: 'blink', face_liveness_score_decline_threshold: -1 } },
            { feature: 'QUESTIONNAIRE', config: { questionnaire_uuid: 'q1' } },
            { feature: 'KYB_DOCUMENTS' },
            { feature: 'ocr' },
            { feature: 'OCR', extra: 1 },
          ],
        }),
      ),
    ).toEqual({
      'features.0.config.documents_allowed': 'is not a valid documents_allowed',
      'features.1.config.face_liveness_method': 'is not a valid face_liveness_method',
      'features.1.config.face_liveness_score_decline_threshold': 'must be a number between 0 and 100',
      'features.2.config.questionnaire_uuid': 'is not a valid questionnaire_uuid',
      'features.3.config.kyb_required_document_groups': 'is required for KYB_DOCUMENTS',
      'features.3.feature': 'KYB_DOCUMENTS must come after KYB_REGISTRY',
      'features.4.feature': expect.stringMatching(/^must be one of: OCR, /),
      'features.5.extra': 'is not a known field',
    });
  });

  it('checks the flat shape: types, 0–100 thresholds, review not below decline, retry ranges', async () => {
    expect(
      await issuesOf(
        OPERATIONS.createWorkflow,
        create({
          workflow_label: '',
          workflow_type: 'kyb',
          face_match_score_decline_threshold: 70,
          face_match_score_review_threshold: 60,
          aml_decline_threshold: 101,
          max_retry_attempts: 2.5,
          retry_window_days: 366,
          is_nfc_enabled: 'yes',
        }),
      ),
    ).toEqual({
      workflow_label: 'must not be empty',
      workflow_type: expect.any(String),
      face_match_score_review_threshold: 'must not be below face_match_score_decline_threshold',
      aml_decline_threshold: 'must be between 0 and 100',
      max_retry_attempts: 'must be an integer',
      retry_window_days: 'must be between 1 and 365, or null',
      is_nfc_enabled: expect.any(String),
    });
  });

  it('PATCH is partial but not empty, and follows the same rules', async () => {
    await accepts(OPERATIONS.updateWorkflow, update({ is_default: true }));
    await accepts(OPERATIONS.updateWorkflow, update({ features: [{ feature: 'OCR' }, { feature: 'AML' }] }));
    expect(await issuesOf(OPERATIONS.updateWorkflow, update({}))).toEqual({ body: 'must change at least one field' });
    expect(await issuesOf(OPERATIONS.updateWorkflow, update({ features: [{ feature: 'FACE_MATCH' }], is_aml_enabled: true }))).toEqual({
      'features.0.feature': 'FACE_MATCH must come after OCR',
      is_aml_enabled: 'cannot be combined with features',
    });
  });
});

describe('blocklist validation', () => {
  it('needs a session UUID and at least one flag set to true', async () => {
    await accepts(OPERATIONS.blocklistAdd, withJson('POST', '/v1/blocklist/add', { session_id: UUID, blocklist_document: true, blocklist_face: false }));
    await accepts(OPERATIONS.blocklistRemove, withJson('POST', '/v1/blocklist/remove', { session_id: UUID, unblock_email: true }));
    expect(await issuesOf(OPERATIONS.blocklistRemove, withJson('POST', '/v1/blocklist/remove', { session_id: UUID, unblock_phone: false }))).toEqual({
      unblock_face: 'at least one of unblock_face, unblock_document, unblock_phone, unblock_email must be true',
    });
  });

  it('list: item type, offset and limit as documented', async () => {
    const list = (query: Record<string, string>) => apiEvent({ method: 'GET', path: '/v1/blocklist', query });
    expect((await validateRequest(OPERATIONS.listBlocklist, list({ item_type: 'email', offset: '40', limit: '200' }))).query).toEqual({
      item_type: 'email',
      offset: '40',
      limit: '200',
    });
    expect(await issuesOf(OPERATIONS.listBlocklist, list({ limit: '201', offset: 'x', type: 'face' }))).toEqual({
      'query.limit': 'must be at most 200',
      'query.offset': 'must be a whole number',
      'query.type': 'is not a known field',
    });
  });
});

describe('webhook destination validation', () => {
  const create = (body: unknown, query?: Record<string, string>) => withJson('POST', '/v1/webhook-destinations', body, query === undefined ? {} : { query });
  const base = { label: 'Main', url: 'https://hooks.example.com/didit', subscribed_events: ['status.updated'] };

  it('accepts the documented fields and every §6.2 event', async () => {
    const events = [
      'status.updated',
      'data.updated',
      'user.status.updated',
      'user.data.updated',
      'business.status.updated',
      'business.data.updated',
      'activity.created',
      'transaction.created',
      'transaction.status.updated',
    ];
    const valid = await validateRequest(OPERATIONS.createWebhookDestination, create({ ...base, subscribed_events: events, enabled: false, webhook_version: 'v2' }, { seal: 'true' }));
    expect(valid.query).toEqual({ seal: 'true' });
    expect(valid.input['subscribed_events']).toEqual(events);
  });

  it('refuses plain http, credentials in the URL, wildcards and patterns', async () => {
    expect(await issuesOf(OPERATIONS.createWebhookDestination, create({ ...base, url: 'https://user:pw@hooks.example.com/', subscribed_events: ['status.*'] }))).toEqual({
      url: 'must not contain credentials',
      'subscribed_events.0': expect.stringMatching(/^must be one of/),
    });
    expect(await issuesOf(OPERATIONS.createWebhookDestination, create({ label: 'x', url: 'ftp://hooks.example.com/' }))).toEqual({
      url: 'must be an https URL',
      subscribed_events: 'is required',
    });
  });

  // Fuzz finding: the credentials refinement ran `new URL` on text z.url() had already refused (a TypeError, 500).
  it('answers a URL that does not parse with a 400, on create and on update', async () => {
    const body = { label: 'Main', url: 'ZQXJ', subscribed_events: ['status.updated'] };
    expect(await issuesOf(OPERATIONS.createWebhookDestination, create(body))).toEqual({ url: 'must be an https URL' });
    const patch = withJson('PATCH', `/v1/webhook-destinations/${UUID}`, body, { pathParameters: { destinationId: UUID } });
    expect(await issuesOf(OPERATIONS.updateWebhookDestination, patch)).toEqual({ url: 'must be an https URL' });
  });

  it('PATCH changes any subset, never nothing', async () => {
    const patch = (body: unknown) => withJson('PATCH', `/v1/webhook-destinations/${UUID}`, body, { pathParameters: { destinationId: UUID } });
    await accepts(OPERATIONS.updateWebhookDestination, patch({ enabled: false }));
    expect(await issuesOf(OPERATIONS.updateWebhookDestination, patch({}))).toEqual({ body: 'must change at least one field' });
    expect(await issuesOf(OPERATIONS.updateWebhookDestination, patch({ subscribed_events: [] }))).toEqual({
      subscribed_events: 'must list at least one event (an empty list is refused by Didit)',
    });
  });
});

describe('sealWebhookSecret without AWS', () => {
  const SECRET = 'q3JmQvX0b1yqI7bqk4d4mI2pR3m9rUuJtX7xQyZ_abc';
  const deps = { config: { service: 'didit-kms-gateway', stage: 'unit', region: 'us-east-1', kmsKeyId: undefined } } as unknown as GatewayDependencies;
  const context = (query: Record<string, string>, d: GatewayDependencies = deps) => ({ deps: d, query, signal: new AbortController().signal });
  const saved = { ...process.env };
  afterEach(() => {
    for (const name of ['WEBHOOK_SECRET_SECRET_ID', 'WEBHOOK_SECRET_KMS_KEY_ID']) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  it('without seal=true the answer is untouched, and redaction then removes the secret', async () => {
    const raw = { uuid: UUID, secret_shared_key: SECRET, nested: [{ secret_shared_key: SECRET }] };
    const out = await runPostprocess('sealWebhookSecret', raw, context({}));
    expect(out).toBe(raw);
    expect(JSON.stringify(redact(out, ['secret_shared_key']))).not.toContain(SECRET);
    expect(await runPostprocess('sealWebhookSecret', raw, context({ seal: 'false' }))).toBe(raw);
    expect(await runPostprocess(undefined, raw, context({ seal: 'true' }))).toBe(raw);
  });

  it('seal=true without WEBHOOK_SECRET_SECRET_ID, or without a KMS key, is our misconfiguration: a typed 500', async () => {
    delete process.env['WEBHOOK_SECRET_SECRET_ID'];
    const raw = { secret_shared_key: SECRET };
    const noTarget = runPostprocess('sealWebhookSecret', raw, context({ seal: 'true' }));
    await expect(noTarget).rejects.toBeInstanceOf(SealingNotConfiguredError);
    await expect(noTarget).rejects.toMatchObject({ statusCode: 500, publicCode: 'INTERNAL' });
    process.env['WEBHOOK_SECRET_SECRET_ID'] = 'didit-kms-gateway/unit/didit-webhook-secret';
    delete process.env['WEBHOOK_SECRET_KMS_KEY_ID'];
    await expect(runPostprocess('sealWebhookSecret', raw, context({ seal: 'true' }))).rejects.toThrow(/KMS_KEY_ID/);
    // Nothing was consumed: the answer still holds the secret for redaction to remove.
    expect(raw.secret_shared_key).toBe(SECRET);
  });

  it('checkPostprocess finds the misconfiguration before any Didit call', () => {
    delete process.env['WEBHOOK_SECRET_SECRET_ID'];
    expect(() => checkPostprocess('sealWebhookSecret', { deps, query: { seal: 'true' } })).toThrow(SealingNotConfiguredError);
    expect(() => checkPostprocess('sealWebhookSecret', { deps, query: {} })).not.toThrow();
    expect(() => checkPostprocess(undefined, { deps, query: { seal: 'true' } })).not.toThrow();
    process.env['WEBHOOK_SECRET_SECRET_ID'] = 'didit-kms-gateway/unit/didit-webhook-secret';
    process.env['WEBHOOK_SECRET_KMS_KEY_ID'] = 'alias/unit';
    expect(() => checkPostprocess('sealWebhookSecret', { deps, query: { seal: 'true' } })).not.toThrow();
  });

  it('seal=true on an answer without a plausible secret: a 502, and the field no longer holds the value', async () => {
    process.env['WEBHOOK_SECRET_SECRET_ID'] = 'didit-kms-gateway/unit/didit-webhook-secret';
    process.env['WEBHOOK_SECRET_KMS_KEY_ID'] = 'alias/unit';
    for (const raw of [{}, { secret_shared_key: null }, { secret_shared_key: 'short' }, { secret_shared_key: `${SECRET}\n` }]) {
      const error = await runPostprocess('sealWebhookSecret', raw, context({ seal: 'true' })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WebhookSecretMissingError);
      expect((error as WebhookSecretMissingError).statusCode).toBe(502);
      expect(String((error as Error).message)).not.toContain(SECRET);
      expect(raw).toEqual({ secret_shared_key: '[sealed]' });
    }
    await expect(runPostprocess('sealWebhookSecret', [SECRET], context({ seal: 'true' }))).rejects.toBeInstanceOf(WebhookSecretMissingError);
  });

  it('redaction keeps the [sealed] marker the step leaves', () => {
    expect(redact({ secret_shared_key: '[sealed]', sealed_secret: { versionId: 'v' } }, ['secret_shared_key'])).toEqual({
      secret_shared_key: '[sealed]',
      sealed_secret: { versionId: 'v' },
    });
  });
});

describe('sandbox management routes', () => {
  const newCtx = (): RouteContext & { query: Record<string, string> } => ({ sessions: createSessionStore(), query: {}, areas: new Map() });
  const jsonBody = (value: unknown): ParsedBody => ({ kind: 'json', value });
  const empty: ParsedBody = { kind: 'empty' };

  it('destinations: 43-character secrets, unique URLs, PATCH replaces events, DELETE 204, 404s', () => {
    const ctx = newCtx();
    const created = dispatch('POST', '/v3/webhook/destinations/', jsonBody({ label: 'a', url: 'https://h.example/1', subscribed_events: ['status.updated', 'data.updated'] }), ctx);
    expect(created.status).toBe(201);
    const d = created.json as Record<string, any>;
    expect(d.secret_shared_key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(d).toMatchObject({ enabled: true, webhook_version: 'v3', summary: { total_deliveries: 0 } });

    const dup = dispatch('POST', '/v3/webhook/destinations/', jsonBody({ label: 'b', url: 'https://h.example/1', subscribed_events: ['data.updated'] }), ctx);
    expect(dup.status).toBe(400);
    expect(Object.keys(dup.json as object)).toEqual(['url']);

    const patched = dispatch('PATCH', `/v3/webhook/destinations/${d.uuid}/`, jsonBody({ subscribed_events: ['user.data.updated'] }), ctx);
    expect((patched.json as Record<string, unknown>)['subscribed_events']).toEqual(['user.data.updated']);
    expect((patched.json as Record<string, unknown>)['secret_shared_key']).toBe(d.secret_shared_key);

    expect(dispatch('POST', '/v3/webhook/destinations/', jsonBody({ label: 'c', url: 'https://h.example/2', subscribed_events: [] }), ctx).json).toEqual({
      subscribed_events: ['This list may not be empty.'],
    });
    expect(dispatch('GET', '/v3/webhook/destinations/', empty, ctx).json).toHaveLength(1);
    expect(dispatch('DELETE', `/v3/webhook/destinations/${d.uuid}/`, empty, ctx)).toEqual({ status: 204 });
    expect(dispatch('GET', `/v3/webhook/destinations/${d.uuid}/`, empty, ctx).status).toBe(404);
    expect(dispatch('GET', `/v3/webhook/destinations/${String(d.uuid).toUpperCase()}/`, empty, ctx).status).toBe(404);
  });

  it('workflows: DRF-style errors for order, per-item problems and ranges; CRUD', () => {
    const ctx = newCtx();
    const bad = dispatch('POST', '/v3/workflows/', jsonBody({ workflow_label: 'x', features: [{ feature: 'FACE_MATCH' }, { feature: 'OCR' }] }), ctx);
    expect(bad).toMatchObject({ status: 400, json: { features: ['FACE_MATCH requires OCR earlier in the workflow.'] } });
    const items = dispatch('POST', '/v3/workflows/', jsonBody({ workflow_label: 'x', features: [{ feature: 'OCR' }, { feature: 'QUESTIONNAIRE' }], max_retry_attempts: 11 }), ctx);
    expect(items).toMatchObject({
      status: 400,
      json: { max_retry_attempts: ['Ensure this value is less than or equal to 10.'], features: [{}, { config: { questionnaire_uuid: ['This field is required.'] } }] },
    });
    const created = dispatch('POST', '/v3/workflows/', jsonBody({ workflow_label: 'x', workflow_type: 'kyc', is_liveness_enabled: true }), ctx);
    expect(created.status).toBe(201);
    const id = (created.json as Record<string, string>)['uuid'];
    expect(dispatch('PATCH', `/v3/workflows/${id}/`, jsonBody({ features: [{ feature: 'OCR' }, { feature: 'AML' }] }), ctx).json).toMatchObject({
      features: ['OCR', 'AML'],
      is_simple_workflow: true,
      version: 2,
    });
    expect(dispatch('DELETE', `/v3/workflows/${id}/`, empty, ctx).status).toBe(204);
    expect(dispatch('DELETE', `/v3/workflows/${id}/`, empty, ctx).status).toBe(404);
  });

  it('blocklist: needs a known session and one true flag; paginates like DRF', () => {
    const ctx = newCtx();
    const { session } = ctx.sessions.createOrReuse({
      workflowId: UUID,
      vendorData: null,
      metadata: null,
      callback: null,
      callbackMethod: null,
      language: null,
      contactDetails: { phone: '+34611111111' },
      expectedDetails: null,
    });
    expect(dispatch('POST', '/v3/blocklist/add/', jsonBody({ session_id: UUID, blocklist_face: true }), ctx).status).toBe(404);
    expect(dispatch('POST', '/v3/blocklist/add/', jsonBody({ session_id: session.sessionId }), ctx).status).toBe(400);
    const ok = dispatch('POST', '/v3/blocklist/add/', jsonBody({ session_id: session.sessionId, blocklist_face: true, blocklist_phone: true }), ctx);
    expect(ok).toEqual({ status: 200, json: { message: 'Successfully updated blocklist.' } });
    ctx.query = { limit: '1' };
    const page = dispatch('GET', '/v3/blocklist/', empty, ctx).json as Record<string, any>;
    expect(page).toMatchObject({ count: 2, previous: null, results: [{ type: 'face', session_number: session.sessionNumber }] });
    expect(page.next).toContain('offset=1');
    ctx.query = { item_type: 'phone' };
    expect((dispatch('GET', '/v3/blocklist/', empty, ctx).json as Record<string, any>).results).toEqual([
      expect.objectContaining({ type: 'phone', phone_number: '+34611111111', email: null }),
    ]);
    ctx.query = { item_type: 'wallet' };
    expect(dispatch('GET', '/v3/blocklist/', empty, ctx).status).toBe(400);
  });
});
