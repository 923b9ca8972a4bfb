import { describe, expect, it } from 'vitest';
import { decodeS3Key } from '../../lib/adapters/uploads/intake.ts';
import {
  fileKey,
  manifestBytes,
  manifestKey,
  manifestSchema,
  parseManifestKey,
  uploadPrefix,
  type Manifest,
} from '../../lib/adapters/uploads/layout.ts';
import { failed, succeeded, eventDetail, skipped } from '../../lib/adapters/uploads/outcome.ts';
import { idVerification, faceMatch } from '../../lib/operations/standalone.ts';
import { uploadOperation, uploadOperationNames } from '../../lib/adapters/uploads/operations.ts';

const at = { operation: 'idVerification', callerRef: 'order-1234', uploadId: '6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f' };

describe('upload key layout', () => {
  it('builds intake/<operation>/<callerRef>/<uploadId>/<field> and …/manifest.json, and parses the manifest key back', () => {
    expect(uploadPrefix(at)).toBe('intake/idVerification/order-1234/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/');
    expect(fileKey(at, 'front_image')).toBe('intake/idVerification/order-1234/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/front_image');
    expect(manifestKey(at)).toBe('intake/idVerification/order-1234/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/manifest.json');
    expect(parseManifestKey(manifestKey(at))).toEqual(at);
  });

  it('refuses keys that are not laid out as documented', () => {
    for (const key of [
      'intake/idVerification/order-1234/manifest.json',
      'intake/idVerification/order-1234/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/front_image',
      'other/idVerification/order-1234/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/manifest.json',
      'intake/idVerification/order 1234/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/manifest.json',
      'intake/idVerification/.hidden/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/manifest.json',
      'intake/idVerification/order-1234/NOT-A-UUID/manifest.json',
      'intake/id-verification/order-1234/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/manifest.json',
      'intake/idVerification/a/b/6f1c2d0e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/manifest.json',
    ]) {
      expect(parseManifestKey(key), key).toBeUndefined();
    }
    expect(() => fileKey(at, '../manifest.json')).toThrow(RangeError);
  });

  it('decodes S3 event keys (URL-encoded, + for space; moto encodes the slashes too)', () => {
    expect(decodeS3Key('intake/idVerification/order-1234/x/manifest.json')).toBe('intake/idVerification/order-1234/x/manifest.json');
    expect(decodeS3Key('intake%2FidVerification%2Fa+b%2Fmanifest.json')).toBe('intake/idVerification/a b/manifest.json');
    expect(decodeS3Key('%E0%A4%A')).toBeUndefined();
    expect(decodeS3Key('')).toBeUndefined();
  });

  it('the manifest round-trips through its schema; unknown keys, wrong versions and nested field values are refused', () => {
    const manifest: Manifest = {
      version: 1,
      ...at,
      files: { front_image: { size: 1234, contentType: 'image/jpeg' } },
      fields: { minimum_age: 18, perform_document_liveness: true, vendor_data: 'Zoë' },
    };
    expect(manifestSchema.parse(JSON.parse(manifestBytes(manifest).toString('utf8')))).toEqual(manifest);
    expect(manifestSchema.safeParse({ ...manifest, extra: 1 }).success).toBe(false);
    expect(manifestSchema.safeParse({ ...manifest, version: 2 }).success).toBe(false);
    expect(manifestSchema.safeParse({ ...manifest, fields: { metadata: { a: 1 } } }).success).toBe(false);
    expect(manifestSchema.safeParse({ ...manifest, files: { front_image: { size: 0, contentType: 'image/jpeg' } } }).success).toBe(false);
    const { fields: _fields, ...withoutFields } = manifest;
    expect(manifestSchema.parse(withoutFields).fields).toEqual({});
  });

  it('only table entries with files can be uploaded', () => {
    expect(uploadOperationNames().sort()).toEqual(['ageEstimation', 'faceMatch', 'faceSearch', 'idVerification', 'passiveLiveness', 'proofOfAddress']);
    expect(uploadOperation('idVerification')).toBe(idVerification);
    expect(uploadOperation('createSession')).toBeUndefined();
    expect(uploadOperation('toString')).toBeUndefined();
    expect(uploadOperation('__proto__')).toBeUndefined();
  });
});

