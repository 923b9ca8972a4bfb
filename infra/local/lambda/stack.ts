/**
 * The packaged template's resources, created on the emulators for the Lambda sandbox: the KMS key and the
 * two sealed secrets (the Didit key and the webhook secret, both under that key with their own encryption
 * context), the DynamoDB tables, the event bus, the jobs queue with its dead-letter queue and the trigger
 * dead-letter queue. Queue attributes (visibility timeout, redrive, long polling) come from the template.
 * The answer is the {@link ResourceMap} the sandbox resolves the functions' environments with.
 *
 * Names carry a random suffix so runs sharing an emulator do not collide.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, DeleteEventBusCommand, DeleteRuleCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, EncryptCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutBucketNotificationConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createJobsTable, deleteJobsTable } from '../../../lib/adapters/jobs/store.ts';
import { encryptionContextFor, SERVICE_NAME } from '../../../lib/sealed-key/encryption-context.ts';
import { createIdempotencyTable, deleteIdempotencyTable } from '../../../lib/idempotency/table.ts';
import type { Emulator } from '../emulator.ts';
import { admitRulesToQueue } from './queue-policy.ts';
import { kmsClientFor, provisionSealedKey, secretsClientFor, teardownSealedKey, type SealedKeyResources } from '../provision.ts';
import {
  readEventRule,
  readFunction,
  readQueue,
  readS3Notification,
  resolveValue,
  type PackagedTemplate,
  type ResourceMap,
} from './template.ts';

export interface LambdaStackOptions {
  readonly template: PackagedTemplate;
  /** The stage the package was built for (its functions' STAGE: part of the encryption context). */
  readonly stage: string;
  readonly apiKey: Uint8Array;
  readonly webhookSecret?: Uint8Array;
  /** DynamoDB endpoint (moto beside host-mode LocalStack). */
  readonly dynamodbEndpoint: string;
  /**
   * Test-only: a shorter visibility timeout for the jobs queue than the template's (540 s), so a redelivery
   * (and the redrive after maxReceiveCount) happens within a test. Everything else is the template's.
   */
  readonly jobsVisibilityTimeoutSeconds?: number;
}

export interface LambdaStack {
  readonly resources: ResourceMap;
  readonly sealed: SealedKeyResources;
  readonly queues: {
    jobs: QueueRef;
    jobsDlq: QueueRef;
    triggerDlq: QueueRef;
    events: QueueRef;
    /** Where the intake bucket's notification (the template's filter) delivers, for the onUpload mapper. */
    uploads: QueueRef;
    /** The sign-up rule's target (the template's pattern), for the onSignup mapper. */
    signups: QueueRef;
  };
  readonly uploadBucket: string;
  /** The event bus the sign-up rule listens on, and the rule's name. */
  readonly signupBus: string;
  readonly tables: { jobs: string; idempotency: string };
  readonly eventBusName: string;
  /** The environment every sandboxed function gets on top of its own: emulator endpoints and credentials. */
  readonly overrides: Record<string, string>;
  teardown(): Promise<void>;
}

export interface QueueRef {
  readonly url: string;
  readonly arn: string;
}

