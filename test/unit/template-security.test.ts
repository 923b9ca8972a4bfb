// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here are serverless and CloudFormation variables, not JS templates.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageTemplate } from '../../infra/local/deploy-local.ts';
import { CHECKOV_VERSION, type CheckovReport, checkovInstalled, packagedTemplates, runCheckov } from '../../infra/serverless/checkov.ts';
import {
  flattenNestedStacks,
  NESTED_METADATA,
  type NestedStackRecord,
  nestedStackLogicalId,
  nestedTemplateFile,
  resourceCounts,
  splitIntoNestedStacks,
  stackGroupOf,
} from '../../infra/serverless/nesting.ts';
import { type FunctionAccess, functionAccess, logicalIds } from '../../infra/serverless/access.ts';
import { functionAlarms } from '../../infra/serverless/resources.ts';
import {
  type CfnTemplate,
  checkAccessLogs,
  checkApiStage,
  checkBuckets,
  checkCheckovSuppressions,
  checkDataAtRest,
  checkDecryptConditions,
  checkEnvironment,
  checkFunctionAlarms,
  checkKeys,
  checkLambdaPermissions,
  checkLogGroups,
  checkLogPermissionsScoped,
  checkNoSensitiveWildcards,
  checkQueues,
  checkRolePerFunction,
  checkRouteAuthorization,
  checkSecrets,
  checkSecretsKeyUse,
  checkUploadsKeyUse,
  CHECKS,
  deadLetterQueues,
  looksLikeSecretToken,
  type Statement,
} from '../../infra/serverless/template-checks.ts';

// The deployable template, offline: `sls package --stage test` once (no AWS credentials; the zips skip the
// sodium-native install with --param=esbuildExclude=*, the template is the same), then cfn-lint and the
// security assertions of infra/serverless/template-checks.ts. Each assertion also runs on a mutated copy,
// to prove it can fail. No emulator enforces IAM or key policies: this is where they are checked.
//
// Cost: ~10 s packaging + ~15 s cfn-lint + ~30 s checkov (both in the background while the assertions run).

const cfnLintAvailable = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0;
// Installed by `node infra/serverless/checkov.ts install` (.ci/run does it), pinned, in its own venv.
const checkovAvailable = checkovInstalled();
let dir: string;
/** The root template and the nested ones as packaged, and the single template they stand for (the checks read it). */
let rootTemplate: CfnTemplate;
let nested: Array<{ file: string; template: CfnTemplate }>;
let template: CfnTemplate;
let templatePaths: string[];
let lint: Promise<LintFinding[]> | undefined;
let checkov: Promise<CheckovReport> | undefined;

interface LintFinding {
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Rule: { Id: string };
  Location: { Path: Array<string | number> };
}

function cfnLint(paths: readonly string[]): Promise<LintFinding[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('cfn-lint', ['--format', 'json', '--non-zero-exit-code', 'none', '--', ...paths], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        resolve(JSON.parse(out || '[]') as LintFinding[]);
      } catch {
        reject(new Error(`cfn-lint exited ${code}: ${err.slice(-2000)}`));
      }
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'didit-template-'));
  await packageTemplate('test', { outDir: dir });
  templatePaths = packagedTemplates(dir);
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as CfnTemplate;
  rootTemplate = read(templatePaths[0]!);
  nested = templatePaths.slice(1).map((path) => ({ file: path.slice(dir.length + 1), template: read(path) }));
  template = flattenNestedStacks(rootTemplate, (file) => read(join(dir, file)));
  if (cfnLintAvailable) lint = cfnLint(templatePaths);
  if (checkovAvailable) checkov = runCheckov(templatePaths);
  // A rejection is reported by the cfn-lint / checkov test, not as an unhandled one.
  lint?.catch(() => {});
  checkov?.catch(() => {});
}, 180_000);

afterAll(async () => {
  await lint?.catch(() => {});
  await checkov?.catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The budget per template (CloudFormation's limit is 500): issue 11. */
const STACK_BUDGET = 250;

function splitOptions(access: readonly FunctionAccess[]) {
  return {
    groupOfFunction: new Map(access.map((fn) => [logicalIds(fn).function, stackGroupOf(fn.name)])),
    functionOfLogGroup: new Map(access.map((fn) => [logicalIds(fn).logGroup, logicalIds(fn).function])),
  };
}

function templateUrlOf(root: CfnTemplate, file: string): unknown {
  const stack = Object.values(root.Resources).find((r) => (r['Metadata'] as Record<string, NestedStackRecord> | undefined)?.[NESTED_METADATA]?.template === file);
  return stack?.Properties?.['TemplateURL'];
}

/**
 * The packaged template with every function doubled: each function and what it owns (log group, permission,
 * method, rule, event config), its role and every API path, cloned under new ids (`<Fn>Copy…`, `<id>Copy`); the
 * function alarms generated again for all of them. What grows with the operation table grows twice.
 */
function doubled(t: CfnTemplate): { template: CfnTemplate; access: FunctionAccess[] } {
  const fns = functionAccess();
  const copies = fns.map((fn) => ({ ...fn, name: `${fn.name}Copy`, logicalName: `${fn.logicalName}Copy` }));
  const split = splitIntoNestedStacks(t, { ...splitOptions(fns), templateUrl: () => '' });
  const owned = new Set(split.nested.flatMap((n) => Object.keys(n.template.Resources)));
  const alarms = new Set(Object.keys(functionAlarms(fns)));
  const cloned = Object.keys(t.Resources).filter(
    (id) => !alarms.has(id) && (owned.has(id) || t.Resources[id]!.Type === 'AWS::ApiGateway::Resource' || fns.some((fn) => logicalIds(fn).role === id)),
  );
  const prefixes = [...fns].map((fn) => fn.logicalName).sort((a, b) => b.length - a.length);
  const newId = new Map(
    cloned.map((id) => {
      const prefix = prefixes.find((p) => id.startsWith(p) && /^[A-Z]/.test(id.slice(p.length)));
      return [id, prefix ? `${prefix}Copy${id.slice(prefix.length)}` : `${id}Copy`];
    }),
  );
  const rename = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rename);
    if (typeof v === 'string') return newId.get(v) ?? v.replace(/\$\{([A-Za-z0-9]+)([.}])/g, (m, id: string, end: string) => (newId.has(id) ? `\${${newId.get(id)}${end}` : m));
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rename(x)]));
  };
  const out: CfnTemplate = structuredClone(t);
  for (const id of alarms) delete out.Resources[id];
  Object.assign(out.Resources, functionAlarms([...fns, ...copies]));
  for (const id of cloned) out.Resources[newId.get(id)!] = rename(structuredClone(t.Resources[id])) as CfnTemplate['Resources'][string];
  return { template: out, access: [...fns, ...copies] };
}

/** A deep copy to break. */
const copy = (): CfnTemplate => structuredClone(template);
const R = (t: CfnTemplate, id: string) => {
  const res = t.Resources[id];
  if (!res) throw new Error(`no resource ${id} in the packaged template`);
  return res as { Type: string; Properties: Record<string, any>; [k: string]: any };
};
const keyStatement = (t: CfnTemplate, sid: string, keyId = 'DiditSecretsKey'): Statement => {
  const s = (R(t, keyId).Properties['KeyPolicy'].Statement as Statement[]).find((x) => x.Sid === sid);
  if (!s) throw new Error(`no key policy statement ${sid} in ${keyId}`);
  return s;
};
const resourcePolicyStatements = (t: CfnTemplate, policyId: string): Statement[] => R(t, policyId).Properties['PolicyDocument'].Statement as Statement[];
const policyStatement = (t: CfnTemplate, policyId: string, sid: string): Statement => {
  const s = (R(t, policyId).Properties['PolicyDocument'].Statement as Statement[]).find((x) => x.Sid === sid);
  if (!s) throw new Error(`no statement ${sid} in ${policyId}`);
  return s;
};
const roleStatement = (t: CfnTemplate, roleId: string, sid: string): Statement => {
  const s = (R(t, roleId).Properties['Policies'][0].PolicyDocument.Statement as Statement[]).find((x) => x.Sid === sid);
  if (!s) throw new Error(`no statement ${sid} in ${roleId}`);
  return s;
};
const apiMethod = (t: CfnTemplate, fnLogicalId: string) => {
  const entry = Object.entries(t.Resources).find(
    ([, r]) => r.Type === 'AWS::ApiGateway::Method' && JSON.stringify(r.Properties?.['Integration'] ?? {}).includes(`"${fnLogicalId}"`),
  );
  if (!entry) throw new Error(`no method for ${fnLogicalId}`);
  return entry[1] as { Properties: Record<string, unknown> };
};

