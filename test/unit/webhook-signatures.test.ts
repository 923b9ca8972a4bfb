import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalForms, parseJsonTree } from '../../lib/adapters/webhooks/canonical-json.ts';
import { SecureHmacSha256 } from '../../lib/adapters/webhooks/hmac-sha256.ts';
import {
  presentedSignature,
  strongestPresented,
  uncheckable,
  verifySignatures,
  type PresentedSignatures,
  type SignedMessages,
} from '../../lib/adapters/webhooks/signatures.ts';
import { readEnvelope } from '../../lib/adapters/webhooks/envelope.ts';

interface SignedVector {
  name: string;
  body: string;
  x_timestamp: string;
  x_signature: string;
  x_signature_v2: string;
  x_signature_v2_timestamped: string;
  x_signature_v2_ascii: string;
  x_signature_simple: string;
}
const vectors = JSON.parse(readFileSync(new URL('./webhook-canonical-vectors.json', import.meta.url), 'utf8')) as {
  secret: string;
  signed: SignedVector[];
};
const secret = Buffer.from(vectors.secret, 'latin1');

function messagesFor(body: string, timestamp: string): SignedMessages {
  const forms = canonicalForms(body);
  const envelope = readEnvelope(parseJsonTree(body));
  return {
    canonical: Buffer.from(forms.unicode, 'utf8'),
    canonicalAscii: forms.ascii === forms.unicode ? undefined : Buffer.from(forms.ascii, 'utf8'),
    headerTimestamp: Buffer.from(timestamp),
    rawBody: Buffer.from(body, 'utf8'),
    simple: envelope.simpleMessage === undefined ? undefined : Buffer.from(envelope.simpleMessage, 'utf8'),
  };
}

/** The verified form, or undefined when the delivery does not verify (the old `matchSignature` shape). */
function matchSignature(key: Uint8Array, messages: SignedMessages, presented: PresentedSignatures): string | undefined {
  const result = verifySignatures(key, messages, presented);
  return result.ok ? result.form : undefined;
}

const only = (which: Partial<Record<keyof PresentedSignatures, string>>): PresentedSignatures => ({
  v2: presentedSignature(which.v2),
  v1: presentedSignature(which.v1),
  simple: presentedSignature(which.simple),
});

