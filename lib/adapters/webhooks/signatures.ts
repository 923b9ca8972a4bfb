import { timingSafeEqual } from 'node:crypto';
import { wipe } from '../../secure/secure-buffer.ts';
import { SecureHmacSha256 } from './hmac-sha256.ts';

/**
 * The signature forms a Didit delivery may carry (didit-api.md §6.4):
 *  - `v2`: `X-Signature-V2` = HMAC(canonical JSON of the parsed body) — recommended, survives re-serialising;
 *  - `v2-timestamped`: the [?] variant of Didit's agent skill, HMAC(`{X-Timestamp}:{canonical JSON}`);
 *  - `v2-ascii`, `v2-ascii-timestamped`: the same with `ensure_ascii=True` (the docs' table wording), tried
 *    only when the body has non-ASCII text (otherwise both forms are the same bytes);
 *  - `v1-raw`: `X-Signature` = HMAC(raw body bytes exactly as received);
 *  - `simple`: `X-Signature-Simple` = HMAC(`{timestamp}:{session_id}:{status}:{webhook_type}`) from body fields.
 * Only `v2-timestamped` covers the `X-Timestamp` header; `simple` covers only those four fields: not
 * `decision`, `event_id`, `vendor_data` or anything else in the body.
 */
export type SignatureForm = 'v2' | 'v2-timestamped' | 'v2-ascii' | 'v2-ascii-timestamped' | 'v1-raw' | 'simple';

/** What a verified delivery vouches for: the whole body (V2, V1), or only the four fields Simple signs. */
export type Coverage = 'body' | 'envelope';

export const SIGNATURE_HEADERS = {
  v2: 'x-signature-v2',
  v1: 'x-signature',
  simple: 'x-signature-simple',
} as const;

export type SignatureHeader = keyof typeof SIGNATURE_HEADERS;

/** Strongest first: the order in which the presented headers decide (issue 8, finding 1). */
export const STRENGTH_ORDER: readonly SignatureHeader[] = ['v2', 'v1', 'simple'];

/** Signatures as presented: 64 lower-case hex characters as ASCII bytes; absent → undefined. */
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

/** The strongest header presented, which decides what the delivery is trusted for. */
export function strongestPresented(presented: PresentedSignatures): SignatureHeader | undefined {
  return STRENGTH_ORDER.find((header) => presented[header] !== undefined);
}

/**
 * Why a set of presented headers cannot verify, known before the secret is decrypted (so it costs no KMS
 * call): a header the body gives nothing to check against. Undefined when every presented header can be
 * checked. A Simple header next to a stronger one on a body without the four Simple fields (entity events
 * carry no `session_id`/`status`) is dropped instead: it could vouch for nothing, and the stronger form
 * covers the whole body.
 */
export function uncheckable(presented: PresentedSignatures, messages: Pick<SignedMessages, 'canonical' | 'simple'>): string | undefined {
  if (presented.v2 !== undefined && messages.canonical === undefined) return 'X-Signature-V2 presented but the body has no canonical form';
  if (presented.simple !== undefined && messages.simple === undefined && presented.v2 === undefined && presented.v1 === undefined) {
    return 'X-Signature-Simple presented but the body lacks the fields it signs';
  }
  return undefined;
}

/** The outcome of {@link verifySignatures}. */
export type Verification =
  | { readonly ok: true; readonly form: SignatureForm; readonly coverage: Coverage }
  | { readonly ok: false; readonly failed: SignatureHeader };

const COLON = Uint8Array.of(0x3a);

/**
 * Checks EVERY presented header with the secret's bytes (never copied out of secure memory: see
 * {@link SecureHmacSha256}); the delivery verifies only if each one does. A header that does not verify
 * rejects the delivery whatever else verifies, so a forged strong signature next to a replayed weak one
 * (a Simple signature covers no `decision`) is refused rather than downgraded. On success the strongest
 * presented form is reported with what it covers. Each comparison is constant-time (`timingSafeEqual` on
 * the hex bytes after a length check); which form failed may show in timing, which reveals nothing about
 * the secret.
 */
export function verifySignatures(secret: Uint8Array, messages: SignedMessages, presented: PresentedSignatures): Verification {
  const mac = SecureHmacSha256.fromKey(secret);
  const digest = Buffer.alloc(32);
  const hex = Buffer.alloc(64);
  const matches = (expected: Buffer, parts: readonly Uint8Array[]): boolean => {
    mac.digest(parts, digest);
    hexInto(digest, hex);
    return expected.length === hex.length && timingSafeEqual(expected, hex);
  };
  try {
    const { canonical, canonicalAscii, headerTimestamp } = messages;
    let v2: SignatureForm | undefined;
    if (presented.v2 !== undefined) {
      const expected = presented.v2;
      if (canonical !== undefined) {
        if (matches(expected, [canonical])) v2 = 'v2';
        else if (matches(expected, [headerTimestamp, COLON, canonical])) v2 = 'v2-timestamped';
        else if (canonicalAscii !== undefined) {
          if (matches(expected, [canonicalAscii])) v2 = 'v2-ascii';
          else if (matches(expected, [headerTimestamp, COLON, canonicalAscii])) v2 = 'v2-ascii-timestamped';
        }
      }
      if (v2 === undefined) return { ok: false, failed: 'v2' };
    }
    if (presented.v1 !== undefined && !matches(presented.v1, [messages.rawBody])) return { ok: false, failed: 'v1' };
    // Without the four fields there is nothing a Simple header can be checked against (see `uncheckable`).
    if (presented.simple !== undefined && messages.simple !== undefined && !matches(presented.simple, [messages.simple])) {
      return { ok: false, failed: 'simple' };
    }
    if (v2 !== undefined) return { ok: true, form: v2, coverage: 'body' };
    if (presented.v1 !== undefined) return { ok: true, form: 'v1-raw', coverage: 'body' };
    if (presented.simple !== undefined && messages.simple !== undefined) return { ok: true, form: 'simple', coverage: 'envelope' };
    return { ok: false, failed: 'simple' };
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
