import { DecryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { SecureBuffer } from '../secure/secure-buffer.ts';
import type { EncryptionContext } from '../sealed-key/encryption-context.ts';
import { mapKmsError } from './errors.ts';
import { sendCapturingPlaintext } from './plaintext-capture.ts';

export interface DecryptInput {
  readonly ciphertext: Uint8Array;
  readonly encryptionContext: EncryptionContext;
  /** When set, KMS must use this key (defence against a swapped ciphertext from another key). */
  readonly keyId?: string;
}

/** What a Decrypt gives back: the plaintext in secure memory (the caller disposes it) and identifiers for the audit. */
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

/**
 * KMS Decrypt whose plaintext goes straight into secure memory, through the capture shared by every KMS call
 * that answers a plaintext ({@link sendCapturingPlaintext}). The caller owns the result and must dispose its
 * `plaintext`. Requires a client made by {@link createSecureKmsClient}.
 *
 * @example
 * ```ts
 * const { plaintext } = await decryptToSecureBuffer(client, { ciphertext, encryptionContext });
 * try { use(plaintext.bytes()); } finally { plaintext.dispose(); }
 * ```
 * @throws KmsResponseError (`KMS_BAD_RESPONSE`) when the plaintext could not be captured securely.
 * @throws the typed KMS errors of {@link mapKmsError} for KMS's own refusals and transport failures.
 */
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
  try {
    const { output, plaintext } = await sendCapturingPlaintext(client, command, options);
    return { plaintext, keyId: output.KeyId, requestId: output.$metadata.requestId };
  } catch (err) {
    throw mapKmsError(err, 'Decrypt');
  }
}
