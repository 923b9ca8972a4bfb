import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import { is, required, withDefaults } from '../config/options.ts';

/**
 * The table layout the Powertools DynamoDB persistence layer uses by default: partition key `id` (string),
 * TTL on `expiration` (unix seconds). One table serves every user of {@link PersistentOnce}; each keeps its
 * records apart with its own key prefix (`didit-webhook#…`, `didit-job#…`).
 */
export const IDEMPOTENCY_TABLE = Object.freeze({
  partitionKey: 'id',
  ttlAttribute: 'expiration',
});

export interface PersistentOnceOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** How long a completed record is remembered (Powertools `expiresAfterSeconds`). */
  readonly ttlSeconds: number;
  /** Stable across function renames and versions (Powertools' default is the function name). */
  readonly keyPrefix: string;
}

/** One TTL rule for every "remember this key" store: at least a minute, at most 30 days. */
export const ttlSecondsRule = is.integer(60, 30 * 24 * 60 * 60);

/** No defaults: table, TTL and prefix are each user's (DeliveryDedupe, OutcomeStore and the job worker have their own). */
export const defaults = Object.freeze({});

const rules = { client: required(is.object), tableName: required(is.string), ttlSeconds: required(ttlSecondsRule), keyPrefix: required(is.string) };

export interface OnceResult<T> {
  /** True when the stored outcome of an earlier run was returned and `work` did not run. */
  readonly replayed: boolean;
  readonly value: T;
}

/**
 * "Run at most once per key, remember the outcome" with Powertools Idempotency on DynamoDB:
 *  - the first run for a key writes an IN_PROGRESS record (conditional put) that expires with the
 *    invocation (its remaining time, from the registered Lambda context), runs `work`, and stores what it
 *    returned as COMPLETED (`data` attribute, JSON-like values only);
 *  - a later run for the key gets the stored value back, with `replayed: true`, and `work` does not run;
 *  - a concurrent run while the record is IN_PROGRESS and unexpired throws Powertools'
 *    `IdempotencyAlreadyInProgressError`;
 *  - when `work` throws, the IN_PROGRESS record is deleted and the error passes through, so a retry runs again.
 * Powertools' own errors (`IdempotencyPersistenceLayerError`, …) pass through unchanged: each user maps them.
 *
 * @example
 * ```ts
 * const once = new PersistentOnce<Receipt>({ client, tableName, ttlSeconds: 86_400, keyPrefix: 'didit-webhook' });
 * const { replayed, value } = await once.run(dedupeKey, context, () => publish());
 * ```
 */
export class PersistentOnce<T extends object> {
  readonly #config: IdempotencyConfig;
  readonly #run: (work: () => Promise<T>, payload: { key: string }) => Promise<T>;
  /** Values that came from a stored record (the response hook marks them): safe with concurrent runs. */
  readonly #replayed = new WeakSet<object>();

  constructor(given: PersistentOnceOptions) {
    const options = withDefaults('PersistentOnce', defaults, rules, given);
    this.#config = new IdempotencyConfig({
      eventKeyJmesPath: 'key',
      throwOnNoIdempotencyKey: true,
      expiresAfterSeconds: options.ttlSeconds,
      // Only on the replay path: a fresh copy, remembered as replayed.
      responseHook: (response) => {
        const copy = { ...(response as object) };
        this.#replayed.add(copy);
        return copy;
      },
    });
    const persistenceStore = new DynamoDBPersistenceLayer({
      tableName: options.tableName,
      awsSdkV3Client: options.client,
      keyAttr: IDEMPOTENCY_TABLE.partitionKey,
      expiryAttr: IDEMPOTENCY_TABLE.ttlAttribute,
    });
    this.#run = makeIdempotent(async (work: () => Promise<T>, _payload: { key: string }) => work(), {
      persistenceStore,
      config: this.#config,
      keyPrefix: options.keyPrefix,
      dataIndexArgument: 1,
    });
  }

  /**
   * Runs `work` unless a completed record exists for `key`. `context` (when given) bounds the IN_PROGRESS
   * record by the invocation's remaining time, so a crashed invocation does not block retries for long.
   */
  async run(key: string, context: Context | undefined, work: () => Promise<T>): Promise<OnceResult<T>> {
    if (context !== undefined) this.#config.registerLambdaContext(context);
    const value = await this.#run(work, { key });
    return { replayed: this.#replayed.has(value), value };
  }
}
