/**
 * Reads the secret to seal into secure memory: from the terminal without echo, or from stdin when it
 * is not a terminal. Never from argv, the environment or a named file.
 *
 * Neither path lets a read land in an ordinary JS Buffer:
 *  - terminal: a `tty.ReadStream` with the `onread` option, so libuv reads straight into one secure
 *    buffer (no per-read Buffer, no 'data' events); each read is fed to {@link HiddenLineEditor},
 *    which copies the accepted bytes into the secret's own secure buffer, then the read buffer is wiped;
 *  - pipe or file: `fs.readSync` into the secret's secure buffer directly.
 */
import { readSync } from 'node:fs';
import { isatty, ReadStream } from 'node:tty';
import { SecureBuffer, wipe } from '../../lib/secure/secure-buffer.ts';
import { MAX_ENCRYPT_PLAINTEXT_BYTES } from '../../lib/kms/encrypt.ts';

/** Longest secret accepted (what KMS Encrypt takes); longer input is refused, not truncated. */
export const MAX_SECRET_BYTES = MAX_ENCRYPT_PLAINTEXT_BYTES;

/** The operator aborted (Ctrl-C at the prompt, or a signal while it was shown). */
export class InputAbortedError extends Error {
  override readonly name = 'InputAbortedError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 130) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The input could not be read or is unusable (empty, too long, read error). */
export class SecretInputError extends Error {
  override readonly name = 'SecretInputError';
}

// ---------------------------------------------------------------------------------------------------------
// the line editor (pure: unit-tested with byte chunks)

export type EditorState = 'reading' | 'done' | 'aborted' | 'overflow';

const CR = 0x0d;
const LF = 0x0a;
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BS = 0x08;
const CTRL_U = 0x15;
const ESC = 0x1b;
const DEL = 0x7f;

/**
 * A minimal line editor for a terminal in raw mode that echoes nothing. Enter (CR or LF) and Ctrl-D
 * finish, Backspace/DEL delete the last byte, Ctrl-U clears, Ctrl-C aborts; escape sequences (arrow
 * keys, bracketed-paste markers) and other control bytes are dropped. Bytes after the end are ignored.
 */
export class HiddenLineEditor {
  readonly #line: SecureBuffer;
  #length = 0;
  /** 0: normal; 1: after ESC; 2: inside a CSI/SS3 sequence, until its final byte. */
  #escape = 0;
  #state: EditorState = 'reading';

  constructor(capacity = MAX_SECRET_BYTES) {
    this.#line = SecureBuffer.alloc(capacity);
  }

  get state(): EditorState {
    return this.#state;
  }

  /** Bytes entered so far (for tests); the line itself is never exposed before {@link take}. */
  get length(): number {
    return this.#length;
  }

