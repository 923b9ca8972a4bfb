import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOffline, type Offline } from '../../infra/local/offline.ts';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { testEmulator } from '../support/aws.ts';

// The deployable shape end to end, over real HTTP: serverless.yml (stage `local`) → serverless-esbuild
// bundle → serverless-offline's API Gateway emulation → handler in a worker thread → KMS/Secrets Manager on
// the emulator → Didit sandbox over TLS. The key reaches the functions only as ciphertext in the emulator.
const em = testEmulator();
const STAGE = 'local'; // serverless.yml feeds the `local` stage from the environment offline.ts passes on
let sandbox: Sandbox | undefined;
let sealed: SealedKeyResources | undefined;
let offline: Offline | undefined;
const output: string[] = [];

beforeAll(async () => {
  const apiKey = Buffer.from(randomBytes(30).toString('base64url'), 'latin1');
  sandbox = await startSandbox({ apiKey });
  sealed = await provisionSealedKey(em, { stage: STAGE, apiKey });
  apiKey.fill(0); // the sandbox keeps its own copy; the functions only get the sealed one
  offline = await startOffline({
    env: {
      AWS_ENDPOINT_URL: em.endpoint,
      AWS_REGION: em.region,
      AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
      SEALED_KEY_SECRET_ID: sealed.secretId,
      KMS_KEY_ID: sealed.kmsKeyArn,
      DIDIT_BASE_URL: sandbox.url,
      DIDIT_CA_FILE: sandbox.caFile,
    },
    log: (line) => output.push(line),
  });
}, 180_000);

afterAll(async () => {
  const errors: unknown[] = [];
  for (const step of [() => offline?.stop(), () => sandbox?.close(), () => sealed && teardownSealedKey(em, sealed)]) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'offline test teardown failed');
}, 60_000);

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(`${offline!.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) as Record<string, any> };
  } catch {
    throw new Error(`non-JSON answer ${res.status}: ${text}\n--- offline output ---\n${output.slice(-40).join('\n')}`);
  }
}

describe('serverless-offline with the sealed key on the emulator', () => {
  it('serves the stage-prefixed API on 127.0.0.1', () => {
    expect(offline!.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/${STAGE}$`));
  });

  it('POST /v1/sessions with a valid body: 201 and exactly one create at Didit with the right key', async () => {
    const workflowId = randomUUID();
    const res = await post('/v1/sessions', { workflow_id: workflowId, vendor_data: 'offline-test' });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    expect(res.json['session_id']).toEqual(expect.any(String));
    expect(res.json['workflow_id']).toBe(workflowId);

    const creates = sandbox!.received.filter((r) => r.method === 'POST' && r.path === '/v3/session/');
    expect(creates).toHaveLength(1);
    expect(creates[0]!.keyMatched).toBe(true);
    expect(creates[0]!.json).toMatchObject({ workflow_id: workflowId, vendor_data: 'offline-test' });
    expect(sandbox!.count()).toBe(1);
  });

  it('POST /v1/sessions with an invalid body: 400 with field issues and nothing sent to Didit', async () => {
    const before = sandbox!.count();
    const res = await post('/v1/sessions', { workflow_id: 'not-a-uuid', unexpected: true });
    expect(res.status).toBe(400);
    const issues = (res.json['error']?.['issues'] ?? []) as Array<{ field: string; message: string }>;
    expect(issues.map((i) => i.field)).toContain('workflow_id');
    expect(issues.every((i) => typeof i.message === 'string' && i.message.length > 0)).toBe(true);
    expect(sandbox!.count()).toBe(before);
  });

  it('never hands the key to the functions: the offline output carries no key material', () => {
    const joined = output.join('\n');
    expect(joined).toContain('POST /local/v1/sessions');
    // The sandbox's current key is the one sealed; it must not show up in anything offline printed.
    expect(joined.includes(sandbox!.apiKey.toString('latin1'))).toBe(false);
  });
});
