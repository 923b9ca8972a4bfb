/**
 * The sandbox side of Didit's `x-api-key` check (didit-api.md §1.1).
 *
 * The sandbox never logs, records or echoes the key: it only answers "matched or not".
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** 30 random bytes as base64url: 40 characters from [A-Za-z0-9_-]. */
export function generateApiKey(): Buffer {
  return Buffer.from(randomBytes(30).toString('base64url'), 'latin1');
}

/**
 * Compare the request's x-api-key with the accepted key in constant time.
 *
 * Node lower-cases header names, so `X-API-Key` and `x-api-key` both land here. A header sent twice is
 * refused rather than joined, since Node would otherwise hand us "a, b".
 */
export function requestKeyMatches(req: IncomingMessage, accepted: Buffer): boolean {
  // An empty accepted key would let an empty header through; such a sandbox accepts nothing.
  if (accepted.length === 0) return false;
  const values = req.headersDistinct['x-api-key'];
  if (values === undefined || values.length !== 1) return false;
  const value = values[0];
  if (value === undefined) return false;
  // Node decodes header bytes as latin1, so this round-trips to the bytes that were on the wire.
  const presented = Buffer.from(value, 'latin1');
  const sameLength = presented.length === accepted.length;
  // Compare something of equal length either way so the time taken does not depend on the length.
  const equal = timingSafeEqual(sameLength ? presented : accepted, accepted);
  presented.fill(0);
  return sameLength && equal;
}
