import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { createTtlTable, deleteTable } from '../../idempotency/table.ts';
import { JobStoreUnavailableError } from './errors.ts';
import type { SealedResult } from './result-crypto.ts';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobError {
  readonly code: string;
  readonly message: string;
}

/**
 * One job, as stored (table `JOBS_TABLE`, partition key `jobId`, TTL on `expiresAt`). No input is stored
 * here (it travels in the SQS message only); the result is sealed (lib/adapters/jobs/result-crypto.ts).
 */
export interface JobRecord {
  readonly jobId: string;
  readonly operation: string;
  readonly status: JobStatus;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  /** Unix seconds; DynamoDB TTL deletes the record (lazily) after it, reads treat it as gone at once. */
  readonly expiresAt: number;
  /** The IAM principal that submitted the job (for the audit records of its Didit call). */
  readonly caller: string;
  /** API Gateway request id of the submission. */
  readonly submitRequestId?: string;
  /** Didit calls started for this job (1 normally; more after retryable failures). */
  readonly attempts?: number;
  /**
   * Set (ms since epoch) when a Didit call starts, removed when it ends in a way that was recorded. Found set
   * by a later attempt, it means an earlier one may have reached Didit and never recorded what happened.
   */
  readonly callStartedAt?: number;
  readonly diditStatus?: number;
  readonly result?: SealedResult;
  readonly error?: JobError;
  /** When `didit.job.completed` was published. */
  readonly notifiedAt?: string;
}

export type JobOutcome =
  | { readonly status: 'succeeded'; readonly diditStatus: number; readonly result: SealedResult }
  | { readonly status: 'failed'; readonly diditStatus?: number; readonly error: JobError };

export function isTerminal(status: JobStatus): boolean {
  return status === 'succeeded' || status === 'failed';
}

const sealedSchema = z.object({
  v: z.literal(1),
  alg: z.literal('A256GCM'),
  zip: z.literal('gzip'),
  edk: z.string(),
  iv: z.string(),
  tag: z.string(),
  ct: z.string(),
});

const recordSchema = z.object({
  jobId: z.string(),
  operation: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  expiresAt: z.number(),
  caller: z.string(),
  submitRequestId: z.string().optional(),
  attempts: z.number().optional(),
  callStartedAt: z.number().optional(),
  diditStatus: z.number().optional(),
  result: sealedSchema.optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  notifiedAt: z.string().optional(),
});

/** What {@link JobStore.beginCall} found. */
export interface CallStart {
  /** An earlier attempt started a Didit call and never recorded its end (crash, lost write). */
  readonly unresolvedEarlierCall: boolean;
  /** False when the job was already complete: nothing must be called. */
  readonly started: boolean;
}

/**
 * The job table. Every write that changes the status is conditional, so two deliveries of one message can
 * never both complete a job, and a completed job never goes back to running.
 */
