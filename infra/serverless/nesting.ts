/**
 * The stack's budget (issue 11): CloudFormation allows 500 resources per template, and every function brings
 * its own function, log group, invoke permission and API method. `splitIntoNestedStacks` moves those into
 * NESTED_STACKS nested stacks (`AWS::CloudFormation::Stack`), by a stable hash of the function's name, so the
 * root template grows by about two resources per operation (its role and its API path) and each nested one by
 * about four per function it holds.
 *
 * What moves with a function: the function, its log group, and every resource of a per-function type
 * (permission, event invoke config, event source mapping, API method, EventBridge rule, alarm) whose references
 * lead to functions of one group only. The roles, keys, policies, tables, queues, buckets, the REST API and
 * its paths stay in the root: key policies name the roles, so roles in a nested stack would make a cycle.
 *
 * References across the boundary become parameters (root → nested: `Ref X` stays `Ref X`, a parameter named
 * X; `GetAtt X.Attr` becomes `Ref XAttr`) and outputs (nested → root: `GetAtt <stack>.Outputs.Y`). DependsOn
 * across it moves to the stack resource. The stack resource records the original DependsOn lists in its
 * Metadata, so `flattenNestedStacks` rebuilds the exact single template: the template tests and deploy:local
 * read that, and a test proves flatten(split(t)) = t.
 *
 * Why a stable hash and a fixed count: a function that changed stacks would be created in its new stack
 * before its old stack deletes it, and function and log group names are fixed, so the update would fail.
 * Adding operations never moves an existing function.
 */

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
  Metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; [key: string]: unknown }>;
  Parameters?: Record<string, unknown>;
  [key: string]: unknown;
}

/** How many nested stacks hold the functions. Never change it for a deployed stack (see the file comment). */
export const NESTED_STACKS = 8;

/** The Metadata key of a nested stack resource (flattenNestedStacks reads it). */
export const NESTED_METADATA = 'didit:nested';

export interface NestedStackRecord {
  /** File name of the nested template, beside the root template. */
  template: string;
  /** Original DependsOn of every resource whose DependsOn the split changed (root or moved). */
  dependsOn: Record<string, string | string[]>;
}

/** The nested stack (0 … NESTED_STACKS-1) of a function, by its name: FNV-1a, stable across runs and Node versions. */
export function stackGroupOf(functionName: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(functionName, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % NESTED_STACKS;
}

export function nestedStackLogicalId(group: number): string {
  return `FunctionsStack${group}`;
}

export function nestedTemplateFile(group: number): string {
  return `cloudformation-template-nested-functions-${group}.json`;
}

const MOVABLE = new Set([
  'AWS::Lambda::Function',
  'AWS::Logs::LogGroup',
  'AWS::Lambda::Permission',
  'AWS::Lambda::EventInvokeConfig',
  'AWS::Lambda::EventSourceMapping',
  'AWS::ApiGateway::Method',
  'AWS::Events::Rule',
  'AWS::CloudWatch::Alarm',
]);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const asList = (d: string | string[] | undefined): string[] => (d === undefined ? [] : Array.isArray(d) ? d : [d]);
const SUB_VAR = /\$\{(?!!)([A-Za-z0-9:]+)(?:\.([A-Za-z0-9.]+))?\}/g;

function getAttParts(v: unknown): [string, string] | undefined {
  if (!isObject(v) || !('Fn::GetAtt' in v) || Object.keys(v).length !== 1) return undefined;
  const g = v['Fn::GetAtt'];
  if (Array.isArray(g) && typeof g[0] === 'string' && typeof g[1] === 'string') return [g[0], g[1]];
  if (typeof g === 'string' && g.includes('.')) return [g.slice(0, g.indexOf('.')), g.slice(g.indexOf('.') + 1)];
  return undefined;
}

function refTarget(v: unknown): string | undefined {
  return isObject(v) && Object.keys(v).length === 1 && typeof v['Ref'] === 'string' ? v['Ref'] : undefined;
}

/** Logical ids a value refers to (Ref, GetAtt, Fn::Sub variables), pseudo parameters excluded. */
export function referencedIds(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) referencedIds(v, out);
    return out;
  }
  if (!isObject(value)) return out;
  const ref = refTarget(value);
  if (ref !== undefined) {
    if (!ref.startsWith('AWS::')) out.add(ref);
    return out;
  }
  const att = getAttParts(value);
  if (att) {
    out.add(att[0]);
    return out;
  }
  if ('Fn::Sub' in value && Object.keys(value).length === 1) {
    const sub = value['Fn::Sub'];
    const text = Array.isArray(sub) ? String(sub[0]) : String(sub);
    const locals = Array.isArray(sub) && isObject(sub[1]) ? Object.keys(sub[1]) : [];
    for (const m of text.matchAll(SUB_VAR)) if (!m[1]!.startsWith('AWS::') && !locals.includes(m[1]!)) out.add(m[1]!);
    if (Array.isArray(sub) && isObject(sub[1])) referencedIds(Object.values(sub[1]), out);
    return out;
  }
  for (const v of Object.values(value)) referencedIds(v, out);
  return out;
}

