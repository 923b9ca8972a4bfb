import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { OPERATIONS, type OperationName } from '../../lib/operations/table.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import type { SealedKey } from '../../lib/sealed-key/sealed-key.ts';
import { SpendCounter } from '../../lib/spend-cap/counter.ts';
import { CappedSpendGate } from '../../lib/spend-cap/gate.ts';
import { secondsUntilNextUtcDay } from '../../lib/spend-cap/utc-day.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../lib/idempotency/table.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';
import { setUpGateway, type GatewayFixture } from '../support/gateway-fixture.ts';
import { startSerializingProxy, type SerializingProxy } from '../../infra/local/serializing-proxy.ts';

// The daily cap of paid Didit calls on the emulator: the counter is a conditional UpdateItem on DynamoDB
// (moto), the key is sealed under KMS on the emulator, Didit is the sandbox. 50 concurrent paid calls against
// a cap of 20: exactly 20 reach the sandbox and cost a KMS Decrypt, 30 get 429 SPEND_CAP_REACHED.

const STAGE = 'spendcap';
const CAP = 20;
const CONCURRENT = 50;
const table = `didit-spend-cap-${randomBytes(4).toString('hex')}`;

let gateway: GatewayFixture;
let dynamodb: DynamoDBClient;
/** moto does not lock a conditional update; DynamoDB serialises writes to an item (see the proxy). */
let serialized: SerializingProxy;
let counter: SpendCounter;
let deps: GatewayDependencies;
/** KMS Decrypts of the API key made by the calls under test (the SealedKey observer's `decrypted`). */
let decrypts = 0;

beforeAll(async () => {
  gateway = await setUpGateway(STAGE);
  const em = testEmulator();
  serialized = await startSerializingProxy(testDynamoDbEndpoint());
  dynamodb = new DynamoDBClient({ endpoint: serialized.endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });
  await createIdempotencyTable(dynamodb, table);
  counter = new SpendCounter({ client: dynamodb, tableName: table, stage: STAGE, cap: CAP });
  const sealedKey = {
    withKey: ((fn, options) =>
      gateway.deps.sealedKey.withKey(fn, {
        ...options,
        observer: {
          ...options?.observer,
          decrypted: (info) => {
            decrypts++;
            options?.observer?.decrypted?.(info);
          },
        },
      })) satisfies SealedKey['withKey'],
  } as unknown as SealedKey;
  deps = { ...gateway.deps, sealedKey, spendGate: new CappedSpendGate(counter) };
});

afterAll(async () => {
  if (dynamodb) await deleteIdempotencyTable(dynamodb, table);
  dynamodb?.destroy();
  await serialized?.close();
  await gateway?.close();
});

beforeEach(() => {
  gateway.sandbox.reset();
  decrypts = 0;
});

function call(name: OperationName, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return createOperationHandler(OPERATIONS[name], { dependencies: () => deps })(event, lambdaContext({ remainingMs: 60_000 })) as Promise<APIGatewayProxyResult>;
}

const aml = (i: number) =>
  apiEvent({
    method: 'POST',
    path: OPERATIONS.amlScreening.route.path,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ full_name: `Ana García ${i}`, nationality: 'ES' }),
  });

describe('daily cap of paid Didit calls', () => {
  it('holds under 50 concurrent paid calls: exactly the cap reaches Didit and KMS, the rest get 429', async () => {
    const before = Date.now();
    const results = await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => call('amlScreening', aml(i))));
    const after = Date.now();

    const ok = results.filter((r) => r.statusCode === 200);
    const capped = results.filter((r) => r.statusCode === 429);
    expect(ok.length).toBe(CAP);
    expect(capped.length).toBe(CONCURRENT - CAP);
    for (const r of capped) {
      expect(JSON.parse(r.body).error.code).toBe('SPEND_CAP_REACHED');
      // Until the next 00:00 UTC, as computed around the calls.
      const retryAfter = Number(r.headers?.['retry-after']);
      expect(retryAfter).toBeLessThanOrEqual(secondsUntilNextUtcDay(before));
      expect(retryAfter).toBeGreaterThanOrEqual(secondsUntilNextUtcDay(after));
    }
    // Nothing past the cap was sent, and nothing past the cap decrypted the key.
    expect(gateway.sandbox.count({ pathPrefix: '/v3/aml' })).toBe(CAP);
    expect(gateway.sandbox.received.length).toBe(CAP);
    expect(decrypts).toBe(CAP);
    expect(await counter.current()).toBe(CAP);
  });

  it('still refuses paid calls once the cap is reached, and lets free operations through uncounted', async () => {
    const paid = await call('amlScreening', aml(99));
    expect(paid.statusCode).toBe(429);
    expect(gateway.sandbox.received.length).toBe(0);
    expect(decrypts).toBe(0);

    const free = await call('listSessions', apiEvent({ method: 'GET', path: OPERATIONS.listSessions.route.path }));
    expect(free.statusCode).toBe(200);
    expect(gateway.sandbox.count({ pathPrefix: '/v3/sessions' })).toBe(1);
    expect(await counter.current()).toBe(CAP);
  });
});
