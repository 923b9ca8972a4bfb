import busboy from 'busboy';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { z } from 'zod';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError, type FieldIssue } from '../errors.ts';
import { MIME, sniffFileType } from '../operations/file-types.ts';
import type { FileRule, OperationSpec } from '../operations/types.ts';

/** API Gateway's REST payload limit; Lambda's synchronous limit (6 MB) is lower still. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** JSON bodies: the largest documented field is a 1 MB base64 portrait. */
const MAX_JSON_BYTES = 2 * 1024 * 1024;

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

/**
 * Checks everything about a request before any Didit call (each call costs money): path
 * parameters, query, body size and type, fields against the operation's schema, file sizes and
 * types by magic bytes. Collects all problems and throws one {@link ValidationError} listing them.
 */
export async function validateRequest(spec: OperationSpec, event: APIGatewayProxyEvent): Promise<ValidRequest> {
  const issues: FieldIssue[] = [];
  const params = check(spec.params, event.pathParameters ?? {}, 'path', issues);
  const query = check(spec.query, event.queryStringParameters ?? {}, 'query', issues);
  let input: Record<string, unknown> = {};
  let files: Record<string, ValidFile> = {};

  const body = bodyBytes(event);
  if (body.length > MAX_REQUEST_BYTES) throw new PayloadTooLargeError(`request body exceeds ${MAX_REQUEST_BYTES} bytes`);
  const contentType = header(event, 'content-type') ?? '';

  if (spec.body === 'none') {
    if (body.length > 0) issues.push({ field: 'body', message: 'this operation takes no body' });
  } else if (spec.body === 'json') {
    if (!/^application\/json\b/i.test(contentType)) throw new UnsupportedMediaTypeError('expected content-type application/json');
    if (body.length > MAX_JSON_BYTES) throw new PayloadTooLargeError(`JSON body exceeds ${MAX_JSON_BYTES} bytes`);
    const parsed = parseJson(body);
    if (parsed === undefined) issues.push({ field: 'body', message: 'must be a JSON object' });
    else input = check(spec.input, parsed, '', issues);
  } else if (/^application\/json\b/i.test(contentType)) {
    // The same fields as JSON, files as base64 strings: for callers that cannot build multipart.
    const parsed = parseJson(body);
    if (parsed === undefined) issues.push({ field: 'body', message: 'must be a JSON object' });
    else {
      const parts = jsonParts(spec, parsed, issues);
      input = check(spec.input, parts.fields, '', issues);
      files = parts.files;
    }
  } else {
    if (!/^multipart\/form-data\b/i.test(contentType)) {
      throw new UnsupportedMediaTypeError('expected content-type multipart/form-data or application/json');
    }
    const parts = await parseMultipart(spec, contentType, body, issues);
    input = check(spec.input, parts.fields, '', issues);
    files = parts.files;
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return { params: params as Record<string, string>, query: query as Record<string, string>, input, files };
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
 * The same checks as {@link validateRequest}, for triggers that carry structured input instead of an
 * HTTP request: SQS messages, EventBridge events, S3 uploads. Throws one {@link ValidationError}.
 */
export function validateStructured(spec: OperationSpec, source: StructuredInput): ValidRequest {
  const issues: FieldIssue[] = [];
  const params = check(spec.params, source.params ?? {}, 'path', issues);
  const query = check(spec.query, source.query ?? {}, 'query', issues);
  const body = source.body ?? {};
  let input: Record<string, unknown> = {};
  let files: Record<string, ValidFile> = {};
  if (spec.body === 'json') input = check(spec.input, body, '', issues);
  else if (spec.body === 'multipart') {
    const parts = jsonParts(spec, body, issues, source.files);
    input = check(spec.input, parts.fields, '', issues);
    files = parts.files;
  } else if (Object.keys(body).length > 0) issues.push({ field: 'body', message: 'this operation takes no body' });
  if (issues.length > 0) throw new ValidationError(issues);
  return { params: params as Record<string, string>, query: query as Record<string, string>, input, files };
}

function check(
  schema: z.ZodType<Record<string, unknown>> | undefined,
  value: unknown,
  prefix: string,
  issues: FieldIssue[],
): Record<string, unknown> {
  if (schema === undefined) {
    if (value !== null && typeof value === 'object' && Object.keys(value).length > 0) {
      for (const name of Object.keys(value)) issues.push({ field: join(prefix, name), message: 'is not a known field' });
    }
    return {};
  }
  // reportInput: lets a missing field (input undefined) be told apart from a wrong type.
  const result = schema.safeParse(value, { reportInput: true });
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

function bodyBytes(event: APIGatewayProxyEvent): Buffer {
  if (event.body === null || event.body === undefined) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === name && value !== undefined) return value;
  }
  return undefined;
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    // The parser's message quotes the input: never pass it on.
    return undefined;
  }
}

