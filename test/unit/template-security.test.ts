// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here are serverless and CloudFormation variables, not JS templates.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageTemplate } from '../../infra/local/deploy-local.ts';
import { functionAccess, logicalIds } from '../../infra/serverless/access.ts';
import {
  type CfnTemplate,
  checkApiStage,
  checkBuckets,
  checkDecryptConditions,
  checkEnvironment,
  checkKeys,
  checkLogGroups,
  checkLogPermissionsScoped,
  checkNoSensitiveWildcards,
  checkQueues,
  checkRolePerFunction,
  checkRouteAuthorization,
  checkSecrets,
  checkSecretsKeyUse,
  CHECKS,
  looksLikeSecretToken,
  type Statement,
} from '../../infra/serverless/template-checks.ts';

// The deployable template, offline: `sls package --stage test` once (no AWS credentials; the zips skip the
// sodium-native install with --param=esbuildExclude=*, the template is the same), then cfn-lint and the
// security assertions of infra/serverless/template-checks.ts. Each assertion also runs on a mutated copy,
// to prove it can fail. No emulator enforces IAM or key policies: this is where they are checked.
//
// Cost: ~10 s packaging + ~15 s cfn-lint (run in the background while the assertions run).

const cfnLintAvailable = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0;
let dir: string;
let template: CfnTemplate;
let templatePath: string;
let lint: Promise<LintFinding[]> | undefined;

interface LintFinding {
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Rule: { Id: string };
  Location: { Path: Array<string | number> };
}

function cfnLint(path: string): Promise<LintFinding[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('cfn-lint', ['--format', 'json', '--non-zero-exit-code', 'none', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  templatePath = await packageTemplate('test', { outDir: dir });
  template = JSON.parse(readFileSync(templatePath, 'utf8')) as CfnTemplate;
  if (cfnLintAvailable) lint = cfnLint(templatePath);
  // A rejection is reported by the cfn-lint test, not as an unhandled one.
  lint?.catch(() => {});
}, 180_000);

afterAll(async () => {
  await lint?.catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A deep copy to break. */
const copy = (): CfnTemplate => structuredClone(template);
const R = (t: CfnTemplate, id: string) => {
  const res = t.Resources[id];
  if (!res) throw new Error(`no resource ${id} in the packaged template`);
  return res as { Type: string; Properties: Record<string, any>; [k: string]: any };
};
const keyStatement = (t: CfnTemplate, sid: string): Statement => {
  const s = (R(t, 'DiditSecretsKey').Properties['KeyPolicy'].Statement as Statement[]).find((x) => x.Sid === sid);
  if (!s) throw new Error(`no key policy statement ${sid}`);
  return s;
};
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
      // W3005: serverless adds the role of a function to its DependsOn, which Fn::GetAtt already implies
      //        (one per function; harmless).
      // W8003: Fn::Equals of two literals, i.e. an opt-in param left unset (HasVerifier,
      //        ManageApiGatewayAccount): the condition is decided at package time, on purpose.
      expect(Object.fromEntries(warnings)).toEqual({ W3005: functionAccess().length, W8003: 2 });
    },
    120_000,
  );

  it('stays inside CloudFormation limits (500 resources, 1 MB template from S3) with room to grow', () => {
    expect(Object.keys(template.Resources).length).toBeLessThan(400);
    expect(JSON.stringify(template).length).toBeLessThan(600_000);
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
        expect.stringMatching(/ListSessionsLambdaRole \(openApiDocument\): grants \[.*kms:Decrypt.*\], expected \[logs:CreateLogStream, logs:PutLogEvents\]/),
        expect.stringMatching(/ListSessionsLambdaRole is shared by/),
      ]),
    );
    expect(checkRolePerFunction(u)).toEqual([
      'DiditWebhookLambdaRole: managed policies are not allowed on a function role',
      expect.stringMatching(/OpenApiDocumentLambdaRole \(openApiDocument\): grants .*secretsmanager:GetSecretValue/),
    ]);
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

  it('checkQueues: a queue with no DLQ and no SSE (and a well-formed pair passes)', () => {
    const t = copy();
    t.Resources['Bad'] = { Type: 'AWS::SQS::Queue', Properties: { SqsManagedSseEnabled: false } };
    t.Resources['Dlq'] = { Type: 'AWS::SQS::Queue', Properties: { SqsManagedSseEnabled: true } };
    t.Resources['Good'] = {
      Type: 'AWS::SQS::Queue',
      Properties: { KmsMasterKeyId: 'alias/aws/sqs', RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['Dlq', 'Arn'] }, maxReceiveCount: 3 } },
    };
    expect(checkQueues(t)).toEqual(['Bad: no SSE (KmsMasterKeyId or SqsManagedSseEnabled: true)', 'Bad: no dead-letter queue (RedrivePolicy.deadLetterTargetArn)']);
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

  it('the access model behind the checks matches the table: every function has its role, log group and alarms', () => {
    for (const fn of functionAccess()) {
      const ids = logicalIds(fn);
      for (const id of [ids.function, ids.role, ids.logGroup, ids.errorsAlarm, ids.throttlesAlarm]) expect(template.Resources[id], id).toBeDefined();
    }
  });
});
