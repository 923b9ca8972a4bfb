/**
 * Hostile inputs, as fast-check arbitraries of small descriptions that are materialised into bytes only when
 * a case runs: a 3 MB string is `{$big: …}` in a counterexample, not 3 MB of `A`s.
 *
 * JSON is generated as a tree, not as JS objects, so that it can hold what JSON text can and objects cannot:
 * duplicate keys, `__proto__` as an own key, numbers beyond the double range, lone surrogates.
 */
import fc from 'fast-check';

/** Planted in string values: an error answer that contains it echoes caller input. */
export const PROBE = 'ZQXJ';

export type JsonNode =
  | null
  | boolean
  | string
  | { readonly $num: string }
  | { readonly $big: { readonly unit: string; readonly repeat: number } }
  | { readonly $arr: readonly JsonNode[] }
  | { readonly $obj: ReadonlyArray<readonly [string, JsonNode]> }
  | { readonly $deep: { readonly depth: number; readonly open: '[' | '{"a":' } }
  | { readonly $wide: { readonly keys: number } };

export function serialize(node: JsonNode): string {
  if (node === null) return 'null';
  if (typeof node === 'boolean') return node ? 'true' : 'false';
  if (typeof node === 'string') return JSON.stringify(node);
  if ('$num' in node) return node.$num;
  if ('$big' in node) return JSON.stringify(node.$big.unit.repeat(node.$big.repeat));
  if ('$arr' in node) return `[${node.$arr.map(serialize).join(',')}]`;
  if ('$deep' in node) {
    const { depth, open } = node.$deep;
    return `${open.repeat(depth)}1${(open === '[' ? ']' : '}').repeat(depth)}`;
  }
  if ('$wide' in node) {
    const parts: string[] = [];
    for (let i = 0; i < node.$wide.keys; i++) parts.push(`"k${i}":${i}`);
    return `{${parts.join(',')}}`;
  }
  return `{${node.$obj.map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(',')}}`;
}

/** A JS value (a valid seed) as a tree. */
export function toNode(value: unknown): JsonNode {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return { $num: JSON.stringify(value) };
  if (Array.isArray(value)) return { $arr: value.map(toNode) };
  return { $obj: Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toNode(v)] as const) };
}

// ---- names and values ----------------------------------------------------------------------------

/** Names that find something on Object.prototype when looked up on a plain object. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'isPrototypeOf'] as const;

export const protoKey = fc.constantFrom(...PROTO_KEYS);

/** A field name: one the operation knows, a prototype name, or anything. */
export function fieldName(known: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: known.length > 0 ? fc.constantFrom(...known) : fc.constant('x') },
    { weight: 3, arbitrary: protoKey },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }).filter((s) => !s.includes(PROBE)) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'a.b', '0', 'x'.repeat(300), '\u0000', 'é', 'fïeld') },
  );
}

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** String values: every one carries the probe, so an echo is recognisable. */
export const hostileString: fc.Arbitrary<string> = fc
  .oneof(
    fc.string({ maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.string({ unit: loneSurrogate, minLength: 1, maxLength: 3 }),
    fc.constantFrom('', ' ', '\u0000', 'null', '../../etc/passwd', '..%2F..%2F', '\r\nX-Injected: 1', '\u202e', '😀', '%00', '{{7*7}}', "' OR 1=1 --"),
  )
  .map((s) => `${PROBE}${s}`);

/** Values that pass a first type check: base64 text, short strings, small numbers, booleans, objects. */
const plausibleValue: fc.Arbitrary<JsonNode> = fc.constantFrom<JsonNode>('AAAA', '/9j/4AAQ', 'x', '18', true, { $num: '1' }, { $obj: [] }, { $arr: [] });

/** Numbers JSON can carry that doubles, integers or schemas may not expect. */
export const hostileNumber: fc.Arbitrary<JsonNode> = fc.oneof(
  fc.constantFrom('1e999', '-1e999', '-0', '1e-999', '123456789012345678901234567890', '9007199254740993', '0.1', '-1', '4.5', '0', '1E2', '18').map((t) => ({ $num: t })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => ({ $num: JSON.stringify(d) })),
  fc.integer().map((i) => ({ $num: String(i) })),
);

/** Strings far beyond every field limit (up to the JSON and request limits). */
export const hugeString: fc.Arbitrary<JsonNode> = fc
  .record({ unit: fc.constantFrom('A', 'é', '😀', '\\'), repeat: fc.constantFrom(300, 5_000, 70_000, 1_100_000) })
  .map(($big) => ({ $big }));

const shapes: fc.Arbitrary<JsonNode> = fc.oneof(
  fc.record({ depth: fc.constantFrom(50, 1_000, 20_000), open: fc.constantFrom('[' as const, '{"a":' as const) }).map(($deep) => ({ $deep })),
  fc.constantFrom(100, 5_000, 60_000).map((keys) => ({ $wide: { keys } })),
);

/** Any JSON value, hostile leaves included, with `known` names preferred for keys. */
export function hostileJson(known: readonly string[], depth = 3): fc.Arbitrary<JsonNode> {
  const leaf: fc.Arbitrary<JsonNode> = fc.oneof(
    { weight: 4, arbitrary: hostileString },
    // Strings that pass a base64 check: a prototype-named field with one reaches the file rules.
    { weight: 2, arbitrary: fc.oneof(fc.constantFrom('AAAA', '/9j/4AAQ', 'iVBORw0KGgo=', ''), base64Spec.map(base64Text)) },
    { weight: 3, arbitrary: hostileNumber },
    { weight: 2, arbitrary: fc.constantFrom<JsonNode>(null, true, false) },
    { weight: 1, arbitrary: hugeString },
    { weight: 1, arbitrary: shapes },
  );
  const { node } = fc.letrec<{ node: JsonNode }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', maxDepth: depth, withCrossShrink: true },
      leaf,
      fc.array(tie('node'), { maxLength: 4 }).map(($arr) => ({ $arr })),
      fc.array(fc.tuple(fieldName(known), tie('node')), { maxLength: 5 }).map(($obj) => ({ $obj })),
    ),
  }));
  return node;
}

