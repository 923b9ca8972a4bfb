/**
 * Shape checks for the secrets the CLI seals, done byte by byte on the secure buffer: the secret is
 * never decoded into a string, and a failure message says what is wrong, never what the bytes are.
 */
import { isHeaderToken } from '../../lib/secure/secure-buffer.ts';
import type { PurposeOption } from './args.ts';

/** Didit API keys are opaque tokens: these bounds match SealedKey's and only catch garbage. */
export const API_KEY_MIN = 16;
export const API_KEY_MAX = 512;
/** A webhook secret is 32 random bytes as unpadded URL-safe base64. */
export const WEBHOOK_SECRET_LENGTH = 43;

export type ShapeResult = { readonly ok: true } | { readonly ok: false; readonly problem: string };

const OK: ShapeResult = { ok: true };

function isUrlSafeBase64Byte(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x30 && b <= 0x39) || // 0-9
    b === 0x2d || // -
    b === 0x5f // _
  );
}

/** Position (1-based) of the first byte outside visible ASCII, or 0. */
function firstInvisible(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x21 || b > 0x7e) return i + 1;
  }
  return 0;
}

export function checkSecretShape(bytes: Uint8Array, purpose: PurposeOption): ShapeResult {
  if (bytes.length === 0) return { ok: false, problem: 'no secret was entered' };
  if (purpose === 'api-key') {
    if (isHeaderToken(bytes, API_KEY_MIN, API_KEY_MAX)) return OK;
    const bad = firstInvisible(bytes);
    if (bad > 0) {
      return {
        ok: false,
        problem: `the API key must be visible ASCII only (0x21-0x7E); character ${bad} of ${bytes.length} is a space, a control character or non-ASCII`,
      };
    }
    return { ok: false, problem: `the API key must be ${API_KEY_MIN} to ${API_KEY_MAX} characters long (got ${bytes.length})` };
  }
  if (bytes.length !== WEBHOOK_SECRET_LENGTH) {
    return { ok: false, problem: `the webhook secret must be ${WEBHOOK_SECRET_LENGTH} characters long (got ${bytes.length})` };
  }
  for (let i = 0; i < bytes.length; i++) {
    if (!isUrlSafeBase64Byte(bytes[i]!)) {
      return { ok: false, problem: `the webhook secret must be URL-safe base64 (A-Z a-z 0-9 - _); character ${i + 1} is not` };
    }
  }
  return OK;
}
