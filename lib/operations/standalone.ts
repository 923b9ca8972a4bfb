import { z } from 'zod';
import { defineOperation } from './types.ts';
import { DOCUMENT_TYPES, MB, alpha2, boolText, declineAction, intText, isoDate, score, text } from './formats.ts';

// Standalone APIs (didit-api.md §5): one request, one billed answer.

export 
const idVerification = defineOperation({
  name: 'idVerification',
  summary: 'Verify an identity document (OCR, MRZ, barcode, fraud checks)',
  route: { method: 'POST', path: '/v1/id-verification' },
  didit: { method: 'POST', path: '/v3/id-verification/' },
  body: 'multipart',
  files: {
    front_image: { required: true, maxBytes: 5 * MB, types: DOCUMENT_TYPES },
    back_image: { required: false, maxBytes: 5 * MB, types: DOCUMENT_TYPES },
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

export const amlScreening = defineOperation({
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

