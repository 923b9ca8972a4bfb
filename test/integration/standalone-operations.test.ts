import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Sandbox } from '../sandbox/index.ts';
import { JPEG, PNG, apiEvent, lambdaContext, multipartBody } from '../support/api-events.ts';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { OPERATIONS, type OperationName } from '../../lib/operations/table.ts';
import type { GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { setUpGateway, type GatewayFixture } from '../support/gateway-fixture.ts';

// The standalone operations (didit-api.md §5.2–§5.10) end to end: handler → sealed key (KMS on the
// emulator) → Didit client → sandbox. Each has a success case and a bad input that never leaves.
let sandbox: Sandbox;
let deps: GatewayDependencies;

let gateway: GatewayFixture;

beforeAll(async () => {
  gateway = await setUpGateway('standalone');
  ({ sandbox, deps } = gateway);
});

afterAll(async () => {
  await gateway?.close();
});

beforeEach(() => {
  sandbox.reset();
});

type Part = readonly [string, string | { filename: string; type: string; data: Buffer }];

function call(name: OperationName, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  // 60 s left, so PoA's budget is not cut by the invocation deadline.
  return createOperationHandler(OPERATIONS[name], { dependencies: () => deps })(event, lambdaContext({ remainingMs: 60_000 })) as Promise<APIGatewayProxyResult>;
}

function form(name: OperationName, parts: readonly Part[]): APIGatewayProxyEvent {
  const mp = multipartBody(parts);
  return apiEvent({ method: 'POST', path: OPERATIONS[name].route.path, headers: { 'content-type': mp.contentType }, body: mp.body });
}

function json(name: OperationName, payload: unknown): APIGatewayProxyEvent {
  return apiEvent({ method: 'POST', path: OPERATIONS[name].route.path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
}

const body = (r: APIGatewayProxyResult) => JSON.parse(r.body) as Record<string, any>;
const jpeg = (data: Buffer = JPEG) => ({ filename: 'face.jpg', type: 'image/jpeg', data });
const png = { filename: 'face.png', type: 'image/png', data: PNG };
const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(4096, 0x20)]);
const pdf = { filename: 'bill.pdf', type: 'application/pdf', data: PDF };
/** Another "person": a JPEG of a different size. */
const OTHER_JPEG = Buffer.concat([JPEG, Buffer.alloc(100, 9)]);

/** A 400 from our validation that names these fields, with nothing sent to Didit. */
async function expectRefused(name: OperationName, event: APIGatewayProxyEvent, fields: string[]): Promise<void> {
  const res = await call(name, event);
  expect(res.statusCode).toBe(400);
  const error = body(res).error;
  expect(error.code).toBe('VALIDATION_FAILED');
  expect(error.issues.map((i: { field: string }) => i.field).sort()).toEqual([...fields].sort());
  expect(sandbox.received.length).toBe(0);
}

describe('passive liveness', () => {
  it('approves a live face and forwards the form as sent', async () => {
    const res = await call(
      'passiveLiveness',
      form('passiveLiveness', [
        ['user_image', jpeg()],
        ['face_liveness_score_decline_threshold', '40'],
        ['rotate_image', 'false'],
        ['vendor_data', 'user-1'],
      ]),
    );
    expect(res.statusCode).toBe(200);
    expect(body(res)).toMatchObject({ liveness: { status: 'Approved', method: 'PASSIVE', score: 89.5, warnings: [] }, vendor_data: 'user-1' });
    expect(body(res).request_id).toMatch(/^[0-9a-f-]{36}$/);
    const seen = sandbox.received.at(-1)!;
    expect(seen).toMatchObject({ path: '/v3/passive-liveness/', keyMatched: true, status: 200 });
    expect(seen.files?.['user_image']).toMatchObject({ bytes: JPEG.length, mimeType: 'image/jpeg', filename: 'upload.jpg' });
    expect(seen.fields).toEqual({ face_liveness_score_decline_threshold: '40', rotate_image: 'false', vendor_data: 'user-1' });
  });

  it('declines at or under the threshold, and reports a face saved before as a duplicate', async () => {
    await call('passiveLiveness', form('passiveLiveness', [['user_image', jpeg()], ['vendor_data', 'user-1']]));
    const res = await call(
      'passiveLiveness',
      form('passiveLiveness', [['user_image', jpeg()], ['face_liveness_score_decline_threshold', '90'], ['vendor_data', 'user-2']]),
    );
    expect(body(res).liveness.status).toBe('Declined');
    expect(body(res).liveness.warnings.map((w: { risk: string }) => w.risk)).toEqual(['LOW_LIVENESS_SCORE', 'DUPLICATED_FACE']);
  });

  it('a missing image is a 400 and nothing is sent', async () => {
    await expectRefused('passiveLiveness', form('passiveLiveness', [['vendor_data', 'user-1'], ['colour', 'red']]), ['user_image', 'colour']);
  });
});

describe('face match', () => {
  it('scores the same image 99.1 and two different ones 87.6; the threshold decides', async () => {
    const same = await call('faceMatch', form('faceMatch', [['user_image', jpeg()], ['ref_image', jpeg()]]));
    expect(same.statusCode).toBe(200);
    expect(body(same).face_match).toMatchObject({ status: 'Approved', score: 99.1, warnings: [] });
    const other = await call(
      'faceMatch',
      form('faceMatch', [['user_image', jpeg()], ['ref_image', png], ['face_match_score_decline_threshold', '90']]),
    );
    expect(body(other).face_match).toMatchObject({ status: 'Declined', score: 87.6, warnings: [{ risk: 'LOW_FACE_MATCH_SIMILARITY' }] });
    expect(sandbox.received.at(-1)!.files).toMatchObject({ user_image: { mimeType: 'image/jpeg' }, ref_image: { mimeType: 'image/png' } });
  });

  it('a PDF reference and a threshold over 100 are refused before any call', async () => {
    await expectRefused(
      'faceMatch',
      form('faceMatch', [['user_image', jpeg()], ['ref_image', pdf], ['face_match_score_decline_threshold', '101']]),
      ['ref_image', 'face_match_score_decline_threshold'],
    );
  });
});

describe('face search', () => {
  it('finds a face saved earlier under another vendor_data, and declines a blocklisted one', async () => {
    await call('passiveLiveness', form('passiveLiveness', [['user_image', jpeg()], ['vendor_data', 'user-1']]));
    await call('passiveLiveness', form('passiveLiveness', [['user_image', jpeg(OTHER_JPEG)], ['vendor_data', 'user-3']]));
    const res = await call('faceSearch', form('faceSearch', [['user_image', jpeg()], ['search_type', 'most_similar'], ['vendor_data', 'user-2']]));
    expect(res.statusCode).toBe(200);
    expect(body(res).face_search).toMatchObject({ status: 'Approved', total_matches: 1, matches: [{ source: 'session', vendor_data: 'user-1', is_blocklisted: false }] });

    const blocked = await call('faceSearch', form('faceSearch', [['user_image', jpeg(OTHER_JPEG)], ['vendor_data', 'blocklisted-user']]));
    expect(body(blocked).face_search.status).toBe('Declined');
    expect(body(blocked).face_search.matches[0]).toMatchObject({ source: 'list_entry', is_blocklisted: true });
  });

  it('an unknown search_type is a 400 and nothing is sent', async () => {
    await expectRefused('faceSearch', form('faceSearch', [['user_image', jpeg()], ['search_type', 'everyone']]), ['search_type']);
  });
});

describe('age estimation', () => {
  it('answers the newer shape (top-level age_estimation); a minimum above the estimate declines', async () => {
    const res = await call('ageEstimation', form('ageEstimation', [['user_image', jpeg()]]));
    expect(res.statusCode).toBe(200);
    expect(body(res).age_estimation).toMatchObject({ status: 'Approved', method: 'PASSIVE', age_estimation: 27.4, warnings: [] });
    expect(body(res).liveness).toBeUndefined();
    const minor = await call('ageEstimation', form('ageEstimation', [['user_image', jpeg()], ['age_estimation_decline_threshold', '30']]));
    expect(body(minor).age_estimation).toMatchObject({ status: 'Declined', warnings: [{ risk: 'AGE_BELOW_MINIMUM' }] });
  });

  it('a PDF is refused (no PDF on this endpoint) and nothing is sent', async () => {
    await expectRefused('ageEstimation', form('ageEstimation', [['user_image', pdf]]), ['user_image']);
  });
});

describe('proof of address', () => {
  it('reads the document; expectations that do not match decline under their DECLINE action', async () => {
    const res = await call(
      'proofOfAddress',
      form('proofOfAddress', [
        ['document', pdf],
        ['expected_first_name', 'Carmen'],
        ['expected_address', 'Avenida de Madrid 34, Madrid'],
        ['expected_country', 'ES'],
        ['poa_languages_allowed', 'es,en'],
        ['poa_document_age_months', 'utility_bill:3,bank_statement:3'],
        ['vendor_data', 'user-1'],
      ]),
    );
    expect(res.statusCode).toBe(200);
    expect(body(res).poa).toMatchObject({
      status: 'Approved',
      document_type: 'UTILITY_BILL',
      name_on_document: 'Carmen Española Española',
      document_metadata: { file_size: PDF.length, content_type: 'application/pdf' },
      warnings: [],
    });
    expect(sandbox.received.at(-1)!.fields).toMatchObject({ poa_document_age_months: 'utility_bill:3,bank_statement:3' });

    const mismatch = await call(
      'proofOfAddress',
      form('proofOfAddress', [
        ['document', jpeg()],
        ['expected_last_name', 'Smith'],
        ['poa_languages_allowed', 'en'],
        ['poa_unsupported_language_action', 'NO_ACTION'],
      ]),
    );
    expect(body(mismatch).poa.status).toBe('Declined');
    expect(body(mismatch).poa.warnings.map((w: { risk: string; log_type: string }) => [w.risk, w.log_type])).toEqual([
      ['POA_NAME_MISMATCH', 'error'],
      ['POA_UNSUPPORTED_LANGUAGE', 'information'],
    ]);

    const old = await call('proofOfAddress', form('proofOfAddress', [['document', pdf], ['poa_document_age_months', 'utility_bill:1']]));
    expect(body(old).poa).toMatchObject({ status: 'Declined', warnings: [{ risk: 'POA_DOCUMENT_EXPIRED' }] });
  });

  it('malformed age limits and an unknown action are a 400 and nothing is sent', async () => {
    await expectRefused(
      'proofOfAddress',
      form('proofOfAddress', [['document', pdf], ['poa_document_age_months', 'utility_bill=3'], ['poa_name_mismatch_action', 'REVIEW']]),
      ['poa_document_age_months', 'poa_name_mismatch_action'],
    );
  });
});

describe('database validation', () => {
  it('full match for the registry person; the id_number alias reaches Didit as identification_number', async () => {
    const res = await call(
      'databaseValidation',
      json('databaseValidation', { issuing_state: 'BRA', identification_number: '00000000191', first_name: 'Carmen', date_of_birth: '1980-01-01' }),
    );
    expect(res.statusCode).toBe(200);
    expect(body(res).database_validation).toMatchObject({
      status: 'Approved',
      match_type: 'full_match',
      issuing_state: 'BRA',
      screened_data: { tax_number: '00000000191' },
    });

    const alias = await call('databaseValidation', json('databaseValidation', { issuing_state: 'MEX', id_number: 'GODE561231HDFRRN04', validation_type: 'two_by_two' }));
    expect(alias.statusCode).toBe(200);
    expect(sandbox.received.at(-1)!.json).toEqual({ issuing_state: 'MEX', identification_number: 'GODE561231HDFRRN04', validation_type: 'two_by_two' });
    expect(body(alias).database_validation.validations).toHaveLength(2);

    const unknown = await call('databaseValidation', json('databaseValidation', { issuing_state: 'ESP', identification_number: '12345000' }));
    expect(body(unknown).database_validation).toMatchObject({ status: 'Declined', match_type: 'no_match' });
  });

  it('an unsupported country and a missing number are a 400 and nothing is sent', async () => {
    await expectRefused('databaseValidation', json('databaseValidation', { issuing_state: 'USA', first_name: 'Ana' }), ['issuing_state', 'identification_number']);
  });
});

describe('email OTP', () => {
  it('send, resend (Retry, same request), wrong code, right code, then nothing left to check', async () => {
    const sent = await call('emailSend', json('emailSend', { email: 'ana@example.com', options: { code_size: 6, locale: 'es' }, vendor_data: 'user-1' }));
    expect(sent.statusCode).toBe(200);
    expect(body(sent)).toMatchObject({ status: 'Success', reason: null });
    const again = await call('emailSend', json('emailSend', { email: 'ana@example.com' }));
    expect(body(again)).toMatchObject({ status: 'Retry', request_id: body(sent).request_id });
    expect(sandbox.count({ pathPrefix: '/v3/email/send/' })).toBe(2);

    const wrong = await call('emailCheck', json('emailCheck', { email: 'ana@example.com', code: '654321' }));
    expect(body(wrong)).toMatchObject({ status: 'Failed', email: { verification_attempts: 1 } });
    const right = await call('emailCheck', json('emailCheck', { email: 'ana@example.com', code: '123456', breached_email_action: 'DECLINE' }));
    expect(right.statusCode).toBe(200);
    expect(body(right)).toMatchObject({ status: 'Approved', request_id: body(sent).request_id, email: { email: 'ana@example.com', is_breached: false } });
    const over = await call('emailCheck', json('emailCheck', { email: 'ana@example.com', code: '123456' }));
    expect(body(over)).toMatchObject({ status: 'Expired or Not Found', email: null });
    // Checks are not idempotent: each one went out exactly once.
    expect(sandbox.count({ pathPrefix: '/v3/email/check/' })).toBe(3);
  });

  it('an undeliverable address is answered Undeliverable, and its check Declined', async () => {
    const sent = await call('emailSend', json('emailSend', { email: 'nobody@undeliverable.example' }));
    expect(body(sent)).toMatchObject({ status: 'Undeliverable', reason: 'email_can_not_be_delivered' });
    const checked = await call('emailCheck', json('emailCheck', { email: 'nobody@undeliverable.example', code: '123456' }));
    expect(body(checked).status).toBe('Declined');
  });

  it('send: a bad address and a code size out of range are a 400 and nothing is sent', async () => {
    await expectRefused('emailSend', json('emailSend', { email: 'ana@', options: { code_size: 12 } }), ['email', 'options.code_size']);
  });

  it('check: a code that cannot be right is a 400 and spends no attempt', async () => {
    await expectRefused('emailCheck', json('emailCheck', { email: 'ana@example.com', code: '12' }), ['code']);
  });
});

describe('phone OTP', () => {
  it('send by SMS, then check: approved, with the channel used', async () => {
    const sent = await call(
      'phoneSend',
      json('phoneSend', {
        phone_number: '+34600000001',
        options: { preferred_channel: 'sms', code_size: 6 },
        signals: { ip: '203.0.113.7', device_platform: 'android' },
        vendor_data: 'user-1',
        metadata: { plan: 'gold' },
      }),
    );
    expect(sent.statusCode).toBe(200);
    expect(body(sent)).toMatchObject({ status: 'Success', vendor_data: 'user-1', metadata: { plan: 'gold' } });
    const checked = await call('phoneCheck', json('phoneCheck', { phone_number: '+34600000001', code: '123456', voip_number_action: 'DECLINE' }));
    expect(body(checked)).toMatchObject({
      status: 'Approved',
      phone: { country_code: 'ES', phone_number_prefix: '+34', verification_method: 'sms', is_virtual: false },
    });
  });

  it('an anti-fraud block is answered Blocked; a VoIP number declines under voip_number_action=DECLINE', async () => {
    expect(body(await call('phoneSend', json('phoneSend', { phone_number: '+34600000000' })))).toMatchObject({ status: 'Blocked', reason: 'suspicious' });
    await call('phoneSend', json('phoneSend', { phone_number: '+34600001111' }));
    const voip = await call('phoneCheck', json('phoneCheck', { phone_number: '+34600001111', code: '123456', voip_number_action: 'DECLINE' }));
    expect(body(voip)).toMatchObject({ status: 'Declined', phone: { is_virtual: true, warnings: [{ risk: 'VOIP_NUMBER_DETECTED' }] } });
  });

  it('send: a number without its country code and an unknown channel are a 400 and nothing is sent', async () => {
    await expectRefused('phoneSend', json('phoneSend', { phone_number: '600000001', options: { preferred_channel: 'pigeon' } }), [
      'phone_number',
      'options.preferred_channel',
    ]);
  });

  it('check: letters in a phone code are a 400 and nothing is sent', async () => {
    await expectRefused('phoneCheck', json('phoneCheck', { phone_number: '+34600000001', code: 'ABC123' }), ['code']);
  });
});

describe('multipart operations also take JSON with base64 files', () => {
  it('passive liveness and PoA: the same form reaches Didit as multipart', async () => {
    const live = await call(
      'passiveLiveness',
      json('passiveLiveness', { user_image: JPEG.toString('base64'), face_liveness_score_decline_threshold: 40, rotate_image: true, vendor_data: 'user-1' }),
    );
    expect(live.statusCode).toBe(200);
    expect(body(live).liveness.status).toBe('Approved');
    const seen = sandbox.received.at(-1)!;
    expect(seen.contentType).toMatch(/^multipart\/form-data/);
    expect(seen.files?.['user_image']).toMatchObject({ bytes: JPEG.length, mimeType: 'image/jpeg' });
    expect(seen.fields).toEqual({ face_liveness_score_decline_threshold: '40', rotate_image: 'true', vendor_data: 'user-1' });

    const poa = await call('proofOfAddress', json('proofOfAddress', { document: PDF.toString('base64'), expected_country: 'ESP', save_api_request: false }));
    expect(poa.statusCode).toBe(200);
    expect(body(poa).poa).toMatchObject({ status: 'Approved', document_metadata: { file_size: PDF.length, content_type: 'application/pdf' } });
  });

  it('a base64 PDF where only images are taken, and a non-base64 file, are a 400 and nothing is sent', async () => {
    await expectRefused('faceMatch', json('faceMatch', { user_image: PDF.toString('base64'), ref_image: 'not base64!' }), ['user_image', 'ref_image']);
  });
});

describe('proof of address and the API Gateway time limit', () => {
  it('a PoA slower than API Gateway allows: our 504 with Retry-After, sent once and never retried early', async () => {
    sandbox.inject({ fault: { kind: 'delay', ms: 1_500 }, pathPrefix: '/v3/poa/' });
    const handler = createOperationHandler(OPERATIONS.proofOfAddress, { dependencies: () => deps, apiGatewayBudgetMs: 300 });
    const res = (await handler(form('proofOfAddress', [['document', pdf]]), lambdaContext({ remainingMs: 60_000 }))) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(504);
    expect(body(res).error.code).toBe('EXCEEDS_GATEWAY_TIMEOUT');
    expect(res.headers?.['retry-after']).toBe(String(OPERATIONS.proofOfAddress.timeoutMs / 1000));
    expect(sandbox.count({ pathPrefix: '/v3/poa/' })).toBe(1);
  });
});

// The sandbox itself answers bad input the way Didit would (the gateway never lets it through, so
// these go to the sandbox directly, with the key).
describe('the sandbox refuses what Didit refuses', () => {
  function direct(path: string, payload: { json: unknown } | { parts: readonly Part[] }): Promise<{ status: number; json: Record<string, any> }> {
    const encoded =
      'json' in payload
        ? { body: Buffer.from(JSON.stringify(payload.json)), contentType: 'application/json' }
        : multipartBody(payload.parts);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${sandbox.url}${path}`, {
        method: 'POST',
        ca: sandbox.caPem,
        headers: { 'content-type': encoded.contentType, 'x-api-key': sandbox.apiKey.toString('latin1') },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
      req.end(encoded.body);
    });
  }

  it('multipart endpoints: missing, mistyped and oversized files, bad numbers and choices (DRF bodies)', async () => {
    expect(await direct('/v3/passive-liveness/', { parts: [['face_liveness_score_decline_threshold', 'high']] })).toEqual({
      status: 400,
      json: { user_image: ['No file was submitted.'], face_liveness_score_decline_threshold: ['A valid integer is required.'] },
    });
    const pdfFace = await direct('/v3/age-estimation/', { parts: [['user_image', pdf], ['age_estimation_decline_threshold', '-1']] });
    expect(pdfFace.json).toEqual({
      user_image: ['Unsupported file format. Allowed formats: JPEG, PNG, WebP, TIFF.'],
      age_estimation_decline_threshold: ['Ensure this value is greater than or equal to 0.'],
    });
    const big = Buffer.concat([PDF, Buffer.alloc(15 * 1024 * 1024)]);
    expect((await direct('/v3/poa/', { parts: [['document', { ...pdf, data: big }]] })).json).toEqual({
      document: ['File size exceeds the maximum allowed size of 15 MB.'],
    });
    expect((await direct('/v3/face-match/', { parts: [['user_image', jpeg(Buffer.concat([JPEG, Buffer.alloc(5 * 1024 * 1024)]))]] })).json).toEqual({
      user_image: ['File size exceeds the maximum allowed size of 5 MB.'],
      ref_image: ['No file was submitted.'],
    });
    expect((await direct('/v3/face-search/', { parts: [['user_image', jpeg()], ['search_type', 'all']] })).json).toEqual({
      search_type: ['"all" is not a valid choice.'],
    });
  });

  it('JSON endpoints: required fields, choices and nested objects', async () => {
    expect(await direct('/v3/database-validation/', { json: { issuing_state: 'USA' } })).toEqual({
      status: 400,
      json: { issuing_state: ['"USA" is not a valid choice.'], identification_number: ['This field is required.'] },
    });
    expect((await direct('/v3/email/send/', { json: { email: 'x', options: { code_size: 3 } } })).json).toEqual({
      email: ['Enter a valid email address.'],
      options: { code_size: ['Ensure this value is greater than or equal to 4.'] },
    });
    expect((await direct('/v3/phone/send/', { json: { phone_number: '+3460000000000000000000' } })).json).toEqual({
      phone_number: ['Ensure this field has no more than 20 characters.'],
    });
    expect((await direct('/v3/phone/check/', { json: { phone_number: '+34600000001', voip_number_action: 'BLOCK' } })).json).toEqual({
      code: ['This field is required.'],
      voip_number_action: ['"BLOCK" is not a valid choice.'],
    });
  });

  it('three wrong codes spend the verification', async () => {
    await direct('/v3/email/send/', { json: { email: 'eve@example.com' } });
    const statuses: string[] = [];
    for (const code of ['000000', '111111', '222222', '123456']) {
      statuses.push((await direct('/v3/email/check/', { json: { email: 'eve@example.com', code } })).json['status']);
    }
    expect(statuses).toEqual(['Failed', 'Failed', 'Failed', 'Expired or Not Found']);
  });
});
