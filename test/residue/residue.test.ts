import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecryptCommand } from '@aws-sdk/client-kms';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Agent as HttpsAgent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { kmsClientFor, provisionSealedKey, teardownSealedKey, type SealedKeyResources } from '../../infra/local/provision.ts';
import { testDynamoDbEndpoint, testTlsEmulator } from '../support/aws.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { createJobsTable, deleteJobsTable, JobStore } from '../../lib/adapters/jobs/store.ts';
import { encryptionContextFor } from '../../lib/sealed-key/encryption-context.ts';
import { sessionStatusPayload, signDelivery, webhookEvent, webhookSecret } from '../sandbox/webhook-signer.ts';
import { keyPatterns, type Pattern } from './patterns.ts';
import { scanProcessMemory, type Hit, type ScanResult } from './scan-memory.ts';
import { freezerFor, type Freezer } from './freeze.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
import type { Outcome } from './child.ts';

// The residue proof of key-hygiene.md, in production's conditions: every AWS call of the child (KMS above
// all) over TLS with the emulator's CA as the trust anchor, Didit over TLS, each entry point in its own
// phase, the child scanned from here before GC, after GC and frozen (cgroup freezer), and once more after
// the peers closed their kept connections while it was frozen.
const em = testTlsEmulator();
let sandbox: Sandbox;
let sealed: SealedKeyResources;
let patterns: Pattern[];
// The webhook secret goes through the same proof: sealed, decrypted by the child, used as an HMAC key.
const secret = webhookSecret();
let sealedWebhook: SealedKeyResources;
const suffix = `${process.pid}`;
const idempotencyTable = `didit-residue-${suffix}`;
const jobsTable = `didit-residue-jobs-${suffix}`;
let dynamodb: DynamoDBClient;
let s3: S3Client | undefined;
const bucket = `didit-residue-${suffix}`;
let awsProxy: TcpProxy;
let diditProxy: TcpProxy;
const scratch = mkdtempSync(join(tmpdir(), 'didit-residue-'));

beforeAll(async () => {
  sandbox = await startSandbox();
  sealed = await provisionSealedKey(em, { stage: 'residue', apiKey: sandbox.apiKey });
  sealedWebhook = await provisionSealedKey(em, { stage: 'residue', apiKey: secret, purpose: 'didit-webhook-secret' });
  dynamodb = new DynamoDBClient({ endpoint: testDynamoDbEndpoint(), region: em.region, credentials: em.credentials });
  await Promise.all([createIdempotencyTable(dynamodb, idempotencyTable), createJobsTable(dynamodb, jobsTable)]);
  s3 = new S3Client({
    endpoint: em.endpoint,
    forcePathStyle: true,
    region: em.region,
    credentials: em.credentials,
    requestHandler: { httpsAgent: new HttpsAgent({ ca: em.caPem }) },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  patterns = [...keyPatterns(sandbox.apiKey), ...keyPatterns(secret).map((p) => ({ ...p, name: `webhook-secret ${p.name}` }))];
  const aws = new URL(em.endpoint);
  const didit = new URL(sandbox.url);
  awsProxy = await startTcpProxy({ host: aws.hostname, port: Number(aws.port) });
  diditProxy = await startTcpProxy({ host: didit.hostname, port: Number(didit.port) });
});

afterAll(async () => {
  await awsProxy?.close();
  await diditProxy?.close();
  await teardownSealedKey(em, sealed);
  await teardownSealedKey(em, sealedWebhook);
  await deleteIdempotencyTable(dynamodb, idempotencyTable);
  await deleteJobsTable(dynamodb, jobsTable).catch(() => undefined);
  dynamodb.destroy();
  if (s3 !== undefined) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
    const keys = (listed?.Contents ?? []).map((c) => ({ Key: c.Key! }));
    if (keys.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } })).catch(() => undefined);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    s3.destroy();
  }
  await sandbox.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Child {
  readonly process: ChildProcess;
  readonly output: () => string;
  request<T>(message: object, reply: string): Promise<T>;
}

