import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors/index.ts';
import { loadPresignConfig, type PresignConfig } from '../../lib/adapters/uploads/config.ts';
import { manifestSchema } from '../../lib/adapters/uploads/layout.ts';
import { checkUploadRequest, createPresignHandler, presignUpload, type PresignDependencies, type UploadTicket } from '../../lib/adapters/uploads/presign.ts';
import { apiEvent, lambdaContext } from '../support/api-events.ts';

// Presigning is local (SigV4 over the request, no call to S3): these run without any emulator.

const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/0b6a6b6e-1111-4222-8333-444455556666';
const UPLOAD_ID = '6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f';
const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const config: PresignConfig = loadPresignConfig({ AWS_REGION: 'eu-west-1', UPLOAD_BUCKET: 'didit-intake-test', UPLOAD_KMS_KEY_ID: KMS_KEY });

function deps(overrides: Partial<PresignConfig> = {}): PresignDependencies {
  const c = { ...config, ...overrides };
  const s3 = new S3Client({
    region: c.region,
    forcePathStyle: c.forcePathStyle,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token-example' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return { config: c, s3, now: () => NOW, newUploadId: () => UPLOAD_ID };
}

const JPEG_REQUEST = {
  operation: 'idVerification',
  callerRef: 'order-1234',
  files: [
    { field: 'front_image', contentType: 'image/jpeg', size: 482_113 },
    { field: 'back_image', contentType: 'image/PNG; charset=binary', size: 470_002 },
  ],
  fields: { minimum_age: 18, perform_document_liveness: true, vendor_data: 'Zoë', save_api_request: null },
};

function issuesOf(body: unknown): string[] {
  try {
    checkUploadRequest(body);
  } catch (err) {
    if (err instanceof ValidationError) return err.issues.map((i) => i.field);
    throw err;
  }
  return [];
}

describe('POST /v1/uploads: what is checked before anything is signed', () => {
  it('a valid request passes; the operation must take files', () => {
    expect(issuesOf(JPEG_REQUEST)).toEqual([]);
    expect(issuesOf({ ...JPEG_REQUEST, operation: 'createSession' })).toEqual(['operation']);
    expect(issuesOf({ ...JPEG_REQUEST, operation: 'nope' })).toEqual(['operation']);
  });

  it('shape: callerRef pattern, at least one file, whole sizes, no unknown keys', () => {
    expect(issuesOf({ ...JPEG_REQUEST, callerRef: 'a/b' })).toEqual(['callerRef']);
    expect(issuesOf({ ...JPEG_REQUEST, callerRef: 'x'.repeat(129) })).toEqual(['callerRef']);
    expect(issuesOf({ ...JPEG_REQUEST, callerRef: undefined })).toEqual(['callerRef']);
    expect(issuesOf({ ...JPEG_REQUEST, files: [] })).toEqual(['files']);
    expect(issuesOf({ ...JPEG_REQUEST, files: [{ field: 'front_image', contentType: 'image/jpeg', size: 1.5 }] })).toEqual(['files.0.size']);
    expect(issuesOf({ ...JPEG_REQUEST, bucket: 'mine' })).toEqual(['bucket']);
  });

  it('prototype-named keys anywhere are refused, not silently dropped (issue 8, finding 3)', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const text = JSON.stringify(JPEG_REQUEST).replace('"minimum_age"', `"${name}":{"x":1},"minimum_age"`);
      expect(issuesOf(JSON.parse(text)), name).toEqual(['body']);
      expect(issuesOf(JSON.parse(`{"${name}":1,${JSON.stringify(JPEG_REQUEST).slice(1)}`)), name).toEqual(['body']);
    }
  });

  it('files against the rules: known field once, allowed type, size within the limit, required ones present', () => {
    expect(
      issuesOf({
        ...JPEG_REQUEST,
        files: [
          { field: 'back_image', contentType: 'image/gif', size: 5 * 1024 * 1024 + 1 },
          { field: 'back_image', contentType: 'image/png', size: 10 },
          { field: 'selfie', contentType: 'image/jpeg', size: 10 },
        ],
      }).sort(),
    ).toEqual(['files', 'files.0.contentType', 'files.0.size', 'files.1.field', 'files.2.field']);
    // PDF is a document type for id verification, not for faces.
    expect(issuesOf({ operation: 'faceMatch', callerRef: 'r', files: [{ field: 'user_image', contentType: 'application/pdf', size: 10 }, { field: 'ref_image', contentType: 'image/webp', size: 10 }] })).toEqual([
      'files.0.contentType',
    ]);
    // Proof of address allows 15 MB.
    expect(issuesOf({ operation: 'proofOfAddress', callerRef: 'r', files: [{ field: 'document', contentType: 'application/pdf', size: 15 * 1024 * 1024 }] })).toEqual([]);
  });

  it('text fields go through the operation schema (validateStructured); file names are not text fields', () => {
    expect(issuesOf({ ...JPEG_REQUEST, fields: { minimum_age: 200, colour: 'red', invalid_mrz_action: 'MAYBE' } }).sort()).toEqual([
      'fields.colour',
      'fields.invalid_mrz_action',
      'fields.minimum_age',
    ]);
    expect(issuesOf({ ...JPEG_REQUEST, fields: { front_image: 'aGVsbG8=' } })).toEqual(['fields.front_image']);
    expect(issuesOf({ ...JPEG_REQUEST, fields: { vendor_data: { nested: true } } })).toEqual(['fields.vendor_data']);
  });
});

