import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { KmsThrottledError, SpendCapReachedError, SpendCounterUnavailableError } from '../../lib/errors/index.ts';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { createJobWorker } from '../../lib/adapters/jobs/worker.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import { ConfigError } from '../../lib/config/env.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { SpendCounter } from '../../lib/spend-cap/counter.ts';
import { CappedSpendGate, createSpendGate, UNCAPPED } from '../../lib/spend-cap/gate.ts';
import { isPaidOperation } from '../../lib/spend-cap/paid.ts';
import { classifyFailure } from '../../lib/runtime/failure-class.ts';
import { decideFailure } from '../../lib/adapters/jobs/outcome.ts';
import { secondsUntilNextUtcDay, utcDay } from '../../lib/spend-cap/utc-day.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';
import { diditResponse, fakes, type Fakes } from './jobs-fakes.ts';

/**
 * DynamoDB's conditional UpdateItem, in memory: applies the counter's own expressions (ADD with
 * `attribute_not_exists(#count) OR #count < :cap`, or ADD -1 with `#count > :zero`) atomically, as DynamoDB does.
 */
class FakeCounterTable {
  readonly items = new Map<string, number>();
  failWith: Error | undefined;
  readonly inputs: UpdateItemCommandInput[] = [];

  readonly client = {
    send: async (command: { input: UpdateItemCommandInput & { Key: { id: { S: string } } } }) => {
      if (this.failWith) throw this.failWith;
      const input = command.input;
      const id = input.Key.id.S;
      const count = this.items.get(id);
      if (!('UpdateExpression' in input)) return { Item: count === undefined ? undefined : { count: { N: String(count) } } };
      this.inputs.push(input);
      const values = input.ExpressionAttributeValues!;
      if (values[':cap'] !== undefined) {
        if (count !== undefined && !(count < Number(values[':cap'].N))) throw new ConditionalCheckFailedException({ message: 'no', $metadata: {} });
        this.items.set(id, (count ?? 0) + 1);
        return { Attributes: { count: { N: String((count ?? 0) + 1) } } };
      }
      if (!(count !== undefined && count > 0)) throw new ConditionalCheckFailedException({ message: 'no', $metadata: {} });
      this.items.set(id, count - 1);
      return {};
    },
  };

  counter(cap: number, now = () => Date.now()): SpendCounter {
    return new SpendCounter({ client: this.client as unknown as DynamoDBClient, tableName: 't', stage: 'unit', cap, now });
  }
}

describe('which calls count', () => {
  it('only exactly-free operations are uncounted; unsure or deferred billing counts', () => {
    expect(isPaidOperation(OPERATIONS.amlScreening)).toBe(true);
    expect(isPaidOperation(OPERATIONS.emailSend)).toBe(true);
    // "free to create; billed when the user completes it": a session created is spend to come.
    expect(isPaidOperation(OPERATIONS.createSession)).toBe(true);
    expect(isPaidOperation(OPERATIONS.shareSession)).toBe(true);
    expect(isPaidOperation(OPERATIONS.listSessions)).toBe(false);
    expect(isPaidOperation(OPERATIONS.retrieveDecision)).toBe(false);
    expect(isPaidOperation(OPERATIONS.listWorkflows)).toBe(false);
    expect(isPaidOperation({ billing: 'freeish' })).toBe(true);
  });

  it('the UTC day and the seconds until it rolls over', () => {
    const t = Date.UTC(2026, 11, 31, 23, 59, 30, 500);
    expect(utcDay(t)).toBe('2026-12-31');
    expect(secondsUntilNextUtcDay(t)).toBe(30);
    expect(secondsUntilNextUtcDay(Date.UTC(2026, 0, 1))).toBe(86_400);
    expect(secondsUntilNextUtcDay(Date.UTC(2026, 0, 1, 23, 59, 59, 999))).toBe(1);
  });
});

