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

/** The `BucketName` (a literal or an `Fn::Sub` template) of each S3 bucket of the template that names itself. */
function bucketNames(t: CfnTemplate): Map<string, string> {
  const out = new Map<string, string>();
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::S3::Bucket') continue;
    const name = props(res)['BucketName'];
    const text = typeof name === 'string' ? name : isObject(name) && typeof name['Fn::Sub'] === 'string' ? name['Fn::Sub'] : undefined;
    if (text) out.set(id, text);
  }
  return out;
}

/**
 * An S3 ARN string (`arn:${AWS::Partition}:s3:::<name>[/<key>]`) of a bucket of the template, as
 * `<bucket logical id>[/<key>]`; undefined for anything else.
 */
function s3ArnTarget(t: CfnTemplate, text: string): string | undefined {
  const m = /^arn:(?:aws|\$\{AWS::Partition\}):s3:::([^/]+)(\/.*)?$/.exec(text);
  if (!m) return undefined;
  for (const [id, name] of bucketNames(t)) if (name === m[1]) return `${id}${m[2] ?? ''}`;
  return undefined;
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

/** S3 actions on objects: the only ones that may take a key-prefix resource (see checkNoSensitiveWildcards). */
const S3_OBJECT_ACTIONS = new Set(['s3:getobject', 's3:putobject', 's3:deleteobject', 's3:getobjectversion', 's3:deleteobjectversion']);

/**
 * No role has a wildcard action or resource on KMS, Secrets Manager, SQS, S3, DynamoDB or EventBridge.
 *
 * One explicit exception, because S3 objects cannot be named one by one: S3 OBJECT actions (Get/Put/Delete
 * Object) may name `arn:…:s3:::<bucket>/<prefix>/*`, where the bucket is a bucket of this template (by its
 * name) and the prefix is a literal, non-empty folder; `<bucket>/*` (the whole bucket), a wildcard in the
 * bucket name or the prefix, or a bucket-level action on such a resource are still violations.
 */
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
    const objectActionsOnly = actions.length > 0 && actions.every((a) => S3_OBJECT_ACTIONS.has(a.toLowerCase()));
    for (const r of resources.flatMap((x) => expandIf(x))) {
      for (const text of stringsIn(r)) {
        if (!/[*?]/.test(text.replace(/\$\{[^}]+\}/g, ''))) continue;
        const target = s3ArnTarget(t, text);
        // `<bucket id>/<literal prefix>/*`: objects under a fixed folder of a bucket of this template.
        if (objectActionsOnly && target !== undefined && /^[A-Za-z0-9]+\/[^*?]+\/\*$/.test(target)) continue;
        v.push(`${f.where}: wildcard resource ${text} for ${actions.join(',')}`);
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
 * groups (`kms:EncryptionContext:aws:logs:arn`), or S3's own calls for a bucket's objects (`kms:ViaService` on
 * s3 and `kms:EncryptionContext:aws:s3:arn` naming a bucket of this template or its objects), or DynamoDB's and
 * SQS's own calls for the tables and queues (`kms:ViaService`; in a key policy also `kms:CallerAccount` = this
 * account), or, in a key policy, a service principal for one exact `aws:SourceArn`.
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
      const services = stringsIn(viaService);
      if (services.length > 0 && services.every((x) => x.startsWith('s3.'))) {
        const s3Arns = stringsIn(conditionValue(s, ['StringEquals', 'StringLike', 'ArnEquals', 'ArnLike'], 'kms:EncryptionContext:aws:s3:arn'));
        if (s3Arns.length === 0) v.push(`${f.where}: S3 decrypt without kms:EncryptionContext:aws:s3:arn`);
        for (const arn of s3Arns) if (s3ArnTarget(t, arn) === undefined) v.push(`${f.where}: S3 decrypt for ${arn}, not a bucket of this template`);
        continue;
      }
      // DataAtRestKey: DynamoDB and SQS decrypt their own data keys for the tables and queues.
      if (services.length > 0 && services.every((x) => x.startsWith('dynamodb.') || x.startsWith('sqs.'))) {
        if (f.kind === 'key' && stringsIn(conditionValue(s, ['StringEquals'], 'kms:CallerAccount')).join('') !== 'AWS::AccountId') {
          v.push(`${f.where}: DynamoDB/SQS use in a key policy without kms:CallerAccount = this account`);
        }
        continue;
      }
      if (!services.every((x) => x.startsWith('secretsmanager.'))) v.push(`${f.where}: kms:ViaService is neither Secrets Manager, S3, DynamoDB nor SQS`);
      if (secretArn === undefined) v.push(`${f.where}: Secrets Manager decrypt without kms:EncryptionContext:SecretARN`);
      continue;
    }
    if (f.kind === 'key' && logsArn !== undefined && principalServices(s).some((x) => x.startsWith('logs.'))) continue;
    // A service principal in a key policy for one source (EventBridge's dead letters of the sign-up rule).
    if (f.kind === 'key' && principalServices(s).length > 0 && conditionValue(s, ['ArnEquals', 'StringEquals'], 'aws:SourceArn') !== undefined) continue;
    v.push(`${f.where}: kms:Decrypt without an encryption-context purpose condition (or kms:ViaService)`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 4. who may use the secrets key

/**
 * In the key policy of `keyId`: kms:Decrypt under a purpose only for (and for every one of) the function roles
 * the access model says read that purpose; kms:GenerateDataKey (outside Secrets Manager) only under
 * didit-job-result and only for the job worker; kms:Encrypt for function roles only under didit-webhook-secret and only for the
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
  const rolesWhere = (pick: (a: FunctionAccess) => boolean) => new Set(access.filter(pick).map((a) => logicalIds(a).role));
  const expected = {
    'didit-api-key': rolesWhere((a) => a.readsApiKey),
    'didit-webhook-secret': rolesWhere((a) => a.readsWebhookSecret),
    'didit-job-result': rolesWhere((a) => a.jobResults === 'open'),
  };
  // kms:GenerateDataKey outside Secrets Manager: only the job worker, only for job results.
  const dataKeyRoles = rolesWhere((a) => a.jobResults === 'seal');
  const covered = new Set<string>();
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
        covered.add(`kms:Decrypt ${purposes[0]}`);
        const got = new Set(roles);
        const missing = [...want].filter((r) => !got.has(r));
        const extra = roles.filter((r) => !want.has(r));
        if (missing.length) v.push(`${f.where}: roles that should decrypt ${purposes[0]} but cannot: ${missing.join(', ')}`);
        if (extra.length) v.push(`${f.where}: roles that may decrypt ${purposes[0]} but do not need to: ${extra.join(', ')}`);
      }
    }
    if (uses.includes('kms:GenerateDataKey')) {
      covered.add('kms:GenerateDataKey didit-job-result');
      const nonRoles = arns.filter((a) => getAttTarget(a) === undefined);
      if (nonRoles.length > 0) v.push(`${f.where}: kms:GenerateDataKey for a principal that is not a function role: ${JSON.stringify(nonRoles)}`);
      if (purposes.length !== 1 || purposes[0] !== 'didit-job-result') v.push(`${f.where}: function roles may kms:GenerateDataKey only under didit-job-result`);
      const missing = [...dataKeyRoles].filter((r) => !roles.includes(r));
      const extra = roles.filter((r) => !dataKeyRoles.has(r));
      if (missing.length) v.push(`${f.where}: roles that should generate job-result data keys but cannot: ${missing.join(', ')}`);
      if (extra.length) v.push(`${f.where}: roles that may generate data keys but do not seal job results: ${extra.join(', ')}`);
    }
    if (uses.includes('kms:Encrypt') && roles.length > 0) {
      if (purposes.length !== 1 || purposes[0] !== 'didit-webhook-secret') v.push(`${f.where}: function roles may kms:Encrypt only under didit-webhook-secret`);
      for (const role of roles) if (!roleOf.get(role)?.sealsWebhookSecret) v.push(`${f.where}: ${role} may kms:Encrypt but does not seal`);
    }
  }
  // Every use the access model needs has a statement (an IAM Allow alone does not open a key).
  for (const [purpose, roles] of Object.entries(expected)) {
    if (roles.size > 0 && !covered.has(`kms:Decrypt ${purpose}`)) v.push(`${keyId}: no key policy statement lets ${[...roles].join(', ')} decrypt ${purpose}`);
  }
  if (dataKeyRoles.size > 0 && !covered.has('kms:GenerateDataKey didit-job-result')) {
    v.push(`${keyId}: no key policy statement lets ${[...dataKeyRoles].join(', ')} generate didit-job-result data keys`);
  }
  return v;
}

/**
 * In the key policy of `keyId` (the uploads key): every use is S3's, on behalf of a named function role
 * (account root + `aws:PrincipalArn`, `kms:ViaService` s3 and `kms:EncryptionContext:aws:s3:arn` naming a bucket
 * of this template): kms:GenerateDataKey for exactly the presigning functions, kms:Decrypt for exactly the
 * intake functions, nothing else (no Encrypt, ReEncrypt, grants).
 */
export function checkUploadsKeyUse(t: CfnTemplate, keyId = 'UploadsKey', access: readonly FunctionAccess[] = functionAccess()): string[] {
  const v: string[] = [];
  const rolesWhere = (pick: (a: FunctionAccess) => boolean) => new Set(access.filter(pick).map((a) => logicalIds(a).role));
  const want: Record<string, Set<string>> = {
    'kms:GenerateDataKey': rolesWhere((a) => a.uploads === 'presign'),
    'kms:Decrypt': rolesWhere((a) => a.uploads === 'intake'),
  };
  const key = t.Resources[keyId];
  if (key?.Type !== 'AWS::KMS::Key') {
    return Object.values(want).some((r) => r.size > 0) ? [`${keyId}: no such KMS key, but the access model uses it`] : [];
  }
  const useActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:CreateGrant'];
  const granted: Record<string, Set<string>> = { 'kms:GenerateDataKey': new Set(), 'kms:Decrypt': new Set() };
  for (const f of collectStatements(t).filter((x) => x.resourceId === keyId)) {
    const s = f.statement;
    const uses = useActions.filter((a) => allows(s, a));
    if (uses.length === 0) continue;
    const principalArns = asArray(conditionValue(s, ['ArnEquals', 'ArnLike'], 'aws:PrincipalArn') as unknown);
    const roles = principalArns.map(getAttTarget).filter((r): r is string => r !== undefined);
    if (!isAccountRoot(s.Principal) || principalArns.length === 0 || roles.length !== principalArns.length) {
      v.push(`${f.where}: ${uses.join(',')} must be granted to function roles by name (account root + aws:PrincipalArn)`);
      continue;
    }
    const via = stringsIn(conditionValue(s, ['StringEquals'], 'kms:ViaService'));
    const s3Arns = stringsIn(conditionValue(s, ['StringEquals', 'StringLike', 'ArnEquals', 'ArnLike'], 'kms:EncryptionContext:aws:s3:arn'));
    if (via.length === 0 || !via.every((x) => x.startsWith('s3.'))) v.push(`${f.where}: not limited to S3 (kms:ViaService)`);
    if (s3Arns.length === 0 || s3Arns.some((a) => s3ArnTarget(t, a) === undefined)) v.push(`${f.where}: not limited to a bucket of this template (kms:EncryptionContext:aws:s3:arn)`);
    for (const use of uses) {
      const set = granted[use];
      if (!set) {
        v.push(`${f.where}: allows ${use}`);
        continue;
      }
      for (const role of roles) set.add(role);
    }
  }
  for (const [action, roles] of Object.entries(want)) {
    const got = granted[action]!;
    const missing = [...roles].filter((r) => !got.has(r));
    const extra = [...got].filter((r) => !roles.has(r));
    if (missing.length) v.push(`${keyId}: roles that need ${action} but cannot: ${missing.join(', ')}`);
    if (extra.length) v.push(`${keyId}: roles that may ${action} but do not need to: ${extra.join(', ')}`);
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
  return [...new Set([...EXPECTED_BASE, ...expectedGrants(fn).map((g) => g.split(' on ')[0]!)])].sort();
}

const ITEM_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];

/**
 * What the access model says a function may do, as `<action> on <resource>` (logical ids; a KMS key with the
 * condition that scopes it: `[purpose=…]` or `[via secretsmanager|s3]`; S3 objects as `<bucket id>/<prefix>/*`).
 * Its log-group permissions are not listed: checkLogPermissionsScoped checks those.
 */
export function expectedGrants(fn: FunctionAccess): string[] {
  const out: string[] = [];
  const on = (resource: string, ...actions: string[]) => out.push(...actions.map((a) => `${a} on ${resource}`));
  const secretsKey = 'DiditSecretsKey';
  if (fn.readsApiKey) {
    on('DiditApiKeySecret', 'secretsmanager:GetSecretValue');
    on(`${secretsKey}[purpose=didit-api-key]`, 'kms:Decrypt');
    on(`${secretsKey}[via secretsmanager]`, 'kms:Decrypt');
  }
  if (fn.readsWebhookSecret) {
    on('DiditWebhookSecret', 'secretsmanager:GetSecretValue');
    on(`${secretsKey}[purpose=didit-webhook-secret]`, 'kms:Decrypt');
    on(`${secretsKey}[via secretsmanager]`, 'kms:Decrypt');
  }
  if (fn.sealsWebhookSecret) {
    on('DiditWebhookSecret', 'secretsmanager:PutSecretValue');
    on(`${secretsKey}[purpose=didit-webhook-secret]`, 'kms:Encrypt');
    on(`${secretsKey}[via secretsmanager]`, 'kms:GenerateDataKey');
  }
  if (fn.usesDedupeTable) on('WebhookIdempotencyTable', ...ITEM_ACTIONS);
  if (fn.publishesEvents) on('DiditEventBus', 'events:PutEvents');
  on('JobsTable', ...fn.jobsTable.map((a) => `dynamodb:${a}`));
  if (fn.jobsQueue === 'send') on('JobsQueue', 'sqs:SendMessage');
  if (fn.jobsQueue === 'consume') on('JobsQueue', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility');
  if (fn.jobResults === 'seal') on(`${secretsKey}[purpose=didit-job-result]`, 'kms:GenerateDataKey');
  if (fn.jobResults === 'open') on(`${secretsKey}[purpose=didit-job-result]`, 'kms:Decrypt');
  if (fn.uploads === 'presign') {
    on('UploadIntakeBucket/intake/*', 's3:PutObject');
    on('UploadsKey[via s3]', 'kms:GenerateDataKey');
  }
  if (fn.uploads === 'intake') {
    on('UploadIntakeBucket/intake/*', 's3:GetObject', 's3:DeleteObject');
    on('UploadIntakeBucket[prefix=intake/*]', 's3:ListBucket');
    on('UploadsKey[via s3]', 'kms:Decrypt');
  }
  if (fn.sendsToTriggerDlq) on('TriggerDeadLetterQueue', 'sqs:SendMessage');
  // The daily spend counter: its own items of the idempotency table only (lib/spend-cap/counter.ts).
  if (fn.countsPaidCalls) on('WebhookIdempotencyTable[leading=spend-cap#<stage>#*]', 'dynamodb:GetItem', 'dynamodb:UpdateItem');
  // X-Ray has no resource-level permissions: write-only on '*', every function (the `tracing` param).
  on('*', 'xray:PutTraceSegments', 'xray:PutTelemetryRecords');
  // The tables and queues are encrypted with DataAtRestKey: through DynamoDB for a table user, through SQS for
  // a queue user (senders: GenerateDataKey + Decrypt; the consumer: Decrypt).
  if (fn.usesDedupeTable || fn.jobsTable.length > 0 || fn.countsPaidCalls) on('DataAtRestKey[via dynamodb]', 'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey');
  if (fn.jobsQueue === 'send' || fn.sendsToTriggerDlq) on('DataAtRestKey[via sqs]', 'kms:Decrypt', 'kms:GenerateDataKey');
  if (fn.jobsQueue === 'consume') on('DataAtRestKey[via sqs]', 'kms:Decrypt');
  return [...new Set(out)].sort();
}

/** `<action> on <resource>` for each Allow of an identity statement (see expectedGrants); logs excluded. */
function grantsOf(t: CfnTemplate, s: Statement): string[] {
  const resources = asArray(s.Resource as unknown).flatMap((r) => expandIf(r));
  const names = resources.map((r): string => {
    const id = getAttTarget(r) ?? refTarget(r);
    if (id !== undefined) {
      // A table grant limited to some partition keys names them (the spend counter's items).
      const leading = stringsIn(conditionValue(s, ['ForAllValues:StringLike', 'ForAllValues:StringEquals'], 'dynamodb:LeadingKeys'));
      // The stage segment is a literal (no wildcard): one stage's counter, whatever the stage is called.
      if (leading.length > 0) return `${id}[leading=${leading.map((k) => k.replace(/^spend-cap#[^#*?]+#\*$/, 'spend-cap#<stage>#*')).join('|')}]`;
      if (t.Resources[id]?.Type !== 'AWS::KMS::Key') return id;
      const purpose = stringsIn(conditionValue(s, ['StringEquals'], PURPOSE));
      const via = stringsIn(conditionValue(s, ['StringEquals'], 'kms:ViaService'));
      if (purpose.length === 1 && via.length === 0) return `${id}[purpose=${purpose[0]}]`;
      if (via.length === 1 && purpose.length === 0) return `${id}[via ${via[0]!.split('.')[0]}]`;
      return `${id}[${JSON.stringify(s.Condition ?? null)}]`;
    }
    const text = stringsIn(r).join('');
    const target = s3ArnTarget(t, text) ?? text;
    // A bucket-level grant names the key prefixes it is limited to (s3:ListBucket under intake/ only).
    const prefixes = stringsIn(conditionValue(s, ['StringEquals', 'StringLike'], 's3:prefix'));
    return prefixes.length > 0 ? `${target}[prefix=${prefixes.join('|')}]` : target;
  });
  return actionsOf(s)
    .filter((a) => !a.toLowerCase().startsWith('logs:'))
    .flatMap((a) => names.map((n) => `${a} on ${n}`));
}

/**
 * Each Lambda function has its own role, used by no other function, with no managed policies, whose
 * permissions (inline + attached AWS::IAM::Policy) are exactly what the access model says it uses: the same
 * actions, each on the same resources (and, on a KMS key, under the same purpose or service; expectedGrants).
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
    const allowed = statements.filter((f) => f.roles.includes(role) && f.statement.Effect === 'Allow');
    const granted = [...new Set(allowed.flatMap((f) => actionsOf(f.statement)))].sort();
    const want = expectedActions(fn);
    if (JSON.stringify(granted) !== JSON.stringify(want)) {
      v.push(`${role} (${fn.name}): grants [${granted.join(', ')}], expected [${want.join(', ')}]`);
      continue;
    }
    // The right actions: now on the right resources, under the right KMS conditions.
    const grants = new Set(allowed.flatMap((f) => grantsOf(t, f.statement)));
    const wantGrants = new Set(expectedGrants(fn));
    const extra = [...grants].filter((g) => !wantGrants.has(g)).sort();
    const missing = [...wantGrants].filter((g) => !grants.has(g)).sort();
    if (extra.length) v.push(`${role} (${fn.name}): grants ${extra.join('; ')}, which the access model does not`);
    if (missing.length) v.push(`${role} (${fn.name}): lacks ${missing.join('; ')}`);
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

/** SQS's longest retention (14 days): what a dead-letter queue keeps its messages for. */
export const DLQ_RETENTION_SECONDS = 1_209_600;

/**
 * The SQS queues of the template that are DEAD-LETTER queues, by what sends failures to them: another queue's
 * `RedrivePolicy.deadLetterTargetArn`, a Lambda `EventInvokeConfig`'s or `EventSourceMapping`'s on-failure
 * destination, or an EventBridge rule target's `DeadLetterConfig`. Being a DLQ is decided by these references,
 * never by the queue's name or by its own properties.
 */
export function deadLetterQueues(t: CfnTemplate): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const mark = (arn: unknown, by: string) => {
    const id = getAttTarget(arn);
    if (id && t.Resources[id]?.Type === 'AWS::SQS::Queue') out.set(id, [...(out.get(id) ?? []), by]);
  };
  for (const [id, res] of Object.entries(t.Resources)) {
    const p = props(res);
    if (res.Type === 'AWS::SQS::Queue') mark((p['RedrivePolicy'] as Record<string, unknown> | undefined)?.['deadLetterTargetArn'], `${id}.RedrivePolicy`);
    if (res.Type === 'AWS::Lambda::EventInvokeConfig' || res.Type === 'AWS::Lambda::EventSourceMapping') {
      const onFailure = (p['DestinationConfig'] as Record<string, Record<string, unknown>> | undefined)?.['OnFailure'];
      mark(onFailure?.['Destination'], `${id}.OnFailure`);
    }
    if (res.Type === 'AWS::Events::Rule') {
      for (const target of asArray(p['Targets'] as Array<Record<string, unknown>>)) {
        mark((target['DeadLetterConfig'] as Record<string, unknown> | undefined)?.['Arn'], `${id}.DeadLetterConfig`);
      }
    }
  }
  return out;
}

function deniesWithoutTls(s: Statement): boolean {
  const secure = s.Condition?.['Bool']?.['aws:SecureTransport'];
  return s.Effect === 'Deny' && (secure === false || secure === 'false') && (s.Principal === '*' || stringsIn(s.Principal).includes('*'));
}

/**
 * Queues:
 *   - every queue: SSE-KMS with a KMS key of this template (`KmsMasterKeyId`; not SQS-owned keys, whose use no
 *     key policy of ours decides), and a queue policy that
 *     denies requests without TLS; a policy statement that allows an AWS service (EventBridge, S3, SNS…) to
 *     send names the one source it serves (`aws:SourceArn`, exact);
 *   - a queue that is NOT a dead-letter queue (see deadLetterQueues) has one: `RedrivePolicy` with a
 *     `deadLetterTargetArn` of this template and a `maxReceiveCount`;
 *   - a dead-letter queue needs no dead-letter queue of its own and must not have one (what fails there would
 *     move on silently), and keeps its messages for SQS's maximum, 14 days: it is where failures wait for a
 *     person, not a retry stage.
 */
export function checkQueues(t: CfnTemplate): string[] {
  const v: string[] = [];
  const queues = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue');
  const dlqs = deadLetterQueues(t);
  const policies = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::SQS::QueuePolicy');
  const decide = conditionDecider(t);
  for (const [id, res] of queues) {
    const p = props(res);
    const key = getAttTarget(p['KmsMasterKeyId']) ?? refTarget(p['KmsMasterKeyId']);
    if (!key || t.Resources[key]?.Type !== 'AWS::KMS::Key') v.push(`${id}: not encrypted with a KMS key of this template (KmsMasterKeyId)`);
    const redrive = p['RedrivePolicy'] as Record<string, unknown> | undefined;
    if (dlqs.has(id)) {
      if (redrive !== undefined) v.push(`${id}: a dead-letter queue (of ${dlqs.get(id)!.join(', ')}) must not have a RedrivePolicy of its own`);
      if (p['MessageRetentionPeriod'] !== DLQ_RETENTION_SECONDS) v.push(`${id}: a dead-letter queue must keep messages ${DLQ_RETENTION_SECONDS} s (14 days), has ${String(p['MessageRetentionPeriod'] ?? 'the 4-day default')}`);
    } else {
      const target = getAttTarget(redrive?.['deadLetterTargetArn']);
      if (redrive?.['deadLetterTargetArn'] === undefined) v.push(`${id}: no dead-letter queue (RedrivePolicy.deadLetterTargetArn)`);
      else if (!target || t.Resources[target]?.Type !== 'AWS::SQS::Queue') v.push(`${id}: its dead-letter queue is not a queue of this template`);
      if (redrive !== undefined && typeof redrive['maxReceiveCount'] !== 'number') v.push(`${id}: RedrivePolicy without maxReceiveCount`);
    }
    const own = policies.filter(([, pol]) => asArray(props(pol)['Queues'] as unknown[]).some((q) => refTarget(q) === id));
    const statements = own.flatMap(([pid, pol]) => statementsOf(props(pol)['PolicyDocument']).map((s) => [pid, s] as const));
    if (!statements.some(([, s]) => deniesWithoutTls(s))) v.push(`${id}: no queue policy denying aws:SecureTransport = false`);
    for (const [pid, s] of statements) {
      if (s.Effect !== 'Allow') continue;
      if (principalServices(s).length === 0) {
        v.push(`${pid}[${s.Sid ?? '?'}]: allows a principal that is not an AWS service: use IAM policies`);
        continue;
      }
      const source = expandIf(conditionValue(s, ['ArnEquals', 'StringEquals'], 'aws:SourceArn'), decide).flatMap(stringsIn);
      if (source.length === 0) v.push(`${pid}[${s.Sid ?? '?'}]: a service may send without an exact aws:SourceArn`);
      for (const text of source) if (/[*?]/.test(text.replace(/\$\{[^}]+\}/g, ''))) v.push(`${pid}[${s.Sid ?? '?'}]: wildcard aws:SourceArn ${text}`);
    }
  }
  return v;
}