describe('the packaged CloudFormation template (sls package --stage test)', () => {
  it.skipIf(!cfnLintAvailable && process.env['CI'] !== 'true')(
    `cfn-lint: zero errors; warnings only of the known, explained kinds${cfnLintAvailable ? '' : ' (SKIPPED: cfn-lint not installed; pip install cfn-lint)'}`,
    async () => {
      expect(cfnLintAvailable, 'cfn-lint must be installed in CI (pip install cfn-lint)').toBe(true);
      const findings = await lint!;
      const errors = findings.filter((f) => f.Level === 'Error');
      expect(errors.map((e) => `${e.Rule.Id} ${e.Location.Path.join('/')}: ${e.Message}`)).toEqual([]);
      const warnings = new Map<string, number>();
      for (const f of findings.filter((x) => x.Level !== 'Error')) warnings.set(f.Rule.Id, (warnings.get(f.Rule.Id) ?? 0) + 1);
      // (W3005, a DependsOn that a GetAtt already implies: serverless adds each function's role to its DependsOn;
      //  in the nested stacks those become parameters, and the split leaves the implied stack DependsOn out.)
      // W8003: Fn::Equals of two literals, i.e. a param decided at package time, on purpose: HasVerifier and
      //        ManageApiGatewayAccount (opt-in params left unset), SignupOnDefaultBus (which form the sign-up
      //        rule's ARN takes in TriggerDeadLetterQueue's policy).
      expect(Object.fromEntries(warnings)).toEqual({ W8003: 3 });
    },
    300_000,
  );

  it.skipIf(!checkovAvailable && process.env['CI'] !== 'true')(
    `checkov ${CHECKOV_VERSION}: zero failed checks; every suppression is in the template with its reason${checkovAvailable ? '' : ' (SKIPPED: node infra/serverless/checkov.ts install)'}`,
    async () => {
      expect(checkovAvailable, 'checkov must be installed in CI (node infra/serverless/checkov.ts install)').toBe(true);
      const report = await checkov!;
      expect(report.failures.map((f) => `${f.checkId} ${f.resource}: ${f.checkName}`)).toEqual([]);
      expect(report.parsingErrors).toBe(0);
      expect(report.passed).toBeGreaterThan(0);
      // What checkov skipped is exactly what the template suppresses (checkCheckovSuppressions checks the reasons).
      const declared = Object.entries(template.Resources).flatMap(([id, r]) =>
        ((r['Metadata'] as { checkov?: { skip?: Array<{ id: string }> } } | undefined)?.checkov?.skip ?? []).map((s) => `${s.id} ${r.Type}.${id}`),
      );
      expect([...report.suppressed].sort()).toEqual(declared.sort());
    },
    180_000,
  );

  it(`stays inside the stack budget: at most ${STACK_BUDGET} resources in any template (CloudFormation allows 500)`, () => {
    const counts = resourceCounts(rootTemplate, nested);
    process.stderr.write(
      `[stack budget] resources per template: ${counts.map((c) => `${c.template.replace(/^cloudformation-template-nested-|\.json$/g, '')} ${c.resources}`).join(', ')}` +
        ` (${Object.keys(template.Resources).length} as one template)\n`,
    );
    for (const c of counts) expect(c.resources, c.template).toBeLessThanOrEqual(STACK_BUDGET);
    // CloudFormation reads templates up to 1 MB from S3.
    for (const t of [rootTemplate, ...nested.map((n) => n.template)]) expect(JSON.stringify(t).length).toBeLessThan(600_000);
    // Every function is in the nested stack its name hashes to, none in the root.
    for (const fn of functionAccess()) {
      const id = logicalIds(fn).function;
      expect(nested.find((n) => id in n.template.Resources)?.file, fn.name).toBe(nestedTemplateFile(stackGroupOf(fn.name)));
      expect(rootTemplate.Resources[id]).toBeUndefined();
    }
  });

  it('the nested stacks are the one template, split: splitting the flattened template again gives exactly what was packaged', () => {
    const again = splitIntoNestedStacks(template, { ...splitOptions(functionAccess()), templateUrl: (file) => templateUrlOf(rootTemplate, file) });
    expect(again.root).toEqual(rootTemplate);
    expect(again.nested.map((n) => ({ file: n.file, template: n.template }))).toEqual(nested);
    // The root keeps what the key policies name and what every function shares; no function-owned resource.
    const rootTypes = new Set(Object.values(rootTemplate.Resources).map((r) => r.Type));
    for (const type of ['AWS::Lambda::Function', 'AWS::ApiGateway::Method', 'AWS::Lambda::Permission', 'AWS::Lambda::EventInvokeConfig']) expect(rootTypes.has(type), type).toBe(false);
    expect(Object.values(rootTemplate.Resources).filter((r) => r.Type === 'AWS::IAM::Role').length).toBeGreaterThanOrEqual(functionAccess().length);
    // A function still waits for its KMS policies (its stack does), and the API deployment for every method.
    const stackOf = (fn: string) => R(rootTemplate, nestedStackLogicalId(stackGroupOf(fn)));
    expect(stackOf('createSession')['DependsOn']).toEqual(expect.arrayContaining(['SealedApiKeyReadPolicy']));
    expect(JSON.stringify(stackOf('createSession').Properties['Parameters'])).toContain('"CreateSessionLambdaRole","Arn"');
    const deployment = Object.values(rootTemplate.Resources).find((r) => r.Type === 'AWS::ApiGateway::Deployment')!;
    expect(deployment.DependsOn).toEqual(expect.arrayContaining(nested.filter((n) => Object.values(n.template.Resources).some((r) => r.Type === 'AWS::ApiGateway::Method')).map((n) => nestedStackLogicalId(Number(/(\d+)\.json$/.exec(n.file)![1])))));
    // Each nested template is fetched from the artifact directory of the zips, in the deployment bucket.
    const codeKey = String((template.Resources['CreateSessionLambdaFunction']!.Properties!['Code'] as Record<string, unknown>)['S3Key']);
    expect(JSON.stringify(templateUrlOf(rootTemplate, nested[0]!.file))).toContain(`/${codeKey.slice(0, codeKey.lastIndexOf('/'))}/${nested[0]!.file}`);
  });

  it(`has room for twice the operations: every function, its role, route and alarms cloned, split the same way, ≤ ${STACK_BUDGET} per template`, () => {
    const { template: twice, access } = doubled(template);
    const split = splitIntoNestedStacks(twice, { ...splitOptions(access), templateUrl: () => 'https://example.invalid/t.json' });
    const counts = resourceCounts(split.root, split.nested);
    process.stderr.write(`[stack budget] with ${access.length} functions: ${counts.map((c) => `${c.template.replace(/^cloudformation-template-nested-|\.json$/g, '')} ${c.resources}`).join(', ')}\n`);
    expect(access.length).toBe(2 * functionAccess().length);
    for (const c of counts) expect(c.resources, c.template).toBeLessThanOrEqual(STACK_BUDGET);
  });

  it('operating limits off by default: no X-Ray on functions or stage, no reserved concurrency; the 80 % spend alarm exists', () => {
    expect(R(template, 'ApiGatewayStage').Properties['TracingEnabled']).toBe(false);
    for (const [id, res] of Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function')) {
      expect(res.Properties?.['TracingConfig'], id).toBeUndefined();
      expect(res.Properties?.['ReservedConcurrentExecutions'], id).toBeUndefined();
      expect((res.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables?.['POWERTOOLS_TRACE_ENABLED'], id).toBe('false');
    }
    expect(R(template, 'SpendCapNearlyReachedAlarm').Properties).toMatchObject({ Threshold: 80, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(R(template, 'AmlScreeningLambdaFunction').Properties['Environment'].Variables).toMatchObject({
      DAILY_PAID_CALL_CAP: '0',
      SPEND_CAP_TABLE: { Ref: 'WebhookIdempotencyTable' },
    });
  });

  it('wires the event-driven functions as their authors specified (queue, bucket notification, rule, retries, alarms)', () => {
    const r = (id: string) => R(template, id).Properties;
    const esm = Object.values(template.Resources).filter((x) => x.Type === 'AWS::Lambda::EventSourceMapping');
    expect(esm.map((x) => x.Properties)).toEqual([
      {
        BatchSize: 5,
        MaximumBatchingWindowInSeconds: 1,
        EventSourceArn: { 'Fn::GetAtt': ['JobsQueue', 'Arn'] },
        FunctionName: { 'Fn::GetAtt': ['JobWorkerLambdaFunction', 'Arn'] },
        Enabled: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 5 },
      },
    ]);
    expect(r('JobsQueue')).toMatchObject({
      VisibilityTimeout: 540,
      MessageRetentionPeriod: 345600,
      ReceiveMessageWaitTimeSeconds: 20,
      MaximumMessageSize: 262144,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['JobsDeadLetterQueue', 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(r('JobsDeadLetterQueue')['RedriveAllowPolicy']).toMatchObject({ redrivePermission: 'byQueue' });
    expect(r('JobsTable')).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'jobId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: false,
    });
    // The manifest, and only the manifest, under intake/ starts onUpload; the permission exists first.
    expect(R(template, 'UploadIntakeBucket')['DependsOn']).toEqual(['OnUploadS3InvokePermission']);
    expect(r('UploadIntakeBucket')['NotificationConfiguration']).toEqual({
      LambdaConfigurations: [
        {
          Event: 's3:ObjectCreated:*',
          Filter: { S3Key: { Rules: [{ Name: 'prefix', Value: 'intake/' }, { Name: 'suffix', Value: '/manifest.json' }] } },
          Function: { 'Fn::GetAtt': ['OnUploadLambdaFunction', 'Arn'] },
        },
      ],
    });
    expect(r('UploadIntakeBucket')['VersioningConfiguration']).toBeUndefined();
    expect(r('UploadIntakeBucket')['LifecycleConfiguration'].Rules).toEqual([
      { Id: 'ExpireIntake', Status: 'Enabled', Prefix: 'intake/', ExpirationInDays: 1 },
      { Id: 'AbortIncompleteMultipartUploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
    ]);
    const rules = Object.values(template.Resources).filter((x) => x.Type === 'AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties).toMatchObject({
      Name: 'didit-kms-gateway-test-signup',
      EventPattern: { source: ['app.users'], 'detail-type': ['user.signup'] },
      Targets: [
        {
          Arn: { 'Fn::GetAtt': ['OnSignupLambdaFunction', 'Arn'] },
          RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['TriggerDeadLetterQueue', 'Arn'] } },
        },
      ],
    });
    // On the default bus (param signupEventBusName), so no EventBusName and no bus created by serverless.
    expect(rules[0]!.Properties!['EventBusName']).toBeUndefined();
    expect(Object.values(template.Resources).filter((x) => x.Type === 'AWS::Events::EventBus')).toHaveLength(1);
    const dlq = { OnFailure: { Destination: { 'Fn::GetAtt': ['TriggerDeadLetterQueue', 'Arn'] } } };
    expect(r('OnUploadLambdaEvConf')).toMatchObject({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600, DestinationConfig: dlq });
    expect(r('OnSignupLambdaEvConf')).toMatchObject({ MaximumRetryAttempts: 2, DestinationConfig: dlq });
    for (const alarm of ['JobsDeadLetterQueueAlarm', 'JobsQueueAgeAlarm', 'JobOutcomeUnknownAlarm', 'TriggerDeadLetterQueueAlarm']) {
      expect(R(template, alarm).Type, alarm).toBe('AWS::CloudWatch::Alarm');
    }
    // The worker's errors are in the Errors alarm of its nested stack.
    expect(
      Object.values(template.Resources).some((r) => r.Type === 'AWS::CloudWatch::Alarm' && /-errors$/.test(String(r.Properties?.['AlarmName'])) && JSON.stringify(r).includes('"JobWorkerLambdaFunction"')),
    ).toBe(true);
    expect(JSON.stringify(r('JobOutcomeUnknownAlarm'))).toContain('SUM(JobOutcomeUnknown) FROM DiditKmsGateway');
    // Timeouts and memory.
    expect(r('JobWorkerLambdaFunction')).toMatchObject({ Timeout: 90, MemorySize: 512 });
    expect(r('OnUploadLambdaFunction')).toMatchObject({ Timeout: 90, MemorySize: 1024 });
    expect(r('OnSignupLambdaFunction')).toMatchObject({ Timeout: 20 });
  });

  for (const [name, check] of Object.entries(CHECKS)) {
    it(`${name} holds`, () => {
      expect((check as (t: CfnTemplate) => string[])(template)).toEqual([]);
    });
  }
});

describe('each assertion catches a broken template', () => {
  it('checkRouteAuthorization: a table route without IAM auth; an IAM-signed webhook', () => {
    const t = copy();
    apiMethod(t, 'CreateSessionLambdaFunction').Properties['AuthorizationType'] = 'NONE';
    expect(checkRouteAuthorization(t)).toEqual([expect.stringMatching(/CreateSessionLambdaFunction.*AWS_IAM, got NONE/)]);
    const u = copy();
    apiMethod(u, 'DiditWebhookLambdaFunction').Properties['AuthorizationType'] = 'AWS_IAM';
    expect(checkRouteAuthorization(u)).toEqual([expect.stringMatching(/DiditWebhookLambdaFunction must have AuthorizationType NONE/)]);
  });

  it('checkNoSensitiveWildcards: kms:*, secretsmanager:Get*, Action "*", Resource "*", a table/* resource', () => {
    const t = copy();
    policyStatement(t, 'SealedApiKeyReadPolicy', 'DecryptSealedApiKey').Action = ['kms:*'];
    policyStatement(t, 'SealedApiKeyReadPolicy', 'ReadSealedApiKey').Action = ['secretsmanager:Get*'];
    roleStatement(t, 'DiditWebhookLambdaRole', 'PublishDeliveries').Resource = '*';
    roleStatement(t, 'DiditWebhookLambdaRole', 'DedupeDeliveries').Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*' };
    roleStatement(t, 'OpenApiDocumentLambdaRole', 'WriteOwnLogGroup').Action = ['*'];
    const v = checkNoSensitiveWildcards(t);
    expect(v).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/DecryptSealedApiKey.*wildcard action kms:\*/),
        expect.stringMatching(/ReadSealedApiKey.*wildcard action secretsmanager:Get\*/),
        expect.stringMatching(/PublishDeliveries.*wildcard resource \*/),
        expect.stringMatching(/DedupeDeliveries.*wildcard resource .*table\/\*/),
        expect.stringMatching(/OpenApiDocumentLambdaRole.*action \*/),
      ]),
    );
  });

  it('checkNoSensitiveWildcards: the intake/ prefix is the one S3 exception; the whole bucket, any bucket, a bucket-level action on a prefix are not', () => {
    // As packaged: s3:PutObject / GetObject / DeleteObject on <intake bucket>/intake/* pass.
    expect(checkNoSensitiveWildcards(template)).toEqual([]);
    const t = copy();
    const bucketArn = 'arn:${AWS::Partition}:s3:::didit-kms-gateway-test-intake-${AWS::AccountId}-${AWS::Region}';
    roleStatement(t, 'CreateUploadUrlLambdaRole', 'PutIntakeObjects').Resource = { 'Fn::Sub': `${bucketArn}/*` };
    roleStatement(t, 'OnUploadLambdaRole', 'ReadAndDeleteIntakeObjects').Action = ['s3:GetObject', 's3:DeleteObject', 's3:ListBucket'];
    roleStatement(t, 'OnUploadLambdaRole', 'ListIntakePrefix').Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::*' };
    roleStatement(t, 'JobWorkerLambdaRole', 'ConsumeJobs').Action = ['sqs:*'];
    const u = copy();
    // A prefix of a bucket that is not this template's.
    roleStatement(u, 'CreateUploadUrlLambdaRole', 'PutIntakeObjects').Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::someone-elses-bucket/intake/*' };
    expect(checkNoSensitiveWildcards(t)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/CreateUploadUrlLambdaRole.*PutIntakeObjects.*wildcard resource .*-intake-.*\/\* for s3:PutObject/),
        expect.stringMatching(/OnUploadLambdaRole.*ReadAndDeleteIntakeObjects.*wildcard resource .*\/intake\/\* for s3:GetObject,s3:DeleteObject,s3:ListBucket/),
        expect.stringMatching(/OnUploadLambdaRole.*ListIntakePrefix.*wildcard resource arn:\$\{AWS::Partition\}:s3:::\*/),
        expect.stringMatching(/JobWorkerLambdaRole.*ConsumeJobs.*wildcard action sqs:\*/),
      ]),
    );
    expect(checkNoSensitiveWildcards(u)).toEqual([expect.stringMatching(/PutIntakeObjects.*someone-elses-bucket\/intake\/\*/)]);
  });

  it('checkDecryptConditions: Decrypt without purpose; the Secrets Manager statement without ViaService; a bare Decrypt', () => {
    const t = copy();
    delete (keyStatement(t, 'DecryptApiKeyOperationFunctionsOnly').Condition!['StringEquals'] as Record<string, unknown>)['kms:EncryptionContext:purpose'];
    delete (policyStatement(t, 'SealedApiKeyReadPolicy', 'SecretsManagerReadsApiKeySecret').Condition!['StringEquals'] as Record<string, unknown>)['kms:ViaService'];
    (R(t, 'OpenApiDocumentLambdaRole').Properties['Policies'][0].PolicyDocument.Statement as Statement[]).push({
      Sid: 'Sneaky',
      Effect: 'Allow',
      Action: ['kms:Decrypt'],
      Resource: { 'Fn::GetAtt': ['DiditSecretsKey', 'Arn'] },
    });
    const v = checkDecryptConditions(t);
    expect(v).toHaveLength(3);
    expect(v).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/OpenApiDocumentLambdaRole.*Sneaky.*without an encryption-context purpose/),
        expect.stringMatching(/SealedApiKeyReadPolicy.*SecretsManagerReadsApiKeySecret.*without an encryption-context purpose/),
        expect.stringMatching(/DiditSecretsKey.*DecryptApiKeyOperationFunctionsOnly.*without an encryption-context purpose/),
      ]),
    );
  });

  it('checkDecryptConditions: job results without their purpose; S3 decrypt of the uploads key without the bucket context, or for another bucket', () => {
    const t = copy();
    delete (keyStatement(t, 'DecryptJobResultsGetJobOnly').Condition!['StringEquals'] as Record<string, unknown>)['kms:EncryptionContext:purpose'];
    delete policyStatement(t, 'UploadsKeyIntakePolicy', 'S3DecryptsUploads').Condition!['StringLike'];
    (keyStatement(t, 'S3DecryptsUploadsForTheIntakeTrigger', 'UploadsKey').Condition!['StringLike'] as Record<string, unknown>)['kms:EncryptionContext:aws:s3:arn'] =
      'arn:aws:s3:::someone-elses-bucket';
    expect(checkDecryptConditions(t)).toEqual([
      expect.stringMatching(/DiditSecretsKey\[DecryptJobResultsGetJobOnly\].*without an encryption-context purpose/),
      expect.stringMatching(/UploadsKey\[S3DecryptsUploadsForTheIntakeTrigger\]: S3 decrypt for arn:aws:s3:::someone-elses-bucket, not a bucket of this template/),
      expect.stringMatching(/UploadsKeyIntakePolicy\[S3DecryptsUploads\]: S3 decrypt without kms:EncryptionContext:aws:s3:arn/),
    ]);
  });

  it('checkSecretsKeyUse: job-result data keys for another role or purpose; no statement lets getJob decrypt results', () => {
    const t = copy();
    const gdk = keyStatement(t, 'GenerateJobResultKeysWorkerOnly');
    ((gdk.Condition!['ArnEquals'] as Record<string, unknown[]>)['aws:PrincipalArn'] as unknown[]).push({ 'Fn::GetAtt': ['OnUploadLambdaRole', 'Arn'] });
    (gdk.Condition!['StringEquals'] as Record<string, unknown>)['kms:EncryptionContext:purpose'] = 'didit-api-key';
    const statements = R(t, 'DiditSecretsKey').Properties['KeyPolicy'].Statement as Statement[];
    statements.splice(statements.findIndex((x) => x.Sid === 'DecryptJobResultsGetJobOnly'), 1);
    expect(checkSecretsKeyUse(t)).toEqual([
      expect.stringMatching(/GenerateJobResultKeysWorkerOnly.*may kms:GenerateDataKey only under didit-job-result/),
      expect.stringMatching(/GenerateJobResultKeysWorkerOnly.*may generate data keys but do not seal job results: OnUploadLambdaRole/),
      'DiditSecretsKey: no key policy statement lets GetJobLambdaRole decrypt didit-job-result',
    ]);
  });

  it('checkUploadsKeyUse: the intake role may generate data keys; a use not limited to S3; Encrypt for a role; no Decrypt statement', () => {
    const t = copy();
    const presign = keyStatement(t, 'S3EncryptsUploadsForThePresigner', 'UploadsKey');
    ((presign.Condition!['ArnEquals'] as Record<string, unknown[]>)['aws:PrincipalArn'] as unknown[]).push({ 'Fn::GetAtt': ['OnUploadLambdaRole', 'Arn'] });
    delete (presign.Condition!['StringEquals'] as Record<string, unknown>)['kms:ViaService'];
    const statements = R(t, 'UploadsKey').Properties['KeyPolicy'].Statement as Statement[];
    const decrypt = statements.findIndex((x) => x.Sid === 'S3DecryptsUploadsForTheIntakeTrigger');
    statements[decrypt] = { ...statements[decrypt]!, Action: 'kms:Encrypt' };
    expect(checkUploadsKeyUse(t)).toEqual([
      expect.stringMatching(/UploadsKey\[S3EncryptsUploadsForThePresigner\]: not limited to S3/),
      expect.stringMatching(/UploadsKey\[S3DecryptsUploadsForTheIntakeTrigger\]: allows kms:Encrypt/),
      'UploadsKey: roles that may kms:GenerateDataKey but do not need to: OnUploadLambdaRole',
      'UploadsKey: roles that need kms:Decrypt but cannot: OnUploadLambdaRole',
    ]);
    const u = copy();
    delete u.Resources['UploadsKey'];
    expect(checkUploadsKeyUse(u)).toEqual(['UploadsKey: no such KMS key, but the access model uses it']);
  });

  it('checkSecretsKeyUse: the sealer or the docs role may Decrypt the API key; use for the whole account; sealing functions Encrypt the API key; the verifier switched on', () => {
    const t = copy();
    const arns = (keyStatement(t, 'DecryptApiKeyOperationFunctionsOnly').Condition!['ArnEquals'] as Record<string, unknown[]>)['aws:PrincipalArn']!;
    arns.push({ 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/didit-kms-gateway-test-sealer' });
    arns.push({ 'Fn::GetAtt': ['OpenApiDocumentLambdaRole', 'Arn'] });
    delete keyStatement(t, 'DecryptWebhookSecretReceiverOnly').Condition!['ArnEquals'];
    (keyStatement(t, 'EncryptWebhookSecretSealingFunctionsOnly').Condition!['StringEquals'] as Record<string, unknown>)['kms:EncryptionContext:purpose'] = 'didit-api-key';
    expect(checkSecretsKeyUse(t)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/DecryptApiKeyOperationFunctionsOnly.*not a function role.*sealer/),
        expect.stringMatching(/DecryptApiKeyOperationFunctionsOnly.*may decrypt didit-api-key but do not need to: OpenApiDocumentLambdaRole/),
        expect.stringMatching(/DecryptWebhookSecretReceiverOnly.*must be granted to named principals/),
        expect.stringMatching(/EncryptWebhookSecretSealingFunctionsOnly.*only under didit-webhook-secret/),
      ]),
    );
    // The opt-in verifier (param verifierPrincipalArn) is exactly a non-function principal that may Decrypt.
    const u = copy();
    (u['Conditions'] as Record<string, unknown>)['HasVerifier'] = { 'Fn::Equals': ['on', 'on'] };
    expect(checkSecretsKeyUse(u)).toEqual(expect.arrayContaining([expect.stringMatching(/OptionalDecryptForTheVerifier.*not a function role/)]));
  });

  it('checkKeys: rotation off; an administrator that may decrypt', () => {
    const t = copy();
    R(t, 'DiditLogsKey').Properties['EnableKeyRotation'] = false;
    keyStatement(t, 'KeyAdministrationWithoutUse').Action = ['kms:*'];
    expect(checkKeys(t)).toEqual(
      expect.arrayContaining([
        'DiditLogsKey: EnableKeyRotation must be true',
        expect.stringMatching(/DiditSecretsKey\[KeyAdministrationWithoutUse\].*allows kms:Decrypt/),
        expect.stringMatching(/KeyAdministrationWithoutUse.*allows kms:CreateGrant/),
      ]),
    );
  });

  it('checkRolePerFunction: a shared role; the docs function given the API key; a managed policy', () => {
    const t = copy();
    R(t, 'OpenApiDocumentLambdaFunction').Properties['Role'] = { 'Fn::GetAtt': ['ListSessionsLambdaRole', 'Arn'] };
    const u = copy();
    R(u, 'SealedApiKeyReadPolicy').Properties['Roles'].push({ Ref: 'OpenApiDocumentLambdaRole' });
    R(u, 'DiditWebhookLambdaRole').Properties['ManagedPolicyArns'] = ['arn:aws:iam::aws:policy/AdministratorAccess'];
    expect(checkRolePerFunction(t)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/ListSessionsLambdaRole \(openApiDocument\): grants \[.*kms:Decrypt.*\], expected \[logs:CreateLogStream, logs:PutLogEvents, xray:PutTelemetryRecords, xray:PutTraceSegments\]/),
        expect.stringMatching(/ListSessionsLambdaRole is shared by/),
      ]),
    );
    expect(checkRolePerFunction(u)).toEqual([
      'DiditWebhookLambdaRole: managed policies are not allowed on a function role',
      expect.stringMatching(/OpenApiDocumentLambdaRole \(openApiDocument\): grants .*secretsmanager:GetSecretValue/),
    ]);
  });

  it('checkRolePerFunction: the right actions on the wrong resources, under the wrong purpose, without the prefix condition', () => {
    const t = copy();
    // jobWorker may DeleteItem (on the idempotency table), but not on the jobs table.
    roleStatement(t, 'JobWorkerLambdaRole', 'UseJobsTable').Action = ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'];
    // getJob decrypts job results, not the API key.
    (policyStatement(t, 'JobResultReadPolicy', 'DecryptJobResultDataKeys').Condition!['StringEquals'] as Record<string, unknown>)['kms:EncryptionContext:purpose'] = 'didit-api-key';
    // onUpload lists under intake/ only.
    delete roleStatement(t, 'OnUploadLambdaRole', 'ListIntakePrefix').Condition;
    // submitJob sends to its queue, not to the trigger DLQ.
    roleStatement(t, 'SubmitJobLambdaRole', 'QueueJobs').Resource = { 'Fn::GetAtt': ['TriggerDeadLetterQueue', 'Arn'] };
    // Sorted: the order of the functions in the (flattened) template is not a property.
    expect(checkRolePerFunction(t).sort()).toEqual([
      'GetJobLambdaRole (getJob): grants kms:Decrypt on DiditSecretsKey[purpose=didit-api-key], which the access model does not',
      'GetJobLambdaRole (getJob): lacks kms:Decrypt on DiditSecretsKey[purpose=didit-job-result]',
      'JobWorkerLambdaRole (jobWorker): grants dynamodb:DeleteItem on JobsTable, which the access model does not',
      'OnUploadLambdaRole (onUpload): grants s3:ListBucket on UploadIntakeBucket, which the access model does not',
      'OnUploadLambdaRole (onUpload): lacks s3:ListBucket on UploadIntakeBucket[prefix=intake/*]',
      'SubmitJobLambdaRole (submitJob): grants sqs:SendMessage on TriggerDeadLetterQueue, which the access model does not',
      'SubmitJobLambdaRole (submitJob): lacks sqs:SendMessage on JobsQueue',
    ]);
  });

  it('checkRolePerFunction: the spend counter grant is limited to its own stage\'s counter items', () => {
    const fns = functionAccess();
    const paid = fns.filter((fn) => fn.countsPaidCalls).map((fn) => fn.name);
    // Paid operations and the three functions that run them for events; never a free read.
    expect(paid).toEqual(expect.arrayContaining(['amlScreening', 'createSession', 'jobWorker', 'onUpload', 'onSignup']));
    expect(paid).not.toContain('listSessions');
    expect(roleStatement(template, 'AmlScreeningLambdaRole', 'CountPaidCalls').Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['spend-cap#test#*'] },
    });
    const t = copy();
    delete roleStatement(t, 'AmlScreeningLambdaRole', 'CountPaidCalls').Condition;
    const u = copy();
    // Every stage's counter (or any item at all) is too much.
    roleStatement(u, 'AmlScreeningLambdaRole', 'CountPaidCalls').Condition = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['spend-cap#*'] } };
    for (const bad of [t, u]) {
      expect(checkRolePerFunction(bad)).toEqual([
        expect.stringMatching(/^AmlScreeningLambdaRole \(amlScreening\): grants dynamodb:GetItem on WebhookIdempotencyTable.*which the access model does not/),
        expect.stringMatching(/^AmlScreeningLambdaRole \(amlScreening\): lacks dynamodb:GetItem on WebhookIdempotencyTable\[leading=spend-cap#<stage>#\*\]/),
      ]);
    }
  });

  it('checkRolePerFunction covers the event-driven functions: each has its own role with exactly its access', () => {
    const names = ['submitJob', 'getJob', 'jobWorker', 'createUploadUrl', 'onUpload', 'onSignup'];
    const fns = functionAccess().filter((fn) => names.includes(fn.name));
    expect(fns.map((fn) => fn.name).sort()).toEqual([...names].sort());
    for (const fn of fns) expect(R(template, logicalIds(fn).function).Properties['Role']).toEqual({ 'Fn::GetAtt': [logicalIds(fn).role, 'Arn'] });
    // A sign-up function that may also read uploads is caught.
    const t = copy();
    roleStatement(t, 'OnSignupLambdaRole', 'SendFailedInvocations').Action = ['sqs:SendMessage', 's3:GetObject'];
    expect(checkRolePerFunction(t)).toEqual([expect.stringMatching(/OnSignupLambdaRole \(onSignup\): grants \[.*s3:GetObject.*\], expected/)]);
  });

  it('checkLogPermissionsScoped: a role that may write every Lambda log group', () => {
    const t = copy();
    roleStatement(t, 'CreateSessionLambdaRole', 'WriteOwnLogGroup').Resource = {
      'Fn::Sub': 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*:*',
    };
    expect(checkLogPermissionsScoped(t)).toEqual([expect.stringMatching(/CreateSessionLambdaRole.*not only didit-kms-gateway-test-createSession's log group/)]);
  });

  it('checkLogGroups: no KMS key, no retention, a function whose log group the template does not create', () => {
    const t = copy();
    delete R(t, 'CreateSessionLogGroup').Properties['KmsKeyId'];
    delete R(t, 'ApiGatewayAccessLogGroup').Properties['RetentionInDays'];
    delete t.Resources['GetWorkflowLogGroup'];
    expect(checkLogGroups(t)).toEqual(
      expect.arrayContaining([
        'CreateSessionLogGroup: no KmsKeyId',
        'ApiGatewayAccessLogGroup: no RetentionInDays',
        expect.stringMatching(/GetWorkflowLambdaFunction: writes to \/aws\/lambda\/didit-kms-gateway-test-getWorkflow, which the template does not create/),
      ]),
    );
  });

  it('checkQueues: which queues are dead-letter queues, and why', () => {
    // Referenced as a RedrivePolicy target, a Lambda on-failure destination, an EventBridge target DLQ.
    expect(Object.fromEntries(deadLetterQueues(template))).toEqual({
      JobsDeadLetterQueue: ['JobsQueue.RedrivePolicy'],
      TriggerDeadLetterQueue: ['OnUploadLambdaEvConf.OnFailure', 'OnSignupLambdaEvConf.OnFailure', expect.stringMatching(/EventBridgeRule\.DeadLetterConfig$/)],
    });
  });

  it('checkQueues: a queue with no DLQ and no SSE (and a well-formed pair passes)', () => {
    const t = copy();
    const denyTls = (queue: string) => ({
      Type: 'AWS::SQS::QueuePolicy',
      Properties: {
        Queues: [{ Ref: queue }],
        PolicyDocument: { Statement: [{ Effect: 'Deny', Principal: '*', Action: 'sqs:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': false } } }] },
      },
    });
    const dataKey = { 'Fn::GetAtt': ['DataAtRestKey', 'Arn'] };
    t.Resources['Bad'] = { Type: 'AWS::SQS::Queue', Properties: { SqsManagedSseEnabled: false } };
    t.Resources['BadPolicy'] = denyTls('Bad');
    // SQS-owned keys (SSE-SQS) and the AWS managed alias/aws/sqs are encryption, but no key policy of ours decides who reads.
    t.Resources['SseSqs'] = { Type: 'AWS::SQS::Queue', Properties: { SqsManagedSseEnabled: true, RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['Dlq', 'Arn'] }, maxReceiveCount: 3 } } };
    t.Resources['SseSqsPolicy'] = denyTls('SseSqs');
    t.Resources['AwsManaged'] = { Type: 'AWS::SQS::Queue', Properties: { KmsMasterKeyId: 'alias/aws/sqs', RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['Dlq', 'Arn'] }, maxReceiveCount: 3 } } };
    t.Resources['AwsManagedPolicy'] = denyTls('AwsManaged');
    t.Resources['Dlq'] = { Type: 'AWS::SQS::Queue', Properties: { KmsMasterKeyId: dataKey, MessageRetentionPeriod: 1_209_600 } };
    t.Resources['DlqPolicy'] = denyTls('Dlq');
    t.Resources['Good'] = {
      Type: 'AWS::SQS::Queue',
      Properties: { KmsMasterKeyId: dataKey, RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['Dlq', 'Arn'] }, maxReceiveCount: 3 } },
    };
    t.Resources['GoodPolicy'] = denyTls('Good');
    expect(checkQueues(t)).toEqual([
      'Bad: not encrypted with a KMS key of this template (KmsMasterKeyId)',
      'Bad: no dead-letter queue (RedrivePolicy.deadLetterTargetArn)',
      'SseSqs: not encrypted with a KMS key of this template (KmsMasterKeyId)',
      'AwsManaged: not encrypted with a KMS key of this template (KmsMasterKeyId)',
    ]);
  });

  it('checkQueues: a dead-letter queue needs none of its own but must not have one, and keeps 14 days', () => {
    const t = copy();
    // The trigger DLQ given a DLQ (the jobs DLQ): not allowed; the jobs DLQ is still a DLQ (of JobsQueue).
    R(t, 'TriggerDeadLetterQueue').Properties['RedrivePolicy'] = { deadLetterTargetArn: { 'Fn::GetAtt': ['JobsDeadLetterQueue', 'Arn'] }, maxReceiveCount: 3 };
    R(t, 'JobsDeadLetterQueue').Properties['MessageRetentionPeriod'] = 345_600;
    expect(checkQueues(t)).toEqual([
      'JobsDeadLetterQueue: a dead-letter queue must keep messages 1209600 s (14 days), has 345600',
      expect.stringMatching(/^TriggerDeadLetterQueue: a dead-letter queue \(of .*OnSignupLambdaEvConf\.OnFailure.*\) must not have a RedrivePolicy of its own$/),
    ]);
    // The job queue without its DLQ: it needs one, and the jobs DLQ, referenced by nothing, is an ordinary queue needing one too.
    const u = copy();
    delete R(u, 'JobsQueue').Properties['RedrivePolicy'];
    expect(checkQueues(u)).toEqual([
      'JobsQueue: no dead-letter queue (RedrivePolicy.deadLetterTargetArn)',
      'JobsDeadLetterQueue: no dead-letter queue (RedrivePolicy.deadLetterTargetArn)',
    ]);
  });

  it('checkQueues: a queue policy without the TLS deny; EventBridge allowed to send from any rule', () => {
    const t = copy();
    resourcePolicyStatements(t, 'JobsQueuePolicy').splice(0, 1);
    const allow = resourcePolicyStatements(t, 'TriggerDeadLetterQueuePolicy').find((x) => x.Sid === 'SignupRuleDeadLetters')!;
    const u = copy();
    delete allow.Condition;
    const allowU = resourcePolicyStatements(u, 'TriggerDeadLetterQueuePolicy').find((x) => x.Sid === 'SignupRuleDeadLetters')!;
    (allowU.Condition!['ArnEquals'] as Record<string, unknown>)['aws:SourceArn'] = { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*' };
    expect(checkQueues(t)).toEqual([
      'JobsQueue: no queue policy denying aws:SecureTransport = false',
      'TriggerDeadLetterQueuePolicy[SignupRuleDeadLetters]: a service may send without an exact aws:SourceArn',
    ]);
    expect(checkQueues(u)).toEqual([expect.stringMatching(/SignupRuleDeadLetters\]: wildcard aws:SourceArn .*rule\/\*/)]);
  });

  it('checkBuckets: public access not blocked; no deny of plain HTTP', () => {
    const t = copy();
    delete R(t, 'ServerlessDeploymentBucket').Properties['PublicAccessBlockConfiguration'];
    R(t, 'ServerlessDeploymentBucketPolicy').Properties['PolicyDocument'].Statement = [];
    expect(checkBuckets(t)).toEqual(
      expect.arrayContaining([
        'ServerlessDeploymentBucket: PublicAccessBlockConfiguration.BlockPublicAcls is not true',
        'ServerlessDeploymentBucket: no bucket policy denying aws:SecureTransport = false',
      ]),
    );
  });

  it('checkBuckets: the intake bucket is checked and passes; public access, TLS, SSE-KMS enforcement, ACLs, default encryption each fail it', () => {
    expect(checkBuckets(template)).toEqual([]);
    expect(R(template, 'UploadIntakeBucket').Type).toBe('AWS::S3::Bucket');
    const t = copy();
    R(t, 'UploadIntakeBucket').Properties['PublicAccessBlockConfiguration'].RestrictPublicBuckets = false;
    R(t, 'UploadIntakeBucket').Properties['OwnershipControls'].Rules[0].ObjectOwnership = 'ObjectWriter';
    const statements = resourcePolicyStatements(t, 'UploadIntakeBucketPolicy');
    statements.splice(statements.findIndex((x) => x.Sid === 'DenyWithoutTls'), 1);
    // An extra condition ANDed into the key deny would let most uploads through: not accepted as the deny.
    const anotherKey = statements.find((x) => x.Sid === 'DenyUploadsWithAnotherKey')!;
    anotherKey.Condition = { ...anotherKey.Condition!, StringEquals: { 's3:x-amz-acl': 'private' } };
    delete R(t, 'ServerlessDeploymentBucket').Properties['BucketEncryption'];
    expect(checkBuckets(t)).toEqual([
      'ServerlessDeploymentBucket: no default encryption (BucketEncryption)',
      'UploadIntakeBucket: PublicAccessBlockConfiguration.RestrictPublicBuckets is not true',
      'UploadIntakeBucket: ObjectOwnership ObjectWriter enables ACLs',
      'UploadIntakeBucket: no bucket policy denying aws:SecureTransport = false',
      'UploadIntakeBucket: no bucket policy denying uploads under a key other than UploadsKey (s3:x-amz-server-side-encryption-aws-kms-key-id)',
    ]);
    const u = copy();
    const us = resourcePolicyStatements(u, 'UploadIntakeBucketPolicy');
    us.splice(us.findIndex((x) => x.Sid === 'DenyUploadsWithoutSseKms'), 1);
    expect(checkBuckets(u)).toEqual(['UploadIntakeBucket: no bucket policy denying uploads without SSE-KMS (s3:x-amz-server-side-encryption)']);
  });

  it('checkDataAtRest: a table under the AWS managed key; the data key usable outside DynamoDB/SQS, by a named role, by everyone, from any rule', () => {
    expect(R(template, 'JobsTable').Properties['SSESpecification']).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': ['DataAtRestKey', 'Arn'] } });
    expect(R(template, 'WebhookIdempotencyTable').Properties['SSESpecification'].KMSMasterKeyId).toEqual({ 'Fn::GetAtt': ['DataAtRestKey', 'Arn'] });
    const t = copy();
    delete R(t, 'WebhookIdempotencyTable').Properties['SSESpecification'].KMSMasterKeyId;
    const account = keyStatement(t, 'DynamoDbAndSqsForThisAccountOnly', 'DataAtRestKey');
    (account.Condition!['StringEquals'] as Record<string, unknown>)['kms:ViaService'] = [{ 'Fn::Sub': 'dynamodb.${AWS::Region}.amazonaws.com' }, { 'Fn::Sub': 's3.${AWS::Region}.amazonaws.com' }];
    delete (account.Condition!['StringEquals'] as Record<string, unknown>)['kms:CallerAccount'];
    (keyStatement(t, 'SignupRuleDeadLettersOnly', 'DataAtRestKey').Condition!['ArnEquals'] as Record<string, unknown>)['aws:SourceArn'] = {
      'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*',
    };
    const statements = R(t, 'DataAtRestKey').Properties['KeyPolicy'].Statement as Statement[];
    statements.push({ Sid: 'Everyone', Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*' });
    statements.push({ Sid: 'OneRole', Effect: 'Allow', Principal: { AWS: { 'Fn::GetAtt': ['GetJobLambdaRole', 'Arn'] } }, Action: 'kms:Decrypt', Resource: '*' });
    expect(checkDataAtRest(t)).toEqual([
      'WebhookIdempotencyTable: not encrypted with a KMS key of this template (SSESpecification: SSEEnabled, SSEType KMS, KMSMasterKeyId)',
      expect.stringMatching(/DataAtRestKey\[DynamoDbAndSqsForThisAccountOnly\]: not limited to DynamoDB\/SQS of this region .*s3\./),
      'DataAtRestKey[DynamoDbAndSqsForThisAccountOnly]: not limited to this account (kms:CallerAccount)',
      expect.stringMatching(/DataAtRestKey\[SignupRuleDeadLettersOnly\]: wildcard aws:SourceArn .*rule\/\*/),
      expect.stringMatching(/DataAtRestKey\[Everyone\]: kms:Decrypt for \{"AWS":"\*"\}: only this account/),
      expect.stringMatching(/DataAtRestKey\[OneRole\]: kms:Decrypt for .*GetJobLambdaRole.*: only this account/),
    ]);
    // The DynamoDB/SQS statement is also a Decrypt that checkDecryptConditions accepts only with kms:CallerAccount.
    const u = copy();
    delete (keyStatement(u, 'DynamoDbAndSqsForThisAccountOnly', 'DataAtRestKey').Condition!['StringEquals'] as Record<string, unknown>)['kms:CallerAccount'];
    expect(checkDecryptConditions(u)).toEqual(['DataAtRestKey[DynamoDbAndSqsForThisAccountOnly]: DynamoDB/SQS use in a key policy without kms:CallerAccount = this account']);
  });

  it('checkRolePerFunction: the data key through the services each role uses, and only those', () => {
    expect(roleStatement(template, 'SubmitJobLambdaRole', 'DataKeyThroughSqs').Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(roleStatement(template, 'JobWorkerLambdaRole', 'DataKeyThroughSqs').Action).toEqual(['kms:Decrypt']);
    const t = copy();
    // The worker only reads the queue: no new data keys through SQS.
    roleStatement(t, 'JobWorkerLambdaRole', 'DataKeyThroughSqs').Action = ['kms:Decrypt', 'kms:GenerateDataKey'];
    // getJob reads its table through DynamoDB, not through S3.
    (roleStatement(t, 'GetJobLambdaRole', 'DataKeyThroughDynamoDb').Condition!['StringEquals'] as Record<string, unknown>)['kms:ViaService'] = {
      'Fn::Sub': 's3.${AWS::Region}.amazonaws.com',
    };
    expect(checkRolePerFunction(t).sort()).toEqual([
      'GetJobLambdaRole (getJob): grants kms:Decrypt on DataAtRestKey[via s3]; kms:DescribeKey on DataAtRestKey[via s3]; kms:Encrypt on DataAtRestKey[via s3]; kms:GenerateDataKey on DataAtRestKey[via s3], which the access model does not',
      'GetJobLambdaRole (getJob): lacks kms:Decrypt on DataAtRestKey[via dynamodb]; kms:DescribeKey on DataAtRestKey[via dynamodb]; kms:Encrypt on DataAtRestKey[via dynamodb]; kms:GenerateDataKey on DataAtRestKey[via dynamodb]',
      'JobWorkerLambdaRole (jobWorker): grants kms:GenerateDataKey on DataAtRestKey[via sqs], which the access model does not',
    ]);
  });

  it('checkAccessLogs: the intake and deployment buckets log to the access-log bucket, which only S3 log delivery may write, kept after the stack', () => {
    expect(R(template, 'UploadIntakeBucket').Properties['LoggingConfiguration']).toEqual({ DestinationBucketName: { Ref: 'AccessLogsBucket' }, LogFilePrefix: 'intake/' });
    expect(R(template, 'ServerlessDeploymentBucket').Properties['LoggingConfiguration']).toEqual({ DestinationBucketName: { Ref: 'AccessLogsBucket' }, LogFilePrefix: 'deployment/' });
    const t = copy();
    delete R(t, 'UploadIntakeBucket').Properties['LoggingConfiguration'];
    R(t, 'AccessLogsBucket').DeletionPolicy = 'Delete';
    R(t, 'AccessLogsBucket').Properties['BucketEncryption'].ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault = { SSEAlgorithm: 'aws:kms' };
    const allow = resourcePolicyStatements(t, 'AccessLogsBucketPolicy').find((x) => x.Sid === 'S3ServerAccessLogsFromTheseBuckets')!;
    allow.Principal = { Service: ['logging.s3.amazonaws.com', 'events.amazonaws.com'] };
    delete allow.Condition!['StringEquals'];
    (allow.Condition!['ArnEquals'] as Record<string, unknown>)['aws:SourceArn'] = { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::*' };
    expect(checkAccessLogs(t)).toEqual([
      'UploadIntakeBucket: no access logging (LoggingConfiguration.DestinationBucketName) to a bucket of this template',
      'AccessLogsBucket: an access-log target must use SSE-S3 (AES256), the encryption log delivery supports',
      'AccessLogsBucket: an access-log target must be kept when the stack is deleted (DeletionPolicy: Retain)',
      expect.stringMatching(/AccessLogsBucket policy \[S3ServerAccessLogsFromTheseBuckets\]: allows .*events.amazonaws.com.*, not only logging.s3.amazonaws.com/),
      'AccessLogsBucket policy [S3ServerAccessLogsFromTheseBuckets]: no aws:SourceAccount',
      expect.stringMatching(/AccessLogsBucket policy \[S3ServerAccessLogsFromTheseBuckets\]: wildcard aws:SourceArn arn:\$\{AWS::Partition\}:s3:::\*/),
    ]);
    // With no bucket logging into it, the log bucket is an ordinary bucket that must log itself.
    const u = copy();
    delete R(u, 'UploadIntakeBucket').Properties['LoggingConfiguration'];
    delete R(u, 'ServerlessDeploymentBucket').Properties['LoggingConfiguration'];
    expect(checkAccessLogs(u)).toEqual([
      'ServerlessDeploymentBucket: no access logging (LoggingConfiguration.DestinationBucketName) to a bucket of this template',
      'UploadIntakeBucket: no access logging (LoggingConfiguration.DestinationBucketName) to a bucket of this template',
      'AccessLogsBucket: no access logging (LoggingConfiguration.DestinationBucketName) to a bucket of this template',
    ]);
  });

  it('checkCheckovSuppressions: every suppression is one the project decided, with its reason', () => {
    const skipsOf = (t: CfnTemplate, id: string) => (R(t, id)['Metadata'] as { checkov: { skip: Array<{ id: string; comment?: string }> } }).checkov.skip;
    // Every function, with the DLQ reason its trigger calls for.
    for (const fn of functionAccess()) expect(skipsOf(template, logicalIds(fn).function).map((s) => s.id), fn.name).toEqual(['CKV_AWS_115', 'CKV_AWS_116', 'CKV_AWS_117', 'CKV_AWS_173']);
    const dlqReason = (fn: string) => skipsOf(template, `${fn}LambdaFunction`).find((s) => s.id === 'CKV_AWS_116')!.comment;
    expect(dlqReason('OnUpload')).toMatch(/on-failure destination/);
    expect(dlqReason('JobWorker')).toMatch(/JobsDeadLetterQueue/);
    expect(dlqReason('CreateSession')).toMatch(/synchronously by API Gateway/);
    expect(skipsOf(template, 'ApiGatewayMethodV1WebhooksDiditPost').map((s) => s.id)).toEqual(['CKV_AWS_59']);
    const t = copy();
    skipsOf(t, 'CreateSessionLambdaFunction')[0]!.comment = 'ok';
    skipsOf(t, 'UploadIntakeBucket').push({ id: 'CKV_AWS_18', comment: 'We do not want access logs on this bucket because reasons of some length.' });
    R(t, 'JobsQueue')['Metadata'] = { checkov: { skip: [{ id: 'CKV_AWS_27', comment: 'SQS managed encryption is enough for this queue and its job messages.' }] } };
    R(t, 'DiditApiKeySecret')['Metadata'] = { checkov: { skip: [{ id: 'CKV_AWS_117', comment: 'A VPC makes no sense for a secret and never will for this stack at all.' }] } };
    expect(checkCheckovSuppressions(t).sort()).toEqual([
      'CreateSessionLambdaFunction: CKV_AWS_115 suppressed without a reason (a comment of a sentence or more)',
      'DiditApiKeySecret: CKV_AWS_117 may not be suppressed on AWS::SecretsManager::Secret',
      'JobsQueue: CKV_AWS_27 is not a check this project suppresses (fix the resource instead)',
      'UploadIntakeBucket: CKV_AWS_18 (access logging) may be suppressed only on an access-log target',
    ]);
  });

  it('checkLambdaPermissions: S3 may invoke onUpload from any account; EventBridge from any rule', () => {
    expect(R(template, 'OnUploadS3InvokePermission').Properties).toMatchObject({ Principal: 's3.amazonaws.com', SourceAccount: { Ref: 'AWS::AccountId' } });
    const t = copy();
    delete R(t, 'OnUploadS3InvokePermission').Properties['SourceAccount'];
    delete R(t, 'OnSignupEventBridgeLambdaPermission1').Properties['SourceArn'];
    R(t, 'CreateUploadUrlLambdaPermissionApiGateway').Properties['Principal'] = '*';
    expect(checkLambdaPermissions(t).sort()).toEqual([
      'CreateUploadUrlLambdaPermissionApiGateway: invocable by *, not an AWS service',
      'OnSignupEventBridgeLambdaPermission1: events.amazonaws.com may invoke without a SourceArn',
      'OnUploadS3InvokePermission: S3 may invoke without a SourceAccount',
    ]);
  });

  it('checkSecrets: a value in the template; a reader that does not read it; no resource policy', () => {
    const t = copy();
    R(t, 'DiditApiKeySecret').Properties['SecretString'] = 'placeholder';
    const deny = (R(t, 'DiditApiKeySecretPolicy').Properties['ResourcePolicy'].Statement as Statement[])[0]!;
    ((deny.Condition!['ArnNotLike'] as Record<string, unknown[]>)['aws:PrincipalArn'] as unknown[]).push({ 'Fn::GetAtt': ['OpenApiDocumentLambdaRole', 'Arn'] });
    delete t.Resources['DiditWebhookSecretPolicy'];
    expect(checkSecrets(t)).toEqual([
      'DiditApiKeySecret: must be created empty (the CLI seals the value)',
      'DiditApiKeySecretPolicy: exempts OpenApiDocumentLambdaRole, which does not read DiditApiKeySecret',
      'DiditWebhookSecret: expected one resource policy, found 0',
    ]);
  });

  it('checkEnvironment: a variable named like a key; a key-like value under an innocent name', () => {
    const t = copy();
    const env = R(t, 'CreateSessionLambdaFunction').Properties['Environment'].Variables as Record<string, unknown>;
    env['DIDIT_API_KEY'] = 'see-secrets-manager';
    env['FEATURE_FLAGS'] = `on,${'Xq7'.repeat(3)}Zk2mP9vR4tL8wN1cY6bH3jD5sF0gA`;
    expect(checkEnvironment(t)).toEqual([
      'CreateSessionLambdaFunction: environment variable DIDIT_API_KEY is named like a secret',
      expect.stringMatching(/CreateSessionLambdaFunction: environment variable FEATURE_FLAGS holds a key-like value/),
    ]);
  });

  it('looksLikeSecretToken: keys yes; ARNs, URLs, ids and names no', () => {
    expect(looksLikeSecretToken('sk_live_4eC39HqLyjWDarjtT1zdp7dc')).toBe(true);
    expect(looksLikeSecretToken('Zk2mP9vR4tL8wN1cY6bH3jD5sF0gAq7xW2eR')).toBe(true);
    for (const benign of ['verification', 'didit-kms-gateway', 'createWebhookDestination', 'https', '00000000-0000-0000-0000-000000000000', 'DiditApiKeySecret']) {
      expect(looksLikeSecretToken(benign), benign).toBe(false);
    }
  });

  it('checkApiStage: data traces on; no throttling; bodies in the access log', () => {
    const t = copy();
    const stage = R(t, 'ApiGatewayStage').Properties;
    stage['MethodSettings'][0].DataTraceEnabled = true;
    delete stage['MethodSettings'][0].ThrottlingRateLimit;
    stage['AccessLogSetting'].Format = '{"body":"$input.body"}';
    expect(checkApiStage(t)).toEqual([
      'ApiGatewayStage: no stage-wide throttling (/*, *)',
      'ApiGatewayStage: DataTraceEnabled must be false on /* (it logs bodies)',
      'ApiGatewayStage: access log format includes bodies or headers',
    ]);
  });

  it('the access model behind the checks matches the table: every function has its role and log group', () => {
    for (const fn of functionAccess()) {
      const ids = logicalIds(fn);
      for (const id of [ids.function, ids.role, ids.logGroup]) expect(template.Resources[id], id).toBeDefined();
    }
  });

  it('checkFunctionAlarms: a function in no Errors alarm, one in two, an alarm over more than 10 metrics, a threshold that never fires', () => {
    const t = copy();
    const alarms = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm' && Array.isArray(r.Properties?.['Metrics']) && /errors$/.test(String(r.Properties?.['AlarmName'])));
    const [firstId, first] = alarms[0]!;
    const metrics = first.Properties!['Metrics'] as Array<Record<string, any>>;
    const dropped = metrics.find((m) => m['MetricStat'])!;
    const droppedFn = dropped['MetricStat'].Metric.Dimensions[0].Value.Ref as string;
    metrics.splice(metrics.indexOf(dropped), 1);
    const [secondId, second] = alarms[1]!;
    const extra = structuredClone((second.Properties!['Metrics'] as Array<Record<string, any>>)[0]!);
    (first.Properties!['Metrics'] as unknown[]).unshift(extra);
    const twice = extra['MetricStat'].Metric.Dimensions[0].Value.Ref as string;
    for (let i = 0; i < 10; i++) (first.Properties!['Metrics'] as unknown[]).unshift({ ...structuredClone(extra), Id: `x${i}` });
    first.Properties!['Threshold'] = 1000;
    expect(checkFunctionAlarms(t)).toEqual(
      expect.arrayContaining([
        `${firstId}: ${(first.Properties!['Metrics'] as unknown[]).length - 1} metrics, CloudWatch evaluates at most 10 in one alarm`,
        `${firstId}: must fire on the first one (Threshold 1, GreaterThanOrEqualToThreshold, Sum)`,
        `${droppedFn}: in no Errors alarm`,
        expect.stringMatching(new RegExp(`^${twice}: in \\d+ Errors alarms`)),
      ]),
    );
    expect(secondId).not.toBe(firstId);
  });
});
