/**
 * DRF field checks shared by the management routes (workflows, blocklist, webhook destinations):
 * each reads one field of a JSON object, records the message DRF would give, and returns the value
 * or `undefined` when the field is absent or invalid.
 */
import type { ErrorBag } from './validation.ts';
import { MESSAGES, choiceMessage, dictMessage, isRecord, isUuid, jsonTypeName, maxValueMessage, minValueMessage } from './validation.ts';

export function listMessage(value: unknown): string {
  return `Expected a list of items but got type "${jsonTypeName(value)}".`;
}

export const EMPTY_LIST = 'This list may not be empty.';

/** Absent, or explicitly null where the field is not nullable: both read as "not given" here. */
function absent(value: unknown): boolean {
  return value === undefined;
}

export function stringField(data: Record<string, unknown>, field: string, errors: ErrorBag, options: { required?: boolean; max?: number } = {}): string | undefined {
  const value = data[field];
  if (absent(value) || value === null) {
    if (options.required) errors.add(field, value === null ? 'This field may not be null.' : MESSAGES.required);
    return undefined;
  }
  if (typeof value !== 'string') return void errors.add(field, MESSAGES.notString);
  if (value.trim() === '') return void errors.add(field, MESSAGES.blank);
  if (options.max !== undefined && value.length > options.max) {
    return void errors.add(field, `Ensure this field has no more than ${options.max} characters.`);
  }
  return value;
}

export function booleanField(data: Record<string, unknown>, field: string, errors: ErrorBag): boolean | undefined {
  const value = data[field];
  if (absent(value)) return undefined;
  if (typeof value !== 'boolean') return void errors.add(field, MESSAGES.notBoolean);
  return value;
}

export function choiceField<T extends string>(data: Record<string, unknown>, field: string, choices: readonly T[], errors: ErrorBag): T | undefined {
  const value = data[field];
  if (absent(value)) return undefined;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) return void errors.add(field, choiceMessage(value));
  return value as T;
}

/** An integer in [min, max]; `nullable` lets an explicit null through as null. */
export function integerField(
  data: Record<string, unknown>,
  field: string,
  errors: ErrorBag,
  range: { min: number; max: number; nullable?: boolean },
): number | null | undefined {
  const value = data[field];
  if (absent(value)) return undefined;
  if (value === null) {
    if (range.nullable) return null;
    return void errors.add(field, 'This field may not be null.');
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) return void errors.add(field, MESSAGES.notInteger);
  if (value < range.min) return void errors.add(field, minValueMessage(range.min));
  if (value > range.max) return void errors.add(field, maxValueMessage(range.max));
  return value;
}

/** A percentage threshold (float or int, 0–100). */
export function thresholdField(data: Record<string, unknown>, field: string, errors: ErrorBag): number | undefined {
  const value = data[field];
  if (absent(value)) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) return void errors.add(field, 'A valid number is required.');
  if (value < 0) return void errors.add(field, minValueMessage(0));
  if (value > 100) return void errors.add(field, maxValueMessage(100));
  return value;
}

export function dictField(data: Record<string, unknown>, field: string, errors: ErrorBag): Record<string, unknown> | undefined {
  const value = data[field];
  if (absent(value) || value === null) return undefined;
  if (!isRecord(value)) return void errors.add(field, dictMessage(value));
  return value;
}

export function uuidField(data: Record<string, unknown>, field: string, errors: ErrorBag, required: boolean): string | undefined {
  const value = data[field];
  if (absent(value) || value === null) {
    if (required) errors.add(field, MESSAGES.required);
    return undefined;
  }
  if (typeof value !== 'string' || !isUuid(value)) return void errors.add(field, MESSAGES.notUuid);
  return value.toLowerCase();
}

/** Keys outside `known` get "Unknown field." (the v3 management serializers refuse extra keys). */
export function rejectUnknown(data: Record<string, unknown>, known: ReadonlySet<string>, errors: ErrorBag): void {
  for (const key of Object.keys(data)) if (!known.has(key)) errors.add(key, MESSAGES.unknownField);
}

/** `?offset=&limit=` of DRF's LimitOffsetPagination; a bad value is a 400 like DRF's IntegerField. */
export function pageOf(query: Readonly<Record<string, string>>, errors: ErrorBag, defaultLimit: number, maxLimit: number): { offset: number; limit: number } {
  const read = (name: string, fallback: number, min: number): number => {
    const text = query[name];
    if (text === undefined || text === '') return fallback;
    if (!/^\d+$/.test(text)) {
      errors.add(name, MESSAGES.notInteger);
      return fallback;
    }
    const n = Number(text);
    if (n < min) {
      errors.add(name, minValueMessage(min));
      return fallback;
    }
    return n;
  };
  return { offset: read('offset', 0, 0), limit: Math.min(read('limit', defaultLimit, 1), maxLimit) };
}

/** DRF's `next`/`previous` links for a page, or null. */
export function pageLinks(path: string, query: Readonly<Record<string, string>>, page: { offset: number; limit: number }, count: number): { next: string | null; previous: string | null } {
  const link = (offset: number): string => {
    const params = new URLSearchParams({ ...query, limit: String(page.limit), offset: String(offset) });
    return `https://verification.didit.me${path}?${params.toString()}`;
  };
  return {
    next: page.offset + page.limit < count ? link(page.offset + page.limit) : null,
    previous: page.offset > 0 ? link(Math.max(0, page.offset - page.limit)) : null,
  };
}
