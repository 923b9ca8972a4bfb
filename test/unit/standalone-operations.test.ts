import { describe, expect, it } from 'vitest';
import { validateRequest } from '../../lib/adapters/http/validate-request.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import * as standalone from '../../lib/operations/standalone.ts';
import type { OperationSpec } from '../../lib/operations/types.ts';
import { ValidationError } from '../../lib/errors/index.ts';
import { JPEG, PNG, apiEvent, multipartBody } from '../support/api-events.ts';

// Validation of the standalone operations (didit-api.md §5), without Didit: what passes, what is refused.

type Part = readonly [string, string | { filename: string; type: string; data: Buffer }];

const jpeg = (data: Buffer = JPEG) => ({ filename: 'face.jpg', type: 'image/jpeg', data });
const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(1024, 0x20)]);
const TIFF = Buffer.concat([Buffer.from([0x49, 0x49, 0x2a, 0x00]), Buffer.alloc(256, 3)]);

function multipartEvent(spec: OperationSpec, parts: readonly Part[]) {
  const mp = multipartBody(parts);
  return apiEvent({ method: 'POST', path: spec.route.path, headers: { 'content-type': mp.contentType }, body: mp.body });
}

function jsonEvent(spec: OperationSpec, body: unknown) {
  return apiEvent({ method: 'POST', path: spec.route.path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function issuesOf(promise: Promise<unknown>): Promise<Record<string, string>> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ValidationError) return Object.fromEntries(err.issues.map((i) => [i.field, i.message]));
    throw err;
  }
  throw new Error('expected a validation error');
}

describe('the standalone entries of the table', () => {
  const names = Object.keys(standalone);

  it('are all in OPERATIONS, POST, under /v1 and on a slashed /v3 Didit path', () => {
    expect(names.sort()).toEqual(
      [
        'ageEstimation',
        'amlScreening',
        'databaseValidation',
        'emailCheck',
        'emailSend',
        'faceMatch',
        'faceSearch',
        'idVerification',
        'passiveLiveness',
        'phoneCheck',
        'phoneSend',
        'proofOfAddress',
      ].sort(),
    );
    for (const [name, spec] of Object.entries(standalone)) {
      expect(OPERATIONS[name as keyof typeof OPERATIONS]).toBe(spec);
      expect(spec.name).toBe(name);
      expect(spec.route.method).toBe('POST');
      expect(spec.route.path).toMatch(/^\/v1\/[a-z/-]+$/);
      expect(spec.didit.path).toMatch(/^\/v3\/[a-z/-]+\/$/);
    }
  });

  it('never resend: every call is billed, or spends an OTP attempt', () => {
    for (const spec of Object.values(standalone)) expect(spec.idempotent).toBe(false);
  });

  it('give PoA at least the 45 s Didit asks for, and the OTP and face calls short budgets', () => {
    expect(standalone.proofOfAddress.timeoutMs).toBeGreaterThanOrEqual(45_000);
    for (const spec of [standalone.emailSend, standalone.emailCheck, standalone.phoneSend, standalone.phoneCheck]) {
      expect(spec.timeoutMs).toBeLessThanOrEqual(10_000);
    }
    for (const spec of [standalone.passiveLiveness, standalone.faceMatch, standalone.faceSearch, standalone.ageEstimation]) {
      expect(spec.timeoutMs).toBeLessThan(29_000);
    }
  });
});

describe('passiveLiveness', () => {
  const spec = standalone.passiveLiveness;
  it('accepts an image and the documented fields', async () => {
    const valid = await validateRequest(
      spec,
      multipartEvent(spec, [
        ['user_image', jpeg()],
        ['face_liveness_score_decline_threshold', '45'],
        ['rotate_image', 'true'],
        ['save_api_request', 'false'],
        ['vendor_data', 'user-1'],
      ]),
    );
    expect(valid.files['user_image']).toMatchObject({ contentType: 'image/jpeg' });
    expect(valid.input).toEqual({ face_liveness_score_decline_threshold: '45', rotate_image: 'true', save_api_request: 'false', vendor_data: 'user-1' });
  });

  it('refuses a missing image, a PDF, a threshold over 100 and unknown fields, all at once', async () => {
    expect(await issuesOf(validateRequest(spec, multipartEvent(spec, [['vendor_data', 'x']])))).toEqual({ user_image: 'is required' });
    const issues = await issuesOf(
      validateRequest(
        spec,
        multipartEvent(spec, [
          ['user_image', { filename: 'a.pdf', type: 'application/pdf', data: PDF }],
          ['face_liveness_score_decline_threshold', '101'],
          ['rotate_image', 'yes'],
          ['ref_image', jpeg()],
        ]),
      ),
    );
    expect(issues).toEqual({
      user_image: 'must be one of: jpeg, png, webp, tiff',
      face_liveness_score_decline_threshold: 'must be between 0 and 100',
      rotate_image: 'must be "true" or "false"',
      ref_image: 'is not a known file field',
    });
  });

  it('refuses an image over 5 MB', async () => {
    const big = Buffer.concat([JPEG, Buffer.alloc(5 * 1024 * 1024)]);
    expect(await issuesOf(validateRequest(spec, multipartEvent(spec, [['user_image', jpeg(big)]])))).toEqual({
      user_image: 'must be at most 5 MB',
    });
  });
});

