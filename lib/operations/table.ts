import { z } from 'zod';
import { defineOperation, type OperationSpec } from './types.ts';
import { alpha2, alpha3, boolText, declineAction, e164, intText, isoDate, score, text, uuid } from './formats.ts';
import { sniffFileType } from './file-types.ts';

const MB = 1024 * 1024;

/** Base64 text of at most `maxBytes` decoded bytes that is an image (§3.1 portrait_image). */
const base64Image = (maxBytes: number) =>
  z
    .string()
    .max(Math.ceil(maxBytes / 3) * 4 + 4, `must be at most ${maxBytes / MB} MB once decoded`)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')
    .refine((v) => {
      const kind = sniffFileType(Buffer.from(v.slice(0, 24), 'base64'));
      return kind === 'jpeg' || kind === 'png' || kind === 'webp' || kind === 'tiff';
    }, 'must be a JPEG, PNG, WebP or TIFF image');

const createSession = defineOperation({
  name: 'createSession',
  summary: 'Create a verification session (hosted flow) for a workflow',
  route: { method: 'POST', path: '/v1/sessions' },
  didit: { method: 'POST', path: '/v3/session/' },
  body: 'json',
  input: z.strictObject({
    workflow_id: uuid,
    vendor_data: text(256).optional(),
    callback: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048).optional(),
    callback_method: z.enum(['initiator', 'completer', 'both']).optional(),
    metadata: z.union([z.record(z.string(), z.unknown()), z.string().max(4096)]).optional(),
    language: z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/, 'must be an ISO 639-1 code (e.g. en, pt-BR)').optional(),
    contact_details: z
      .strictObject({
        email: z.email({ message: 'must be an email address' }).optional(),
        send_notification_emails: z.boolean().optional(),
        email_lang: z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/).optional(),
        phone: e164.optional(),
      })
      .optional(),
    expected_details: z
      .strictObject({
        first_name: text(128).optional(),
        last_name: text(128).optional(),
        date_of_birth: isoDate.optional(),
        gender: z.enum(['M', 'F']).nullable().optional(),
        nationality: alpha3.optional(),
        country: alpha3.optional(),
        id_country: alpha3.optional(),
        poa_country: alpha3.optional(),
        address: text(512).optional(),
        identification_number: text(64).optional(),
        ip_address: z.union([z.ipv4(), z.ipv6()], { message: 'must be an IP address' }).optional(),
        expected_document_types: z.array(z.string().regex(/^[A-Z]{1,3}$/)).max(10).optional(),
      })
      .optional(),
    portrait_image: base64Image(1 * MB).optional(),
  }),
  timeoutMs: 10_000,
  // Didit returns the same unfinished session for the same workflow and vendor_data (§3.1).
  idempotent: (input) => typeof input['vendor_data'] === 'string',
  billing: 'free to create; the session is billed when the user completes it',
});

const retrieveDecision = defineOperation({
  name: 'retrieveDecision',
  summary: "Retrieve a session's decision",
  route: { method: 'GET', path: '/v1/sessions/{sessionId}/decision' },
  didit: { method: 'GET', path: '/v3/session/{sessionId}/decision/' },
  body: 'none',
  params: z.strictObject({ sessionId: uuid }),
  timeoutMs: 10_000,
  idempotent: true,
  billing: 'free',
});

const imageTypes = ['jpeg', 'png', 'webp', 'tiff', 'pdf'] as const;

const idVerification = defineOperation({
  name: 'idVerification',
  summary: 'Verify an identity document (OCR, MRZ, barcode, fraud checks)',
  route: { method: 'POST', path: '/v1/id-verification' },
  didit: { method: 'POST', path: '/v3/id-verification/' },
  body: 'multipart',
  files: {
    front_image: { required: true, maxBytes: 5 * MB, types: imageTypes },
    back_image: { required: false, maxBytes: 5 * MB, types: imageTypes },
  },
  input: z.strictObject({
    perform_document_liveness: boolText.optional(),
    minimum_age: intText(1, 120).optional(),
    expiration_date_not_detected_action: declineAction.optional(),
    invalid_mrz_action: declineAction.optional(),
    inconsistent_data_action: declineAction.optional(),
    preferred_characters: z.string().regex(/^[a-z_]{2,32}$/).optional(),
    save_api_request: boolText.optional(),
    vendor_data: text(256).optional(),
  }),
  timeoutMs: 25_000,
  idempotent: false,
  billing: 'one API credit per 200 response',
});

const amlScreening = defineOperation({
  name: 'amlScreening',
  summary: 'Screen a person or company against AML, PEP, sanctions and adverse-media lists',
  route: { method: 'POST', path: '/v1/aml' },
  didit: { method: 'POST', path: '/v3/aml/' },
  body: 'json',
  input: z
    .strictObject({
      full_name: text(256),
      entity_type: z.enum(['person', 'company']).optional(),
      date_of_birth: isoDate.optional(),
      nationality: alpha2.optional(),
      document_number: text(64).optional(),
      aml_name_weight: score.optional(),
      aml_dob_weight: score.optional(),
      aml_country_weight: score.optional(),
      aml_match_score_threshold: score.optional(),
      aml_score_approve_threshold: score.optional(),
      aml_score_review_threshold: score.optional(),
      include_adverse_media: z.boolean().optional(),
      include_ongoing_monitoring: z.boolean().optional(),
      save_api_request: z.boolean().optional(),
      vendor_data: text(256).optional(),
      metadata: z.union([z.record(z.string(), z.unknown()), z.string().max(4096)]).optional(),
    })
    .superRefine((v, ctx) => {
      // Didit fills missing weights with 60/25/15 and requires the three to sum to 100 (§5.6).
      const weights = [v.aml_name_weight ?? 60, v.aml_dob_weight ?? 25, v.aml_country_weight ?? 15];
      if (weights.reduce((a, b) => a + b, 0) !== 100) {
        ctx.addIssue({ code: 'custom', path: ['aml_name_weight'], message: 'name, dob and country weights must sum to 100' });
      }
      if ((v.aml_score_approve_threshold ?? 80) > (v.aml_score_review_threshold ?? 100)) {
        ctx.addIssue({ code: 'custom', path: ['aml_score_approve_threshold'], message: 'must not exceed aml_score_review_threshold' });
      }
      if (v.include_ongoing_monitoring === true && v.save_api_request === false) {
        ctx.addIssue({ code: 'custom', path: ['include_ongoing_monitoring'], message: 'requires save_api_request to be true' });
      }
    }),
  // Adverse media adds up to ~30 s; Didit advises a client timeout of at least 60 s (§5.6).
  timeoutMs: 60_000,
  idempotent: false,
  billing: 'one API credit per 200 response',
});

/** Every operation the gateway exposes. Adding one: an entry here, its sandbox behaviour, a test. */
export const OPERATIONS = { createSession, retrieveDecision, idVerification, amlScreening } as const satisfies Record<
  string,
  OperationSpec
>;

export type OperationName = keyof typeof OPERATIONS;

/** The table entry a function serves (its OPERATION variable). Unknown names fail at init, loudly. */
export function operationNamed(name: string | undefined): OperationSpec {
  if (name === undefined || !Object.hasOwn(OPERATIONS, name)) {
    throw new Error(`OPERATION must name an entry of the operation table (got ${name === undefined ? 'nothing' : JSON.stringify(name)})`);
  }
  return OPERATIONS[name as OperationName];
}