  feed(chunk: Uint8Array): EditorState {
    const line = this.#line.capacity();
    for (let i = 0; i < chunk.length && this.#state === 'reading'; i++) {
      const b = chunk[i]!;
      if (this.#escape === 1) {
        this.#escape = b === 0x5b || b === 0x4f ? 2 : 0; // `[` (CSI) or `O` (SS3); else Alt+key: dropped
        continue;
      }
      if (this.#escape === 2) {
        if (b >= 0x40 && b <= 0x7e) this.#escape = 0; // final byte
        continue;
      }
      switch (b) {
        case CR:
        case LF:
        case CTRL_D:
          this.#state = 'done';
          break;
        case CTRL_C:
          this.#state = 'aborted';
          break;
        case BS:
        case DEL:
          if (this.#length > 0) line[--this.#length] = 0;
          break;
        case CTRL_U:
          wipe(line.subarray(0, this.#length));
          this.#length = 0;
          break;
        case ESC:
          this.#escape = 1;
          break;
        default:
          if (b < 0x20) break; // other control characters: ignored
          if (this.#length >= line.length) {
            this.#state = 'overflow';
            break;
          }
          line[this.#length++] = b;
      }
    }
    return this.#state;
  }

  /** Hands over the entered line (ownership passes to the caller). */
  take(): SecureBuffer {
    this.#line.truncate(this.#length);
    return this.#line;
  }

  dispose(): void {
    this.#line.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------
// terminal

/** What the terminal reader needs from a tty.ReadStream; tests pass a fake. */
export interface TerminalStream {
  setRawMode(mode: boolean): unknown;
  resume(): unknown;
  destroy(): unknown;
  once(event: 'end' | 'close', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

export interface OnRead {
  readonly buffer: Buffer;
  /** Called with the number of bytes read into `buffer`; return false to stop reading. */
  readonly callback: (nread: number, buf: Buffer) => boolean;
}

export type OpenTerminal = (onread: OnRead) => TerminalStream;

/** fd 0 as a tty.ReadStream whose reads land in `onread.buffer` (Node's `onread` socket option). */
export const openStdinTerminal: OpenTerminal = (onread) =>
  // `onread` is a net.Socket constructor option (tty.ReadStream passes its options through); @types/node
  // declares it only for connect().
  new ReadStream(0, { onread } as ConstructorParameters<typeof ReadStream>[1]);

export interface TerminalReadOptions {
  readonly prompt: string;
  readonly writePrompt: (text: string) => void;
  readonly open?: OpenTerminal;
  readonly capacity?: number;
  /** Signals that abort the prompt (the terminal is restored first). Default SIGTERM, SIGHUP, SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
}

const READ_BUFFER_BYTES = 1024;
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * Reads one line from the terminal in raw mode, without echo, into secure memory. Resolves with the
 * line (caller disposes); rejects with {@link InputAbortedError} on Ctrl-C or a signal, and with
 * {@link SecretInputError} on overflow or when the terminal closes. The terminal mode is restored in
 * every case.
 */
export function readSecretFromTerminal(options: TerminalReadOptions): Promise<SecureBuffer> {
  const open = options.open ?? openStdinTerminal;
  const editor = new HiddenLineEditor(options.capacity ?? MAX_SECRET_BYTES);
  const readBuffer = SecureBuffer.alloc(READ_BUFFER_BYTES);
  const signals = options.signals ?? ['SIGTERM', 'SIGHUP', 'SIGINT'];
  return new Promise<SecureBuffer>((resolve, reject) => {
    let terminal: TerminalStream | undefined;
    let settled = false;
    let rawMode = false;
    let prompted = false;
    const restore = (): void => {
      if (rawMode) {
        rawMode = false;
        try {
          terminal?.setRawMode(false);
        } catch {
          // the terminal is gone: nothing to restore
        }
      }
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      settle(new InputAbortedError(`aborted by ${signal}`, SIGNAL_EXIT[signal] ?? 130));
    };
    const settle = (outcome: EditorState | Error): void => {
      if (settled) return;
      settled = true;
      restore();
      process.off('exit', restore);
      for (const s of signals) process.off(s, onSignal);
      if (prompted) options.writePrompt('\n'); // Enter was not echoed
      // Destroy after the current read callback has returned; the read buffer is released on close.
      setImmediate(() => terminal?.destroy());
      if (outcome === 'done') {
        resolve(editor.take());
        return;
      }
      editor.dispose();
      if (outcome === 'aborted') reject(new InputAbortedError('aborted at the prompt (Ctrl-C)'));
      else if (outcome === 'overflow') reject(new SecretInputError(`input longer than ${editor.length} bytes`));
      else if (outcome instanceof Error) reject(outcome);
      else reject(new SecretInputError('the terminal closed before Enter'));
    };
    try {
      terminal = open({
        buffer: readBuffer.capacity(),
        callback: (nread: number, buf: Buffer): boolean => {
          const chunk = buf.subarray(0, nread);
          let state: EditorState;
          try {
            state = settled ? 'done' : editor.feed(chunk);
          } finally {
            wipe(chunk);
          }
          if (settled) return false;
          if (state === 'reading') return true;
          settle(state);
          return false; // stop reading: typeahead after Enter stays in the terminal's queue
        },
      });
      terminal.once('close', () => {
        readBuffer.dispose();
        settle(new SecretInputError('the terminal closed before Enter'));
      });
      terminal.once('end', () => settle(new SecretInputError('the terminal closed before Enter')));
      terminal.once('error', () => settle(new SecretInputError('reading the terminal failed')));
      process.once('exit', restore);
      for (const s of signals) process.on(s, onSignal);
      terminal.setRawMode(true);
      rawMode = true;
      options.writePrompt(options.prompt);
      prompted = true;
      terminal.resume();
    } catch (err) {
      readBuffer.dispose();
      settle(err instanceof Error ? new SecretInputError(`cannot read the terminal: ${err.message}`) : new SecretInputError('cannot read the terminal'));
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// pipe or file

/** Reads into `target`; returns bytes read, 0 at end of input. May throw EAGAIN for a non-blocking fd. */
export type ReadInto = (target: Buffer) => number;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Reads ALL of the input into secure memory and drops ONE trailing `\n` or `\r\n`. Input longer than
 * `capacity` (after that newline) is refused: a truncated key would seal garbage.
 */
export function readAllSecure(read: ReadInto, capacity = MAX_SECRET_BYTES): SecureBuffer {
  // Two bytes of room for the newline we drop, one more to notice input that is too long.
  const out = SecureBuffer.alloc(capacity + 3);
  const buf = out.capacity();
  let length = 0;
  try {
    for (;;) {
      if (length === buf.length) throw new SecretInputError(`input longer than ${capacity} bytes`);
      let n: number;
      try {
        n = read(buf.subarray(length));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
          Atomics.wait(sleeper, 0, 0, 20); // a non-blocking pipe: wait for the writer
          continue;
        }
        if (code === 'EOF') break; // Windows pipes
        throw new SecretInputError(`reading stdin failed (${typeof code === 'string' ? code : 'error'})`);
      }
      if (n === 0) break;
      length += n;
    }
    if (length > 0 && buf[length - 1] === LF) {
      length--;
      if (length > 0 && buf[length - 1] === CR) length--;
    }
    if (length > capacity) throw new SecretInputError(`input longer than ${capacity} bytes`);
    out.truncate(length);
    return out;
  } catch (err) {
    out.dispose();
    throw err;
  }
}

/** `readAllSecure` over a file descriptor (stdin by default). */
export function readSecretFromFd(fd = 0, capacity = MAX_SECRET_BYTES): SecureBuffer {
  return readAllSecure((target) => readSync(fd, target, 0, target.length, null), capacity);
}

// ---------------------------------------------------------------------------------------------------------

export interface SecretRequest {
  /** Shown in the prompt, e.g. `Didit API key for stage prod`. */
  readonly label: string;
}

export type SecretReader = (request: SecretRequest) => Promise<SecureBuffer>;

/** The real reader: the terminal when stdin is one, else all of stdin. */
export function stdinSecretReader(writePrompt: (text: string) => void): SecretReader {
  return async (request) => {
    if (isatty(0)) {
      return readSecretFromTerminal({
        prompt: `${request.label} (input hidden; Enter to finish, Ctrl-C to abort): `,
        writePrompt,
      });
    }
    return readSecretFromFd(0);
  };
}
