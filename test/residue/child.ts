/**
 * The process under test for the residue proof. It runs real handler invocations against the
 * emulator and the sandbox, then waits for the parent to scan its memory. It never receives the
 * key by any means other than KMS Decrypt of the sealed ciphertext (or, in naive mode, the stock
 * SDK's Decrypt), so any copy the parent finds was made by the code under test.
 *
 * Protocol over IPC: child → {ready} after the scenarios; parent → {gc} | {snapshot, path} | {exit}.
 */
import { writeHeapSnapshot } from 'node:v8';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { KMSClient, DecryptCommand } from '@aws-sdk/client-kms';
import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createOperationHandler } from '../../lib/http/operation-handler.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { buildRequestHead } from '../../lib/didit/request-head.ts';
import { apiEvent, lambdaContext, multipartBody, JPEG } from '../support/api-events.ts';
import { createWebhookHandler } from '../../lib/webhooks/handler.ts';
import { createWebhookDependencies } from '../../lib/webhooks/dependencies.ts';
import { loadWebhookConfig } from '../../lib/webhooks/config.ts';
import type { APIGatewayProxyEvent } from 'aws-lambda';

const SESSION = '0b0c3f43-3c35-4bb4-8f44-2d1c1f0c9a11';
const WORKFLOW = '11111111-2222-4333-8444-555555555555';

type Outcome = { scenario: string; status: number | string };

async function product(): Promise<Outcome[]> {
  const config = loadConfig();
  const deps = createDependencies(config);
  const wrongContext = createDependencies({ ...config, stage: `${config.stage}-other` });
  const handler = (name: keyof typeof OPERATIONS, d: GatewayDependencies = deps) =>
    createOperationHandler(OPERATIONS[name], { dependencies: () => d });
  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const outcomes: Outcome[] = [];
  const run = async (scenario: string, fn: () => Promise<{ statusCode: number }>) => {
    try {
      outcomes.push({ scenario, status: (await fn()).statusCode });
    } catch (err) {
      outcomes.push({ scenario, status: `threw ${(err as Error).name}` });
    }
  };

  await run('success: create session', () =>
    handler('createSession')(apiEvent({ method: 'POST', path: '/v1/sessions', ...json({ workflow_id: WORKFLOW, vendor_data: 'residue-user' }) }), lambdaContext()),
  );
  const mp = multipartBody([['front_image', { filename: 'f.jpg', type: 'image/jpeg', data: JPEG }]]);
  await run('success: id verification (multipart)', () =>
    handler('idVerification')(apiEvent({ method: 'POST', path: '/v1/id-verification', headers: { 'content-type': mp.contentType }, body: mp.body }), lambdaContext()),
  );
  await run('didit 500 (retried once, then 502)', () =>
    handler('retrieveDecision')(apiEvent({ method: 'GET', path: `/v1/sessions/${SESSION}/decision`, pathParameters: { sessionId: SESSION } }), lambdaContext()),
  );
  await run('didit timeout (invocation deadline)', () =>
    handler('amlScreening')(apiEvent({ method: 'POST', path: '/v1/aml', ...json({ full_name: 'Residue Test' }) }), lambdaContext({ remainingMs: 2_500 })),
  );
  await run('kms failure (wrong encryption context)', () =>
    handler('createSession', wrongContext)(apiEvent({ method: 'POST', path: '/v1/sessions', ...json({ workflow_id: WORKFLOW }) }), lambdaContext()),
  );
  await run('handler throws inside the key scope', async () => {
    await deps.sealedKey.withKey(async (key) => {
      const head = buildRequestHead({ method: 'GET', target: '/v3/x/', host: 'h', headers: [] }, key);
      head.dispose();
      throw new Error('boom after using the key');
    });
    return { statusCode: 200 };
  });
  // The webhook secret: decrypted into secure memory and used as the HMAC key of a signed delivery.
  const delivery = process.env['RESIDUE_WEBHOOK_EVENT'];
  if (delivery !== undefined) {
    const webhook = createWebhookHandler({
      dependencies: () => createWebhookDependencies(loadWebhookConfig({ ...process.env, STAGE: config.stage })),
    });
    await run('webhook: signed delivery verified with the sealed secret', () =>
      webhook(JSON.parse(delivery) as APIGatewayProxyEvent, lambdaContext()) as Promise<{ statusCode: number }>,
    );
  }
  // Let the sandbox's delayed answer arrive and be dropped before the scan.
  await new Promise((r) => setTimeout(r, 3_000));
  deps.didit.close();
  wrongContext.didit.close();
  return outcomes;
}

/** Module-level cache of the plaintext, as popular secret middlewares keep one. */
const naiveCache: { key?: string } = {};

/** The obvious implementation, as a positive control: the scan must find its copies. */
async function naive(): Promise<Outcome[]> {
  const secrets = new SecretsManagerClient({});
  const kms = new KMSClient({});
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: process.env['SEALED_KEY_SECRET_ID'] }));
  const stage = process.env['STAGE']!;
  const out = await kms.send(
    new DecryptCommand({
      CiphertextBlob: secret.SecretBinary,
      EncryptionContext: { service: 'didit-kms-gateway', stage, purpose: 'didit-api-key' },
    }),
  );
  const key = Buffer.from(out.Plaintext!).toString('latin1');
  naiveCache.key = key;
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      `${process.env['DIDIT_BASE_URL']}/v3/session/`,
      {
        method: 'POST',
        ca: readFileSync(process.env['DIDIT_CA_FILE']!),
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ workflow_id: WORKFLOW }));
  });
  return [{ scenario: 'naive create session', status }];
}

const mode = process.env['RESIDUE_MODE'] ?? 'product';
const outcomes = mode === 'naive' ? await naive() : await product();
process.send!({ type: 'ready', outcomes });

// In-scope control: hold the key inside withKey while the parent scans, so the parent can show
// its scan does see secure memory, and that the key is gone once the scope ends.
let release: (() => void) | undefined;
async function hold(): Promise<void> {
  const deps = createDependencies(loadConfig());
  await deps.sealedKey.withKey(async () => {
    process.send!({ type: 'holding' });
    await new Promise<void>((resolve) => (release = resolve));
  });
  process.send!({ type: 'released' });
}

process.on('message', (message: { type: string; path?: string }) => {
  if (message.type === 'hold') {
    void hold();
  } else if (message.type === 'release') {
    release?.();
  } else if (message.type === 'gc') {
    const gc = (globalThis as { gc?: () => void }).gc;
    for (let i = 0; i < 4; i++) gc?.();
    // Finalisers (sodium's external buffers) run after GC on a later tick.
    setTimeout(() => {
      gc?.();
      process.send!({ type: 'gc-done' });
    }, 200);
  } else if (message.type === 'snapshot' && message.path !== undefined) {
    writeHeapSnapshot(message.path);
    process.send!({ type: 'snapshot-done' });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
