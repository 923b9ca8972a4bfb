/**
 * The canonical JSON that Didit's `X-Signature-V2` signs (didit-api.md §6.4), reproduced byte for byte.
 *
 * Didit's backend is Python; the signed string is
 * `json.dumps(shorten_floats(json.loads(body)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
 * `JSON.stringify` after a key sort is *not* the same thing, in three places:
 *  - numbers: Python keeps integers exact (`12345678901234567890`), turns whole floats into exact ints
 *    (`1.0` → `1`, `1e22` → `10000000000000000000000`) and writes other floats with `repr`
 *    (`1e-07`, `1.5e-05`, `0.0001`), where JS would write `1e-7` or round big integers. So numbers are read
 *    from their source text (`JSON.parse` reviver source access) and formatted as Python would;
 *  - key order: Python sorts by code point, JS's default sort by UTF-16 unit (they differ when a key holds a
 *    character above U+FFFF and another one in U+E000–U+FFFF);
 *  - `ensure_ascii=True` (the [?] variant): `\uXXXX` for everything outside 0x20–0x7E, `\u007f` included.
 * The test vectors in test/unit/webhook-canonical-vectors.json come from Python 3 itself.
 */
import { CanonicalJsonError } from './errors.ts';

/** A JSON number as written in the body; kept as text so no precision is lost before formatting. */
export class JsonNumber {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  /** The nearest double, for the few fields read as numbers (timestamps). */
  get value(): number {
    return Number(this.text);
  }
}

/** A parsed JSON body whose numbers are {@link JsonNumber}s (source text kept). */
export type JsonTree = null | boolean | string | JsonNumber | JsonTree[] | { [key: string]: JsonTree };

type SourceReviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;
const parseWithReviver = JSON.parse as (text: string, reviver: SourceReviver) => unknown;

/** Parses JSON text keeping every number's source text. Throws SyntaxError like `JSON.parse`. */
export function parseJsonTree(text: string): JsonTree {
  return parseWithReviver(text, (_key, value, context) => {
    if (typeof value !== 'number') return value;
    // Node ≥ 20 (V8 ≥ 11.4) passes the source text; without it, fall back to the value (loses big ints).
    return new JsonNumber(context?.source ?? fallbackNumberText(value));
  }) as JsonTree;
}

function fallbackNumberText(value: number): string {
  return Number.isInteger(value) && Math.abs(value) < 1e21 ? BigInt(value).toString() : String(value);
}

/** The same tree with plain JS numbers, for code that reads fields (never for signing). */
export function plainJson(tree: JsonTree): unknown {
  if (tree instanceof JsonNumber) return tree.value;
  if (Array.isArray(tree)) return tree.map(plainJson);
  if (tree !== null && typeof tree === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(tree)) {
      Object.defineProperty(out, key, { value: plainJson(tree[key]!), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return tree;
}

/**
 * Python's `str()` of a scalar as `json.loads` would have produced it: what an f-string such as
 * X-Signature-Simple's `f"{timestamp}:{session_id}:..."` writes. Integers as written, floats as `repr`
 * (no shortening here: `shorten_floats` belongs to V2 only), `True`/`False`/`None`. Undefined for containers.
 */
export function pythonStr(value: JsonTree | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return value;
  if (value instanceof JsonNumber) {
    if (JSON_INTEGER.test(value.text)) return value.text === '-0' ? '0' : value.text;
    return pythonFloatRepr(value.value);
  }
  return undefined;
}

export interface CanonicalForms {
  /** `ensure_ascii=False`: what the official demo and the docs' code sign (the default V2 form). */
  readonly unicode: string;
  /** `ensure_ascii=True`: the docs' table wording; accepted as a fallback. */
  readonly ascii: string;
}

/**
 * Both canonical forms of a parsed body. Throws {@link CanonicalJsonError} for what Python could not have
 * signed (a number beyond the double range).
 */
export function canonicalize(tree: JsonTree): CanonicalForms {
  const unicode: string[] = [];
  const ascii: string[] = [];
  write(tree, unicode, false);
  write(tree, ascii, true);
  return { unicode: unicode.join(''), ascii: ascii.join('') };
}

/** Both canonical forms of a JSON text (throws SyntaxError for invalid JSON). */
export function canonicalForms(text: string): CanonicalForms {
  return canonicalize(parseJsonTree(text));
}

/** `ensure_ascii=False` canonical form of a JSON text. */
export function canonicalJson(text: string): string {
  const out: string[] = [];
  write(parseJsonTree(text), out, false);
  return out.join('');
}

function write(value: JsonTree, out: string[], asciiOnly: boolean): void {
  if (value === null) out.push('null');
  else if (value === true) out.push('true');
  else if (value === false) out.push('false');
  else if (typeof value === 'string') out.push(quote(value, asciiOnly));
  else if (value instanceof JsonNumber) out.push(pythonNumber(value.text));
  else if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      write(value[i]!, out, asciiOnly);
    }
    out.push(']');
  } else {
    out.push('{');
    const keys = Object.keys(value).sort(compareCodePoints);
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) out.push(',');
      const key = keys[i]!;
      out.push(quote(key, asciiOnly), ':');
      write(value[key]!, out, asciiOnly);
    }
    out.push('}');
  }
}

