/**
 * Security assertions on the CloudFormation template `sls package` produces. No emulator enforces IAM or key
 * policies, so these are what keeps least privilege honest: each check returns the list of violations (empty
 * = holds), and test/unit/template-security.test.ts runs every one on the packaged template AND on a mutated
 * copy, to prove it can fail.
 *
 * The checks read the template only (plus the access model of access.ts, for what each function should have).
 * Statement lists may hold `Fn::If`: the branch its condition picks when the template decides it (an opt-in
 * param left unset), both branches otherwise (`AWS::NoValue` skipped).
 */
import { type FunctionAccess, functionAccess, logicalIds, logicalNameOf, WEBHOOK_FUNCTION } from './access.ts';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Condition?: string;
  DependsOn?: string | string[];
  [key: string]: unknown;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  [key: string]: unknown;
}

export interface Statement {
  Sid?: string;
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface FoundStatement {
  /** `<logical id>` plus where in it, for messages. */
  where: string;
  resourceId: string;
  kind: 'identity' | 'key' | 'resource';
  /** Identity policies: the roles (logical ids) that get it. */
  roles: string[];
  statement: Statement;
}

/** Services on which no role may hold a wildcard action or resource. */
export const SENSITIVE_SERVICES = ['kms', 'secretsmanager', 'sqs', 's3', 'dynamodb', 'events'] as const;

// ---------------------------------------------------------------------------------------------------------
// helpers

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function props(res: CfnResource | undefined): Record<string, unknown> {
  return res?.Properties ?? {};
}

type Decide = (condition: string) => boolean | undefined;

/**
 * The value of a template condition when it can be decided from the template alone (`Fn::Equals` of
 * literals, `Fn::Not`/`And`/`Or`, `Condition`), else undefined. A param the stage did not set is a literal
 * by then (serverless resolved it), so an opt-in feature that is off is decidably off.
 */
export function conditionDecider(t: CfnTemplate): Decide {
  const conditions = (isObject(t['Conditions']) ? t['Conditions'] : {}) as Record<string, unknown>;
  const evaluate = (expr: unknown, depth: number): boolean | undefined => {
    if (depth > 20 || !isObject(expr)) return undefined;
    if (typeof expr['Condition'] === 'string') return evaluate(conditions[expr['Condition']], depth + 1);
    const args = (key: string) => (Array.isArray(expr[key]) ? (expr[key] as unknown[]) : undefined);
    const eq = args('Fn::Equals');
    if (eq) {
      const [a, b] = eq;
      const literal = (x: unknown) => ['string', 'number', 'boolean'].includes(typeof x);
      return literal(a) && literal(b) ? String(a) === String(b) : undefined;
    }
    const not = args('Fn::Not');
    if (not) {
      const inner = evaluate(not[0], depth + 1);
      return inner === undefined ? undefined : !inner;
    }
    const and = args('Fn::And');
    if (and) {
      const values = and.map((x) => evaluate(x, depth + 1));
      return values.includes(false) ? false : values.includes(undefined) ? undefined : true;
    }
    const or = args('Fn::Or');
    if (or) {
      const values = or.map((x) => evaluate(x, depth + 1));
      return values.includes(true) ? true : values.includes(undefined) ? undefined : false;
    }
    return undefined;
  };
  return (name) => evaluate({ Condition: name }, 0);
}

/** `Fn::If` → the branch its condition picks, or both when undecidable; `AWS::NoValue` → nothing. */
function expandIf(value: unknown, decide: Decide = () => undefined): unknown[] {
  if (isObject(value) && 'Fn::If' in value) {
    const [condition, a, b] = value['Fn::If'] as [string, unknown, unknown];
    const picked = decide(condition);
    if (picked === true) return expandIf(a, decide);
    if (picked === false) return expandIf(b, decide);
    return [...expandIf(a, decide), ...expandIf(b, decide)];
  }
  if (isObject(value) && value['Ref'] === 'AWS::NoValue') return [];
  return [value];
}

function statementsOf(doc: unknown, decide: Decide = () => undefined): Statement[] {
  if (!isObject(doc)) return [];
  return asArray(doc['Statement'] as unknown)
    .flatMap((s: unknown) => expandIf(s, decide))
    .filter(isObject) as Statement[];
}

function refTarget(v: unknown): string | undefined {
  return isObject(v) && typeof v['Ref'] === 'string' ? v['Ref'] : undefined;
}

function getAttTarget(v: unknown): string | undefined {
  if (!isObject(v) || !Array.isArray(v['Fn::GetAtt'])) return undefined;
  return String((v['Fn::GetAtt'] as unknown[])[0]);
}

/** Every string inside a value (literals, `Fn::Sub` templates, `Fn::Join` parts). */
export function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (isObject(value)) return Object.values(value).flatMap(stringsIn);
  return [];
}