describe('presigned URLs', () => {
  it('one PUT per file plus the manifest; content type, length, SSE-KMS and metadata are signed headers, not query values', async () => {
    const { request } = checkUploadRequest(JPEG_REQUEST);
    const ticket = await presignUpload(deps(), request);
    expect(ticket).toMatchObject({ uploadId: UPLOAD_ID, operation: 'idVerification', callerRef: 'order-1234', bucket: 'didit-intake-test', expiresAt: '2026-11-28T12:05:00.000Z' });
    expect(ticket.files.map((f) => [f.field, f.key])).toEqual([
      ['front_image', `intake/idVerification/order-1234/${UPLOAD_ID}/front_image`],
      ['back_image', `intake/idVerification/order-1234/${UPLOAD_ID}/back_image`],
    ]);
    const front = ticket.files[0]!;
    expect(front.headers).toEqual({
      'content-type': 'image/jpeg',
      'content-length': '482113',
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': KMS_KEY,
      'x-amz-meta-caller-ref': 'order-1234',
      'x-amz-meta-upload-id': UPLOAD_ID,
    });
    expect(ticket.files[1]!.headers['content-type']).toBe('image/png');
    for (const put of [...ticket.files, ticket.manifest]) {
      const url = new URL(put.url);
      expect(url.origin).toBe('https://didit-intake-test.s3.eu-west-1.amazonaws.com');
      expect(put.method).toBe('PUT');
      expect(url.searchParams.get('X-Amz-Expires')).toBe('300');
      const signed = url.searchParams.get('X-Amz-SignedHeaders')!.split(';');
      for (const header of Object.keys(put.headers)) expect(signed, header).toContain(header);
      // Only SigV4's own parameters in the query: no KMS key, no metadata, no checksum of an empty body.
      expect([...url.searchParams.keys()].filter((k) => !k.startsWith('X-Amz-') && k !== 'x-id')).toEqual([]);
      expect(url.searchParams.has('X-Amz-Checksum-Crc32')).toBe(false);
      expect(put.url).not.toContain('0b6a6b6e');
      expect(put.url).not.toContain('wJalrXUtnFEMI');
    }
  });

  it('the manifest is written here, validated, and bound by Content-MD5', async () => {
    const { request } = checkUploadRequest(JPEG_REQUEST);
    const { manifest } = await presignUpload(deps(), request);
    expect(manifest.key).toBe(`intake/idVerification/order-1234/${UPLOAD_ID}/manifest.json`);
    const parsed = manifestSchema.parse(JSON.parse(manifest.body));
    expect(parsed).toEqual({
      version: 1,
      operation: 'idVerification',
      callerRef: 'order-1234',
      uploadId: UPLOAD_ID,
      files: { front_image: { size: 482_113, contentType: 'image/jpeg' }, back_image: { size: 470_002, contentType: 'image/png' } },
      // null is dropped, as validateStructured drops it.
      fields: { minimum_age: 18, perform_document_liveness: true, vendor_data: 'Zoë' },
    });
    const bytes = Buffer.from(manifest.body, 'utf8');
    expect(manifest.headers['content-length']).toBe(String(bytes.length));
    expect(manifest.headers['content-md5']).toBe(createHash('md5').update(bytes).digest('base64'));
    expect(manifest.headers['content-type']).toBe('application/json');
    expect(new URL(manifest.url).searchParams.get('X-Amz-SignedHeaders')).toContain('content-md5');
  });

  it('path style for emulators; expiry from the configuration', async () => {
    const { request } = checkUploadRequest(JPEG_REQUEST);
    const ticket = await presignUpload(deps({ forcePathStyle: true, urlExpiresSeconds: 60 }), request);
    const url = new URL(ticket.files[0]!.url);
    expect(url.origin).toBe('https://s3.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe(`/didit-intake-test/intake/idVerification/order-1234/${UPLOAD_ID}/front_image`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(ticket.expiresAt).toBe('2026-11-28T12:01:00.000Z');
  });

  it('configuration: bucket and KMS key required, expiry bounded, path style a boolean', () => {
    expect(() => loadPresignConfig({ UPLOAD_KMS_KEY_ID: KMS_KEY })).toThrow('UPLOAD_BUCKET');
    expect(() => loadPresignConfig({ UPLOAD_BUCKET: 'b' })).toThrow('UPLOAD_KMS_KEY_ID');
    expect(() => loadPresignConfig({ UPLOAD_BUCKET: 'b', UPLOAD_KMS_KEY_ID: KMS_KEY, UPLOAD_URL_EXPIRES_SECONDS: '3600' })).toThrow('UPLOAD_URL_EXPIRES_SECONDS');
    expect(() => loadPresignConfig({ UPLOAD_BUCKET: 'b', UPLOAD_KMS_KEY_ID: KMS_KEY, S3_FORCE_PATH_STYLE: 'yes' })).toThrow('S3_FORCE_PATH_STYLE');
    expect(loadPresignConfig({ UPLOAD_BUCKET: 'b', UPLOAD_KMS_KEY_ID: KMS_KEY })).toMatchObject({ urlExpiresSeconds: 300, forcePathStyle: false });
  });
});

describe('createUploadUrl handler', () => {
  const call = async (body: string | undefined, contentType = 'application/json'): Promise<APIGatewayProxyResult> =>
    (await createPresignHandler({ dependencies: () => deps() })(
      apiEvent({ method: 'POST', path: '/v1/uploads', headers: { 'content-type': contentType }, body }),
      lambdaContext(),
    )) as APIGatewayProxyResult;

  it('201 with the ticket; 400 with issues; 415 for non-JSON; 413 for an oversized body', async () => {
    const ok = await call(JSON.stringify(JPEG_REQUEST));
    expect(ok.statusCode).toBe(201);
    expect(ok.headers).toMatchObject({ 'cache-control': 'no-store', 'content-type': 'application/json' });
    expect((JSON.parse(ok.body) as UploadTicket).files).toHaveLength(2);

    const bad = await call(JSON.stringify({ ...JPEG_REQUEST, files: [{ field: 'front_image', contentType: 'text/plain', size: 1 }] }));
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).error).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ field: 'files.0.contentType' }] });

    expect((await call('not json')).statusCode).toBe(400);
    expect((await call('[]')).statusCode).toBe(400);
    expect((await call(JSON.stringify(JPEG_REQUEST), 'text/plain')).statusCode).toBe(415);
    expect((await call(JSON.stringify({ ...JPEG_REQUEST, fields: { vendor_data: 'x'.repeat(100_000) } }))).statusCode).toBe(413);
  });
});