/**
 * Orders strings by Unicode code point, as Python's `sorted` does for `str`. UTF-16 order differs only when
 * a surrogate (D800–DFFF, i.e. a character above U+FFFF) meets a unit in E000–FFFF: shift the two ranges.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

const SHORT_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x22, '\\"'],
  [0x5c, '\\\\'],
  [0x08, '\\b'],
  [0x0c, '\\f'],
  [0x0a, '\\n'],
  [0x0d, '\\r'],
  [0x09, '\\t'],
]);

/**
 * A JSON string literal as Python's encoder writes it: `"`, `\` and the five short escapes, `\u00XX`
 * (lower-case hex) for other controls; with `asciiOnly`, `\uXXXX` per UTF-16 unit outside 0x20–0x7E.
 * Without it, everything else is left as is (U+007F, U+2028 and U+2029 included).
 */
function quote(s: string, asciiOnly: boolean): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const plain = asciiOnly ? c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c : c >= 0x20 && c !== 0x22 && c !== 0x5c;
    if (plain) continue;
    out += s.slice(start, i) + (SHORT_ESCAPES.get(c) ?? `\\u${c.toString(16).padStart(4, '0')}`);
    start = i + 1;
  }
  return `${out}${s.slice(start)}"`;
}

const JSON_INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * A JSON number's source text as it ends up in Didit's canonical string: integers exactly as written
 * (`-0` is Python's int 0), whole floats as the exact integer of the double (`shorten_floats`), other
 * floats as Python's `repr`.
 */
export function pythonNumber(text: string): string {
  if (JSON_INTEGER.test(text)) return text === '-0' ? '0' : text;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new CanonicalJsonError('number out of the double range');
  if (Number.isInteger(value)) return BigInt(value).toString();
  return pythonFloatRepr(value);
}

/**
 * Python's `repr(float)`: the shortest digits that round-trip (the same digits `Number#toString` picks),
 * laid out in fixed notation when the decimal exponent is in [-4, 16) and in `d.ddde±XX` form otherwise,
 * with `.0` on whole numbers in fixed notation.
 */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const { digits, point } = shortestDigits(Math.abs(value));
  if (point > -4 && point <= 16) {
    if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
    if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
    return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  }
  const exponent = point - 1;
  const mantissa = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
  const magnitude = String(Math.abs(exponent)).padStart(2, '0');
  return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${magnitude}`;
}

/**
 * The shortest round-trip digits of a positive finite double (no leading or trailing zeros) and the
 * position of the decimal point: value = 0.DIGITS × 10^point. Read from `Number#toString`, whose digit
 * choice (shortest, then closest) the specification fixes.
 */
function shortestDigits(value: number): { digits: string; point: number } {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(value));
  if (m === null) throw new CanonicalJsonError('unexpected number format');
  const integer = m[1]!;
  let digits = integer + (m[2] ?? '');
  let point = integer.length + Number(m[3] ?? '0');
  let lead = 0;
  while (lead < digits.length - 1 && digits[lead] === '0') lead++;
  digits = digits.slice(lead);
  point -= lead;
  digits = digits.replace(/0+$/, '');
  return { digits: digits === '' ? '0' : digits, point };
}
