/**
 * `POST /v3/poa/`: proof of address, multipart in, JSON out (didit-api.md §5.7).
 *
 * The sandbox "reads" the same document every time: a Spanish electricity bill in Spanish, issued
 * 40 days ago to the specimen holder (Carmen Española Española, Avenida de Madrid 34, Madrid). The
 * request's expectations and policies decide the outcome, deterministically:
 * - `expected_first_name` / `expected_last_name` not in the name on the bill → POA_NAME_MISMATCH;
 * - `expected_address` not mentioning Madrid, or `expected_country` other than ES/ESP → POA_ADDRESS_MISMATCH;
 * - `poa_languages_allowed` without `es` → POA_UNSUPPORTED_LANGUAGE;
 * - `poa_document_age_months` giving utility bills 1 month → POA_DOCUMENT_EXPIRED (always declines).
 * Each configurable warning declines under its `*_action` = DECLINE (the default) and is
 * informational under NO_ACTION.
 */
import { randomUUID } from 'node:crypto';
import type { DocumentFormat } from './id-verification.ts';
import type { Reply } from './reply.ts';
import { jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import { SAMPLE_DATE_OF_BIRTH } from './sample-identity.ts';
import type { Warning } from './sample-identity.ts';
import { DOCUMENT_FORMATS, MB, openForm } from './standalone-form.ts';

export const MAX_POA_BYTES = 15 * MB;
/** How old the sandbox's bill is. */
export const POA_DOCUMENT_AGE_DAYS = 40;
const NAME_ON_DOCUMENT = 'Carmen Española Española';
const DOCUMENT_LANGUAGE = 'es';
const DEFAULT_AGE_MONTHS = 3;
const MIME_TYPES: Record<DocumentFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  tiff: 'image/tiff',
  pdf: 'application/pdf',
};

const ACTIONS = ['DECLINE', 'NO_ACTION'] as const;
type Action = (typeof ACTIONS)[number];
const ACTION_FIELDS = [
  'poa_name_mismatch_action',
  'poa_document_issues_action',
  'poa_document_authenticity_action',
  'poa_unsupported_language_action',
  'poa_address_mismatch_action',
  'poa_issuer_not_identified_action',
] as const;
type ActionField = (typeof ACTION_FIELDS)[number];
const TEXT_FIELDS = [
  'document_password',
  'expected_address',
  'expected_country',
  'expected_first_name',
  'expected_last_name',
  'poa_languages_allowed',
  'poa_document_age_months',
  ...ACTION_FIELDS,
  'save_api_request',
  'vendor_data',
];
const AGE_MONTHS = /^[a-z][a-z_]*:\d+(,[a-z][a-z_]*:\d+)*$/;

