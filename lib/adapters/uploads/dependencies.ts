import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { checkAwsEndpoints } from '../../config/env.ts';
import { awsClientConfig } from '../../config/aws-clients.ts';
import { createDependencies, lazily, type GatewayDependencies, type TriggerClients } from '../../runtime/dependencies.ts';
import { createGatewayPublisher } from '../../events/gateway-publisher.ts';
import { OutcomeStore } from '../../idempotency/outcome-store.ts';
import { DeliveryDedupe } from '../../idempotency/delivery-dedupe.ts';
import type { EventPublisher } from '../../events/publisher.ts';
import { loadIntakeConfig, loadPresignConfig, type IntakeConfig, type PresignConfig } from './config.ts';
import { createS3Client, IntakeObjects } from './objects.ts';
import type { UploadOutcome } from './outcome.ts';

/** Idempotency-record prefixes (records of the shared table are told apart by them). */
export const UPLOAD_OUTCOME_KEY_PREFIX = 'didit-upload';
export const UPLOAD_EVENT_KEY_PREFIX = 'didit-upload-event';

/** What `onUpload` needs, built once per execution environment. */
export interface IntakeDependencies {
  readonly config: IntakeConfig;
  /** The sealed key and the Didit client: the same as every operation function's. */
  readonly gateway: GatewayDependencies;
  readonly objects: Pick<IntakeObjects, 'head' | 'read' | 'deletePrefix'>;
  /** The Didit call of an upload, at most once per manifest version. */
  readonly outcomes: Pick<OutcomeStore<UploadOutcome>, 'once'>;
  /** The result event, at most once per manifest version. */
  readonly published: Pick<DeliveryDedupe, 'once'>;
  readonly publisher: Pick<EventPublisher, 'publish'>;
}

export interface IntakeClients extends TriggerClients {
  readonly s3?: S3Client;
}

/** AWS endpoints come from the SDK's usual environment (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, …) unless clients are passed. */
export function createIntakeDependencies(config: IntakeConfig = loadIntakeConfig(), clients: IntakeClients = {}): IntakeDependencies {
  const s3 = clients.s3 ?? createS3Client(config);
  const dynamodb = clients.dynamodb ?? new DynamoDBClient(awsClientConfig(config.region));
  const eventBridge = clients.eventBridge ?? new EventBridgeClient(awsClientConfig(config.region));
  return {
    config,
    gateway: clients.gateway ?? createDependencies(),
    objects: new IntakeObjects({ s3, bucket: config.bucket }),
    outcomes: new OutcomeStore<UploadOutcome>({
      client: dynamodb,
      tableName: config.idempotencyTable,
      keyPrefix: UPLOAD_OUTCOME_KEY_PREFIX,
      ttlSeconds: config.outcomeTtlSeconds,
    }),
    published: new DeliveryDedupe({ client: dynamodb, tableName: config.idempotencyTable, keyPrefix: UPLOAD_EVENT_KEY_PREFIX, ttlSeconds: config.outcomeTtlSeconds }),
    publisher: createGatewayPublisher({ client: eventBridge, busName: config.eventBusName }),
  };
}

/** The upload intake's composition root: built on first use (a configuration error fails that invocation, retried). */
export const sharedIntakeDependencies: () => IntakeDependencies = lazily(() => createIntakeDependencies());

/** What `createUploadUrl` needs: an S3 client to sign with (its role's credentials sign the URLs), a clock. */
export interface PresignDependencies {
  readonly config: PresignConfig;
  readonly s3: S3Client;
  readonly now: () => number;
  readonly newUploadId: () => string;
}

/** The composition root of `createUploadUrl`: no key path at all (no KMS, no Secrets Manager, no Didit). */
export function createPresignDependencies(config: PresignConfig = loadPresignConfig(), s3?: S3Client): PresignDependencies {
  // The only entry point without a KMS client: its own startup check (a plain-http S3 endpoint would hand
  // callers upload URLs that carry identity documents in clear).
  checkAwsEndpoints();
  return { config, s3: s3 ?? createS3Client(config), now: Date.now, newUploadId: () => crypto.randomUUID() };
}

/** Built on first use (a configuration error is a 500 for that call, not a crash at import). */
export const sharedPresignDependencies: () => PresignDependencies = lazily(() => createPresignDependencies());