describe('upload outcome (the stored record and the event detail)', () => {
  /** An id-verification answer as Didit sends it: full of personal data. */
  const answer = {
    request_id: '11111111-2222-4333-8444-555555555555',
    id_verification: {
      status: 'Declined',
      document_number: 'X1234567',
      first_name: 'Carmen',
      full_name: 'Carmen Española',
      date_of_birth: '1980-01-01',
      front_image: 'https://media.didit.me/front.jpg',
      warnings: [
        { risk: 'MINIMUM_AGE_NOT_MET', log_type: 'error', short_description: 'Carmen is 17', additional_data: { dob: '1980-01-01' } },
        { risk: 'lower case is not a risk tag', log_type: 'warning' },
        { nothing: true },
      ],
    },
    vendor_data: 'user-7',
    metadata: { email: 'ana@example.com' },
  };

  it('a success keeps identifiers, the status and risk tags only', () => {
    const outcome = succeeded(at, answer);
    expect(outcome).toEqual({
      schemaVersion: 1,
      ...at,
      status: 'succeeded',
      decisionStatus: 'Declined',
      risks: ['MINIMUM_AGE_NOT_MET'],
      diditRequestId: '11111111-2222-4333-8444-555555555555',
    });
    const text = JSON.stringify(eventDetail(outcome));
    for (const pii of ['X1234567', 'Carmen', '1980', 'https://', 'user-7', 'ana@example.com']) expect(text).not.toContain(pii);
  });

  it('the feature key follows the operation; an answer of another shape yields no status rather than a guess', () => {
    expect(succeeded({ ...at, operation: 'faceMatch' }, { face_match: { status: 'Approved', score: 99, warnings: [] } })).toMatchObject({ decisionStatus: 'Approved', risks: [] });
    expect(succeeded({ ...at, operation: 'ageEstimation' }, { liveness: { status: 'Declined', warnings: [{ risk: 'AGE_BELOW_MINIMUM' }] } })).toMatchObject({
      decisionStatus: 'Declined',
      risks: ['AGE_BELOW_MINIMUM'],
    });
    const odd = succeeded(at, { id_verification: { status: 'Declined because Carmen Española is 17 years old' }, request_id: 'not valid!' });
    expect(odd.decisionStatus).toBeUndefined();
    expect(odd.diditRequestId).toBeUndefined();
    expect(succeeded(at, undefined)).toEqual({ schemaVersion: 1, ...at, status: 'succeeded' });
  });

  it('a failure keeps issues for known fields only (an unknown field name is caller input)', () => {
    const outcome = failed(at, 'VALIDATION_FAILED', {
      spec: idVerification,
      issues: [
        { field: 'front_image', message: 'must be one of: jpeg, png, webp, tiff, pdf' },
        { field: 'minimum_age', message: 'must be at most 120' },
        { field: 'Carmen Española', message: 'is not a known field' },
        { field: 'manifest.fields', message: 'x'.repeat(500) },
      ],
    });
    expect(outcome.issues).toEqual([
      { field: 'front_image', message: 'must be one of: jpeg, png, webp, tiff, pdf' },
      { field: 'minimum_age', message: 'must be at most 120' },
      { field: 'manifest.fields', message: 'x'.repeat(200) },
    ]);
    expect(failed({ ...at, operation: 'faceMatch' }, 'DIDIT_TIMEOUT', { spec: faceMatch, outcomeUnknown: true })).toEqual({
      schemaVersion: 1,
      ...at,
      operation: 'faceMatch',
      status: 'failed',
      errorCode: 'DIDIT_TIMEOUT',
      outcomeUnknown: true,
    });
    expect(eventDetail(skipped(at, 'MANIFEST_GONE'))).toBeUndefined();
  });
});
