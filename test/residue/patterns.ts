/** The forms in which a copy of the key could sit in memory (key-hygiene.md, "How to prove it"). */
export interface Pattern {
  readonly name: string;
  readonly bytes: Buffer;
}

export function keyPatterns(key: Buffer): Pattern[] {
  const b64 = key.toString('base64');
  const forms: Pattern[] = [
    { name: 'ascii', bytes: Buffer.from(key) },
    { name: 'utf16le', bytes: Buffer.from(key.toString('latin1'), 'utf16le') },
    { name: 'base64', bytes: Buffer.from(b64, 'latin1') },
    { name: 'base64-unpadded', bytes: Buffer.from(b64.replace(/=+$/, ''), 'latin1') },
    { name: 'hex', bytes: Buffer.from(key.toString('hex'), 'latin1') },
    { name: 'HEX', bytes: Buffer.from(key.toString('hex').toUpperCase(), 'latin1') },
  ];
  // Drop duplicates (an unpadded base64 equals the padded one when the length is a multiple of 3).
  return forms.filter((p, i) => forms.findIndex((q) => q.bytes.equals(p.bytes)) === i);
}
