/**
 * Probe for the Lambda-sandbox warm run (not a peer): one KMS Decrypt of the sealed key per invocation,
 * exactly as the gateway makes it (its dependencies, its secure KMS client, its cached ciphertext), the
 * plaintext zeroed at once and no Didit call. Its invocation time at the 512 MB share is "one KMS round
 * trip" in goal 3's budget (gateway − naive ≤ one KMS round trip + 1 ms).
 */
import { sharedDependencies } from '../../lib/runtime/dependencies.ts';

export const handler = async (): Promise<{ statusCode: number; body: string }> => {
  await sharedDependencies().sealedKey.withKey(async () => undefined);
  return { statusCode: 200, body: '' };
};
