// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here are CloudFormation variables, not JS templates.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { functionAccess } from '../../infra/serverless/access.ts';
import {
  type CfnTemplate,
  flattenNestedStacks,
  NESTED_METADATA,
  NESTED_STACKS,
  type NestedStackRecord,
  splitIntoNestedStacks,
  stackGroupOf,
} from '../../infra/serverless/nesting.ts';

// The split of the packaged template into nested stacks (infra/serverless/nesting.ts) on small templates; the
// packaged one is split, flattened and checked by template-security.test.ts.

/** Two functions in two groups, each with a log group, a permission and a method; root resources they use. */
function sample(): CfnTemplate {
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Resources: {
      Key: { Type: 'AWS::KMS::Key', Properties: { KeyPolicy: {} } },
      Api: { Type: 'AWS::ApiGateway::RestApi', Properties: { Name: 'api' } },
      Path: { Type: 'AWS::ApiGateway::Resource', Properties: { RestApiId: { Ref: 'Api' }, PathPart: 'a' } },
      ARole: { Type: 'AWS::IAM::Role', Properties: {} },
      Policy: { Type: 'AWS::IAM::Policy', Properties: { Roles: [{ Ref: 'ARole' }] } },
      ALogGroup: { Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: '/aws/lambda/a', KmsKeyId: { 'Fn::GetAtt': ['Key', 'Arn'] } } },
      AFunction: {
        Type: 'AWS::Lambda::Function',
        DependsOn: ['ALogGroup', 'Policy'],
        Properties: {
          Role: { 'Fn::GetAtt': ['ARole', 'Arn'] },
          Environment: { Variables: { KEY: { 'Fn::Sub': 'key=${Key.Arn} api=${Api} region=${AWS::Region} literal=${!Api}' } } },
        },
      },
      APermission: {
        Type: 'AWS::Lambda::Permission',
        Properties: { FunctionName: { 'Fn::GetAtt': ['AFunction', 'Arn'] }, SourceArn: { 'Fn::Sub': 'arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*' } },
      },
      AMethod: {
        Type: 'AWS::ApiGateway::Method',
        DependsOn: ['APermission'],
        Properties: { RestApiId: { Ref: 'Api' }, ResourceId: { Ref: 'Path' }, Integration: { Uri: { 'Fn::GetAtt': ['AFunction', 'Arn'] } } },
      },
      BFunction: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['ARole', 'Arn'] } } },
      // Root resources that need the functions: the deployment waits for the method, a bucket notifies B.
      Deployment: { Type: 'AWS::ApiGateway::Deployment', DependsOn: ['AMethod', 'Path'], Properties: { RestApiId: { Ref: 'Api' } } },
      Bucket: {
        Type: 'AWS::S3::Bucket',
        Properties: { Notification: { 'Fn::GetAtt': ['BFunction', 'Arn'] }, Tag: { 'Fn::Sub': 'fn=${AFunction}' } },
      },
    },
    Outputs: { BArn: { Value: { 'Fn::GetAtt': ['BFunction', 'Arn'] } } },
  };
}

const options = (groups: Record<string, number>) => ({
  groupOfFunction: new Map(Object.entries(groups)),
  functionOfLogGroup: new Map([['ALogGroup', 'AFunction']]),
  templateUrl: (file: string) => `https://bucket/${file}`,
});

