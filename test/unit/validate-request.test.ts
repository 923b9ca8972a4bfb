import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { validateRequest } from '../../lib/adapters/http/validate-request.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../../lib/errors/index.ts';
import { JPEG, PNG, apiEvent, multipartBody } from '../support/api-events.ts';

const WORKFLOW = '11111111-2222-4333-8444-555555555555';
const json = (body: unknown) => ({ headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

async function issuesOf(promise: Promise<unknown>): Promise<Record<string, string>> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ValidationError) return Object.fromEntries(err.issues.map((i) => [i.field, i.message]));
    throw err;
  }
  throw new Error('expected a validation error');
}

describe('createSession validation', () => {
  const spec = OPERATIONS.createSession;
  it('accepts a documented body', async () => {
    const valid = await validateRequest(
      spec,
      apiEvent({
        method: 'POST',
        path: '/v1/sessions',
        ...json({
          workflow_id: WORKFLOW,
          vendor_data: 'user-42',
          callback: 'https://example.com/done',
          callback_method: 'both',
          language: 'pt-BR',
          contact_details: { email: 'a@example.com', phone: '+34600000000' },
          expected_details: { date_of_birth: '1990-02-28', nationality: 'ESP', gender: null },
          metadata: { plan: 'gold' },
        }),
      }),
    );
    expect(valid.input['workflow_id']).toBe(WORKFLOW);
  });

  it('lists every bad field at once', async () => {
    const issues = await issuesOf(
      validateRequest(
        spec,
        apiEvent({
          method: 'POST',
          path: '/v1/sessions',
          ...json({
            workflow_id: 'nope',
            callback: 'javascript:alert(1)',
            callback_method: 'sometimes',
            contact_details: { phone: '600000000' },
            expected_details: { date_of_birth: '1990-02-30', nationality: 'ES' },
            surprise: true,
          }),
        }),
      ),
    );
    expect(Object.keys(issues).sort()).toEqual(
      [
        'callback',
        'callback_method',
        'contact_details.phone',
        'expected_details.date_of_birth',
        'expected_details.nationality',
        'surprise',
        'workflow_id',
      ].sort(),
    );
    expect(issues['surprise']).toBe('is not a known field');
  });

  it('requires workflow_id and a JSON object body', async () => {
    expect(await issuesOf(validateRequest(spec, apiEvent({ method: 'POST', path: '/', ...json({}) })))).toEqual({
      workflow_id: 'is required',
    });
    const notJson = apiEvent({ method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body: '{oops' });
    expect(await issuesOf(validateRequest(spec, notJson))).toEqual({ body: 'must be a JSON object' });
    const array = apiEvent({ method: 'POST', path: '/', ...json([1]) });
    expect(await issuesOf(validateRequest(spec, array))).toEqual({ body: 'must be a JSON object' });
  });

  it('answers 415 to a non-JSON content type and 413 to oversized bodies', async () => {
    await expect(
      validateRequest(spec, apiEvent({ method: 'POST', path: '/', headers: { 'content-type': 'text/plain' }, body: '{}' })),
    ).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
    const huge = apiEvent({ method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body: ' '.repeat(3 * 1024 * 1024) });
    await expect(validateRequest(spec, huge)).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  it('checks the portrait is an image of at most 1 MB', async () => {
    const bad = await issuesOf(
      validateRequest(spec, apiEvent({ method: 'POST', path: '/', ...json({ workflow_id: WORKFLOW, portrait_image: Buffer.from('GIF89a-not-allowed').toString('base64') }) })),
    );
    expect(bad['portrait_image']).toMatch(/JPEG, PNG/);
    const big = Buffer.concat([JPEG, Buffer.alloc(1024 * 1024)]).toString('base64');
    const tooBig = await issuesOf(validateRequest(spec, apiEvent({ method: 'POST', path: '/', ...json({ workflow_id: WORKFLOW, portrait_image: big }) })));
    expect(tooBig['portrait_image']).toMatch(/1 MB/);
    const ok = await validateRequest(spec, apiEvent({ method: 'POST', path: '/', ...json({ workflow_id: WORKFLOW, portrait_image: PNG.toString('base64') }) }));
    expect(ok.input['portrait_image']).toBeTypeOf('string');
  });
});

describe('retrieveDecision validation', () => {
  const spec = OPERATIONS.retrieveDecision;
  it('takes a UUID session id and nothing else', async () => {
    const ok = await validateRequest(spec, apiEvent({ method: 'GET', path: '/', pathParameters: { sessionId: WORKFLOW } }));
    expect(ok.params['sessionId']).toBe(WORKFLOW);
    for (const sessionId of ['../../v3/sessions', '11111111-2222-4333-8444-55555555555%2F', 'x']) {
      const issues = await issuesOf(validateRequest(spec, apiEvent({ method: 'GET', path: '/', pathParameters: { sessionId } })));
      expect(issues['path.sessionId']).toBe('must be a UUID');
    }
    const withBody = await issuesOf(
      validateRequest(spec, apiEvent({ method: 'GET', path: '/', pathParameters: { sessionId: WORKFLOW }, body: 'x' })),
    );
    expect(withBody).toEqual({ body: 'this operation takes no body' });
    const withQuery = await issuesOf(
      validateRequest(spec, apiEvent({ method: 'GET', path: '/', pathParameters: { sessionId: WORKFLOW }, query: { a: '1' } })),
    );
    expect(withQuery).toEqual({ 'query.a': 'is not a known field' });
  });
});

describe('idVerification validation', () => {
  const spec = OPERATIONS.idVerification;
  const event = (parts: Parameters<typeof multipartBody>[0]) => {
    const { body, contentType } = multipartBody(parts);
    return apiEvent({ method: 'POST', path: '/', headers: { 'content-type': contentType }, body });
  };

  it('accepts images by their bytes and renames them', async () => {
    const valid = await validateRequest(
      spec,
      event([
        ['front_image', { filename: 'C:\\Users\\Ana Garcia\\dni.jpg', type: 'application/octet-stream', data: JPEG }],
        ['back_image', { filename: 'b.png', type: 'image/png', data: PNG }],
        ['minimum_age', '18'],
        ['save_api_request', 'false'],
      ]),
    );
    expect(valid.files['front_image']).toMatchObject({ filename: 'upload.jpg', contentType: 'image/jpeg' });
    expect(valid.files['back_image']?.contentType).toBe('image/png');
    expect(valid.input).toEqual({ minimum_age: '18', save_api_request: 'false' });
  });

  it('rejects missing, oversized, mistyped and unknown parts', async () => {
    const tooBig = Buffer.concat([JPEG, Buffer.alloc(5 * 1024 * 1024)]);
    const issues = await issuesOf(
      validateRequest(
        spec,
        event([
          ['back_image', { filename: 'x.gif', type: 'image/gif', data: Buffer.from('GIF89a........') }],
          ['selfie', { filename: 's.jpg', type: 'image/jpeg', data: JPEG }],
          ['minimum_age', '0'],
          ['invalid_mrz_action', 'MAYBE'],
          ['perform_document_liveness', 'yes'],
        ]),
      ),
    );
    expect(issues).toMatchObject({
      front_image: 'is required',
      selfie: 'is not a known file field',
      minimum_age: 'must be between 1 and 120',
      perform_document_liveness: 'must be "true" or "false"',
    });
    expect(issues['back_image']).toMatch(/must be one of/);
    expect(issues['invalid_mrz_action']).toBeDefined();
    const big = await issuesOf(validateRequest(spec, event([['front_image', { filename: 'f.jpg', type: 'image/jpeg', data: tooBig }]])));
    expect(big['front_image']).toBe('must be at most 5 MB');
  });

  it('also takes JSON with the files as base64 and scalars for the text fields', async () => {
    const valid = await validateRequest(
      spec,
      apiEvent({ method: 'POST', path: '/', ...json({ front_image: JPEG.toString('base64'), minimum_age: 18, save_api_request: false }) }),
    );
    expect(valid.files['front_image']).toMatchObject({ filename: 'upload.jpg', contentType: 'image/jpeg' });
    expect(Buffer.compare(valid.files['front_image']!.data, JPEG)).toBe(0);
    expect(valid.input).toEqual({ minimum_age: '18', save_api_request: 'false' });
    const issues = await issuesOf(
      validateRequest(
        spec,
        apiEvent({
          method: 'POST',
          path: '/',
          ...json({ back_image: 'not base64!', minimum_age: { n: 1 }, front_image: Buffer.concat([JPEG, Buffer.alloc(5 * 1024 * 1024)]).toString('base64') }),
        }),
      ),
    );
    expect(issues).toEqual({
      back_image: 'must be a base64 string',
      minimum_age: 'must be a string, number or boolean',
      front_image: 'must be at most 5 MB',
    });
  });

  it('answers 415 to other content types', async () => {
    await expect(
      validateRequest(spec, apiEvent({ method: 'POST', path: '/', headers: { 'content-type': 'text/plain' }, body: 'x' })),
    ).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
  });
});

describe('amlScreening validation', () => {
  const spec = OPERATIONS.amlScreening;
  it('applies the documented cross-field rules', async () => {
    const ok = await validateRequest(spec, apiEvent({ method: 'POST', path: '/', ...json({ full_name: 'Ana García', nationality: 'ES', aml_name_weight: 70, aml_dob_weight: 15 }) }));
    expect(ok.input['full_name']).toBe('Ana García');
    const issues = await issuesOf(
      validateRequest(
        spec,
        apiEvent({
          method: 'POST',
          path: '/',
          ...json({
            full_name: '',
            nationality: 'ESP',
            aml_name_weight: 50,
            aml_score_approve_threshold: 90,
            aml_score_review_threshold: 85,
            include_ongoing_monitoring: true,
            save_api_request: false,
          }),
        }),
      ),
    );
    expect(Object.keys(issues).sort()).toEqual(
      ['aml_name_weight', 'aml_score_approve_threshold', 'full_name', 'include_ongoing_monitoring', 'nationality'].sort(),
    );
  });
});

describe('redact', () => {
  it('replaces the named fields at any depth and leaves the rest', async () => {
    const { redact } = await import('../../lib/runtime/redact.ts');
    const answer = { uuid: 'u', secret_shared_key: 's3cr3t', results: [{ secret_shared_key: 'x', label: 'a' }], nested: { deeper: { secret_shared_key: 'y' } } };
    expect(redact(answer, ['secret_shared_key'])).toEqual({
      uuid: 'u',
      secret_shared_key: '[redacted]',
      results: [{ secret_shared_key: '[redacted]', label: 'a' }],
      nested: { deeper: { secret_shared_key: '[redacted]' } },
    });
    expect(redact(answer, undefined)).toBe(answer);
  });
});

describe('validateStructured (queues, events, uploads)', () => {
  it('applies the same schemas to structured input, files given as bytes or base64', async () => {
    const { validateStructured } = await import('../../lib/validation/request.ts');
    const idv = validateStructured(OPERATIONS.idVerification, { body: { minimum_age: 18 }, files: { front_image: JPEG } });
    expect(idv.files['front_image']?.contentType).toBe('image/jpeg');
    expect(idv.input).toEqual({ minimum_age: '18' });
    const decision = validateStructured(OPERATIONS.retrieveDecision, { params: { sessionId: WORKFLOW } });
    expect(decision.params['sessionId']).toBe(WORKFLOW);
    expect(() => validateStructured(OPERATIONS.retrieveDecision, { params: { sessionId: '../x' }, body: { a: 1 } })).toThrow(ValidationError);
    let caught: unknown;
    try {
      validateStructured(OPERATIONS.idVerification, { files: { front_image: Buffer.from('GIF89a'), selfie: JPEG } });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).issues.map((i) => i.field).sort()).toEqual(['front_image', 'selfie']);
  });
});

// Issue 8, finding 3: a caller-supplied name must never reach Object.prototype (a 500 before the fix).
describe('prototype-named fields', () => {
  const RESERVED = ['__proto__', 'constructor', 'prototype'];
  const raw = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    apiEvent({ method: 'POST', path: '/', headers, body });
  const reservedIssue = (issues: Record<string, string>) => Object.values(issues).some((m) => /__proto__, constructor or prototype/.test(m));

  it('are a 400 in the JSON-with-base64 form of every multipart operation', async () => {
    const multipart = Object.values(OPERATIONS).filter((spec) => spec.body === 'multipart');
    expect(multipart.length).toBeGreaterThan(0);
    for (const spec of multipart) {
      for (const name of RESERVED) {
        const issues = await issuesOf(validateRequest(spec, raw(`{"${name}":"AAAA"}`)));
        expect(reservedIssue(issues), `${spec.name} ${name}`).toBe(true);
      }
    }
  });

  it('are a 400 in JSON bodies at any depth, in query and path names, and as multipart part names', async () => {
    for (const name of RESERVED) {
      const nested = `{"workflow_id":"${WORKFLOW}","metadata":{"a":[{"${name}":{"x":1}}]}}`;
      expect(reservedIssue(await issuesOf(validateRequest(OPERATIONS.createSession, raw(nested)))), name).toBe(true);
      const query = apiEvent({ method: 'GET', path: '/', query: { [name]: 'x' }, pathParameters: { sessionId: WORKFLOW } });
      expect(reservedIssue(await issuesOf(validateRequest(OPERATIONS.retrieveDecision, query))), name).toBe(true);
      const { body, contentType } = multipartBody([
        ['front_image', { filename: 'f.jpg', type: 'image/jpeg', data: JPEG }],
        [name, 'x'],
      ]);
      const form = apiEvent({ method: 'POST', path: '/', headers: { 'content-type': contentType }, body });
      expect(reservedIssue(await issuesOf(validateRequest(OPERATIONS.idVerification, form))), name).toBe(true);
      const asFile = multipartBody([[name, { filename: 'f.jpg', type: 'image/jpeg', data: JPEG }]]);
      const fileForm = apiEvent({ method: 'POST', path: '/', headers: { 'content-type': asFile.contentType }, body: asFile.body });
      expect(reservedIssue(await issuesOf(validateRequest(OPERATIONS.idVerification, fileForm))), name).toBe(true);
    }
    expect(Object.prototype).not.toHaveProperty('AAAA');
  });

  it('are a 400 in structured input (queue messages, manifests, events)', async () => {
    const { validateStructured } = await import('../../lib/validation/request.ts');
    for (const name of RESERVED) {
      const body = JSON.parse(`{"${name}":"AAAA","minimum_age":18}`) as Record<string, unknown>;
      expect(() => validateStructured(OPERATIONS.idVerification, { body, files: { front_image: JPEG } }), name).toThrow(ValidationError);
      expect(() => validateStructured(OPERATIONS.idVerification, { files: JSON.parse(`{"${name}":[1]}`) })).toThrow(ValidationError);
      expect(() => validateStructured(OPERATIONS.retrieveDecision, { params: { sessionId: WORKFLOW }, query: JSON.parse(`{"${name}":"x"}`) })).toThrow(
        ValidationError,
      );
    }
  });
});

// Issue 8, finding 5: busboy drops parts past its limits silently; the request must be refused instead.
describe('multipart limits', () => {
  const form = (parts: Parameters<typeof multipartBody>[0]) => {
    const { body, contentType } = multipartBody(parts);
    return apiEvent({ method: 'POST', path: '/', headers: { 'content-type': contentType }, body });
  };
  const front = ['front_image', { filename: 'f.jpg', type: 'image/jpeg', data: JPEG }] as const;

  it('answers 413 when there are more parts, fields or files than the limits, instead of dropping some', async () => {
    const manyFields = Array.from({ length: 40 }, (_, i) => [`field_${i}`, 'x'] as const);
    await expect(validateRequest(OPERATIONS.idVerification, form([front, ...manyFields]))).rejects.toBeInstanceOf(PayloadTooLargeError);
    const manyParts = Array.from({ length: 45 }, () => front);
    await expect(validateRequest(OPERATIONS.idVerification, form(manyParts))).rejects.toBeInstanceOf(PayloadTooLargeError);
    // Exactly what is allowed still gets its ordinary answer (an unknown field is a 400, not a 413).
    await expect(validateRequest(OPERATIONS.idVerification, form([front, ['minimum_age', '18']]))).resolves.toBeDefined();
  });
});

// Fuzz finding: busboy destroys the open file stream of an unterminated body with `Unexpected end of form`;
// with no listener on that stream the error was thrown on the process (a Lambda runtime dies with it).
describe('multipart stream errors', () => {
  it('answers 400 to a body with valid parts and no close delimiter, and throws nothing on the process', async () => {
    const { body, contentType } = multipartBody([['front_image', { filename: 'f.jpg', type: 'image/jpeg', data: JPEG }]]);
    const boundary = contentType.split('boundary=')[1]!;
    const unterminated = body.subarray(0, body.length - `--${boundary}--\r\n`.length);
    expect(unterminated.includes(Buffer.from(`--${boundary}--`))).toBe(false);
    const thrown: unknown[] = [];
    const onUncaught = (err: unknown) => thrown.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const event = apiEvent({ method: 'POST', path: '/', headers: { 'content-type': contentType }, body: unterminated });
      expect(await issuesOf(validateRequest(OPERATIONS.idVerification, event))).toMatchObject({ body: 'is not valid multipart/form-data' });
      // busboy emits the stream's error on a later tick: let every pending tick and immediate run first.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(thrown).toEqual([]);
  });
});

// Fuzz finding: busboy skips a part whose headers it cannot read; the second `user_image` vanished, so the
// "given more than once" check never saw it and Didit was paid for input the caller did not send.
describe('multipart parts busboy cannot read', () => {
  const spec = OPERATIONS.faceSearch;
  const image = ['user_image', { filename: 'u.jpg', type: 'image/jpeg', data: JPEG }] as const;

  it('answers 400 when a part has a malformed Content-Disposition, instead of dropping it', async () => {
    const { body, contentType } = multipartBody([image, image]);
    const text = body.toString('latin1');
    const second = text.lastIndexOf('filename="u.jpg"');
    const malformed = Buffer.from(`${text.slice(0, second)}filename="a"b.jpg"${text.slice(second + 'filename="u.jpg"'.length)}`, 'latin1');
    const event = apiEvent({ method: 'POST', path: '/', headers: { 'content-type': contentType }, body: malformed });
    expect(await issuesOf(validateRequest(spec, event))).toEqual({ body: 'a multipart part could not be read' });
  });

  it('answers 400 to a part with no Content-Disposition at all', async () => {
    const { body, contentType } = multipartBody([image, ['x', 'y']]);
    const broken = Buffer.from(body.toString('latin1').replace('Content-Disposition: form-data; name="x"', 'X-Other: 1'), 'latin1');
    const event = apiEvent({ method: 'POST', path: '/', headers: { 'content-type': contentType }, body: broken });
    expect(await issuesOf(validateRequest(spec, event))).toEqual({ body: 'a multipart part could not be read' });
  });

  it('still accepts a valid body, with a preamble, a quoted boundary and an epilogue', async () => {
    const { body, contentType } = multipartBody([image]);
    const boundary = contentType.split('boundary=')[1]!;
    const framed = Buffer.concat([Buffer.from('preamble\r\n'), body, Buffer.from(`epilogue\r\n--${boundary}\r\nignored`)]);
    const event = apiEvent({ method: 'POST', path: '/', headers: { 'content-type': `multipart/form-data; boundary="${boundary}"` }, body: framed });
    const valid = await validateRequest(spec, event);
    expect(valid.files['user_image']?.contentType).toBe('image/jpeg');
  });
});

// The class behind the webhook URL finding: whatever a refinement throws on hostile input is a 400, not a 500.
describe('a schema refinement that throws', () => {
  it('is a validation failure naming no internal message', async () => {
    const spec = {
      ...OPERATIONS.createWebhookDestination,
      input: z.strictObject({
        url: z.string().refine((v) => {
          throw new TypeError(`internal detail about ${v}`);
        }),
      }),
    };
    const event = apiEvent({ method: 'POST', path: '/', ...json({ url: 'ZQXJ' }) });
    expect(await issuesOf(validateRequest(spec, event))).toEqual({ body: 'is not valid' });
  });
});
