import { describe, expect, it } from 'vitest';
import { extractPlaintext } from '../../lib/kms/plaintext-capture.ts';

const KEY = 'didit_sk_test_0123456789ABCDEFGHIJ';
const b64 = Buffer.from(KEY).toString('base64');

describe('extractPlaintext', () => {
  it('decodes Plaintext into secure memory and blanks it in place, leaving valid JSON', () => {
    const body = Buffer.from(
      `{"KeyId":"arn:aws:kms:us-east-1:000000000000:key/k","Plaintext":"${b64}","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`,
    );
    const length = body.length;
    const secret = extractPlaintext(body);
    expect(secret).toBeDefined();
    expect(Buffer.from(secret!.bytes()).toString()).toBe(KEY); // test-only conversion of a fake key
    secret!.dispose();
    expect(body.length).toBe(length);
    expect(body.includes(b64)).toBe(false);
    const parsed = JSON.parse(body.toString());
    expect(parsed.Plaintext).toBeNull();
    expect(parsed.KeyId).toContain(':key/k');
  });

  it('tolerates whitespace around the colon', () => {
    const body = Buffer.from(`{ "Plaintext" :\n "${b64}" }`);
    const secret = extractPlaintext(body)!;
    expect(secret.length).toBe(KEY.length);
    secret.dispose();
    expect(JSON.parse(body.toString())).toEqual({ Plaintext: null });
  });

  it('ignores an escaped "Plaintext" inside another string', () => {
    const body = Buffer.from(`{"KeyId":"x\\"Plaintext\\":\\"abc","Other":1}`);
    expect(extractPlaintext(body)).toBeUndefined();
  });

  it('returns undefined when there is no Plaintext member (error bodies)', () => {
    expect(extractPlaintext(Buffer.from('{"__type":"InvalidCiphertextException"}'))).toBeUndefined();
  });

  it('throws on a non-string or corrupted Plaintext', () => {
    expect(() => extractPlaintext(Buffer.from('{"Plaintext":123}'))).toThrow();
    expect(() => extractPlaintext(Buffer.from('{"Plaintext":"ab$d"}'))).toThrow();
    expect(() => extractPlaintext(Buffer.from('{"Plaintext":"abcd'))).toThrow();
  });
});
