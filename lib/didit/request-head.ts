import { SecureBuffer, isHeaderToken, needs } from '../secure/secure-buffer.ts';

export interface HeadSpec {
  readonly method: string;
  /** Path and query, already encoded (`/v3/session/…/?a=b`). */
  readonly target: string;
  readonly host: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const KEY_HEADER = Buffer.from('x-api-key: ', 'latin1');
const END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Builds the whole request head, `x-api-key` included, in one secure buffer, so the key is copied
 * exactly once (from the key buffer into the head) and reaches the socket in a single write. The
 * key header goes last: everything before it is ordinary text, the key bytes are never decoded.
 */
export function buildRequestHead(spec: HeadSpec, key: SecureBuffer): SecureBuffer {
  needs(TOKEN.test(spec.method), 'invalid HTTP method');
  needs(/^\/[\x21-\x7e]*$/.test(spec.target), 'request target must be an encoded absolute path');
  let text = `${spec.method} ${spec.target} HTTP/1.1\r\nhost: ${spec.host}\r\n`;
  for (const [name, value] of spec.headers) {
    needs(TOKEN.test(name) && name.toLowerCase() !== 'x-api-key', `invalid header name ${name}`);
    needs(!/[\r\n\0]/.test(value), `header ${name} contains CR, LF or NUL`);
    text += `${name}: ${value}\r\n`;
  }
  const prefix = Buffer.from(text, 'latin1');
  const keyBytes = key.bytes();
  // Rechecked here because this is where the bytes go on the wire: visible ASCII, no CR/LF.
  needs(isHeaderToken(keyBytes, 1, 4096), 'API key is not a valid header token');
  const head = SecureBuffer.alloc(prefix.length + KEY_HEADER.length + keyBytes.length + END.length);
  const out = head.capacity();
  let at = prefix.copy(out, 0);
  at += KEY_HEADER.copy(out, at);
  at += keyBytes.copy(out, at);
  END.copy(out, at);
  return head;
}