describe('faceMatch', () => {
  const spec = standalone.faceMatch;
  it('needs both images', async () => {
    const valid = await validateRequest(
      spec,
      multipartEvent(spec, [
        ['user_image', jpeg()],
        ['ref_image', { filename: 'r.png', type: 'image/png', data: PNG }],
        ['face_match_score_decline_threshold', '0'],
      ]),
    );
    expect(Object.keys(valid.files).sort()).toEqual(['ref_image', 'user_image']);
    expect(await issuesOf(validateRequest(spec, multipartEvent(spec, [['user_image', jpeg()]])))).toEqual({ ref_image: 'is required' });
  });

  it('refuses a non-integer threshold and a text part where a file belongs', async () => {
    const issues = await issuesOf(
      validateRequest(
        spec,
        multipartEvent(spec, [
          ['user_image', jpeg()],
          ['ref_image', 'https://example.com/face.jpg'],
          ['face_match_score_decline_threshold', '30.5'],
        ]),
      ),
    );
    expect(issues).toEqual({ ref_image: 'must be a file', face_match_score_decline_threshold: 'must be a whole number' });
  });
});

describe('faceSearch', () => {
  const spec = standalone.faceSearch;
  it('accepts both search types and refuses others', async () => {
    for (const searchType of ['most_similar', 'blocklisted_or_approved']) {
      const valid = await validateRequest(spec, multipartEvent(spec, [['user_image', jpeg()], ['search_type', searchType]]));
      expect(valid.input['search_type']).toBe(searchType);
    }
    const issues = await issuesOf(validateRequest(spec, multipartEvent(spec, [['user_image', jpeg()], ['search_type', 'everything']])));
    expect(Object.keys(issues)).toEqual(['search_type']);
  });
});

describe('ageEstimation', () => {
  const spec = standalone.ageEstimation;
  it('accepts a TIFF and an age threshold of 0 (disabled)', async () => {
    const valid = await validateRequest(
      spec,
      multipartEvent(spec, [
        ['user_image', { filename: 'f.tif', type: 'image/tiff', data: TIFF }],
        ['age_estimation_decline_threshold', '0'],
      ]),
    );
    expect(valid.files['user_image']?.contentType).toBe('image/tiff');
  });

  it('refuses a PDF and a negative or absurd age threshold', async () => {
    const issues = await issuesOf(
      validateRequest(
        spec,
        multipartEvent(spec, [
          ['user_image', { filename: 'f.pdf', type: 'application/pdf', data: PDF }],
          ['age_estimation_decline_threshold', '-1'],
        ]),
      ),
    );
    expect(Object.keys(issues).sort()).toEqual(['age_estimation_decline_threshold', 'user_image']);
    expect(await issuesOf(validateRequest(spec, multipartEvent(spec, [['user_image', jpeg()], ['age_estimation_decline_threshold', '500']])))).toEqual({
      age_estimation_decline_threshold: 'must be between 0 and 120',
    });
  });
});

