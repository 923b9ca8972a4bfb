import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError, type FieldIssue } from '../../errors/index.ts';
import type { StructuredInput } from '../../validation/request.ts';
import { OPERATIONS, type OperationName } from '../../operations/table.ts';
import type { OperationSpec } from '../../operations/types.ts';
import { OperationNotAsyncError, PoisonMessageError, UnknownJobOperationError } from './errors.ts';

/**
 * The input of a job: the operation's synchronous input as structured JSON (path parameters, query, JSON
 * body; files as base64 strings in `body`), exactly what `validateStructured` checks.
 */
export interface JobInput {
  readonly params?: Readonly<Record<string, unknown>>;
  readonly query?: Readonly<Record<string, unknown>>;
  readonly body?: Readonly<Record<string, unknown>>;
}

/** The SQS message of one job. `v` lets a later format be told apart (and refused by an older worker). */
export interface JobMessage {
  readonly v: 1;
  readonly jobId: string;
  readonly operation: string;
  readonly input: JobInput;
}

const plainObject = z.record(z.string(), z.unknown());
const inputSchema = z.strictObject({ params: plainObject.optional(), query: plainObject.optional(), body: plainObject.optional() });
const messageSchema = z.strictObject({
  v: z.literal(1),
  jobId: z.uuid(),
  operation: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,63}$/),
  input: inputSchema,
});

/** The table entry of a job operation. Unknown → 404; binary answers (PDF) cannot be job results → 400. */
export function jobOperation(name: string | undefined): OperationSpec {
  if (name === undefined || !Object.hasOwn(OPERATIONS, name)) throw new UnknownJobOperationError('unknown job operation');
  const spec: OperationSpec = OPERATIONS[name as OperationName];
  if (spec.response === 'binary') throw new OperationNotAsyncError(`operation ${spec.name} answers a binary document`);
  return spec;
}

/** The same, for the worker: a message naming no job operation is poison (e.g. from a newer deployment). */
export function workerOperation(name: string): OperationSpec {
  try {
    return jobOperation(name);
  } catch (err) {
    throw new PoisonMessageError('the message names no job operation of this version', { cause: err });
  }
}

/** Parses an SQS message body. Anything but a well-formed job message is poison. */
export function parseJobMessage(body: string): JobMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    // The parser's message quotes the input: never pass it on.
    throw new PoisonMessageError('the message body is not JSON');
  }
  // zod's z.record copies params, query and body and silently drops an own `__proto__` key: the copy would
  // pass validateStructured's reserved-name refusal and Didit would be called for what the submit route
  // answers with a 400. Keep the objects as JSON.parse made them (their shape is what zod checks here), so
  // the worker's validateStructured sees every key and fails the job VALIDATION_FAILED (final, no call).
  const parsed = messageSchema.safeParse(value);
  if (!parsed.success) throw new PoisonMessageError('the message body is not a job message');
  const raw = (value as { readonly input: Readonly<Record<string, unknown>> }).input;
  const input: Record<string, Readonly<Record<string, unknown>>> = {};
  for (const part of ['params', 'query', 'body'] as const) {
    if (Object.hasOwn(raw, part)) input[part] = raw[part] as Readonly<Record<string, unknown>>;
  }
  return { ...parsed.data, input } as JobMessage;
}

export function serializeJobMessage(message: JobMessage): string {
  return JSON.stringify(message);
}

/** As `validateStructured` takes it. */
export function structuredInput(input: JobInput): StructuredInput {
  return { params: input.params, query: input.query, body: input.body };
}

/**
 * The body of `POST /v1/jobs/{operation}`: `application/json`, an object with at most `params`, `query` and
 * `body`, each an object. Size is checked before parsing (the message must fit in SQS anyway).
 */
export function parseSubmission(event: APIGatewayProxyEvent, maxBytes: number): JobInput {
  const contentType = header(event, 'content-type') ?? '';
  const raw = event.body === null || event.body === undefined ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (raw.length > maxBytes) throw new PayloadTooLargeError(`job submission exceeds ${maxBytes} bytes`);
  if (raw.length === 0) return {};
  if (!/^application\/json\b/i.test(contentType)) throw new UnsupportedMediaTypeError('expected content-type application/json');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  const issues: FieldIssue[] = [];
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, part] of Object.entries(value)) {
    if (name !== 'params' && name !== 'query' && name !== 'body') {
      issues.push({ field: '', message: 'only params, query and body are accepted' });
      continue;
    }
    if (part === undefined || part === null) continue;
    if (typeof part !== 'object' || Array.isArray(part)) issues.push({ field: name, message: 'must be an object' });
    else out[name] = part as Record<string, unknown>;
  }
  // Not the unknown names themselves: they are caller input.
  if (issues.length > 0) throw new ValidationError(dedupeIssues(issues));
  return out;
}

function dedupeIssues(issues: FieldIssue[]): FieldIssue[] {
  const seen = new Set<string>();
  return issues
    .map((i) => (i.field === '' ? { field: 'body', message: i.message } : i))
    .filter((i) => {
      const key = `${i.field}\u0000${i.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === name && value !== undefined) return value;
  }
  return undefined;
}
