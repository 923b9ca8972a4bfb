import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createSecureKmsClient } from '../../kms/client.ts';
import { createDependencies, type GatewayDependencies } from '../../runtime/dependencies.ts';
import { CiphertextSource } from '../../sealed-key/ciphertext-source.ts';
import { encryptionContextFor, type EncryptionContext } from '../../sealed-key/encryption-context.ts';
import { SealedKey } from '../../sealed-key/sealed-key.ts';
import { loadWebhookConfig, type WebhookConfig } from './config.ts';
import { ApiDecisionSource, type DecisionSource } from './decision.ts';
import { DeliveryDedupe } from '../../idempotency/delivery-dedupe.ts';
import { EventPublisher } from '../../events/publisher.ts';
import { EVENT_SOURCE } from './event-mapping.ts';

/** What the webhook handler needs, built once per execution environment and reused by warm invocations. */
export interface WebhookDependencies {
  readonly config: WebhookConfig;
  readonly encryptionContext: EncryptionContext;
  /** The webhook secret, sealed: decrypted per delivery into secure memory, zeroed after verification. */
  readonly secret: Pick<SealedKey, 'withKey'>;
  /** Where `secret` reads its ciphertext from (refreshed when a rotation is suspected). */
  readonly secretSource: Pick<CiphertextSource, 'get' | 'refresh'>;
  readonly dedupe: Pick<DeliveryDedupe, 'once'>;
  readonly publisher: Pick<EventPublisher, 'publish'>;
  /**
   * Didit's decision for deliveries signed by X-Signature-Simple alone (lib/adapters/webhooks/decision.ts): the sealed
   * API key (purpose didit-api-key) and the Didit client, built on first use only.
   */
  readonly decisions: DecisionSource;
  /** Clock in milliseconds (tests move it). */
  readonly now: () => number;
}

export interface WebhookClients {
  readonly dynamodb?: DynamoDBClient;
  readonly eventBridge?: EventBridgeClient;
  readonly secretsManager?: SecretsManagerClient;
  /** The sealed API key and Didit client for decision fetches; default built from the environment on first use. */
  readonly gateway?: GatewayDependencies;
}

/**
 * Builds the dependencies. AWS endpoints come from the SDK's usual environment (`AWS_ENDPOINT_URL`,
 * `AWS_ENDPOINT_URL_DYNAMODB`, …) unless clients are passed in.
 */
export function createWebhookDependencies(
  config: WebhookConfig = loadWebhookConfig(),
  clients: WebhookClients = {},
  now: () => number = Date.now,
): WebhookDependencies {
  const encryptionContext = encryptionContextFor({ service: config.service, stage: config.stage, purpose: 'didit-webhook-secret' });
  const { client: kms } = createSecureKmsClient({ region: config.region });
  const secrets = clients.secretsManager ?? new SecretsManagerClient({ region: config.region, maxAttempts: 3 });
  const secretSource = new CiphertextSource({ client: secrets, secretId: config.webhookSecretSecretId, ttlMs: config.ciphertextTtlMs });
  // Didit's secret is a 43-character URL-safe token; the bounds only catch garbage.
  const secret = new SealedKey({ kms, source: secretSource, encryptionContext, kmsKeyId: config.kmsKeyId, minLength: 16, maxLength: 256 });
  const dynamodb = clients.dynamodb ?? new DynamoDBClient({ region: config.region, maxAttempts: 3 });
  const dedupe = new DeliveryDedupe({ client: dynamodb, tableName: config.idempotencyTable, ttlSeconds: config.dedupeTtlSeconds });
  const eventBridge = clients.eventBridge ?? new EventBridgeClient({ region: config.region, maxAttempts: 3 });
  const publisher = new EventPublisher({ client: eventBridge, busName: config.eventBusName, source: EVENT_SOURCE });
  let gateway = clients.gateway;
  const decisions = new ApiDecisionSource(() => {
    gateway ??= createDependencies();
    return gateway;
  });
  return { config, encryptionContext, secret, secretSource, dedupe, publisher, decisions, now };
}

let shared: WebhookDependencies | undefined;

/** Lazily built on first use, so a configuration error is a 500 for that call, not a crash at import. */
export function sharedWebhookDependencies(): WebhookDependencies {
  shared ??= createWebhookDependencies();
  return shared;
}
