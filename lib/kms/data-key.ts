import { GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { KmsResponseError } from '../errors/index.ts';
import type { EncryptionContext } from '../sealed-key/encryption-context.ts';
import type { SecureBuffer } from '../secure/secure-buffer.ts';
import { mapKmsError } from './errors.ts';
import { sendCapturingPlaintext } from './plaintext-capture.ts';

/** A fresh AES-256 data key: its plaintext in secure memory (the caller disposes it), its KMS ciphertext to store. */
export interface DataKey {
  readonly plaintext: SecureBuffer;
  readonly ciphertext: Uint8Array;
  readonly keyId: string | undefined;
}

const DATA_KEY_BYTES = 32;

/**
 * KMS GenerateDataKey (AES_256) whose plaintext goes straight into secure memory, through the same capture as
 * Decrypt ({@link sendCapturingPlaintext}): the SDK's output never holds `Plaintext`, and without the secure
 * request handler there is no key (fail closed). Requires a client made by `createSecureKmsClient`.
 *
 * @example
 * ```ts
 * const dataKey = await generateDataKeyToSecureBuffer(client, { keyId, encryptionContext });
 * try { seal(dataKey.plaintext.bytes()); } finally { dataKey.plaintext.dispose(); }
 * ```
 * @throws KmsResponseError (`KMS_BAD_RESPONSE`) when the plaintext could not be captured securely or the data
 *   key is not 32 bytes with a ciphertext.
 * @throws the typed KMS errors of `mapKmsError` for KMS's own refusals and transport failures.
 */
export async function generateDataKeyToSecureBuffer(
  client: KMSClient,
  input: { keyId: string; encryptionContext: EncryptionContext },
  options: { abortSignal?: AbortSignal } = {},
): Promise<DataKey> {
  const command = new GenerateDataKeyCommand({ KeyId: input.keyId, KeySpec: 'AES_256', EncryptionContext: { ...input.encryptionContext } });
  try {
    const { output, plaintext } = await sendCapturingPlaintext(client, command, options);
    if (plaintext.length !== DATA_KEY_BYTES || output.CiphertextBlob === undefined) {
      plaintext.dispose();
      throw new KmsResponseError('KMS GenerateDataKey answered an unexpected data key');
    }
    return { plaintext, ciphertext: output.CiphertextBlob, keyId: output.KeyId };
  } catch (err) {
    throw mapKmsError(err, 'GenerateDataKey');
  }
}
