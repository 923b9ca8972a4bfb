import type busboy from 'busboy';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError, type FieldIssue } from '../../errors/index.ts';
import type { OperationSpec } from '../../operations/types.ts';
import { isReservedName, RESERVED_NAME_MESSAGE } from '../../validation/reserved-names.ts';
import {
  acceptFile,
  check,
  checkNames,
  fileRules,
  jsonParts,
  requireFiles,
  type ValidFile,
  type ValidRequest,
} from '../../validation/request.ts';
import { checkReservedKeys } from '../../validation/reserved-names.ts';

/** API Gateway's REST payload limit; Lambda's synchronous limit (6 MB) is lower still. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/** JSON bodies: the largest documented field is a 1 MB base64 portrait. */
const MAX_JSON_BYTES = 2 * 1024 * 1024;

/**
 * Checks everything about a request before any Didit call (each call costs money): path
 * parameters, query, body size and type, fields against the operation's schema, file sizes and
 * types by magic bytes. Collects all problems and throws one {@link ValidationError} listing them.
 */
export async function validateRequest(spec: OperationSpec, event: APIGatewayProxyEvent): Promise<ValidRequest> {
  const issues: FieldIssue[] = [];
  const params = checkNames(spec.params, event.pathParameters ?? {}, 'path', issues);
  const query = checkNames(spec.query, event.queryStringParameters ?? {}, 'query', issues);
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
    else if (checkReservedKeys(parsed, 'body', issues)) input = check(spec.input, parsed, '', issues);
  } else if (/^application\/json\b/i.test(contentType)) {
    // The same fields as JSON, files as base64 strings: for callers that cannot build multipart.
    const parsed = parseJson(body);
    if (parsed === undefined) issues.push({ field: 'body', message: 'must be a JSON object' });
    else if (checkReservedKeys(parsed, 'body', issues)) {
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

/** busboy's limits. Any of them reached makes the whole request a 413: a part is never silently dropped. */
const MULTIPART_LIMITS = { fields: 32, fieldSize: 64 * 1024, parts: 40 } as const;

async function parseMultipart(
  spec: OperationSpec,
  contentType: string,
  body: Buffer,
  issues: FieldIssue[],
): Promise<{ fields: Record<string, string>; files: Record<string, ValidFile> }> {
  // Maps, not objects: part names are the caller's (`constructor` must not find Object.prototype).
  const rules = fileRules(spec);
  const largest = Math.max(0, ...[...rules.values()].map((r) => r.maxBytes));
  const fields = new Map<string, string>();
  const files = new Map<string, ValidFile>();
  let overLimit: string | undefined;
  let emitted = 0;
  // Loaded on the first multipart body, not at init: most functions never see one (JSON or no body).
  const { default: createParser } = await import('busboy');
  let parser: busboy.Busboy;
  try {
    parser = createParser({
      headers: { 'content-type': contentType },
      limits: { ...MULTIPART_LIMITS, fileSize: largest + 1, files: rules.size + 1 },
    });
  } catch {
    throw new UnsupportedMediaTypeError('multipart/form-data needs a boundary');
  }
  // One promise for the parser and every stream it hands out: any of them failing rejects it once. An
  // 'error' with no listener is thrown by the emitter, and busboy destroys the open file stream with the
  // parser's own error (`Unexpected end of form`) after the parser has reported it: an uncaught exception
  // that kills the Lambda runtime.
  const parsed = await new Promise<boolean>((resolve) => {
    const fail = () => resolve(false);
    parser.on('field', (name, value, info) => {
      emitted++;
      if (isReservedName(name)) issues.push({ field: 'body', message: RESERVED_NAME_MESSAGE });
      else if (rules.has(name)) issues.push({ field: name, message: 'must be a file' });
      else if (fields.has(name)) issues.push({ field: name, message: 'is given more than once' });
      else if (info.valueTruncated) issues.push({ field: name, message: 'is too long' });
      else fields.set(name, value);
    });
    parser.on('file', (name, stream) => {
      emitted++;
      const rule = isReservedName(name) ? undefined : rules.get(name);
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('error', fail);
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (rule !== undefined && size <= rule.maxBytes) chunks.push(chunk);
      });
      stream.on('end', () => {
        if (isReservedName(name)) return void issues.push({ field: 'body', message: RESERVED_NAME_MESSAGE });
        if (rule === undefined) return void issues.push({ field: name, message: 'is not a known file field' });
        if (files.has(name)) return void issues.push({ field: name, message: 'is given more than once' });
        acceptFile(name, rule, size, () => Buffer.concat(chunks, size), files, issues);
      });
    });
    // busboy drops every part past these limits without an error: the request would reach Didit incomplete.
    const limitReached = (what: string) => () => {
      overLimit ??= what;
    };
    parser.on('partsLimit', limitReached(`more than ${MULTIPART_LIMITS.parts} parts`));
    parser.on('fieldsLimit', limitReached(`more than ${MULTIPART_LIMITS.fields} text fields`));
    parser.on('filesLimit', limitReached(`more than ${rules.size + 1} file parts`));
    parser.on('error', fail);
    parser.on('close', () => resolve(true));
    try {
      parser.end(body);
    } catch {
      // Whatever busboy throws while writing is about the body, never a 500 (and its message is not passed on).
      fail();
    }
  });
  if (overLimit !== undefined) throw new PayloadTooLargeError(`multipart body has ${overLimit}`);
  if (!parsed) {
    issues.push({ field: 'body', message: 'is not valid multipart/form-data' });
    return { fields: {}, files: {} };
  }
  // busboy skips a part whose headers it cannot read (no Content-Disposition, a malformed filename) without
  // telling us: the part would vanish, and with it a "given more than once" or a field the caller meant.
  if (emitted !== countDelimitedParts(body, boundaryOf(contentType))) {
    issues.push({ field: 'body', message: 'a multipart part could not be read' });
    return { fields: {}, files: {} };
  }
  requireFiles(rules, files, issues);
  return { fields: Object.fromEntries(fields), files: Object.fromEntries(files) };
}

/** The boundary parameter as busboy reads it: a token or a quoted string (with backslash escapes). */
function boundaryOf(contentType: string): string | undefined {
  const match = /;\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(contentType);
  if (match === null) return undefined;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2];
}

/**
 * How many parts the raw body delimits: each `--boundary` line at the start of the body or after CRLF opens
 * one, until the close delimiter `--boundary--` (busboy ignores the epilogue after it). The body is already
 * fully in memory, so this is one scan. -1 when there is no boundary (never equal to a count of parts).
 */
function countDelimitedParts(body: Buffer, boundary: string | undefined): number {
  if (boundary === undefined || boundary === '') return -1;
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let count = 0;
  for (let at = body.indexOf(delimiter); at !== -1; at = body.indexOf(delimiter, at + 1)) {
    const lineStart = at === 0 || (body[at - 2] === 0x0d && body[at - 1] === 0x0a);
    if (!lineStart) continue;
    const after = at + delimiter.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) return count;
    count++;
  }
  return count;
}
