import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { traceAwsCalls } from '../observability/tracing.ts';
import { SpendCapReachedError, SpendCounterUnavailableError } from '../errors/index.ts';
import { secondsUntilNextUtcDay, utcDay } from './utc-day.ts';
import { is, required, withDefaults } from '../config/options.ts';
import { defaults as awsClientDefaults } from '../config/aws-clients.ts';

export interface SpendCounterOptions {
  /** Default: a client for `region`, created on first use (the SDK module is loaded only when a cap is set). */
  readonly client?: DynamoDBClient;
  readonly region?: string;
  readonly tableName: string;
  readonly stage: string;
  readonly cap: number;
  readonly now?: () => number;
}

/** The counter's defaults: the wall clock (tests pass their own); the client is built on first use. */
export const defaults = Object.freeze({ now: (): number => Date.now() });

const rules = {
  client: is.object,
  region: is.string,
  tableName: required(is.string),
  stage: required(is.string),
  cap: required(is.integer(1, Number.MAX_SAFE_INTEGER)),
  now: is.function,
};

/**
 * The DynamoDB SDK, loaded on first use. serverless.yml (custom.esbuild.define) replaces the variable at package
 * time by the stage's `dailyPaidCallCap` param: with "0" (no cap, the default) the import() sits in a branch
 * esbuild knows to be dead, so an operation function's bundle leaves the SDK out (about 100 KiB). Such a bundle
 * refuses to count (createSpendGate throws first): a cap asked for at run time is never silently ignored.
 */
function dynamoDbModule(): Promise<typeof import('@aws-sdk/client-dynamodb')> {
  return process.env['DIDIT_SPEND_CAP_PACKAGED'] === '0'
    ? Promise.reject(new SpendCounterUnavailableError('this bundle was packaged without the spend counter (dailyPaidCallCap 0)'))
    : import('@aws-sdk/client-dynamodb');
}

/** Days an item outlives its day (DynamoDB TTL deletes it lazily; a day of history helps an operator). */
const KEEP_DAYS = 2;

/**
 * The daily counter of paid Didit calls: one DynamoDB item per (stage, UTC day) in a table keyed by `id`
 * with a TTL on `expiration` (the stack reuses the webhook idempotency table; the functions' roles may touch
 * only items whose key starts with `spend-cap#<stage>#`, see infra/serverless/resources.ts).
 *
 * `take()` is ONE conditional UpdateItem: `ADD count 1` if `count < cap` (or the item does not exist yet).
 * DynamoDB applies it atomically, so concurrent callers can never push the count past the cap: the call that
 * would is refused with ConditionalCheckFailed. No read-modify-write, no lock.
 */
export class SpendCounter {
  readonly cap: number;
  #client: DynamoDBClient | undefined;
  readonly #region: string | undefined;
  readonly #table: string;
  readonly #stage: string;
  readonly #now: () => number;

  constructor(given: SpendCounterOptions) {
    const options = withDefaults('SpendCounter', defaults, rules, given);
    this.cap = options.cap;
    this.#client = options.client;
    this.#region = options.region;
    this.#table = options.tableName;
    this.#stage = options.stage;
    this.#now = options.now;
  }

  async #dynamodb(): Promise<DynamoDBClient> {
    if (this.#client === undefined) {
      const { DynamoDBClient } = await dynamoDbModule();
      const client = new DynamoDBClient({ region: this.#region, maxAttempts: awsClientDefaults.maxAttempts });
      // An X-Ray span per UpdateItem when the stage traces (command, status, attempts, latency only).
      traceAwsCalls(client, 'DynamoDB');
      this.#client ??= client;
    }
    return this.#client;
  }

  /** The item key of a day: `spend-cap#<stage>#<YYYY-MM-DD>`. */
  keyOf(day: string): string {
    return `spend-cap#${this.#stage}#${day}`;
  }

  /** Counts one paid call; returns the count including it. Throws SpendCapReachedError when the cap is reached. */
  async take(options: { abortSignal?: AbortSignal } = {}): Promise<{ count: number; day: string }> {
    const now = this.#now();
    const day = utcDay(now);
    const { UpdateItemCommand, ConditionalCheckFailedException } = await dynamoDbModule();
    try {
      const out = await (await this.#dynamodb()).send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { id: { S: this.keyOf(day) } },
          UpdateExpression: 'ADD #count :one SET #expiration = if_not_exists(#expiration, :expiration)',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :cap',
          ExpressionAttributeNames: { '#count': 'count', '#expiration': 'expiration' },
          ExpressionAttributeValues: {
            ':one': { N: '1' },
            ':cap': { N: String(this.cap) },
            ':expiration': { N: String(Math.floor(now / 1000) + secondsUntilNextUtcDay(now) + KEEP_DAYS * 86_400) },
          },
          ReturnValues: 'UPDATED_NEW',
        }),
        { abortSignal: options.abortSignal },
      );
      return { count: Number(out.Attributes?.['count']?.N ?? '0'), day };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        throw new SpendCapReachedError({ cause: err, retryAfterSeconds: secondsUntilNextUtcDay(this.#now()) });
      }
      throw new SpendCounterUnavailableError('the spend counter could not be updated', { cause: err });
    }
  }

  /**
   * Gives back a count taken for a call that never reached Didit (the key could not be obtained). Best
   * effort: a failure leaves the count one too high (the safe side). Never below zero.
   */
  async giveBack(day: string): Promise<void> {
    const { UpdateItemCommand } = await dynamoDbModule();
    await (await this.#dynamodb()).send(
      new UpdateItemCommand({
        TableName: this.#table,
        Key: { id: { S: this.keyOf(day) } },
        UpdateExpression: 'ADD #count :minusOne',
        ConditionExpression: '#count > :zero',
        ExpressionAttributeNames: { '#count': 'count' },
        ExpressionAttributeValues: { ':minusOne': { N: '-1' }, ':zero': { N: '0' } },
      }),
    );
  }

  /** Today's count (0 when nothing was counted yet), for tests and operators. */
  async current(): Promise<number> {
    const { GetItemCommand } = await dynamoDbModule();
    const out = await (await this.#dynamodb()).send(
      new GetItemCommand({ TableName: this.#table, Key: { id: { S: this.keyOf(utcDay(this.#now())) } }, ConsistentRead: true }),
    );
    return Number(out.Item?.['count']?.N ?? '0');
  }
}
