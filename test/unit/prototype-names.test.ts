import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../infra/cli/args.ts';
import { KmsUnavailableError } from '../../lib/errors/index.ts';
import { mapKmsError } from '../../lib/kms/errors.ts';
import { mapEncryptError } from '../../lib/kms/encrypt.ts';
import { ResponseReader } from '../../lib/transport/response-reader.ts';
import { hasReservedKey } from '../../lib/validation/reserved-names.ts';

// Issue 8, finding 3 as a class: no lookup by a name someone else chose may reach Object.prototype.
describe('names from outside never reach Object.prototype', () => {
  it('an error named like a prototype member maps to a typed KMS error', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const err = Object.assign(new Error('x'), { name });
      expect(mapKmsError(err, 'Decrypt'), name).toBeInstanceOf(KmsUnavailableError);
      expect(mapEncryptError(err), name).toBeInstanceOf(KmsUnavailableError);
    }
  });

  it('the CLI refuses --constructor and friends as unknown options', () => {
    for (const name of ['constructor', '__proto__', 'to-string', 'has-own-property']) {
      expect(() => parseArgs(['verify', `--${name}`, '--stage', 'dev']), name).toThrow(/unknown option|not an option/);
    }
  });

  it('a response header named constructor or __proto__ is only a header', () => {
    const reader = new ResponseReader({ maxBodyBytes: 1024, sink: 'plain' });
    reader.push(Buffer.from('HTTP/1.1 200 OK\r\nconstructor: a\r\n__proto__: b\r\ncontent-length: 2\r\n\r\n{}'));
    const { headers } = reader.take();
    expect(headers['constructor']).toBe('a');
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('b');
    expect(headers['toString']).toBeUndefined();
  });

  it('finds reserved keys at any depth, own keys only', () => {
    expect(hasReservedKey(JSON.parse('{"a":[{"b":{"__proto__":1}}]}'))).toBe(true);
    expect(hasReservedKey(JSON.parse('{"a":[{"b":{"prototypes":1}}]}'))).toBe(false);
    let deep: unknown = { constructor: 1 };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(hasReservedKey(deep)).toBe(true);
  });
});

describe('redaction of an answer with a __proto__ key', () => {
  it('keeps it an own key and still redacts inside it', async () => {
    const { redact } = await import('../../lib/runtime/redact.ts');
    const answer = JSON.parse('{"__proto__":{"secret_shared_key":"s3cr3t","x":1},"secret_shared_key":"s3cr3t"}') as unknown;
    const out = redact(answer, ['secret_shared_key']);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"secret_shared_key":"[redacted]","x":1},"secret_shared_key":"[redacted]"}');
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});
