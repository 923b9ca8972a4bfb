import { ReceiveMessageCommand, SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_STAGE, packageLocalTemplate, startLocalGateway, type LocalGateway } from '../../infra/local/local-gateway.ts';
import { readFunction, readSqsMapping, type PackagedTemplate } from '../../infra/local/lambda/template.ts';
import type { PublishedEvent } from '../../infra/local/outbox.ts';
import { bannerPaths, type BannerPath } from '../../infra/local/start.ts';
import { SIGNER_FORMS, type SignerForm } from '../sandbox/webhook-signer.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';

// What `npm start` runs, through the same composition (infra/local/local-gateway.ts): serverless.yml (stage
// `local`) → serverless-esbuild bundle → serverless-offline (API Gateway emulation, and its Lambda Invoke API
// for the event sources) → handlers → KMS/Secrets Manager/DynamoDB/SQS/S3/EventBridge on the emulator, the
// stack created there from the packaged template → Didit sandbox over TLS, which sends its signed webhooks
// back. The key and the webhook secret reach the functions only as ciphertext in the emulator.
//
// Each path is driven with the very commands the banner prints (pasted into bash, as a newcomer would),
// and the test waits for the event the path publishes (the outbox: a catch-all rule → queue).
const em = testEmulator();
let gw: LocalGateway | undefined;
const offlineOutput: string[] = [];
const startLog: string[] = [];
let webhookSecretText = '';
let template: PackagedTemplate | undefined;
// The template's 540 s would keep a failed job message invisible for nine minutes; everything else is the template's.
const JOBS_VISIBILITY_TIMEOUT_SECONDS = 4;

beforeAll(async () => {
  template = await packageLocalTemplate();
  const apiKey = Buffer.from(randomBytes(30).toString('base64url'), 'latin1');
  const webhookSecret = Buffer.from(randomBytes(32).toString('base64url'), 'latin1');
  webhookSecretText = webhookSecret.toString('latin1'); // only to prove below that nothing printed it
  gw = await startLocalGateway({
    em,
    dynamodbEndpoint: testDynamoDbEndpoint(),
    template,
    apiKey,
    webhookSecret,
    teardownStack: true,
    jobsVisibilityTimeoutSeconds: JOBS_VISIBILITY_TIMEOUT_SECONDS,
    log: (line) => startLog.push(line),
    offlineLog: (line) => offlineOutput.push(line),
  });
  apiKey.fill(0); // the sandbox keeps its own copy; the functions only get the sealed one
  webhookSecret.fill(0);
  gw.sources.onOutcome(wake);
  gw.sandbox.onWebhookAttempt(wake);
}, 240_000);

afterAll(async () => {
  await gw?.stop();
}, 60_000);

function g(): LocalGateway {
  if (!gw) throw new Error('the local gateway did not start');
  return gw;
}

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(`${g().offline.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) as Record<string, any> };
  } catch {
    throw new Error(`non-JSON answer ${res.status}: ${text}\n--- offline output ---\n${offlineOutput.slice(-40).join('\n')}`);
  }
}

const run = promisify(execFile);

/** The banner's commands of these paths, in one bash, as pasted (async: the sandbox answers in this process). */
async function paste(...keys: BannerPath['key'][]): Promise<string> {
  const paths = bannerPaths(g(), em).filter((p) => keys.includes(p.key));
  expect(paths.map((p) => p.key)).toEqual(keys);
  const script = paths.flatMap((p) => p.lines.flatMap((l) => (typeof l === 'string' ? [] : [l.cmd]))).join('\n');
  const { stdout } = await run('bash', ['-eo', 'pipefail', '-c', script], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/**
 * Resolves once `check` holds, re-checked on each event of the actors that change what it reads: a mapper
 * recording an outcome, the sandbox reading a receiver's answer. No polling; the test's timeout bounds it.
 */
const waiters = new Set<() => void>();
const wake = (): void => {
  for (const waiter of waiters) waiter();
};
async function until(check: () => boolean): Promise<void> {
  if (check()) return;
  await new Promise<void>((resolve) => {
    const waiter = (): void => {
      if (!check()) return;
      waiters.delete(waiter);
      resolve();
    };
    waiters.add(waiter);
  });
}

const PATH_TIMEOUT = 180_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const uuidLines = (stdout: string): string[] => stdout.split('\n').filter((l) => UUID.test(l.trim()));

const isWebhookEvent = (sessionId: string, status: string) => (e: PublishedEvent) =>
  e.source === 'didit.webhooks' && e['detail-type'] === 'didit.session.status-updated' && e.detail['session_id'] === sessionId && e.detail['status'] === status;

describe('npm start composition: routes on serverless-offline with the sealed key on the emulator', () => {
  it('serves the stage-prefixed API on 127.0.0.1', () => {
    expect(g().offline.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/${LOCAL_STAGE}$`));
  });

  it('POST /v1/sessions with a valid body: 201 and exactly one create at Didit with the right key', async () => {
    const workflowId = randomUUID();
    const res = await post('/v1/sessions', { workflow_id: workflowId, vendor_data: 'offline-test' });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    expect(res.json['session_id']).toEqual(expect.any(String));
    expect(res.json['workflow_id']).toBe(workflowId);

    const sandbox = g().sandbox;
    const creates = sandbox.received.filter((r) => r.method === 'POST' && r.path === '/v3/session/');
    expect(creates).toHaveLength(1);
    expect(creates[0]!.keyMatched).toBe(true);
    expect(creates[0]!.json).toMatchObject({ workflow_id: workflowId, vendor_data: 'offline-test' });
    expect(sandbox.count()).toBe(1);
  });

  it('POST /v1/sessions with an invalid body: 400 with field issues and nothing sent to Didit', async () => {
    const before = g().sandbox.count();
    const res = await post('/v1/sessions', { workflow_id: 'not-a-uuid', unexpected: true });
    expect(res.status).toBe(400);
    const issues = (res.json['error']?.['issues'] ?? []) as Array<{ field: string; message: string }>;
    expect(issues.map((i) => i.field)).toContain('workflow_id');
    expect(issues.every((i) => typeof i.message === 'string' && i.message.length > 0)).toBe(true);
    expect(g().sandbox.count()).toBe(before);
  });
});

