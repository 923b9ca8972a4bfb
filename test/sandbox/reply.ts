/**
 * Route handlers return a `Reply` value instead of writing to the socket themselves, so that faults
 * (chunked framing) and rate-limit headers can be applied in one place when it is written.
 */
import type { ServerResponse } from 'node:http';

export interface Reply {
  status: number;
  /** Serialised as JSON. Ignored when `raw` is set. */
  json?: unknown;
  /** Body sent as-is (fault bodies, broken JSON). */
  raw?: string;
  /** Binary body sent as-is (PDF reports); set its Content-Type in `headers`. */
  bytes?: Buffer;
  headers?: Record<string, string>;
}

export function jsonReply(status: number, json: unknown, headers?: Record<string, string>): Reply {
  return headers === undefined ? { status, json } : { status, json, headers };
}

export function detailReply(status: number, detail: string, headers?: Record<string, string>): Reply {
  return jsonReply(status, { detail }, headers);
}

export const NOT_FOUND: Reply = { status: 404, json: { detail: 'Not found.' } };

/**
 * Write a reply. With `chunked`, the body goes out in two writes and without Content-Length, so Node
 * frames it with Transfer-Encoding: chunked (HTTP/1.1).
 */
export function writeReply(res: ServerResponse, reply: Reply, options: { chunked: boolean; extraHeaders?: Record<string, string> }): void {
  if (res.destroyed || res.writableEnded) return;
  const bodyText = reply.bytes !== undefined ? '' : (reply.raw ?? (reply.json === undefined ? '' : JSON.stringify(reply.json)));
  const body = reply.bytes ?? Buffer.from(bodyText, 'utf8');
  const headers: Record<string, string> = { ...options.extraHeaders, ...reply.headers };
  if (bodyText !== '' && !hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/json';
  if (options.chunked) {
    res.writeHead(reply.status, headers);
    const middle = Math.floor(body.length / 2);
    res.write(body.subarray(0, middle));
    res.end(body.subarray(middle));
    return;
  }
  headers['Content-Length'] = String(body.length);
  res.writeHead(reply.status, headers);
  res.end(body);
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}
