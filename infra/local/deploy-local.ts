/**
 * `npm run deploy:local`: deploys the stack's non-Lambda resources to a local AWS emulator, from the very
 * CloudFormation template `sls package` produces (no hand-written copy that could drift):
 *
 *   1. `sls package --stage <stage> --param=esbuildExclude=*` into .cache/deploy-local/<stage>/ (no AWS
 *      credentials; sodium-native is not installed into the zips, which are not deployed anyway);
 *   2. the DynamoDB tables (webhook idempotency, jobs) are created from their template definitions with the
 *      AWS SDK on the DynamoDB endpoint (host-mode LocalStack has no DynamoDB: it downloads a Java runtime; the
 *      emulator helpers put a moto server beside it), with TTL, SSE and point-in-time recovery as declared;
 *   3. the rest goes to the emulator's CloudFormation (LocalStack 4.14 core) as one stack: the three KMS keys
 *      and aliases, both secrets and their resource policies, the event bus, the job queue, its dead-letter
 *      queue and the trigger dead-letter queue with their queue policies, the upload intake bucket and its
 *      policy, the per-function IAM roles and policies. References to the tables become their literal
 *      names/ARNs; the bucket's notification to onUpload is dropped (the function is not deployed; printed).
 *      The template goes through the emulator's S3 (it is far above CloudFormation's inline size limit, as
 *      in AWS);
 *   4. the log groups, with the Logs API, encrypted with the stack's log key and with their retention
 *      (LocalStack's CloudFormation creates them by name only; see createLogGroups);
 *   5. the bucket's default encryption (the uploads key) and lifecycle rules, with the S3 API (LocalStack's
 *      CloudFormation ignores both; see completeBuckets).
 *
 * Left out, with the reason printed: Lambda functions, permissions, event source mappings, async invoke
 * configs and the EventBridge rule that targets onSignup (LocalStack runs Lambda code only in Docker: the
 * functions could never execute here), API Gateway (its integrations point at those functions), CloudWatch
 * alarms (no CloudWatch service in the emulator set), serverless's deployment bucket (it only holds the zips).
 * Nothing here enforces IAM, key, queue or bucket policies: the template tests check those.
 *
 * Why not serverless-localstack: it deploys the whole stack, Lambda and DynamoDB included, which host-mode
 * LocalStack cannot do offline; it also needs the aws-sdk v2 and a plugin entry in serverless.yml.
 *
 *   node infra/local/deploy-local.ts [--stage local] [--exit] [--template <packaged template.json>]
 *
 * With AWS_ENDPOINT_URL set it deploys to that endpoint (DynamoDB: AWS_ENDPOINT_URL_DYNAMODB, else the same
 * endpoint) and exits. Otherwise it starts LocalStack (+ moto for DynamoDB), deploys, prints what it made and
 * keeps the emulators running until Ctrl-C; `--exit` deletes the stack and stops them instead (a smoke test).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DeleteLogGroupCommand,
  PutDataProtectionPolicyCommand,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateContinuousBackupsCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type LifecycleRule,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  S3Client,
  type ServerSideEncryptionRule,
} from '@aws-sdk/client-s3';
import { REPO_ROOT } from './offline.ts';
import { startEmulator, TEST_CREDENTIALS, type Emulator } from './emulator.ts';

const SLS_BIN = join(REPO_ROOT, 'node_modules', 'osls', 'bin', 'serverless.js');

/** Resource types the emulator's CloudFormation gets. Everything else is left out (see SKIPPED). */
const DEPLOYED_TYPES = new Set([
  'AWS::KMS::Key',
  'AWS::KMS::Alias',
  'AWS::SecretsManager::Secret',
  'AWS::SecretsManager::ResourcePolicy',
  'AWS::Events::EventBus',
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::SQS::Queue',
  'AWS::SQS::QueuePolicy',
  'AWS::S3::Bucket',
  'AWS::S3::BucketPolicy',
]);

/** Resources of a deployed type that are left out all the same. */
const SKIPPED_RESOURCES: Record<string, string> = {
  ServerlessDeploymentBucket: "serverless's deployment bucket only holds the zips",
  ServerlessDeploymentBucketPolicy: "serverless's deployment bucket only holds the zips",
};

