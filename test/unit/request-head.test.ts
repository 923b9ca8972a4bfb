import { describe, expect, it } from 'vitest';
import { buildRequestHead } from '../../lib/didit/request-head.ts';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import { encodeMultipart } from '../../lib/didit/multipart.ts';

function key(text: string): SecureBuffer {
  const s = SecureBuffer.alloc(text.length);
  s.bytes().write(text, 'latin1');
  return s;
}

describe('buildRequestHead', () => {
  it('puts every header and the key bytes in one buffer, key last', () => {
    const k = key('sk_test_abcdefghijklmnop');
    const head = buildRequestHead(
      { method: 'POST', target: '/v3/session/', host: 'verification.didit.me', headers: [['content-length', '2']] },
      k,
    );
    const text = Buffer.from(head.bytes()).toString('latin1');
    expect(text).toBe(
      'POST /v3/session/ HTTP/1.1\r\nhost: verification.didit.me\r\ncontent-length: 2\r\nx-api-key: sk_test_abcdefghijklmnop\r\n\r\n',
    );
    head.dispose();
    k.dispose();
  });

  it('refuses keys or headers that could inject header lines', () => {
    const bad = key('abc\r\nx-evil: 1');
    expect(() => buildRequestHead({ method: 'GET', target: '/', host: 'h', headers: [] }, bad)).toThrow();
    bad.dispose();
    const k = key('sk_test_abcdefghijklmnop');
    expect(() => buildRequestHead({ method: 'GET', target: '/', host: 'h', headers: [['x-api-key', 'v']] }, k)).toThrow();
    expect(() => buildRequestHead({ method: 'GET', target: '/', host: 'h', headers: [['a', 'b\r\nc: d']] }, k)).toThrow();
    expect(() => buildRequestHead({ method: 'GET', target: '/a b', host: 'h', headers: [] }, k)).toThrow();
    expect(() => buildRequestHead({ method: 'G ET', target: '/', host: 'h', headers: [] }, k)).toThrow();
    k.dispose();
  });

  it('throws once the key has been disposed', () => {
    const k = key('sk_test_abcdefghijklmnop');
    k.dispose();
    expect(() => buildRequestHead({ method: 'GET', target: '/', host: 'h', headers: [] }, k)).toThrow(/disposal/);
  });
});

describe('encodeMultipart', () => {
  it('references file bytes without copying and computes the length', () => {
    const image = Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]);
    const body = encodeMultipart([
      ['vendor_data', 'user-1'],
      ['front_image', { filename: 'upload.jpg', contentType: 'image/jpeg', data: image }],
    ]);
    expect(body.pieces.some((p) => p === image)).toBe(true);
    const whole = Buffer.concat(body.pieces.map((p) => Buffer.from(p)));
    expect(whole.length).toBe(body.length);
    const boundary = body.contentType.split('boundary=')[1]!;
    expect(whole.toString('latin1')).toContain(`--${boundary}\r\ncontent-disposition: form-data; name="front_image"; filename="upload.jpg"\r\ncontent-type: image/jpeg\r\n\r\n`);
    expect(whole.toString('latin1').endsWith(`--${boundary}--\r\n`)).toBe(true);
  });
});
