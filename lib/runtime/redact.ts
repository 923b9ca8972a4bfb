/** What replaces a sealed secret in an answer (lib/runtime/postprocess.ts); kept as is by redaction. */
export const SEALED_MARKER = '[sealed]';

/** Replaces the values of the named fields, at any depth, so a caller never sees them. */
export function redact(value: unknown, fields: readonly string[] | undefined): unknown {
  if (fields === undefined || fields.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    // fromEntries defines own properties: a `__proto__` key in Didit's answer stays a key (an assignment
    // would replace the copy's prototype and drop it from the answer).
    return Object.fromEntries(
      Object.entries(v).map(([k, inner]) => [k, fields.includes(k) && inner !== null && inner !== undefined && inner !== SEALED_MARKER ? '[redacted]' : walk(inner)]),
    );
  };
  return walk(value);
}
