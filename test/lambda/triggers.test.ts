import { randomUUID } from 'node:crypto';
import { SendMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyResult, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { startAsyncMapping, type AsyncOutcome } from '../../infra/local/lambda/async-mapping.ts';
import type { InvokeResult } from '../../infra/local/lambda/sandbox.ts';
import { startSqsMapping } from '../../infra/local/lambda/sqs-mapping.ts';
import { readAsyncInvokeConfig, readEventRule, readFunction, readSqsMapping } from '../../infra/local/lambda/template.ts';
import { createGatewayClient } from '../../lib/client/index.ts';
import { sessionStatusPayload, signDelivery, webhookEvent } from '../sandbox/webhook-signer.ts';
import { amlJobRequest, apiEvent, multipartBody } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { localApiGateway } from '../support/local-api-gateway.ts';
import { collect, startHarness, type Harness } from './harness.ts';

// Every trigger end to end through the zips `sls package` built, run by the RIE + RIC in a cgroup sandbox
// (infra/local/lambda/), with the sealed key on the emulator and the Didit sandbox behind TLS.

const em = testEmulator();
const IDLE_MS = 300;
const VISIBILITY_S = 3;
const CALLER = {
  credentials: { accessKeyId: 'AKIDLAMBDASANDBOX01', secretAccessKey: 'lambda-sandbox-caller-secret/000000000' },
  userArn: 'arn:aws:iam::000000000000:user/lambda-sandbox',
};
const WORKFLOW = '11111111-2222-4333-8444-555555555555';

let h: Harness;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  h = await startHarness({
    em,
    dynamodbEndpoint: testDynamoDbEndpoint(),
    packageDir: inject('lambdaPackageDir'),
    // Shorter than the freeze in the freeze/thaw test: both peers close the kept connections meanwhile.
    idleTimeoutMs: IDLE_MS,
    jobsVisibilityTimeoutSeconds: VISIBILITY_S,
  });
});

afterAll(async () => {
  await h?.close();
  process.stderr.write(`[lambda] figures ${JSON.stringify(figures)}\n`);
});

const payloadOf = (r: { payload: unknown }) => r.payload as APIGatewayProxyResult;
const bodyOf = (r: { payload: unknown }) => JSON.parse(payloadOf(r).body) as Record<string, unknown>;

describe('the sandbox runs the packaged function as Lambda does', () => {
  it('reads handler, memory and timeout from the packaged template; CPU share, on-demand init, frozen between invocations', async () => {
    const def = readFunction(h.template, 'createSession');
    const sb = await h.fn('createSession');
    expect(sb.memorySize).toBe(def.memorySize);
    expect(sb.timeout).toBe(def.timeout);
    const r = await sb.invoke(apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body: '{"workflow_id":"nope"}' }));
    expect(payloadOf(r).statusCode).toBe(400);
    expect(h.didit.received).toHaveLength(0);
    expect(await sb.freezerState()).toBe('FROZEN');
    expect(await sb.processes()).toHaveLength(1);
    // Powertools saw a cold start (AWS_LAMBDA_INITIALIZATION_TYPE=on-demand), then a warm one.
    const coldStarts = h.logs.filter((l) => l.includes('"cold_start":true')).length;
    await sb.invoke(apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body: '{}' }));
    expect(h.logs.filter((l) => l.includes('"cold_start":true')).length).toBe(coldStarts);
    expect(coldStarts).toBeGreaterThan(0);
    figures['initMs.createSession.512'] = sb.initDurations[0];
  });

  it('a runtime that has not answered by the timeout is killed, as Lambda kills it', async () => {
    // The handlers bound every call by their remaining time (next test), so what runs past the timeout here
    // is the cold start itself: 1 s is less than the init takes at the 128 MB CPU share.
    const sb = await h.fn('createSession', { memorySize: 128, timeout: 1 });
    h.didit.reset();
    const r = await sb.invoke(apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body: '{}' }));
    expect(r.timedOut).toBe(true);
    expect(r.functionError).toBe('Sandbox.Timedout');
    // The RIE answers a timed-out invocation only once the runtime it SIGKILLed has exited (its supervisor
    // waits for the termination): the answer is the event.
    expect(await sb.processes()).toEqual([]);
    expect(h.didit.received).toHaveLength(0);
    await h.release();
  });

  it('a Didit call slower than the function timeout: the function answers 504 before its deadline, Didit called once', async () => {
    const sb = await h.fn('createSession', { timeout: 6 });
    const create = () =>
      sb.invoke(apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow_id: WORKFLOW }) }));
    h.didit.reset();
    h.didit.inject({ fault: { kind: 'delay', ms: 12_000 }, pathPrefix: '/v3/session' });
    const r = await create();
    expect(r.timedOut).toBe(false);
    expect(payloadOf(r).statusCode).toBe(504);
    expect(bodyOf(r)).toMatchObject({ error: { code: 'DIDIT_TIMEOUT' } });
    expect(h.didit.count({ method: 'POST', pathPrefix: '/v3/session' })).toBe(1);
    await h.release();
  });
});

