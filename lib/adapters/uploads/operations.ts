import { OPERATIONS } from '../../operations/table.ts';
import type { OperationSpec } from '../../operations/types.ts';

/** The operations an upload may run: table entries that take files (idVerification, faceMatch, …). */
export function uploadOperation(name: string): OperationSpec | undefined {
  if (!Object.hasOwn(OPERATIONS, name)) return undefined;
  const spec: OperationSpec = OPERATIONS[name as keyof typeof OPERATIONS];
  return spec.files !== undefined && Object.keys(spec.files).length > 0 ? spec : undefined;
}

export function uploadOperationNames(): string[] {
  return Object.keys(OPERATIONS).filter((name) => uploadOperation(name) !== undefined);
}