/**
 * A seed object, edited: fields replaced by hostile values, prototype-named or unknown fields added,
 * fields removed, a field repeated (JSON duplicate keys).
 */
export function mutatedObject(seed: Readonly<Record<string, unknown>>, known: readonly string[]): fc.Arbitrary<JsonNode> {
  const base = Object.entries(seed).map(([k, v]) => [k, toNode(v)] as const);
  type Edit =
    | { op: 'set'; key: string; value: JsonNode }
    | { op: 'drop'; index: number }
    | { op: 'dup'; index: number; value: JsonNode };
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), key: fieldName([...known, ...Object.keys(seed)]), value: hostileJson(known, 2) }) },
    // A prototype name with a plausible value: what gets past a type check and into a lookup.
    { weight: 1, arbitrary: fc.record({ op: fc.constant('set' as const), key: protoKey, value: plausibleValue }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), index: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('dup' as const), index: fc.nat(), value: hostileJson(known, 1) }) },
  );
  return fc.array(edit, { maxLength: 3 }).map((edits) => {
    const entries: Array<readonly [string, JsonNode]> = [...base];
    for (const e of edits) {
      if (e.op === 'set') {
        const at = entries.findIndex(([k]) => k === e.key);
        if (at >= 0) entries[at] = [e.key, e.value];
        else entries.push([e.key, e.value]);
      } else if (entries.length > 0) {
        const at = e.index % entries.length;
        if (e.op === 'drop') entries.splice(at, 1);
        else entries.push([entries[at]![0], e.value]);
      }
    }
    return { $obj: entries };
  });
}

// ---- bytes -------------------------------------------------------------------------------------

/** Byte sequences that are not UTF-8: stray continuation bytes, overlongs, surrogates, truncations. */
export const invalidUtf8: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.constantFrom([0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc3], [0x80], [0xe2, 0x82]),
  fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 6 }),
);

/** A file as the magic-byte sniffer sees it: the kind's signature, then `size` bytes; `truncate` cuts it. */
export interface FileSpec {
  readonly $file: 'jpeg' | 'png' | 'pdf' | 'webp' | 'tiff' | 'junk' | 'empty';
  readonly size: number;
  /** Keep only the first bytes (a file cut short in transit); 0 keeps everything. */
  readonly truncate: number;
}