describe('API Gateway proxy events into the packaged functions (SigV4-checking stand-in)', () => {
  it('one operation per area: sessions, standalone, management', async () => {
    const gateway = localApiGateway({
      region: em.region,
      stage: h.stage,
      callers: [CALLER],
      invoke: async (target, event) => {
        const r = await (await h.fn(target.kind === 'docs' ? 'openApiDocument' : target.spec.name)).invoke(event);
        if (r.functionError !== undefined) throw new Error(`function error ${r.functionError}`);
        return payloadOf(r);
      },
    });
    const client = createGatewayClient({ baseUrl: gateway.baseUrl, region: em.region, credentials: CALLER.credentials, transport: gateway.transport });
    h.didit.reset();
    const fromLog = h.logs.length;
    const session = await client.createSession({ input: { workflow_id: WORKFLOW, vendor_data: 'lambda-sandbox' } });
    expect(session.status).toBe(201);
    const aml = await client.amlScreening({ input: { full_name: 'Ana García', nationality: 'ES' } });
    expect(aml.status).toBe(200);
    const workflows = await client.listWorkflows({});
    expect(workflows.status).toBe(200);
    expect(h.didit.received.map((r) => r.keyMatched)).toEqual([true, true, true]);
    // Each key use's audit record names the KMS request id of its Decrypt (CloudTrail's requestID).
    const audits = h.logs.slice(fromLog).filter((l) => l.includes('"audit":"didit-key-use"')).map((l) => JSON.parse(l) as { kmsRequestId?: string });
    expect(audits).toHaveLength(3);
    const decryptIds = h.aws.requestIds('TrentService.Decrypt');
    for (const a of audits) expect(decryptIds).toContain(a.kmsRequestId);
    expect(new Set(audits.map((a) => a.kmsRequestId)).size).toBe(3);
  });

  it('freeze longer than both idle timeouts: the next invocation succeeds, no paid call lost or made twice', async () => {
    const sb = await h.fn('createSession');
    h.didit.reset();
    const create = () =>
      sb.invoke(apiEvent({ method: 'POST', path: '/v1/sessions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow_id: WORKFLOW }) }));
    expect(payloadOf(await create()).statusCode).toBe(201);
    expect(await sb.freezerState()).toBe('FROZEN');
    // While frozen, the Didit sandbox and the AWS front close the idle kept connections, as their idle
    // timeouts (IDLE_MS) do; each resolves once its sockets have closed (their FINs wait in the frozen
    // function's sockets).
    await Promise.all([h.didit.closeIdleConnections(), h.aws.closeIdleConnections()]);
    // The TLS sockets closed; the TCP sockets under them emit 'close' a tick later.
    await h.diditConnectionsClosed();
    expect(h.didit.openConnections()).toBe(0);
    expect(h.aws.openConnections()).toBe(0);
    expect(await sb.freezerState()).toBe('FROZEN');
    expect(payloadOf(await create()).statusCode).toBe(201);
    expect(h.didit.count({ method: 'POST', pathPrefix: '/v3/session' })).toBe(2);
  });
});

describe('webhook receiver', () => {
  it('a signed delivery, delivered twice: 200 both times, one event on the bus', async () => {
    const sb = await h.fn('diditWebhook');
    const sessionId = randomUUID();
    const delivery = signDelivery({ secret: h.webhookSecret, payload: sessionStatusPayload({ sessionId, status: 'Approved' }) });
    const first = await sb.invoke(webhookEvent(delivery));
    const second = await sb.invoke(webhookEvent(delivery));
    expect(payloadOf(first).statusCode).toBe(200);
    expect(payloadOf(second).statusCode).toBe(200);
    const forged = await sb.invoke(webhookEvent(signDelivery({ secret: Buffer.from('x'.repeat(43)), payload: sessionStatusPayload({ sessionId }) })));
    expect(payloadOf(forged).statusCode).toBe(401);
    // Published once: what EventBridge accepted from the three invocations, all finished by now.
    expect(h.published.filter((e) => e.detail.includes(sessionId))).toHaveLength(1);
    const events = await collect(h.sqs, h.stack.queues.events.url, (all) => all.some((m) => (m.Body ?? '').includes(sessionId)));
    expect(events.filter((m) => (m.Body ?? '').includes(sessionId))).toHaveLength(1);
  });
});

describe('SQS event-source mapping over the emulator queue (jobs)', () => {
  it('a batch with one poison message: the jobs succeed once each, the poison message alone reaches the DLQ', async () => {
    const submit = await h.fn('submitJob');
    h.didit.reset();
    const jobIds: string[] = [];
    for (const name of ['Ana García', 'Luis Pérez', 'Marta Ruiz', 'Iker Sanz']) {
      const r = await submit.invoke(
        amlJobRequest(name),
      );
      expect(payloadOf(r).statusCode).toBe(202);
      jobIds.push(String(bodyOf(r)['jobId']));
    }
    // No job record: the worker reports it as a batch item failure every time; the emulator redrives it.
    const poisonBody = JSON.stringify({ v: 1, jobId: randomUUID(), operation: 'amlScreening', input: { body: { full_name: 'X' } } });
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.stack.queues.jobs.url, MessageBody: poisonBody }));

    const worker = await h.fn('jobWorker');
    const def = readSqsMapping(h.template, readFunction(h.template, 'jobWorker'));
    const batches: number[] = [];
    const mapping = startSqsMapping({
      sqs: h.sqs,
      queueUrl: h.stack.queues.jobs.url,
      queueArn: h.stack.queues.jobs.arn,
      region: em.region,
      mapping: def,
      invoke: (event: SQSEvent) => worker.invoke(event),
      onBatch: (b) => batches.push(b.messageIds.length),
    });
    try {
      const dlq = await collect(h.sqs, h.stack.queues.jobsDlq.url, (all) => all.length >= 1);
      expect(dlq.map((m) => m.Body)).toEqual([poisonBody]);
      expect(Number(dlq[0]?.Attributes?.['ApproximateReceiveCount'] ?? 0)).toBeGreaterThanOrEqual(def.queue.redrive?.maxReceiveCount ?? 0);
      const events = await collect(h.sqs, h.stack.queues.events.url, (all) => jobIds.every((id) => all.some((m) => (m.Body ?? '').includes(id))));
      for (const id of jobIds) expect(events.filter((m) => (m.Body ?? '').includes(id))).toHaveLength(1);
    } finally {
      await mapping.stop();
    }
    // Every invocation has finished: each outcome was published once.
    for (const id of jobIds) expect(h.published.filter((e) => e.detail.includes(id))).toHaveLength(1);
    expect(h.didit.count({ method: 'POST', pathPrefix: '/v3/aml' })).toBe(4);
    expect(Math.max(...batches)).toBeLessThanOrEqual(def.batchSize);
  });
});

