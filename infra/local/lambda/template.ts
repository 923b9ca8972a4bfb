/**
 * Reads what the Lambda sandbox and the event-source mappers need from the template `sls package` wrote
 * (.serverless/cloudformation-template-update-stack.json): the function's handler, environment, memory,
 * timeout, its zip; the SQS event-source mapping and the queue's redrive; the S3 notification filter; the
 * EventBridge rule's pattern, retry policy and dead-letter queue; async invoke configuration. Nothing here
 * has a second copy of those numbers: they come from the packaged template or the read fails.
 *
 * Intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`) in the environment are resolved against the
 * resources a caller provisioned on the emulator ({@link ResourceMap}); an unresolved one is an error rather
 * than a silently wrong environment.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type CfnTemplate, flattenNestedStacks } from '../../serverless/nesting.ts';

export const TEMPLATE_FILE = 'cloudformation-template-update-stack.json';

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: unknown;
}

export interface PackagedTemplate {
  readonly dir: string;
  readonly resources: Readonly<Record<string, CfnResource>>;
}

/** Physical values of the template's resources on the emulator: `Ref` and `Fn::GetAtt` answers. */
export interface ResourceMap {
  readonly region: string;
  readonly accountId: string;
  readonly refs: Readonly<Record<string, string>>;
  /** `"<LogicalId>.<Attribute>"` → value. */
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface FunctionDefinition {
  /** serverless's function key (`jobWorker`), its logical id, and the deployed name. */
  readonly name: string;
  readonly logicalId: string;
  readonly functionName: string;
  readonly handler: string;
  readonly runtime: string;
  readonly memorySize: number;
  readonly timeout: number;
  /** ReservedConcurrentExecutions: the most environments Lambda runs at once (unset: the account's pool). */
  readonly reservedConcurrency: number | undefined;
  readonly architectures: readonly string[];
  readonly logFormat: string | undefined;
  /** Unresolved environment (intrinsics kept), as the template has it. */
  readonly environment: Readonly<Record<string, unknown>>;
  readonly zipFile: string;
}

export function readPackagedTemplate(dir: string): PackagedTemplate {
  const read = (file: string): CfnTemplate => JSON.parse(readFileSync(join(dir, file), 'utf8')) as CfnTemplate;
  // The functions live in nested stacks (infra/serverless/nesting.ts): read the one template they stand for.
  const raw = flattenNestedStacks(read(TEMPLATE_FILE), read) as { Resources?: Record<string, CfnResource> };
  if (!raw.Resources) throw new Error(`${TEMPLATE_FILE} has no Resources`);
  return { dir, resources: raw.Resources };
}

function props(tpl: PackagedTemplate, logicalId: string, type: string): Record<string, unknown> {
  const res = Object.hasOwn(tpl.resources, logicalId) ? tpl.resources[logicalId] : undefined;
  if (!res || res.Type !== type) throw new Error(`packaged template has no ${type} ${logicalId}`);
  return res.Properties ?? {};
}

/** serverless's logical id of a function: `jobWorker` → `JobWorkerLambdaFunction`. */
export function functionLogicalId(name: string): string {
  return `${name.charAt(0).toUpperCase()}${name.slice(1).replaceAll('-', 'Dash').replaceAll('_', 'Underscore')}LambdaFunction`;
}

function requireNumber(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${what} is not a number in the packaged template`);
  return value;
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`${what} is not a string in the packaged template`);
  return value;
}

export function readFunction(tpl: PackagedTemplate, name: string): FunctionDefinition {
  const logicalId = functionLogicalId(name);
  const p = props(tpl, logicalId, 'AWS::Lambda::Function');
  const code = (p['Code'] ?? {}) as Record<string, unknown>;
  const s3Key = requireString(code['S3Key'], `${logicalId}.Code.S3Key`);
  const env = ((p['Environment'] as Record<string, unknown> | undefined)?.['Variables'] ?? {}) as Record<string, unknown>;
  const logging = p['LoggingConfig'] as Record<string, unknown> | undefined;
  return {
    name,
    logicalId,
    functionName: requireString(p['FunctionName'], `${logicalId}.FunctionName`),
    handler: requireString(p['Handler'], `${logicalId}.Handler`),
    runtime: requireString(p['Runtime'], `${logicalId}.Runtime`),
    // CloudFormation's defaults when the property is absent.
    memorySize: p['MemorySize'] === undefined ? 128 : requireNumber(p['MemorySize'], `${logicalId}.MemorySize`),
    timeout: p['Timeout'] === undefined ? 3 : requireNumber(p['Timeout'], `${logicalId}.Timeout`),
    reservedConcurrency:
      p['ReservedConcurrentExecutions'] === undefined ? undefined : requireNumber(p['ReservedConcurrentExecutions'], `${logicalId}.ReservedConcurrentExecutions`),
    architectures: (p['Architectures'] as string[] | undefined) ?? ['x86_64'],
    logFormat: typeof logging?.['LogFormat'] === 'string' ? logging['LogFormat'] : undefined,
    environment: env,
    zipFile: join(tpl.dir, basename(s3Key)),
  };
}

/** Resolves the intrinsics the functions' environments use, or throws naming the one it cannot. */
export function resolveValue(value: unknown, map: ResourceMap, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value);
    const [fn, arg] = entries[0] ?? [];
    if (entries.length === 1 && fn === 'Ref' && typeof arg === 'string') return ref(arg, map, where);
    if (entries.length === 1 && fn === 'Fn::GetAtt') {
      const [id, attr] = Array.isArray(arg) ? arg : String(arg).split('.');
      return getAtt(String(id), String(attr), map, where);
    }
    if (entries.length === 1 && fn === 'Fn::Sub') {
      const [text, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [String(arg), {}];
      return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        if (Object.hasOwn(vars, name)) return resolveValue(vars[name], map, where);
        if (name.includes('.')) {
          const [id, attr] = name.split('.');
          return getAtt(String(id), String(attr), map, where);
        }
        return ref(name, map, where);
      });
    }
    if (entries.length === 1 && fn === 'Fn::Join' && Array.isArray(arg)) {
      const [sep, parts] = arg as [string, unknown[]];
      return parts.map((part) => resolveValue(part, map, where)).join(sep);
    }
  }
  throw new Error(`${where}: cannot resolve ${JSON.stringify(value)}`);
}

function ref(name: string, map: ResourceMap, where: string): string {
  switch (name) {
    case 'AWS::Region':
      return map.region;
    case 'AWS::AccountId':
      return map.accountId;
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
  }
  if (Object.hasOwn(map.refs, name)) return map.refs[name] as string;
  throw new Error(`${where}: no emulator resource for Ref ${name}`);
}

function getAtt(id: string, attr: string, map: ResourceMap, where: string): string {
  const key = `${id}.${attr}`;
  if (map.attributes && Object.hasOwn(map.attributes, key)) return map.attributes[key] as string;
  throw new Error(`${where}: no emulator resource for Fn::GetAtt ${key}`);
}

export function resolveEnvironment(fn: FunctionDefinition, map: ResourceMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(fn.environment)) {
    out[name] = resolveValue(value, map, `${fn.name} environment ${name}`);
  }
  return out;
}

// ---- event sources ---------------------------------------------------------------------------------------

export interface SqsMappingDefinition {
  readonly queueLogicalId: string;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly reportBatchItemFailures: boolean;
  readonly maximumConcurrency: number | undefined;
  readonly queue: SqsQueueDefinition;
}

export interface SqsQueueDefinition {
  readonly logicalId: string;
  readonly visibilityTimeout: number;
  readonly receiveMessageWaitTimeSeconds: number;
  readonly redrive: { deadLetterLogicalId: string; maxReceiveCount: number } | undefined;
}

function logicalIdOf(value: unknown, where: string): string {
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v['Ref'] === 'string') return v['Ref'];
    const att = v['Fn::GetAtt'];
    if (Array.isArray(att) && typeof att[0] === 'string') return att[0];
  }
  throw new Error(`${where}: expected a Ref or Fn::GetAtt, got ${JSON.stringify(value)}`);
}

/** The queue as the template creates it (SQS's defaults where a property is absent). */
export function readQueue(tpl: PackagedTemplate, logicalId: string): SqsQueueDefinition {
  const p = props(tpl, logicalId, 'AWS::SQS::Queue');
  const redrive = p['RedrivePolicy'] as Record<string, unknown> | undefined;
  return {
    logicalId,
    visibilityTimeout: p['VisibilityTimeout'] === undefined ? 30 : requireNumber(p['VisibilityTimeout'], `${logicalId}.VisibilityTimeout`),
    receiveMessageWaitTimeSeconds:
      p['ReceiveMessageWaitTimeSeconds'] === undefined ? 0 : requireNumber(p['ReceiveMessageWaitTimeSeconds'], `${logicalId}.ReceiveMessageWaitTimeSeconds`),
    redrive: redrive
      ? {
          deadLetterLogicalId: logicalIdOf(redrive['deadLetterTargetArn'], `${logicalId}.RedrivePolicy`),
          maxReceiveCount: requireNumber(redrive['maxReceiveCount'], `${logicalId}.RedrivePolicy.maxReceiveCount`),
        }
      : undefined,
  };
}

/** The SQS event-source mapping of a function (there must be exactly one). */
export function readSqsMapping(tpl: PackagedTemplate, fn: FunctionDefinition): SqsMappingDefinition {
  const found = Object.entries(tpl.resources).filter(
    ([, r]) => r.Type === 'AWS::Lambda::EventSourceMapping' && logicalIdOf(r.Properties?.['FunctionName'], 'mapping') === fn.logicalId,
  );
  if (found.length !== 1) throw new Error(`${fn.name}: expected one event-source mapping, found ${found.length}`);
  const [id, res] = found[0] as [string, CfnResource];
  const p = res.Properties ?? {};
  const queueLogicalId = logicalIdOf(p['EventSourceArn'], `${id}.EventSourceArn`);
  const scaling = p['ScalingConfig'] as Record<string, unknown> | undefined;
  return {
    queueLogicalId,
    // Lambda's defaults for SQS: batch size 10, no batching window.
    batchSize: p['BatchSize'] === undefined ? 10 : requireNumber(p['BatchSize'], `${id}.BatchSize`),
    maximumBatchingWindowSeconds:
      p['MaximumBatchingWindowInSeconds'] === undefined ? 0 : requireNumber(p['MaximumBatchingWindowInSeconds'], `${id}.MaximumBatchingWindowInSeconds`),
    reportBatchItemFailures: ((p['FunctionResponseTypes'] as string[] | undefined) ?? []).includes('ReportBatchItemFailures'),
    maximumConcurrency: typeof scaling?.['MaximumConcurrency'] === 'number' ? scaling['MaximumConcurrency'] : undefined,
    queue: readQueue(tpl, queueLogicalId),
  };
}

export interface AsyncInvokeDefinition {
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeSeconds: number;
  /** Logical id of the on-failure destination queue, if any. */
  readonly onFailureQueueLogicalId: string | undefined;
}

/** Lambda's asynchronous invocation settings (EventInvokeConfig): retries 2 and 6 h by default. */
export function readAsyncInvokeConfig(tpl: PackagedTemplate, fn: FunctionDefinition): AsyncInvokeDefinition {
  const found = Object.values(tpl.resources).find(
    (r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && logicalIdOf(r.Properties?.['FunctionName'], 'invoke config') === fn.logicalId,
  );
  const p = found?.Properties ?? {};
  const onFailure = ((p['DestinationConfig'] as Record<string, unknown> | undefined)?.['OnFailure'] ?? {}) as Record<string, unknown>;
  return {
    maximumRetryAttempts: typeof p['MaximumRetryAttempts'] === 'number' ? p['MaximumRetryAttempts'] : 2,
    maximumEventAgeSeconds: typeof p['MaximumEventAgeInSeconds'] === 'number' ? p['MaximumEventAgeInSeconds'] : 21600,
    onFailureQueueLogicalId: onFailure['Destination'] ? logicalIdOf(onFailure['Destination'], 'OnFailure') : undefined,
  };
}

export interface EventRuleDefinition {
  readonly logicalId: string;
  readonly name: string;
  readonly eventBusName: string;
  readonly eventPattern: unknown;
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeSeconds: number;
  readonly deadLetterQueueLogicalId: string | undefined;
}

/** The EventBridge rule whose target is the function (there must be exactly one). */
export function readEventRule(tpl: PackagedTemplate, fn: FunctionDefinition): EventRuleDefinition {
  const found = Object.entries(tpl.resources).filter(([, r]) => {
    if (r.Type !== 'AWS::Events::Rule') return false;
    const targets = (r.Properties?.['Targets'] as Record<string, unknown>[] | undefined) ?? [];
    return targets.some((t) => {
      try {
        return logicalIdOf(t['Arn'], 'target') === fn.logicalId;
      } catch {
        return false;
      }
    });
  });
  if (found.length !== 1) throw new Error(`${fn.name}: expected one EventBridge rule, found ${found.length}`);
  const [logicalId, res] = found[0] as [string, CfnResource];
  const p = res.Properties ?? {};
  const target = ((p['Targets'] as Record<string, unknown>[]) ?? []).find((t) => logicalIdOf(t['Arn'], 'target') === fn.logicalId) ?? {};
  const retry = target['RetryPolicy'] as Record<string, unknown> | undefined;
  const dlq = target['DeadLetterConfig'] as Record<string, unknown> | undefined;
  return {
    logicalId,
    name: requireString(p['Name'], `${logicalId}.Name`),
    eventBusName: typeof p['EventBusName'] === 'string' ? p['EventBusName'] : 'default',
    eventPattern: p['EventPattern'],
    // EventBridge's defaults: 185 attempts, 24 h.
    maximumRetryAttempts: typeof retry?.['MaximumRetryAttempts'] === 'number' ? retry['MaximumRetryAttempts'] : 185,
    maximumEventAgeSeconds: typeof retry?.['MaximumEventAgeInSeconds'] === 'number' ? retry['MaximumEventAgeInSeconds'] : 86400,
    deadLetterQueueLogicalId: dlq?.['Arn'] ? logicalIdOf(dlq['Arn'], `${logicalId} DeadLetterConfig`) : undefined,
  };
}

export interface S3NotificationDefinition {
  readonly bucketLogicalId: string;
  readonly events: readonly string[];
  readonly prefix: string;
  readonly suffix: string;
}

/** The bucket notification that invokes the function: its events and its key prefix/suffix filter. */
export function readS3Notification(tpl: PackagedTemplate, fn: FunctionDefinition): S3NotificationDefinition {
  for (const [logicalId, r] of Object.entries(tpl.resources)) {
    if (r.Type !== 'AWS::S3::Bucket') continue;
    const configs = ((r.Properties?.['NotificationConfiguration'] as Record<string, unknown> | undefined)?.['LambdaConfigurations'] ??
      []) as Record<string, unknown>[];
    for (const c of configs) {
      let target: string;
      try {
        target = logicalIdOf(c['Function'], 'notification');
      } catch {
        continue;
      }
      if (target !== fn.logicalId) continue;
      const rules = ((((c['Filter'] as Record<string, unknown> | undefined)?.['S3Key'] as Record<string, unknown> | undefined)?.['Rules'] ??
        []) as { Name: string; Value: string }[]);
      const rule = (name: string): string => rules.find((x) => x.Name.toLowerCase() === name)?.Value ?? '';
      return { bucketLogicalId: logicalId, events: [String(c['Event'])], prefix: rule('prefix'), suffix: rule('suffix') };
    }
  }
  throw new Error(`${fn.name}: no S3 bucket notification targets it`);
}
