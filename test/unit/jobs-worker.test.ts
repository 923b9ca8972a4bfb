import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { DiditBadRequestError, DiditTimeoutError, KmsThrottledError } from '../../lib/errors/index.ts';
import type { JobMessage } from '../../lib/adapters/jobs/message.ts';
import type { JobRecord } from '../../lib/adapters/jobs/store.ts';
import { createJobWorker } from '../../lib/adapters/jobs/worker.ts';
import { lambdaContext } from '../support/api-events.ts';
import { diditResponse, fakes, openFake, type Fakes } from './jobs-fakes.ts';

function job(f: Fakes, operation = 'amlScreening', extra: Partial<JobRecord> = {}): string {
  const jobId = randomUUID();
  const now = new Date().toISOString();
  f.store.records.set(jobId, {
    jobId,
    operation,
    status: 'queued',
    createdAt: now,
    updatedAt: now,
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
    caller: 'arn:aws:iam::000000000000:user/submitter',
    ...extra,
  });
  return jobId;
}

function record(message: JobMessage | string, receiveCount = 1): SQSRecord {
  return {
    messageId: randomUUID(),
    receiptHandle: 'rh',
    body: typeof message === 'string' ? message : JSON.stringify(message),
    attributes: { ApproximateReceiveCount: String(receiveCount), SentTimestamp: '0', SenderId: 's', ApproximateFirstReceiveTimestamp: '0' },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:jobs',
    awsRegion: 'us-east-1',
  };
}

const aml = (jobId: string, fullName = 'Ana'): JobMessage => ({ v: 1, jobId, operation: 'amlScreening', input: { body: { full_name: fullName } } });
const decision = (jobId: string): JobMessage => ({ v: 1, jobId, operation: 'retrieveDecision', input: { params: { sessionId: randomUUID() } } });

async function run(f: Fakes, records: SQSRecord[], remainingMs = 60_000): Promise<SQSBatchResponse> {
  const event: SQSEvent = { Records: records };
  return (await createJobWorker({ dependencies: () => f.deps })(event, lambdaContext({ remainingMs }))) as SQSBatchResponse;
}

