import * as z from 'zod';
import { defineOperation } from './types.ts';
import {
  DOCUMENT_TYPES,
  IMAGE_TYPES,
  MB,
  alpha2,
  alpha2or3,
  boolText,
  declineAction,
  e164,
  email,
  intText,
  ipAddress,
  isoDate,
  languageList,
  locale,
  metadata,
  numericOtpCode,
  otpCode,
  poaDocumentAgeMonths,
  score,
  text,
} from './formats.ts';

// Standalone APIs (didit-api.md §5): one request, one billed answer.
//
// Every paid call here is `idempotent: false`: Didit bills each 200 and documents no idempotency
// key (§7.4), so a resend after a lost answer could bill twice. Only this module's exports are
// table entries; helpers stay private.

/** The image rule of the face endpoints (§5.2–§5.5): JPEG/PNG/WebP/TIFF, at most 5 MB, no PDF. */
const faceImage = (required: boolean) => ({ required, maxBytes: 5 * MB, types: IMAGE_TYPES });

/** Client budget of the face endpoints: one model pass over a ≤ 5 MB image, under API Gateway's 29 s. */
const FACE_TIMEOUT_MS = 25_000;

/** Fields every face endpoint takes (§5.2–§5.5), as multipart text. */
const FACE_OPTIONS = {
  rotate_image: boolText.optional(),
  save_api_request: boolText.optional(),
  vendor_data: text(256).optional(),
};

/** OTP calls are short synchronous API calls (delivery itself is asynchronous at Didit). */
const OTP_TIMEOUT_MS = 10_000;

const PAID = 'one API credit per 200 response (no free tier; 403 before processing when the balance is short)';

