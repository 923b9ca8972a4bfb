import type { OperationSpec } from './types.ts';
import * as sessions from './sessions.ts';
import * as standalone from './standalone.ts';
import * as management from './management.ts';

/**
 * Every operation the gateway exposes, by function name: the union of the area modules. Adding one
 * is an entry in its area module, its sandbox behaviour and a test; the handler, the serverless.yml
 * function (`npm run generate`) and the OpenAPI document follow from the entry.
 *
 * @example
 * ```ts
 * const spec = OPERATIONS.retrieveDecision; // OperationSpec: route, Didit path, schemas, timeoutMs, billing, …
 * for (const [name, spec] of Object.entries(OPERATIONS)) console.log(name, spec.route.method, spec.route.path);
 * ```
 */
export const OPERATIONS = { ...sessions, ...standalone, ...management } as const satisfies Record<string, OperationSpec>;

export type OperationName = keyof typeof OPERATIONS;
/**
 * The table entry a function serves (its OPERATION variable). Unknown names fail at init, loudly: the
 * module of functions/operation.ts does not load, so a misnamed function never answers at all.
 *
 * @example
 * ```ts
 * export const handler = traced(createOperationHandler(operationNamed(loadOperationName())));
 * ```
 * @throws {Error} when `name` is absent or not an own key of {@link OPERATIONS} (`constructor` is not an entry).
 */
export function operationNamed(name: string | undefined): OperationSpec {
  if (name === undefined || !Object.hasOwn(OPERATIONS, name)) {
    throw new Error(`OPERATION must name an entry of the operation table (got ${name === undefined ? 'nothing' : JSON.stringify(name)})`);
  }
  return OPERATIONS[name as OperationName];
}