async function startChild(
  mode: 'product' | 'naive',
  options: { script?: string; env?: Record<string, string>; stdin?: Buffer } = {},
): Promise<{ child: Child; outcomes: Outcome[]; ready: { scrubs?: number; scrubMs?: number } }> {
  const forged = signDelivery({ secret: Buffer.from('not-the-webhook-secret-at-all-0123456789abc'), payload: sessionStatusPayload({ status: 'Declined' }), forms: ['v2'] });
  const child = fork(join(import.meta.dirname, options.script ?? 'child.ts'), [], {
    // A large young generation, so scavenges neither move nor overwrite strings before the scan.
    execArgv: ['--expose-gc', '--max-semi-space-size=64', '--min-semi-space-size=64'],
    env: {
      PATH: process.env['PATH'],
      RESIDUE_MODE: mode,
      AWS_ENDPOINT_URL: `https://127.0.0.1:${awsProxy.port}`,
      DIDIT_LOCAL_EMULATOR: '1',
      // The gateway's KMS transport trusts the emulator CA through its own setting (honoured for loopback
      // endpoints only); the stock SDK clients (Secrets Manager, EventBridge) through Node's extra CA list.
      KMS_EMULATOR_CA_FILE: em.caFile,
      NODE_EXTRA_CA_CERTS: em.caFile,
      AWS_REGION: em.region,
      AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
      STAGE: 'residue',
      SEALED_KEY_SECRET_ID: sealed.secretId,
      KMS_KEY_ID: sealed.kmsKeyArn,
      DIDIT_BASE_URL: `https://127.0.0.1:${diditProxy.port}`,
      DIDIT_CA_FILE: sandbox.caFile,
      AWS_ENDPOINT_URL_DYNAMODB: testDynamoDbEndpoint(),
      WEBHOOK_SECRET_SECRET_ID: sealedWebhook.secretId,
      WEBHOOK_KMS_KEY_ID: sealedWebhook.kmsKeyArn,
      IDEMPOTENCY_TABLE: idempotencyTable,
      JOBS_TABLE: jobsTable,
      UPLOAD_BUCKET: bucket,
      UPLOAD_KMS_KEY_ID: sealed.kmsKeyArn,
      S3_FORCE_PATH_STYLE: 'true',
      JOB_RESULT_KMS_KEY_ID: sealed.kmsKeyArn,
      EVENT_BUS_NAME: 'default',
      DEFAULT_WORKFLOW_ID: '11111111-2222-4333-8444-555555555555',
      // Signed deliveries (HMACs only, no secret); the child verifies them with the sealed secret.
      RESIDUE_WEBHOOK_EVENT: JSON.stringify(
        webhookEvent(signDelivery({ secret, payload: sessionStatusPayload({ status: 'Approved' }), forms: ['v2', 'v1', 'simple'] })),
      ),
      RESIDUE_WEBHOOK_FORGED: JSON.stringify(webhookEvent(forged)),
      POWERTOOLS_METRICS_DISABLED: 'false',
      ...options.env,
    },
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', 'ipc'],
  });
  // The secret for the CLI arrives as an operator's pipe would deliver it.
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString('latin1')));
  const wrapped: Child = {
    process: child,
    output: () => output,
    request: <T>(message: object, reply: string) =>
      new Promise<T>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`child exited (${code}): ${output.slice(-3000)}`));
        const onMessage = (m: { type: string }) => {
          if (m.type !== reply) return;
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve(m as T);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
        if (Object.keys(message).length > 0) child.send(message);
      }),
  };
  const ready = await wrapped.request<{ outcomes: Outcome[]; scrubs?: number; scrubMs?: number }>({}, 'ready');
  return { child: wrapped, outcomes: ready.outcomes, ready };
}

