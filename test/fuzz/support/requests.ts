/**
 * API Gateway requests for the fuzzer: arbitraries of request descriptions (params, query, headers,
 * body in every shape an operation can receive and many it cannot) and their materialisation as the
 * APIGatewayProxyEvent the Lambda runtime hands to a handler.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import fc from 'fast-check';
import type { OperationSpec } from '../../../lib/operations/types.ts';
import { apiEvent } from '../../support/api-events.ts';
import {
  base64Spec,
  base64Text,
  contentType,
  extraHeaders,
  fieldName,
  fileBytes,
  fileSpec,
  hostileJson,
  hostileString,
  invalidUtf8,
  mutatedObject,
  ownMap,
  serialize,
  type Base64Spec,
  type FileSpec,
  type JsonNode,
} from './arbitraries.ts';
import type { OperationSeed } from './operation-seeds.ts';

export type PartValue = string | { readonly file: FileSpec; readonly filename: string; readonly type: string };

export type BodyCase =
  | { readonly kind: 'none' }
  | { readonly kind: 'json'; readonly node: JsonNode }
  /** JSON text with bytes that are not UTF-8 spliced in (sent base64-encoded, as API Gateway does for binary). */
  | { readonly kind: 'bytes'; readonly node: JsonNode; readonly at: number; readonly bad: readonly number[] }
  /** JSON text cut short. */
  | { readonly kind: 'cut'; readonly node: JsonNode; readonly keep: number }
  | {
      readonly kind: 'multipart';
      readonly parts: ReadonlyArray<readonly [string, PartValue]>;
      /** Keep only this fraction of the body (0: all of it): a connection cut mid-upload. */
      readonly cutAt: number;
      /** Announce a boundary other than the one used. */
      readonly wrongBoundary: boolean;
      /** Leave out the closing delimiter. */
      readonly unterminated: boolean;
    }
  /** A body over the request limits. */
  | { readonly kind: 'oversized'; readonly bytes: number };

export interface RequestCase {
  readonly params: ReadonlyArray<readonly [string, string]> | null;
  readonly query: ReadonlyArray<readonly [string, string]> | null;
  /** 'RIGHT' is the type that fits the body (with its boundary for multipart). */
  readonly contentType: string | undefined;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: BodyCase;
  /** Whether API Gateway handed the body over base64-encoded (binary media types). */
  readonly base64: boolean;
}

const uuid = fc.uuid({ version: 4 });

function entries(record: Readonly<Record<string, string>> | undefined): Array<readonly [string, string]> {
  return Object.entries(record ?? {});
}

function stringMap(seed: Readonly<Record<string, string>> | undefined, known: readonly string[], present: boolean): fc.Arbitrary<ReadonlyArray<readonly [string, string]> | null> {
  const valid = entries(seed);
  const hostile = fc.array(fc.tuple(fieldName(known), fc.oneof(hostileString, uuid, fc.constantFrom('1', 'true', ''))), { minLength: 1, maxLength: 4 });
  if (!present) return fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: hostile });
  return fc.oneof(
    { weight: 5, arbitrary: fc.constant(valid) },
    { weight: 2, arbitrary: uuid.map((id) => valid.map(([k]) => [k, id] as const)) },
    { weight: 3, arbitrary: fc.tuple(fc.subarray(valid), hostile).map(([kept, extra]) => [...kept, ...extra]) },
    { weight: 1, arbitrary: fc.constant(null) },
  );
}

