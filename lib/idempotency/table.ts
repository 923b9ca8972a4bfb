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
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: IDEMPOTENCY_TABLE.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: IDEMPOTENCY_TABLE.partitionKey, KeyType: 'HASH' }],
    }),
  );
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') break;
    if (Date.now() > deadline) throw new Error(`table ${tableName} not ACTIVE in time (${Table?.TableStatus})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: IDEMPOTENCY_TABLE.ttlAttribute, Enabled: true },
    }),
  );
}

export async function deleteIdempotencyTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
}