/**
 * Every S3 bucket (the stack's own and serverless's deployment bucket): blocks all public access; has default
 * encryption; keeps ACLs disabled when it sets object ownership (BucketOwnerEnforced); has a bucket policy
 * that denies requests without TLS. A bucket encrypted by default with a KMS key of this template also
 * refuses uploads that do not ask for that key themselves (a Deny of s3:PutObject unless
 * `s3:x-amz-server-side-encryption` is aws:kms, and one unless `…-aws-kms-key-id` is that key), so no object
 * lands there under another key or SSE-S3.
 */
export function checkBuckets(t: CfnTemplate): string[] {
  const v: string[] = [];
  const policies = Object.values(t.Resources).filter((r) => r.Type === 'AWS::S3::BucketPolicy');
  let buckets = 0;
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::S3::Bucket') continue;
    buckets++;
    const p = props(res);
    const pab = p['PublicAccessBlockConfiguration'] as Record<string, unknown> | undefined;
    for (const flag of ['BlockPublicAcls', 'BlockPublicPolicy', 'IgnorePublicAcls', 'RestrictPublicBuckets']) {
      if (pab?.[flag] !== true) v.push(`${id}: PublicAccessBlockConfiguration.${flag} is not true`);
    }
    const ownership = (p['OwnershipControls'] as { Rules?: Array<Record<string, unknown>> } | undefined)?.Rules ?? [];
    for (const rule of ownership) if (rule['ObjectOwnership'] !== 'BucketOwnerEnforced') v.push(`${id}: ObjectOwnership ${String(rule['ObjectOwnership'])} enables ACLs`);
    const sse = ((p['BucketEncryption'] as { ServerSideEncryptionConfiguration?: Array<Record<string, unknown>> } | undefined)?.ServerSideEncryptionConfiguration ?? [])
      .map((c) => c['ServerSideEncryptionByDefault'] as Record<string, unknown> | undefined)
      .filter((d): d is Record<string, unknown> => d !== undefined);
    if (sse.length === 0) v.push(`${id}: no default encryption (BucketEncryption)`);
    const statements = policies.filter((pol) => refTarget(props(pol)['Bucket']) === id).flatMap((pol) => statementsOf(props(pol)['PolicyDocument']));
    if (!statements.some(deniesWithoutTls)) v.push(`${id}: no bucket policy denying aws:SecureTransport = false`);
    for (const d of sse) {
      const key = getAttTarget(d['KMSMasterKeyID']) ?? refTarget(d['KMSMasterKeyID']);
      if (d['SSEAlgorithm'] !== 'aws:kms' || !key || t.Resources[key]?.Type !== 'AWS::KMS::Key') continue;
      const denyPut = statements.filter((s) => s.Effect === 'Deny' && actionsOf(s).some((a) => actionMatches(a, 's3:PutObject')) && (s.Principal === '*' || stringsIn(s.Principal).includes('*')));
      const requires = (name: string, ok: (value: unknown) => boolean) =>
        denyPut.some((s) => {
          const value = conditionValue(s, ['StringNotEquals'], name);
          return value !== undefined && ok(value) && Object.keys(s.Condition ?? {}).length === 1 && Object.keys(s.Condition?.['StringNotEquals'] ?? {}).length === 1;
        });
      if (!requires('s3:x-amz-server-side-encryption', (x) => x === 'aws:kms')) v.push(`${id}: no bucket policy denying uploads without SSE-KMS (s3:x-amz-server-side-encryption)`);
      if (!requires('s3:x-amz-server-side-encryption-aws-kms-key-id', (x) => (getAttTarget(x) ?? refTarget(x)) === key)) {
        v.push(`${id}: no bucket policy denying uploads under a key other than ${key} (s3:x-amz-server-side-encryption-aws-kms-key-id)`);
      }
    }
  }
  if (buckets === 0) v.push('no S3 bucket');
  return v;
}

