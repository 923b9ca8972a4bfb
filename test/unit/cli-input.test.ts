import { EventEmitter } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  HiddenLineEditor,
  InputAbortedError,
  readAllSecure,
  readSecretFromFd,
  readSecretFromTerminal,
  SecretInputError,
  type OnRead,
  type TerminalStream,
} from '../../infra/cli/secret-input.ts';
import { checkSecretShape } from '../../infra/cli/secret-shape.ts';
import type { SecureBuffer } from '../../lib/secure/secure-buffer.ts';

const KEY = 'Zk3vQ9pLr7TxW2mN8bYc4HdJ6sAe1UfG0oKiXqRt';
const bytes = (s: string | number[]) => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));
/** Test-only view of a fake secret's bytes. */
const text = (s: SecureBuffer) => Buffer.from(s.bytes()).toString('latin1');

describe('checkSecretShape', () => {
  it('accepts API keys of 16-512 visible ASCII characters', () => {
    expect(checkSecretShape(bytes(KEY), 'api-key')).toEqual({ ok: true });
    expect(checkSecretShape(bytes('!'.repeat(16)), 'api-key').ok).toBe(true);
    expect(checkSecretShape(bytes('~'.repeat(512)), 'api-key').ok).toBe(true);
  });

  it('rejects bad API keys with a reason that does not contain the bytes', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [bytes(''), /no secret was entered/],
      [bytes('x'.repeat(15)), /16 to 512 characters long \(got 15\)/],
      [bytes('x'.repeat(513)), /got 513/],
      [bytes(`${KEY} `), /character 41 of 41 is a space/],
      [bytes(`ab\tcdefghijklmnopq`), /character 3 of/],
      [Buffer.concat([bytes('abcdefghijklmnop'), Buffer.from([0xc3, 0xa9])]), /non-ASCII/],
      [bytes('abcdefgh\r\nijklmnop'), /visible ASCII/],
    ];
    for (const [input, reason] of cases) {
      const result = checkSecretShape(input, 'api-key');
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.problem).toMatch(reason);
        expect(result.problem).not.toContain('abcdefgh');
        expect(result.problem).not.toContain(KEY);
      }
    }
  });

  it('wants exactly 43 URL-safe base64 characters for the webhook secret', () => {
    const good = Buffer.from(Buffer.alloc(32, 0xfb)).toString('base64url'); // contains - and _
    expect(good).toHaveLength(43);
    expect(checkSecretShape(bytes(good), 'webhook-secret')).toEqual({ ok: true });
    expect(checkSecretShape(bytes(good.slice(1)), 'webhook-secret')).toMatchObject({ ok: false, problem: expect.stringMatching(/43 characters long \(got 42\)/) });
    expect(checkSecretShape(bytes(`${good.slice(1)}+`), 'webhook-secret')).toMatchObject({ ok: false, problem: expect.stringMatching(/character 43 is not/) });
    expect(checkSecretShape(bytes(`${good.slice(1)}=`), 'webhook-secret').ok).toBe(false);
  });
});

