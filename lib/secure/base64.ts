import { Base64FormatError } from './errors.ts';
import { SecureBuffer } from './secure-buffer.ts';

// 255 = not a base64 character. Standard alphabet only: KMS (JSON protocol) uses it.
const TABLE = new Uint8Array(256).fill(255);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
for (let i = 0; i < ALPHABET.length; i++) TABLE[ALPHABET.charCodeAt(i)] = i;

const EQ = 0x3d;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;

/**
 * Decodes base64 *bytes* straight into secure memory, with a table lookup per byte: the encoded
 * text is never turned into a string and no intermediate decoded copy exists. Accepts the JSON
 * escape `\/` for `/`, which some JSON encoders emit. Padding is optional.
 */
export function decodeBase64ToSecure(encoded: Uint8Array): SecureBuffer {
  // Upper bound of the decoded size; truncated to what was written at the end.
  const out = SecureBuffer.alloc(Math.max(1, Math.floor((encoded.length * 3) / 4)));
  const target = out.capacity();
  let acc = 0;
  let bits = 0;
  let written = 0;
  let padding = 0;
  try {
    for (let i = 0; i < encoded.length; i++) {
      let c = encoded[i]!;
      if (c === BACKSLASH && encoded[i + 1] === SLASH) {
        c = SLASH;
        i++;
      }
      if (c === EQ) {
        padding++;
        continue;
      }
      const v = TABLE[c]!;
      if (v === 255 || padding > 0) throw new Base64FormatError('invalid base64');
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        target[written++] = (acc >> bits) & 0xff;
      }
    }
    if (padding > 2 || bits >= 6) throw new Base64FormatError('invalid base64 length');
    out.truncate(written);
    return out;
  } catch (err) {
    out.dispose();
    throw err;
  } finally {
    acc = 0;
  }
}
