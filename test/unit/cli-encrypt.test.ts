import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KMSClient } from '@aws-sdk/client-kms';
import { base64Length, encodeBase64Into, encryptFromSecureBuffer, splicePlaintext } from '../../lib/kms/encrypt.ts';
import { PlaintextSpliceError } from '../../lib/kms/errors.ts';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import { KmsAccessDeniedError, KmsKeyUnusableError } from '../../lib/errors/index.ts';

const PLACEHOLDER_B64 = Buffer.from('didit-kms-gateway:encrypt-placeholder:v1:#######', 'latin1').toString('base64');

function secure(bytes: Uint8Array): SecureBuffer {
  const s = SecureBuffer.alloc(bytes.length);
  s.bytes().set(bytes);
  return s;
}

describe('encodeBase64Into', () => {
  it('matches standard padded base64 for every length 0..70 and at an offset', () => {
    for (let n = 0; n <= 70; n++) {
      const src = randomBytes(n);
      const out = Buffer.alloc(base64Length(n) + 5, 0x2e);
      const written = encodeBase64Into(src, out, 3);
      expect(written).toBe(base64Length(n));
      expect(out.subarray(3, 3 + written).toString('latin1')).toBe(src.toString('base64'));
      expect(out.subarray(0, 3).toString('latin1')).toBe('...');
      expect(out.subarray(3 + written).toString('latin1')).toBe('..');
    }
  });

  it('refuses an output that is too small', () => {
    expect(() => encodeBase64Into(Buffer.from('abcd'), Buffer.alloc(7), 0)).toThrow(RangeError);
  });
});

describe('splicePlaintext', () => {
  const serialized = (inner: string) => Buffer.from(`{"KeyId":"alias/k","Plaintext":${inner},"EncryptionContext":{"stage":"dev"}}`);

  it('replaces the placeholder with the real base64 in a new secure buffer: prefix + secure base64 + suffix', () => {
    const key = Buffer.from('didit_test_key_0123456789abcdefXYZ');
    const body = serialized(`"${PLACEHOLDER_B64}"`);
    const spliced = splicePlaintext(body, key);
    const text = Buffer.from(spliced.bytes()).toString('latin1'); // test-only: a fake key
    expect(JSON.parse(text)).toEqual({ KeyId: 'alias/k', Plaintext: key.toString('base64'), EncryptionContext: { stage: 'dev' } });
    expect(spliced.length).toBe(body.length - PLACEHOLDER_B64.length + base64Length(key.length));
    expect(body.toString('latin1')).toContain(PLACEHOLDER_B64); // the serialized body is left as it was
    spliced.dispose();
  });

  it('works when the body is a Uint8Array view into a larger buffer', () => {
    const whole = Buffer.concat([Buffer.from('garbage'), serialized(`"${PLACEHOLDER_B64}"`), Buffer.from('tail')]);
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 7, whole.length - 11);
    const spliced = splicePlaintext(view, Buffer.from([1, 2, 3]));
    expect(JSON.parse(Buffer.from(spliced.bytes()).toString()).Plaintext).toBe('AQID');
    spliced.dispose();
  });

  it('asserts the placeholder occurs exactly once', () => {
    expect(() => splicePlaintext(serialized('"c29tZXRoaW5nIGVsc2U="'), Buffer.from('x'))).toThrow(PlaintextSpliceError);
    const twice = Buffer.from(`{"a":"${PLACEHOLDER_B64}","Plaintext":"${PLACEHOLDER_B64}"}`);
    expect(() => splicePlaintext(twice, Buffer.from('x'))).toThrow(/more than once/);
  });
});

// ---- the whole call against a local fake KMS: what goes on the wire, and is it signed? ----

let server: Server;
let endpoint: string;
let received: { headers: IncomingMessage['headers']; method: string; url: string; body: Buffer }[] = [];
let reply: { status: number; body: string } = { status: 200, body: '' };
const CIPHERTEXT = randomBytes(80);

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks) });
      res.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(reply.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  received = [];
  reply = {
    status: 200,
    body: JSON.stringify({
      CiphertextBlob: CIPHERTEXT.toString('base64'),
      KeyId: 'arn:aws:kms:eu-west-1:000000000000:key/k',
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    }),
  };
});

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

function client(): ReturnType<typeof createSecureKmsClient> {
  const made = createSecureKmsClient({ region: 'eu-west-1', endpoint, maxAttempts: 1 });
  // Test credentials without touching the environment: replace the provider on the built client.
  (made.client.config as unknown as { credentials: () => Promise<typeof CREDENTIALS> }).credentials = async () => CREDENTIALS;
  return made;
}

