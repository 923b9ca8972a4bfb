import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeContinuousBackupsCommand, DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CloudWatchLogsClient, DescribeLogGroupsCommand, type LogGroup } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DescribeKeyCommand, GetKeyRotationStatusCommand, KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms';
import {
  DeleteObjectCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketLoggingCommand,
  GetBucketNotificationConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DescribeSecretCommand, GetResourcePolicyCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployLocal, type DeployedLocal, removeLocal, type LocalTarget } from '../../infra/local/deploy-local.ts';
import { functionAccess } from '../../infra/serverless/access.ts';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import { decryptToSecureBuffer } from '../../lib/kms/decrypt.ts';
import { KmsInvalidCiphertextError } from '../../lib/errors/index.ts';
import { encryptionContextFor } from '../../lib/sealed-key/encryption-context.ts';
import { sealIntoSecret } from '../../lib/sealed-key/seal.ts';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import { testDynamoDbEndpoint, testEmulator } from '../support/aws.ts';

// `npm run deploy:local` against the shared emulator: the stack's non-Lambda resources, from the packaged
// template, deployed with the emulator's CloudFormation (LocalStack 4.14 core). moto has no CloudFormation
// worth the name for this template, so the suite runs on LocalStack only. Lambda functions are not
// deployed: LocalStack runs Lambda code only in Docker.
const em = testEmulator();

async function isLocalStack(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(3_000) });
    return res.ok && 'services' in ((await res.json()) as object);
  } catch {
    return false;
  }
}

const onLocalStack = await isLocalStack(em.endpoint);
// A stage of our own: the names (alias, secrets, log groups, table, bus) then cannot collide with other files.
const STAGE = `dl${randomBytes(3).toString('hex')}`;
const target: LocalTarget = {
  endpoint: em.endpoint,
  dynamodbEndpoint: onLocalStack ? testDynamoDbEndpoint() : em.endpoint,
  region: em.region,
  credentials: { ...em.credentials },
};
const clientConfig = { endpoint: em.endpoint, region: em.region, credentials: { ...em.credentials } };
let deployed: DeployedLocal | undefined;
let packageDir: string | undefined;
const log: string[] = [];