describe('every path of the banner, pasted into bash', () => {
  it('an operation, then the sandbox finishing the session: signed webhooks reach the receiver, one event per status change', async () => {
    const stdout = await paste('operation', 'webhooks');
    const [sessionId] = uuidLines(stdout);
    expect(sessionId, stdout).toBeDefined();
    // Approved (all three signatures), In Review (Simple alone), Declined (PATCH through the gateway → update-status).
    const approved = await g().outbox.waitFor(isWebhookEvent(sessionId!, 'Approved'));
    const inReview = await g().outbox.waitFor(isWebhookEvent(sessionId!, 'In Review'));
    const declined = await g().outbox.waitFor(isWebhookEvent(sessionId!, 'Declined'));
    expect(approved.detail['delivery']).toMatchObject({ signature: 'v2', authenticated: 'body', decision_source: 'delivery' });
    expect(inReview.detail['delivery']).toMatchObject({ signature: 'simple', authenticated: 'envelope', decision_source: 'didit-api' });
    expect(declined.detail['delivery']).toMatchObject({ signature: 'v2', authenticated: 'body' });

    const deliveries = g().sandbox.webhookDeliveries.filter((d) => d.sessionId === sessionId);
    await until(() => deliveries.every((d) => d.done));
    expect(deliveries.map((d) => [d.status, d.forms, d.answers])).toEqual([
      ['Approved', ['v2', 'v1', 'simple'], [200]],
      ['In Review', ['simple'], [200]],
      ['Declined', ['v2', 'v1', 'simple'], [200]],
    ]);
    expect(g().outbox.events.filter((e) => e.detail['session_id'] === sessionId)).toHaveLength(3);
  }, PATH_TIMEOUT);

  it('a job: queued by POST /v1/jobs, run by jobWorker from the queue, its outcome published once', async () => {
    const stdout = await paste('jobs');
    const [jobId] = uuidLines(stdout);
    expect(jobId, stdout).toBeDefined();
    const event = await g().outbox.waitFor((e) => e.source === 'didit.jobs' && e.detail['jobId'] === jobId);
    expect(event.detail).toMatchObject({ jobId, operation: 'amlScreening', status: 'succeeded' });
    await until(() => g().sources.batches.some((b) => b.deleted.length > 0));
    expect(g().sources.batches.map((b) => [b.messageIds.length, b.deleted.length, b.result.functionError])).toEqual([[1, 1, undefined]]);
    const res = await fetch(`${g().offline.url}/v1/jobs/${jobId}`);
    expect(await res.json()).toMatchObject({ jobId, status: 'succeeded' });
  }, PATH_TIMEOUT);

  it('an upload: presigned PUTs, the manifest notifies the queue, onUpload runs it once', async () => {
    const before = g().sandbox.count({ method: 'POST', pathPrefix: '/v3/id-verification' });
    const stdout = await paste('uploads');
    expect(stdout).toMatch(/^PUT 200\nPUT 200$/m);
    const ticket = JSON.parse(stdout.split('\n').find((l) => l.startsWith('{"uploadId"')) ?? '{}') as { uploadId?: string };
    expect(ticket.uploadId, stdout).toEqual(expect.any(String));
    const event = await g().outbox.waitFor((e) => e.source === 'didit.gateway' && e.detail['uploadId'] === ticket.uploadId);
    expect(event.detail).toMatchObject({ operation: 'idVerification', callerRef: 'demo-upload', status: 'succeeded' });
    await until(() => g().sources.asyncOutcomes.some((o) => o.source === 'uploads'));
    expect(g().sources.asyncOutcomes.filter((o) => o.source === 'uploads').map((o) => [o.result, o.attempts])).toEqual([['succeeded', 1]]);
    expect(g().sandbox.count({ method: 'POST', pathPrefix: '/v3/id-verification' })).toBe(before + 1);
  }, PATH_TIMEOUT);

  it('a user.signup event on the application bus: the rule delivers to onSignup, which creates one session', async () => {
    const stdout = await paste('signup');
    expect(JSON.parse(stdout)).toMatchObject({ FailedEntryCount: 0 });
    const event = await g().outbox.waitFor((e) => e['detail-type'] === 'didit.session.created' && e.detail['userId'] === 'demo-user-1');
    expect(event.detail['sessionId']).toEqual(expect.any(String));
    await until(() => g().sources.asyncOutcomes.some((o) => o.source === 'signups'));
    expect(g().sources.asyncOutcomes.filter((o) => o.source === 'signups').map((o) => [o.result, o.attempts])).toEqual([['succeeded', 1]]);
    const creates = g().sandbox.received.filter((r) => r.method === 'POST' && r.path === '/v3/session/' && (r.json as { vendor_data?: string })?.vendor_data === 'demo-user-1');
    expect(creates).toHaveLength(1);
  }, PATH_TIMEOUT);

  it('the events URL lists what was published', async () => {
    const listed = JSON.parse(await paste('events')) as PublishedEvent[];
    const kinds = new Set(listed.map((e) => e['detail-type']));
    for (const kind of ['didit.session.status-updated', 'didit.job.completed', 'didit.upload.completed', 'didit.session.created']) {
      expect(kinds, kind).toContain(kind);
    }
    expect(listed).toHaveLength(g().outbox.events.length);
  });
});

