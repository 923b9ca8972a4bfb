import type { PostprocessName } from '../operations/types.ts';
import type { GatewayDependencies } from '../runtime/dependencies.ts';

/** What a post-processing step may use. */
export interface PostprocessContext {
  readonly deps: GatewayDependencies;
  /** The validated query string of the request (e.g. `seal=true`). */
  readonly query: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/**
 * Runs the table's named post-processing step on Didit's JSON answer. It receives the answer as
 * Didit sent it (before `redact` is applied) and returns what the caller should get; redaction is
 * applied to its result afterwards, so a step can use a secret field and the caller still never
 * sees it.
 */
export async function runPostprocess(name: PostprocessName | undefined, raw: unknown, _context: PostprocessContext): Promise<unknown> {
  if (name === undefined) return raw;
  throw new Error(`postprocess step ${name} is not implemented`);
}