describe('a job whose Didit call is slower than the worker can wait', () => {
  it('the call is cut before the deadline, the job ends in a final state and Didit is paid at most once', async () => {
    const submit = await h.fn('submitJob');
    h.didit.reset();
    const r = await submit.invoke(
      amlJobRequest('Slow Answer'),
    );
    const jobId = String(bodyOf(r)['jobId']);
    // The worker gets 10 s instead of 90 s (to keep the test short); Didit answers after 30 s.
    const worker = await h.fn('jobWorker', { timeout: 10 });
    h.didit.inject({ fault: { kind: 'delay', ms: 30_000 }, pathPrefix: '/v3/aml' });
    const results: InvokeResult[] = [];
    const mapping = startSqsMapping({
      sqs: h.sqs,
      queueUrl: h.stack.queues.jobs.url,
      queueArn: h.stack.queues.jobs.arn,
      region: em.region,
      mapping: readSqsMapping(h.template, worker.definition),
      invoke: async (event: SQSEvent) => {
        const res = await worker.invoke(event);
        results.push(res);
        return res;
      },
    });
    try {
      const events = await collect(h.sqs, h.stack.queues.events.url, (all) => all.some((m) => (m.Body ?? '').includes(jobId)));
      const done = events.filter((m) => (m.Body ?? '').includes(jobId));
      expect(done).toHaveLength(1);
      // Didit may have run the paid call: the job says so instead of calling again.
      expect(JSON.parse(done[0]?.Body ?? '{}')).toMatchObject({ detail: { jobId, status: 'failed', errorCode: 'DIDIT_OUTCOME_UNKNOWN' } });
    } finally {
      await mapping.stop();
    }
    expect(results.map((x) => x.timedOut)).toEqual([false]);
    expect(h.didit.count({ method: 'POST', pathPrefix: '/v3/aml' })).toBe(1);
    await h.release();
  });

  it('the environment is lost mid-call (runtime killed): the message is redelivered, the job is not paid twice', async () => {
    const submit = await h.fn('submitJob');
    h.didit.reset();
    const r = await submit.invoke(
      amlJobRequest('Lost Environment'),
    );
    const jobId = String(bodyOf(r)['jobId']);
    // The template keeps the visibility timeout at 6 × the worker's timeout (540 s / 90 s). Here the queue's
    // is 6 s and the worker gets 12 s: the IN_PROGRESS record of the lost invocation expires within the
    // queue's maxReceiveCount redeliveries, as it does in the deployment.
    await h.sqs.send(new SetQueueAttributesCommand({ QueueUrl: h.stack.queues.jobs.url, Attributes: { VisibilityTimeout: '6' } }));
    const worker = await h.fn('jobWorker', { timeout: 12 });
    // Initialised before the first message (an empty batch), so the lost invocation is the one with Didit.
    await worker.invoke({ Records: [] });
    h.didit.inject({ fault: { kind: 'delay', ms: 60_000 }, pathPrefix: '/v3/aml' });
    const diditHasTheCall = h.diditReceives({ method: 'POST', pathPrefix: '/v3/aml' });
    const results: InvokeResult[] = [];
    const receiveCounts: number[] = [];
    const mapping = startSqsMapping({
      sqs: h.sqs,
      queueUrl: h.stack.queues.jobs.url,
      queueArn: h.stack.queues.jobs.arn,
      region: em.region,
      mapping: readSqsMapping(h.template, worker.definition),
      invoke: async (event: SQSEvent) => {
        receiveCounts.push(...event.Records.map((x) => Number(x.attributes.ApproximateReceiveCount)));
        const res = await worker.invoke(event);
        results.push(res);
        return res;
      },
    });
    try {
      // Once Didit holds the paid call, the environment dies.
      await diditHasTheCall;
      await worker.killRuntime();
      const events = await collect(h.sqs, h.stack.queues.events.url, (all) => all.some((m) => (m.Body ?? '').includes(jobId)));
      const done = events.filter((m) => (m.Body ?? '').includes(jobId));
      expect(done).toHaveLength(1);
      expect(JSON.parse(done[0]?.Body ?? '{}')).toMatchObject({ detail: { jobId, status: 'failed', errorCode: 'DIDIT_OUTCOME_UNKNOWN' } });
    } finally {
      await mapping.stop();
    }
    expect(results[0]?.functionError).toBeDefined();
    expect(receiveCounts[0]).toBe(1);
    expect(receiveCounts.length).toBeGreaterThanOrEqual(2);
    figures['lostEnvironment.receives'] = receiveCounts;
    expect(h.didit.count({ method: 'POST', pathPrefix: '/v3/aml' })).toBe(1);
    await h.sqs.send(new SetQueueAttributesCommand({ QueueUrl: h.stack.queues.jobs.url, Attributes: { VisibilityTimeout: String(VISIBILITY_S) } }));
    await h.release();
  });
});