function summary(scan: ScanResult): string {
  const megabytes = (n: number) => Math.round(n / 2 ** 20);
  return JSON.stringify({ hits: scan.hits.slice(0, 20), regions: scan.regionsScanned, megabytes: megabytes(scan.bytesScanned), pristine: megabytes(scan.pristineBytes) }, null, 1);
}

const where = (hits: Hit[]): string => (hits.length === 0 ? '' : ` (${[...new Set(hits.map((h) => `${h.pattern}@${h.kind}`))].join(', ')})`);

interface Row {
  entry: string;
  phase: string;
  outcome: string;
  before: Hit[];
  afterGc: Hit[];
  frozen: Hit[];
  megabytes: number;
  regions: number;
  /** Mappings skipped because they provably hold only zeros or their file's bytes (smaps). */
  pristineMegabytes: number;
  scrubs: number;
  scrubMs: number;
}

interface PhaseSpec {
  entry: string;
  name: string;
  /** Sandbox faults queued before the phase. */
  setup?: () => void;
  input?: () => Record<string, string>;
  expected: (outcomes: Outcome[]) => void;
  /** TLS read scrubs the phase must have run (one per KMS answer read over TLS). */
  scrubs?: number;
  /** Runs after the scans (e.g. learn the job data keys for later phases). */
  after?: (outcomes: Outcome[]) => Promise<void>;
}

const statuses = (o: Outcome[]) => o.map((x) => x.status);
let sessionId = '';
let jobIds: string[] = [];

