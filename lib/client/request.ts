import { randomUUID } from 'node:crypto';
import { MIME, sniffFileType } from '../operations/file-types.ts';
import type { OperationSpec } from '../operations/types.ts';
import type { BodyEncoding, FileInput } from './types.ts';

/** The untyped form of an operation's arguments (the typed form is `OperationArgs<N>`). */
export interface LooseArgs {
  readonly params?: Readonly<Record<string, unknown>>;
  readonly query?: Readonly<Record<string, unknown>>;
  readonly input?: Readonly<Record<string, unknown>>;
  readonly files?: Readonly<Record<string, FileInput | undefined>>;
  readonly encoding?: BodyEncoding;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** A request before signing: the path as sent (base path included), the decoded query, headers, body. */
export interface UnsignedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | undefined;
}

/**
 * URI-escaping as SigV4 canonicalises it (RFC 3986 unreserved characters only): the wire form and the
 * signed form then agree on every character, including `!'()*` that encodeURIComponent leaves alone.
 */
export function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function queryString(query: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(query).map(([k, v]) => `${escapeUri(k)}=${escapeUri(v)}`);
  return pairs.length === 0 ? '' : `?${pairs.join('&')}`;
}

/**
 * Builds the HTTP request of one operation from the table entry: the route with its parameters
 * filled in, the query, and the body in the operation's encoding. Nothing is validated here beyond
 * what is needed to form a request: the gateway validates (and its 400 lists every problem).
 */
export function buildRequest(spec: OperationSpec, args: LooseArgs, basePath: string): UnsignedRequest {
  const params = args.params ?? {};
  const path = spec.route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    // A missing parameter would make another route's URL: refuse rather than call something else.
    if (value === undefined || value === null || value === '') throw new TypeError(`${spec.name}: params.${name} is required`);
    return escapeUri(String(value));
  });
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(args.query ?? {})) {
    if (value !== undefined && value !== null) query[name] = String(value);
  }
  const headers: Record<string, string> = {
    accept: spec.response === 'binary' ? `${MIME.pdf}, application/json;q=0.5` : 'application/json',
  };
  for (const [name, value] of Object.entries(args.headers ?? {})) headers[name.toLowerCase()] = value;

  let body: Uint8Array | undefined;
  if (spec.body === 'json') {
    headers['content-type'] = 'application/json';
    body = utf8(JSON.stringify(args.input ?? {}));
  } else if (spec.body === 'multipart') {
    const files = presentFiles(args.files);
    if (args.encoding === 'json-base64') {
      headers['content-type'] = 'application/json';
      const json: Record<string, unknown> = { ...args.input };
      for (const [name, file] of files) json[name] = Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength).toString('base64');
      body = utf8(JSON.stringify(json));
    } else {
      const form = multipart(textFields(args.input), files);
      headers['content-type'] = form.contentType;
      body = form.body;
    }
  }
  return { method: spec.route.method, path: `${basePath}${path}`, query, headers, body };
}

function presentFiles(files: LooseArgs['files']): Array<[string, FileInput]> {
  return Object.entries(files ?? {}).filter((entry): entry is [string, FileInput] => entry[1] !== undefined);
}

/** Multipart text fields are strings on the wire: scalars in their text form, absent values left out. */
function textFields(input: LooseArgs['input']): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(input ?? {})) {
    if (value === undefined || value === null) continue;
    out.push([name, typeof value === 'object' ? JSON.stringify(value) : String(value)]);
  }
  return out;
}

/** A multipart/form-data body built in memory: it is hashed for the signature before it is sent. */
export function multipart(fields: ReadonlyArray<readonly [string, string]>, files: ReadonlyArray<readonly [string, FileInput]>): { body: Uint8Array; contentType: string } {
  const boundary = `----didit-gateway-${randomUUID().replace(/-/g, '')}`;
  const chunks: Uint8Array[] = [];
  for (const [name, value] of fields) {
    chunks.push(utf8(`--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"\r\n\r\n${value}\r\n`));
  }
  for (const [name, file] of files) {
    const kind = sniffFileType(file.data);
    const contentType = file.contentType ?? (kind === undefined ? 'application/octet-stream' : MIME[kind]);
    const filename = file.filename ?? `${name}.${kind === 'jpeg' ? 'jpg' : (kind ?? 'bin')}`;
    chunks.push(
      utf8(`--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"; filename="${quoted(filename)}"\r\nContent-Type: ${contentType}\r\n\r\n`),
      file.data,
      utf8('\r\n'),
    );
  }
  chunks.push(utf8(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Names go inside a quoted header parameter: a quote or line break would end it (as browsers encode them). */
function quoted(value: string): string {
  return value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function utf8(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}