describe.skipIf(!onLocalStack)(`deploy:local to LocalStack (stage ${STAGE}; skipped on moto: it has no CloudFormation for this template)`, () => {
  beforeAll(async () => {
    // The secure KMS client takes its credentials from the environment, like the functions.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: em.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey });
    const t0 = Date.now();
    packageDir = mkdtempSync(join(tmpdir(), 'didit-deploy-local-'));
    deployed = await deployLocal({ ...target, stage: STAGE, packageDir, log: (line) => log.push(line) });
    process.stderr.write(
      `[deploy-local] stage ${STAGE}: ${deployed.resources.length} stack resources + ${deployed.tables.length} tables in ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
        `(package ${(deployed.timings.packageMs / 1000).toFixed(1)} s, table ${(deployed.timings.tableMs / 1000).toFixed(1)} s, stack ${(deployed.timings.stackMs / 1000).toFixed(1)} s)\n`,
    );
  }, 240_000);

  afterAll(async () => {
    try {
      if (deployed) await removeLocal(target, deployed);
    } finally {
      if (packageDir) rmSync(packageDir, { recursive: true, force: true });
    }
  }, 120_000);

  const physical = (logicalId: string): string => {
    const r = deployed!.resources.find((x) => x.LogicalResourceId === logicalId);
    if (!r?.PhysicalResourceId) throw new Error(`${logicalId} was not created (${log.slice(-5).join(' | ')})`);
    return r.PhysicalResourceId;
  };

  it('leaves out exactly what cannot run or exist here, and says why', () => {
    const skippedTypes = new Set(deployed!.skipped.map((s) => s.type));
    expect(skippedTypes).toContain('AWS::Lambda::Function');
    expect(skippedTypes).toContain('AWS::ApiGateway::RestApi');
    // The event-driven functions' wiring goes with them; serverless's deployment bucket stays out.
    for (const type of ['AWS::Lambda::EventSourceMapping', 'AWS::Lambda::EventInvokeConfig', 'AWS::Events::Rule']) expect(skippedTypes).toContain(type);
    expect(deployed!.skipped.map((s) => s.logicalId)).toEqual(expect.arrayContaining(['ServerlessDeploymentBucket', 'ServerlessDeploymentBucketPolicy']));
    // The one property changed for the emulator: the bucket notification to onUpload (not deployed).
    // And the access-log bucket's policy, which names serverless's deployment bucket as a log source.
    expect(deployed!.adjusted).toEqual([
      { logicalId: 'UploadIntakeBucket', change: expect.stringMatching(/OnUploadLambdaFunction dropped/) },
      { logicalId: 'AccessLogsBucketPolicy', change: expect.stringMatching(/deployment bucket .* placeholder/) },
    ]);
    for (const s of deployed!.skipped) expect(s.reason.length).toBeGreaterThan(5);
    // Every kept resource made it into the stack.
    expect(deployed!.resources.map((r) => r.LogicalResourceId).sort()).toEqual(Object.keys(deployed!.template.Resources).filter((id) => {
      const res = deployed!.template.Resources[id]!;
      return res.Condition === undefined; // ApiGatewayCloudWatchRole is conditional and off by default
    }).sort());
  });

  it('the secrets key: symmetric, enabled, rotation on, alias/didit-kms-gateway-<stage> points at it', async () => {
    const kms = new KMSClient(clientConfig);
    try {
      const keyId = physical('DiditSecretsKey');
      const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
      expect(KeyMetadata).toMatchObject({ KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', Enabled: true });
      expect((await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled).toBe(true);
      const { Aliases } = await kms.send(new ListAliasesCommand({ KeyId: keyId }));
      expect(Aliases?.map((a) => a.AliasName)).toContain(`alias/didit-kms-gateway-${STAGE}`);
      // The log key is another key.
      expect(physical('DiditLogsKey')).not.toBe(keyId);
      expect(deployed!.outputs['DiditSecretsKeyArn']).toBe(KeyMetadata?.Arn);
    } finally {
      kms.destroy();
    }
  });

  it('both secrets exist, encrypted with that key, with their resource policies, and no value yet', async () => {
    const sm = new SecretsManagerClient(clientConfig);
    const kms = new KMSClient(clientConfig);
    try {
      const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: physical('DiditSecretsKey') }));
      for (const [logicalId, name] of [
        ['DiditApiKeySecret', `didit-kms-gateway/${STAGE}/didit-api-key`],
        ['DiditWebhookSecret', `didit-kms-gateway/${STAGE}/didit-webhook-secret`],
      ] as const) {
        const d = await sm.send(new DescribeSecretCommand({ SecretId: physical(logicalId) }));
        expect(d.Name).toBe(name);
        expect([KeyMetadata?.KeyId, KeyMetadata?.Arn]).toContain(d.KmsKeyId);
        // Created empty: `didit-kms-gateway seal` writes the first version.
        await expect(sm.send(new GetSecretValueCommand({ SecretId: d.ARN }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
        const policy = JSON.parse((await sm.send(new GetResourcePolicyCommand({ SecretId: d.ARN }))).ResourcePolicy ?? '{}') as {
          Statement: Array<{ Effect: string }>;
        };
        expect(policy.Statement.map((s) => s.Effect)).toEqual(['Deny', 'Deny']);
      }
    } finally {
      sm.destroy();
      kms.destroy();
    }
  });

  it('every function log group and the access log group exist, with retention and the logs key', async () => {
    const logs = new CloudWatchLogsClient(clientConfig);
    try {
      const groups: LogGroup[] = [];
      for (const prefix of [`/aws/lambda/didit-kms-gateway-${STAGE}-`, `/aws/api-gateway/didit-kms-gateway-${STAGE}-`]) {
        let nextToken: string | undefined;
        do {
          const page = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: prefix, nextToken }));
          groups.push(...(page.logGroups ?? []));
          nextToken = page.nextToken;
        } while (nextToken);
      }
      const expected = [...functionAccess().map((fn) => `/aws/lambda/didit-kms-gateway-${STAGE}-${fn.name}`), `/aws/api-gateway/didit-kms-gateway-${STAGE}-access`];
      expect(groups.map((g) => g.logGroupName).sort()).toEqual(expected.sort());
      const kms = new KMSClient(clientConfig);
      const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: physical('DiditLogsKey') }));
      kms.destroy();
      for (const g of groups) {
        expect(g.retentionInDays, g.logGroupName).toBe(30);
        expect(g.kmsKeyId, g.logGroupName).toBe(KeyMetadata?.Arn);
      }
    } finally {
      logs.destroy();
    }
  });

  it('the idempotency table (on the DynamoDB endpoint): key id, TTL on expiration, SSE, point-in-time recovery', async () => {
    const ddb = new DynamoDBClient({ ...clientConfig, endpoint: target.dynamodbEndpoint });
    try {
      const table = deployed!.tables.find((x) => x.logicalId === 'WebhookIdempotencyTable')!;
      const name = table.name;
      expect(name).toBe(`didit-kms-gateway-${STAGE}-webhook-idempotency`);
      const { Table } = await ddb.send(new DescribeTableCommand({ TableName: name }));
      expect(Table?.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
      expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(Table?.SSEDescription?.Status).toBe('ENABLED');
      const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: name }));
      expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'expiration', TimeToLiveStatus: 'ENABLED' });
      const backups = await ddb.send(new DescribeContinuousBackupsCommand({ TableName: name }));
      expect(backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus).toBe('ENABLED');
      // The roles were deployed with the table's literal ARN in place of Fn::GetAtt.
      expect(JSON.stringify(deployed!.template.Resources['DiditWebhookLambdaRole'])).toContain(table.arn);
    } finally {
      ddb.destroy();
    }
  });

  it('the jobs table (on the DynamoDB endpoint): jobId, TTL on expiresAt, SSE (KMS), point-in-time recovery', async () => {
    const ddb = new DynamoDBClient({ ...clientConfig, endpoint: target.dynamodbEndpoint });
    try {
      expect(deployed!.tables.map((x) => x.logicalId).sort()).toEqual(['JobsTable', 'WebhookIdempotencyTable']);
      const table = deployed!.tables.find((x) => x.logicalId === 'JobsTable')!;
      expect(table.name).toBe(`didit-kms-gateway-${STAGE}-jobs`);
      const { Table } = await ddb.send(new DescribeTableCommand({ TableName: table.name }));
      expect(Table?.KeySchema).toEqual([{ AttributeName: 'jobId', KeyType: 'HASH' }]);
      expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(Table?.SSEDescription).toMatchObject({ Status: 'ENABLED', SSEType: 'KMS' });
      const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: table.name }));
      expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });
      const backups = await ddb.send(new DescribeContinuousBackupsCommand({ TableName: table.name }));
      expect(backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus).toBe('ENABLED');
      // The job functions' roles name it by its literal ARN.
      for (const role of ['SubmitJobLambdaRole', 'GetJobLambdaRole', 'JobWorkerLambdaRole']) {
        expect(JSON.stringify(deployed!.template.Resources[role])).toContain(table.arn);
      }
    } finally {
      ddb.destroy();
    }
  });

  it('the job queue, its dead-letter queue and the trigger dead-letter queue: SSE, redrive, retention, TLS-only policies', async () => {
    const sqs = new SQSClient(clientConfig);
    const kms = new KMSClient(clientConfig);
    const attributesOf = async (name: string) => {
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
      return Attributes ?? {};
    };
    const policyOf = (attributes: Record<string, string>) =>
      JSON.parse(attributes['Policy'] ?? '{"Statement":[]}') as { Statement: Array<{ Sid?: string; Effect: string; Principal: unknown; Condition?: Record<string, any> }> };
    try {
      const jobs = await attributesOf(`didit-kms-gateway-${STAGE}-jobs`);
      const dlq = await attributesOf(`didit-kms-gateway-${STAGE}-jobs-dlq`);
      const trigger = await attributesOf(`didit-kms-gateway-${STAGE}-trigger-dlq`);
      expect(jobs).toMatchObject({
        VisibilityTimeout: '540',
        MessageRetentionPeriod: '345600',
        ReceiveMessageWaitTimeSeconds: '20',
        MaximumMessageSize: '262144',
        KmsDataKeyReusePeriodSeconds: '300',
      });
      // SSE-KMS under the stack's DataAtRestKey (by ARN), not SQS-owned keys.
      const { KeyMetadata: dataKey } = await kms.send(new DescribeKeyCommand({ KeyId: physical('DataAtRestKey') }));
      for (const q of [jobs, dlq, trigger]) expect([dataKey?.Arn, dataKey?.KeyId]).toContain(q['KmsMasterKeyId']);
      expect(JSON.parse(jobs['RedrivePolicy']!)).toEqual({ deadLetterTargetArn: dlq['QueueArn'], maxReceiveCount: 5 });
      expect(deployed!.outputs['JobsQueueUrl']).toMatch(new RegExp(`/didit-kms-gateway-${STAGE}-jobs$`));
      for (const q of [dlq, trigger]) {
        expect(q).toMatchObject({ MessageRetentionPeriod: '1209600' });
        expect(q['RedrivePolicy']).toBeUndefined();
      }
      expect(JSON.parse(dlq['RedriveAllowPolicy']!)).toEqual({ redrivePermission: 'byQueue', sourceQueueArns: [jobs['QueueArn']] });
      for (const q of [jobs, dlq, trigger]) {
        const deny = policyOf(q).Statement.find((st) => st.Sid === 'DenyWithoutTls');
        expect(deny).toMatchObject({ Effect: 'Deny', Principal: '*' });
      }
      // EventBridge may put the sign-up rule's failed deliveries there: that rule only (default bus).
      const allow = policyOf(trigger).Statement.find((st) => st.Sid === 'SignupRuleDeadLetters');
      expect(allow).toMatchObject({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' } });
      expect(allow!.Condition!['ArnEquals']['aws:SourceArn']).toBe(`arn:aws:events:${em.region}:000000000000:rule/didit-kms-gateway-${STAGE}-signup`);
    } finally {
      kms.destroy();
      sqs.destroy();
    }
  });

  it('the upload intake bucket: SSE-KMS with the uploads key, public access blocked, ACLs off, no versioning, 1-day lifecycle, TLS-only policy', async () => {
    const s3 = new S3Client({ ...clientConfig, forcePathStyle: true });
    const kms = new KMSClient(clientConfig);
    try {
      const bucket = physical('UploadIntakeBucket');
      expect(bucket).toBe(`didit-kms-gateway-${STAGE}-intake-000000000000-${em.region}`);
      expect(deployed!.outputs['UploadIntakeBucketName']).toBe(bucket);
      // LocalStack's CloudFormation drops these: deploy-local sets them with the S3 API from the template.
      expect(deployed!.buckets).toEqual([
        { logicalId: 'UploadIntakeBucket', name: bucket, applied: ['BucketEncryption', 'LifecycleConfiguration', 'LoggingConfiguration'] },
        { logicalId: 'AccessLogsBucket', name: physical('AccessLogsBucket'), applied: ['BucketEncryption', 'LifecycleConfiguration'] },
      ]);
      // Every request to the intake bucket is logged into the access-log bucket.
      const logging = await s3.send(new GetBucketLoggingCommand({ Bucket: bucket }));
      expect(logging.LoggingEnabled).toMatchObject({ TargetBucket: physical('AccessLogsBucket'), TargetPrefix: 'intake/' });
      const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: physical('UploadsKey') }));
      expect(KeyMetadata).toMatchObject({ KeySpec: 'SYMMETRIC_DEFAULT', Enabled: true });
      expect((await kms.send(new GetKeyRotationStatusCommand({ KeyId: KeyMetadata!.KeyId! }))).KeyRotationEnabled).toBe(true);
      expect(KeyMetadata!.KeyId).not.toBe(physical('DiditSecretsKey'));
      const { ServerSideEncryptionConfiguration } = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
      expect(ServerSideEncryptionConfiguration?.Rules).toEqual([
        { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: KeyMetadata!.Arn }, BucketKeyEnabled: true },
      ]);
      const { PublicAccessBlockConfiguration } = await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
      expect(PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      const { OwnershipControls } = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket }));
      expect(OwnershipControls?.Rules).toEqual([{ ObjectOwnership: 'BucketOwnerEnforced' }]);
      expect((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBeUndefined();
      const { Rules } = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
      expect(Rules?.find((r) => r.ID === 'ExpireIntake')).toMatchObject({ Status: 'Enabled', Expiration: { Days: 1 } });
      expect(Rules?.find((r) => r.ID === 'AbortIncompleteMultipartUploads')).toMatchObject({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
      const policy = JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy ?? '{}') as { Statement: Array<{ Sid: string; Effect: string }> };
      expect(policy.Statement.map((st) => `${st.Effect} ${st.Sid}`).sort()).toEqual(['Deny DenyUploadsWithAnotherKey', 'Deny DenyUploadsWithoutSseKms', 'Deny DenyWithoutTls']);
      // The notification to onUpload is not here (the function is not deployed; see `adjusted`).
      const notifications = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
      expect(notifications.LambdaFunctionConfigurations ?? []).toEqual([]);
      // An upload as createUploadUrl's presigned PUT makes it: SSE-KMS headers naming the uploads key.
      const key = `intake/idVerification/deploy-local/${randomBytes(8).toString('hex')}/front_image`;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('not an image'), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KeyMetadata!.Arn }));
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KeyMetadata!.Arn });
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } finally {
      s3.destroy();
      kms.destroy();
    }
  });

  it('the event bus exists', async () => {
    const eb = new EventBridgeClient(clientConfig);
    try {
      const bus = await eb.send(new DescribeEventBusCommand({ Name: `didit-kms-gateway-${STAGE}` }));
      expect(bus.Arn).toBe(physical('DiditEventBus').startsWith('arn:') ? physical('DiditEventBus') : bus.Arn);
      expect(deployed!.outputs['DiditEventBusName']).toBe(`didit-kms-gateway-${STAGE}`);
    } finally {
      eb.destroy();
    }
  });

  it('a key sealed into the deployed secret with the right context decrypts, with the functions’ own code; any other context does not', async () => {
    const { client: kms, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint });
    const sm = new SecretsManagerClient(clientConfig);
    const apiKey = randomBytes(30).toString('base64url');
    const plaintext = SecureBuffer.alloc(apiKey.length);
    plaintext.bytes().write(apiKey, 0, 'latin1');
    const context = encryptionContextFor({ service: 'didit-kms-gateway', stage: STAGE, purpose: 'didit-api-key' });
    try {
      // What `didit-kms-gateway seal` does: KMS Encrypt (by alias) under the context, a new SecretBinary version.
      const sealed = await sealIntoSecret({ kms, secrets: sm }, physical('DiditApiKeySecret'), {
        plaintext,
        keyId: `alias/didit-kms-gateway-${STAGE}`,
        encryptionContext: context,
      });
      expect(sealed.kmsKeyId).toContain(physical('DiditSecretsKey'));
      // What the functions do: read the secret, decrypt into secure memory with KMS_KEY_ID = the key ARN.
      const secret = await sm.send(new GetSecretValueCommand({ SecretId: deployed!.outputs['DiditApiKeySecretArn'] }));
      expect(secret.VersionId).toBe(sealed.versionId);
      const ciphertext = secret.SecretBinary!;
      const out = await decryptToSecureBuffer(kms, { ciphertext, encryptionContext: context, keyId: deployed!.outputs['DiditSecretsKeyArn'] });
      expect(out.plaintext.equals(Buffer.from(apiKey, 'latin1'))).toBe(true);
      out.plaintext.dispose();
      for (const wrong of [
        { ...context, stage: 'prod' },
        { ...context, purpose: 'didit-webhook-secret' },
        { ...context, service: 'someone-else' },
      ]) {
        await expect(decryptToSecureBuffer(kms, { ciphertext, encryptionContext: wrong })).rejects.toBeInstanceOf(KmsInvalidCiphertextError);
      }
    } finally {
      plaintext.dispose();
      handler.destroy();
      sm.destroy();
    }
  });
});