/** `X` + attribute, letters and digits only: the parameter / output name of `GetAtt X.Attr`. */
const attName = (id: string, attr: string) => `${id}${attr.replace(/[^A-Za-z0-9]/g, '')}`;

export interface SplitOptions {
  /** Function logical id → its group (stackGroupOf of its name). Every Lambda function must be in it. */
  groupOfFunction: ReadonlyMap<string, number>;
  /** Log group logical id → the function logical id it belongs to. */
  functionOfLogGroup: ReadonlyMap<string, string>;
  /** The TemplateURL of a nested template file. */
  templateUrl: (file: string) => unknown;
}

export interface SplitResult {
  root: CfnTemplate;
  nested: Array<{ group: number; logicalId: string; file: string; template: CfnTemplate }>;
}

/** Which group each resource moves to (absent: it stays in the root). */
function owners(t: CfnTemplate, opts: SplitOptions): Map<string, number> {
  const owner = new Map<string, number>();
  for (const [id, res] of Object.entries(t.Resources)) {
    if (res.Type !== 'AWS::Lambda::Function') continue;
    const group = opts.groupOfFunction.get(id);
    if (group === undefined) throw new Error(`nesting: function ${id} has no group`);
    owner.set(id, group);
  }
  for (const [logGroup, fn] of opts.functionOfLogGroup) {
    if (t.Resources[logGroup]?.Type === 'AWS::Logs::LogGroup' && owner.has(fn)) owner.set(logGroup, owner.get(fn)!);
  }
  // Per-function resources follow what they refer to, until nothing changes (a permission refers to a rule).
  for (let changed = true; changed; ) {
    changed = false;
    for (const [id, res] of Object.entries(t.Resources)) {
      if (owner.has(id) || !MOVABLE.has(res.Type) || res.Condition !== undefined) continue;
      const refs = [...referencedIds(res.Properties ?? {})].filter((r) => MOVABLE.has(t.Resources[r]?.Type ?? ''));
      if (refs.length === 0 || refs.some((r) => !owner.has(r))) continue;
      const groups = new Set(refs.map((r) => owner.get(r)!));
      if (groups.size !== 1) continue;
      owner.set(id, [...groups][0]!);
      changed = true;
    }
  }
  return owner;
}

