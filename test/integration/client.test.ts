import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayClient, GatewayClientError, type GatewayClient, type LooseArgs } from '../../lib/client/index.ts';
import { OPERATIONS, type OperationName } from '../../lib/operations/table.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { JPEG, PNG } from '../support/api-events.ts';
import { testEmulator } from '../support/aws.ts';
import { localApiGateway, type LocalApiGateway } from '../support/local-api-gateway.ts';

// Every operation of the table through the typed client, signed with SigV4, checked and turned into a
// proxy event by the API Gateway stand-in, served by the real handler with the sealed key (KMS on the
// emulator) against the Didit sandbox. The table grows: an entry without a sample below fails here.

const WORKFLOW = '11111111-2222-4333-8444-555555555555';
const CALLER = {
  credentials: { accessKeyId: 'AKIDCLIENTINTEG01', secretAccessKey: 'client-integration-secret-key/00000000' },
  userArn: 'arn:aws:iam::123456789012:role/didit-gateway-caller',
};
const PDF_MAGIC = '%PDF-';
const doc = JSON.parse(readFileSync(new URL('../../infra/openapi/openapi.json', import.meta.url), 'utf8')) as any;

const em = testEmulator();
let sandbox: Sandbox;
let sealed: SealedKeyResources;
let deps: GatewayDependencies;
let gateway: LocalApiGateway;
let client: GatewayClient;

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: em.endpoint,
    AWS_REGION: em.region,
    AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
  });
  sandbox = await startSandbox();
  sealed = await provisionSealedKey(em, { stage: 'client', apiKey: sandbox.apiKey });
  deps = createDependencies(
    loadConfig({
      STAGE: 'client',
      SEALED_KEY_SECRET_ID: sealed.secretId,
      KMS_KEY_ID: sealed.kmsKeyArn,
      DIDIT_BASE_URL: sandbox.url,
      DIDIT_CA_FILE: sandbox.caFile,
      AWS_REGION: em.region,
      CIPHERTEXT_TTL_SECONDS: '300',
    }),
  );
  gateway = localApiGateway({ region: em.region, callers: [CALLER], dependencies: () => deps });
  client = createGatewayClient({ baseUrl: gateway.baseUrl, region: em.region, credentials: CALLER.credentials, transport: gateway.transport });
});

afterAll(async () => {
  deps?.didit.close();
  if (sealed) await teardownSealedKey(em, sealed);
  await sandbox?.close();
});

// ---- sample requests ---------------------------------------------------------------------------

/** Creates what a sample needs (a session, a workflow, …) through the client itself. */
const fixtures = {
  async session(vendorData = `client-${Math.random().toString(36).slice(2, 10)}`): Promise<{ id: string; number: number }> {
    const res = await client.createSession({ input: { workflow_id: WORKFLOW, vendor_data: vendorData } });
    const body = res.body as { session_id: string; session_number: number };
    return { id: body.session_id, number: body.session_number };
  },
  /** A session a user finished and Didit decided (what PDF, share and status changes need). */
  async finishedSession(status: 'Approved' | 'Declined' | 'In Review' = 'Approved'): Promise<string> {
    const { id } = await fixtures.session();
    sandbox.setSessionStatus(id, status);
    return id;
  },
  async workflow(): Promise<string> {
    const res = await client.createWorkflow({ input: { workflow_label: 'Client test KYC', workflow_type: 'kyc' } });
    return (res.body as { uuid: string }).uuid;
  },
  async destination(): Promise<string> {
    const res = await client.createWebhookDestination({
      input: { label: 'Client test', url: `https://hooks.example.com/${Math.random().toString(36).slice(2)}`, subscribed_events: ['status.updated'] },
    });
    return (res.body as { uuid: string }).uuid;
  },
};

type Sample = () => LooseArgs | Promise<LooseArgs>;