/** IAM action matching: `*` and `?` wildcards, case-insensitive. */
export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(action);
}

function actionsOf(s: Statement): string[] {
  return asArray(s.Action);
}

function allows(s: Statement, action: string): boolean {
  return s.Effect === 'Allow' && (actionsOf(s).some((a) => actionMatches(a, action)) || s.NotAction !== undefined);
}

function conditionValue(s: Statement, operators: readonly string[], key: string): unknown {
  for (const op of operators) {
    const block = s.Condition?.[op];
    if (isObject(block) && key in block) return block[key];
  }
  return undefined;
}

function principalServices(s: Statement): string[] {
  return isObject(s.Principal) ? stringsIn(s.Principal['Service']) : [];
}

function isAccountRoot(principal: unknown): boolean {
  if (!isObject(principal)) return false;
  return stringsIn(principal['AWS']).some((p) => /:iam::(\$\{AWS::AccountId\}|\d{12}):root$/.test(p));
}

/** Every policy statement of the template, with where it lives. */
export function collectStatements(t: CfnTemplate): FoundStatement[] {
  const out: FoundStatement[] = [];
  const decide = conditionDecider(t);
  for (const [id, res] of Object.entries(t.Resources)) {
    // A resource whose condition is decidably false is not created.
    if (res.Condition !== undefined && decide(res.Condition) === false) continue;
    const p = props(res);
    const push = (kind: FoundStatement['kind'], doc: unknown, where: string, roles: string[]) => {
      statementsOf(doc, decide).forEach((statement, i) => {
        out.push({ where: `${where}[${statement.Sid ?? i}]`, resourceId: id, kind, roles, statement });
      });
    };
    switch (res.Type) {
      case 'AWS::IAM::Role':
        asArray(p['Policies'] as unknown[]).forEach((pol, i) => {
          if (isObject(pol)) push('identity', pol['PolicyDocument'], `${id}.Policies[${i}]`, [id]);
        });
        break;
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
        push('identity', p['PolicyDocument'], id, asArray(p['Roles'] as unknown[]).map(refTarget).filter((r): r is string => !!r));
        break;
      case 'AWS::KMS::Key':
        push('key', p['KeyPolicy'], id, []);
        break;
      case 'AWS::SecretsManager::ResourcePolicy':
        push('resource', p['ResourcePolicy'], id, []);
        break;
      case 'AWS::S3::BucketPolicy':
      case 'AWS::SQS::QueuePolicy':
        push('resource', p['PolicyDocument'], id, []);
        break;
      default:
    }
  }
  return out;
}

function lambdaFunctions(t: CfnTemplate): Array<[string, CfnResource]> {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
}

/** The access-model entry of a Lambda function logical id (`CreateSessionLambdaFunction`). */
function accessByFunctionId(access: readonly FunctionAccess[]): Map<string, FunctionAccess> {
  return new Map(access.map((fn) => [logicalIds(fn).function, fn]));
}

function roleOfFunction(res: CfnResource): string | undefined {
  return getAttTarget(props(res)['Role']);
}

// ---------------------------------------------------------------------------------------------------------
// 1. API routes

/**
 * Every API Gateway method is `AWS_IAM`, except the methods of `publicFunctions` (logical ids of Lambda
 * functions: the webhook receiver), which must be `NONE` (HMAC in the handler) and exist exactly once.
 */