describe('configuration', () => {
  const base = { STAGE: 's', SEALED_KEY_SECRET_ID: 'id' };
  it('off unless a positive cap is set; a cap without its table fails closed', () => {
    expect(loadConfig(base).dailyPaidCallCap).toBeUndefined();
    expect(loadConfig({ ...base, DAILY_PAID_CALL_CAP: '0', SPEND_CAP_TABLE: 't' }).dailyPaidCallCap).toBeUndefined();
    expect(loadConfig({ ...base, DAILY_PAID_CALL_CAP: '500', SPEND_CAP_TABLE: 't' })).toMatchObject({ dailyPaidCallCap: 500, spendCounterTable: 't' });
    expect(() => loadConfig({ ...base, DAILY_PAID_CALL_CAP: '500' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, DAILY_PAID_CALL_CAP: '-1', SPEND_CAP_TABLE: 't' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, DAILY_PAID_CALL_CAP: '1.5', SPEND_CAP_TABLE: 't' })).toThrow(ConfigError);
    expect(createSpendGate({ cap: undefined, tableName: undefined, stage: 's', region: 'us-east-1' })).toBe(UNCAPPED);
    expect(createSpendGate({ cap: 3, tableName: 't', stage: 's', region: 'us-east-1' })).toBeInstanceOf(CappedSpendGate);
  });
});

describe('the counter', () => {
  it('one conditional ADD per paid call, keyed by stage and UTC day, with a TTL after the day', async () => {
    const table = new FakeCounterTable();
    const now = Date.UTC(2026, 5, 1, 12);
    const counter = table.counter(2, () => now);
    expect(await counter.take()).toEqual({ count: 1, day: '2026-06-01' });
    expect(table.inputs[0]).toMatchObject({
      Key: { id: { S: 'spend-cap#unit#2026-06-01' } },
      ConditionExpression: 'attribute_not_exists(#count) OR #count < :cap',
      ExpressionAttributeValues: { ':cap': { N: '2' } },
    });
    expect(Number(table.inputs[0]!.ExpressionAttributeValues![':expiration']!.N) * 1000).toBeGreaterThan(Date.UTC(2026, 5, 2));
    await counter.take();
    const refused = await counter.take().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SpendCapReachedError);
    expect((refused as SpendCapReachedError).retryAfterSeconds).toBe(12 * 3600);
    expect((refused as SpendCapReachedError).statusCode).toBe(429);
    expect(await counter.current()).toBe(2);
  });

  it('fails closed when DynamoDB fails: 503, no call', async () => {
    const table = new FakeCounterTable();
    table.failWith = new Error('network');
    await expect(table.counter(5).take()).rejects.toBeInstanceOf(SpendCounterUnavailableError);
  });
});