const PHASES: PhaseSpec[] = [
  {
    entry: 'operation (API Gateway)',
    name: 'op-json',
    scrubs: 1,
    expected: (o) => expect(statuses(o)).toEqual([201]),
    after: async (o) => {
      sessionId = o[0]?.detail?.['sessionId'] ?? '';
      sandbox.setSessionStatus(sessionId, 'Approved');
    },
  },
  { entry: 'operation (API Gateway)', name: 'op-multipart', expected: (o) => expect(statuses(o)).toEqual([200]) },
  { entry: 'operation (API Gateway)', name: 'op-json-base64', expected: (o) => expect(statuses(o)).toEqual([201]) },
  { entry: 'operation (API Gateway)', name: 'op-pdf', input: () => ({ sessionId }), expected: (o) => expect(statuses(o)).toEqual([200]) },
  {
    entry: 'operation (API Gateway)',
    name: 'op-401',
    setup: () => sandbox.inject({ fault: { kind: 'status', status: 401 }, pathPrefix: '/v3/aml/' }),
    expected: (o) => expect(statuses(o)).toEqual([502]),
  },
  {
    entry: 'operation (API Gateway)',
    name: 'op-4xx',
    setup: () => sandbox.inject({ fault: { kind: 'status', status: 400, body: '{"detail":"bad"}' }, pathPrefix: '/v3/aml/' }),
    expected: (o) => expect(statuses(o)).toEqual([400]),
  },
  {
    entry: 'operation (API Gateway)',
    name: 'op-5xx',
    setup: () => sandbox.inject({ fault: { kind: 'status', status: 500 }, times: 2, pathPrefix: '/v3/aml/' }),
    expected: (o) => expect(statuses(o)).toEqual([502]),
  },
  {
    entry: 'operation (API Gateway)',
    name: 'op-reset',
    setup: () => sandbox.inject({ fault: { kind: 'reset' }, times: 2, pathPrefix: '/v3/aml/' }),
    expected: (o) => expect(statuses(o)).toEqual([502]),
  },
  {
    entry: 'operation (API Gateway)',
    name: 'op-timeout',
    setup: () => sandbox.inject({ fault: { kind: 'delay', ms: 6_000 }, pathPrefix: '/v3/aml/' }),
    expected: (o) => expect(statuses(o)).toEqual([504]),
  },
  { entry: 'operation (API Gateway)', name: 'op-kms-failure', expected: (o) => expect(statuses(o)).toEqual([500]) },
  {
    entry: 'operation (API Gateway)',
    name: 'op-kms-cut',
    setup: () => awsProxy.cutNextAnswers(3),
    expected: (o) => {
      expect(awsProxy.cuts()).toBeGreaterThanOrEqual(1);
      expect(typeof o[0]?.status === 'number' ? o[0].status : 0).toBeGreaterThanOrEqual(200);
    },
  },
  { entry: 'operation (API Gateway)', name: 'op-throw', expected: (o) => expect(statuses(o)).toEqual(['threw Error']) },
  { entry: 'webhook receiver', name: 'webhook-valid', expected: (o) => expect(statuses(o)).toEqual([200]) },
  { entry: 'webhook receiver', name: 'webhook-forged', expected: (o) => expect(statuses(o)).toEqual([401]) },
  {
    entry: 'operation (API Gateway)',
    name: 'op-seal',
    // The API key's Decrypt, then the Encrypt of the destination secret.
    scrubs: 2,
    expected: (o) => expect(statuses(o)).toEqual([201]),
  },
  {
    entry: 'SQS job worker',
    name: 'worker-batch',
    // One Decrypt for the whole batch (one key scope) and one GenerateDataKey for its results.
    scrubs: 2,
    setup: () => sandbox.inject({ fault: { kind: 'status', status: 500 }, times: 1, pathPrefix: '/v3/aml/', method: 'POST' }),
    // One message's Didit call gets a 500: a batch item failure (SQS delivers it again); two succeed.
    expected: (o) => expect(statuses(o)).toEqual([1]),
    after: async (o) => {
      jobIds = (o[0]?.detail?.['jobIds'] ?? '').split(',').filter((s) => s !== '');
      await learnDataKeys(jobIds);
    },
  },
  {
    entry: 'job results (getJob)',
    name: 'job-result',
    input: () => ({ jobId: succeededJob }),
    expected: (o) => expect(statuses(o)).toEqual([200]),
  },
  { entry: 'S3 upload trigger', name: 'upload', expected: (o) => expect(statuses(o)).toEqual(['succeeded']) },
  {
    entry: 'S3 upload trigger',
    name: 'upload-didit-reset',
    setup: () => sandbox.inject({ fault: { kind: 'reset' }, times: 2, pathPrefix: '/v3/id-verification/' }),
    // Not paid for certain (the request may have been processed): recorded as failed, never re-sent.
    expected: (o) => expect(String(o[0]?.status)).toMatch(/^(failed|threw)/),
  },
  { entry: 'sign-up trigger (EventBridge)', name: 'signup', expected: (o) => expect(statuses(o)).toEqual(['created']) },
  {
    entry: 'sign-up trigger (EventBridge)',
    name: 'signup-didit-5xx',
    setup: () => sandbox.inject({ fault: { kind: 'status', status: 503 }, times: 2, pathPrefix: '/v3/session/' }),
    // A retryable fault: the invocation fails so that EventBridge/Lambda retry it (or it is reported failed).
    expected: (o) => expect(['failed', 'threw DiditServerError', 'threw DiditUnavailableError']).toContain(o[0]?.status),
  },
];

let succeededJob = '';

/**
 * The worker seals results with a data key from KMS GenerateDataKey. The proof searches for that key too:
 * read here from the job record's encrypted data key (this process is not the one scanned).
 */
async function learnDataKeys(ids: string[]): Promise<void> {
  const store = new JobStore({ client: dynamodb, tableName: jobsTable });
  const kms = kmsClientFor(em);
  try {
    const seen = new Set<string>();
    for (const id of ids) {
      const job = await store.get(id);
      if (job?.result === undefined) continue;
      succeededJob ||= id;
      if (seen.has(job.result.edk)) continue;
      seen.add(job.result.edk);
      const out = await kms.send(
        new DecryptCommand({
          CiphertextBlob: Buffer.from(job.result.edk, 'base64'),
          EncryptionContext: { ...encryptionContextFor({ service: 'didit-kms-gateway', stage: 'residue', purpose: 'didit-job-result' }) },
        }),
      );
      const key = Buffer.from(out.Plaintext!);
      patterns.push(...keyPatterns(key).map((p) => ({ ...p, name: `job-data-key ${p.name}` })));
    }
    expect(seen.size, 'one data key per batch').toBe(1);
  } finally {
    kms.destroy();
  }
}