describe('HMAC-SHA256 in libsodium memory', () => {
  it('equals OpenSSL HMAC for keys shorter than, equal to and longer than the 64-byte block', () => {
    for (const length of [1, 16, 32, 43, 63, 64, 65, 100, 200]) {
      const key = randomBytes(length);
      const message = randomBytes(257);
      const mac = SecureHmacSha256.fromKey(key);
      try {
        const out = Buffer.alloc(32);
        mac.digest([message.subarray(0, 100), message.subarray(100)], out);
        expect(out.toString('hex'), `key length ${length}`).toBe(createHmac('sha256', key).update(message).digest('hex'));
        // Reusable: the primed states are cloned per message.
        mac.digest([Buffer.from('second')], out);
        expect(out.toString('hex')).toBe(createHmac('sha256', key).update('second').digest('hex'));
      } finally {
        mac.dispose();
      }
    }
  });

  it('matches RFC 4231 test case 2 (short key "Jefe")', () => {
    const mac = SecureHmacSha256.fromKey(Buffer.from('Jefe'));
    const out = Buffer.alloc(32);
    mac.digest([Buffer.from('what do ya want for nothing?')], out);
    mac.dispose();
    expect(out.toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('cannot be used after dispose', () => {
    const mac = SecureHmacSha256.fromKey(Buffer.from('k'));
    mac.dispose();
    expect(() => mac.digest([Buffer.from('x')], Buffer.alloc(32))).toThrow(/disposal/);
  });
});

describe('signature forms against deliveries signed by Python', () => {
  it('has signed vectors', () => expect(vectors.signed.length).toBeGreaterThanOrEqual(3));
  for (const v of vectors.signed) {
    const messages = messagesFor(v.body, v.x_timestamp);
    it(`${v.name}: each header form verifies on its own`, () => {
      expect(matchSignature(secret, messages, only({ v2: v.x_signature_v2 }))).toBe('v2');
      expect(matchSignature(secret, messages, only({ v2: v.x_signature_v2_timestamped }))).toBe('v2-timestamped');
      expect(matchSignature(secret, messages, only({ v1: v.x_signature }))).toBe('v1-raw');
      expect(matchSignature(secret, messages, only({ simple: v.x_signature_simple }))).toBe('simple');
      const ascii = matchSignature(secret, messages, only({ v2: v.x_signature_v2_ascii }));
      // The ASCII form differs only for bodies with non-ASCII text; otherwise it is plain `v2`.
      expect(ascii).toBe(messages.canonicalAscii === undefined ? 'v2' : 'v2-ascii');
    });

    it(`${v.name}: every presented form must verify; the strongest decides what is covered; upper-case hex accepted`, () => {
      const all = only({ v2: v.x_signature_v2.toUpperCase(), v1: v.x_signature, simple: v.x_signature_simple });
      expect(verifySignatures(secret, messages, all)).toEqual({ ok: true, form: 'v2', coverage: 'body' });
      expect(verifySignatures(secret, messages, only({ v1: v.x_signature, simple: v.x_signature_simple }))).toEqual({ ok: true, form: 'v1-raw', coverage: 'body' });
      expect(verifySignatures(secret, messages, only({ simple: v.x_signature_simple }))).toEqual({ ok: true, form: 'simple', coverage: 'envelope' });
      // A wrong stronger form is not rescued by a weaker one (the downgrade of issue 8).
      const badV2 = only({ v2: '0'.repeat(64), v1: v.x_signature, simple: v.x_signature_simple });
      expect(verifySignatures(secret, messages, badV2)).toEqual({ ok: false, failed: 'v2' });
      const onlySimpleGood = only({ v2: '1'.repeat(64), v1: '2'.repeat(64), simple: v.x_signature_simple });
      expect(verifySignatures(secret, messages, onlySimpleGood)).toEqual({ ok: false, failed: 'v2' });
      expect(verifySignatures(secret, messages, only({ v1: '2'.repeat(64), simple: v.x_signature_simple }))).toEqual({ ok: false, failed: 'v1' });
      // Nor is a wrong weaker one ignored next to a right stronger one.
      expect(verifySignatures(secret, messages, only({ v2: v.x_signature_v2, simple: '3'.repeat(64) }))).toEqual({ ok: false, failed: 'simple' });
      expect(verifySignatures(secret, messages, only({ v2: v.x_signature_v2, v1: '4'.repeat(64) }))).toEqual({ ok: false, failed: 'v1' });
      expect(strongestPresented(onlySimpleGood)).toBe('v2');
      expect(strongestPresented(only({ simple: v.x_signature_simple }))).toBe('simple');
    });

    it(`${v.name}: wrong secret and tampered bodies are rejected`, () => {
      const all = only({ v2: v.x_signature_v2, v1: v.x_signature, simple: v.x_signature_simple });
      const wrong = Buffer.from(secret);
      wrong[0] = wrong[0]! ^ 1;
      expect(matchSignature(wrong, messages, all)).toBeUndefined();

      const tampered = v.body.replace('Approved', 'Declined');
      expect(matchSignature(secret, messagesFor(tampered, v.x_timestamp), all)).toBeUndefined();
      // A change outside the envelope defeats V2 and V1 but not Simple (which covers the envelope only).
      const tamperedDecision = v.body.replace('"LIVENESS"', '"NFC"');
      if (tamperedDecision !== v.body) {
        const m = messagesFor(tamperedDecision, v.x_timestamp);
        expect(matchSignature(secret, m, only({ v2: v.x_signature_v2, v1: v.x_signature }))).toBeUndefined();
        expect(matchSignature(secret, m, only({ simple: v.x_signature_simple }))).toBe('simple');
      }
      // Re-serialising the body breaks V1 (raw bytes) but not V2.
      const reserialised = JSON.stringify(JSON.parse(v.body));
      if (reserialised !== v.body) {
        const m = messagesFor(reserialised, v.x_timestamp);
        expect(matchSignature(secret, m, only({ v1: v.x_signature }))).toBeUndefined();
        expect(matchSignature(secret, m, only({ v2: v.x_signature_v2 }))).toBe('v2');
      }
      // The timestamped V2 form is bound to the header timestamp.
      expect(matchSignature(secret, messagesFor(v.body, '1700000101'), only({ v2: v.x_signature_v2_timestamped }))).toBeUndefined();
    });
  }
});

describe('presented signature headers', () => {
  it('a header the body gives nothing to check against is known before the secret is decrypted', () => {
    const hex = 'a'.repeat(64);
    const none = { canonical: undefined, simple: undefined };
    const both = { canonical: Buffer.from('{}'), simple: Buffer.from('1:s:A:status.updated') };
    expect(uncheckable(only({ v2: hex }), none)).toMatch(/V2/);
    expect(uncheckable(only({ simple: hex }), none)).toMatch(/Simple/);
    // Next to a stronger form, a Simple header on a body without its four fields vouches for nothing: dropped.
    expect(uncheckable(only({ v1: hex, simple: hex }), none)).toBeUndefined();
    expect(uncheckable(only({ v2: hex, v1: hex, simple: hex }), both)).toBeUndefined();
  });

  it('accepts 64 hex characters (any case, optional sha256= prefix, surrounding space) only', () => {
    const hex = 'a'.repeat(64);
    expect(presentedSignature(hex)?.toString()).toBe(hex);
    expect(presentedSignature(` ${'A'.repeat(64)} `)?.toString()).toBe(hex);
    expect(presentedSignature(`sha256=${hex}`)?.toString()).toBe(hex);
    expect(presentedSignature('a'.repeat(63))).toBeUndefined();
    expect(presentedSignature('g'.repeat(64))).toBeUndefined();
    expect(presentedSignature('')).toBeUndefined();
    expect(presentedSignature(undefined)).toBeUndefined();
  });
});