/** A minimal valid request per operation. */
const SAMPLES: Record<string, Sample> = {
  // sessions
  createSession: () => ({ input: { workflow_id: WORKFLOW, vendor_data: 'client-create' } }),
  retrieveDecision: async () => ({ params: { sessionId: (await fixtures.session()).id } }),
  listSessions: () => ({ query: { limit: '5' } }),
  deleteSession: async () => ({ params: { sessionId: (await fixtures.session()).id } }),
  batchDeleteSessions: async () => ({ input: { session_numbers: [String((await fixtures.session()).number)] } }),
  updateSessionStatus: async () => ({ params: { sessionId: await fixtures.finishedSession('In Review') }, input: { new_status: 'Approved', comment: 'Checked by hand' } }),
  generateSessionPdf: async () => ({ params: { sessionId: await fixtures.finishedSession() } }),
  shareSession: async () => ({ params: { sessionId: await fixtures.finishedSession() } }),
  importSharedSession: async () => {
    const shared = await client.shareSession({ params: { sessionId: await fixtures.finishedSession() } });
    return { input: { share_token: (shared.body as { share_token: string }).share_token, trust_review: true, workflow_id: WORKFLOW } };
  },
  listSessionReviews: async () => ({ params: { sessionId: await fixtures.finishedSession('In Review') } }),
  addSessionReview: async () => ({ params: { sessionId: await fixtures.finishedSession('In Review') }, input: { new_status: 'Approved', comment: 'Looks right' } }),
  // standalone
  idVerification: () => ({ files: { front_image: { data: JPEG } }, input: { minimum_age: '18' } }),
  passiveLiveness: () => ({ files: { user_image: { data: JPEG } } }),
  faceMatch: () => ({ files: { user_image: { data: JPEG }, ref_image: { data: PNG } } }),
  faceSearch: () => ({ files: { user_image: { data: JPEG } } }),
  ageEstimation: () => ({ files: { user_image: { data: JPEG } } }),
  proofOfAddress: () => ({ files: { document: { data: JPEG } }, input: { expected_country: 'ES' } }),
  amlScreening: () => ({ input: { full_name: 'Ana García', nationality: 'ES' } }),
  databaseValidation: () => ({ input: { issuing_state: 'ESP', identification_number: '12345678Z', first_name: 'Ana', last_name: 'García', date_of_birth: '1990-05-17' } }),
  emailSend: () => ({ input: { email: 'ana@example.com' } }),
  emailCheck: async () => {
    await client.emailSend({ input: { email: 'check@example.com' } });
    return { input: { email: 'check@example.com', code: '123456' } };
  },
  phoneSend: () => ({ input: { phone_number: '+34600000001' } }),
  phoneCheck: async () => {
    await client.phoneSend({ input: { phone_number: '+34600000002' } });
    return { input: { phone_number: '+34600000002', code: '123456' } };
  },
  // management
  listWorkflows: () => ({}),
  createWorkflow: () => ({ input: { workflow_label: 'Minimal KYC', workflow_type: 'kyc' } }),
  getWorkflow: async () => ({ params: { workflowId: await fixtures.workflow() } }),
  updateWorkflow: async () => ({ params: { workflowId: await fixtures.workflow() }, input: { workflow_label: 'Renamed KYC' } }),
  deleteWorkflow: async () => ({ params: { workflowId: await fixtures.workflow() } }),
  blocklistAdd: async () => ({ input: { session_id: await fixtures.finishedSession('Declined'), blocklist_face: true } }),
  blocklistRemove: async () => {
    const sessionId = await fixtures.finishedSession('Declined');
    await client.blocklistAdd({ input: { session_id: sessionId, blocklist_email: true } });
    return { input: { session_id: sessionId, unblock_email: true } };
  },
  listBlocklist: () => ({ query: { item_type: 'face', limit: '10' } }),
  listWebhookDestinations: () => ({}),
  createWebhookDestination: () => ({ input: { label: 'Minimal', url: 'https://hooks.example.com/minimal', subscribed_events: ['status.updated'] } }),
  getWebhookDestination: async () => ({ params: { destinationId: await fixtures.destination() } }),
  updateWebhookDestination: async () => ({ params: { destinationId: await fixtures.destination() }, input: { enabled: false } }),
  deleteWebhookDestination: async () => ({ params: { destinationId: await fixtures.destination() } }),
};

// ---- helpers -----------------------------------------------------------------------------------

const specs = Object.entries(OPERATIONS) as Array<[OperationName, OperationSpec]>;
const operationDoc = (spec: OperationSpec) => doc.paths[spec.route.path][spec.route.method.toLowerCase()];
const documentedSuccess = (spec: OperationSpec) => Object.keys(operationDoc(spec).responses).filter((s) => s.startsWith('2'));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);

/** The sample's body as the documented JSON form (files as base64), checked against the document's schema. */
function documentedBodyProblems(spec: OperationSpec, args: LooseArgs): string | undefined {
  if (spec.body === 'none') return undefined;
  const schema = operationDoc(spec).requestBody.content['application/json'].schema;
  const body: Record<string, unknown> = { ...args.input };
  for (const [name, file] of Object.entries(args.files ?? {})) if (file !== undefined) body[name] = Buffer.from(file.data).toString('base64');
  const check = ajv.compile(schema);
  return check(body) ? undefined : ajv.errorsText(check.errors);
}

async function run(name: OperationName, args: LooseArgs) {
  try {
    return await client.call(name, args as never);
  } catch (err) {
    if (err instanceof GatewayClientError) {
      const hint = err.status === 404 && err.code === 'NOT_FOUND' ? ' (is the sandbox route for it written?)' : '';
      throw new Error(`${name} answered ${err.status}${hint}: ${JSON.stringify(err.body)}`);
    }
    throw err;
  }
}

// ---- the tests ---------------------------------------------------------------------------------