const MAGIC: Record<FileSpec['$file'], Buffer> = {
  jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
  png: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  pdf: Buffer.from('%PDF-1.7\n'),
  webp: Buffer.concat([Buffer.from('RIFF'), Buffer.from([0, 0, 0, 0]), Buffer.from('WEBPVP8 ')]),
  tiff: Buffer.from([0x49, 0x49, 0x2a, 0x00]),
  junk: Buffer.from('GIF89a'),
  empty: Buffer.alloc(0),
};

export function fileBytes(spec: FileSpec): Buffer {
  const magic = MAGIC[spec.$file];
  const full = spec.$file === 'empty' ? magic : Buffer.concat([magic, Buffer.alloc(spec.size, 7)]);
  return spec.truncate > 0 ? full.subarray(0, Math.min(full.length, spec.truncate)) : full;
}

export const fileSpec: fc.Arbitrary<FileSpec> = fc.record({
  $file: fc.oneof({ weight: 5, arbitrary: fc.constant('jpeg' as const) }, fc.constantFrom('png' as const, 'pdf' as const, 'webp' as const, 'tiff' as const, 'junk' as const, 'empty' as const)),
  size: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 4_096 }) }, fc.constantFrom(1024 * 1024 + 1, 5 * 1024 * 1024 + 1, 11 * 1024 * 1024)),
  truncate: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 12 })),
});

/** A file as a JSON string: base64, with the padding and alphabet mistakes callers make. */
export interface Base64Spec {
  readonly file: FileSpec;
  readonly damage: 'none' | 'strip-padding' | 'extra-padding' | 'one-extra-char' | 'url-safe' | 'whitespace' | 'data-url' | 'inner-padding';
}

export const base64Spec: fc.Arbitrary<Base64Spec> = fc.record({
  file: fileSpec,
  damage: fc.constantFrom('none', 'none', 'strip-padding', 'extra-padding', 'one-extra-char', 'url-safe', 'whitespace', 'data-url', 'inner-padding'),
});

export function base64Text(spec: Base64Spec): string {
  const b64 = fileBytes(spec.file).toString('base64');
  switch (spec.damage) {
    case 'none':
      return b64;
    case 'strip-padding':
      return b64.replace(/=+$/, '');
    case 'extra-padding':
      return `${b64}==`;
    case 'one-extra-char':
      return `${b64}A`;
    case 'url-safe':
      return b64.replace(/\+/g, '-').replace(/\//g, '_');
    case 'whitespace':
      return b64.replace(/(.{76})/g, '$1\n');
    case 'data-url':
      return `data:image/jpeg;base64,${b64}`;
    case 'inner-padding':
      return `${b64.slice(0, 4)}=${b64.slice(5)}`;
  }
}

// ---- content types and headers ----------------------------------------------------------------

/** The header as sent: the right one, a wrong one, none, odd casing, parameters that do not parse. */
export function contentType(right: string): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(right) },
    {
      weight: 3,
      arbitrary: fc.constantFrom<string | undefined>(
        undefined,
        '',
        'text/plain',
        'application/json; charset=utf-16',
        'APPLICATION/JSON',
        'application/jsonx',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
        'multipart/form-data; boundary=',
        'multipart/form-data; boundary="unterminated',
        'multipart/mixed; boundary=x',
        'application/json, multipart/form-data; boundary=x',
        '*/*',
      ),
    },
  );
}

/** Extra request headers: prototype names, duplicates of content-type in other casing, junk. */
export const extraHeaders: fc.Arbitrary<ReadonlyArray<readonly [string, string]>> = fc.array(
  fc.tuple(
    fc.oneof(protoKey, fc.constantFrom('Content-Type', 'CONTENT-TYPE', 'x-forwarded-for', 'x-amz-date', 'content-length', 'transfer-encoding'), fc.string({ maxLength: 10 })),
    fc.oneof(hostileString, fc.constantFrom('application/json', 'multipart/form-data; boundary=zz', 'chunked', '-1', '99999999999')),
  ),
  { maxLength: 3 },
);

/**
 * A string map as the Lambda runtime deserialises it from API Gateway's JSON: `__proto__` and friends are
 * own keys, not prototype changes.
 */
export function ownMap(entries: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  return JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`) as Record<string, string>;
}