export function checkRouteAuthorization(
  t: CfnTemplate,
  publicFunctions: readonly string[] = [logicalIds({ logicalName: logicalNameOf(WEBHOOK_FUNCTION.name) }).function],
): string[] {
  const v: string[] = [];
  const seenPublic = new Map<string, number>();
  const functions = new Set(lambdaFunctions(t).map(([id]) => id));
  let methods = 0;
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::ApiGateway::Method') continue;
    const p = props(res);
    if (p['HttpMethod'] === 'OPTIONS') continue;
    methods++;
    const uri = (p['Integration'] as Record<string, unknown> | undefined)?.['Uri'];
    const targets = [...JSON.stringify(uri ?? null).matchAll(/"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/g)].map((m) => m[1]!).filter((x) => functions.has(x));
    if (targets.length !== 1) {
      v.push(`${id}: cannot tell which function it invokes`);
      continue;
    }
    const target = targets[0]!;
    if (publicFunctions.includes(target)) {
      seenPublic.set(target, (seenPublic.get(target) ?? 0) + 1);
      if (p['AuthorizationType'] !== 'NONE') v.push(`${id}: the public route of ${target} must have AuthorizationType NONE (got ${String(p['AuthorizationType'])})`);
    } else if (p['AuthorizationType'] !== 'AWS_IAM') {
      v.push(`${id} (${target}): AuthorizationType must be AWS_IAM, got ${String(p['AuthorizationType'])}`);
    }
  }
  if (methods === 0) v.push('no API Gateway methods found');
  for (const fn of publicFunctions) {
    if ((seenPublic.get(fn) ?? 0) !== 1) v.push(`${fn} must have exactly one (public) route, found ${seenPublic.get(fn) ?? 0}`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 2. wildcards in identity policies

/** No role has a wildcard action or resource on KMS, Secrets Manager, SQS, S3, DynamoDB or EventBridge. */
export function checkNoSensitiveWildcards(t: CfnTemplate): string[] {
  const v: string[] = [];
  for (const f of collectStatements(t)) {
    if (f.kind !== 'identity' || f.statement.Effect !== 'Allow') continue;
    const s = f.statement;
    if (s.NotAction !== undefined) v.push(`${f.where}: NotAction in an Allow statement`);
    if (s.NotResource !== undefined) v.push(`${f.where}: NotResource in an Allow statement`);
    const actions = actionsOf(s);
    let sensitive = false;
    for (const a of actions) {
      if (a === '*' || a.startsWith('*')) {
        v.push(`${f.where}: action ${a}`);
        sensitive = true;
        continue;
      }
      const service = a.split(':')[0]!.toLowerCase();
      if ((SENSITIVE_SERVICES as readonly string[]).includes(service)) {
        sensitive = true;
        if (/[*?]/.test(a)) v.push(`${f.where}: wildcard action ${a}`);
      }
    }
    if (!sensitive) continue;
    const resources = asArray(s.Resource as unknown);
    if (resources.length === 0) v.push(`${f.where}: no Resource`);
    for (const r of resources.flatMap((x) => expandIf(x))) {
      for (const text of stringsIn(r)) {
        if (/[*?]/.test(text.replace(/\$\{[^}]+\}/g, ''))) v.push(`${f.where}: wildcard resource ${text} for ${actions.join(',')}`);
      }
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 3. kms:Decrypt conditions

const PURPOSE = 'kms:EncryptionContext:purpose';

/**
 * Every statement that allows kms:Decrypt (identity or key policy) is bound to an encryption context: the
 * gateway's `purpose` (with `stage` and `service`), or Secrets Manager's own envelope call (`kms:ViaService`
 * on secretsmanager and the secret's ARN as context), or, in a key policy, CloudWatch Logs for named log
 * groups (`kms:EncryptionContext:aws:logs:arn`).
 */
export function checkDecryptConditions(t: CfnTemplate): string[] {
  const v: string[] = [];
  for (const f of collectStatements(t)) {
    const s = f.statement;
    if (!allows(s, 'kms:Decrypt')) continue;
    const purpose = conditionValue(s, ['StringEquals'], PURPOSE);
    const stage = conditionValue(s, ['StringEquals'], 'kms:EncryptionContext:stage');
    const service = conditionValue(s, ['StringEquals'], 'kms:EncryptionContext:service');
    const viaService = conditionValue(s, ['StringEquals'], 'kms:ViaService');
    const secretArn = conditionValue(s, ['StringEquals', 'StringLike', 'ArnEquals', 'ArnLike'], 'kms:EncryptionContext:SecretARN');
    const logsArn = conditionValue(s, ['ArnEquals', 'ArnLike'], 'kms:EncryptionContext:aws:logs:arn');
    if (purpose !== undefined) {
      const purposes = stringsIn(purpose);
      // A literal purpose of ours (lib/sealed-key/encryption-context.ts), never a pattern.
      if (purposes.length === 0 || purposes.some((p) => !/^didit-[a-z0-9-]+$/.test(p))) v.push(`${f.where}: unexpected purpose ${JSON.stringify(purpose)}`);
      if (stage === undefined || service === undefined) v.push(`${f.where}: purpose condition without stage and service`);
      continue;
    }
    if (viaService !== undefined) {
      if (!stringsIn(viaService).some((x) => x.startsWith('secretsmanager.'))) v.push(`${f.where}: kms:ViaService is not Secrets Manager`);
      if (secretArn === undefined) v.push(`${f.where}: Secrets Manager decrypt without kms:EncryptionContext:SecretARN`);
      continue;
    }
    if (f.kind === 'key' && logsArn !== undefined && principalServices(s).some((x) => x.startsWith('logs.'))) continue;
    v.push(`${f.where}: kms:Decrypt without an encryption-context purpose condition (or kms:ViaService)`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 4. who may use the secrets key

/**
 * In the key policy of `keyId`: kms:Decrypt under a purpose only for the function roles the access model
 * says read that purpose; kms:Encrypt for function roles only under didit-webhook-secret and only for the
 * sealing functions (anything else that may Encrypt is the sealer param, not a function role); every use
 * statement is narrowed by `aws:PrincipalArn`; no statement grants use to the account as a whole; the
 * administration statement grants no cryptographic use and no CreateGrant.
 */
export function checkSecretsKeyUse(t: CfnTemplate, keyId = 'DiditSecretsKey', access: readonly FunctionAccess[] = functionAccess()): string[] {
  const v: string[] = [];
  const key = t.Resources[keyId];
  if (key?.Type !== 'AWS::KMS::Key') return [`${keyId}: no such KMS key`];
  const roleOf = new Map<string, FunctionAccess>();
  const byFn = accessByFunctionId(access);
  for (const [id, res] of lambdaFunctions(t)) {
    const fn = byFn.get(id);
    const role = roleOfFunction(res);
    if (fn && role) roleOf.set(role, fn);
  }
  const expected = {
    'didit-api-key': new Set(access.filter((a) => a.readsApiKey).map((a) => logicalIds(a).role)),
    'didit-webhook-secret': new Set(access.filter((a) => a.readsWebhookSecret).map((a) => logicalIds(a).role)),
  };
  const useActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:CreateGrant'];
  for (const f of collectStatements(t).filter((x) => x.resourceId === keyId)) {
    const s = f.statement;
    const uses = useActions.filter((a) => allows(s, a));
    if (uses.length === 0) continue;
    const principalArns = conditionValue(s, ['ArnEquals', 'ArnLike'], 'aws:PrincipalArn');
    if (uses.includes('kms:CreateGrant')) v.push(`${f.where}: allows kms:CreateGrant (a grant bypasses the context conditions)`);
    if (!isAccountRoot(s.Principal) || principalArns === undefined) {
      v.push(`${f.where}: ${uses.join(',')} must be granted to named principals (account root + aws:PrincipalArn), not to ${JSON.stringify(s.Principal)}`);
      continue;
    }
    const arns = asArray(principalArns as unknown);
    const roles = arns.map(getAttTarget).filter((r): r is string => r !== undefined);
    for (const role of roles) {
      if (!roleOf.has(role)) v.push(`${f.where}: ${role} is not the role of a function`);
    }
    const viaService = conditionValue(s, ['StringEquals'], 'kms:ViaService') !== undefined;
    const purposes = stringsIn(conditionValue(s, ['StringEquals'], PURPOSE));
    if (viaService) continue; // Secrets Manager's envelope: checked by checkDecryptConditions
    if (uses.includes('kms:Decrypt')) {
      const nonRoles = arns.filter((a) => getAttTarget(a) === undefined);
      if (nonRoles.length > 0) v.push(`${f.where}: kms:Decrypt under a purpose for a principal that is not a function role: ${JSON.stringify(nonRoles)}`);
      if (purposes.length !== 1) v.push(`${f.where}: kms:Decrypt must name exactly one purpose`);
      const want = expected[purposes[0] as keyof typeof expected];
      if (want) {
        const got = new Set(roles);
        const missing = [...want].filter((r) => !got.has(r));
        const extra = roles.filter((r) => !want.has(r));
        if (missing.length) v.push(`${f.where}: roles that should decrypt ${purposes[0]} but cannot: ${missing.join(', ')}`);
        if (extra.length) v.push(`${f.where}: roles that may decrypt ${purposes[0]} but do not need to: ${extra.join(', ')}`);
      }
    }
    if (uses.includes('kms:Encrypt') && roles.length > 0) {
      if (purposes.length !== 1 || purposes[0] !== 'didit-webhook-secret') v.push(`${f.where}: function roles may kms:Encrypt only under didit-webhook-secret`);
      for (const role of roles) if (!roleOf.get(role)?.sealsWebhookSecret) v.push(`${f.where}: ${role} may kms:Encrypt but does not seal`);
    }
  }
  return v;
}

/** KMS keys: symmetric, rotation on; administration statements grant no use. */
export function checkKeys(t: CfnTemplate): string[] {
  const v: string[] = [];
  const keys = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::KMS::Key');
  if (keys.length === 0) v.push('no KMS key');
  for (const [id, res] of keys) {
    const p = props(res);
    if (p['EnableKeyRotation'] !== true) v.push(`${id}: EnableKeyRotation must be true`);
    if ((p['KeySpec'] ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT') v.push(`${id}: must be symmetric`);
    for (const s of statementsOf(p['KeyPolicy'])) {
      if (s.Effect !== 'Allow' || !isAccountRoot(s.Principal) || s.Condition !== undefined) continue;
      // Unconditioned statements for the account are administration: no use, no grants, no kms:*.
      for (const a of ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:CreateGrant']) {
        if (allows(s, a)) v.push(`${id}[${s.Sid ?? '?'}]: the unconditioned account statement allows ${a}`);
      }
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 5. one role per function, with exactly what it uses; logs scoped to its own log group

const EXPECTED_BASE = ['logs:CreateLogStream', 'logs:PutLogEvents'];

export function expectedActions(fn: FunctionAccess): string[] {
  const out = [
    ...EXPECTED_BASE,
    ...(fn.readsApiKey || fn.readsWebhookSecret ? ['secretsmanager:GetSecretValue', 'kms:Decrypt'] : []),
    ...(fn.sealsWebhookSecret ? ['secretsmanager:PutSecretValue', 'kms:Encrypt', 'kms:GenerateDataKey'] : []),
    ...(fn.usesDedupeTable ? ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'] : []),
    ...(fn.publishesEvents ? ['events:PutEvents'] : []),
  ];
  return [...new Set(out)].sort();
}

/**
 * Each Lambda function has its own role, used by no other function, with no managed policies, whose
 * permissions (inline + attached AWS::IAM::Policy) are exactly what the access model says it uses.
 */
export function checkRolePerFunction(t: CfnTemplate, access: readonly FunctionAccess[] = functionAccess()): string[] {
  const v: string[] = [];
  const byFn = accessByFunctionId(access);
  const users = new Map<string, string[]>();
  const statements = collectStatements(t).filter((f) => f.kind === 'identity');
  for (const [id, res] of lambdaFunctions(t)) {
    const role = roleOfFunction(res);
    if (!role || t.Resources[role]?.Type !== 'AWS::IAM::Role') {
      v.push(`${id}: its Role is not a role of this template`);
      continue;
    }
    users.set(role, [...(users.get(role) ?? []), id]);
    if (props(t.Resources[role])['ManagedPolicyArns'] !== undefined) v.push(`${role}: managed policies are not allowed on a function role`);
    const fn = byFn.get(id);
    if (!fn) {
      v.push(`${id}: not a function of the access model`);
      continue;
    }
    const granted = [...new Set(statements.filter((f) => f.roles.includes(role) && f.statement.Effect === 'Allow').flatMap((f) => actionsOf(f.statement)))].sort();
    const want = expectedActions(fn);
    if (JSON.stringify(granted) !== JSON.stringify(want)) {
      v.push(`${role} (${fn.name}): grants [${granted.join(', ')}], expected [${want.join(', ')}]`);
    }
  }
  for (const [role, fns] of users) if (fns.length > 1) v.push(`${role} is shared by ${fns.join(', ')}`);
  return v;
}

/** A function role's logs permissions name its own log group (`/aws/lambda/<FunctionName>`), nothing wider. */
export function checkLogPermissionsScoped(t: CfnTemplate): string[] {
  const v: string[] = [];
  const statements = collectStatements(t).filter((f) => f.kind === 'identity');
  for (const [, res] of lambdaFunctions(t)) {
    const role = roleOfFunction(res);
    const name = props(res)['FunctionName'];
    if (!role || typeof name !== 'string') continue;
    for (const f of statements.filter((x) => x.roles.includes(role) && x.statement.Effect === 'Allow')) {
      if (!actionsOf(f.statement).some((a) => a.toLowerCase().startsWith('logs:'))) continue;
      for (const r of asArray(f.statement.Resource as unknown)) {
        for (const text of stringsIn(r)) {
          if (!text.endsWith(`:log-group:/aws/lambda/${name}:*`)) v.push(`${f.where}: logs permission on ${text}, not only ${name}'s log group`);
        }
      }
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 6. log groups

/** Every log group has a retention and a KMS key; every function writes to a log group the template owns. */
export function checkLogGroups(t: CfnTemplate): string[] {
  const v: string[] = [];
  const names = new Set<string>();
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::Logs::LogGroup') continue;
    const p = props(res);
    if (typeof p['RetentionInDays'] !== 'number') v.push(`${id}: no RetentionInDays`);
    if (p['KmsKeyId'] === undefined) v.push(`${id}: no KmsKeyId`);
    if (p['DataProtectionPolicy'] === undefined) v.push(`${id}: no DataProtectionPolicy`);
    if (typeof p['LogGroupName'] === 'string') names.add(p['LogGroupName']);
  }
  for (const [id, res] of lambdaFunctions(t)) {
    const name = props(res)['FunctionName'];
    const custom = (props(res)['LoggingConfig'] as Record<string, unknown> | undefined)?.['LogGroup'];
    const group = typeof custom === 'string' ? custom : `/aws/lambda/${String(name)}`;
    if (!names.has(group)) v.push(`${id}: writes to ${group}, which the template does not create (Lambda would create it unencrypted, kept forever)`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 7. queues and buckets

/** Every SQS queue is encrypted; every queue that is not itself a dead-letter queue has one. */
export function checkQueues(t: CfnTemplate): string[] {
  const v: string[] = [];
  const queues = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue');
  const dlqs = new Set<string>();
  for (const [, res] of queues) {
    const target = (props(res)['RedrivePolicy'] as Record<string, unknown> | undefined)?.['deadLetterTargetArn'];
    const id = getAttTarget(target);
    if (id) dlqs.add(id);
  }
  for (const [id, res] of queues) {
    const p = props(res);
    if (p['KmsMasterKeyId'] === undefined && p['SqsManagedSseEnabled'] !== true) v.push(`${id}: no SSE (KmsMasterKeyId or SqsManagedSseEnabled: true)`);
    const target = (p['RedrivePolicy'] as Record<string, unknown> | undefined)?.['deadLetterTargetArn'];
    if (!dlqs.has(id) && target === undefined) v.push(`${id}: no dead-letter queue (RedrivePolicy.deadLetterTargetArn)`);
  }
  return v;
}

/** Every S3 bucket blocks all public access and has a bucket policy that denies requests without TLS. */
export function checkBuckets(t: CfnTemplate): string[] {
  const v: string[] = [];
  const policies = Object.values(t.Resources).filter((r) => r.Type === 'AWS::S3::BucketPolicy');
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::S3::Bucket') continue;
    const pab = props(res)['PublicAccessBlockConfiguration'] as Record<string, unknown> | undefined;
    for (const flag of ['BlockPublicAcls', 'BlockPublicPolicy', 'IgnorePublicAcls', 'RestrictPublicBuckets']) {
      if (pab?.[flag] !== true) v.push(`${id}: PublicAccessBlockConfiguration.${flag} is not true`);
    }
    const denyNonTls = policies
      .filter((pol) => refTarget(props(pol)['Bucket']) === id)
      .flatMap((pol) => statementsOf(props(pol)['PolicyDocument']))
      .some((s) => {
        const secure = s.Condition?.['Bool']?.['aws:SecureTransport'];
        return s.Effect === 'Deny' && (secure === false || secure === 'false') && (s.Principal === '*' || stringsIn(s.Principal).includes('*'));
      });
    if (!denyNonTls) v.push(`${id}: no bucket policy denying aws:SecureTransport = false`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 8. secrets

/**
 * Every Secrets Manager secret: encrypted with a key of this template, and a resource policy (public policies
 * blocked) that denies GetSecretValue to every principal except the roles of the functions that read it
 * and non-role principals (the sealer param).
 */
export function checkSecrets(t: CfnTemplate, access: readonly FunctionAccess[] = functionAccess()): string[] {
  const v: string[] = [];
  const readersOf: Record<string, Set<string>> = {
    DiditApiKeySecret: new Set(access.filter((a) => a.readsApiKey).map((a) => logicalIds(a).role)),
    DiditWebhookSecret: new Set(access.filter((a) => a.readsWebhookSecret).map((a) => logicalIds(a).role)),
  };
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::SecretsManager::Secret') continue;
    const keyRef = getAttTarget(props(res)['KmsKeyId']) ?? refTarget(props(res)['KmsKeyId']);
    if (!keyRef || t.Resources[keyRef]?.Type !== 'AWS::KMS::Key') v.push(`${id}: not encrypted with a KMS key of this template`);
    if (props(res)['SecretString'] !== undefined || props(res)['GenerateSecretString'] !== undefined) v.push(`${id}: must be created empty (the CLI seals the value)`);
    const policies = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::SecretsManager::ResourcePolicy' && refTarget(props(r)['SecretId']) === id);
    if (policies.length !== 1) {
      v.push(`${id}: expected one resource policy, found ${policies.length}`);
      continue;
    }
    const [pid, pol] = policies[0]!;
    if (props(pol)['BlockPublicPolicy'] !== true) v.push(`${pid}: BlockPublicPolicy must be true`);
    const denyRead = statementsOf(props(pol)['ResourcePolicy']).find(
      (s) => s.Effect === 'Deny' && actionsOf(s).some((a) => actionMatches(a, 'secretsmanager:GetSecretValue')) && (s.Principal === '*' || stringsIn(s.Principal).includes('*')),
    );
    if (!denyRead) {
      v.push(`${pid}: no Deny of GetSecretValue to everyone else`);
      continue;
    }
    const exempt = asArray(conditionValue(denyRead, ['ArnNotLike', 'ArnNotEquals'], 'aws:PrincipalArn') as unknown);
    if (exempt.length === 0) v.push(`${pid}: the read Deny exempts nobody (or has no aws:PrincipalArn condition)`);
    const want = readersOf[id];
    for (const e of exempt) {
      const role = getAttTarget(e);
      if (role && want && !want.has(role)) v.push(`${pid}: exempts ${role}, which does not read ${id}`);
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 9. environment

/** Names that say "this is a credential" (an `_ID`/`_ARN`/`_NAME` suffix makes it a reference instead). */
const SECRET_NAME = /(API_?KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_KEY|DIDIT_KEY)$/i;

function entropyPerChar(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

/** A long, mixed, high-entropy token: what an API key or secret looks like (ARNs, URLs and names do not). */
export function looksLikeSecretToken(token: string): boolean {
  if (token.length < 20) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(token)).length;
  return classes >= 3 && entropyPerChar(token) >= 3.5;
}

/** No function environment variable holds something that looks like a Didit key, or is named like one. */
export function checkEnvironment(t: CfnTemplate): string[] {
  const v: string[] = [];
  for (const [id, res] of lambdaFunctions(t)) {
    const vars = ((props(res)['Environment'] as Record<string, unknown> | undefined)?.['Variables'] ?? {}) as Record<string, unknown>;
    for (const [name, value] of Object.entries(vars)) {
      if (SECRET_NAME.test(name)) v.push(`${id}: environment variable ${name} is named like a secret`);
      for (const text of stringsIn(value)) {
        for (const token of text.split(/[^A-Za-z0-9_\-+/=.~]+/)) {
          // Path-like and dotted values (ARNs, URLs, secret names) split further; a key has no structure.
          for (const part of token.split(/[/.]/)) {
            if (looksLikeSecretToken(part)) v.push(`${id}: environment variable ${name} holds a key-like value (${part.length} characters)`);
          }
        }
      }
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 10. API stage

/** The REST API stage throttles, writes JSON access logs, and never logs request/response data. */
export function checkApiStage(t: CfnTemplate): string[] {
  const v: string[] = [];
  const stages = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::ApiGateway::Stage');
  if (stages.length !== 1) return [`expected one AWS::ApiGateway::Stage, found ${stages.length}`];
  const [id, stage] = stages[0]!;
  const p = props(stage);
  const settings = asArray(p['MethodSettings'] as Array<Record<string, unknown>>);
  const all = settings.find((m) => m['ResourcePath'] === '/*' && m['HttpMethod'] === '*');
  if (!all || typeof all['ThrottlingRateLimit'] !== 'number' || typeof all['ThrottlingBurstLimit'] !== 'number') v.push(`${id}: no stage-wide throttling (/*, *)`);
  for (const m of settings) {
    if (m['DataTraceEnabled'] !== false) v.push(`${id}: DataTraceEnabled must be false on ${String(m['ResourcePath'])} (it logs bodies)`);
  }
  const access = p['AccessLogSetting'] as Record<string, unknown> | undefined;
  const format = access?.['Format'];
  if (!getAttTarget(access?.['DestinationArn'])) v.push(`${id}: no access log destination in this template`);
  if (typeof format !== 'string') v.push(`${id}: no access log format`);
  else {
    try {
      JSON.parse(format.replace(/\$context\.[A-Za-z.]+/g, 'x'));
    } catch {
      v.push(`${id}: access log format is not JSON`);
    }
    if (/\$input|body|header/i.test(format)) v.push(`${id}: access log format includes bodies or headers`);
  }
  if (!p['DeploymentId']) v.push(`${id}: no DeploymentId (api-stage-plugin did not run)`);
  return v;
}

/** Every check, by name (the test runs each on the packaged template). */
export const CHECKS = {
  checkRouteAuthorization: (t: CfnTemplate) => checkRouteAuthorization(t),
  checkNoSensitiveWildcards,
  checkDecryptConditions,
  checkSecretsKeyUse: (t: CfnTemplate) => checkSecretsKeyUse(t),
  checkKeys,
  checkRolePerFunction: (t: CfnTemplate) => checkRolePerFunction(t),
  checkLogPermissionsScoped,
  checkLogGroups,
  checkQueues,
  checkBuckets,
  checkSecrets: (t: CfnTemplate) => checkSecrets(t),
  checkEnvironment,
  checkApiStage,
} as const;