describe('memory: a 4 MB multipart ID verification through the packaged function', () => {
  for (const memorySize of [512, 128]) {
    it(`completes at ${memorySize} MB; the cgroup peak is reported`, async () => {
      const sb = await h.fn('idVerification', { memorySize });
      const image = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(4 * 1024 * 1024 - 4, 0x5a)]);
      const { body, contentType } = multipartBody([
        ['front_image', { filename: 'front.jpg', type: 'image/jpeg', data: image }],
        ['minimum_age', '18'],
      ]);
      await sb.resetMemoryPeak();
      const r = await sb.invoke(
        apiEvent({ method: 'POST', path: '/v1/id-verification', headers: { 'content-type': contentType }, body }),
      );
      expect(r.functionError).toBeUndefined();
      expect(payloadOf(r).statusCode).toBe(200);
      figures[`memoryPeakMB.idVerification.${memorySize}`] = Math.round(((await sb.memoryPeak()) / 1048576) * 10) / 10;
      figures[`initMs.idVerification.${memorySize}`] = sb.initDurations[0];
    });
  }
});

describe('S3 notification and EventBridge rule as Lambda invokes them asynchronously', () => {
  it('upload: presigned PUTs, the bucket notifies on the manifest (template filter), onUpload runs the ID verification once', async () => {
    const ticketFn = await h.fn('createUploadUrl');
    const front = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(4096, 3)]);
    const ticketRes = await ticketFn.invoke(
      apiEvent({
        method: 'POST',
        path: '/v1/uploads',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ operation: 'idVerification', callerRef: 'lambda-1', files: [{ field: 'front_image', contentType: 'image/jpeg', size: front.length }], fields: { minimum_age: 18 } }),
      }),
    );
    expect(payloadOf(ticketRes).statusCode).toBe(201);
    const ticket = bodyOf(ticketRes) as { uploadId: string; files: { url: string; method: string; headers: Record<string, string> }[]; manifest: { url: string; method: string; headers: Record<string, string>; body: string } };
    for (const f of ticket.files) expect((await fetch(f.url, { method: f.method, headers: f.headers, body: front })).status).toBe(200);
    // Only the manifest notifies (the template's suffix filter): one outcome below, not two.
    expect((await fetch(ticket.manifest.url, { method: ticket.manifest.method, headers: ticket.manifest.headers, body: ticket.manifest.body })).status).toBe(200);

    h.didit.reset();
    const fn = await h.fn('onUpload');
    const def = readAsyncInvokeConfig(h.template, fn.definition);
    const outcomes: AsyncOutcome[] = [];
    const mapping = startAsyncMapping({
      sqs: h.sqs,
      queueUrl: h.stack.queues.uploads.url,
      eventsOf: (m) => {
        const body = JSON.parse(m.Body ?? '{}') as { Records?: unknown[] };
        return Array.isArray(body.Records) ? [body] : []; // s3:TestEvent carries no Records
      },
      invoke: (event) => fn.invoke(event),
      functionArn: `arn:aws:lambda:${em.region}:000000000000:function:${fn.definition.functionName}`,
      maximumRetryAttempts: def.maximumRetryAttempts,
      onFailureQueueUrl: h.stack.queues.triggerDlq.url,
      onOutcome: (o) => outcomes.push(o),
    });
    try {
      const events = await collect(h.sqs, h.stack.queues.events.url, (all) => all.some((m) => (m.Body ?? '').includes(ticket.uploadId)));
      expect(events.filter((m) => (m.Body ?? '').includes(ticket.uploadId))).toHaveLength(1);
    } finally {
      await mapping.stop();
    }
    expect(outcomes.map((o) => o.result)).toEqual(['succeeded']);
    expect(h.didit.count({ method: 'POST', pathPrefix: '/v3/id-verification' })).toBe(1);
  });

  it('sign-up: the rule (template pattern) delivers, onSignup creates one session; Didit failing every retry → the destination record in the trigger DLQ', async () => {
    const fn = await h.fn('onSignup');
    const def = readAsyncInvokeConfig(h.template, fn.definition);
    const rule = readEventRule(h.template, fn.definition);
    const outcomes: AsyncOutcome[] = [];
    const mapping = startAsyncMapping({
      sqs: h.sqs,
      queueUrl: h.stack.queues.signups.url,
      eventsOf: (m) => [JSON.parse(m.Body ?? '{}')],
      invoke: (event) => fn.invoke(event),
      functionArn: `arn:aws:lambda:${em.region}:000000000000:function:${fn.definition.functionName}`,
      maximumRetryAttempts: def.maximumRetryAttempts,
      onFailureQueueUrl: h.stack.queues.triggerDlq.url,
      delivery: { maximumRetryAttempts: rule.maximumRetryAttempts, deadLetterQueueUrl: h.stack.queues.triggerDlq.url },
      onOutcome: (o) => outcomes.push(o),
    });
    const events = new EventBridgeClient({ endpoint: em.endpoint, region: em.region, credentials: { ...em.credentials } });
    const signUp = (userId: string) =>
      events.send(
        new PutEventsCommand({
          Entries: [{ EventBusName: h.stack.signupBus, Source: 'app.users', DetailType: 'user.signup', Detail: JSON.stringify({ userId, email: `${userId}@example.com`, workflowId: WORKFLOW }) }],
        }),
      );
    try {
      h.didit.reset();
      const ok = `user-ok-${randomUUID().slice(0, 8)}`;
      await signUp(ok);
      const created = await collect(h.sqs, h.stack.queues.events.url, (all) => all.some((m) => (m.Body ?? '').includes(ok)));
      expect(created.filter((m) => (m.Body ?? '').includes(ok))).toHaveLength(1);
      expect(h.didit.count({ method: 'POST', pathPrefix: '/v3/session' })).toBe(1);

      const failing = `user-fail-${randomUUID().slice(0, 8)}`;
      h.didit.inject({ fault: { kind: 'status', status: 503 }, pathPrefix: '/v3/session', times: 100 });
      await signUp(failing);
      const dlq = await collect(h.sqs, h.stack.queues.triggerDlq.url, (all) => all.some((m) => (m.Body ?? '').includes(failing)));
      const record = JSON.parse(dlq.find((m) => (m.Body ?? '').includes(failing))?.Body ?? '{}') as { requestContext: { condition: string; approximateInvokeCount: number } };
      expect(record.requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: def.maximumRetryAttempts + 1 });
    } finally {
      h.didit.clearFaults();
      await mapping.stop();
      events.destroy();
    }
    expect(outcomes.map((o) => o.result)).toEqual(['succeeded', 'destination']);
  });
});
