import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createDependencies, type GatewayDependencies } from '../../runtime/dependencies.ts';
import { DeliveryDedupe } from '../../idempotency/delivery-dedupe.ts';
import type { EventPublisher } from '../../events/publisher.ts';
import { loadSignupConfig, type SignupConfig } from './config.ts';
import { createGatewayPublisher } from '../../events/gateway-publisher.ts';

/** Idempotency-record prefix of handled sign-up events in the shared table. */
export const SIGNUP_KEY_PREFIX = 'didit-signup';

/** What `onSignup` needs, built once per execution environment. */
export interface SignupDependencies {
  readonly config: SignupConfig;
  /** The sealed key and the Didit client: the same as every operation function's. */
  readonly gateway: GatewayDependencies;
  /** "Create and publish" at most once per EventBridge event id. */
  readonly dedupe: Pick<DeliveryDedupe, 'once'>;
  readonly publisher: Pick<EventPublisher, 'publish'>;
}

export interface SignupClients {
  readonly dynamodb?: DynamoDBClient;
  readonly eventBridge?: EventBridgeClient;
  readonly gateway?: GatewayDependencies;
}

export function createSignupDependencies(config: SignupConfig = loadSignupConfig(), clients: SignupClients = {}): SignupDependencies {
  const dynamodb = clients.dynamodb ?? new DynamoDBClient({ region: config.region, maxAttempts: 3 });
  const eventBridge = clients.eventBridge ?? new EventBridgeClient({ region: config.region, maxAttempts: 3 });
  return {
    config,
    gateway: clients.gateway ?? createDependencies(),
    dedupe: new DeliveryDedupe({ client: dynamodb, tableName: config.idempotencyTable, keyPrefix: SIGNUP_KEY_PREFIX, ttlSeconds: config.dedupeTtlSeconds }),
    publisher: createGatewayPublisher({ client: eventBridge, busName: config.eventBusName }),
  };
}

let shared: SignupDependencies | undefined;

/** Lazily built on first use, so a configuration error fails that invocation (retried), not the import. */
export function sharedSignupDependencies(): SignupDependencies {
  shared ??= createSignupDependencies();
  return shared;
}
