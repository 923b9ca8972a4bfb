import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { IDEMPOTENCY_TABLE } from './delivery-dedupe.ts';
import { is, required, withDefaults } from '../config/options.ts';

/**
 * Creates the dedupe table as the deployment defines it (on-demand, partition key `id`, TTL on
 * `expiration`) and waits until it is ACTIVE. For emulators and local runs; in AWS the stack creates it:
 *
 * ```yaml
 * WebhookIdempotencyTable:
 *   Type: AWS::DynamoDB::Table
 *   Properties:
 *     BillingMode: PAY_PER_REQUEST
 *     AttributeDefinitions: [{ AttributeName: id, AttributeType: S }]
 *     KeySchema: [{ AttributeName: id, KeyType: HASH }]
 *     TimeToLiveSpecification: { AttributeName: expiration, Enabled: true }
 *     SSESpecification: { SSEEnabled: true }
 * ```
 */
export async function createIdempotencyTable(client: DynamoDBClient, tableName: string, options: { timeoutMs?: number } = {}): Promise<void> {
  await createTtlTable(client, tableName, { partitionKey: IDEMPOTENCY_TABLE.partitionKey, ttlAttribute: IDEMPOTENCY_TABLE.ttlAttribute, ...options });
}

export async function deleteIdempotencyTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await deleteTable(client, tableName);
}

/** How long {@link createTtlTable} waits for ACTIVE: the one value for every local table. */
export const defaults = Object.freeze({ timeoutMs: 30_000 });

const rules = { partitionKey: required(is.string), ttlAttribute: required(is.string), timeoutMs: is.integer(1, 600_000) };

/**
 * Creates an on-demand table with a string partition key and a TTL attribute (the dedupe and jobs tables),
 * and waits until it is ACTIVE (emulators and local runs; in AWS the stack creates the tables, with SSE).
 */
export async function createTtlTable(
  client: DynamoDBClient,
  tableName: string,
  layout: { partitionKey: string; ttlAttribute: string; timeoutMs?: number },
): Promise<void> {
  const o = withDefaults('createTtlTable', defaults, rules, layout);
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: o.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: o.partitionKey, KeyType: 'HASH' }],
    }),
  );
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') break;
    if (Date.now() > deadline) throw new Error(`table ${tableName} not ACTIVE in time (${Table?.TableStatus})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: o.ttlAttribute, Enabled: true } }));
}

/** Deletes the table; one that is already gone is fine. */
export async function deleteTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
}