describe('proofOfAddress', () => {
  const spec = standalone.proofOfAddress;
  it('accepts a PDF with every documented field', async () => {
    const parts: Part[] = [
      ['document', { filename: 'bill.pdf', type: 'application/pdf', data: PDF }],
      ['document_password', 's3cret'],
      ['expected_address', 'Avenida de Madrid 34, Madrid'],
      ['expected_country', 'ES'],
      ['expected_first_name', 'Carmen'],
      ['expected_last_name', 'Española'],
      ['poa_languages_allowed', 'es,en'],
      ['poa_document_age_months', 'utility_bill:3,bank_statement:3,government_issued_document:3'],
      ['poa_name_mismatch_action', 'DECLINE'],
      ['poa_document_issues_action', 'NO_ACTION'],
      ['poa_document_authenticity_action', 'DECLINE'],
      ['poa_unsupported_language_action', 'NO_ACTION'],
      ['poa_address_mismatch_action', 'DECLINE'],
      ['poa_issuer_not_identified_action', 'NO_ACTION'],
      ['save_api_request', 'true'],
      ['vendor_data', 'user-1'],
    ];
    const valid = await validateRequest(spec, multipartEvent(spec, parts));
    expect(valid.files['document']?.contentType).toBe('application/pdf');
    expect(Object.keys(valid.input)).toHaveLength(parts.length - 1);
  });

  it('takes documents up to 15 MB, not more (Didit limit; API Gateway caps lower in production)', async () => {
    const spec15 = spec.files.document;
    expect(spec15.maxBytes).toBe(15 * 1024 * 1024);
    const big = Buffer.concat([PDF, Buffer.alloc(8 * 1024 * 1024)]);
    // 8 MB passes the 15 MB rule (under the 10 MB request cap).
    await expect(validateRequest(spec, multipartEvent(spec, [['document', { filename: 'b.pdf', type: 'application/pdf', data: big }]]))).resolves.toBeDefined();
  });

  it('refuses malformed age limits, actions and countries', async () => {
    const issues = await issuesOf(
      validateRequest(
        spec,
        multipartEvent(spec, [
          ['document', jpeg()],
          ['poa_document_age_months', 'utility_bill=3'],
          ['poa_address_mismatch_action', 'REVIEW'],
          ['expected_country', 'Spain'],
          ['poa_languages_allowed', 'spanish please!'],
        ]),
      ),
    );
    expect(Object.keys(issues).sort()).toEqual(['expected_country', 'poa_address_mismatch_action', 'poa_document_age_months', 'poa_languages_allowed']);
    expect(
      await issuesOf(validateRequest(spec, multipartEvent(spec, [['document', jpeg()], ['poa_document_age_months', 'utility_bill:3,utility_bill:6']]))),
    ).toEqual({ poa_document_age_months: 'must name each document type once' });
    expect(
      await issuesOf(validateRequest(spec, multipartEvent(spec, [['document', jpeg()], ['poa_document_age_months', 'utility_bill:0']]))),
    ).toEqual({ poa_document_age_months: 'months must be at least 1' });
  });
});

describe('databaseValidation', () => {
  const spec = standalone.databaseValidation;
  it('accepts the documented body and sends it unchanged', async () => {
    const body = {
      issuing_state: 'BRA',
      validation_type: 'two_by_two',
      identification_number: '00000000191',
      first_name: 'Jane',
      last_name: 'Doe',
      date_of_birth: '1990-01-15',
      document_type: 'ID',
      expiration_date: '2030-12-25',
      nationality: 'BRA',
      address: 'Rua A 1, São Paulo',
      save_api_request: true,
      vendor_data: 'user-1',
    };
    expect((await validateRequest(spec, jsonEvent(spec, body))).input).toEqual(body);
  });

  it('accepts the skill’s id_number as an alias, sent as identification_number', async () => {
    const valid = await validateRequest(spec, jsonEvent(spec, { issuing_state: 'MEX', id_number: 'GODE561231HDFRRN04' }));
    expect(valid.input).toEqual({ issuing_state: 'MEX', identification_number: 'GODE561231HDFRRN04' });
    const same = await validateRequest(spec, jsonEvent(spec, { issuing_state: 'MEX', id_number: 'A1', identification_number: 'A1' }));
    expect(same.input).toEqual({ issuing_state: 'MEX', identification_number: 'A1' });
    expect(await issuesOf(validateRequest(spec, jsonEvent(spec, { issuing_state: 'MEX', id_number: 'A1', identification_number: 'B2' })))).toEqual({
      id_number: 'is an alias of identification_number: send only one',
    });
  });

  it('lists every problem at once, including the missing number next to field errors', async () => {
    const issues = await issuesOf(
      validateRequest(spec, jsonEvent(spec, { validation_type: 'three_by_three', date_of_birth: '1990-02-30', nationality: 'brazil', surprise: 1 })),
    );
    expect(issues).toEqual({
      issuing_state: 'is required',
      validation_type: expect.any(String),
      date_of_birth: 'must be a date as YYYY-MM-DD',
      nationality: 'must be an ISO 3166-1 alpha-2 or alpha-3 code (e.g. ES or ESP)',
      surprise: 'is not a known field',
      identification_number: 'is required',
    });
    expect(await issuesOf(validateRequest(spec, jsonEvent(spec, { issuing_state: 'USA', identification_number: '1' })))).toEqual({
      issuing_state: expect.stringContaining('must be one of: ARG'),
    });
  });
});

