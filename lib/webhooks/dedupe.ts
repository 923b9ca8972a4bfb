import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import { DedupeStoreUnavailableError, WebhookInProgressError } from './errors.ts';
import type { PublishReceipt } from './publisher.ts';

/**
 * The table layout the Powertools DynamoDB persistence layer uses by default: partition key `id` (string),
 * TTL on `expiration` (unix seconds). Records hold the key hash, a status and the stored receipt
 * ({eventId, detailType}): no payload data.
 */
export const IDEMPOTENCY_TABLE = Object.freeze({
  partitionKey: 'id',
  ttlAttribute: 'expiration',
});

/** How long an accepted delivery is remembered: Didit retries within minutes (§6.6); a day is ample. */
export const DEFAULT_DEDUPE_TTL_SECONDS = 24 * 60 * 60;

export interface DedupeOutcome {
  readonly duplicate: boolean;
  readonly receipt: PublishReceipt;
}

type StoredReceipt = PublishReceipt & { readonly duplicate?: boolean };

/**
 * "Publish at most once per delivery" with Powertools Idempotency: the first invocation for a key writes
 * an IN_PROGRESS record (conditional put), runs the publish, then stores its receipt as COMPLETED; a
 * replay finds the record and gets the stored receipt back without publishing. When the publish throws,
 * Powertools deletes the IN_PROGRESS record, so Didit's retry can try again.
 *
 * @example
 * ```ts
 * const outcome = await dedupe.once(envelope.dedupeKey, context, () => publisher.publish(type, detail));
 * if (outcome.duplicate) return ok('duplicate');
 * ```
 */
export class DeliveryDedupe {
  readonly #config: IdempotencyConfig;
  readonly #run: (work: () => Promise<StoredReceipt>, payload: { dedupeKey: string }) => Promise<StoredReceipt>;

  constructor(options: { client: DynamoDBClient; tableName: string; ttlSeconds?: number; keyPrefix?: string }) {
    this.#config = new IdempotencyConfig({
      eventKeyJmesPath: 'dedupeKey',
      throwOnNoIdempotencyKey: true,
      expiresAfterSeconds: options.ttlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS,
      // Only on the replay path: marks the stored receipt as a duplicate.
      responseHook: (response) => ({ ...(response as Record<string, string>), duplicate: true }),
    });
    const persistenceStore = new DynamoDBPersistenceLayer({
      tableName: options.tableName,
      awsSdkV3Client: options.client,
      keyAttr: IDEMPOTENCY_TABLE.partitionKey,
      expiryAttr: IDEMPOTENCY_TABLE.ttlAttribute,
    });
    this.#run = makeIdempotent(async (work: () => Promise<StoredReceipt>, _payload: { dedupeKey: string }) => work(), {
      persistenceStore,
      config: this.#config,
      // Stable across function renames and versions (the default is the function name).
      keyPrefix: options.keyPrefix ?? 'didit-webhook',
      dataIndexArgument: 1,
    });
  }

  async once(dedupeKey: string, context: Context, publish: () => Promise<PublishReceipt>): Promise<DedupeOutcome> {
    // The IN_PROGRESS record expires with this invocation, so a crashed attempt does not block retries.
    this.#config.registerLambdaContext(context);
    let stored: StoredReceipt;
    try {
      stored = await this.#run(async () => {
        const receipt = await publish();
        return { eventId: receipt.eventId, detailType: receipt.detailType };
      }, { dedupeKey });
    } catch (err) {
      throw mapIdempotencyError(err);
    }
    return { duplicate: stored.duplicate === true, receipt: { eventId: stored.eventId, detailType: stored.detailType } };
  }
}

function mapIdempotencyError(err: unknown): unknown {
  const name = err instanceof Error ? err.name : '';
  switch (name) {
    case 'IdempotencyAlreadyInProgressError':
      return new WebhookInProgressError('the same delivery is in progress in another invocation', { cause: err });
    case 'IdempotencyPersistenceLayerError':
    case 'IdempotencyInconsistentStateError':
    case 'IdempotencyUnknownError':
      return new DedupeStoreUnavailableError(`dedupe store failed (${name})`, { cause: err });
    default:
      // The publish's own error (EventPublishError), passed through unchanged.
      return err;
  }
}