describe('splitIntoNestedStacks / flattenNestedStacks', () => {
  it('moves each function with what it owns, turns references into parameters and outputs, and flattens back exactly', () => {
    const t = sample();
    const { root, nested } = splitIntoNestedStacks(t, options({ AFunction: 3, BFunction: 5 }));
    expect(nested.map((n) => [n.logicalId, Object.keys(n.template.Resources).sort()])).toEqual([
      ['FunctionsStack3', ['AFunction', 'ALogGroup', 'AMethod', 'APermission']],
      ['FunctionsStack5', ['BFunction']],
    ]);
    expect(Object.keys(root.Resources).sort()).toEqual(['ARole', 'Api', 'Bucket', 'Deployment', 'FunctionsStack3', 'FunctionsStack5', 'Key', 'Path', 'Policy']);
    const a = nested[0]!.template;
    // Root → nested: Ref X stays Ref X (a parameter named X), GetAtt X.Attr becomes Ref XAttr, also inside Fn::Sub.
    expect(Object.keys(a['Parameters'] as object).sort()).toEqual(['ARoleArn', 'Api', 'KeyArn', 'Path']);
    expect(a.Resources['AFunction']!.Properties!['Environment']).toEqual({
      Variables: { KEY: { 'Fn::Sub': 'key=${KeyArn} api=${Api} region=${AWS::Region} literal=${!Api}' } },
    });
    expect(a.Resources['AFunction']!.DependsOn).toEqual(['ALogGroup']);
    const stackA = root.Resources['FunctionsStack3']!;
    expect(stackA.Properties).toMatchObject({
      TemplateURL: 'https://bucket/cloudformation-template-nested-functions-3.json',
      Parameters: { ARoleArn: { 'Fn::GetAtt': ['ARole', 'Arn'] }, Api: { Ref: 'Api' }, KeyArn: { 'Fn::GetAtt': ['Key', 'Arn'] }, Path: { Ref: 'Path' } },
    });
    // The function waited for Policy: now its stack does (ARole is implied by the parameter).
    expect(stackA.DependsOn).toEqual(['Policy']);
    // Nested → root: outputs; DependsOn on a moved resource becomes DependsOn on its stack.
    expect(root.Resources['Deployment']!.DependsOn).toEqual(['FunctionsStack3', 'Path']);
    expect(root.Resources['Bucket']!.Properties).toEqual({
      Notification: { 'Fn::GetAtt': ['FunctionsStack5', 'Outputs.BFunctionArn'] },
      Tag: { 'Fn::Sub': ['fn=${AFunction}', { AFunction: { 'Fn::GetAtt': ['FunctionsStack3', 'Outputs.AFunction'] } }] },
    });
    expect(root.Outputs).toEqual({ BArn: { Value: { 'Fn::GetAtt': ['FunctionsStack5', 'Outputs.BFunctionArn'] } } });
    expect(nested[1]!.template.Outputs).toEqual({ BFunctionArn: { Value: { 'Fn::GetAtt': ['BFunction', 'Arn'] } } });
    expect((stackA.Metadata![NESTED_METADATA] as NestedStackRecord).dependsOn).toEqual({ AFunction: ['ALogGroup', 'Policy'], Deployment: ['AMethod', 'Path'] });
    // Back to the one template, exactly (resource order aside).
    const files = new Map(nested.map((n) => [n.file, n.template]));
    expect(flattenNestedStacks(root, (file) => files.get(file)!)).toEqual(t);
    // The input was not modified.
    expect(t).toEqual(sample());
  });

  it('refuses what it cannot split faithfully: a reference across two nested stacks, a conditional per-function resource', () => {
    const t = sample();
    // B's stack would need A's permission: the split refuses rather than wiring stacks together silently.
    t.Resources['BFunction']!.Properties!['Peer'] = { Ref: 'APermission' };
    expect(() => splitIntoNestedStacks(t, options({ AFunction: 3, BFunction: 5 }))).toThrow(/BFunction \(stack 5\) refers to APermission of stack 3/);
    const u = sample();
    u.Resources['BFunction']!.Condition = 'Sometimes';
    expect(() => splitIntoNestedStacks(u, options({ AFunction: 3, BFunction: 5 }))).toThrow(/BFunction has a Condition/);
    // A function the access model does not know has no group.
    expect(() => splitIntoNestedStacks(sample(), options({ AFunction: 3 }))).toThrow(/BFunction has no group/);
  });

  it('keeps every function of the table in the stack it is deployed in: the hash and the count never change', () => {
    // A function that moved to another nested stack would be created there before the old stack deletes it, and
    // its name is fixed: the update would fail. Adding a function must not move the others either.
    expect(NESTED_STACKS).toBe(8);
    const groups = Object.fromEntries(functionAccess().map((fn) => [fn.name, stackGroupOf(fn.name)]));
    expect(groups).toMatchObject({
      addSessionReview: 4,
      createSession: 7,
      createUploadUrl: 5,
      diditWebhook: 4,
      getJob: 6,
      jobWorker: 2,
      listSessions: 0,
      onSignup: 4,
      onUpload: 1,
      openApiDocument: 6,
      submitJob: 4,
      updateWorkflow: 1,
    });
    expect(new Set(Object.values(groups)).size).toBe(NESTED_STACKS);
  });
});