describe('email OTP', () => {
  it('send: accepts options and signals, refuses bad ones field by field', async () => {
    const spec = standalone.emailSend;
    const body = {
      email: 'ana@example.com',
      options: { code_size: 8, alphanumeric_code: true, locale: 'es', use_white_label_customization: false },
      signals: { ip: '203.0.113.7', device_id: 'dev-1', user_agent: 'Mozilla/5.0' },
      vendor_data: 'user-1',
    };
    expect((await validateRequest(spec, jsonEvent(spec, body))).input).toEqual(body);
    const issues = await issuesOf(
      validateRequest(spec, jsonEvent(spec, { email: 'not-an-email', options: { code_size: 3, colour: 'red' }, signals: { ip: '999.1.1.1' } })),
    );
    expect(Object.keys(issues).sort()).toEqual(['email', 'options.code_size', 'options.colour', 'signals.ip']);
  });

  it('check: codes of 4–8 letters or digits', async () => {
    const spec = standalone.emailCheck;
    for (const code of ['1234', 'A1B2C3', '12345678']) {
      await expect(validateRequest(spec, jsonEvent(spec, { email: 'ana@example.com', code }))).resolves.toBeDefined();
    }
    for (const code of ['123', '123456789', '12 34', 123456]) {
      const issues = await issuesOf(validateRequest(spec, jsonEvent(spec, { email: 'ana@example.com', code })));
      expect(Object.keys(issues)).toEqual(['code']);
    }
    const actions = await issuesOf(
      validateRequest(spec, jsonEvent(spec, { email: 'ana@example.com', code: '123456', breached_email_action: 'BLOCK', disposable_email_action: 'DECLINE' })),
    );
    expect(Object.keys(actions)).toEqual(['breached_email_action']);
  });
});

describe('phone OTP', () => {
  it('send: E.164 number, documented channels and platforms, metadata', async () => {
    const spec = standalone.phoneSend;
    const body = {
      phone_number: '+34600000001',
      options: { code_size: 6, locale: 'es', preferred_channel: 'sms' },
      signals: {
        ip: '2001:db8::1',
        device_id: 'd',
        device_platform: 'ios',
        device_model: 'iPhone15,2',
        os_version: '17.4',
        app_version: '2.1.0',
        user_agent: 'App/2.1',
      },
      vendor_data: 'user-1',
      metadata: { plan: 'gold' },
    };
    expect((await validateRequest(spec, jsonEvent(spec, body))).input).toEqual(body);
    const issues = await issuesOf(
      validateRequest(
        spec,
        jsonEvent(spec, { phone_number: '600000001', options: { preferred_channel: 'pigeon', alphanumeric_code: true }, signals: { device_platform: 'blackberry' } }),
      ),
    );
    expect(Object.keys(issues).sort()).toEqual(['options.alphanumeric_code', 'options.preferred_channel', 'phone_number', 'signals.device_platform']);
    expect(await issuesOf(validateRequest(spec, jsonEvent(spec, {})))).toEqual({ phone_number: 'is required' });
  });

  it('check: digits only (no alphanumeric phone codes), actions DECLINE|NO_ACTION', async () => {
    const spec = standalone.phoneCheck;
    const ok = { phone_number: '+34600000001', code: '123456', duplicated_phone_number_action: 'DECLINE', disposable_number_action: 'NO_ACTION', voip_number_action: 'DECLINE' };
    expect((await validateRequest(spec, jsonEvent(spec, ok))).input).toEqual(ok);
    const issues = await issuesOf(validateRequest(spec, jsonEvent(spec, { phone_number: '+34600000001', code: 'A1B2C3', voip_number_action: 'decline' })));
    expect(issues).toEqual({ code: 'must be 4 to 8 digits', voip_number_action: expect.any(String) });
  });
});
