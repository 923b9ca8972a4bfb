/** What replaces a sealed secret in an answer (lib/http/postprocess.ts); kept as is by redaction. */
export const SEALED_MARKER = '[sealed]';

/** Replaces the values of the named fields, at any depth, so a caller never sees them. */
export function redact(value: unknown, fields: readonly string[] | undefined): unknown {
  if (fields === undefined || fields.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, inner] of Object.entries(v)) {
      out[k] = fields.includes(k) && inner !== null && inner !== undefined && inner !== SEALED_MARKER ? '[redacted]' : walk(inner);
    }
    return out;
  };
  return walk(value);
}