describe('job worker (in-memory dependencies)', () => {
  it('a batch of N: one decrypt, N Didit calls, N results sealed with one data key, N events', async () => {
    const f = fakes();
    const ids = [1, 2, 3, 4].map(() => job(f));
    const response = await run(f, ids.map((id) => record(aml(id))));
    expect(response.batchItemFailures).toEqual([]);
    expect(f.sealedKey.decrypts).toBe(1);
    expect(f.sealedKey.keys.every((k) => k.disposed)).toBe(true);
    expect(f.didit.calls).toHaveLength(4);
    expect(f.sealers).toHaveLength(1);
    expect(f.sealers[0]!.disposed).toBe(true);
    for (const id of ids) {
      const r = f.store.records.get(id)!;
      expect(r).toMatchObject({ status: 'succeeded', diditStatus: 200, attempts: 1, notifiedAt: expect.any(String) });
      expect(r.callStartedAt).toBeUndefined();
      expect(openFake(r.result!)).toEqual({ aml: { status: 'Approved' } });
    }
    expect(f.published.map((p) => p.detailType)).toEqual(Array(4).fill('didit.job.completed'));
  });

  it('poison messages are item failures and cost nothing; a batch of only those decrypts nothing', async () => {
    const f = fakes();
    const records = [
      record('garbage'),
      record(aml(randomUUID())), // no job record
      record({ v: 1, jobId: job(f), operation: 'launchRocket', input: {} }),
      record({ ...aml(job(f, 'retrieveDecision')) }), // operations disagree
    ];
    const response = await run(f, records);
    expect(response.batchItemFailures.map((x) => x.itemIdentifier).sort()).toEqual(records.map((r) => r.messageId).sort());
    expect(f.sealedKey.decrypts).toBe(0);
    expect(f.didit.calls).toHaveLength(0);
  });

  it('the key cannot be decrypted (KMS throttled): every message is redelivered, no call was marked as started', async () => {
    const f = fakes();
    f.sealedKey.failWith = new KmsThrottledError('throttled');
    const ids = [job(f), job(f)];
    const records = ids.map((id) => record(aml(id)));
    const response = await run(f, records);
    expect(response.batchItemFailures.map((x) => x.itemIdentifier).sort()).toEqual(records.map((r) => r.messageId).sort());
    for (const id of ids) {
      expect(f.store.records.get(id)).toMatchObject({ status: 'queued' });
      expect(f.store.records.get(id)!.callStartedAt).toBeUndefined();
    }
    expect(f.didit.calls).toHaveLength(0);
    expect(f.once.inProgress.size).toBe(0);
  });

  it('an expired job is poison: never sent to Didit', async () => {
    const f = fakes();
    const id = job(f, 'amlScreening', { expiresAt: Math.floor(Date.now() / 1000) - 1 });
    const r = record(aml(id));
    expect((await run(f, [r])).batchItemFailures).toEqual([{ itemIdentifier: r.messageId }]);
    expect(f.didit.calls).toHaveLength(0);
  });

  it('Didit 4xx: job failed with the code, not retried', async () => {
    const f = fakes();
    f.didit.behaviour = () => {
      throw new DiditBadRequestError(['full_name'], { diditStatus: 400 });
    };
    const id = job(f);
    const response = await run(f, [record(aml(id))]);
    expect(response.batchItemFailures).toEqual([]);
    expect(f.store.records.get(id)).toMatchObject({ status: 'failed', diditStatus: 400, error: { code: 'DIDIT_REJECTED_INPUT' } });
    expect(f.published[0]!.detail).toMatchObject({ jobId: id, status: 'failed', errorCode: 'DIDIT_REJECTED_INPUT' });
  });

  it('Didit 5xx on a paid call: item failure, marker cleared, the next delivery succeeds (2 calls)', async () => {
    const f = fakes();
    f.didit.failNext(1);
    const id = job(f);
    const r = record(aml(id));
    expect((await run(f, [r])).batchItemFailures).toEqual([{ itemIdentifier: r.messageId }]);
    expect(f.store.records.get(id)).toMatchObject({ status: 'running', attempts: 1 });
    expect(f.store.records.get(id)!.callStartedAt).toBeUndefined();
    expect((await run(f, [record(aml(id), 2)])).batchItemFailures).toEqual([]);
    expect(f.didit.calls).toHaveLength(2);
    expect(f.store.records.get(id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('redelivery after the job update failed: the stored outcome is replayed, Didit is called once', async () => {
    const f = fakes();
    f.store.failComplete = 1;
    const id = job(f);
    expect((await run(f, [record(aml(id))])).batchItemFailures).toHaveLength(1);
    expect(await run(f, [record(aml(id), 2)])).toEqual({ batchItemFailures: [] });
    expect(f.didit.calls).toHaveLength(1);
    expect(f.store.records.get(id)!.status).toBe('succeeded');
  });

  it('the idempotency record could not be saved after the call: the job is completed from memory', async () => {
    const f = fakes();
    f.once.failSave = 1;
    const id = job(f);
    expect((await run(f, [record(aml(id))])).batchItemFailures).toEqual([]);
    expect(f.store.records.get(id)!.status).toBe('succeeded');
    // A redelivery finds the job complete: no call.
    expect((await run(f, [record(aml(id), 2)])).batchItemFailures).toEqual([]);
    expect(f.didit.calls).toHaveLength(1);
    expect(f.published).toHaveLength(1);
  });

  it('an earlier attempt that started a call and died: a paid operation is not called again, a free one is', async () => {
    const f = fakes();
    const paid = job(f, 'amlScreening', { status: 'running', callStartedAt: Date.now() - 60_000, attempts: 1 });
    const free = job(f, 'retrieveDecision', { status: 'running', callStartedAt: Date.now() - 60_000, attempts: 1 });
    f.didit.behaviour = () => diditResponse({ session_id: 's', status: 'Approved' });
    expect((await run(f, [record(aml(paid)), record(decision(free))])).batchItemFailures).toEqual([]);
    expect(f.store.records.get(paid)).toMatchObject({ status: 'failed', error: { code: 'DIDIT_OUTCOME_UNKNOWN' } });
    expect(f.store.records.get(free)).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(f.didit.calls.map((c) => c.method)).toEqual(['GET']);
  });

  it('a timeout: outcome unknown for a paid call (no retry); redelivered for an idempotent one', async () => {
    const f = fakes();
    f.didit.behaviour = () => {
      throw new DiditTimeoutError('Didit did not answer in time');
    };
    const paid = job(f);
    const free = job(f, 'retrieveDecision');
    const freeRecord = record(decision(free));
    const response = await run(f, [record(aml(paid)), freeRecord]);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: freeRecord.messageId }]);
    expect(f.store.records.get(paid)).toMatchObject({ status: 'failed', error: { code: 'DIDIT_OUTCOME_UNKNOWN' } });
    expect(f.store.records.get(free)).toMatchObject({ status: 'running' });
  });

  it('a duplicate delivery while the first is in progress is an item failure (redelivered later), not a second call', async () => {
    const f = fakes();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calling!: () => void;
    const inCall = new Promise<void>((r) => (calling = r));
    f.didit.behaviour = async () => {
      calling();
      await gate;
      return diditResponse({ aml: { status: 'Approved' } });
    };
    const id = job(f);
    const first = run(f, [record(aml(id))]);
    await inCall; // the first delivery is inside its Didit call
    const dup = record(aml(id));
    const second = await run(f, [dup]);
    expect(second.batchItemFailures).toEqual([{ itemIdentifier: dup.messageId }]);
    release();
    expect((await first).batchItemFailures).toEqual([]);
    expect(f.didit.calls).toHaveLength(1);
  });

  it('a completed job whose event was not published: the redelivery publishes it, and only that', async () => {
    const f = fakes();
    const id = job(f, 'amlScreening', { status: 'failed', error: { code: 'NOT_FOUND', message: 'Not found.' }, completedAt: new Date().toISOString() });
    expect((await run(f, [record(aml(id), 3)])).batchItemFailures).toEqual([]);
    expect(f.published).toHaveLength(1);
    expect((await run(f, [record(aml(id), 4)])).batchItemFailures).toEqual([]);
    expect(f.published).toHaveLength(1);
    expect(f.didit.calls).toHaveLength(0);
  });

  it('the completion event is published even when the batch signal has fired: a PutEvents is never cut mid-flight', async () => {
    // An aborted PutEvents whose request had gone out is published by EventBridge while the worker reports a
    // failure, and the redelivery publishes it again (npm run load saw it on a CPU-starved machine).
    const f = fakes();
    const publish = f.deps.jobs.publisher.publish.bind(f.deps.jobs.publisher);
    // A PutEvents that has gone out and is slow to answer: EventBridge publishes it; a signal that fires
    // meanwhile cuts the wait for the answer, and the caller sees an error.
    f.deps.jobs.publisher.publish = async (detailType, detail, options) => {
      const receipt = await publish(detailType, detail);
      const signal = options?.abortSignal;
      if (signal === undefined) return receipt;
      await new Promise((resolve) => (signal.aborted ? resolve(undefined) : signal.addEventListener('abort', resolve, { once: true })));
      throw new Error('PutEvents aborted');
    };
    const id = job(f, 'amlScreening', { status: 'failed', error: { code: 'NOT_FOUND', message: 'Not found.' }, completedAt: new Date().toISOString() });
    // Less than the 1 s the batch signal keeps back: it has fired before the record is processed.
    expect((await run(f, [record(aml(id), 2)], 500)).batchItemFailures).toEqual([]);
    expect(f.published).toHaveLength(1);
    expect(f.store.records.get(id)?.notifiedAt).toEqual(expect.any(String));
  });

  it('invalid input fails the job without calling Didit or decrypting anything', async () => {
    const f = fakes();
    const id = job(f);
    const response = await run(f, [record({ v: 1, jobId: id, operation: 'amlScreening', input: { body: { full_name: 'X', colour: 'red' } } })]);
    expect(response.batchItemFailures).toEqual([]);
    expect(f.store.records.get(id)).toMatchObject({ status: 'failed', error: { code: 'VALIDATION_FAILED' } });
    expect(f.sealedKey.decrypts).toBe(0);
    expect(f.sealers[0]!.readies).toBe(0);
  });

  // Fuzz finding: zod's z.record dropped the own `__proto__` key, so the queued job reached Didit while the
  // synchronous route answers 400. Written as raw JSON: an object literal would set the prototype instead.
  it('a reserved name in a queued input fails the job as invalid input, final, and Didit is not called', async () => {
    const f = fakes();
    for (const part of ['body', 'params', 'query'] as const) {
      const id = job(f, 'createWorkflow');
      const input = { params: {}, query: {}, body: { workflow_label: 'Standard KYC' } };
      const raw = JSON.stringify({ v: 1, jobId: id, operation: 'createWorkflow', input })
        .replace(`"${part}":{`, `"${part}":{"__proto__":"AAAA",`)
        .replace(',}', '}');
      expect(() => JSON.parse(raw)).not.toThrow();
      expect(raw).toContain('"__proto__":"AAAA"');
      const response = await run(f, [record(raw)]);
      expect(response.batchItemFailures).toEqual([]);
      expect(f.store.records.get(id)).toMatchObject({ status: 'failed', error: { code: 'VALIDATION_FAILED' } });
    }
    expect(f.didit.calls).toHaveLength(0);
    expect(f.sealedKey.decrypts).toBe(0);
  });

  it('a missing setting fails the whole invocation (every message comes back): no job is failed for it', async () => {
    const f = fakes();
    const id = job(f);
    const deps = { ...f.deps, jobs: { ...f.deps.jobs, config: { ...f.deps.jobs.config, eventBusName: undefined } } };
    await expect(createJobWorker({ dependencies: () => deps })({ Records: [record(aml(id))] }, lambdaContext())).rejects.toThrow(/EVENT_BUS_NAME/);
    expect(f.store.records.get(id)!.status).toBe('queued');
  });
});
