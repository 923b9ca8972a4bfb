import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { PersistentOnce, ttlSecondsRule } from './persistent-once.ts';
import { is, required, withDefaults } from '../config/options.ts';
import { DEFAULT_DEDUPE_TTL_SECONDS } from './delivery-dedupe.ts';
import { TriggerInProgressError } from '../errors/index.ts';
import { mapIdempotencyError } from './error-map.ts';

/** What an outcome store keeps: JSON data without personal data (it lives in DynamoDB for a day). */
export type StoredOutcome = Readonly<Record<string, unknown>>;

export interface Once<T extends StoredOutcome> {
  readonly outcome: T;
  /** True when the outcome comes from an earlier invocation with the same key (nothing was run). */
  readonly replayed: boolean;
}

export interface OutcomeStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly keyPrefix: string;
  readonly ttlSeconds?: number;
}

/** The store's defaults: outcomes are remembered for a day. */
export const defaults = Object.freeze({ ttlSeconds: DEFAULT_DEDUPE_TTL_SECONDS });

const rules = { client: required(is.object), tableName: required(is.string), keyPrefix: required(is.string), ttlSeconds: ttlSecondsRule };

/**
 * "Run at most once per key, remember what came of it" for the triggers: Powertools Idempotency on the
 * shared DynamoDB table ({@link PersistentOnce}, records told apart by `keyPrefix`), with its errors mapped
 * to the triggers' retryable errors.
 *
 * Unlike {@link DeliveryDedupe} (lib/idempotency/delivery-dedupe.ts), which keeps the receipt of a publish done inside
 * the window, this stores the work's own result: the Didit call of an upload must not be repeated when what
 * follows it (deleting the objects, publishing) fails, so the call alone is the unit, and a replay gets its
 * outcome back to carry on from there.
 *
 * `work` returning means "final" (stored, replays get it); `work` throwing means "not done" (the IN_PROGRESS
 * record is deleted, so the trigger's retry runs it again). A work that must not be repeated after an
 * ambiguous failure has to return an outcome saying so rather than throw.
 */
export class OutcomeStore<T extends StoredOutcome> {
  readonly #once: PersistentOnce<T>;

  constructor(options: OutcomeStoreOptions) {
    this.#once = new PersistentOnce<T>(withDefaults('OutcomeStore', defaults, rules, options));
  }

  async once(key: string, context: Context, work: () => Promise<T>): Promise<Once<T>> {
    try {
      // The context bounds the IN_PROGRESS record by this invocation, so a crashed attempt does not block the retry.
      const { replayed, value } = await this.#once.run(key, context, work);
      return { outcome: value, replayed };
    } catch (err) {
      throw mapIdempotencyError(err, (cause) => new TriggerInProgressError('the same trigger event is in progress in another invocation', { cause }));
    }
  }
}