async function parseMultipart(
  spec: OperationSpec,
  contentType: string,
  body: Buffer,
  issues: FieldIssue[],
): Promise<{ fields: Record<string, string>; files: Record<string, ValidFile> }> {
  const rules = spec.files ?? {};
  const largest = Math.max(0, ...Object.values(rules).map((r) => r.maxBytes));
  const fields: Record<string, string> = {};
  const files: Record<string, ValidFile> = {};
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      limits: { fileSize: largest + 1, files: Object.keys(rules).length + 1, fields: 32, fieldSize: 64 * 1024, parts: 40 },
    });
  } catch {
    throw new UnsupportedMediaTypeError('multipart/form-data needs a boundary');
  }
  await new Promise<void>((resolve) => {
    parser.on('field', (name, value, info) => {
      if (name in rules) issues.push({ field: name, message: 'must be a file' });
      else if (name in fields) issues.push({ field: name, message: 'is given more than once' });
      else if (info.valueTruncated) issues.push({ field: name, message: 'is too long' });
      else fields[name] = value;
    });
    parser.on('file', (name, stream) => {
      const rule = rules[name];
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (rule !== undefined && size <= rule.maxBytes) chunks.push(chunk);
      });
      stream.on('end', () => {
        if (rule === undefined) return void issues.push({ field: name, message: 'is not a known file field' });
        if (name in files) return void issues.push({ field: name, message: 'is given more than once' });
        acceptFile(name, rule, size, () => Buffer.concat(chunks, size), files, issues);
      });
    });
    parser.on('error', () => {
      issues.push({ field: 'body', message: 'is not valid multipart/form-data' });
      resolve();
    });
    parser.on('close', () => resolve());
    parser.end(body);
  });
  requireFiles(rules, files, issues);
  return { fields, files };
}

/** Checks one file's size and type (by magic bytes) and adds it to `files`, or records why not. */
function acceptFile(
  name: string,
  rule: FileRule,
  size: number,
  bytes: () => Buffer,
  files: Record<string, ValidFile>,
  issues: FieldIssue[],
): void {
  if (size > rule.maxBytes) return void issues.push({ field: name, message: `must be at most ${rule.maxBytes / (1024 * 1024)} MB` });
  if (size === 0) return void issues.push({ field: name, message: 'is empty' });
  const data = bytes();
  const kind = sniffFileType(data);
  if (kind === undefined || !rule.types.includes(kind)) {
    return void issues.push({ field: name, message: `must be one of: ${rule.types.join(', ')}` });
  }
  files[name] = { filename: safeFilename(kind), contentType: MIME[kind], data };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Splits a JSON body of a multipart operation into text fields (scalars in their form encoding:
 * `true`, `18`) and files (base64 strings, decoded once).
 */
function jsonParts(
  spec: OperationSpec,
  body: Readonly<Record<string, unknown>>,
  issues: FieldIssue[],
  fetched: Readonly<Record<string, Uint8Array>> = {},
): { fields: Record<string, string>; files: Record<string, ValidFile> } {
  const rules = spec.files ?? {};
  const fields: Record<string, string> = {};
  const files: Record<string, ValidFile> = {};
  for (const [name, bytes] of Object.entries(fetched)) {
    const rule = rules[name];
    if (rule === undefined) issues.push({ field: name, message: 'is not a known file field' });
    else acceptFile(name, rule, bytes.length, () => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), files, issues);
  }
  for (const [name, value] of Object.entries(body)) {
    const rule = rules[name];
    if (rule !== undefined) {
      if (typeof value !== 'string' || value.length % 4 === 1 || !BASE64.test(value)) {
        issues.push({ field: name, message: 'must be a base64 string' });
        continue;
      }
      // Size from the text length, before decoding anything too large.
      const size = Math.floor((value.length * 3) / 4) - (value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0);
      acceptFile(name, rule, size, () => Buffer.from(value, 'base64'), files, issues);
    } else if (typeof value === 'string') fields[name] = value;
    else if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) fields[name] = String(value);
    else if (value !== null) issues.push({ field: name, message: 'must be a string, number or boolean' });
  }
  requireFiles(rules, files, issues);
  return { fields, files };
}

function requireFiles(rules: Readonly<Record<string, FileRule>>, files: Record<string, ValidFile>, issues: FieldIssue[]): void {
  for (const [name, rule] of Object.entries(rules)) {
    if (rule.required && !(name in files) && !issues.some((i) => i.field === name)) issues.push({ field: name, message: 'is required' });
  }
}

/** Didit needs a filename; the caller's may carry a path or personal data, so we make our own. */
function safeFilename(kind: string): string {
  return `upload.${kind === 'jpeg' ? 'jpg' : kind}`;
}