describe("the sandbox's webhooks in every signature form the receiver accepts", () => {
  // A non-ASCII vendor_data makes the ASCII-escaped canonical JSON differ from the plain one, so the receiver
  // can tell (and report) which V2 variant verified.
  const reported: Record<SignerForm, string> = {
    v2: 'v2',
    'v2-timestamped': 'v2-timestamped',
    'v2-ascii': 'v2-ascii',
    'v2-ascii-timestamped': 'v2-ascii-timestamped',
    v1: 'v1-raw',
    simple: 'simple',
  };
  for (const form of SIGNER_FORMS) {
    it(`${form} alone: accepted, one event, reported as ${reported[form]}`, async () => {
      const res = await post('/v1/sessions', { workflow_id: randomUUID(), vendor_data: `señora-${form}` });
      expect(res.status, JSON.stringify(res.json)).toBe(201);
      const sessionId = String(res.json['session_id']);
      g().sandbox.setSessionStatus(sessionId, 'Approved', { signatures: [form] });
      const event = await g().outbox.waitFor(isWebhookEvent(sessionId, 'Approved'));
      expect(event.detail['delivery']).toMatchObject({ signature: reported[form] });
      const delivery = g().sandbox.webhookDeliveries.find((d) => d.sessionId === sessionId);
      await until(() => delivery?.done === true);
      expect(delivery?.answers).toEqual([200]);
    }, PATH_TIMEOUT);
  }
});

describe('the jobs queue as the template configures it', () => {
  it('a poison message: a batch item failure on every receive, then the emulator redrives it alone to the jobs DLQ', async () => {
    const mapping = readSqsMapping(template!, readFunction(template!, 'jobWorker'));
    const maxReceiveCount = mapping.queue.redrive?.maxReceiveCount;
    expect(maxReceiveCount).toBeGreaterThan(1);
    const { jobs, jobsDlq } = g().stack.queues;
    // A job message without a job record: the worker reports it as failed (ReportBatchItemFailures).
    const poison = JSON.stringify({ v: 1, jobId: randomUUID(), operation: 'amlScreening', input: { body: { full_name: 'Nobody' } } });
    const sent = await g().sqs.send(new SendMessageCommand({ QueueUrl: jobs.url, MessageBody: poison }));
    let dead: Message | undefined;
    while (dead === undefined) {
      const out = await g().sqs.send(new ReceiveMessageCommand({ QueueUrl: jobsDlq.url, WaitTimeSeconds: 20, MessageSystemAttributeNames: ['All'] }));
      dead = out.Messages?.find((m) => m.MessageId === sent.MessageId);
    }
    expect(dead.Body).toBe(poison);
    const tries = g().sources.batches.filter((b) => b.messageIds.includes(sent.MessageId!));
    expect(tries).toHaveLength(maxReceiveCount!);
    for (const t of tries) {
      expect(t.deleted).toEqual([]);
      expect(t.result.payload).toEqual({ batchItemFailures: [{ itemIdentifier: sent.MessageId }] });
    }
    expect(g().sandbox.count({ method: 'POST', pathPrefix: '/v3/aml' })).toBe(1); // the earlier job only: nothing paid for the poison
  }, PATH_TIMEOUT);
});

describe('secrets', () => {
  it('never hands the key or the webhook secret to anything that prints: offline output and start log carry neither', () => {
    const joined = `${offlineOutput.join('\n')}\n${startLog.join('\n')}`;
    expect(joined).toContain('POST /local/v1/sessions');
    expect(joined).toContain('POST /local/v1/webhooks/didit');
    expect(joined.includes(g().sandbox.apiKey.toString('latin1'))).toBe(false);
    expect(webhookSecretText.length).toBe(43);
    expect(joined.includes(webhookSecretText)).toBe(false);
  });
});
