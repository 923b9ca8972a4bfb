import { DecryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { SecureBuffer } from '../secure/secure-buffer.ts';
import type { EncryptionContext } from '../sealed-key/encryption-context.ts';
import { KmsResponseError } from '../errors/index.ts';
import { mapKmsError } from './errors.ts';
import { PLAINTEXT_CAPTURE_OPTIONS, plaintextCapture, type PlaintextSlot } from './plaintext-capture.ts';

export interface DecryptInput {
  readonly ciphertext: Uint8Array;
  readonly encryptionContext: EncryptionContext;
  /** When set, KMS must use this key (defence against a swapped ciphertext from another key). */
  readonly keyId?: string;
}

/**
 * KMS Decrypt whose plaintext goes straight into secure memory. The caller owns the result and
 * must dispose it. Requires a client made by {@link createSecureKmsClient}.
 */
export interface DecryptResult {
  readonly plaintext: SecureBuffer;
  /** ARN of the KMS key that KMS actually used (for the audit record). */
  readonly keyId: string | undefined;
  /**
   * KMS's `x-amzn-RequestId` for this Decrypt: CloudTrail logs the call with the same value as `requestID`,
   * so the audit record finds exactly its CloudTrail event.
   */
  readonly requestId: string | undefined;
}

export async function decryptToSecureBuffer(
  client: KMSClient,
  input: DecryptInput,
  options: { abortSignal?: AbortSignal } = {},
): Promise<DecryptResult> {
  const command = new DecryptCommand({
    CiphertextBlob: input.ciphertext,
    EncryptionContext: { ...input.encryptionContext },
    KeyId: input.keyId,
  });
  const slot: PlaintextSlot = {};
  command.middlewareStack.add(plaintextCapture(slot), PLAINTEXT_CAPTURE_OPTIONS);
  try {
    const output = await client.send(command, { abortSignal: options.abortSignal });
    if (output.Plaintext !== undefined) {
      // The capture did not run: the plaintext is now in SDK-owned memory. Refuse to use it.
      output.Plaintext.fill(0);
      throw new KmsResponseError('KMS plaintext reached the SDK output: capture middleware bypassed');
    }
    const plaintext = slot.plaintext;
    if (plaintext === undefined) throw new KmsResponseError('KMS Decrypt answered without a plaintext');
    slot.plaintext = undefined;
    return { plaintext, keyId: output.KeyId, requestId: output.$metadata.requestId };
  } catch (err) {
    slot.plaintext?.dispose();
    slot.plaintext = undefined;
    throw mapKmsError(err, 'Decrypt');
  }
}
