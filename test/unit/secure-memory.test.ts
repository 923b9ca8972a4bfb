import { describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { SecureBufferDisposedError } from '../../lib/secure/errors.ts';
import { SecureBuffer, isHeaderToken } from '../../lib/secure/secure-buffer.ts';
import { decodeBase64ToSecure } from '../../lib/secure/base64.ts';

describe('SecureBuffer', () => {
  it('starts zeroed, holds bytes, and never prints them', () => {
    const s = SecureBuffer.alloc(40);
    expect(s.bytes().every((b) => b === 0)).toBe(true);
    s.bytes().set(Buffer.from('sk_live_abcdef'));
    expect(String(s)).toBe('[SecureBuffer]');
    expect(JSON.stringify({ s })).toBe('{"s":"[SecureBuffer]"}');
    expect(inspect(s)).toBe('[SecureBuffer 40 bytes]');
    s.dispose();
  });

  it('zeroes and detaches on dispose; any later use throws', () => {
    const s = SecureBuffer.alloc(32);
    s.bytes().fill(0x41);
    const view = s.bytes();
    s.dispose();
    expect(view.length).toBe(0); // the ArrayBuffer is detached: old views see nothing
    expect(() => s.bytes()).toThrow(SecureBufferDisposedError);
    expect(() => s.length).toThrow(SecureBufferDisposedError);
    expect(() => s.dispose()).not.toThrow();
    expect(s.disposed).toBe(true);
  });

  it('truncate zeroes the bytes it drops', () => {
    const s = SecureBuffer.alloc(8);
    s.capacity().fill(0x7a);
    s.truncate(3);
    expect(s.length).toBe(3);
    expect([...s.capacity().subarray(3)]).toEqual([0, 0, 0, 0, 0]);
    s.dispose();
  });

  it('compares in constant time and by length', () => {
    const s = SecureBuffer.alloc(4);
    s.bytes().set([1, 2, 3, 4]);
    expect(s.equals(Uint8Array.from([1, 2, 3, 4]))).toBe(true);
    expect(s.equals(Uint8Array.from([1, 2, 3, 5]))).toBe(false);
    expect(s.equals(Uint8Array.from([1, 2, 3]))).toBe(false);
    s.dispose();
  });

  it('rejects absurd sizes', () => {
    expect(() => SecureBuffer.alloc(0)).toThrow();
    expect(() => SecureBuffer.alloc(1.5)).toThrow();
  });
});

describe('isHeaderToken', () => {
  it('accepts visible ASCII within bounds only', () => {
    expect(isHeaderToken(Buffer.from('abcDEF123_-~!'), 1, 64)).toBe(true);
    expect(isHeaderToken(Buffer.from('has space'), 1, 64)).toBe(false);
    expect(isHeaderToken(Buffer.from('inject\r\nx: y'), 1, 64)).toBe(false);
    expect(isHeaderToken(Buffer.from([0x61, 0x80]), 1, 64)).toBe(false);
    expect(isHeaderToken(Buffer.from('short'), 16, 64)).toBe(false);
    expect(isHeaderToken(Buffer.alloc(65, 0x61), 1, 64)).toBe(false);
  });
});

describe('decodeBase64ToSecure', () => {
  it('matches Node for every length, padded or not', () => {
    for (let n = 0; n < 80; n++) {
      const raw = randomBytes(n);
      for (const text of [raw.toString('base64'), raw.toString('base64').replace(/=+$/, '')]) {
        const out = decodeBase64ToSecure(Buffer.from(text));
        expect(Buffer.compare(out.bytes(), raw)).toBe(0);
        out.dispose();
      }
    }
  });

  it('accepts the JSON escape \\/ and rejects anything else', () => {
    const raw = Buffer.from([0xff, 0xff, 0xff]); // "////"
    const out = decodeBase64ToSecure(Buffer.from('\\/\\/\\/\\/'));
    expect(Buffer.compare(out.bytes(), raw)).toBe(0);
    out.dispose();
    for (const bad of ['a', 'ab$c', 'abc=d', 'abcd===', 'ab-_']) {
      expect(() => decodeBase64ToSecure(Buffer.from(bad)), bad).toThrow();
    }
  });
});
