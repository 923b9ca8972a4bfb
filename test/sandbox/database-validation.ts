/**
 * `POST /v3/database-validation/`: identity data against government databases, JSON in and out
 * (didit-api.md §5.8).
 *
 * The sandbox registry knows one person under every identification number: the specimen holder
 * (CARMEN / ESPAÑOLA ESPAÑOLA, born 1980-01-01), except numbers ending in "000", which are not found.
 * Names and birth date, when given, are compared (accents and case ignored):
 * - all given data matches → `full_match`, Approved;
 * - some of the given data matches and some does not (or the name only in part) → `partial_match`, In Review;
 * - the number is not found, or none of the given data besides it matches → `no_match`, Declined.
 * The warning tags for the last two (PARTIAL_MATCH_FOUND, NO_MATCH_FOUND) are the sandbox's own:
 * the reference does not name them.
 */
import { randomUUID } from 'node:crypto';
import { jsonObjectInput } from './json-input.ts';
import type { Reply } from './reply.ts';
import { jsonReply } from './reply.ts';
import type { ParsedBody } from './request-body.ts';
import { SAMPLE_DATE_OF_BIRTH } from './sample-identity.ts';
import type { Warning } from './sample-identity.ts';
import { ErrorBag, MESSAGES, choiceMessage, isIsoDate } from './validation.ts';

export const DATABASE_VALIDATION_STATES = [
  'ARG', 'BOL', 'BRA', 'CHL', 'COL', 'CRI', 'DOM', 'ECU', 'ESP', 'GTM', 'HND', 'MEX', 'PAN', 'PER', 'PRY', 'SLV', 'URY', 'VEN',
];
const VALIDATION_TYPES = ['one_by_one', 'two_by_two'];
const REGISTRY = { first_name: 'CARMEN', last_name: 'ESPAÑOLA ESPAÑOLA', date_of_birth: SAMPLE_DATE_OF_BIRTH };
const STRING_FIELDS = ['first_name', 'last_name', 'document_type', 'nationality', 'address', 'vendor_data'] as const;

type Match = 'full_match' | 'partial_match' | 'no_match';

/** The country-specific field `identification_number` maps to (§5.8: e.g. BRA → CPF tax_number, MEX → CURP). */
function countryField(state: string): string {
  if (state === 'BRA') return 'tax_number';
  if (state === 'MEX') return 'personal_number';
  return 'document_number';
}

export function databaseValidation(body: ParsedBody): Reply {
  const input = jsonObjectInput(body);
  if (!input.ok) return input.reply;
  const data = input.value;
  const errors = new ErrorBag();

  const state = data['issuing_state'];
  if (state === undefined || state === null) errors.add('issuing_state', MESSAGES.required);
  else if (typeof state !== 'string' || !DATABASE_VALIDATION_STATES.includes(state)) errors.add('issuing_state', choiceMessage(state));

  const validationType = data['validation_type'] ?? 'one_by_one';
  if (typeof validationType !== 'string' || !VALIDATION_TYPES.includes(validationType)) {
    errors.add('validation_type', choiceMessage(validationType));
  }

  const idNumber = data['identification_number'];
  if (idNumber === undefined || idNumber === null) errors.add('identification_number', MESSAGES.required);
  else if (typeof idNumber !== 'string') errors.add('identification_number', MESSAGES.notString);
  else if (idNumber.trim() === '') errors.add('identification_number', MESSAGES.blank);

  const strings: Partial<Record<(typeof STRING_FIELDS)[number], string>> = {};
  for (const name of STRING_FIELDS) {
    const value = data[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') errors.add(name, MESSAGES.notString);
    else strings[name] = value;
  }
  for (const name of ['date_of_birth', 'expiration_date']) {
    const value = data[name];
    if (value !== undefined && value !== null && (typeof value !== 'string' || !isIsoDate(value))) errors.add(name, MESSAGES.notDate);
  }
  const save = data['save_api_request'];
  if (save !== undefined && save !== null && typeof save !== 'boolean') errors.add('save_api_request', MESSAGES.notBoolean);

  if (!errors.empty || typeof state !== 'string' || typeof idNumber !== 'string' || typeof validationType !== 'string') {
    return jsonReply(400, errors.errors);
  }

  const dateOfBirth = typeof data['date_of_birth'] === 'string' ? data['date_of_birth'] : undefined;
  const found = !idNumber.endsWith('000');
  const validation: Record<string, Match> = { identification_number: found ? 'full_match' : 'no_match' };
  if (found && (strings.first_name !== undefined || strings.last_name !== undefined)) {
    validation['full_name'] = nameMatch(strings.first_name, strings.last_name);
  }
  if (found && dateOfBirth !== undefined) validation['date_of_birth'] = dateOfBirth === REGISTRY.date_of_birth ? 'full_match' : 'no_match';

  const results = Object.values(validation);
  const matchType: Match = !found
    ? 'no_match'
    : results.every((r) => r === 'full_match')
      ? 'full_match'
      : results.filter((r) => r !== 'no_match').length > 1
        ? 'partial_match'
        : 'no_match';
  const warnings: Warning[] = [];
  if (matchType === 'partial_match') {
    warnings.push(dbWarning('PARTIAL_MATCH_FOUND', 'warning', 'Partial match', 'Only part of the data matches the government records.'));
  } else if (matchType === 'no_match') {
    warnings.push(dbWarning('NO_MATCH_FOUND', 'error', 'No match', 'The data does not match any government record.'));
  }
  const status = matchType === 'full_match' ? 'Approved' : matchType === 'partial_match' ? 'In Review' : 'Declined';

  const screened: Record<string, unknown> = { [countryField(state)]: idNumber };
  if (strings.first_name !== undefined) screened['first_name'] = strings.first_name;
  if (strings.last_name !== undefined) screened['last_name'] = strings.last_name;
  if (dateOfBirth !== undefined) screened['date_of_birth'] = dateOfBirth;
  const source = found ? { identification_number: idNumber, ...REGISTRY } : null;
  const entry = { validation, source_data: source };

  return jsonReply(200, {
    request_id: randomUUID(),
    database_validation: {
      status,
      issuing_state: state,
      validation_type: validationType,
      screened_data: screened,
      match_type: matchType,
      // Two sources answer a two_by_two validation (§5.8).
      validations: validationType === 'two_by_two' ? [entry, entry] : [entry],
      warnings,
    },
    vendor_data: strings.vendor_data ?? null,
    created_at: new Date().toISOString(),
  });
}

function nameMatch(first: string | undefined, last: string | undefined): Match {
  const given = [first, last].filter((v): v is string => v !== undefined).flatMap(tokens);
  const known = new Set(tokens(`${REGISTRY.first_name} ${REGISTRY.last_name}`));
  const hits = given.filter((t) => known.has(t)).length;
  if (hits === given.length && given.length > 0) return 'full_match';
  return hits > 0 ? 'partial_match' : 'no_match';
}

function tokens(value: string): string[] {
  return value
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .filter((t) => t !== '');
}

function dbWarning(risk: string, logType: Warning['log_type'], short: string, long: string): Warning {
  return { risk, log_type: logType, short_description: short, long_description: long, feature: 'DATABASE_VALIDATION', additional_data: null };
}
