import { createHash } from 'node:crypto';

/**
 * A short, stable identifier of a *ciphertext* (never of a plaintext): lets operators tell which
 * sealed version a function used, from logs, without the logs holding anything decryptable.
 */
export function ciphertextFingerprint(ciphertext: Uint8Array): string {
  return `sha256:${createHash('sha256').update(ciphertext).digest('hex').slice(0, 16)}`;
}