const SKIPPED: Record<string, string> = {
  'AWS::Lambda::Function': 'Lambda code runs only in Docker on LocalStack: the functions could never execute',
  'AWS::Lambda::Permission': 'belongs to the functions',
  'AWS::Lambda::Version': 'belongs to the functions',
  'AWS::Lambda::EventSourceMapping': 'belongs to the functions (the job worker reads JobsQueue)',
  'AWS::Lambda::EventInvokeConfig': 'belongs to the functions (their on-failure destinations)',
  'AWS::Events::Rule': 'its target is a function (the sign-up trigger)',
  'AWS::ApiGateway::RestApi': 'integrations point at the functions (use `npm start` for the API offline)',
  'AWS::ApiGateway::Resource': 'API Gateway',
  'AWS::ApiGateway::Method': 'API Gateway',
  'AWS::ApiGateway::Deployment': 'API Gateway',
  'AWS::ApiGateway::Stage': 'API Gateway',
  'AWS::ApiGateway::RequestValidator': 'API Gateway',
  'AWS::ApiGateway::Account': 'API Gateway (account setting)',
  'AWS::CloudWatch::Alarm': 'no CloudWatch service in the emulator set',
  'AWS::DynamoDB::Table': 'created with the SDK on the DynamoDB endpoint instead',
  'AWS::Logs::LogGroup': "created with the Logs API after the stack (LocalStack's CloudFormation would drop retention and KMS key)",
  'AWS::CloudFormation::WaitConditionHandle': 'only orders the API Gateway stage',
};

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
  [key: string]: unknown;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; [key: string]: unknown }>;
  Conditions?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface LocalTarget {
  endpoint: string;
  /** Where DynamoDB answers (default: `endpoint`). */
  dynamodbEndpoint?: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface DeployLocalOptions extends LocalTarget {
  stage: string;
  /** A template `sls package` already wrote; packaged afresh when omitted. */
  templatePath?: string;
  /** Where to package (default .cache/deploy-local/<stage>/, overwritten by the next run). */
  packageDir?: string;
  /** Default `didit-kms-gateway-<stage>`. */
  stackName?: string;
  log?: (line: string) => void;
  /** Default 180 s. */
  timeoutMs?: number;
}

export interface DeployedLocal {
  stackName: string;
  stage: string;
  template: CfnTemplate;
  /** What the emulator's CloudFormation created, by logical id. */
  resources: StackResourceSummary[];
  skipped: Array<{ logicalId: string; type: string; reason: string }>;
  /** Properties of deployed resources changed for the emulator (what referred to a left-out resource). */
  adjusted: Array<{ logicalId: string; change: string }>;
  /** The DynamoDB tables, created with the SDK on the DynamoDB endpoint. */
  tables: Array<{ logicalId: string; name: string; arn: string }>;
  outputs: Record<string, string>;
  /** Bucket properties LocalStack's CloudFormation drops, applied with the S3 API after the stack (see completeBuckets). */
  buckets: Array<{ logicalId: string; name: string; applied: string[] }>;
  /** The log groups, created with the Logs API after the stack (see createLogGroups). */
  logGroups: { names: string[]; withRetention: number; withKmsKey: number; withDataProtection: number; dataProtectionUnsupported: boolean };
  timings: { packageMs: number; tableMs: number; stackMs: number; logGroupsMs: number; bucketsMs: number };
}

const noop = (): void => {};

// ---------------------------------------------------------------------------------------------------------
// package

/** Runs `sls package` for `stage` (no AWS credentials needed) and returns the update-stack template path. */
export async function packageTemplate(stage: string, opts: { outDir?: string; log?: (line: string) => void } = {}): Promise<string> {
  const log = opts.log ?? noop;
  const outDir = opts.outDir ?? join(REPO_ROOT, '.cache', 'deploy-local', stage);
  mkdirSync(outDir, { recursive: true });
  // Own esbuild work folder: a concurrent `sls package` or `sls offline` must not delete ours.
  const workFolder = join(REPO_ROOT, '.cache', 'deploy-local', `.esbuild-${process.pid}-${Date.now()}`);
  const env: NodeJS.ProcessEnv = { ...process.env, DIDIT_ESBUILD_WORK_FOLDER: workFolder, SLS_TELEMETRY_DISABLED: '1' };
  // Never let packaging see real AWS credentials or endpoints: it needs none.
  for (const name of Object.keys(env)) if (name.startsWith('AWS_')) delete env[name];
  env['AWS_REGION'] = 'us-east-1';
  await run(process.execPath, [SLS_BIN, 'package', '--stage', stage, '--package', outDir, '--param=esbuildExclude=*'], {
    cwd: REPO_ROOT,
    env,
    log,
  });
  return join(outDir, 'cloudformation-template-update-stack.json');
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; log: (line: string) => void }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (b: Buffer): void => {
      for (const line of b.toString('utf8').split(/\r?\n/)) {
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        opts.log(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${args.slice(1, 3).join(' ')} failed (${code}):\n${tail.join('\n')}`))));
  });
}

// ---------------------------------------------------------------------------------------------------------
// template surgery

/**
 * The part of the packaged template the emulator's CloudFormation gets: resources of DEPLOYED_TYPES, with
 * `Ref`/`Fn::GetAtt` of a left-out resource replaced from `literals` (`Ref`: the value; `GetAtt`: `<id>.<attr>`),
 * `DependsOn` on left-out resources dropped, and outputs that refer to left-out resources dropped. Throws if a
 * kept resource refers to a left-out one without a literal: the split would silently change meaning.
 */
export function splitTemplate(
  template: CfnTemplate,
  literals: Readonly<Record<string, string>> = {},
): {
  template: CfnTemplate;
  skipped: Array<{ logicalId: string; type: string; reason: string }>;
  adjusted: Array<{ logicalId: string; change: string }>;
} {
  const keep = new Set<string>();
  const skipped: Array<{ logicalId: string; type: string; reason: string }> = [];
  const adjusted: Array<{ logicalId: string; change: string }> = [];
  for (const [id, res] of Object.entries(template.Resources)) {
    if (DEPLOYED_TYPES.has(res.Type) && SKIPPED_RESOURCES[id] === undefined) keep.add(id);
    else skipped.push({ logicalId: id, type: res.Type, reason: SKIPPED_RESOURCES[id] ?? SKIPPED[res.Type] ?? 'not deployed locally' });
  }
  /**
   * A bucket notification to a function that is not deployed: dropped (S3 would refuse a notification to a
   * function that does not exist). The only property of a kept resource that may lose a reference.
   */
  const withoutLeftOutNotifications = (id: string, res: CfnResource): void => {
    const notifications = res.Properties?.['NotificationConfiguration'] as Record<string, unknown> | undefined;
    const lambdas = notifications?.['LambdaConfigurations'] as Array<Record<string, unknown>> | undefined;
    if (res.Type !== 'AWS::S3::Bucket' || !notifications || !lambdas) return;
    const kept = lambdas.filter((c) => {
      const fn = (c['Function'] as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
      if (fn === undefined || keep.has(fn)) return true;
      adjusted.push({ logicalId: id, change: `notification ${String(c['Event'])} to ${fn} dropped (the function is not deployed)` });
      return false;
    });
    if (kept.length > 0) notifications['LambdaConfigurations'] = kept;
    else delete notifications['LambdaConfigurations'];
    if (Object.keys(notifications).length === 0) delete res.Properties!['NotificationConfiguration'];
  };
  const rewrite = (value: unknown, where: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => rewrite(v, where));
    if (value === null || typeof value !== 'object') return value;
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1 && keys[0] === 'Ref' && typeof obj['Ref'] === 'string') {
      const target = obj['Ref'];
      if (target.startsWith('AWS::') || keep.has(target)) return obj;
      if (literals[target] !== undefined) return literals[target];
      throw new MissingLiteral(`${where} refers to ${target}, which is not deployed locally`);
    }
    if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
      const [target, attr] = obj['Fn::GetAtt'] as [string, string];
      if (keep.has(target)) return obj;
      const literal = literals[`${target}.${attr}`];
      if (literal !== undefined) return literal;
      throw new MissingLiteral(`${where} refers to ${target}.${attr}, which is not deployed locally`);
    }
    if (keys.length === 1 && keys[0] === 'Fn::Sub') {
      const sub = obj['Fn::Sub'];
      const text = Array.isArray(sub) ? String(sub[0]) : String(sub);
      // The two-argument form's own variables are not resources.
      const locals = Array.isArray(sub) && sub[1] !== null && typeof sub[1] === 'object' ? Object.keys(sub[1] as object) : [];
      for (const m of text.matchAll(/\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}/g)) {
        if (!keep.has(m[1]!) && !locals.includes(m[1]!)) throw new MissingLiteral(`${where} substitutes ${m[1]}, which is not deployed locally`);
      }
    }
    return Object.fromEntries(keys.map((k) => [k, rewrite(obj[k], where)]));
  };
  const resources: Record<string, CfnResource> = {};
  for (const id of keep) {
    const res = structuredClone(template.Resources[id]!);
    withoutLeftOutNotifications(id, res);
    if (res.DependsOn !== undefined) {
      const deps = (Array.isArray(res.DependsOn) ? res.DependsOn : [res.DependsOn]).filter((d) => keep.has(d));
      if (deps.length > 0) res.DependsOn = deps;
      else delete res.DependsOn;
    }
    resources[id] = rewrite(res, id) as CfnResource;
  }
  const outputs: NonNullable<CfnTemplate['Outputs']> = {};
  for (const [name, out] of Object.entries(template.Outputs ?? {})) {
    try {
      outputs[name] = rewrite(out, `Outputs.${name}`) as typeof out;
    } catch (err) {
      if (!(err instanceof MissingLiteral)) throw err;
    }
  }
  const out: CfnTemplate = { ...structuredClone(template), Resources: resources, Outputs: outputs };
  return { template: out, skipped, adjusted };
}

class MissingLiteral extends Error {}

// ---------------------------------------------------------------------------------------------------------
// DynamoDB (SDK, from the template's own definition)

interface TableProperties {
  TableName: string;
  BillingMode?: string;
  AttributeDefinitions: Array<{ AttributeName: string; AttributeType: 'S' | 'N' | 'B' }>;
  KeySchema: Array<{ AttributeName: string; KeyType: 'HASH' | 'RANGE' }>;
  TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
  SSESpecification?: { SSEEnabled: boolean; SSEType?: 'KMS' | 'AES256' };
  PointInTimeRecoverySpecification?: { PointInTimeRecoveryEnabled: boolean };
}

function dynamoClient(target: LocalTarget): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: target.dynamodbEndpoint ?? target.endpoint,
    region: target.region,
    credentials: { ...target.credentials },
    maxAttempts: 3,
  });
}

async function createTable(target: LocalTarget, props: TableProperties, log: (line: string) => void): Promise<string> {
  const client = dynamoClient(target);
  try {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: props.TableName,
          BillingMode: props.BillingMode === 'PAY_PER_REQUEST' ? 'PAY_PER_REQUEST' : 'PROVISIONED',
          AttributeDefinitions: props.AttributeDefinitions,
          KeySchema: props.KeySchema,
          SSESpecification: props.SSESpecification
            ? { Enabled: props.SSESpecification.SSEEnabled, ...(props.SSESpecification.SSEType ? { SSEType: props.SSESpecification.SSEType } : {}) }
            : undefined,
        }),
      );
    } catch (err) {
      if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
      log(`[deploy-local] table ${props.TableName} exists: reusing it`);
    }
    let arn: string | undefined;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: props.TableName }));
      arn = Table?.TableArn;
      if (Table?.TableStatus === 'ACTIVE' && arn) break;
      if (Date.now() > deadline) throw new Error(`table ${props.TableName} not ACTIVE in time (${Table?.TableStatus})`);
      await sleep(200);
    }
    if (props.TimeToLiveSpecification?.Enabled) {
      await client
        .send(new UpdateTimeToLiveCommand({ TableName: props.TableName, TimeToLiveSpecification: props.TimeToLiveSpecification }))
        .catch((err: unknown) => {
          // A second enable on a reused table is refused; the state is what we want.
          if (!/already enabled/i.test((err as Error).message)) throw err;
        });
    }
    if (props.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled) {
      await client.send(
        new UpdateContinuousBackupsCommand({
          TableName: props.TableName,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      );
    }
    return arn;
  } finally {
    client.destroy();
  }
}

async function deleteTable(target: LocalTarget, name: string): Promise<void> {
  const client = dynamoClient(target);
  try {
    await client.send(new DeleteTableCommand({ TableName: name }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------
// CloudFormation

function cfnClient(target: LocalTarget): CloudFormationClient {
  return new CloudFormationClient({ endpoint: target.endpoint, region: target.region, credentials: { ...target.credentials }, maxAttempts: 3 });
}

async function waitForStack(
  cfn: CloudFormationClient,
  stackName: string,
  done: (status: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let status: string | undefined;
    try {
      const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
      status = Stacks?.[0]?.StackStatus;
    } catch (err) {
      if (/does not exist/i.test((err as Error).message)) status = 'DELETE_COMPLETE';
      else throw err;
    }
    if (status && done(status)) return status;
    if (Date.now() > deadline) throw new Error(`stack ${stackName} still ${status} after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

async function failureReasons(cfn: CloudFormationClient, stackName: string): Promise<string> {
  try {
    const { StackEvents } = await cfn.send(new DescribeStackEventsCommand({ StackName: stackName }));
    return (StackEvents ?? [])
      .filter((e) => /FAILED/.test(e.ResourceStatus ?? ''))
      .map((e) => `  ${e.LogicalResourceId} (${e.ResourceType}): ${e.ResourceStatus} ${e.ResourceStatusReason ?? ''}`)
      .join('\n');
  } catch {
    return '  (no stack events)';
  }
}

export function stackNameFor(stage: string): string {
  return `didit-kms-gateway-${stage}`.replace(/[^A-Za-z0-9-]/g, '-');
}

/** Packages (unless given a template), creates the tables, then creates the stack; see the file comment. */
export async function deployLocal(opts: DeployLocalOptions): Promise<DeployedLocal> {
  const log = opts.log ?? noop;
  const stackName = opts.stackName ?? stackNameFor(opts.stage);
  const timeoutMs = opts.timeoutMs ?? 180_000;

  let t0 = Date.now();
  const templatePath = opts.templatePath ?? (await packageTemplate(opts.stage, { log, outDir: opts.packageDir }));
  const packageMs = opts.templatePath ? 0 : Date.now() - t0;
  const packaged = JSON.parse(readFileSync(templatePath, 'utf8')) as CfnTemplate;

  t0 = Date.now();
  const literals: Record<string, string> = {};
  const tables: DeployedLocal['tables'] = [];
  for (const [id, res] of Object.entries(packaged.Resources)) {
    if (res.Type !== 'AWS::DynamoDB::Table') continue;
    const props = res.Properties as unknown as TableProperties;
    const arn = await createTable(opts, props, log);
    literals[id] = props.TableName;
    literals[`${id}.Arn`] = arn;
    tables.push({ logicalId: id, name: props.TableName, arn });
    log(`[deploy-local] DynamoDB table ${props.TableName} (TTL, SSE, PITR as declared) at ${opts.dynamodbEndpoint ?? opts.endpoint}`);
  }
  const tableMs = Date.now() - t0;

  const { template, skipped, adjusted } = splitTemplate(packaged, literals);
  for (const a of adjusted) log(`[deploy-local] ${a.logicalId}: ${a.change}`);
  t0 = Date.now();
  const cfn = cfnClient(opts);
  try {
    // Far above CloudFormation's 51,200-byte inline limit (like the real deploy): hand it over through S3.
    const templateUrl = await uploadTemplate(opts, stackName, JSON.stringify(template));
    try {
      await cfn.send(
        new CreateStackCommand({
          StackName: stackName,
          TemplateURL: templateUrl,
          Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'],
          Tags: [{ Key: 'deployed-by', Value: 'deploy-local' }],
        }),
      );
    } catch (err) {
      throw shortened(err);
    }
    const status = await waitForStack(cfn, stackName, (s) => !s.endsWith('_IN_PROGRESS'), timeoutMs);
    if (status !== 'CREATE_COMPLETE') {
      throw new Error(`stack ${stackName} ended ${status}:\n${await failureReasons(cfn, stackName)}`);
    }
    const resources: StackResourceSummary[] = [];
    let token: string | undefined;
    do {
      const page = await cfn.send(new ListStackResourcesCommand({ StackName: stackName, NextToken: token }));
      resources.push(...(page.StackResourceSummaries ?? []));
      token = page.NextToken;
    } while (token);
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
    const stackMs = Date.now() - t0;
    t0 = Date.now();
    const logGroups = await createLogGroups(opts, packaged, resources, log);
    const logGroupsMs = Date.now() - t0;
    t0 = Date.now();
    const buckets = await completeBuckets(opts, template, resources, log);
    return {
      stackName,
      stage: opts.stage,
      template,
      resources,
      skipped,
      adjusted,
      tables,
      outputs,
      logGroups,
      buckets,
      timings: { packageMs, tableMs, stackMs, logGroupsMs, bucketsMs: Date.now() - t0 },
    };
  } finally {
    cfn.destroy();
  }
}

/**
 * The log groups, with the Logs API once the stack (and so the log key) exists. LocalStack 4.14's
 * AWS::Logs::LogGroup provider creates a group by name only and ignores RetentionInDays, KmsKeyId and
 * DataProtectionPolicy (and its Logs has no AssociateKmsKey): CreateLogGroup with the key, then the retention,
 * gives the emulator what the template declares. The data-protection policy is best effort: LocalStack answers
 * PutDataProtectionPolicy with "not implemented". Nothing in the stack refers to the log groups (the roles and
 * the log key policy name them by ARN strings), so creating them outside it changes no reference.
 */
async function createLogGroups(
  target: LocalTarget,
  packaged: CfnTemplate,
  created: StackResourceSummary[],
  log: (line: string) => void,
): Promise<DeployedLocal['logGroups']> {
  const physical = new Map(created.map((r) => [r.LogicalResourceId ?? '', r.PhysicalResourceId ?? '']));
  const keyArns = new Map<string, string>();
  const result: DeployedLocal['logGroups'] = { names: [], withRetention: 0, withKmsKey: 0, withDataProtection: 0, dataProtectionUnsupported: false };
  const config = { endpoint: target.endpoint, region: target.region, credentials: { ...target.credentials }, maxAttempts: 3 };
  const logs = new CloudWatchLogsClient(config);
  const kms = new KMSClient(config);
  try {
    for (const [id, res] of Object.entries(packaged.Resources)) {
      if (res.Type !== 'AWS::Logs::LogGroup') continue;
      const props = res.Properties ?? {};
      const name = props['LogGroupName'];
      if (typeof name !== 'string') throw new Error(`log group ${id} has no literal LogGroupName`);
      let kmsKeyId: string | undefined;
      const keyLogicalId = (props['KmsKeyId'] as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
      if (keyLogicalId) {
        kmsKeyId = keyArns.get(keyLogicalId);
        if (!kmsKeyId) {
          const keyId = physical.get(keyLogicalId);
          if (!keyId) throw new Error(`log group ${id}: key ${keyLogicalId} was not created`);
          const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
          if (!KeyMetadata?.Arn) throw new Error(`log group ${id}: key ${keyLogicalId} has no ARN`);
          kmsKeyId = KeyMetadata.Arn;
          keyArns.set(keyLogicalId, kmsKeyId);
        }
      } else if (props['KmsKeyId'] !== undefined) {
        throw new Error(`log group ${id}: KmsKeyId is not a Fn::GetAtt of a key in the stack`);
      }
      try {
        await logs.send(new CreateLogGroupCommand({ logGroupName: name, kmsKeyId }));
      } catch (err) {
        if ((err as { name?: string }).name !== 'ResourceAlreadyExistsException') throw err;
      }
      result.names.push(name);
      if (kmsKeyId) result.withKmsKey++;
      if (typeof props['RetentionInDays'] === 'number') {
        await logs.send(new PutRetentionPolicyCommand({ logGroupName: name, retentionInDays: props['RetentionInDays'] }));
        result.withRetention++;
      }
      if (props['DataProtectionPolicy'] && !result.dataProtectionUnsupported) {
        try {
          await logs.send(new PutDataProtectionPolicyCommand({ logGroupIdentifier: name, policyDocument: JSON.stringify(props['DataProtectionPolicy']) }));
          result.withDataProtection++;
        } catch (err) {
          result.dataProtectionUnsupported = true;
          log(`[deploy-local] the emulator does not take data-protection policies (${(err as Error).name}): skipped`);
        }
      }
    }
  } finally {
    logs.destroy();
    kms.destroy();
  }
  return result;
}

/**
 * The bucket properties LocalStack 4.14's AWS::S3::Bucket provider ignores (it applies the public access block,
 * ownership controls, notifications, versioning, tags, the bucket policy resource), set with the S3 API once
 * the stack exists: `BucketEncryption` (its KMS key resolved to the deployed key's ARN) and
 * `LifecycleConfiguration` (translated from CloudFormation's shape; anything this does not know is an error,
 * not a silent drop). Nothing in the stack refers to these properties.
 */
async function completeBuckets(
  target: LocalTarget,
  deployedTemplate: CfnTemplate,
  created: StackResourceSummary[],
  log: (line: string) => void,
): Promise<DeployedLocal['buckets']> {
  const physical = new Map(created.map((r) => [r.LogicalResourceId ?? '', r.PhysicalResourceId ?? '']));
  const config = { endpoint: target.endpoint, region: target.region, credentials: { ...target.credentials }, maxAttempts: 3 };
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const kms = new KMSClient(config);
  const out: DeployedLocal['buckets'] = [];
  try {
    for (const [id, res] of Object.entries(deployedTemplate.Resources)) {
      if (res.Type !== 'AWS::S3::Bucket') continue;
      const name = physical.get(id);
      if (!name) throw new Error(`bucket ${id} was not created`);
      const props = res.Properties ?? {};
      const applied: string[] = [];
      const encryption = props['BucketEncryption'] as
        | { ServerSideEncryptionConfiguration?: Array<{ ServerSideEncryptionByDefault?: { SSEAlgorithm: string; KMSMasterKeyID?: unknown }; BucketKeyEnabled?: boolean }> }
        | undefined;
      if (encryption?.ServerSideEncryptionConfiguration) {
        const rules: ServerSideEncryptionRule[] = [];
        for (const rule of encryption.ServerSideEncryptionConfiguration) {
          const byDefault = rule.ServerSideEncryptionByDefault;
          let kmsKeyId: string | undefined;
          const keyRef = (byDefault?.KMSMasterKeyID as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
          if (keyRef) {
            const keyId = physical.get(keyRef);
            if (!keyId) throw new Error(`bucket ${id}: key ${keyRef} was not created`);
            kmsKeyId = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.Arn;
          } else if (typeof byDefault?.KMSMasterKeyID === 'string') {
            kmsKeyId = byDefault.KMSMasterKeyID;
          }
          rules.push({
            ApplyServerSideEncryptionByDefault: byDefault
              ? { SSEAlgorithm: byDefault.SSEAlgorithm as 'aws:kms', ...(kmsKeyId ? { KMSMasterKeyID: kmsKeyId } : {}) }
              : undefined,
            BucketKeyEnabled: rule.BucketKeyEnabled === true,
          });
        }
        await s3.send(new PutBucketEncryptionCommand({ Bucket: name, ServerSideEncryptionConfiguration: { Rules: rules } }));
        applied.push('BucketEncryption');
      }
      const lifecycle = props['LifecycleConfiguration'] as
        | {
            Rules?: Array<{
              Id?: string;
              Status: 'Enabled' | 'Disabled';
              Prefix?: string;
              ExpirationInDays?: number;
              AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
            }>;
          }
        | undefined;
      if (lifecycle?.Rules) {
        const rules: LifecycleRule[] = lifecycle.Rules.map((rule) => {
          const known = ['Id', 'Status', 'Prefix', 'ExpirationInDays', 'AbortIncompleteMultipartUpload'];
          const unknown = Object.keys(rule).filter((k) => !known.includes(k));
          if (unknown.length > 0) throw new Error(`bucket ${id}: lifecycle rule properties deploy-local does not translate: ${unknown.join(', ')}`);
          return {
            ID: rule.Id,
            Status: rule.Status,
            Filter: { Prefix: rule.Prefix ?? '' },
            ...(rule.ExpirationInDays !== undefined ? { Expiration: { Days: rule.ExpirationInDays } } : {}),
            ...(rule.AbortIncompleteMultipartUpload ? { AbortIncompleteMultipartUpload: rule.AbortIncompleteMultipartUpload } : {}),
          };
        });
        await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: name, LifecycleConfiguration: { Rules: rules } }));
        applied.push('LifecycleConfiguration');
      }
      if (applied.length > 0) log(`[deploy-local] bucket ${name}: ${applied.join(', ')} set with the S3 API (LocalStack's CloudFormation drops them)`);
      out.push({ logicalId: id, name, applied });
    }
  } finally {
    s3.destroy();
    kms.destroy();
  }
  return out;
}

async function deleteLogGroups(target: LocalTarget, names: readonly string[]): Promise<void> {
  const logs = new CloudWatchLogsClient({ endpoint: target.endpoint, region: target.region, credentials: { ...target.credentials }, maxAttempts: 3 });
  try {
    for (const name of names) {
      await logs.send(new DeleteLogGroupCommand({ logGroupName: name })).catch((err: unknown) => {
        if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
      });
    }
  } finally {
    logs.destroy();
  }
}

/** Deletes the stack and the tables (idempotent). */
export async function removeLocal(
  target: LocalTarget,
  deployed: Pick<DeployedLocal, 'stackName' | 'tables' | 'logGroups'>,
  timeoutMs = 120_000,
): Promise<void> {
  await deleteLogGroups(target, deployed.logGroups.names);
  const cfn = cfnClient(target);
  try {
    await cfn.send(new DeleteStackCommand({ StackName: deployed.stackName }));
    await waitForStack(cfn, deployed.stackName, (s) => s === 'DELETE_COMPLETE' || s === 'DELETE_FAILED', timeoutMs);
  } finally {
    cfn.destroy();
  }
  for (const table of deployed.tables) await deleteTable(target, table.name);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Emulator error messages can quote the whole template: keep the first lines. */
function shortened(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const message = e.message.length > 1500 ? `${e.message.slice(0, 1500)}… (${e.message.length} characters)` : e.message;
  return Object.assign(new Error(`${e.name}: ${message}`), { name: e.name, cause: err });
}

const TEMPLATE_BUCKET = 'didit-kms-gateway-deploy-local';

/**
 * Puts the template into the emulator's S3 (path-style, unsigned: LocalStack does not check signatures) and
 * returns its URL. Plain HTTP keeps this free of an S3 client dependency.
 */
async function uploadTemplate(target: LocalTarget, stackName: string, body: string): Promise<string> {
  const bucketUrl = `${target.endpoint}/${TEMPLATE_BUCKET}`;
  const bucket = await fetch(bucketUrl, { method: 'PUT', signal: AbortSignal.timeout(15_000) });
  if (!bucket.ok && bucket.status !== 409) throw new Error(`creating the template bucket failed: HTTP ${bucket.status} ${await bucket.text()}`);
  await bucket.arrayBuffer().catch(() => undefined);
  const url = `${bucketUrl}/${stackName}-${Date.now()}.json`;
  const put = await fetch(url, { method: 'PUT', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(15_000) });
  if (!put.ok) throw new Error(`uploading the template failed: HTTP ${put.status} ${(await put.text()).slice(0, 500)}`);
  await put.arrayBuffer().catch(() => undefined);
  return url;
}

// ---------------------------------------------------------------------------------------------------------
// command line

function summary(d: DeployedLocal, target: LocalTarget): string {
  const byType = new Map<string, number>();
  for (const r of d.resources) byType.set(r.ResourceType ?? '?', (byType.get(r.ResourceType ?? '?') ?? 0) + 1);
  const skippedByType = new Map<string, { n: number; reason: string }>();
  for (const s of d.skipped) skippedByType.set(s.type, { n: (skippedByType.get(s.type)?.n ?? 0) + 1, reason: s.reason });
  const lines = [
    '',
    `stack ${d.stackName} (stage ${d.stage}) deployed to ${target.endpoint} (region ${target.region})`,
    `  timings: package ${(d.timings.packageMs / 1000).toFixed(1)} s, table ${(d.timings.tableMs / 1000).toFixed(1)} s, ` +
      `stack ${(d.timings.stackMs / 1000).toFixed(1)} s, log groups ${(d.timings.logGroupsMs / 1000).toFixed(1)} s, buckets ${(d.timings.bucketsMs / 1000).toFixed(1)} s`,
    ...d.buckets.filter((b) => b.applied.length > 0).map((b) => `  bucket ${b.name}: ${b.applied.join(', ')} set with the S3 API after the stack`),
    `  log groups: ${d.logGroups.withRetention} with retention, ${d.logGroups.withKmsKey} with the logs KMS key, data protection ` +
      `${d.logGroups.dataProtectionUnsupported ? 'not supported by the emulator (checked on the template instead)' : d.logGroups.withDataProtection}`,
    '  created:',
    ...[...byType].sort().map(([type, n]) => `    ${String(n).padStart(3)} ${type}`),
    ...d.tables.map((table) => `      1 AWS::DynamoDB::Table (SDK, at ${target.dynamodbEndpoint ?? target.endpoint}): ${table.name}`),
    `      ${String(d.logGroups.names.length).padStart(3)} AWS::Logs::LogGroup (Logs API, after the stack)`,
    '  left out:',
    ...[...skippedByType]
      .filter(([type]) => type !== 'AWS::DynamoDB::Table' && type !== 'AWS::Logs::LogGroup')
      .sort()
      .map(([type, { n, reason }]) => `    ${String(n).padStart(3)} ${type}: ${reason}`),
    ...(d.adjusted.length > 0 ? ['  changed for the emulator:', ...d.adjusted.map((a) => `    ${a.logicalId}: ${a.change}`)] : []),
    '  outputs:',
    ...Object.entries(d.outputs).map(([k, v]) => `    ${k} = ${v}`),
    '',
    'Seal a key into it (the CLI talks to the emulator through AWS_ENDPOINT_URL):',
    `  DIDIT_LOCAL_EMULATOR=1 AWS_ENDPOINT_URL=${target.endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=${target.region} \\`,
    `    npx didit-kms-gateway seal --stage ${d.stage}`,
    'Lambda functions cannot execute here (LocalStack needs Docker for Lambda): use `npm start` to run the API.',
  ];
  return lines.join('\n');
}

interface CliArgs {
  stage: string;
  exit: boolean;
  templatePath: string | undefined;
}

function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { stage: 'local', exit: false, templatePath: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--exit') args.exit = true;
    else if (a === '--stage' && argv[i + 1]) args.stage = argv[++i]!;
    else if (a === '--template' && argv[i + 1]) args.templatePath = argv[++i]!;
    else {
      process.stderr.write('usage: deploy-local.ts [--stage <stage>] [--exit] [--template <cloudformation-template-update-stack.json>]\n');
      process.exit(2);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const started: Emulator[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.map((e) => e.stop()));
  };
  let target: LocalTarget;
  if (process.env['AWS_ENDPOINT_URL']) {
    target = {
      endpoint: process.env['AWS_ENDPOINT_URL'].replace(/\/+$/, ''),
      dynamodbEndpoint: process.env['AWS_ENDPOINT_URL_DYNAMODB'] || undefined,
      region: process.env['AWS_REGION'] || 'us-east-1',
      credentials: {
        accessKeyId: process.env['AWS_ACCESS_KEY_ID'] || TEST_CREDENTIALS.accessKeyId,
        secretAccessKey: process.env['AWS_SECRET_ACCESS_KEY'] || TEST_CREDENTIALS.secretAccessKey,
      },
    };
  } else {
    const t0 = Date.now();
    const [ls, moto] = await Promise.all([startEmulator({ kind: 'localstack', log }), startEmulator({ kind: 'moto', log })]);
    started.push(ls, moto);
    log(`[deploy-local] emulators up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    target = { endpoint: ls.endpoint, dynamodbEndpoint: moto.endpoint, region: ls.region, credentials: { ...ls.credentials } };
  }
  let deployed: DeployedLocal;
  try {
    deployed = await deployLocal({ ...target, stage: args.stage, templatePath: args.templatePath, log });
  } catch (err) {
    await stopAll();
    throw err;
  }
  process.stdout.write(`${summary(deployed, target)}\n`);
  if (started.length === 0) return;
  if (args.exit) {
    await removeLocal(target, deployed);
    log('[deploy-local] --exit: stack and tables deleted');
    await stopAll();
    return;
  }
  log(`\nLocalStack at ${target.endpoint}, DynamoDB (moto) at ${target.dynamodbEndpoint}. Ctrl-C stops both.`);
  const shutdown = (): void => {
    void stopAll().finally(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  setInterval(() => {}, 1 << 30);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