/** Splits the packaged template (see the file comment). The input is not modified. */
export function splitIntoNestedStacks(template: CfnTemplate, opts: SplitOptions): SplitResult {
  const t = structuredClone(template);
  const owner = owners(t, opts);
  const groups = [...new Set(owner.values())].sort((a, b) => a - b);
  const stackOf = (id: string) => (owner.has(id) ? nestedStackLogicalId(owner.get(id)!) : undefined);
  const records = new Map<number, NestedStackRecord>();
  const params = new Map<number, Record<string, unknown>>();
  const outputs = new Map<number, Record<string, { Value: unknown }>>();
  const stackDeps = new Map<number, Set<string>>();
  for (const g of groups) {
    records.set(g, { template: nestedTemplateFile(g), dependsOn: {} });
    params.set(g, {});
    outputs.set(g, {});
    stackDeps.set(g, new Set());
  }

  /** A value inside group g's resources: references to anything outside g become parameters. */
  const forNested = (g: number, value: unknown, where: string): unknown => {
    const param = (name: string, expr: unknown) => {
      if (t.Resources[name] !== undefined && owner.get(name) === g) throw new Error(`nesting: parameter ${name} of ${where} collides with a resource`);
      params.get(g)![name] = expr;
    };
    const outside = (id: string) => {
      if (owner.has(id) && owner.get(id) !== g) throw new Error(`nesting: ${where} (stack ${g}) refers to ${id} of stack ${owner.get(id)}`);
      return owner.get(id) !== g;
    };
    const walk = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(walk);
      if (!isObject(v)) return v;
      const ref = refTarget(v);
      if (ref !== undefined) {
        if (!ref.startsWith('AWS::') && outside(ref)) param(ref, { Ref: ref });
        return v;
      }
      const att = getAttParts(v);
      if (att) {
        if (!outside(att[0])) return v;
        param(attName(att[0], att[1]), { 'Fn::GetAtt': [att[0], att[1]] });
        return { Ref: attName(att[0], att[1]) };
      }
      if ('Fn::Sub' in v && Object.keys(v).length === 1) {
        const sub = v['Fn::Sub'];
        const text = Array.isArray(sub) ? String(sub[0]) : String(sub);
        const locals = Array.isArray(sub) && isObject(sub[1]) ? Object.keys(sub[1]) : [];
        const rewritten = text.replace(SUB_VAR, (whole, id: string, attr: string | undefined) => {
          if (id.startsWith('AWS::') || locals.includes(id) || !outside(id)) return whole;
          if (attr === undefined) {
            param(id, { Ref: id });
            return whole;
          }
          param(attName(id, attr), { 'Fn::GetAtt': [id, attr] });
          return `\${${attName(id, attr)}}`;
        });
        return { 'Fn::Sub': Array.isArray(sub) ? [rewritten, walk(sub[1])] : rewritten };
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    };
    return walk(value);
  };

  /** A value in the root: references to moved resources become their nested stack's outputs. */
  const forRoot = (value: unknown): unknown => {
    const output = (id: string, attr?: string) => {
      const g = owner.get(id)!;
      const name = attr === undefined ? id : attName(id, attr);
      outputs.get(g)![name] = { Value: attr === undefined ? { Ref: id } : { 'Fn::GetAtt': [id, attr] } };
      return { 'Fn::GetAtt': [nestedStackLogicalId(g), `Outputs.${name}`] };
    };
    const walk = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(walk);
      if (!isObject(v)) return v;
      const ref = refTarget(v);
      if (ref !== undefined) return owner.has(ref) ? output(ref) : v;
      const att = getAttParts(v);
      if (att) return owner.has(att[0]) ? output(att[0], att[1]) : v;
      if ('Fn::Sub' in v && Object.keys(v).length === 1) {
        const sub = v['Fn::Sub'];
        const text = Array.isArray(sub) ? String(sub[0]) : String(sub);
        const vars: Record<string, unknown> = Array.isArray(sub) && isObject(sub[1]) ? { ...(walk(sub[1]) as Record<string, unknown>) } : {};
        const rewritten = text.replace(SUB_VAR, (whole, id: string, attr: string | undefined) => {
          if (!owner.has(id) || id in vars) return whole;
          const name = attr === undefined ? id : attName(id, attr);
          vars[name] = output(id, attr);
          return `\${${name}}`;
        });
        if (Object.keys(vars).length === 0 && !Array.isArray(sub)) return v;
        return { 'Fn::Sub': [rewritten, vars] };
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    };
    return walk(value);
  };

  const nestedResources = new Map<number, Record<string, CfnResource>>(groups.map((g) => [g, {}]));
  const rootResources: Record<string, CfnResource> = {};
  for (const [id, res] of Object.entries(t.Resources)) {
    const g = owner.get(id);
    const deps = asList(res.DependsOn);
    if (g === undefined) {
      const out = forRoot(res) as CfnResource;
      if (deps.some((d) => owner.has(d))) {
        for (const d of deps) if (owner.has(d)) records.get(owner.get(d)!)!.dependsOn[id] = structuredClone(res.DependsOn!);
        // A stack it already reads an output of needs no DependsOn (cfn-lint W3005).
        const reads = referencedIds(out.Properties ?? {});
        const rewritten = [...new Set(deps.map((d) => stackOf(d) ?? d))].filter((d) => deps.includes(d) || !reads.has(d));
        if (rewritten.length > 0) out.DependsOn = rewritten;
        else delete out.DependsOn;
      }
      rootResources[id] = out;
      continue;
    }
    if (res.Condition !== undefined) throw new Error(`nesting: ${id} has a Condition`);
    const out = { ...res, ...(forNested(g, { ...res, DependsOn: undefined }, id) as CfnResource) };
    const local = deps.filter((d) => owner.get(d) === g);
    const external = deps.filter((d) => owner.get(d) !== g);
    if (external.length > 0) {
      records.get(g)!.dependsOn[id] = structuredClone(res.DependsOn!);
      for (const d of external) stackDeps.get(g)!.add(stackOf(d) ?? d);
    }
    if (local.length > 0) out.DependsOn = local;
    else delete out.DependsOn;
    nestedResources.get(g)![id] = out;
  }
  const root: CfnTemplate = { ...t, Resources: rootResources };
  if (t.Outputs) root.Outputs = forRoot(t.Outputs) as CfnTemplate['Outputs'];
  const nested: SplitResult['nested'] = [];
  for (const g of groups) {
    const logicalId = nestedStackLogicalId(g);
    if (t.Resources[logicalId] !== undefined) throw new Error(`nesting: ${logicalId} is already a resource`);
    const file = nestedTemplateFile(g);
    const groupParams = params.get(g)!;
    const template: CfnTemplate = {
      AWSTemplateFormatVersion: '2010-09-09',
      Description: `${String(t['Description'] ?? 'Functions')} - functions, log groups, permissions, methods and alarms of nested stack ${g}`,
      Parameters: Object.fromEntries(Object.keys(groupParams).sort().map((p) => [p, { Type: 'String' }])),
      Resources: nestedResources.get(g)!,
      Outputs: outputs.get(g)!,
    };
    if (Object.keys(template.Outputs!).length === 0) delete template.Outputs;
    // Dependencies the stack's parameters already imply are left out (cfn-lint W3005).
    const implied = referencedIds(groupParams);
    const deps = [...stackDeps.get(g)!].filter((d) => d !== logicalId && !implied.has(d)).sort();
    root.Resources[logicalId] = {
      Type: 'AWS::CloudFormation::Stack',
      ...(deps.length > 0 ? { DependsOn: deps } : {}),
      Metadata: { [NESTED_METADATA]: records.get(g)! },
      Properties: {
        TemplateURL: opts.templateUrl(file),
        Parameters: Object.fromEntries(Object.keys(groupParams).sort().map((p) => [p, groupParams[p]])),
      },
    };
    nested.push({ group: g, logicalId, file, template });
  }
  return { root, nested };
}