describe('the HTTP path', () => {
  function handler(f: Fakes, table: FakeCounterTable, cap: number) {
    const deps = { ...f.deps.gateway, spendGate: new CappedSpendGate(table.counter(cap)) };
    return (name: keyof typeof OPERATIONS, body: unknown) =>
      createOperationHandler(OPERATIONS[name], { dependencies: () => deps })(
        apiEvent({ method: OPERATIONS[name].route.method, path: OPERATIONS[name].route.path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        lambdaContext(),
      ) as Promise<APIGatewayProxyResult>;
  }

  it('over the cap: 429 SPEND_CAP_REACHED with Retry-After, no decrypt, nothing sent', async () => {
    const f = fakes();
    const table = new FakeCounterTable();
    const call = handler(f, table, 1);
    expect((await call('amlScreening', { full_name: 'Ana' })).statusCode).toBe(200);
    const res = await call('amlScreening', { full_name: 'Ana' });
    expect(res.statusCode).toBe(429);
    expect(JSON.parse(res.body).error.code).toBe('SPEND_CAP_REACHED');
    expect(Number(res.headers?.['retry-after'])).toBeGreaterThan(0);
    expect(f.sealedKey.decrypts).toBe(1);
    expect(f.didit.calls).toHaveLength(1);
  });

  it('a count whose call never reached Didit (KMS failed) is given back', async () => {
    const f = fakes();
    f.sealedKey.failWith = new KmsThrottledError('throttled');
    const table = new FakeCounterTable();
    const call = handler(f, table, 1);
    expect((await call('amlScreening', { full_name: 'Ana' })).statusCode).toBe(503);
    expect([...table.items.values()]).toEqual([0]);
    f.sealedKey.failWith = undefined;
    expect((await call('amlScreening', { full_name: 'Ana' })).statusCode).toBe(200);
  });
});

describe('events (uploads, sign-ups, jobs)', () => {
  it('a capped call is a final outcome with its code, never a retry that burns the retries before 00:00 UTC', () => {
    const capped = new SpendCapReachedError({ retryAfterSeconds: 60 });
    expect(classifyFailure(capped, { idempotent: true })).toEqual({ kind: 'final', code: 'SPEND_CAP_REACHED', outcomeUnknown: false });
    expect(decideFailure(capped, { idempotent: false, answered: false })).toBe('fail');
    // The counter being down is a retry (nothing was sent).
    expect(classifyFailure(new SpendCounterUnavailableError('down'), { idempotent: false }).kind).toBe('retry');
  });
});

describe('the job worker', () => {
  function job(f: Fakes, operation: string): string {
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
    });
    return jobId;
  }
  const record = (body: unknown): SQSRecord =>
    ({ messageId: randomUUID(), receiptHandle: 'rh', body: JSON.stringify(body), attributes: { ApproximateReceiveCount: '1' }, messageAttributes: {} }) as unknown as SQSRecord;
  const aml = (jobId: string) => record({ v: 1, jobId, operation: 'amlScreening', input: { body: { full_name: 'Ana' } } });
  const decision = (jobId: string) => record({ v: 1, jobId, operation: 'retrieveDecision', input: { params: { sessionId: randomUUID() } } });
  const run = async (f: Fakes, table: FakeCounterTable, cap: number, records: SQSRecord[]) => {
    const deps = { ...f.deps, gateway: { ...f.deps.gateway, spendGate: new CappedSpendGate(table.counter(cap)) } };
    return (await createJobWorker({ dependencies: () => deps })({ Records: records }, lambdaContext({ remainingMs: 60_000 }))) as SQSBatchResponse;
  };

  it('a job over the cap fails with SPEND_CAP_REACHED (event published, not redelivered); one under it runs', async () => {
    const f = fakes();
    const table = new FakeCounterTable();
    const ids = [job(f, 'amlScreening'), job(f, 'amlScreening'), job(f, 'amlScreening')];
    const response = await run(f, table, 2, ids.map(aml));
    expect(response.batchItemFailures).toEqual([]);
    const statuses = ids.map((id) => f.store.records.get(id)!.status).sort();
    expect(statuses).toEqual(['failed', 'succeeded', 'succeeded']);
    const failed = ids.find((id) => f.store.records.get(id)!.status === 'failed')!;
    expect(f.store.records.get(failed)).toMatchObject({ error: { code: 'SPEND_CAP_REACHED' } });
    expect(f.store.records.get(failed)!.callStartedAt).toBeUndefined();
    expect(f.published.map((p) => (p.detail as { jobId: string }).jobId).sort()).toEqual([...ids].sort());
    expect(f.didit.calls).toHaveLength(2);
  });

  it('a batch entirely over the cap decrypts nothing; free operations still run', async () => {
    const f = fakes();
    const table = new FakeCounterTable();
    await run(f, table, 1, [aml(job(f, 'amlScreening'))]);
    const f2 = fakes();
    const capped = [job(f2, 'amlScreening'), job(f2, 'amlScreening')];
    await run(f2, table, 1, capped.map(aml));
    expect(f2.sealedKey.decrypts).toBe(0);
    expect(f2.didit.calls).toHaveLength(0);
    const free = job(f2, 'retrieveDecision');
    f2.didit.behaviour = () => diditResponse({ status: 'Approved' });
    await run(f2, table, 1, [decision(free)]);
    expect(f2.store.records.get(free)!.status).toBe('succeeded');
    expect([...table.items.values()]).toEqual([1]);
  });

  it('KMS fails before the call: the message is redelivered and its count given back', async () => {
    const f = fakes();
    f.sealedKey.failWith = new KmsThrottledError('throttled');
    const table = new FakeCounterTable();
    const response = await run(f, table, 5, [aml(job(f, 'amlScreening')), aml(job(f, 'amlScreening'))]);
    expect(response.batchItemFailures).toHaveLength(2);
    expect([...table.items.values()]).toEqual([0]);
  });
});
