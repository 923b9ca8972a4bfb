import type { z } from 'zod';
import { ValidationError, type FieldIssue } from '../errors/index.ts';
import { MIME, sniffFileType } from '../operations/file-types.ts';
import type { FileRule, OperationSpec } from '../operations/types.ts';
import { checkReservedKeys, isReservedName, RESERVED_NAME_MESSAGE } from './reserved-names.ts';

// What every entry point checks before any Didit call (each call costs money), whatever carried the input:
// an API Gateway request (lib/adapters/http/validate-request.ts parses it into these shapes), a queue
// message, an event, an upload manifest.

export interface ValidFile {
  readonly filename: string;
  /** From the sniffed bytes, not from what the caller claimed. */
  readonly contentType: string;
  readonly data: Buffer;
}

export interface ValidRequest {
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  readonly input: Readonly<Record<string, unknown>>;
  readonly files: Readonly<Record<string, ValidFile>>;
}

/** An operation's input as structured data (a queue message, an event): no HTTP framing. */
export interface StructuredInput {
  readonly params?: Readonly<Record<string, unknown>>;
  readonly query?: Readonly<Record<string, unknown>>;
  /** The JSON body; for file operations, files as base64 strings (or already fetched, see `files`). */
  readonly body?: Readonly<Record<string, unknown>>;
  /** Files fetched by the trigger itself (e.g. from S3), checked like uploaded ones. */
  readonly files?: Readonly<Record<string, Uint8Array>>;
}

/**
 * The same checks as `validateRequest` (lib/adapters/http/validate-request.ts), for triggers that carry
 * structured input instead of an HTTP request: SQS messages, EventBridge events, S3 uploads. Every issue is
 * collected first, so the caller learns all of them at once; nothing has been sent to Didit.
 *
 * @example
 * ```ts
 * const valid = validateStructured(createSession, { body: { vendor_data: 'u-123', workflow_id: workflowId } });
 * const valid2 = validateStructured(idVerification, { body: manifest.fields, files: { front_image: bytes } });
 * ```
 * @throws {ValidationError} VALIDATION_FAILED (400, not retryable) with every {@link FieldIssue}: unknown or
 *   missing fields, values the operation's schemas refuse, file sizes and types (by magic bytes), a reserved
 *   key (`__proto__`, `constructor`, `prototype`) at any depth, a body for an operation that takes none.
 */
export function validateStructured(spec: OperationSpec, source: StructuredInput): ValidRequest {
  const issues: FieldIssue[] = [];
  const params = checkNames(spec.params, source.params ?? {}, 'path', issues);
  const query = checkNames(spec.query, source.query ?? {}, 'query', issues);
  const body = source.body ?? {};
  let input: Record<string, unknown> = {};
  let files: Record<string, ValidFile> = {};
  // Queue messages, manifests and events are JSON from a caller too: the same refusal at any depth.
  if (Object.keys(source.files ?? {}).some(isReservedName)) issues.push({ field: 'files', message: RESERVED_NAME_MESSAGE });
  if (!checkReservedKeys(body, 'body', issues) || issues.length > 0) throw new ValidationError(issues);
  if (spec.body === 'json') input = check(spec.input, body, '', issues);
  else if (spec.body === 'multipart') {
    const parts = jsonParts(spec, body, issues, source.files);
    input = check(spec.input, parts.fields, '', issues);
    files = parts.files;
  } else if (Object.keys(body).length > 0) issues.push({ field: 'body', message: 'this operation takes no body' });
  if (issues.length > 0) throw new ValidationError(issues);
  return { params: params as Record<string, string>, query: query as Record<string, string>, input, files };
}

/** The schema of a request part (params, query, body); undefined when the operation takes none. */
type PartSchema = z.ZodType<Record<string, unknown>> | undefined;

/** {@link check} for path and query values, after refusing reserved names (their own issue, not an echo). */
export function checkNames(schema: PartSchema, value: unknown, prefix: string, issues: FieldIssue[]): Record<string, unknown> {
  return checkReservedKeys(value, prefix, issues) ? check(schema, value, prefix, issues) : {};
}

