import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createSecureKmsClient } from '../../kms/client.ts';
import { awsClientConfig } from '../../config/aws-clients.ts';
import { createDependencies, lazily, sealedSecret, type TriggerClients } from '../../runtime/dependencies.ts';
import type { CiphertextSource } from '../../sealed-key/ciphertext-source.ts';
import type { EncryptionContext } from '../../sealed-key/encryption-context.ts';
import type { SealedKey } from '../../sealed-key/sealed-key.ts';
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

/** `gateway` (decision fetches) is built on first use here, not with the rest. */
export interface WebhookClients extends TriggerClients {
  readonly secretsManager?: SecretsManagerClient;
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
  const { client: kms } = createSecureKmsClient({ region: config.region });
  const {
    encryptionContext,
    source: secretSource,
    sealed: secret,
  } = sealedSecret({
    config: { ...config, secretId: config.webhookSecretSecretId },
    purpose: 'didit-webhook-secret',
    kms,
    secretsManager: clients.secretsManager,
    // Didit's secret is a 43-character URL-safe token; the bounds only catch garbage.
    bounds: { minLength: 16, maxLength: 256 },
  });
  const dynamodb = clients.dynamodb ?? new DynamoDBClient(awsClientConfig(config.region));
  const dedupe = new DeliveryDedupe({ client: dynamodb, tableName: config.idempotencyTable, ttlSeconds: config.dedupeTtlSeconds });
  const eventBridge = clients.eventBridge ?? new EventBridgeClient(awsClientConfig(config.region));
  const publisher = new EventPublisher({ client: eventBridge, busName: config.eventBusName, source: EVENT_SOURCE });
  let gateway = clients.gateway;
  const decisions = new ApiDecisionSource(() => {
    gateway ??= createDependencies();
    return gateway;
  });
  return { config, encryptionContext, secret, secretSource, dedupe, publisher, decisions, now };
}

/** The webhook function's composition root: built on first use (a configuration error is a 500 for that call). */
export const sharedWebhookDependencies: () => WebhookDependencies = lazily(() => createWebhookDependencies());
