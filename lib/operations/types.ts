import type { z } from 'zod';
import type { FileType } from './file-types.ts';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';

export interface FileRule {
  readonly required: boolean;
  readonly maxBytes: number;
  readonly types: readonly FileType[];
}

/**
 * One Didit operation, declared once. The handler, the serverless.yml route, validation and (later)
 * the OpenAPI document are all derived from this description; nothing operation-specific is
 * written anywhere else.
 */
export interface OperationSpec {
  /** Function and handler name, e.g. `createSession`. */
  readonly name: string;
  readonly summary: string;
  /** Our API Gateway route; path parameters as `{name}`. */
  readonly route: { readonly method: HttpMethod; readonly path: string };
  /** Didit's endpoint; the same `{name}` parameters, filled from validated values. */
  readonly didit: { readonly method: HttpMethod; readonly path: string };
  readonly body: 'none' | 'json' | 'multipart';
  /** Path parameters. Every `{name}` of both paths must be here. */
  readonly params?: z.ZodObject;
  /** Query string for GET operations. */
  readonly query?: z.ZodObject;
  /** JSON body, or the text fields of a multipart body. Unknown fields are rejected. */
  readonly input?: z.ZodType<Record<string, unknown>>;
  /** Multipart file fields. */
  readonly files?: Readonly<Record<string, FileRule>>;
  /** Time budget of the Didit call. */
  readonly timeoutMs: number;
  /**
   * Whether sending the request twice cannot cost twice or change the outcome: drives retries.
   * A function when it depends on the input (session creation is deduplicated by `vendor_data`).
   */
  readonly idempotent: boolean | ((input: Readonly<Record<string, unknown>>) => boolean);
  /** What a successful call costs, for operators reading the table. */
  readonly billing: string;
  /** Didit's success status, for the OpenAPI document (the gateway passes Didit's status on). Default 200. */
  readonly successStatus?: 200 | 201 | 204;
  /** What Didit answers: JSON (default), or a binary document passed through as is (PDF reports). */
  readonly response?: 'json' | 'binary';
  /**
   * Names of response fields, at any depth, that callers must not see (e.g. a webhook
   * `secret_shared_key`): their values are replaced by "[redacted]" before the answer leaves.
   */
  readonly redact?: readonly string[];
  /** A named step run on Didit's JSON answer before redaction (lib/runtime/postprocess.ts). */
  readonly postprocess?: PostprocessName;
}

/** Post-processing steps the table can name; each is implemented in lib/runtime/postprocess.ts. */
export type PostprocessName = 'sealWebhookSecret';

/** The schema fields of a spec, which a declaration gives as functions (built on first use). */
type SchemaKey = 'params' | 'query' | 'input';
const SCHEMA_KEYS: readonly SchemaKey[] = ['params', 'query', 'input'];

/**
 * A table entry as written in an area module: like {@link OperationSpec}, but each schema is a function
 * that builds it. Building zod schemas is most of the table's import cost, and a function serves one entry:
 * deferred, an operation function builds its own entry's schemas on its first call and never the 35 others.
 */
export type OperationDeclaration = Omit<OperationSpec, SchemaKey> & {
  readonly [K in SchemaKey]?: () => NonNullable<OperationSpec[K]>;
};

/** The spec a declaration defines: each schema function replaced by the schema it builds. */
export type DefinedOperation<T extends OperationDeclaration> = {
  readonly [K in keyof T]: K extends SchemaKey ? (T[K] extends () => infer S ? S : T[K]) : T[K];
};

/**
 * One table entry: the declaration, frozen, its schemas as properties built on first read and then kept
 * (so every reader — validation, OpenAPI, the client's types — sees the same schema object, as before).
 * Side-effect free (nothing is built here), so a bundle that does not use an entry can drop it.
 */
/* @__NO_SIDE_EFFECTS__ */
export function defineOperation<const T extends OperationDeclaration>(declaration: T): DefinedOperation<T> {
  const spec: Record<string, unknown> = { ...declaration };
  for (const key of SCHEMA_KEYS) {
    const build = declaration[key];
    if (build === undefined) continue;
    let built: unknown;
    Object.defineProperty(spec, key, { enumerable: true, get: () => (built ??= build()) });
  }
  return Object.freeze(spec) as DefinedOperation<T>;
}