async function scanPhase(
  child: Child,
  freezer: Freezer,
  searched: readonly Pattern[] = patterns,
): Promise<{ before: ScanResult; afterGc: ScanResult; frozen: ScanResult }> {
  const pid = child.process.pid!;
  const before = scanProcessMemory(pid, searched);
  await child.request({ type: 'gc' }, 'gc-done');
  const afterGc = scanProcessMemory(pid, searched);
  await freezer.freeze();
  try {
    return { before, afterGc, frozen: scanProcessMemory(pid, searched) };
  } finally {
    await freezer.thaw();
  }
}

function table(rows: Row[], conditions: string, searched: readonly Pattern[] = patterns): string {
  const lines = [
    `Residue proof — ${conditions}`,
    `Encodings searched: ${[...new Set(searched.map((p) => p.name))].join(', ')}`,
    '',
    '| entry point | phase | outcome | hits before GC | after GC | frozen | scanned MiB / regions (+ pristine MiB skipped) | TLS scrubs (ms) |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.entry} | ${r.phase} | ${r.outcome} | ${r.before.length}${where(r.before)} | ${r.afterGc.length}${where(r.afterGc)} | ${r.frozen.length}${where(r.frozen)} | ${r.megabytes} / ${r.regions} (+${r.pristineMegabytes}) | ${r.scrubs} (${r.scrubMs.toFixed(2)}) |`,
    );
  }
  return lines.join('\n');
}

const rows: Row[] = [];
let conditions = '';