describe('readAllSecure (stdin that is not a terminal)', () => {
  /** A reader that hands out the given chunks, as a pipe would. */
  const chunks = (...parts: Array<Buffer | 'EAGAIN'>) => {
    const queue = [...parts];
    return (target: Buffer): number => {
      const next = queue.shift();
      if (next === undefined) return 0;
      if (next === 'EAGAIN') throw Object.assign(new Error('again'), { code: 'EAGAIN' });
      const n = next.copy(target);
      if (n < next.length) queue.unshift(next.subarray(n));
      return n;
    };
  };

  it('reads all chunks and strips ONE trailing \\n', () => {
    const s = readAllSecure(chunks(bytes(KEY.slice(0, 10)), bytes(KEY.slice(10)), bytes('\n')));
    expect(text(s)).toBe(KEY);
    s.dispose();
  });

  it('strips one trailing \\r\\n, and only one newline', () => {
    const crlf = readAllSecure(chunks(bytes(`${KEY}\r\n`)));
    expect(text(crlf)).toBe(KEY);
    crlf.dispose();
    const two = readAllSecure(chunks(bytes(`${KEY}\n\n`)));
    expect(text(two)).toBe(`${KEY}\n`); // then refused by the shape check
    two.dispose();
    const bareCr = readAllSecure(chunks(bytes(`${KEY}\r`)));
    expect(text(bareCr)).toBe(`${KEY}\r`);
    bareCr.dispose();
    const none = readAllSecure(chunks(bytes(KEY)));
    expect(text(none)).toBe(KEY);
    none.dispose();
  });

  it('waits through EAGAIN from a non-blocking pipe', () => {
    const s = readAllSecure(chunks('EAGAIN', bytes(KEY), 'EAGAIN', bytes('\n')));
    expect(text(s)).toBe(KEY);
    s.dispose();
  });

  it('returns an empty buffer for empty input (the shape check refuses it)', () => {
    const s = readAllSecure(chunks(bytes('\n')));
    expect(s.length).toBe(0);
    s.dispose();
  });

  it('refuses input longer than the capacity instead of truncating it', () => {
    expect(() => readAllSecure(chunks(bytes('a'.repeat(40))), 32)).toThrow(SecretInputError);
    const fits = readAllSecure(chunks(bytes(`${'a'.repeat(32)}\r\n`)), 32);
    expect(fits.length).toBe(32);
    fits.dispose();
    expect(() => readAllSecure(chunks(bytes(`${'a'.repeat(33)}\n`)), 32)).toThrow(/longer than 32 bytes/);
  });

  it('turns read errors into a SecretInputError without details of the data', () => {
    const failing = () => {
      throw Object.assign(new Error('boom'), { code: 'EIO' });
    };
    expect(() => readAllSecure(failing)).toThrow('reading stdin failed (EIO)');
  });

  it('reads from a file descriptor (stdin redirected from a file)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-input-'));
    try {
      const file = join(dir, 'in');
      writeFileSync(file, `${KEY}\n`);
      const fd = openSync(file, 'r');
      try {
        const s = readSecretFromFd(fd);
        expect(text(s)).toBe(KEY);
        s.dispose();
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HiddenLineEditor (terminal in raw mode)', () => {
  const feed = (...chunks: Array<string | number[]>) => {
    const editor = new HiddenLineEditor(64);
    let state = editor.state;
    for (const c of chunks) state = editor.feed(bytes(c));
    return { editor, state };
  };

  it('finishes on Enter (CR or LF) and ignores what follows', () => {
    for (const enter of ['\r', '\n']) {
      const { editor, state } = feed('abc', `def${enter}ghi`);
      expect(state).toBe('done');
      const line = editor.take();
      expect(text(line)).toBe('abcdef');
      line.dispose();
    }
  });

  it('handles Backspace, DEL and Ctrl-U', () => {
    const { editor, state } = feed('abcx', [0x7f], 'd', 'zz', [0x08, 0x08], 'e', 'junk', [0x15], 'k3y', '\r');
    expect(state).toBe('done');
    const line = editor.take();
    expect(text(line)).toBe('k3y');
    line.dispose();
    const { editor: e2 } = feed([0x7f, 0x7f], 'a', '\r'); // backspace on an empty line does nothing
    const l2 = e2.take();
    expect(text(l2)).toBe('a');
    l2.dispose();
  });

  it('aborts on Ctrl-C and finishes on Ctrl-D', () => {
    const aborted = feed('abc', [0x03], '\r');
    expect(aborted.state).toBe('aborted');
    aborted.editor.dispose();
    const eof = feed('abc', [0x04]);
    expect(eof.state).toBe('done');
    const line = eof.editor.take();
    expect(text(line)).toBe('abc');
    line.dispose();
  });

  it('drops escape sequences (arrows, bracketed paste markers) and other control bytes', () => {
    const { editor, state } = feed('ab', '\x1b[D', '\x1bOA', 'c', '\x1b[200~de\x1b[201~', '\t', [0x00], '\x1bx', 'f\r');
    expect(state).toBe('done');
    const line = editor.take();
    expect(text(line)).toBe('abcdef');
    line.dispose();
  });

  it('reports overflow instead of truncating', () => {
    const editor = new HiddenLineEditor(4);
    expect(editor.feed(bytes('abcd'))).toBe('reading');
    expect(editor.feed(bytes('e'))).toBe('overflow');
    editor.dispose();
  });
});

/** A stand-in for tty.ReadStream that behaves like libuv with `onread`: bytes land in the given buffer. */
class FakeTerminal extends EventEmitter implements TerminalStream {
  readonly modes: boolean[] = [];
  resumed = false;
  destroyed = false;
  readonly seen: Buffer[] = [];
  readonly onread: OnRead;
  constructor(onread: OnRead) {
    super();
    this.onread = onread;
  }
  setRawMode(mode: boolean): this {
    this.modes.push(mode);
    return this;
  }
  resume(): this {
    this.resumed = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    setImmediate(() => this.emit('close'));
    return this;
  }
  /** Types `data`; returns what the callback answered (false: stop reading). */
  type(data: string | number[]): boolean {
    const chunk = bytes(data);
    chunk.copy(this.onread.buffer);
    const more = this.onread.callback(chunk.length, this.onread.buffer);
    this.seen.push(Buffer.from(this.onread.buffer.subarray(0, chunk.length)));
    return more;
  }
}

describe('readSecretFromTerminal', () => {
  function start(signals: NodeJS.Signals[] = []) {
    let terminal: FakeTerminal | undefined;
    const written: string[] = [];
    const promise = readSecretFromTerminal({
      prompt: 'Didit API key: ',
      writePrompt: (t) => written.push(t),
      open: (onread) => (terminal = new FakeTerminal(onread)),
      signals,
    });
    return { terminal: terminal!, written, promise };
  }

  it('switches to raw mode, prompts, reads into secure memory, wipes each read, restores the mode', async () => {
    const { terminal, written, promise } = start();
    expect(terminal.modes).toEqual([true]);
    expect(terminal.resumed).toBe(true);
    expect(written).toEqual(['Didit API key: ']);
    expect(terminal.type(KEY.slice(0, 20))).toBe(true);
    expect(terminal.type(`${KEY.slice(20)}x`)).toBe(true);
    expect(terminal.type([0x7f])).toBe(true);
    expect(terminal.type('\r')).toBe(false);
    const secret = await promise;
    expect(text(secret)).toBe(KEY);
    secret.dispose();
    expect(terminal.modes).toEqual([true, false]);
    expect(written).toEqual(['Didit API key: ', '\n']); // no echo of the key, not even stars
    // The read buffer was wiped after every read.
    for (const chunk of terminal.seen) expect(chunk.every((b) => b === 0)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(terminal.destroyed).toBe(true);
  });

  it('rejects with exit code 130 on Ctrl-C and restores the terminal', async () => {
    const { terminal, promise } = start();
    terminal.type('abc');
    terminal.type([0x03]);
    const err = await promise.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputAbortedError);
    expect((err as InputAbortedError).exitCode).toBe(130);
    expect(terminal.modes).toEqual([true, false]);
  });

  it('rejects when the terminal goes away before Enter', async () => {
    const { terminal, promise } = start();
    terminal.type('abc');
    terminal.emit('end');
    await expect(promise).rejects.toThrow(SecretInputError);
    expect(terminal.modes).toEqual([true, false]);
  });

  it('restores the terminal and aborts on a signal', async () => {
    const { terminal, promise } = start(['SIGUSR2']);
    terminal.type('abc');
    process.emit('SIGUSR2', 'SIGUSR2');
    const err = await promise.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputAbortedError);
    expect(terminal.modes).toEqual([true, false]);
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });

  it('refuses overlong input', async () => {
    let terminal: FakeTerminal | undefined;
    const promise = readSecretFromTerminal({
      prompt: '> ',
      writePrompt: () => {},
      open: (onread) => (terminal = new FakeTerminal(onread)),
      capacity: 8,
      signals: [],
    });
    terminal!.type('123456789');
    await expect(promise).rejects.toThrow(/longer than 8 bytes/);
  });
});
