import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { KMSClient } from '@aws-sdk/client-kms';
import { PersistentOnce } from '../../idempotency/persistent-once.ts';
import { createSecureKmsClient } from '../../kms/client.ts';
import { awsClientConfig } from '../../config/aws-clients.ts';
import { lazily } from '../../runtime/dependencies.ts';
import { encryptionContextFor } from '../../sealed-key/encryption-context.ts';
import { EventPublisher } from '../../events/publisher.ts';
import { loadJobConfig, requireSetting, type JobConfig } from './config.ts';
import { JobQueueUnavailableError } from './errors.ts';
import { JOB_EVENT_SOURCE } from './events.ts';
import { ResultCrypto } from './result-crypto.ts';
import { JobStore, type JobOutcome } from './store.ts';

/** Sends one job message. */
export interface JobQueue {
  send(body: string, options?: { abortSignal?: AbortSignal }): Promise<void>;
}

/** What the job functions need, built once per execution environment and reused by warm invocations. */
export interface JobDependencies {
  readonly config: JobConfig;
  readonly store: Pick<JobStore, 'create' | 'get' | 'delete' | 'beginCall' | 'endCall' | 'complete' | 'markNotified'>;
  readonly queue: JobQueue;
  readonly results: Pick<ResultCrypto, 'sealer' | 'open'>;
  /** The worker's "call Didit at most once per job" (Powertools Idempotency, shared table); built on first use. */
  readonly once: () => Pick<PersistentOnce<JobOutcome>, 'run'>;
  readonly publisher: Pick<EventPublisher, 'publish'>;
  /** Clock in milliseconds (tests move it). */
  readonly now: () => number;
}

export interface JobClients {
  readonly dynamodb?: DynamoDBClient;
  readonly sqs?: SQSClient;
  readonly eventBridge?: EventBridgeClient;
  /** Must come from `createSecureKmsClient` (data keys are captured into secure memory). */
  readonly kms?: KMSClient;
}

/**
 * Builds the dependencies. AWS endpoints come from the SDK's usual environment (`AWS_ENDPOINT_URL`,
 * `AWS_ENDPOINT_URL_DYNAMODB`, …) unless clients are passed in. Settings an entry point does not need may
 * be absent; using a part whose setting is missing throws a ConfigError (a 500 for that call).
 */
export function createJobDependencies(config: JobConfig = loadJobConfig(), clients: JobClients = {}, now: () => number = Date.now): JobDependencies {
  const dynamodb = clients.dynamodb ?? new DynamoDBClient(awsClientConfig(config.region));
  const sqs = clients.sqs ?? new SQSClient(awsClientConfig(config.region));
  const eventBridge = clients.eventBridge ?? new EventBridgeClient(awsClientConfig(config.region));
  const kms = clients.kms ?? createSecureKmsClient({ region: config.region }).client;
  const store = new JobStore({ client: dynamodb, tableName: config.jobsTable });
  const results = new ResultCrypto({
    kms,
    encryptionContext: encryptionContextFor({ service: config.service, stage: config.stage, purpose: 'didit-job-result' }),
    keyId: config.resultKmsKeyId,
  });
  const queue: JobQueue = {
    async send(body, options = {}) {
      const queueUrl = requireSetting(config.queueUrl, 'JOBS_QUEUE_URL');
      try {
        await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }), { abortSignal: options.abortSignal });
      } catch (err) {
        throw new JobQueueUnavailableError(`SQS SendMessage failed (${err instanceof Error ? err.name : 'unknown'})`, { cause: err });
      }
    },
  };
  const publisher = new EventPublisher({ client: eventBridge, busName: config.eventBusName ?? '', source: JOB_EVENT_SOURCE });
  return {
    config,
    store,
    queue,
    results,
    once: lazily(
      () =>
        new PersistentOnce<JobOutcome>({
          client: dynamodb,
          tableName: requireSetting(config.idempotencyTable, 'IDEMPOTENCY_TABLE'),
          // At least as long as a message can live in the queue and its dead-letter queue's redrive window.
          ttlSeconds: config.ttlSeconds,
          keyPrefix: 'didit-job',
        }),
    ),
    publisher,
    now,
  };
}

/** The job functions' composition root (submitJob, getJob, worker): built on first use (a configuration error fails that call). */
export const sharedJobDependencies: () => JobDependencies = lazily(() => createJobDependencies());