describe('residue of the Didit key in a process that used it (KMS over TLS)', () => {
  it('every entry point and failure path: 0 hits before GC, after GC and frozen; peers closing while frozen too', async (ctx) => {
    sandbox.reset();
    const { child } = await startChild('product');
    const freezer = freezerFor(child.process.pid!);
    conditions = `Node ${process.version}, OpenSSL ${process.versions.openssl}, ${process.platform}-${process.arch}; KMS and AWS over TLS (${em.kind}, CA as trust anchor), Didit over TLS; frozen with ${freezer.method}`;
    try {
      for (const spec of PHASES) {
        spec.setup?.();
        const done = await child.request<{ outcomes: Outcome[]; scrubs: number; scrubMs: number }>(
          { type: 'phase', name: spec.name, input: spec.input?.() ?? {} },
          'phase-done',
        );
        expect.soft(done.outcomes.length, spec.name).toBeGreaterThan(0);
        try {
          spec.expected(done.outcomes);
        } catch (err) {
          throw new Error(`${spec.name}: ${(err as Error).message}\n${child.output().slice(-4000)}`, { cause: err });
        }
        if (spec.scrubs !== undefined) expect(done.scrubs, `${spec.name}: TLS read scrubs`).toBe(spec.scrubs);
        sandbox.clearFaults();
        await spec.after?.(done.outcomes);
        const scans = await scanPhase(child, freezer);
        rows.push({
          entry: spec.entry,
          phase: done.outcomes.map((o) => o.scenario).join('; '),
          outcome: statuses(done.outcomes).join(', '),
          before: scans.before.hits,
          afterGc: scans.afterGc.hits,
          frozen: scans.frozen.hits,
          megabytes: Math.round(scans.before.bytesScanned / 2 ** 20),
          regions: scans.before.regionsScanned,
          pristineMegabytes: Math.round(scans.before.pristineBytes / 2 ** 20),
          scrubs: done.scrubs,
          scrubMs: done.scrubMs,
        });
      }
      // Idle: frozen between invocations while Didit and the emulator close their kept connections; the
      // child sees the FINs after the thaw, closes its side (that is the event waited for), then is scanned.
      await freezer.freeze();
      const closing = Promise.all([awsProxy.closeAll(), diditProxy.closeAll()]);
      await freezer.thaw();
      await closing;
      const idle = await scanPhase(child, freezer);
      rows.push({
        entry: 'idle environment',
        phase: 'peers closed kept connections while frozen',
        outcome: `${awsProxy.open() + diditProxy.open()} open`,
        before: idle.before.hits,
        afterGc: idle.afterGc.hits,
        frozen: idle.frozen.hits,
        megabytes: Math.round(idle.before.bytesScanned / 2 ** 20),
        regions: idle.before.regionsScanned,
          pristineMegabytes: Math.round(idle.before.pristineBytes / 2 ** 20),
        scrubs: 0,
        scrubMs: 0,
      });

      const snapshot = join(scratch, 'product.heapsnapshot');
      await child.request({ type: 'snapshot', path: snapshot }, 'snapshot-done');
      const text = readFileSync(snapshot);
      rmSync(snapshot);
      expect(text.length).toBeGreaterThan(1_000_000);
      for (const p of patterns) expect(text.includes(p.bytes), `heap snapshot retains the key (${p.name})`).toBe(false);
      for (const p of patterns) expect(child.output().includes(p.bytes.toString('latin1')), `logs contain the key (${p.name})`).toBe(false);

      // In-scope control: while a withKey scope is open the scan must see the key (in secure memory,
      // never in V8's heap); once the scope closes it must be gone again.
      await child.request({ type: 'hold' }, 'holding');
      const inScope = scanProcessMemory(child.process.pid!, patterns);
      rows.push({
        entry: 'control: inside withKey',
        phase: 'key held in secure memory',
        outcome: 'must find',
        before: inScope.hits,
        afterGc: [],
        frozen: [],
        megabytes: Math.round(inScope.bytesScanned / 2 ** 20),
        regions: inScope.regionsScanned,
          pristineMegabytes: Math.round(inScope.pristineBytes / 2 ** 20),
        scrubs: 0,
        scrubMs: 0,
      });
      expect(inScope.hits.filter((h) => h.pattern === 'ascii').length).toBeGreaterThanOrEqual(1);
      expect(inScope.hits.every((h) => h.pattern === 'ascii')).toBe(true);
      await child.request({ type: 'release' }, 'released');
      const afterScope = scanProcessMemory(child.process.pid!, patterns);
      expect(afterScope.hits, summary(afterScope)).toEqual([]);
      expect(child.output()).toContain('"audit":"didit-key-use"');
    } finally {
      child.process.send({ type: 'exit' });
      freezer.dispose();
      const report = table(rows, conditions);
      ctx.task.meta.residueReport = report;
      console.info(report);
    }
    for (const r of rows.filter((x) => !x.entry.startsWith('control'))) {
      expect.soft([...r.before, ...r.afterGc, ...r.frozen], `${r.entry} / ${r.phase}`).toEqual([]);
    }
    // About 20 phases, each scanned three times (≈400 MiB a scan): minutes, not the default 90 s.
  }, 400_000);

  it('the CLI seal, in its own process: 0 hits before GC, after GC and frozen, on success and on a KMS refusal', async (ctx) => {
    const cliKey = Buffer.from(`sk_cli_${randomBytes(20).toString('hex')}`, 'latin1');
    const cliPatterns = keyPatterns(cliKey).map((p) => ({ ...p, name: `cli-key ${p.name}` }));
    const cliRows: Row[] = [];
    const stage = `residue-cli-${process.pid}`;
    const cases: Array<{ scenario: string; args: string[]; expected: (code: unknown) => void }> = [
      { scenario: 'success', args: ['seal', '--stage', stage, '--kms-key-id', sealed.kmsKeyArn, '--json'], expected: (code) => expect(code).toBe(0) },
      {
        scenario: 'KMS refuses (unknown key)',
        args: ['seal', '--stage', `${stage}-x`, '--kms-key-id', 'alias/didit-residue-no-such-key', '--json'],
        expected: (code) => expect(code).not.toBe(0),
      },
    ];
    try {
      for (const c of cases) {
        const { child, outcomes, ready } = await startChild('product', {
          script: 'cli-child.ts',
          env: { RESIDUE_CLI_ARGS: JSON.stringify(c.args), RESIDUE_CLI_SCENARIO: c.scenario },
          stdin: Buffer.concat([cliKey, Buffer.from('\n')]),
        });
        const freezer = freezerFor(child.process.pid!);
        try {
          c.expected(outcomes[0]?.status);
          const scans = await scanPhase(child, freezer, [...patterns, ...cliPatterns]);
          cliRows.push({
            entry: 'CLI seal (its process)',
            phase: outcomes[0]?.scenario ?? c.scenario,
            outcome: `exit ${String(outcomes[0]?.status)}`,
            before: scans.before.hits,
            afterGc: scans.afterGc.hits,
            frozen: scans.frozen.hits,
            megabytes: Math.round(scans.before.bytesScanned / 2 ** 20),
            regions: scans.before.regionsScanned,
          pristineMegabytes: Math.round(scans.before.pristineBytes / 2 ** 20),
            scrubs: ready.scrubs ?? 0,
            scrubMs: ready.scrubMs ?? 0,
          });
        } finally {
          child.process.send({ type: 'exit' });
          freezer.dispose();
        }
      }
    } finally {
      const report = table(cliRows, conditions || 'KMS over TLS', [...patterns, ...cliPatterns]);
      ctx.task.meta.residueReport = report;
      console.info(report);
    }
    for (const r of cliRows) expect.soft([...r.before, ...r.afterGc, ...r.frozen], `${r.entry} / ${r.phase}`).toEqual([]);
  }, 120_000);

  it('negative control: with the TLS read scrub off, a Didit reset leaves the KMS answer on the native stack', async (ctx) => {
    sandbox.reset();
    const { child } = await startChild('product');
    const freezer = freezerFor(child.process.pid!);
    try {
      sandbox.inject({ fault: { kind: 'reset' }, times: 2, pathPrefix: '/v3/aml/' });
      const done = await child.request<{ outcomes: Outcome[] }>({ type: 'phase', name: 'control-unscrubbed-reset' }, 'phase-done');
      expect(statuses(done.outcomes)).toEqual([502]);
      const scans = await scanPhase(child, freezer);
      const stackHits = (s: ScanResult) => s.hits.filter((h) => h.kind === 'stack');
      const line = `negative control (scrub off, Didit reset): before GC ${scans.before.hits.length}${where(scans.before.hits)}, after GC ${scans.afterGc.hits.length}${where(scans.afterGc.hits)}, frozen ${scans.frozen.hits.length}${where(scans.frozen.hits)}`;
      ctx.task.meta.residueReport = line;
      console.info(line);
      expect(stackHits(scans.afterGc).length, 'the unscrubbed TLS read leaves the Decrypt answer on [stack]').toBeGreaterThanOrEqual(1);
      expect(stackHits(scans.frozen).length).toBeGreaterThanOrEqual(1);
    } finally {
      child.process.send({ type: 'exit' });
      freezer.dispose();
    }
  });

  it('positive control: the naive path (SDK Plaintext → string → header) leaves copies the scan finds', async (ctx) => {
    sandbox.reset();
    const { child, outcomes } = await startChild('naive');
    try {
      expect(outcomes).toEqual([{ scenario: 'naive create session', status: 201 }]);
      const scan = scanProcessMemory(child.process.pid!, patterns);
      const line = `naive control: ${scan.hits.length} hits${where(scan.hits)}`;
      ctx.task.meta.residueReport = line;
      console.info(line);
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
