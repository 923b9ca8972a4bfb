import sodiumNative from 'sodium-native';
import { SecureBuffer } from '../../secure/secure-buffer.ts';

/** The libsodium calls used here, typed as sodium-native 5 ships them (its @types lag behind). */
interface SodiumSha256 {
  crypto_hash_sha256(out: Uint8Array, input: Uint8Array): void;
  crypto_hash_sha256_init(state: Uint8Array): void;
  crypto_hash_sha256_update(state: Uint8Array, input: Uint8Array): void;
  crypto_hash_sha256_final(state: Uint8Array, out: Uint8Array): void;
  sodium_memzero(buf: Uint8Array): void;
  readonly crypto_hash_sha256_STATEBYTES: number;
  readonly crypto_hash_sha256_BYTES: number;
}
const sodium = sodiumNative as unknown as SodiumSha256;

const BLOCK = 64;
const DIGEST = 32;
const STATE = sodium.crypto_hash_sha256_STATEBYTES;

/**
 * HMAC-SHA256 (RFC 2104) whose key material lives only in libsodium memory.
 *
 * Why not `crypto.createHmac('sha256', key)`: Node's `Hmac::HmacInit` first copies the key into a
 * `ByteSource` (`FromSecretKeyBytes`: an OpenSSL allocation, cleared with `OPENSSL_clear_free` when init
 * returns), then `HMAC_Init_ex` keeps the key block and the key-derived ipad/opad digest states in an
 * `HMAC_CTX` until `digest()` resets it (cleansed on free, or only when the JS object is collected if
 * `digest()` is never reached). Those copies are cleansed by OpenSSL, but they live in the ordinary heap
 * (not mlocked, included in core dumps) and their lifetime is not ours. And why not libsodium's own
 * `crypto_auth_hmacsha256`: sodium-native 5.1 does not bind it (only `crypto_auth`, which is
 * HMAC-SHA-512-256 with a fixed 32-byte key — not what Didit signs with). It does bind the SHA-256
 * primitives, so HMAC is built here exactly as libsodium builds `crypto_auth_hmacsha256_init`:
 *  - a key longer than the 64-byte block is first hashed to 32 bytes; a shorter one is zero-padded
 *    (Didit's secret is a 43-character token: padded);
 *  - the inner and outer SHA-256 states are primed with key⊕ipad and key⊕opad once, then cloned for each
 *    message, so one decryption of the secret serves every signature form of a delivery.
 * The padded key, both pads, the primed states (key-equivalent) and every working state are in one
 * `sodium_malloc` allocation (off the V8 heap, guard pages, mlock) zeroed by {@link dispose}. libsodium's
 * SHA-256 zeroes its own stack temporaries. The caller's key bytes are only read.
 *
 * @example
 * ```ts
 * const mac = SecureHmacSha256.fromKey(secret.bytes());
 * try { mac.digest([message], out); } finally { mac.dispose(); }
 * ```
 */
export class SecureHmacSha256 {
  readonly #memory: SecureBuffer;

  private constructor(memory: SecureBuffer) {
    this.#memory = memory;
  }

  static fromKey(key: Uint8Array): SecureHmacSha256 {
    // Layout: [k0 64][pad 64][inner 104][outer 104][work 104][inner digest 32]
    const memory = SecureBuffer.alloc(2 * BLOCK + 3 * STATE + DIGEST);
    try {
      const m = memory.bytes();
      const k0 = m.subarray(0, BLOCK);
      const pad = m.subarray(BLOCK, 2 * BLOCK);
      if (key.length > BLOCK) sodium.crypto_hash_sha256(k0.subarray(0, DIGEST), key);
      else for (let i = 0; i < key.length; i++) k0[i] = key[i]!;
      const inner = m.subarray(2 * BLOCK, 2 * BLOCK + STATE);
      const outer = m.subarray(2 * BLOCK + STATE, 2 * BLOCK + 2 * STATE);
      for (let i = 0; i < BLOCK; i++) pad[i] = k0[i]! ^ 0x36;
      sodium.crypto_hash_sha256_init(inner);
      sodium.crypto_hash_sha256_update(inner, pad);
      for (let i = 0; i < BLOCK; i++) pad[i] = k0[i]! ^ 0x5c;
      sodium.crypto_hash_sha256_init(outer);
      sodium.crypto_hash_sha256_update(outer, pad);
      // Only the primed states are needed from here on.
      sodium.sodium_memzero(m.subarray(0, 2 * BLOCK));
      return new SecureHmacSha256(memory);
    } catch (err) {
      memory.dispose();
      throw err;
    }
  }

  /** Writes HMAC(key, concatenation of `parts`) into `out` (32 bytes). */
  digest(parts: readonly Uint8Array[], out: Uint8Array): void {
    if (out.length !== DIGEST) throw new RangeError('HMAC-SHA256 output must be 32 bytes');
    const m = this.#memory.bytes();
    const base = 2 * BLOCK;
    const inner = m.subarray(base, base + STATE);
    const outer = m.subarray(base + STATE, base + 2 * STATE);
    const work = m.subarray(base + 2 * STATE, base + 3 * STATE);
    const innerDigest = m.subarray(base + 3 * STATE, base + 3 * STATE + DIGEST);
    try {
      work.set(inner);
      for (const part of parts) sodium.crypto_hash_sha256_update(work, part);
      sodium.crypto_hash_sha256_final(work, innerDigest);
      work.set(outer);
      sodium.crypto_hash_sha256_update(work, innerDigest);
      sodium.crypto_hash_sha256_final(work, out);
    } finally {
      sodium.sodium_memzero(work);
      sodium.sodium_memzero(innerDigest);
    }
  }

  /** Zeroes and frees every byte derived from the key. Idempotent. */
  dispose(): void {
    this.#memory.dispose();
  }
}