export const idVerification = defineOperation({
  name: 'idVerification',
  summary: 'Verify an identity document (OCR, MRZ, barcode, fraud checks)',
  route: { method: 'POST', path: '/v1/id-verification' },
  didit: { method: 'POST', path: '/v3/id-verification/' },
  body: 'multipart',
  files: {
    front_image: { required: true, maxBytes: 5 * MB, types: DOCUMENT_TYPES },
    back_image: { required: false, maxBytes: 5 * MB, types: DOCUMENT_TYPES },
  },
  input: () => z.strictObject({
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
  billing: PAID,
});

export const amlScreening = defineOperation({
  name: 'amlScreening',
  summary: 'Screen a person or company against AML, PEP, sanctions and adverse-media lists',
  route: { method: 'POST', path: '/v1/aml' },
  didit: { method: 'POST', path: '/v3/aml/' },
  body: 'json',
  input: () => z
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
      metadata: metadata.optional(),
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
  billing: PAID,
});

export const passiveLiveness = defineOperation({
  name: 'passiveLiveness',
  summary: 'Check that a single selfie shows a live person (passive liveness, blocklist and duplicate screening)',
  route: { method: 'POST', path: '/v1/passive-liveness' },
  didit: { method: 'POST', path: '/v3/passive-liveness/' },
  body: 'multipart',
  files: { user_image: faceImage(true) },
  input: () => z.strictObject({
    face_liveness_score_decline_threshold: intText(0, 100).optional(),
    ...FACE_OPTIONS,
  }),
  timeoutMs: FACE_TIMEOUT_MS,
  idempotent: false,
  billing: PAID,
});

export const faceMatch = defineOperation({
  name: 'faceMatch',
  summary: 'Compare the faces of two images (1:1 face match)',
  route: { method: 'POST', path: '/v1/face-match' },
  didit: { method: 'POST', path: '/v3/face-match/' },
  body: 'multipart',
  files: { user_image: faceImage(true), ref_image: faceImage(true) },
  input: () => z.strictObject({
    face_match_score_decline_threshold: intText(0, 100).optional(),
    ...FACE_OPTIONS,
  }),
  timeoutMs: FACE_TIMEOUT_MS,
  idempotent: false,
  billing: PAID,
});

export const faceSearch = defineOperation({
  name: 'faceSearch',
  summary: 'Search a face among previous sessions and lists (1:N: duplicates, blocklist, allowlist)',
  route: { method: 'POST', path: '/v1/face-search' },
  didit: { method: 'POST', path: '/v3/face-search/' },
  body: 'multipart',
  files: { user_image: faceImage(true) },
  input: () => z.strictObject({
    search_type: z.enum(['most_similar', 'blocklisted_or_approved']).optional(),
    ...FACE_OPTIONS,
  }),
  timeoutMs: FACE_TIMEOUT_MS,
  idempotent: false,
  billing: PAID,
});

export const ageEstimation = defineOperation({
  name: 'ageEstimation',
  summary: 'Estimate the age of the person in a selfie, with passive liveness',
  route: { method: 'POST', path: '/v1/age-estimation' },
  didit: { method: 'POST', path: '/v3/age-estimation/' },
  body: 'multipart',
  files: { user_image: faceImage(true) },
  input: () => z.strictObject({
    face_liveness_score_decline_threshold: intText(0, 100).optional(),
    // Didit: integer, default 18, 0 disables; no maximum documented, so the human range caps typos.
    age_estimation_decline_threshold: intText(0, 120).optional(),
    ...FACE_OPTIONS,
  }),
  timeoutMs: FACE_TIMEOUT_MS,
  idempotent: false,
  billing: PAID,
});

export const proofOfAddress = defineOperation({
  name: 'proofOfAddress',
  summary: 'Extract and check a proof-of-address document (utility bill, bank statement, …)',
  route: { method: 'POST', path: '/v1/poa' },
  didit: { method: 'POST', path: '/v3/poa/' },
  body: 'multipart',
  // Didit's own limit. What reaches the function is capped lower still by API Gateway (10 MB) and
  // Lambda's synchronous payload (6 MB), which answer 413 before any validation.
  files: { document: { required: true, maxBytes: 15 * MB, types: DOCUMENT_TYPES } },
  input: () => z.strictObject({
    document_password: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').optional(),
    expected_address: text(512).optional(),
    expected_country: alpha2or3.optional(),
    expected_first_name: text(128).optional(),
    expected_last_name: text(128).optional(),
    poa_languages_allowed: languageList.optional(),
    poa_document_age_months: poaDocumentAgeMonths.optional(),
    poa_name_mismatch_action: declineAction.optional(),
    poa_document_issues_action: declineAction.optional(),
    poa_document_authenticity_action: declineAction.optional(),
    poa_unsupported_language_action: declineAction.optional(),
    poa_address_mismatch_action: declineAction.optional(),
    poa_issuer_not_identified_action: declineAction.optional(),
    save_api_request: boolText.optional(),
    vendor_data: text(256).optional(),
  }),
  // LLM extraction: 5–15 s, ~30 s for multi-page PDFs; Didit asks for at least 45 s and no early
  // retry (§5.7). 60 s leaves room over the slowest documented case.
  timeoutMs: 60_000,
  idempotent: false,
  billing: PAID,
});

/** The 18 countries Didit validates against government databases (§5.8). */
const DATABASE_VALIDATION_STATES = [
  'ARG', 'BOL', 'BRA', 'CHL', 'COL', 'CRI', 'DOM', 'ECU', 'ESP', 'GTM', 'HND', 'MEX', 'PAN', 'PER', 'PRY', 'SLV', 'URY', 'VEN',
] as const;

const identificationNumber = text(64).regex(/^[A-Za-z0-9.\- ]+$/, 'must be letters, digits, dots, dashes or spaces');

export const databaseValidation = defineOperation({
  name: 'databaseValidation',
  summary: 'Validate identity data against government databases (18 countries)',
  route: { method: 'POST', path: '/v1/database-validation' },
  didit: { method: 'POST', path: '/v3/database-validation/' },
  body: 'json',
  input: () => z
    .strictObject({
      issuing_state: z.enum(DATABASE_VALIDATION_STATES, {
        error: (issue) => (issue.input === undefined ? 'is required' : `must be one of: ${DATABASE_VALIDATION_STATES.join(', ')}`),
      }),
      validation_type: z.enum(['one_by_one', 'two_by_two']).optional(),
      identification_number: identificationNumber.optional(),
      // The agent skill's name for the same field (§5.8 [?]): accepted, sent as identification_number.
      id_number: identificationNumber.optional(),
      first_name: text(128).optional(),
      last_name: text(128).optional(),
      date_of_birth: isoDate.optional(),
      document_type: z.string().regex(/^[A-Z]{1,3}$/, 'must be a document type code (e.g. P, ID, DL)').optional(),
      expiration_date: isoDate.optional(),
      // Didit documents only "string": both ISO forms are accepted (§5.8).
      nationality: alpha2or3.optional(),
      address: text(512).optional(),
      save_api_request: z.boolean().optional(),
      vendor_data: text(256).optional(),
    })
    .superRefine((v, ctx) => {
      if (v.identification_number === undefined && v.id_number === undefined) {
        ctx.addIssue({ code: 'custom', path: ['identification_number'], message: 'is required' });
      }
      if (v.identification_number !== undefined && v.id_number !== undefined && v.identification_number !== v.id_number) {
        ctx.addIssue({ code: 'custom', path: ['id_number'], message: 'is an alias of identification_number: send only one' });
      }
    }, { when: (payload) => typeof payload.value === 'object' && payload.value !== null })
    // Didit gets the documented name only; a transform on the output keeps the input schema plain
    // (an OpenAPI document generated with `io: 'input'` still shows both names).
    .transform(({ id_number, ...rest }) => (id_number === undefined ? rest : { ...rest, identification_number: rest.identification_number ?? id_number })),
  // Government registries answer slowly and unevenly; 25 s stays under API Gateway's 29 s.
  timeoutMs: 25_000,
  idempotent: false,
  billing: 'one API credit per 200 response; two_by_two costs more than one_by_one; nothing when the data is insufficient',
});

export const emailSend = defineOperation({
  name: 'emailSend',
  summary: 'Send a one-time code to an email address',
  route: { method: 'POST', path: '/v1/email/send' },
  didit: { method: 'POST', path: '/v3/email/send/' },
  body: 'json',
  input: () => z.strictObject({
    email,
    options: z
      .strictObject({
        code_size: z.number().int('must be an integer').min(4).max(8).optional(),
        alphanumeric_code: z.boolean().optional(),
        locale: locale.optional(),
        use_white_label_customization: z.boolean().optional(),
      })
      .optional(),
    signals: z
      .strictObject({
        ip: ipAddress.optional(),
        device_id: text(256).optional(),
        user_agent: text(512).optional(),
      })
      .optional(),
    vendor_data: text(256).optional(),
  }),
  timeoutMs: OTP_TIMEOUT_MS,
  // Not idempotent although Didit reuses the pending verification (§5.9): a second send returns
  // `Retry` with the same request_id but mails a new code, voids the first one (which the user may
  // already be typing), spends one of the two sends allowed, and is billed as a send.
  idempotent: false,
  billing: 'billed per email sent (Success or Retry); Undeliverable is free',
});

export const emailCheck = defineOperation({
  name: 'emailCheck',
  summary: 'Check the one-time code a user received by email',
  route: { method: 'POST', path: '/v1/email/check' },
  didit: { method: 'POST', path: '/v3/email/check/' },
  body: 'json',
  input: () => z.strictObject({
    email,
    code: otpCode,
    duplicated_email_action: declineAction.optional(),
    breached_email_action: declineAction.optional(),
    disposable_email_action: declineAction.optional(),
    undeliverable_email_action: declineAction.optional(),
  }),
  timeoutMs: OTP_TIMEOUT_MS,
  // Free, but not idempotent: each check spends one of the code's 3 attempts, and once a check
  // approves, the verification is final and a repeat no longer answers Approved (§5.9).
  idempotent: false,
  billing: 'free',
});

const DEVICE_PLATFORMS = ['android', 'ios', 'ipados', 'tvos', 'web'] as const;
const PHONE_CHANNELS = ['whatsapp', 'sms', 'telegram', 'voice', 'rcs', 'viber', 'zalo'] as const;

export const phoneSend = defineOperation({
  name: 'phoneSend',
  summary: 'Send a one-time code to a phone number (WhatsApp, SMS, …)',
  route: { method: 'POST', path: '/v1/phone/send' },
  didit: { method: 'POST', path: '/v3/phone/send/' },
  body: 'json',
  input: () => z.strictObject({
    phone_number: e164,
    options: z
      .strictObject({
        code_size: z.number().int('must be an integer').min(4).max(8).optional(),
        locale: locale.optional(),
        preferred_channel: z.enum(PHONE_CHANNELS).optional(),
      })
      .optional(),
    signals: z
      .strictObject({
        ip: ipAddress.optional(),
        device_id: text(256).optional(),
        device_platform: z.enum(DEVICE_PLATFORMS).optional(),
        device_model: text(128).optional(),
        os_version: text(64).optional(),
        app_version: text(64).optional(),
        user_agent: text(512).optional(),
      })
      .optional(),
    vendor_data: text(256).optional(),
    metadata: metadata.optional(),
  }),
  timeoutMs: OTP_TIMEOUT_MS,
  // Not idempotent, as for email (§5.10): a resend delivers and bills another message and voids the
  // code already sent.
  idempotent: false,
  billing: 'billed per message sent, priced by destination country and the channel actually used; Blocked is free',
});

export const phoneCheck = defineOperation({
  name: 'phoneCheck',
  summary: 'Check the one-time code a user received by phone',
  route: { method: 'POST', path: '/v1/phone/check' },
  didit: { method: 'POST', path: '/v3/phone/check/' },
  body: 'json',
  input: () => z.strictObject({
    phone_number: e164,
    code: numericOtpCode,
    duplicated_phone_number_action: declineAction.optional(),
    disposable_number_action: declineAction.optional(),
    voip_number_action: declineAction.optional(),
  }),
  timeoutMs: OTP_TIMEOUT_MS,
  // Free, but each check spends an attempt and an approval is final (§5.9, §5.10).
  idempotent: false,
  billing: 'free',
});
