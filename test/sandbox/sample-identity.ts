/**
 * The one fake identity document the sandbox "reads": the Spanish specimen ID card holder, so
 * results look like Didit's (didit-api.md §3.2, §5.1) while containing nobody's real data.
 *
 * Media URLs are null, which is what Didit returns to a key without media access (§1.1): clients must
 * cope with it anyway, and the sandbox has no media to serve.
 */

export const SAMPLE_DATE_OF_BIRTH = '1980-01-01';

export interface Warning {
  risk: string;
  log_type: 'error' | 'warning' | 'information';
  short_description: string;
  long_description: string;
  feature?: string;
  additional_data?: Record<string, unknown> | null;
}

/** Whole years between a YYYY-MM-DD birth date and now (UTC). */
export function ageOn(dateOfBirth: string, now: Date = new Date()): number {
  const [year = 0, month = 1, day = 1] = dateOfBirth.split('-').map(Number);
  let age = now.getUTCFullYear() - year;
  const beforeBirthday = now.getUTCMonth() + 1 < month || (now.getUTCMonth() + 1 === month && now.getUTCDate() < day);
  if (beforeBirthday) age -= 1;
  return age;
}

export function minimumAgeWarning(minimumAge: number, age: number): Warning {
  return {
    risk: 'MINIMUM_AGE_NOT_MET',
    log_type: 'error',
    short_description: 'Minimum age not met',
    long_description: `The document holder is ${age} years old, below the required minimum age of ${minimumAge}.`,
    feature: 'ID_VERIFICATION',
    additional_data: null,
  };
}

/** The `id_verification` object of the standalone API, also used as an `id_verifications[]` item. */
export function idVerificationResult(options: { status: string; warnings?: Warning[]; nodeId?: string }): Record<string, unknown> {
  const result: Record<string, unknown> = {
    status: options.status,
    document_type: 'Identity Card',
    document_subtype: 'National Identity Card',
    document_number: 'SANDBOX123',
    personal_number: '99999999R',
    portrait_image: null,
    front_image: null,
    back_image: null,
    front_video: null,
    back_video: null,
    full_front_image: null,
    full_back_image: null,
    date_of_birth: SAMPLE_DATE_OF_BIRTH,
    age: ageOn(SAMPLE_DATE_OF_BIRTH),
    expiration_date: '2035-06-02',
    date_of_issue: '2025-06-02',
    issuing_state: 'ESP',
    issuing_state_name: 'Spain',
    first_name: 'Carmen',
    last_name: 'Española Española',
    full_name: 'Carmen Española Española',
    gender: 'F',
    address: 'Avda de Madrid 34, Madrid, Madrid',
    formatted_address: 'Avenida de Madrid 34, 28001 Madrid, Spain',
    parsed_address: {
      street_1: 'Avenida de Madrid 34',
      street_2: null,
      city: 'Madrid',
      region: 'Madrid',
      postal_code: '28001',
      country: 'ES',
      geometry: { location: { lat: 40.4168, lng: -3.7038 } },
    },
    place_of_birth: 'Madrid',
    marital_status: 'UNKNOWN',
    nationality: 'ESP',
    region: 'Madrid',
    extra_fields: { first_surname: 'Española', second_surname: 'Española' },
    mrz: null,
    front_image_quality_score: { focus_score: 92.1, brightness_score: 81.4, glare_score: 98.0, overall_score: 90.5 },
    warnings: options.warnings ?? [],
  };
  return options.nodeId === undefined ? result : { node_id: options.nodeId, ...result };
}