export class JobStore {
  readonly #db: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#db = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.#table = options.tableName;
  }

  async create(record: JobRecord): Promise<void> {
    await this.#call('put', () =>
      this.#db.send(new PutCommand({ TableName: this.#table, Item: { ...record }, ConditionExpression: 'attribute_not_exists(jobId)' })),
    );
  }

  async get(jobId: string): Promise<JobRecord | undefined> {
    const out = await this.#call('get', () => this.#db.send(new GetCommand({ TableName: this.#table, Key: { jobId }, ConsistentRead: true })));
    if (out.Item === undefined) return undefined;
    const parsed = recordSchema.safeParse(out.Item);
    if (!parsed.success) throw new JobStoreUnavailableError('job record has an unexpected shape');
    return parsed.data as JobRecord;
  }

  async delete(jobId: string): Promise<void> {
    await this.#call('delete', () => this.#db.send(new DeleteCommand({ TableName: this.#table, Key: { jobId } })));
  }

  /**
   * Marks the job running and a Didit call started (the marker is what lets a later attempt see that an
   * earlier one may have paid). Refused, with `started: false`, when the job is already complete.
   */
  async beginCall(jobId: string, now: number): Promise<CallStart> {
    try {
      const out = await this.#db.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { jobId },
          UpdateExpression:
            'SET #status = :running, updatedAt = :iso, startedAt = if_not_exists(startedAt, :iso), attempts = if_not_exists(attempts, :zero) + :one, callStartedAt = :now',
          ConditionExpression: 'attribute_exists(jobId) AND #status IN (:queued, :running)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':running': 'running', ':queued': 'queued', ':iso': new Date(now).toISOString(), ':zero': 0, ':one': 1, ':now': now },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return { started: true, unresolvedEarlierCall: typeof out.Attributes?.['callStartedAt'] === 'number' };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return { started: false, unresolvedEarlierCall: false };
      throw new JobStoreUnavailableError(`job table update failed (${errorName(err)})`, { cause: err });
    }
  }

  /** The call ended in a way that will be retried (nothing was paid): clear the marker. */
  async endCall(jobId: string, now: number): Promise<void> {
    try {
      await this.#db.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { jobId },
          UpdateExpression: 'SET updatedAt = :iso REMOVE callStartedAt',
          ConditionExpression: '#status = :running',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':running': 'running', ':iso': new Date(now).toISOString() },
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return;
      throw new JobStoreUnavailableError(`job table update failed (${errorName(err)})`, { cause: err });
    }
  }

  /**
   * Records the outcome. Returns the completed record, or undefined when the job was already complete
   * (another delivery got there first): the stored outcome stands.
   */
  async complete(jobId: string, outcome: JobOutcome, now: number): Promise<JobRecord | undefined> {
    const iso = new Date(now).toISOString();
    const values: Record<string, unknown> = { ':status': outcome.status, ':iso': iso, ':queued': 'queued', ':running': 'running' };
    const sets = ['#status = :status', 'updatedAt = :iso', 'completedAt = :iso'];
    if (outcome.diditStatus !== undefined) {
      sets.push('diditStatus = :diditStatus');
      values[':diditStatus'] = outcome.diditStatus;
    }
    if (outcome.status === 'succeeded') {
      sets.push('#result = :result');
      values[':result'] = outcome.result;
    } else {
      sets.push('#error = :error');
      values[':error'] = outcome.error;
    }
    try {
      const out = await this.#db.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { jobId },
          UpdateExpression: `SET ${sets.join(', ')} REMOVE callStartedAt`,
          ConditionExpression: 'attribute_exists(jobId) AND #status IN (:queued, :running)',
          ExpressionAttributeNames: { '#status': 'status', ...(outcome.status === 'succeeded' ? { '#result': 'result' } : { '#error': 'error' }) },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      const parsed = recordSchema.safeParse(out.Attributes);
      if (!parsed.success) throw new JobStoreUnavailableError('job record has an unexpected shape');
      return parsed.data as JobRecord;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      if (err instanceof JobStoreUnavailableError) throw err;
      throw new JobStoreUnavailableError(`job table update failed (${errorName(err)})`, { cause: err });
    }
  }

  async markNotified(jobId: string, now: number): Promise<void> {
    await this.#call('update', () =>
      this.#db.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { jobId },
          UpdateExpression: 'SET notifiedAt = :iso',
          ConditionExpression: 'attribute_exists(jobId)',
          ExpressionAttributeValues: { ':iso': new Date(now).toISOString() },
        }),
      ),
    );
  }

  async #call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw new JobStoreUnavailableError(`job table ${what} failed (${errorName(err)})`, { cause: err });
    }
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : 'unknown';
}

/**
 * Creates the job table as the deployment defines it (on-demand, partition key `jobId`, TTL on `expiresAt`)
 * and waits until it is ACTIVE. For emulators and local runs; in AWS the stack creates it (with SSE).
 */
export async function createJobsTable(client: DynamoDBClient, tableName: string, options: { timeoutMs?: number } = {}): Promise<void> {
  await createTtlTable(client, tableName, { partitionKey: 'jobId', ttlAttribute: 'expiresAt', ...options });
}

export async function deleteJobsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await deleteTable(client, tableName);
}
