import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { IDEMPOTENCY_TABLE } from './delivery-dedupe.ts';

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
  await createTtlTable(client, { tableName, partitionKey: IDEMPOTENCY_TABLE.partitionKey, ttlAttribute: IDEMPOTENCY_TABLE.ttlAttribute }, options);
}

export async function deleteIdempotencyTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await deleteTable(client, tableName);
}

/** A table keyed by one string attribute whose items expire on a TTL attribute (the dedupe and jobs tables). */
export interface TtlTableShape {
  readonly tableName: string;
  readonly partitionKey: string;
  readonly ttlAttribute: string;
}

/**
 * Creates an on-demand table of that shape, waits until it is ACTIVE (polling DescribeTable every 200 ms, up
 * to `timeoutMs`, default 30 s), then turns TTL on. For emulators and local runs; in AWS the stack creates it.
 */
export async function createTtlTable(client: DynamoDBClient, shape: TtlTableShape, options: { timeoutMs?: number } = {}): Promise<void> {
  const { tableName } = shape;
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: shape.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: shape.partitionKey, KeyType: 'HASH' }],
    }),
  );
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') break;
    if (Date.now() > deadline) throw new Error(`table ${tableName} not ACTIVE in time (${Table?.TableStatus})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: shape.ttlAttribute, Enabled: true } }));
}

/** Deletes the table; one that is already gone is fine. */
export async function deleteTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
}