/** Independent SigV4 check: recompute the signature over what the server RECEIVED. */
function signatureMatches(req: (typeof received)[number]): boolean {
  const auth = String(req.headers['authorization']);
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return false;
  const [, , date, region, service, signedHeaders, signature] = m as unknown as string[];
  const canonicalHeaders = signedHeaders!
    .split(';')
    .map((h) => `${h}:${String(req.headers[h]).trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payloadHash = createHash('sha256').update(req.body).digest('hex');
  const canonical = [req.method, req.url.split('?')[0], '', canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const amzDate = String(req.headers['x-amz-date']);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${CREDENTIALS.secretAccessKey}`, date!), region!), service!), 'aws4_request');
  return createHmac('sha256', kSigning).update(toSign).digest('hex') === signature;
}

describe('encryptFromSecureBuffer (fake KMS)', () => {
  it('sends the real plaintext only in the signed, spliced body and returns the ciphertext', async () => {
    const { client: kms, handler } = client();
    const keyBytes = Buffer.from(randomBytes(30).toString('base64url'));
    const key = secure(keyBytes);
    let wireBody: Uint8Array | undefined;
    kms.middlewareStack.add(
      (next) => async (args) => {
        wireBody = (args.request as { body: Uint8Array }).body;
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: 'testCaptureBody' },
    );
    try {
      const out = await encryptFromSecureBuffer(kms, {
        keyId: 'alias/didit',
        plaintext: key,
        encryptionContext: { service: 'didit-kms-gateway', stage: 'dev', purpose: 'didit-api-key' },
      });
      expect(Buffer.from(out.ciphertext).equals(CIPHERTEXT)).toBe(true);
      expect(out.keyId).toBe('arn:aws:kms:eu-west-1:000000000000:key/k');
      expect(received).toHaveLength(1);
      const req = received[0]!;
      expect(req.headers['x-amz-target']).toBe('TrentService.Encrypt');
      expect(Number(req.headers['content-length'])).toBe(req.body.length);
      const sent = JSON.parse(req.body.toString('utf8'));
      expect(sent).toEqual({
        KeyId: 'alias/didit',
        Plaintext: keyBytes.toString('base64'),
        EncryptionContext: { service: 'didit-kms-gateway', stage: 'dev', purpose: 'didit-api-key' },
      });
      expect(req.body.toString('latin1')).not.toContain(PLACEHOLDER_B64);
      expect(signatureMatches(req)).toBe(true);
      expect(signatureMatches({ ...req, body: Buffer.concat([req.body, Buffer.from(' ')]) })).toBe(false); // the check can fail
      // The secure request body was zeroed and freed once the call returned (its ArrayBuffer is detached).
      expect(wireBody).toBeDefined();
      expect(wireBody!.byteLength).toBe(0);
      expect(key.disposed).toBe(false); // the caller still owns the plaintext
    } finally {
      key.dispose();
      handler.destroy();
    }
  });

  it('disposes the secure body on failure and never copies KMS error text', async () => {
    reply = { status: 400, body: JSON.stringify({ __type: 'NotFoundException', message: 'echo of the request: SECRETSECRET' }) };
    const { client: kms, handler } = client();
    const key = secure(Buffer.from('0123456789abcdef0123'));
    let wireBody: Uint8Array | undefined;
    kms.middlewareStack.add(
      (next) => async (args) => {
        wireBody = (args.request as { body: Uint8Array }).body;
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: 'testCaptureBody' },
    );
    try {
      const err = await encryptFromSecureBuffer(kms, { keyId: 'alias/none', plaintext: key, encryptionContext: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KmsKeyUnusableError);
      expect((err as Error).message).toBe('KMS Encrypt failed: NotFoundException');
      expect(wireBody!.byteLength).toBe(0);
    } finally {
      key.dispose();
      handler.destroy();
    }
  });

  it('maps an unknown 4xx to an access error without its text', async () => {
    reply = { status: 400, body: JSON.stringify({ __type: 'ValidationException', message: 'Plaintext=abc' }) };
    const { client: kms, handler } = client();
    const key = secure(Buffer.from('0123456789abcdef0123'));
    try {
      const err = await encryptFromSecureBuffer(kms, { keyId: 'k', plaintext: key, encryptionContext: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KmsAccessDeniedError);
      expect((err as Error).message).not.toContain('abc');
    } finally {
      key.dispose();
      handler.destroy();
    }
  });

  it('refuses a client without the secure request handler, before sending anything', async () => {
    const plain = new KMSClient({ region: 'eu-west-1', endpoint, credentials: CREDENTIALS });
    const key = secure(Buffer.from('0123456789abcdef0123'));
    try {
      await expect(encryptFromSecureBuffer(plain, { keyId: 'k', plaintext: key, encryptionContext: {} })).rejects.toThrow(PlaintextSpliceError);
      expect(received).toHaveLength(0);
    } finally {
      key.dispose();
      plain.destroy();
    }
  });

  it('refuses plaintexts KMS would refuse (over 4096 bytes)', async () => {
    const { client: kms, handler } = client();
    const big = SecureBuffer.alloc(4097);
    try {
      await expect(encryptFromSecureBuffer(kms, { keyId: 'k', plaintext: big, encryptionContext: {} })).rejects.toThrow(RangeError);
      expect(received).toHaveLength(0);
    } finally {
      big.dispose();
      handler.destroy();
    }
  });
});