export function proofOfAddress(body: ParsedBody): Reply {
  const opened = openForm(body, {
    files: { document: { required: true, maxBytes: MAX_POA_BYTES, formats: DOCUMENT_FORMATS } },
    text: TEXT_FIELDS,
  });
  if (!opened.ok) return opened.reply;
  const form = opened.form;
  const { errors } = form;

  form.text('document_password');
  const expectedAddress = form.text('expected_address');
  const expectedCountry = form.text('expected_country');
  if (expectedCountry !== undefined && !/^[A-Za-z]{2,3}$/.test(expectedCountry)) {
    errors.add('expected_country', 'Enter a valid ISO 3166-1 country code.');
  }
  const expectedFirstName = form.text('expected_first_name');
  const expectedLastName = form.text('expected_last_name');
  const languagesText = form.text('poa_languages_allowed');
  const ageText = form.text('poa_document_age_months');
  let ageLimits = new Map<string, number>();
  if (ageText !== undefined && ageText.trim() !== '') {
    if (!AGE_MONTHS.test(ageText)) {
      errors.add('poa_document_age_months', 'Invalid format. Use comma-separated key:value pairs, e.g. utility_bill:3,bank_statement:3.');
    } else {
      ageLimits = new Map(ageText.split(',').map((pair) => [pair.split(':')[0] ?? '', Number(pair.split(':')[1])]));
    }
  }
  const actions = {} as Record<ActionField, Action>;
  for (const name of ACTION_FIELDS) actions[name] = form.choice(name, ACTIONS) ?? 'DECLINE';
  form.boolean('save_api_request');
  const vendorData = form.text('vendor_data') ?? null;
  const document = form.files.get('document');
  if (!errors.empty || document === undefined) return jsonReply(400, errors.errors);

  const warnings: Warning[] = [];
  const configurable = (field: ActionField, risk: string, short: string, long: string): void => {
    warnings.push({
      risk,
      log_type: actions[field] === 'DECLINE' ? 'error' : 'information',
      short_description: short,
      long_description: long,
      feature: 'POA',
      additional_data: null,
    });
  };
  const nameOnDocument = normalise(NAME_ON_DOCUMENT);
  for (const expected of [expectedFirstName, expectedLastName]) {
    if (expected !== undefined && !nameOnDocument.includes(normalise(expected))) {
      configurable('poa_name_mismatch_action', 'POA_NAME_MISMATCH', 'Name mismatch', 'The name on the document does not match the expected name.');
      break;
    }
  }
  const addressMismatch =
    (expectedAddress !== undefined && !normalise(expectedAddress).includes('madrid')) ||
    (expectedCountry !== undefined && !['ES', 'ESP'].includes(expectedCountry.toUpperCase()));
  if (addressMismatch) {
    configurable('poa_address_mismatch_action', 'POA_ADDRESS_MISMATCH', 'Address mismatch', 'The address on the document does not match the expected address.');
  }
  if (languagesText !== undefined && languagesText.trim() !== '') {
    const allowed = languagesText.split(',').map((code) => code.trim().toLowerCase().slice(0, 2));
    if (!allowed.includes(DOCUMENT_LANGUAGE)) {
      configurable('poa_unsupported_language_action', 'POA_UNSUPPORTED_LANGUAGE', 'Unsupported language', 'The document language is not among the allowed languages.');
    }
  }
  const issued = new Date(Date.now() - POA_DOCUMENT_AGE_DAYS * 86_400_000);
  const limitMonths = ageLimits.get('utility_bill') ?? DEFAULT_AGE_MONTHS;
  const oldestAccepted = new Date();
  oldestAccepted.setUTCMonth(oldestAccepted.getUTCMonth() - limitMonths);
  if (issued < oldestAccepted) {
    warnings.push({
      risk: 'POA_DOCUMENT_EXPIRED',
      log_type: 'error',
      short_description: 'Document too old',
      long_description: `The document was issued more than ${limitMonths} month(s) ago.`,
      feature: 'POA',
      additional_data: null,
    });
  }

  const status = warnings.some((w) => w.log_type === 'error') ? 'Declined' : 'Approved';
  const day = (date: Date): string => date.toISOString().slice(0, 10);
  const poa = {
    status,
    issuing_state: 'ES',
    document_type: 'UTILITY_BILL',
    document_subtype: 'ELECTRICITY_BILL',
    document_language: DOCUMENT_LANGUAGE,
    document_metadata: {
      file_size: document.upload.bytes,
      content_type: MIME_TYPES[document.format],
      creation_date: day(issued),
      modified_date: day(issued),
    },
    issuer: 'Sandbox Energía S.A.',
    issue_date: day(issued),
    expiration_date: null,
    poa_address: 'AVDA DE MADRID 34, 28001 MADRID',
    poa_formatted_address: 'Avenida de Madrid 34, 28001 Madrid, Spain',
    poa_parsed_address: {
      address_type: 'Avenida',
      street_1: 'Avenida de Madrid 34',
      street_2: null,
      city: 'Madrid',
      region: 'Madrid',
      country: 'ES',
      postal_code: '28001',
      document_location: { latitude: 40.4168, longitude: -3.7038 },
    },
    expected_details_address: expectedAddress ?? null,
    expected_details_formatted_address: null,
    expected_details_parsed_address: {},
    name_on_document: NAME_ON_DOCUMENT,
    extra_fields: { holder_date_of_birth: SAMPLE_DATE_OF_BIRTH, contract_number: 'SANDBOX-0001' },
    warnings,
  };
  return jsonReply(200, { request_id: randomUUID(), poa, vendor_data: vendorData, created_at: new Date().toISOString() });
}

/** Lower case, without accents or punctuation, single spaces. */
function normalise(value: string): string {
  return value
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}
