/**
 * Field checks that answer like Django REST Framework, which Didit runs on (didit-api.md §7.1):
 * a 400 body keyed by field name, each holding a list of messages.
 */

export type FieldErrors = Record<string, string[]>;

export const MESSAGES = {
  required: 'This field is required.',
  blank: 'This field may not be blank.',
  notString: 'Not a valid string.',
  notBoolean: 'Must be a valid boolean.',
  notInteger: 'A valid integer is required.',
  notUuid: 'Must be a valid UUID.',
  notUrl: 'Enter a valid URL.',
  notDate: 'Date has wrong format. Use one of these formats instead: YYYY-MM-DD.',
  noFile: 'No file was submitted.',
  emptyFile: 'The submitted file is empty.',
  notAFile: 'The submitted data was not a file. Check the encoding type on the form.',
  unknownField: 'Unknown field.',
} as const;

export function choiceMessage(value: unknown): string {
  return `"${String(value)}" is not a valid choice.`;
}

export function dictMessage(value: unknown): string {
  return `Expected a dictionary of items but got type "${jsonTypeName(value)}".`;
}

export function maxValueMessage(max: number): string {
  return `Ensure this value is less than or equal to ${max}.`;
}

export function minValueMessage(min: number): string {
  return `Ensure this value is greater than or equal to ${min}.`;
}

/** The Python type name DRF would print for a JSON value. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'NoneType';
  if (Array.isArray(value)) return 'list';
  switch (typeof value) {
    case 'string':
      return 'str';
    case 'number':
      return Number.isInteger(value) ? 'int' : 'float';
    case 'boolean':
      return 'bool';
    default:
      return 'dict';
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Hyphenated UUID, any case (DRF's UUIDField accepts both cases). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Lower-case only, like Django's `<uuid:...>` path converter: anything else does not match the route. */
const PATH_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function isPathUuid(value: string): boolean {
  return PATH_UUID.test(value);
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** YYYY-MM-DD that names a real calendar day. */
export function isIsoDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

/** Collects DRF-style errors: a list of messages per field (`non_field_errors` for cross-field rules). */
export class ErrorBag {
  readonly errors: FieldErrors = {};

  add(field: string, message: string): void {
    const list = this.errors[field];
    if (list === undefined) this.errors[field] = [message];
    else if (!list.includes(message)) list.push(message);
  }

  has(field: string): boolean {
    return this.errors[field] !== undefined;
  }

  get empty(): boolean {
    return Object.keys(this.errors).length === 0;
  }
}
