/**
 * Reading and decoding request bodies: JSON for the session and AML routes, multipart for the
 * document routes (didit-api.md §5 intro).
 *
 * Bodies are buffered whole (they are small, and capped) so that decoding is one step that also
 * feeds the request record. Multipart files are reduced to name, size, type and their first bytes
 * (enough to sniff the format); their contents are never kept.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import busboy from 'busboy';

/** Bodies above this get 413, like a proxy in front of Didit would answer. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Past this much we stop draining a too-large body and drop the connection. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;
/** Enough leading bytes to recognise any of the accepted file formats. */
const SNIFF_BYTES = 16;

export type ReadResult =
  | { kind: 'ok'; body: Buffer }
  | { kind: 'too-large' }
  | { kind: 'aborted' };

/**
 * Read the whole body. A body over the cap is drained (so the client can read our 413 instead of
 * failing its write) up to a second, larger cap, after which the socket is destroyed.
 */
export function readBody(req: IncomingMessage, limit: number = MAX_BODY_BYTES): Promise<ReadResult> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const settle = (result: ReadResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total <= limit && declared <= limit) {
        chunks.push(chunk);
      } else if (total > MAX_DRAIN_BYTES) {
        req.socket.destroy();
        settle({ kind: 'aborted' });
      }
    });
    req.on('end', () => {
      settle(total > limit || declared > limit ? { kind: 'too-large' } : { kind: 'ok', body: Buffer.concat(chunks) });
    });
    req.on('error', () => settle({ kind: 'aborted' }));
    req.on('close', () => settle({ kind: 'aborted' }));
  });
}

export interface UploadedFile {
  filename: string;
  mimeType: string;
  bytes: number;
  /** The first few bytes, for format sniffing. */
  head: Buffer;
}

export type ParsedBody =
  | { kind: 'empty' }
  | { kind: 'json'; value: unknown }
  | { kind: 'invalid-json'; message: string }
  | { kind: 'multipart'; fields: Map<string, string[]>; files: Map<string, UploadedFile[]>; truncatedFields: string[] }
  | { kind: 'invalid-multipart'; message: string }
  | { kind: 'other'; mediaType: string };

/** `application/json; charset=utf-8` → `application/json`. */
export function mediaTypeOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const mediaType = contentType.split(';', 1)[0]?.trim().toLowerCase();
  return mediaType === '' ? undefined : mediaType;
}

export async function parseBody(contentType: string | undefined, body: Buffer): Promise<ParsedBody> {
  const mediaType = mediaTypeOf(contentType);
  if (mediaType === undefined) {
    return body.length === 0 ? { kind: 'empty' } : { kind: 'other', mediaType: 'application/octet-stream' };
  }
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    if (body.length === 0) return { kind: 'empty' };
    try {
      return { kind: 'json', value: JSON.parse(body.toString('utf8')) as unknown };
    } catch (error) {
      return { kind: 'invalid-json', message: error instanceof Error ? error.message : 'invalid JSON' };
    }
  }
  if (mediaType === 'multipart/form-data' && contentType !== undefined) {
    return parseMultipart(contentType, body);
  }
  return { kind: 'other', mediaType };
}

function parseMultipart(contentType: string, body: Buffer): Promise<ParsedBody> {
  return new Promise((resolve) => {
    const fields = new Map<string, string[]>();
    const files = new Map<string, UploadedFile[]>();
    const truncatedFields: string[] = [];
    let settled = false;
    const settle = (result: ParsedBody): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };

    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: { fieldSize: 1024 * 1024, fields: 100, files: 10, parts: 110 },
      });
    } catch (error) {
      settle({ kind: 'invalid-multipart', message: error instanceof Error ? error.message : 'bad multipart' });
      return;
    }

    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) truncatedFields.push(name);
      const list = fields.get(name) ?? [];
      list.push(value);
      fields.set(name, list);
    });
    parser.on('file', (name, stream, info) => {
      const upload: UploadedFile = { filename: info.filename ?? '', mimeType: info.mimeType, bytes: 0, head: Buffer.alloc(0) };
      const list = files.get(name) ?? [];
      list.push(upload);
      files.set(name, list);
      stream.on('data', (chunk: Buffer) => {
        if (upload.head.length < SNIFF_BYTES) {
          upload.head = Buffer.concat([upload.head, chunk.subarray(0, SNIFF_BYTES - upload.head.length)]);
        }
        upload.bytes += chunk.length;
      });
    });
    parser.on('partsLimit', () => settle({ kind: 'invalid-multipart', message: 'Too many parts.' }));
    parser.on('filesLimit', () => settle({ kind: 'invalid-multipart', message: 'Too many files.' }));
    parser.on('fieldsLimit', () => settle({ kind: 'invalid-multipart', message: 'Too many fields.' }));
    parser.on('error', (error: unknown) => {
      settle({ kind: 'invalid-multipart', message: error instanceof Error ? error.message : 'bad multipart' });
    });
    parser.on('close', () => settle({ kind: 'multipart', fields, files, truncatedFields }));
    Readable.from([body]).pipe(parser);
  });
}
