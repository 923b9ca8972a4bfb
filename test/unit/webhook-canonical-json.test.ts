import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CanonicalJsonError } from '../../lib/adapters/webhooks/errors.ts';
import {
  canonicalForms,
  canonicalJson,
  compareCodePoints,
  pythonFloatRepr,
  pythonNumber,
} from '../../lib/adapters/webhooks/canonical-json.ts';

// Made by Python 3 (webhook-canonical-vectors.py): the reference for what Didit signs in X-Signature-V2.
interface Vectors {
  canonical: Array<{ name: string; body: string; canonical: string; ascii: string }>;
  float_repr: Array<{ text: string; repr: string }>;
}
const vectors = JSON.parse(readFileSync(new URL('./webhook-canonical-vectors.json', import.meta.url), 'utf8')) as Vectors;

describe('canonical JSON (Python json.dumps of shorten_floats(json.loads(body)))', () => {
  it('has vectors', () => {
    expect(vectors.canonical.length).toBeGreaterThanOrEqual(12);
    expect(vectors.float_repr.length).toBeGreaterThanOrEqual(300);
  });

  for (const v of vectors.canonical) {
    it(`matches Python: ${v.name}`, () => {
      const forms = canonicalForms(v.body);
      expect(forms.unicode).toBe(v.canonical);
      expect(forms.ascii).toBe(v.ascii);
      expect(canonicalJson(v.body)).toBe(v.canonical);
      // What is signed is the UTF-8 of that string.
      expect(Buffer.from(forms.unicode, 'utf8').equals(Buffer.from(v.canonical, 'utf8'))).toBe(true);
    });
  }

  it('differs from a naive sorted JSON.stringify exactly where Python does', () => {
    const body = '{"b":1.0,"a":1e-7,"c":12345678901234567890}';
    expect(canonicalJson(body)).toBe('{"a":1e-07,"b":1,"c":12345678901234567890}');
    expect(JSON.stringify(JSON.parse(body))).not.toContain('1e-07');
  });

  it('formats every float vector like Python repr', () => {
    const wrong = vectors.float_repr.filter((v) => pythonFloatRepr(Number(v.text)) !== v.repr);
    expect(wrong).toEqual([]);
  });

  it('numbers: integers exact, whole floats shortened to exact ints, others repr', () => {
    expect(pythonNumber('-0')).toBe('0');
    expect(pythonNumber('-0.0')).toBe('0');
    expect(pythonNumber('1.0')).toBe('1');
    expect(pythonNumber('1E+16')).toBe('10000000000000000');
    expect(pythonNumber('0.5')).toBe('0.5');
    expect(pythonNumber('1e-7')).toBe('1e-07');
    expect(pythonNumber('98765432109876543210')).toBe('98765432109876543210');
    expect(() => pythonNumber('1e400')).toThrow(CanonicalJsonError);
  });

  it('orders keys by code point', () => {
    expect(['😀', '\uffff', 'a'].sort(compareCodePoints)).toEqual(['a', '\uffff', '😀']);
    expect(['😀', '\uffff', 'a'].sort()).toEqual(['a', '😀', '\uffff']); // UTF-16 order, the trap
  });

  it('rejects invalid JSON like JSON.parse', () => {
    expect(() => canonicalJson('{"a":')).toThrow(SyntaxError);
    expect(() => canonicalJson('NaN')).toThrow(SyntaxError);
  });
});
