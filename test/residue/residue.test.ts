import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/webhooks/idempotency-table.ts';
import { sessionStatusPayload, signDelivery, webhookEvent, webhookSecret } from '../sandbox/webhook-signer.ts';
import { keyPatterns, type Pattern } from './patterns.ts';
import { scanProcessMemory, type ScanResult } from './scan-memory.ts';

// The residue proof of key-hygiene.md: real invocations in a child process, memory scanned from here.
const SESSION = '0b0c3f43-3c35-4bb4-8f44-2d1c1f0c9a11';
const em = testEmulator();
let sandbox: Sandbox;
let sealed: SealedKeyResources;
let patterns: Pattern[];
// The webhook secret goes through the same proof: sealed, decrypted by the child, used as an HMAC key.
const secret = webhookSecret();
let sealedWebhook: SealedKeyResources;
const table = `didit-residue-${process.pid}`;
let dynamodb: DynamoDBClient;
const scratch = mkdtempSync(join(tmpdir(), 'didit-residue-'));

beforeAll(async () => {
  sandbox = await startSandbox();
  sealed = await provisionSealedKey(em, { stage: 'residue', apiKey: sandbox.apiKey });
  sealedWebhook = await provisionSealedKey(em, { stage: 'residue', apiKey: secret, purpose: 'didit-webhook-secret' });
  dynamodb = new DynamoDBClient({ endpoint: testDynamoDbEndpoint(), region: em.region, credentials: em.credentials });
  await createIdempotencyTable(dynamodb, table);
  patterns = [...keyPatterns(sandbox.apiKey), ...keyPatterns(secret).map((p) => ({ ...p, name: `webhook-secret ${p.name}` }))];
});