/**
 * Every Lambda permission for an AWS service names the one source it serves (`SourceArn`); for S3, whose
 * bucket ARNs carry no account, also `SourceAccount` (a bucket of that name in another account must not
 * invoke the function).
 */
export function checkLambdaPermissions(t: CfnTemplate): string[] {
  const v: string[] = [];
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::Lambda::Permission') continue;
    const p = props(res);
    const principal = String(p['Principal'] ?? '');
    if (!principal.endsWith('.amazonaws.com')) {
      v.push(`${id}: invocable by ${principal || 'nobody named'}, not an AWS service`);
      continue;
    }
    const source = stringsIn(p['SourceArn']).join('');
    if (p['SourceArn'] === undefined) v.push(`${id}: ${principal} may invoke without a SourceArn`);
    if (principal === 's3.amazonaws.com') {
      if (p['SourceAccount'] === undefined) v.push(`${id}: S3 may invoke without a SourceAccount`);
      if (/[*?]/.test(source.replace(/\$\{[^}]+\}/g, ''))) v.push(`${id}: wildcard SourceArn ${source}`);
    }
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

// ---------------------------------------------------------------------------------------------------------
// 11. data at rest: tables and queues under the stack's own key

/**
 * Every DynamoDB table is encrypted with a KMS key of this template (SSE type KMS, `KMSMasterKeyId`), not the
 * AWS owned or AWS managed key; and every key that encrypts a table or a queue is usable only through those
 * services: each use statement of its policy is either this account (account root) with `kms:ViaService` only
 * DynamoDB/SQS of this region and `kms:CallerAccount` this account, or a service principal for one exact
 * `aws:SourceArn`. No named role, no `*`, no use outside the services (the roles' own IAM grants are checked by
 * checkRolePerFunction).
 */