function multipartParts(spec: OperationSpec, seed: OperationSeed): fc.Arbitrary<ReadonlyArray<readonly [string, PartValue]>> {
  const fileNames = Object.keys(spec.files ?? {});
  const fieldNames = Object.keys(seed.body ?? {});
  const valid: Array<readonly [string, PartValue]> = [
    ...Object.entries(seed.body ?? {}).map(([k, v]) => [k, String(v)] as const),
    ...Object.entries(seed.files ?? {}).map(
      ([k, kind]) => [k, { file: { $file: kind, size: 2_048, truncate: 0 }, filename: `f.${kind}`, type: kind === 'pdf' ? 'application/pdf' : 'image/jpeg' }] as const,
    ),
  ];
  const jpegPart: PartValue = { file: { $file: 'jpeg', size: 2_048, truncate: 0 }, filename: 'f.jpg', type: 'image/jpeg' };
  const part: fc.Arbitrary<readonly [string, PartValue]> = fc.tuple(
    fieldName([...fileNames, ...fieldNames]),
    fc.oneof(
      hostileString,
      fc.record({
        file: fileSpec,
        filename: fc.oneof(fc.constantFrom('f.jpg', '../../etc/passwd', '', 'a"b.jpg', 'x'.repeat(300)), hostileString),
        type: fc.constantFrom('image/jpeg', 'image/png', 'application/pdf', 'text/plain', '', 'application/octet-stream'),
      }),
      fc.constantFrom('x'.repeat(70 * 1024), '18', 'true'),
    ),
  );
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(valid) },
    // Edited: parts dropped (missing), replaced or added (duplicates, unknown, prototype names).
    { weight: 6, arbitrary: fc.tuple(fc.subarray(valid), fc.array(part, { maxLength: 4 })).map(([kept, extra]) => [...kept, ...extra]) },
    // Past busboy's part and field limits (40 parts, 32 fields): must be refused, not truncated.
    { weight: 1, arbitrary: fc.integer({ min: 33, max: 60 }).map((n) => [...valid, ...Array.from({ length: n }, (_, i) => [`vendor_data`, `v${i}`] as const)]) },
    // Every file field filled, then more files (a repeated or unknown field): past the file limit a parser
    // that drops parts silently would send Didit the first ones.
    {
      weight: 2,
      arbitrary: fc
        .array(fc.tuple(fc.oneof(fc.constantFrom(...(fileNames.length > 0 ? fileNames : ['user_image'])), fc.constantFrom('extra_image', 'constructor')), fc.constant(jpegPart)), { minLength: 1, maxLength: 3 })
        .map((extra) => [...valid.filter(([, v]) => typeof v === 'string'), ...fileNames.map((n) => [n, jpegPart] as const), ...extra]),
    },
  );
}

/** JSON-with-base64 form of a multipart operation: text fields as JSON scalars, files as base64 strings. */
function base64Json(spec: OperationSpec, seed: OperationSeed): fc.Arbitrary<JsonNode> {
  const fileNames = Object.keys(spec.files ?? {});
  const known = [...fileNames, ...Object.keys(seed.body ?? {})];
  const fileValue: fc.Arbitrary<JsonNode> = base64Spec.map((b: Base64Spec) => base64Text(b));
  return fc
    .tuple(
      // A file left out now and then (null): a missing part.
      fc.tuple(...fileNames.map((name) => fc.option(fileValue, { freq: 6 }).map((value) => [name, value] as const))),
      mutatedObject(seed.body ?? {}, known),
    )
    .map(([files, rest]) => {
      const obj = rest as { $obj: ReadonlyArray<readonly [string, JsonNode]> };
      const present = files.filter((f): f is readonly [string, JsonNode] => f[1] !== null);
      return { $obj: [...present, ...obj.$obj] };
    });
}

/** A JSON body for the operation (files as base64 for multipart ones), edited from its seed. */
export function jsonBody(spec: OperationSpec, seed: OperationSeed): fc.Arbitrary<JsonNode> {
  const known = Object.keys(seed.body ?? {});
  if (spec.body === 'multipart') return base64Json(spec, seed);
  return fc.oneof({ weight: 6, arbitrary: mutatedObject(seed.body ?? {}, known) }, { weight: 1, arbitrary: hostileJson(known) });
}

/** Every request shape for one operation. */
export function requestCase(spec: OperationSpec, seed: OperationSeed): fc.Arbitrary<RequestCase> {
  const known = Object.keys(seed.body ?? {});
  const json: fc.Arbitrary<JsonNode> = fc.oneof(
    { weight: 6, arbitrary: mutatedObject(seed.body ?? {}, known) },
    { weight: 2, arbitrary: hostileJson(known) },
  );
  const other: fc.Arbitrary<BodyCase> = fc.oneof(
    fc.record({ kind: fc.constant('bytes' as const), node: json, at: fc.nat(), bad: invalidUtf8 }),
    fc.record({ kind: fc.constant('cut' as const), node: json, keep: fc.nat() }),
    fc.record({ kind: fc.constant('oversized' as const), bytes: fc.constantFrom(2 * 1024 * 1024 + 1, 10 * 1024 * 1024 + 1) }),
  );
  let body: fc.Arbitrary<BodyCase>;
  if (spec.body === 'none') {
    body = fc.oneof({ weight: 8, arbitrary: fc.constant({ kind: 'none' as const }) }, { weight: 1, arbitrary: json.map((node) => ({ kind: 'json' as const, node })) }, { weight: 1, arbitrary: other });
  } else if (spec.body === 'json') {
    body = fc.oneof({ weight: 8, arbitrary: json.map((node) => ({ kind: 'json' as const, node })) }, { weight: 2, arbitrary: other }, { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) });
  } else {
    body = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant('multipart' as const),
          parts: multipartParts(spec, seed),
          cutAt: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, fc.double({ min: 0.05, max: 0.99, noNaN: true })),
          wrongBoundary: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, fc.constant(true)),
          unterminated: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, fc.constant(true)),
        }),
      },
      { weight: 4, arbitrary: base64Json(spec, seed).map((node) => ({ kind: 'json' as const, node })) },
      { weight: 1, arbitrary: other },
    );
  }
  return fc.record({
    params: stringMap(seed.params, Object.keys(seed.params ?? {}), spec.params !== undefined),
    query: stringMap(seed.query, Object.keys(seed.query ?? {}), spec.query !== undefined),
    contentType: contentType('RIGHT'),
    headers: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, extraHeaders),
    body,
    base64: fc.boolean(),
  });
}