afterAll(async () => {
  await teardownSealedKey(em, sealed);
  await teardownSealedKey(em, sealedWebhook);
  await deleteIdempotencyTable(dynamodb, table);
  dynamodb.destroy();
  await sandbox.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Child {
  readonly process: ChildProcess;
  readonly output: () => string;
  request<T>(message: object, reply: string): Promise<T>;
}

async function startChild(mode: 'product' | 'naive'): Promise<{ child: Child; outcomes: Array<{ scenario: string; status: unknown }> }> {
  const child = fork(join(import.meta.dirname, 'child.ts'), [], {
    // A large young generation, so scavenges neither move nor overwrite strings before the scan.
    execArgv: ['--expose-gc', '--max-semi-space-size=64', '--min-semi-space-size=64'],
    env: {
      PATH: process.env['PATH'],
      RESIDUE_MODE: mode,
      AWS_ENDPOINT_URL: em.endpoint,
      DIDIT_LOCAL_EMULATOR: '1',
      AWS_REGION: em.region,
      AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
      STAGE: 'residue',
      SEALED_KEY_SECRET_ID: sealed.secretId,
      DIDIT_BASE_URL: sandbox.url,
      DIDIT_CA_FILE: sandbox.caFile,
      AWS_ENDPOINT_URL_DYNAMODB: testDynamoDbEndpoint(),
      WEBHOOK_SECRET_SECRET_ID: sealedWebhook.secretId,
      IDEMPOTENCY_TABLE: table,
      EVENT_BUS_NAME: 'default',
      // A signed delivery (HMACs only, no secret); the child verifies it with the sealed secret.
      RESIDUE_WEBHOOK_EVENT: JSON.stringify(
        webhookEvent(signDelivery({ secret, payload: sessionStatusPayload({ status: 'Approved' }), forms: ['v2', 'v1', 'simple'] })),
      ),
      POWERTOOLS_METRICS_DISABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString('latin1')));
  const wrapped: Child = {
    process: child,
    output: () => output,
    request: <T>(message: object, reply: string) =>
      new Promise<T>((resolve, reject) => {
        const onMessage = (m: { type: string }) => {
          if (m.type !== reply) return;
          child.off('message', onMessage);
          resolve(m as T);
        };
        child.on('message', onMessage);
        child.once('exit', (code) => reject(new Error(`child exited (${code}): ${output.slice(-2000)}`)));
        if (Object.keys(message).length > 0) child.send(message);
      }),
  };
  const ready = await wrapped.request<{ outcomes: Array<{ scenario: string; status: unknown }> }>({}, 'ready');
  return { child: wrapped, outcomes: ready.outcomes };
}

function summary(scan: ScanResult): string {
  return JSON.stringify(
    { hits: scan.hits.slice(0, 20), regions: scan.regionsScanned, megabytes: Math.round(scan.bytesScanned / 2 ** 20) },
    null,
    1,
  );
}

describe('residue of the Didit key in a process that used it', () => {
  it('product path: no copy in V8 regions before GC, no copy anywhere after GC, none retained', async () => {
    sandbox.reset();
    sandbox.inject({ fault: { kind: 'status', status: 500 }, times: 2, pathPrefix: `/v3/session/${SESSION}/decision` });
    sandbox.inject({ fault: { kind: 'delay', ms: 4_000 }, pathPrefix: '/v3/aml/' });
    const { child, outcomes } = await startChild('product');
    try {
      // Each scenario really happened, with the status the gateway defines for it.
      expect(outcomes).toEqual([
        { scenario: 'success: create session', status: 201 },
        { scenario: 'success: id verification (multipart)', status: 200 },
        { scenario: 'didit 500 (retried once, then 502)', status: 502 },
        { scenario: 'didit timeout (invocation deadline)', status: 504 },
        { scenario: 'kms failure (wrong encryption context)', status: 500 },
        { scenario: 'handler throws inside the key scope', status: 'threw Error' },
        { scenario: 'webhook: signed delivery verified with the sealed secret', status: 200 },
      ]);
      expect(sandbox.count({ keyMatched: true })).toBeGreaterThanOrEqual(5);

      const beforeGc = scanProcessMemory(child.process.pid!, patterns);
      console.info(`residue before GC: ${beforeGc.hits.length} hits in ${beforeGc.regionsScanned} regions, ${Math.round(beforeGc.bytesScanned / 2 ** 20)} MiB`);
      expect(beforeGc.bytesScanned).toBeGreaterThan(10 * 2 ** 20);
      expect(beforeGc.hits.filter((h) => h.kind === 'anonymous'), summary(beforeGc)).toEqual([]);

      await child.request({ type: 'gc' }, 'gc-done');
      const afterGc = scanProcessMemory(child.process.pid!, patterns);
      console.info(`residue after GC: ${afterGc.hits.length} hits`);
      expect(afterGc.hits, summary(afterGc)).toEqual([]);

      const snapshot = join(scratch, 'product.heapsnapshot');
      await child.request({ type: 'snapshot', path: snapshot }, 'snapshot-done');
      const text = readFileSync(snapshot);
      rmSync(snapshot);
      expect(text.length).toBeGreaterThan(1_000_000);
      for (const p of patterns) expect(text.includes(p.bytes), `heap snapshot retains the key (${p.name})`).toBe(false);

      for (const p of patterns) expect(child.output().includes(p.bytes.toString('latin1')), `logs contain the key (${p.name})`).toBe(false);

      // In-scope control: while a withKey scope is open the scan must see the key (in secure
      // memory, never in V8's heap); once the scope closes it must be gone again.
      await child.request({ type: 'hold' }, 'holding');
      const inScope = scanProcessMemory(child.process.pid!, patterns);
      console.info(`inside withKey: ${inScope.hits.length} hits (${inScope.hits.map((h) => `${h.pattern}@${h.kind}`).join(', ')})`);
      expect(inScope.hits.filter((h) => h.pattern === 'ascii').length).toBeGreaterThanOrEqual(1);
      expect(inScope.hits.every((h) => h.pattern === 'ascii')).toBe(true);
      await child.request({ type: 'release' }, 'released');
      const afterScope = scanProcessMemory(child.process.pid!, patterns);
      expect(afterScope.hits, summary(afterScope)).toEqual([]);
      expect(child.output()).toContain('"audit":"didit-key-use"');
    } finally {
      child.process.send({ type: 'exit' });
    }
  });

  it('positive control: the naive path (SDK Plaintext → string → header) leaves copies the scan finds', async () => {
    sandbox.reset();
    const { child, outcomes } = await startChild('naive');
    try {
      expect(outcomes).toEqual([{ scenario: 'naive create session', status: 201 }]);
      const scan = scanProcessMemory(child.process.pid!, patterns);
      console.info(`naive control: ${scan.hits.length} hits (${[...new Set(scan.hits.map((h) => h.pattern))].join(', ')})`);
      expect(scan.hits.filter((h) => h.kind === 'anonymous').length).toBeGreaterThan(0);
      await child.request({ type: 'gc' }, 'gc-done');
      const snapshot = join(scratch, 'naive.heapsnapshot');
      await child.request({ type: 'snapshot', path: snapshot }, 'snapshot-done');
      const text = readFileSync(snapshot);
      rmSync(snapshot);
      // The naive handler caches the key at module scope, as @middy/secrets-manager does: the
      // snapshot check must see that retention, or it proves nothing for the product path.
      expect(text.includes(patterns[0]!.bytes)).toBe(true);
    } finally {
      child.process.send({ type: 'exit' });
    }
  });
});
