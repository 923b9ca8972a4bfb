import type { OperationSpec } from '../operations/types.ts';

/**
 * Whether a call of this operation counts against the daily cap of paid Didit calls. The operation table's
 * `billing` text decides: exactly `free` (or `free (…)`, the management API's wording) is free; anything
 * else counts, including "free to create; billed when the user completes it" (a session created is spend to
 * come) and "not documented": when the table is unsure, the cap errs on the side of the money.
 */
export function isPaidOperation(spec: Pick<OperationSpec, 'billing'>): boolean {
  return !(spec.billing === 'free' || spec.billing.startsWith('free ('));
}