// ---- materialisation ----------------------------------------------------------------------------

const BOUNDARY = 'fuzzboundary7MA4YWxkTrZu0gW';

/** The body bytes and the content type that fits them. */
export function bodyBytes(body: BodyCase): { bytes: Buffer | undefined; rightType: string } {
  switch (body.kind) {
    case 'none':
      return { bytes: undefined, rightType: 'application/json' };
    case 'json':
      return { bytes: Buffer.from(serialize(body.node), 'utf8'), rightType: 'application/json' };
    case 'bytes': {
      const text = Buffer.from(serialize(body.node), 'utf8');
      const at = text.length === 0 ? 0 : body.at % text.length;
      return { bytes: Buffer.concat([text.subarray(0, at), Buffer.from(body.bad), text.subarray(at)]), rightType: 'application/json' };
    }
    case 'cut': {
      const text = Buffer.from(serialize(body.node), 'utf8');
      return { bytes: text.subarray(0, text.length === 0 ? 0 : body.keep % text.length), rightType: 'application/json' };
    }
    case 'oversized':
      return { bytes: Buffer.alloc(body.bytes, 0x20), rightType: 'application/json' };
    case 'multipart': {
      const chunks: Buffer[] = [];
      for (const [name, value] of body.parts) {
        if (typeof value === 'string') {
          chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`, 'utf8'));
        } else {
          chunks.push(
            Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="${value.filename}"\r\nContent-Type: ${value.type}\r\n\r\n`, 'utf8'),
            fileBytes(value.file),
            Buffer.from('\r\n'),
          );
        }
      }
      if (!body.unterminated) chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
      let bytes = Buffer.concat(chunks);
      if (body.cutAt > 0) bytes = bytes.subarray(0, Math.floor(bytes.length * body.cutAt));
      const boundary = body.wrongBoundary ? 'another-boundary' : BOUNDARY;
      return { bytes, rightType: `multipart/form-data; boundary=${boundary}` };
    }
  }
}

/**
 * For a well-framed multipart body sent with its own content type: the part names that make it invalid
 * whatever a parser keeps of it (a name given twice, a name the operation does not have). Such a request
 * must never reach Didit, even when those parts come after a parser limit.
 */
export function badPartNames(spec: OperationSpec, c: RequestCase): string[] {
  if (c.body.kind !== 'multipart' || c.contentType !== 'RIGHT' || c.body.cutAt > 0 || c.body.wrongBoundary || c.body.unterminated) return [];
  const shape = (spec.input as { shape?: Record<string, unknown> } | undefined)?.shape ?? {};
  const known = new Set([...Object.keys(spec.files ?? {}), ...Object.keys(shape)]);
  const seen = new Set<string>();
  const bad = new Set<string>();
  for (const [name] of c.body.parts) {
    if (seen.has(name) || !known.has(name)) bad.add(name);
    seen.add(name);
  }
  return [...bad];
}

/** The event as API Gateway (REST, proxy) builds it; maps built the way the runtime parses them. */
export function toEvent(spec: OperationSpec, c: RequestCase): APIGatewayProxyEvent {
  const { bytes, rightType } = bodyBytes(c.body);
  const type = c.contentType === 'RIGHT' ? rightType : c.contentType;
  const headers: Array<readonly [string, string]> = [];
  if (type !== undefined) headers.push(['content-type', type]);
  headers.push(...c.headers);
  // Invalid UTF-8 survives only as binary: API Gateway base64-encodes such bodies.
  const base64 = c.base64 || c.body.kind === 'bytes';
  const event = apiEvent({
    method: spec.route.method,
    path: spec.route.path,
    resource: spec.route.path,
    ...(bytes === undefined ? {} : { body: base64 ? bytes : bytes.toString('utf8'), base64 }),
  });
  event.headers = ownMap(headers);
  event.pathParameters = c.params === null ? null : ownMap(c.params);
  event.queryStringParameters = c.query === null ? null : ownMap(c.query);
  return event;
}
