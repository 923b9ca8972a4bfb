import sodiumNative from 'sodium-native';
import { SecureBufferDisposedError } from './errors.ts';

/** The few libsodium calls used here, typed as sodium-native 5 ships them (its @types lag behind). */
interface SodiumMemory {
  sodium_malloc(size: number): Buffer;
  sodium_free(buf: Buffer): void;
  sodium_memzero(buf: Uint8Array): void;
  sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean;
}
const sodium = sodiumNative as unknown as SodiumMemory;

/**
 * Bytes that must never become a JS string: a secret's plaintext, or a buffer that holds it (the
 * request head carrying `x-api-key`, a KMS response body before its `Plaintext` is scrubbed).
 *
 * The memory comes from libsodium's `sodium_malloc`: off the V8 heap (so the garbage collector
 * never moves or copies it), at a fixed address between guard pages, `mlock`ed where the sandbox
 * allows it, and left out of core dumps. `dispose()` zeroes it and detaches the ArrayBuffer, so any
 * later view of it has length 0 and any later use of this object throws.
 *
 * Same idea as the AWS Encryption SDK's material objects: one owner, explicit disposal, and a
 * `needs()` precondition on every access.
 *
 * @example
 * ```ts
 * const secret = SecureBuffer.alloc(32);
 * try {
 *   fillFromSomewhere(secret.bytes());
 * } finally {
 *   secret.dispose();
 * }
 * ```
 * @throws {SecureBufferDisposedError} from `bytes()`, `capacity()`, `length`, `truncate()` and `equals()` after
 *   `dispose()`: a bug, which a caller sees as the generic `INTERNAL` 500. Never a GatewayError: no code of its own.
 */
export class SecureBuffer {
  #buf: Buffer | undefined;
  #length: number;

  private constructor(buf: Buffer, length: number) {
    this.#buf = buf;
    this.#length = length;
  }

  /**
   * Allocates `size` zeroed bytes of secure memory.
   * Sizes of 64 bytes or less are still allocated off-heap: V8 keeps only small *on-heap* typed
   * arrays, and sodium's buffers are external ones, so the size rule of key-hygiene.md §3 does not apply.
   *
   * @throws {Error} when `size` is not a whole number in 1..16 MiB (a programming error, see {@link needs}).
   */
  static alloc(size: number): SecureBuffer {
    needs(Number.isInteger(size) && size > 0 && size <= 1 << 24, 'SecureBuffer size must be 1..16 MiB');
    const buf = sodium.sodium_malloc(size);
    sodium.sodium_memzero(buf);
    return new SecureBuffer(buf, size);
  }

  /** Number of meaningful bytes (may be less than the allocation after {@link truncate}). */
  get length(): number {
    this.#live();
    return this.#length;
  }

  get disposed(): boolean {
    return this.#buf === undefined;
  }

  /**
   * A view of the meaningful bytes. Valid only until `dispose()`; never keep it beyond the scope
   * that owns this object, and never turn it into a string.
   */
  bytes(): Buffer {
    const buf = this.#live();
    return buf.subarray(0, this.#length);
  }

  /** Whole allocation, for writers that fill it and then {@link truncate} to what they wrote. */
  capacity(): Buffer {
    return this.#live();
  }

  /** Shrinks the meaningful length; the bytes past it are zeroed so nothing stale remains. */
  truncate(length: number): void {
    const buf = this.#live();
    needs(Number.isInteger(length) && length >= 0 && length <= buf.length, 'truncate length out of range');
    if (length < this.#length) sodium.sodium_memzero(buf.subarray(length, this.#length));
    this.#length = length;
  }

  /** Constant-time equality with other bytes (never short-circuits on the first difference). */
  equals(other: Uint8Array): boolean {
    const mine = this.bytes();
    if (mine.length !== other.length) return false;
    return sodium.sodium_memcmp(mine, other);
  }

  /** Zeroes and releases the memory. Idempotent: a second call does nothing. */
  dispose(): void {
    const buf = this.#buf;
    if (buf === undefined) return;
    this.#buf = undefined;
    this.#length = 0;
    sodium.sodium_memzero(buf);
    // Detaches the ArrayBuffer now; libsodium frees (and zeroes again) when V8 finalises it.
    sodium.sodium_free(buf);
  }

  /** Never reveal contents through inspection, JSON or string coercion. */
  toJSON(): string {
    return '[SecureBuffer]';
  }

  toString(): string {
    return '[SecureBuffer]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.disposed ? '[SecureBuffer disposed]' : `[SecureBuffer ${this.#length} bytes]`;
  }

  #live(): Buffer {
    const buf = this.#buf;
    if (buf === undefined) throw new SecureBufferDisposedError();
    return buf;
  }
}

/** Precondition check in the Encryption SDK's style: a failed `needs` is a programming error. */
export function needs(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Zeroes ordinary memory (read chunks, scratch copies) through libsodium so the compiler keeps the writes. */
export function wipe(bytes: Uint8Array): void {
  if (bytes.byteLength > 0) sodium.sodium_memzero(bytes);
}

/**
 * True when `bytes` is a plausible HTTP header token: visible ASCII only (0x21–0x7E), which also
 * rules out CR/LF header injection, within the given length bounds. Checked byte by byte, no decoding.
 */
export function isHeaderToken(bytes: Uint8Array, minLength: number, maxLength: number): boolean {
  if (bytes.length < minLength || bytes.length > maxLength) return false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x21 || b > 0x7e) return false;
  }
  return true;
}