export async function provisionLambdaStack(em: Emulator, opts: LambdaStackOptions): Promise<LambdaStack> {
  const suffix = randomBytes(4).toString('hex');
  const config = (endpoint: string) => ({ endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });
  const sqs = new SQSClient(config(em.endpoint));
  const events = new EventBridgeClient(config(em.endpoint));
  const dynamodb = new DynamoDBClient(config(opts.dynamodbEndpoint));
  const undo: (() => Promise<unknown>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    for (const c of [sqs, events, dynamodb]) c.destroy();
  };
  try {
    const sealed = await provisionSealedKey(em, { stage: opts.stage, apiKey: opts.apiKey });
    undo.push(() => teardownSealedKey(em, sealed));

    // The webhook secret under the same key (DiditSecretsKey), with its own purpose in the context.
    let webhookSecretId = `didit-kms-gateway/${opts.stage}/webhook-unset-${suffix}`;
    if (opts.webhookSecret) {
      const kms = kmsClientFor(em);
      const sm = secretsClientFor(em);
      try {
        const sealedSecret = await kms.send(
          new EncryptCommand({
            KeyId: sealed.kmsKeyId,
            Plaintext: opts.webhookSecret,
            EncryptionContext: { ...encryptionContextFor({ service: SERVICE_NAME, stage: opts.stage, purpose: 'didit-webhook-secret' }) },
          }),
        );
        webhookSecretId = `didit-kms-gateway/${opts.stage}/didit-webhook-secret-${suffix}`;
        await sm.send(new CreateSecretCommand({ Name: webhookSecretId, KmsKeyId: sealed.kmsKeyArn, SecretBinary: sealedSecret.CiphertextBlob }));
        const id = webhookSecretId;
        undo.push(async () => {
          const c = secretsClientFor(em);
          await c.send(new DeleteSecretCommand({ SecretId: id, ForceDeleteWithoutRecovery: true })).finally(() => c.destroy());
        });
      } finally {
        kms.destroy();
        sm.destroy();
      }
    }

    const tables = { jobs: `didit-lambda-jobs-${suffix}`, idempotency: `didit-lambda-idempotency-${suffix}` };
    await Promise.all([createJobsTable(dynamodb, tables.jobs), createIdempotencyTable(dynamodb, tables.idempotency)]);
    undo.push(async () => {
      const c = new DynamoDBClient(config(opts.dynamodbEndpoint));
      await deleteJobsTable(c, tables.jobs).catch(() => undefined);
      await deleteIdempotencyTable(c, tables.idempotency).catch(() => undefined);
      c.destroy();
    });

    const createQueue = async (name: string, attributes: Record<string, string>): Promise<QueueRef> => {
      const url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl;
      if (!url) throw new Error(`CreateQueue ${name} returned no URL`);
      undo.push(() => new SQSClient(config(em.endpoint)).send(new DeleteQueueCommand({ QueueUrl: url })));
      const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
      if (!arn) throw new Error(`no ARN for ${name}`);
      return { url, arn };
    };
    const jobsDef = readQueue(opts.template, 'JobsQueue');
    if (!jobsDef.redrive) throw new Error('JobsQueue has no RedrivePolicy in the packaged template');
    const dlqDef = readQueue(opts.template, jobsDef.redrive.deadLetterLogicalId);
    const jobsDlq = await createQueue(`didit-lambda-jobs-dlq-${suffix}`, { VisibilityTimeout: String(dlqDef.visibilityTimeout) });
    const jobs = await createQueue(`didit-lambda-jobs-${suffix}`, {
      VisibilityTimeout: String(opts.jobsVisibilityTimeoutSeconds ?? jobsDef.visibilityTimeout),
      ReceiveMessageWaitTimeSeconds: String(jobsDef.receiveMessageWaitTimeSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: jobsDlq.arn, maxReceiveCount: jobsDef.redrive.maxReceiveCount }),
    });
    const triggerDlq = await createQueue(`didit-lambda-trigger-dlq-${suffix}`, {});

    // The stack's bus, and a queue that receives everything published on it (outcome events, counted by tests).
    const eventBusName = `didit-lambda-${suffix}`;
    await events.send(new CreateEventBusCommand({ Name: eventBusName }));
    undo.push(() => new EventBridgeClient(config(em.endpoint)).send(new DeleteEventBusCommand({ Name: eventBusName })));
    const eventsQueue = await createQueue(`didit-lambda-events-${suffix}`, {});
    // A bus rule delivering to a queue, as the stack's rules deliver (the queue admits only that rule).
    const routeRuleToQueue = async (name: string, bus: string, pattern: unknown, queue: { url: string; arn: string }, targetId: string) => {
      const rule = await events.send(new PutRuleCommand({ Name: name, EventBusName: bus, EventPattern: JSON.stringify(pattern) }));
      await admitRulesToQueue(sqs, queue, [rule.RuleArn ?? '']);
      await events.send(new PutTargetsCommand({ Rule: name, EventBusName: bus, Targets: [{ Id: targetId, Arn: queue.arn }] }));
      undo.push(async () => {
        const c = new EventBridgeClient(config(em.endpoint));
        await c.send(new RemoveTargetsCommand({ Rule: name, EventBusName: bus, Ids: [targetId] })).catch(() => undefined);
        await c.send(new DeleteRuleCommand({ Name: name, EventBusName: bus })).catch(() => undefined);
        c.destroy();
      });
    };
    await routeRuleToQueue(`didit-lambda-all-${suffix}`, eventBusName, { source: [{ prefix: 'didit' }] }, eventsQueue, 'all');

    const accountId = /^arn:aws:sqs:[^:]+:(\d+):/.exec(jobs.arn)?.[1] ?? '000000000000';

    // Uploads: the UploadsKey, the intake bucket under its template name, its notification (the template's
    // prefix/suffix filter) to a queue the onUpload mapper reads (emulators cannot invoke Lambda).
    const kms = kmsClientFor(em);
    const uploadsKey = await kms.send(new CreateKeyCommand({ Description: 'didit-kms-gateway sandbox uploads key' }));
    const uploadsKeyId = uploadsKey.KeyMetadata?.KeyId;
    kms.destroy();
    undo.push(async () => {
      const c = kmsClientFor(em);
      await c.send(new ScheduleKeyDeletionCommand({ KeyId: uploadsKeyId, PendingWindowInDays: 7 })).finally(() => c.destroy());
    });
    const onUpload = readFunction(opts.template, 'onUpload');
    const notification = readS3Notification(opts.template, onUpload);
    const bucketProps = (opts.template.resources[notification.bucketLogicalId]?.Properties ?? {}) as Record<string, unknown>;
    const uploadBucket = resolveValue(bucketProps['BucketName'], { region: em.region, accountId, refs: {} }, 'UploadIntakeBucket.BucketName');
    const s3 = new S3Client({ ...config(em.endpoint), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: uploadBucket }));
    undo.push(async () => {
      const c = new S3Client({ ...config(em.endpoint), forcePathStyle: true });
      const listed = await c.send(new ListObjectsV2Command({ Bucket: uploadBucket })).catch(() => undefined);
      const keys = (listed?.Contents ?? []).map((o) => ({ Key: o.Key }));
      if (keys.length > 0) await c.send(new DeleteObjectsCommand({ Bucket: uploadBucket, Delete: { Objects: keys } })).catch(() => undefined);
      await c.send(new DeleteBucketCommand({ Bucket: uploadBucket })).finally(() => c.destroy());
    });
    const uploads = await createQueue(`didit-lambda-uploads-${suffix}`, {});
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: uploads.url,
        Attributes: {
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Principal: { Service: 's3.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: uploads.arn }],
          }),
        },
      }),
    );
    await s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: uploadBucket,
        NotificationConfiguration: {
          QueueConfigurations: [
            {
              Id: 'intake-manifests',
              QueueArn: uploads.arn,
              Events: notification.events as never,
              Filter: {
                Key: {
                  FilterRules: [
                    ...(notification.prefix ? [{ Name: 'prefix' as const, Value: notification.prefix }] : []),
                    ...(notification.suffix ? [{ Name: 'suffix' as const, Value: notification.suffix }] : []),
                  ],
                },
              },
            },
          ],
        },
      }),
    );
    s3.destroy();

    // Sign-up: the template's rule (name suffixed, pattern as packaged) with a queue target.
    const signupRule = readEventRule(opts.template, readFunction(opts.template, 'onSignup'));
    const signupBus = `didit-lambda-app-${suffix}`;
    await events.send(new CreateEventBusCommand({ Name: signupBus }));
    undo.push(() => new EventBridgeClient(config(em.endpoint)).send(new DeleteEventBusCommand({ Name: signupBus })));
    const signups = await createQueue(`didit-lambda-signups-${suffix}`, {});
    const signupRuleName = `${signupRule.name}-${suffix}`;
    await routeRuleToQueue(signupRuleName, signupBus, signupRule.eventPattern, signups, 'signups');

    const resources: ResourceMap = {
      region: em.region,
      accountId,
      refs: {
        DiditApiKeySecret: sealed.secretId,
        DiditWebhookSecret: webhookSecretId,
        WebhookIdempotencyTable: tables.idempotency,
        DiditEventBus: eventBusName,
        JobsTable: tables.jobs,
        JobsQueue: jobs.url,
        JobsDeadLetterQueue: jobsDlq.url,
        TriggerDeadLetterQueue: triggerDlq.url,
        UploadIntakeBucket: uploadBucket,
      },
      attributes: {
        'DiditSecretsKey.Arn': sealed.kmsKeyArn,
        'JobsQueue.Arn': jobs.arn,
        'JobsDeadLetterQueue.Arn': jobsDlq.arn,
        'TriggerDeadLetterQueue.Arn': triggerDlq.arn,
        'UploadsKey.Arn': uploadsKey.KeyMetadata?.Arn ?? '',
      },
    };
    return {
      resources,
      sealed,
      queues: { jobs, jobsDlq, triggerDlq, events: eventsQueue, uploads, signups },
      uploadBucket,
      signupBus,
      tables,
      eventBusName,
      overrides: {
        AWS_ENDPOINT_URL: em.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: opts.dynamodbEndpoint,
        AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
        AWS_SESSION_TOKEN: 'sandbox',
        // Emulator only: its S3 answers path-style URLs (the deployment signs virtual-hosted ones).
        S3_FORCE_PATH_STYLE: 'true',
        // The explicit local-emulator switch: without it a function refuses a plain-http AWS endpoint at start.
        DIDIT_LOCAL_EMULATOR: '1',
      },
      teardown: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