export function check(schema: PartSchema, value: unknown, prefix: string, issues: FieldIssue[]): Record<string, unknown> {
  if (schema === undefined) {
    if (value !== null && typeof value === 'object' && Object.keys(value).length > 0) {
      for (const name of Object.keys(value)) issues.push({ field: join(prefix, name), message: 'is not a known field' });
    }
    return {};
  }
  // reportInput: lets a missing field (input undefined) be told apart from a wrong type.
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(value, { reportInput: true });
  } catch {
    // A refinement that throws on input an earlier check already refused (zod keeps running checks after a
    // failed format check) is still bad input: a 400, never a 500 (and the thrown message is not passed on).
    issues.push({ field: prefix || 'body', message: 'is not valid' });
    return {};
  }
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const at = join(prefix, issue.path.map(String).join('.'));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ field: join(at, key), message: 'is not a known field' });
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      issues.push({ field: at || 'body', message: 'is required' });
    } else {
      issues.push({ field: at || 'body', message: issue.message });
    }
  }
  return {};
}

function join(prefix: string, name: string): string {
  return prefix === '' ? name : name === '' ? prefix : `${prefix}.${name}`;
}

/** The operation's file rules by part name. */
export function fileRules(spec: OperationSpec): ReadonlyMap<string, FileRule> {
  return new Map(Object.entries(spec.files ?? {}));
}

/** Checks one file's size and type (by magic bytes) and adds it to `files`, or records why not. */
export function acceptFile(
  name: string,
  rule: FileRule,
  size: number,
  bytes: () => Buffer,
  files: Map<string, ValidFile>,
  issues: FieldIssue[],
): void {
  if (size > rule.maxBytes) return void issues.push({ field: name, message: `must be at most ${rule.maxBytes / (1024 * 1024)} MB` });
  if (size === 0) return void issues.push({ field: name, message: 'is empty' });
  const data = bytes();
  const kind = sniffFileType(data);
  if (kind === undefined || !rule.types.includes(kind)) {
    return void issues.push({ field: name, message: `must be one of: ${rule.types.join(', ')}` });
  }
  files.set(name, { filename: safeFilename(kind), contentType: MIME[kind], data });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Splits a JSON body of a multipart operation into text fields (scalars in their form encoding:
 * `true`, `18`) and files (base64 strings, decoded once).
 */
export function jsonParts(
  spec: OperationSpec,
  body: Readonly<Record<string, unknown>>,
  issues: FieldIssue[],
  fetched: Readonly<Record<string, Uint8Array>> = {},
): { fields: Record<string, string>; files: Record<string, ValidFile> } {
  // Maps, not objects: the names are the caller's (`{"constructor": "AAAA"}` is a field, not a rule).
  const rules = fileRules(spec);
  const fields = new Map<string, string>();
  const files = new Map<string, ValidFile>();
  for (const [name, bytes] of Object.entries(fetched)) {
    const rule = rules.get(name);
    if (rule === undefined) issues.push({ field: name, message: 'is not a known file field' });
    else acceptFile(name, rule, bytes.length, () => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), files, issues);
  }
  for (const [name, value] of Object.entries(body)) {
    const rule = rules.get(name);
    if (rule !== undefined) {
      if (typeof value !== 'string' || value.length % 4 === 1 || !BASE64.test(value)) {
        issues.push({ field: name, message: 'must be a base64 string' });
        continue;
      }
      // Size from the text length, before decoding anything too large.
      const size = Math.floor((value.length * 3) / 4) - (value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0);
      acceptFile(name, rule, size, () => Buffer.from(value, 'base64'), files, issues);
    } else if (typeof value === 'string') fields.set(name, value);
    else if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) fields.set(name, String(value));
    else if (value !== null) issues.push({ field: name, message: 'must be a string, number or boolean' });
  }
  requireFiles(rules, files, issues);
  return { fields: Object.fromEntries(fields), files: Object.fromEntries(files) };
}

export function requireFiles(rules: ReadonlyMap<string, FileRule>, files: ReadonlyMap<string, ValidFile>, issues: FieldIssue[]): void {
  for (const [name, rule] of rules) {
    if (rule.required && !files.has(name) && !issues.some((i) => i.field === name)) issues.push({ field: name, message: 'is required' });
  }
}

/** Didit needs a filename; the caller's may carry a path or personal data, so we make our own. */
function safeFilename(kind: string): string {
  return `upload.${kind === 'jpeg' ? 'jpg' : kind}`;
}