describe('nested-stacks-plugin (serverless hooks, with a stand-in serverless)', () => {
  const require = createRequire(import.meta.url);
  const Plugin = require('../../infra/serverless/nested-stacks-plugin.cjs') as new (
    sls: unknown,
    options: unknown,
  ) => { hooks: Record<string, () => unknown> };

  it('package: replaces the compiled template by the root and writes the nested ones; deploy: uploads them beside the zips', async () => {
    const serviceDir = mkdtempSync(join(tmpdir(), 'didit-nesting-'));
    try {
      const fns = functionAccess();
      const resources: CfnTemplate['Resources'] = {};
      for (const fn of fns) {
        resources[`${fn.logicalName}LogGroup`] = { Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: `/aws/lambda/${fn.name}` } };
        resources[`${fn.logicalName}LambdaFunction`] = {
          Type: 'AWS::Lambda::Function',
          DependsOn: [`${fn.logicalName}LogGroup`],
          Properties: { Code: { S3Bucket: { Ref: 'ServerlessDeploymentBucket' }, S3Key: `serverless/svc/test/123-2026/${fn.name}.zip` } },
        };
      }
      resources['ServerlessDeploymentBucket'] = { Type: 'AWS::S3::Bucket' };
      const compiled: CfnTemplate = { Resources: resources };
      const requests: Array<[string, string, Record<string, unknown>]> = [];
      const logs: string[] = [];
      const provider = {
        shouldNotDeploy: false,
        compiledCloudFormationTemplate: compiled,
      };
      const sls = {
        serviceDir,
        cli: { log: (line: string) => logs.push(line) },
        service: { provider, package: { artifactDirectoryName: 'serverless/svc/test/123-2026' } },
        getProvider: () => ({
          getServerlessDeploymentBucketName: async () => 'deployment-bucket',
          request: async (service: string, method: string, params: Record<string, unknown>) => {
            requests.push([service, method, params]);
            return {};
          },
        }),
      };
      const plugin = new Plugin(sls, {});
      await plugin.hooks['after:aws:package:finalize:mergeCustomProviderResources']!();
      const stacks = Object.entries(compiled.Resources).filter(([, r]) => r.Type === 'AWS::CloudFormation::Stack');
      expect(stacks).toHaveLength(NESTED_STACKS);
      expect(Object.keys(compiled.Resources).sort()).toEqual(['ServerlessDeploymentBucket', ...stacks.map(([id]) => id)].sort());
      expect(JSON.stringify(stacks[0]![1].Properties!['TemplateURL'])).toContain('/serverless/svc/test/123-2026/cloudformation-template-nested-functions-');
      expect(logs.join('\n')).toMatch(/resources per template: root 9, functions-0 \d+/);
      const written = (g: number) => JSON.parse(readFileSync(join(serviceDir, '.serverless', `cloudformation-template-nested-functions-${g}.json`), 'utf8')) as CfnTemplate;
      expect(flattenNestedStacks(compiled, (file) => written(Number(/(\d+)\.json$/.exec(file)![1])))).toEqual({ Resources: resources });
      await plugin.hooks['after:aws:deploy:deploy:uploadArtifacts']!();
      expect(requests.map(([service, method, p]) => [service, method, p['Bucket'], p['Key']])).toEqual(
        [...Array(NESTED_STACKS).keys()].map((g) => ['S3', 'putObject', 'deployment-bucket', `serverless/svc/test/123-2026/cloudformation-template-nested-functions-${g}.json`]),
      );
      // Nothing changed since the last deployment: serverless deploys nothing, neither does the plugin.
      provider.shouldNotDeploy = true;
      await plugin.hooks['after:aws:deploy:deploy:uploadArtifacts']!();
      expect(requests).toHaveLength(NESTED_STACKS);
    } finally {
      rmSync(serviceDir, { recursive: true, force: true });
    }
  });
});