/**
 * The single template a split came from: nested resources back in the root, parameters replaced by what the
 * root passed, outputs by what they held, DependsOn as recorded. `readNested(file)` returns a nested template.
 */
export function flattenNestedStacks(root: CfnTemplate, readNested: (file: string) => CfnTemplate): CfnTemplate {
  const out: CfnTemplate = structuredClone(root);
  const stacks = Object.entries(root.Resources).filter(([, r]) => r.Type === 'AWS::CloudFormation::Stack' && isObject(r.Metadata?.[NESTED_METADATA]));
  if (stacks.length === 0) return out;
  const outputsOf = new Map<string, Record<string, { Value: unknown }>>();
  const recorded: Record<string, string | string[]> = {};
  for (const [stackId, stack] of stacks) {
    delete out.Resources[stackId];
    const record = stack.Metadata![NESTED_METADATA] as NestedStackRecord;
    Object.assign(recorded, record.dependsOn);
    const nested = structuredClone(readNested(record.template));
    const passed = (stack.Properties?.['Parameters'] ?? {}) as Record<string, unknown>;
    const subName = (expr: unknown): string | undefined => {
      const ref = refTarget(expr);
      if (ref !== undefined) return ref;
      const att = getAttParts(expr);
      return att ? `${att[0]}.${att[1]}` : undefined;
    };
    const walk = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(walk);
      if (!isObject(v)) return v;
      const ref = refTarget(v);
      if (ref !== undefined) return ref in passed ? structuredClone(passed[ref]) : v;
      if ('Fn::Sub' in v && Object.keys(v).length === 1) {
        const sub = v['Fn::Sub'];
        const text = Array.isArray(sub) ? String(sub[0]) : String(sub);
        const rewritten = text.replace(SUB_VAR, (whole, id: string, attr: string | undefined) => {
          if (attr !== undefined || !(id in passed)) return whole;
          const name = subName(passed[id]);
          if (name === undefined) throw new Error(`flatten: ${id} is not a reference`);
          return `\${${name}}`;
        });
        return { 'Fn::Sub': Array.isArray(sub) ? [rewritten, walk(sub[1])] : rewritten };
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    };
    for (const [id, res] of Object.entries(nested.Resources)) {
      if (out.Resources[id] !== undefined) throw new Error(`flatten: ${id} is in the root and in ${record.template}`);
      out.Resources[id] = walk(res) as CfnResource;
    }
    outputsOf.set(stackId, (walk(nested.Outputs ?? {}) as Record<string, { Value: unknown }>) ?? {});
  }
  const stackIds = new Set(stacks.map(([id]) => id));
  const fromOutput = (v: unknown): unknown => {
    const att = getAttParts(v);
    if (!att || !stackIds.has(att[0]) || !att[1].startsWith('Outputs.')) return undefined;
    const value = outputsOf.get(att[0])?.[att[1].slice('Outputs.'.length)]?.Value;
    if (value === undefined) throw new Error(`flatten: ${att[0]} has no output ${att[1]}`);
    return structuredClone(value);
  };
  const walkRoot = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walkRoot);
    if (!isObject(v)) return v;
    const inlined = fromOutput(v);
    if (inlined !== undefined) return inlined;
    if ('Fn::Sub' in v && Object.keys(v).length === 1 && Array.isArray(v['Fn::Sub']) && isObject(v['Fn::Sub'][1])) {
      const [text, vars] = v['Fn::Sub'] as [string, Record<string, unknown>];
      const kept: Record<string, unknown> = {};
      let rewritten = String(text);
      for (const [name, expr] of Object.entries(vars)) {
        const value = fromOutput(expr);
        const ref = value === undefined ? undefined : refTarget(value);
        const att = value === undefined ? undefined : getAttParts(value);
        if (ref !== undefined) rewritten = rewritten.split(`\${${name}}`).join(`\${${ref}}`);
        else if (att) rewritten = rewritten.split(`\${${name}}`).join(`\${${att[0]}.${att[1]}}`);
        else kept[name] = walkRoot(expr);
      }
      return { 'Fn::Sub': Object.keys(kept).length > 0 ? [rewritten, kept] : rewritten };
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walkRoot(x)]));
  };
  for (const [id, res] of Object.entries(out.Resources)) {
    const rewritten = walkRoot(res) as CfnResource;
    if (id in recorded) rewritten.DependsOn = structuredClone(recorded[id]!);
    out.Resources[id] = rewritten;
  }
  if (out.Outputs) out.Outputs = walkRoot(out.Outputs) as CfnTemplate['Outputs'];
  return out;
}

/** Resources per template, root first. */
export function resourceCounts(root: CfnTemplate, nested: ReadonlyArray<{ file: string; template: CfnTemplate }>): Array<{ template: string; resources: number }> {
  return [
    { template: 'root', resources: Object.keys(root.Resources).length },
    ...nested.map((n) => ({ template: n.file, resources: Object.keys(n.template.Resources).length })),
  ];
}
