import { timingSafeEqual } from 'node:crypto';
import { wipe } from '../secure/secure-buffer.ts';
import { SecureHmacSha256 } from './hmac-sha256.ts';

/**
 * The signature forms a Didit delivery may carry (didit-api.md §6.4), in the order they are tried:
 *  - `v2`: `X-Signature-V2` = HMAC(canonical JSON of the parsed body) — recommended, survives re-serialising;
 *  - `v2-timestamped`: the [?] variant of Didit's agent skill, HMAC(`{X-Timestamp}:{canonical JSON}`);
 *  - `v2-ascii`, `v2-ascii-timestamped`: the same with `ensure_ascii=True` (the docs' table wording), tried
 *    only when the body has non-ASCII text (otherwise both forms are the same bytes);
 *  - `v1-raw`: `X-Signature` = HMAC(raw body bytes exactly as received);
 *  - `simple`: `X-Signature-Simple` = HMAC(`{timestamp}:{session_id}:{status}:{webhook_type}`) from body fields.
 * Only `v2-timestamped` covers the `X-Timestamp` header; `simple` covers only the envelope, not `decision`.
 */
export type SignatureForm = 'v2' | 'v2-timestamped' | 'v2-ascii' | 'v2-ascii-timestamped' | 'v1-raw' | 'simple';

export const SIGNATURE_HEADERS = {
  v2: 'x-signature-v2',
  v1: 'x-signature',
  simple: 'x-signature-simple',
} as const;

/** Signatures as presented: 64 lower-case hex characters as ASCII bytes; absent or malformed → undefined. */
export interface PresentedSignatures {
  readonly v2: Buffer | undefined;
  readonly v1: Buffer | undefined;
  readonly simple: Buffer | undefined;
}

/** What each form signs, prepared from the delivery before the secret is decrypted. */
export interface SignedMessages {
  /** ensure_ascii=False canonical JSON; undefined when the body cannot be canonicalised. */
  readonly canonical: Uint8Array | undefined;
  /** ensure_ascii=True canonical JSON, only when it differs from `canonical`. */
  readonly canonicalAscii: Uint8Array | undefined;
  /** `X-Timestamp` header text, as sent. */
  readonly headerTimestamp: Uint8Array;
  readonly rawBody: Uint8Array;
  /** `{timestamp}:{session_id}:{status}:{webhook_type}`; undefined when a field is missing. */
  readonly simple: Uint8Array | undefined;
}

const HEX_SIGNATURE = /^[0-9a-fA-F]{64}$/;

/** Reads one signature header value: trimmed, lower-cased, and only if it is 64 hex characters. */
export function presentedSignature(value: string | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  // Some senders prefix the algorithm; Didit does not, but tolerate `sha256=`.
  const hex = trimmed.startsWith('sha256=') ? trimmed.slice(7) : trimmed;
  if (!HEX_SIGNATURE.test(hex)) return undefined;
  return Buffer.from(hex.toLowerCase(), 'latin1');
}

export function hasAnySignature(presented: PresentedSignatures): boolean {
  return presented.v2 !== undefined || presented.v1 !== undefined || presented.simple !== undefined;
}

const COLON = Uint8Array.of(0x3a);

/**
 * Tries every form whose header is present, in the order of {@link SignatureForm}, with the secret's bytes
 * (never copied out of secure memory: see {@link SecureHmacSha256}). Returns the first form that matches.
 * Each comparison is constant-time (`timingSafeEqual` on the hex bytes after a length check); which form
 * matched may show in timing, which reveals nothing about the secret.
 */
export function matchSignature(
  secret: Uint8Array,
  messages: SignedMessages,
  presented: PresentedSignatures,
): SignatureForm | undefined {
  const mac = SecureHmacSha256.fromKey(secret);
  const digest = Buffer.alloc(32);
  const hex = Buffer.alloc(64);
  const matches = (expected: Buffer | undefined, parts: readonly Uint8Array[]): boolean => {
    if (expected === undefined) return false;
    mac.digest(parts, digest);
    hexInto(digest, hex);
    return expected.length === hex.length && timingSafeEqual(expected, hex);
  };
  try {
    const { canonical, canonicalAscii, headerTimestamp } = messages;
    if (canonical !== undefined) {
      if (matches(presented.v2, [canonical])) return 'v2';
      if (matches(presented.v2, [headerTimestamp, COLON, canonical])) return 'v2-timestamped';
      if (canonicalAscii !== undefined) {
        if (matches(presented.v2, [canonicalAscii])) return 'v2-ascii';
        if (matches(presented.v2, [headerTimestamp, COLON, canonicalAscii])) return 'v2-ascii-timestamped';
      }
    }
    if (matches(presented.v1, [messages.rawBody])) return 'v1-raw';
    if (messages.simple !== undefined && matches(presented.simple, [messages.simple])) return 'simple';
    return undefined;
  } finally {
    mac.dispose();
    wipe(digest);
    wipe(hex);
  }
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** Lower-case hex of `bytes` into `out` (2× the length), without making a string. */
export function hexInto(bytes: Uint8Array, out: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out[2 * i] = HEX_DIGITS[b >> 4]!;
    out[2 * i + 1] = HEX_DIGITS[b & 15]!;
  }
}
