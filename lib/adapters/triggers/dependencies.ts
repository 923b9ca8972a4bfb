import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { awsClientConfig } from '../../config/aws-clients.ts';
import { createDependencies, lazily, type GatewayDependencies, type TriggerClients } from '../../runtime/dependencies.ts';
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

export type SignupClients = TriggerClients;

export function createSignupDependencies(config: SignupConfig = loadSignupConfig(), clients: SignupClients = {}): SignupDependencies {
  const dynamodb = clients.dynamodb ?? new DynamoDBClient(awsClientConfig(config.region));
  const eventBridge = clients.eventBridge ?? new EventBridgeClient(awsClientConfig(config.region));
  return {
    config,
    gateway: clients.gateway ?? createDependencies(),
    dedupe: new DeliveryDedupe({ client: dynamodb, tableName: config.idempotencyTable, keyPrefix: SIGNUP_KEY_PREFIX, ttlSeconds: config.dedupeTtlSeconds }),
    publisher: createGatewayPublisher({ client: eventBridge, busName: config.eventBusName }),
  };
}

/** The sign-up function's composition root: built on first use (a configuration error fails that invocation, retried). */
export const sharedSignupDependencies: () => SignupDependencies = lazily(() => createSignupDependencies());
