import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { IDEMPOTENCY_TABLE, PersistentOnce, ttlSecondsRule } from './persistent-once.ts';
import { WebhookInProgressError } from '../errors/index.ts';
import { mapIdempotencyError } from './error-map.ts';
import type { PublishReceipt } from '../events/publisher.ts';
import { is, required, withDefaults } from '../config/options.ts';

/**
 * The table layout the Powertools DynamoDB persistence layer uses by default: partition key `id` (string),
 * TTL on `expiration` (unix seconds). Records hold the key hash, a status and the stored receipt
 * ({eventId, detailType}): no payload data. Shared with the job worker (lib/idempotency/persistent-once.ts).
 */
export { IDEMPOTENCY_TABLE };

/** How long an accepted delivery is remembered: Didit retries within minutes (§6.6); a day is ample. */
export const DEFAULT_DEDUPE_TTL_SECONDS = 24 * 60 * 60;

export interface DeliveryDedupeOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly ttlSeconds?: number;
  /** Records of the shared table are told apart by it. */
  readonly keyPrefix?: string;
}

/** The dedupe's defaults: a day, under the webhook receiver's prefix. */
export const defaults = Object.freeze({ ttlSeconds: DEFAULT_DEDUPE_TTL_SECONDS, keyPrefix: 'didit-webhook' });

const rules = { client: required(is.object), tableName: required(is.string), ttlSeconds: ttlSecondsRule, keyPrefix: is.string };

export interface DedupeOutcome {
  readonly duplicate: boolean;
  readonly receipt: PublishReceipt;
}

/**
 * "Publish at most once per delivery" with Powertools Idempotency ({@link PersistentOnce}): the first
 * invocation for a key writes an IN_PROGRESS record (conditional put), runs the publish, then stores its
 * receipt as COMPLETED; a replay finds the record and gets the stored receipt back without publishing. When
 * the publish throws, Powertools deletes the IN_PROGRESS record, so Didit's retry can try again.
 *
 * @example
 * ```ts
 * const outcome = await dedupe.once(envelope.dedupeKey, context, () => publisher.publish(type, detail));
 * if (outcome.duplicate) return ok('duplicate');
 * ```
 */
export class DeliveryDedupe {
  readonly #once: PersistentOnce<PublishReceipt>;

  constructor(options: DeliveryDedupeOptions) {
    this.#once = new PersistentOnce<PublishReceipt>(withDefaults('DeliveryDedupe', defaults, rules, options));
  }

  async once(dedupeKey: string, context: Context, publish: () => Promise<PublishReceipt>): Promise<DedupeOutcome> {
    // The IN_PROGRESS record expires with this invocation, so a crashed attempt does not block retries.
    let stored: { replayed: boolean; value: PublishReceipt };
    try {
      stored = await this.#once.run(dedupeKey, context, async () => {
        const receipt = await publish();
        return { eventId: receipt.eventId, detailType: receipt.detailType };
      });
    } catch (err) {
      throw mapIdempotencyError(err, (cause) => new WebhookInProgressError('the same delivery is in progress in another invocation', { cause }));
    }
    return { duplicate: stored.replayed, receipt: { eventId: stored.value.eventId, detailType: stored.value.detailType } };
  }
}

/**
 * {@link DeliveryDedupe.once} over several keys of the same delivery, outermost first: `publish` runs only if
 * none of them was seen, and then all of them are recorded. A delivery signed over its whole body is known
 * by its `event_id` AND by its session+status+type+timestamp, so that the same delivery replayed later with
 * X-Signature-Simple alone (which signs only the latter, with any `event_id` the replayer likes) is a
 * duplicate too. Two deliveries that share all four of those fields are one event by Didit's own dedupe
 * advice (didit-api.md §6.6). A failure releases every key (Powertools deletes IN_PROGRESS records when the
 * work throws).
 */
export async function onceForAll(
  dedupe: Pick<DeliveryDedupe, 'once'>,
  keys: readonly string[],
  context: Context,
  publish: () => Promise<PublishReceipt>,
): Promise<DedupeOutcome> {
  const [first, ...rest] = [...new Set(keys)];
  if (first === undefined) throw new RangeError('at least one dedupe key');
  if (rest.length === 0) return dedupe.once(first, context, publish);
  let innerDuplicate = false;
  const outcome = await dedupe.once(first, context, async () => {
    const inner = await onceForAll(dedupe, rest, context, publish);
    innerDuplicate = inner.duplicate;
    return inner.receipt;
  });
  return { duplicate: outcome.duplicate || innerDuplicate, receipt: outcome.receipt };
}