export function checkDataAtRest(t: CfnTemplate): string[] {
  const v: string[] = [];
  const keysInUse = new Map<string, string[]>();
  const use = (key: string | undefined, by: string) => {
    if (key) keysInUse.set(key, [...(keysInUse.get(key) ?? []), by]);
  };
  let tables = 0;
  for (const [id, res] of Object.entries(t.Resources)) {
    const p = props(res);
    if (res.Type === 'AWS::DynamoDB::Table') {
      tables++;
      const sse = (p['SSESpecification'] ?? {}) as Record<string, unknown>;
      const key = getAttTarget(sse['KMSMasterKeyId']) ?? refTarget(sse['KMSMasterKeyId']);
      if (sse['SSEEnabled'] !== true || sse['SSEType'] !== 'KMS' || !key || t.Resources[key]?.Type !== 'AWS::KMS::Key') {
        v.push(`${id}: not encrypted with a KMS key of this template (SSESpecification: SSEEnabled, SSEType KMS, KMSMasterKeyId)`);
      }
      use(key, id);
    }
    if (res.Type === 'AWS::SQS::Queue') use(getAttTarget(p['KmsMasterKeyId']) ?? refTarget(p['KmsMasterKeyId']), id);
  }
  if (tables === 0) v.push('no DynamoDB table');
  const useActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:CreateGrant'];
  for (const [keyId] of keysInUse) {
    if (t.Resources[keyId]?.Type !== 'AWS::KMS::Key') continue;
    for (const f of collectStatements(t).filter((x) => x.resourceId === keyId)) {
      const s = f.statement;
      const uses = useActions.filter((a) => allows(s, a));
      if (uses.length === 0) continue;
      if (principalServices(s).length > 0) {
        const source = stringsIn(expandIf(conditionValue(s, ['ArnEquals', 'StringEquals'], 'aws:SourceArn')));
        if (source.length === 0) v.push(`${f.where}: a service may use the key without an exact aws:SourceArn`);
        for (const text of source) if (/[*?]/.test(text.replace(/\$\{[^}]+\}/g, ''))) v.push(`${f.where}: wildcard aws:SourceArn ${text}`);
        continue;
      }
      if (!isAccountRoot(s.Principal)) {
        v.push(`${f.where}: ${uses.join(',')} for ${JSON.stringify(s.Principal)}: only this account (through DynamoDB/SQS) or a service for one source`);
        continue;
      }
      const via = stringsIn(conditionValue(s, ['StringEquals'], 'kms:ViaService'));
      const region = (x: string) => /^(dynamodb|sqs)\.\$\{AWS::Region\}\.amazonaws\.com$/.test(x);
      if (via.length === 0 || !via.every(region)) v.push(`${f.where}: not limited to DynamoDB/SQS of this region (kms:ViaService ${JSON.stringify(via)})`);
      if (stringsIn(conditionValue(s, ['StringEquals'], 'kms:CallerAccount')).join('') !== 'AWS::AccountId') v.push(`${f.where}: not limited to this account (kms:CallerAccount)`);
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 12. S3 access logs

/**
 * Every bucket logs its requests (S3 server access logs, `LoggingConfiguration`) into a bucket of this
 * template, except the access-log targets themselves. A target: logs nothing itself, is encrypted with SSE-S3
 * (what log delivery supports), is kept when the stack goes (`DeletionPolicy: Retain`), and its bucket policy
 * lets only the S3 logging service write, for this account (`aws:SourceAccount`) and named buckets
 * (`aws:SourceArn`, no wildcard).
 */
export function checkAccessLogs(t: CfnTemplate): string[] {
  const v: string[] = [];
  const buckets = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::S3::Bucket');
  const targets = new Set<string>();
  for (const [id, res] of buckets) {
    const target = refTarget((props(res)['LoggingConfiguration'] as Record<string, unknown> | undefined)?.['DestinationBucketName']);
    if (target && t.Resources[target]?.Type === 'AWS::S3::Bucket' && target !== id) targets.add(target);
  }
  for (const [id, res] of buckets) {
    const p = props(res);
    if (!targets.has(id)) {
      const target = refTarget((p['LoggingConfiguration'] as Record<string, unknown> | undefined)?.['DestinationBucketName']);
      if (!target || !targets.has(target)) v.push(`${id}: no access logging (LoggingConfiguration.DestinationBucketName) to a bucket of this template`);
      continue;
    }
    if (p['LoggingConfiguration'] !== undefined) v.push(`${id}: an access-log target must not log into a bucket itself`);
    const sse = ((p['BucketEncryption'] as { ServerSideEncryptionConfiguration?: Array<Record<string, Record<string, unknown>>> } | undefined)?.ServerSideEncryptionConfiguration ?? [])
      .map((c) => c['ServerSideEncryptionByDefault']?.['SSEAlgorithm']);
    if (sse.length !== 1 || sse[0] !== 'AES256') v.push(`${id}: an access-log target must use SSE-S3 (AES256), the encryption log delivery supports`);
    if (res['DeletionPolicy'] !== 'Retain') v.push(`${id}: an access-log target must be kept when the stack is deleted (DeletionPolicy: Retain)`);
    const statements = Object.values(t.Resources)
      .filter((r) => r.Type === 'AWS::S3::BucketPolicy' && refTarget(props(r)['Bucket']) === id)
      .flatMap((pol) => statementsOf(props(pol)['PolicyDocument']));
    const allows = statements.filter((s) => s.Effect === 'Allow');
    if (allows.length === 0) v.push(`${id}: no bucket policy letting the S3 logging service deliver`);
    for (const s of allows) {
      const where = `${id} policy [${s.Sid ?? '?'}]`;
      const services = principalServices(s);
      if (services.length !== 1 || services[0] !== 'logging.s3.amazonaws.com') v.push(`${where}: allows ${JSON.stringify(s.Principal)}, not only logging.s3.amazonaws.com`);
      if (actionsOf(s).some((a) => a.toLowerCase() !== 's3:putobject')) v.push(`${where}: allows ${actionsOf(s).join(',')}, not only s3:PutObject`);
      if (conditionValue(s, ['StringEquals'], 'aws:SourceAccount') === undefined) v.push(`${where}: no aws:SourceAccount`);
      const sources = expandIf(conditionValue(s, ['ArnEquals', 'ArnLike'], 'aws:SourceArn')).flatMap((x) => (Array.isArray(x) ? x : [x]));
      if (sources.length === 0) v.push(`${where}: no aws:SourceArn`);
      for (const src of sources) {
        for (const text of stringsIn(src)) if (/[*?]/.test(text.replace(/\$\{[^}]+\}/g, ''))) v.push(`${where}: wildcard aws:SourceArn ${text}`);
      }
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 13. checkov suppressions

/**
 * The checkov checks the template may suppress, each on the resource types where the project decided it does
 * not apply (README "Deploying" lists why). A suppression elsewhere, of another check, or without a reason of
 * some substance is a violation: a new suppression is a decision, made here and in the template together.
 */
export const CHECKOV_SUPPRESSIBLE: Readonly<Record<string, readonly string[]>> = {
  CKV_AWS_115: ['AWS::Lambda::Function'], // reserved concurrency: a per-stage param, off by default
  CKV_AWS_116: ['AWS::Lambda::Function'], // DLQ: synchronous, SQS-driven, or on-failure destinations
  CKV_AWS_117: ['AWS::Lambda::Function'], // VPC
  CKV_AWS_173: ['AWS::Lambda::Function'], // environment encryption: no secrets there
  CKV_AWS_59: ['AWS::ApiGateway::Method'], // the webhook route (HMAC in the function)
  CKV_AWS_73: ['AWS::ApiGateway::Stage'], // X-Ray: the `tracing` param
  CKV_AWS_120: ['AWS::ApiGateway::Stage'], // caching
  CKV_AWS_18: ['AWS::S3::Bucket'], // access logging: only on the access-log target itself
  CKV_AWS_21: ['AWS::S3::Bucket'], // versioning
};

export function checkCheckovSuppressions(t: CfnTemplate): string[] {
  const v: string[] = [];
  const targets = new Set(
    Object.values(t.Resources)
      .map((r) => refTarget((props(r)['LoggingConfiguration'] as Record<string, unknown> | undefined)?.['DestinationBucketName']))
      .filter((x): x is string => !!x),
  );
  for (const [id, res] of Object.entries(t.Resources)) {
    const meta = res['Metadata'];
    const checkov = isObject(meta) ? meta['checkov'] : undefined;
    if (checkov === undefined) continue;
    const skips = isObject(checkov) ? checkov['skip'] : undefined;
    if (!Array.isArray(skips)) {
      v.push(`${id}: Metadata.checkov must be { skip: [{ id, comment }] }`);
      continue;
    }
    const seen = new Set<string>();
    for (const skip of skips as unknown[]) {
      const checkId = isObject(skip) && typeof skip['id'] === 'string' ? skip['id'] : undefined;
      const comment = isObject(skip) && typeof skip['comment'] === 'string' ? skip['comment'].trim() : '';
      if (!checkId) {
        v.push(`${id}: a checkov skip without an id`);
        continue;
      }
      if (seen.has(checkId)) v.push(`${id}: ${checkId} suppressed twice`);
      seen.add(checkId);
      if (comment.length < 40 || comment.split(/\s+/).length < 8) v.push(`${id}: ${checkId} suppressed without a reason (a comment of a sentence or more)`);
      const types = CHECKOV_SUPPRESSIBLE[checkId];
      if (!types) v.push(`${id}: ${checkId} is not a check this project suppresses (fix the resource instead)`);
      else if (!types.includes(res.Type)) v.push(`${id}: ${checkId} may not be suppressed on ${res.Type}`);
      if (checkId === 'CKV_AWS_18' && !targets.has(id)) v.push(`${id}: CKV_AWS_18 (access logging) may be suppressed only on an access-log target`);
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// 14. function alarms

/**
 * Every Lambda function is watched for Errors and for Throttles by exactly one alarm each: metric-math alarms
 * (AWS/Lambda metric per function by its `FunctionName` Ref, summed with `SUM(METRICS())`) that fire on the
 * first one in their period (Threshold 1, GreaterThanOrEqualToThreshold, statistic Sum), over at most 10
 * metrics (CloudWatch's limit for one alarm).
 */
interface MetricStat {
  Metric?: { Namespace?: string; MetricName?: string; Dimensions?: Array<{ Name?: string; Value?: unknown }> };
  Stat?: string;
}

export function checkFunctionAlarms(t: CfnTemplate): string[] {
  const v: string[] = [];
  const seen: Record<string, Map<string, number>> = { Errors: new Map(), Throttles: new Map() };
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::CloudWatch::Alarm') continue;
    const p = props(res);
    const metrics = asArray(p['Metrics'] as Array<Record<string, unknown>>);
    const stats = metrics.map((m) => m['MetricStat'] as MetricStat | undefined).filter((m): m is MetricStat => m !== undefined);
    const lambda = stats.filter((m) => m.Metric?.Namespace === 'AWS/Lambda');
    if (lambda.length === 0) {
      if (p['Namespace'] === 'AWS/Lambda') v.push(`${id}: a single-metric Lambda alarm (use the metric-math alarms of the nested stack)`);
      continue;
    }
    if (stats.length > 10) v.push(`${id}: ${stats.length} metrics, CloudWatch evaluates at most 10 in one alarm`);
    const names = new Set(lambda.map((m) => String(m.Metric?.MetricName)));
    if (names.size !== 1) v.push(`${id}: mixes ${[...names].join(', ')}`);
    const sum = metrics.find((m) => m['Expression'] === 'SUM(METRICS())' && m['ReturnData'] === true);
    if (!sum || metrics.filter((m) => m['ReturnData'] !== false).length !== 1) v.push(`${id}: must return exactly SUM(METRICS())`);
    if (p['Threshold'] !== 1 || p['ComparisonOperator'] !== 'GreaterThanOrEqualToThreshold' || lambda.some((m) => m.Stat !== 'Sum')) {
      v.push(`${id}: must fire on the first one (Threshold 1, GreaterThanOrEqualToThreshold, Sum)`);
    }
    for (const m of lambda) {
      const dims = asArray(m.Metric?.Dimensions);
      const fn = dims.length === 1 && dims[0]!.Name === 'FunctionName' ? refTarget(dims[0]!.Value) : undefined;
      const metric = String(m.Metric?.MetricName);
      if (!fn || t.Resources[fn]?.Type !== 'AWS::Lambda::Function') {
        v.push(`${id}: a ${metric} metric that is not one function of this template (FunctionName Ref)`);
        continue;
      }
      if (seen[metric]) seen[metric].set(fn, (seen[metric].get(fn) ?? 0) + 1);
    }
  }
  for (const [id] of lambdaFunctions(t)) {
    for (const metric of ['Errors', 'Throttles']) {
      const n = seen[metric]!.get(id) ?? 0;
      if (n === 0) v.push(`${id}: in no ${metric} alarm`);
      if (n > 1) v.push(`${id}: in ${n} ${metric} alarms`);
    }
  }
  return v;
}

/** Every check, by name (the test runs each on the packaged template). */
export const CHECKS = {
  checkRouteAuthorization: (t: CfnTemplate) => checkRouteAuthorization(t),
  checkNoSensitiveWildcards,
  checkDecryptConditions,
  checkSecretsKeyUse: (t: CfnTemplate) => checkSecretsKeyUse(t),
  checkUploadsKeyUse: (t: CfnTemplate) => checkUploadsKeyUse(t),
  checkKeys,
  checkRolePerFunction: (t: CfnTemplate) => checkRolePerFunction(t),
  checkLogPermissionsScoped,
  checkLogGroups,
  checkQueues,
  checkBuckets,
  checkLambdaPermissions,
  checkSecrets: (t: CfnTemplate) => checkSecrets(t),
  checkEnvironment,
  checkApiStage,
  checkDataAtRest,
  checkAccessLogs,
  checkCheckovSuppressions,
  checkFunctionAlarms,
} as const;
