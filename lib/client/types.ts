/**
 * The client's types, derived from the operation table: each operation's arguments are the *input*
 * types of its zod schemas (what a caller may send, before defaults and transforms), so a change to
 * the table changes the client's signature with it. Nothing here is written per operation.
 */
import type { z } from 'zod';
import type { OPERATIONS } from '../operations/table.ts';

export type Operations = typeof OPERATIONS;
export type OperationName = keyof Operations;

/** A file to upload: the bytes, and optionally the name and type to announce (the gateway sniffs the type anyway). */
export interface FileInput {
  readonly data: Uint8Array;
  /** Default: the field name with the sniffed type's extension. */
  readonly filename?: string;
  /** Default: sniffed from the first bytes (JPEG, PNG, WebP, TIFF, PDF), else application/octet-stream. */
  readonly contentType?: string;
}

/** How a multipart operation's body is sent: multipart/form-data (default), or JSON with files as base64. */
export type BodyEncoding = 'multipart' | 'json-base64';

/** `{ key: T }`, or `{ key?: T }` when T has no required field (a caller may leave it out entirely). */
// biome-ignore lint/complexity/noBannedTypes: `{}` is the type that every all-optional object accepts.
type Slot<K extends string, T> = {} extends T ? { readonly [P in K]?: T } : { readonly [P in K]: T };

// biome-ignore lint/complexity/noBannedTypes: an operation without that part adds no argument.
type Nothing = {};

type ParamsArg<S> = S extends { readonly params: infer P extends z.ZodType } ? Slot<'params', z.input<P>> : Nothing;
type QueryArg<S> = S extends { readonly query: infer Q extends z.ZodType } ? Slot<'query', z.input<Q>> : Nothing;
type InputArg<S> = S extends { readonly input: infer I extends z.ZodType } ? Slot<'input', z.input<I>> : Nothing;

/** File fields: the ones the table marks `required: true` must be given. */
type FileFields<F> = {
  readonly [K in keyof F as F[K] extends { readonly required: true } ? K : never]: FileInput;
} & {
  readonly [K in keyof F as F[K] extends { readonly required: true } ? never : K]?: FileInput;
};
type FilesArg<S> = S extends { readonly files: infer F } ? Slot<'files', FileFields<F>> : Nothing;
type EncodingArg<S> = S extends { readonly body: 'multipart' } ? { readonly encoding?: BodyEncoding } : Nothing;

/** Per-call options every operation accepts. */
export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Extra request headers (signed with the rest). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** What one operation takes: `params` (path), `query`, `input` (JSON body or multipart text fields), `files`. */
export type OperationArgs<N extends OperationName> = ParamsArg<Operations[N]> &
  QueryArg<Operations[N]> &
  InputArg<Operations[N]> &
  FilesArg<Operations[N]> &
  EncodingArg<Operations[N]> &
  CallOptions;

/** The body of a successful answer: the bytes for binary operations (PDF), else the parsed JSON (undefined when empty). */
export type ResponseBody<N extends OperationName> = Operations[N] extends { readonly response: 'binary' } ? Uint8Array : unknown;

export interface GatewayResponse<B = unknown> {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: B;
}

export type OperationMethod<N extends OperationName> = Nothing extends OperationArgs<N>
  ? (args?: OperationArgs<N>) => Promise<GatewayResponse<ResponseBody<N>>>
  : (args: OperationArgs<N>) => Promise<GatewayResponse<ResponseBody<N>>>;

/** One method per table entry, named like it. */
export type OperationMethods = { readonly [N in OperationName]: OperationMethod<N> };

/** A request as it goes on the wire; what a transport sends. */
export interface TransportRequest {
  readonly method: string;
  /** Absolute URL, query included. */
  readonly url: string;
  /** Lower-case names, signature included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface TransportResponse {
  readonly status: number;
  /** Any case; the client lower-cases them. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** Sends a signed request and reads the whole answer. The default uses `fetch`; tests inject their own. */
export type Transport = (request: TransportRequest) => Promise<TransportResponse>;
