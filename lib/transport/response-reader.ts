import httpParser from 'http-parser-js';
import { SecureBuffer, wipe } from '../secure/secure-buffer.ts';
import { ResponseFramingError, ResponseTooLargeError } from './errors.ts';

const { HTTPParser } = httpParser;

/** Where http-parser-js stands in the chunk it is executing (plain fields of the parser object, 0.5.x). */
interface ParserPosition {
  readonly offset?: unknown;
  readonly end?: unknown;
}

/** Where a response body accumulates: ordinary memory, or secure memory when the body may carry a secret. */
export type BodySink = 'plain' | 'secure';

export interface ParsedResponse {
  readonly status: number;
  /** Lower-cased names; repeated headers joined with ", " as RFC 9110 allows. */
  readonly headers: Readonly<Record<string, string>>;
  readonly keepAlive: boolean;
  /** Plain sinks give a Buffer; secure sinks give a SecureBuffer the receiver must dispose. */
  readonly body: Buffer | SecureBuffer;
}

/**
 * Feeds raw bytes from one socket into a maintained HTTP/1.1 parser (http-parser-js) and collects
 * exactly one response. The parser hands body pieces as views into the chunk we gave it, so body
 * bytes are copied once, into the sink, and the caller can wipe the chunk right after `push`.
 */
export class ResponseReader {
  readonly #parser = new HTTPParser(HTTPParser.RESPONSE);
  readonly #maxBytes: number;
  readonly #sink: BodySink;
  #status = 0;
  #headers: Record<string, string> = {};
  #keepAlive = false;
  #headersDone = false;
  #complete = false;
  #executing = false;
  #plain: Buffer[] = [];
  #plainLength = 0;
  #secure: SecureBuffer | undefined;
  #secureLength = 0;

  constructor(options: { maxBodyBytes: number; sink: BodySink }) {
    this.#maxBytes = options.maxBodyBytes;
    this.#sink = options.sink;
    const parser = this.#parser;
    parser[HTTPParser.kOnHeadersComplete] = (info) => {
      // A second response in the same read (the parser starts over after the first): never a new sink.
      if (this.#headersDone) throw new ResponseFramingError('unexpected second response');
      this.#status = info.statusCode;
      this.#keepAlive = info.shouldKeepAlive;
      this.#headers = foldHeaders(info.headers);
      this.#headersDone = true;
      const declared = Number(this.#headers['content-length']);
      if (Number.isFinite(declared) && declared > this.#maxBytes) {
        throw new ResponseTooLargeError(`response body of ${declared} bytes exceeds ${this.#maxBytes}`);
      }
      if (this.#sink === 'secure') {
        // Allocate once when the length is known, so the body never needs a second secure copy.
        const size = Number.isFinite(declared) && declared > 0 ? declared : this.#maxBytes;
        this.#secure = SecureBuffer.alloc(Math.max(size, 1));
      }
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer, offset: number, length: number) => {
      if (this.#complete) throw new ResponseFramingError('unexpected bytes after the response');
      this.#append(chunk.subarray(offset, offset + length));
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      // One exchange, one response: bytes after it in the same read mean the framing is off (a smuggled or
      // mis-sized response). The parser would go on to read them as a second response; stop it here.
      // Fails closed if the parser's position is not readable (another version): then no bytes can be vouched for.
      const at = parser as unknown as ParserPosition;
      if (this.#executing && (typeof at.offset !== 'number' || typeof at.end !== 'number' || at.offset < at.end)) {
        throw new ResponseFramingError('unexpected bytes after the response');
      }
      this.#complete = true;
    };
  }

  get headersReceived(): boolean {
    return this.#headersDone;
  }

  get complete(): boolean {
    return this.#complete;
  }

  /** Parses a chunk. Throws on malformed framing or oversize bodies. */
  push(chunk: Buffer): void {
    if (this.#complete) {
      // Bytes after a complete response on a keep-alive connection mean the framing is off.
      throw new ResponseFramingError('unexpected bytes after the response');
    }
    let result: number | Error;
    this.#executing = true;
    try {
      result = this.#parser.execute(chunk);
    } finally {
      this.#executing = false;
    }
    if (result instanceof Error) throw new ResponseFramingError(`malformed HTTP response: ${result.message}`);
    // Belt and braces: whatever the parser did, it must have stopped at the end of one response.
    if (this.#complete && result !== chunk.length) throw new ResponseFramingError('unexpected bytes after the response');
  }

  /** The peer closed the connection: completes a close-delimited body, or reports truncation. */
  end(): void {
    if (this.#complete) return;
    const result = this.#parser.finish();
    if (result instanceof Error || !this.#complete) {
      throw new ResponseFramingError('connection closed before the response was complete');
    }
  }

  /** The finished response. Ownership of a secure body passes to the caller. */
  take(): ParsedResponse {
    if (!this.#complete) throw new ResponseFramingError('response not complete');
    let body: Buffer | SecureBuffer;
    if (this.#sink === 'secure') {
      body = this.#secure ?? SecureBuffer.alloc(1);
      body.truncate(this.#secureLength);
      this.#secure = undefined;
    } else {
      body = this.#plain.length === 1 ? this.#plain[0]! : Buffer.concat(this.#plain, this.#plainLength);
      this.#plain = [];
    }
    return { status: this.#status, headers: this.#headers, keepAlive: this.#keepAlive, body };
  }

  /** Releases anything held (a secure sink in particular) when the exchange fails. */
  discard(): void {
    this.#secure?.dispose();
    this.#secure = undefined;
    for (const piece of this.#plain) wipe(piece);
    this.#plain = [];
  }

  #append(piece: Buffer): void {
    const total = (this.#sink === 'secure' ? this.#secureLength : this.#plainLength) + piece.length;
    if (total > this.#maxBytes) throw new ResponseTooLargeError(`response body exceeds ${this.#maxBytes} bytes`);
    if (this.#sink === 'secure') {
      const target = this.#secure;
      if (target === undefined || total > target.capacity().length) {
        throw new ResponseFramingError('response body longer than its content-length');
      }
      piece.copy(target.capacity(), this.#secureLength);
      this.#secureLength = total;
    } else {
      // Copy: the piece is a view into a read buffer that is reused and wiped after each read.
      this.#plain.push(Buffer.from(piece));
      this.#plainLength = total;
    }
  }
}

function foldHeaders(flat: readonly string[]): Record<string, string> {
  // No prototype: a header named `constructor` or `__proto__` is just a header.
  const out: Record<string, string> = Object.create(null);
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const value = flat[i + 1]!;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}