describe('every operation through the client, SigV4, API Gateway and the real handler', () => {
  it('has a sample for every table entry and none for entries that are gone', () => {
    const missing = Object.keys(OPERATIONS).filter((n) => !Object.hasOwn(SAMPLES, n));
    const stale = Object.keys(SAMPLES).filter((n) => !Object.hasOwn(OPERATIONS, n));
    expect(missing, `add a minimal request for ${missing.join(', ')} to SAMPLES in test/integration/client.test.ts`).toEqual([]);
    expect(stale, `remove the samples of ${stale.join(', ')}: they are no longer table entries`).toEqual([]);
  });

  for (const [name, spec] of specs) {
    it(`${name}: ${spec.route.method} ${spec.route.path} answers the documented 2xx, with the key used once`, async () => {
      const sample = SAMPLES[name];
      if (sample === undefined) throw new Error(`no sample request for ${name}: add one to SAMPLES in test/integration/client.test.ts`);
      const args = await sample();
      expect(documentedBodyProblems(spec, args), `the sample of ${name} must match the OpenAPI request schema`).toBeUndefined();
      const calls = gateway.calls.length;
      const before = sandbox.count({ keyMatched: true });
      const res = await run(name, args);
      expect(documentedSuccess(spec), `${name}: success status in infra/openapi/openapi.json`).toEqual([String(res.status)]);
      expect(res.headers['x-request-id']).toBeDefined();
      // The call went through the stand-in with the signer's identity, and reached Didit with the sealed key.
      const call = gateway.calls.at(-1)!;
      expect(gateway.calls.length).toBeGreaterThan(calls);
      expect(call.functionName).toBe(name);
      expect(call.event.requestContext.identity.userArn).toBe(CALLER.userArn);
      expect(sandbox.count({ keyMatched: true })).toBeGreaterThan(before);
      expect(sandbox.count({ keyMatched: false })).toBe(0);
      if (res.status === 204) expect(res.body).toBeUndefined();
      else if (spec.response === 'binary') expect(res.body).toBeInstanceOf(Uint8Array);
      else expect(typeof res.body).toBe('object');
    });
  }

  for (const [name, spec] of specs.filter(([, s]) => s.body === 'multipart')) {
    it(`${name}: the same request as JSON with base64 files`, async () => {
      const args = await SAMPLES[name]!();
      const res = await run(name, { ...args, encoding: 'json-base64' });
      expect(res.status).toBe(Number(documentedSuccess(spec)[0]));
      const seen = sandbox.received.at(-1)!;
      // The gateway always sends Didit multipart, whatever the caller used.
      expect(seen.contentType).toMatch(/^multipart\/form-data/);
      for (const [field, file] of Object.entries(args.files ?? {})) expect(seen.files?.[field]?.bytes).toBe(file?.data.length);
    });
  }
});

describe('through the client: answers and errors', () => {
  it('a PDF report comes back as its bytes (needs application/pdf in serverless.yml binaryMediaTypes)', async () => {
    const res = await client.generateSessionPdf({ params: { sessionId: await fixtures.finishedSession() } });
    const head = Buffer.from(res.body.subarray(0, PDF_MAGIC.length)).toString('latin1');
    expect(
      head,
      'API Gateway returns a base64 answer as bytes only when the first Accept type is in provider.apiGateway.binaryMediaTypes: add application/pdf to serverless.yml',
    ).toBe(PDF_MAGIC);
  });

  it('invalid input: a typed 400 listing the issues, and nothing sent to Didit', async () => {
    const before = sandbox.received.length;
    const err = await client.createSession({ input: { workflow_id: 'not-a-uuid' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayClientError);
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', issues: [{ field: 'workflow_id', message: 'must be a UUID' }] });
    expect(sandbox.received.length).toBe(before);
  });

  it('Didit faults come back as typed errors with Retry-After', async () => {
    sandbox.inject({ fault: { kind: 'status', status: 429, retryAfterSeconds: 9 }, pathPrefix: '/v3/aml/' });
    const err = await client.amlScreening({ input: { full_name: 'Ana García' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfterSeconds: 9 });
    const missing = await client.retrieveDecision({ params: { sessionId: '0b0c3f43-3c35-4bb4-8f44-2d1c1f0c9a11' } }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('a caller with the wrong secret is stopped by the stand-in: no function runs, no key is used', async () => {
    const intruder = createGatewayClient({
      baseUrl: gateway.baseUrl,
      region: em.region,
      credentials: { ...CALLER.credentials, secretAccessKey: 'guessed' },
      transport: gateway.transport,
    });
    const calls = gateway.calls.length;
    const before = sandbox.received.length;
    await expect(intruder.listWorkflows()).rejects.toMatchObject({ status: 403, code: undefined });
    expect(gateway.calls.length).toBe(calls);
    expect(sandbox.received.length).toBe(before);
  });

  it('serves the OpenAPI document on its route, without the key', async () => {
    const before = sandbox.received.length;
    const { executeApiSigner, signRequest } = await import('../../lib/client/sigv4.ts');
    const url = new URL(`${gateway.baseUrl}/v1/openapi.json`);
    const headers = await signRequest(executeApiSigner({ region: em.region, credentials: CALLER.credentials }), {
      method: 'GET',
      url,
      path: url.pathname,
      query: {},
      headers: { host: url.host },
    });
    const res = await gateway.transport({ method: 'GET', url: url.href, headers });
    expect(res.status).toBe(200);
    expect(JSON.parse(Buffer.from(res.body).toString('utf8'))).toEqual(doc);
    expect(sandbox.received.length).toBe(before);
  });
});
