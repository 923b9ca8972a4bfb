import type { FieldIssue } from '../errors/index.ts';

/**
 * Names that mean something to JavaScript objects. A caller-supplied key with one of these names could
 * reach `Object.prototype` through a lookup on a plain object (`rules['constructor']`), or replace an
 * object's prototype on assignment (`out['__proto__'] = …`). No Didit field uses them, so every entry
 * point refuses them (a 400), whatever else it does with the key: JSON bodies at any depth, query and
 * path names, multipart part names, queue messages, upload manifests.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export const RESERVED_NAME_MESSAGE = 'must not use the names __proto__, constructor or prototype';

export function isReservedName(name: string): boolean {
  return RESERVED_NAMES.has(name);
}

/**
 * True when `value` has a reserved key at any depth. Iterative (a hostile body may nest deeply), and it
 * reads own keys only (`Object.keys` of a JSON.parse result lists `__proto__` as the own key it is).
 */
export function hasReservedKey(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (current === null || typeof current !== 'object') continue;
    if (ArrayBuffer.isView(current)) continue;
    if (Array.isArray(current)) {
      for (const item of current) pending.push(item);
      continue;
    }
    for (const key of Object.keys(current)) {
      if (RESERVED_NAMES.has(key)) return true;
      pending.push((current as Record<string, unknown>)[key]);
    }
  }
  return false;
}

/** Adds one issue (at `field`, never the caller's key itself) when `value` holds a reserved key. */
export function checkReservedKeys(value: unknown, field: string, issues: FieldIssue[]): boolean {
  if (!hasReservedKey(value)) return true;
  issues.push({ field, message: RESERVED_NAME_MESSAGE });
  return false;
}
