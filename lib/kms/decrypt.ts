import { DecryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { SecureBuffer } from '../secure/secure-buffer.ts';
import type { EncryptionContext } from '../sealed-key/encryption-context.ts';
import {
  KmsAccessDeniedError,
  KmsInvalidCiphertextError,
  KmsKeyUnusableError,
  KmsResponseError,
  KmsThrottledError,
  KmsUnavailableError,
  type GatewayError,
} from '../errors/index.ts';
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
    throw mapKmsError(err);
  }
}

const BY_NAME: Record<string, new (message: string, options: { cause: unknown }) => GatewayError> = {
  ThrottlingException: KmsThrottledError,
  LimitExceededException: KmsThrottledError,
  KMSInternalException: KmsUnavailableError,
  DependencyTimeoutException: KmsUnavailableError,
  AccessDeniedException: KmsAccessDeniedError,
  InvalidCiphertextException: KmsInvalidCiphertextError,
  IncorrectKeyException: KmsInvalidCiphertextError,
  InvalidGrantTokenException: KmsAccessDeniedError,
  DisabledException: KmsKeyUnusableError,
  KMSInvalidStateException: KmsKeyUnusableError,
  NotFoundException: KmsKeyUnusableError,
  KeyUnavailableException: KmsUnavailableError,
  InvalidKeyUsageException: KmsKeyUnusableError,
};

/** Maps SDK and transport failures to typed errors whose messages are ours (no response text). */
export function mapKmsError(err: unknown): Error {
  if (err instanceof KmsResponseError) return err;
  const name = err instanceof Error ? err.name : '';
  if (name === 'PlaintextCaptureError') return new KmsResponseError('KMS response not captured securely', { cause: err });
  // The name comes from the endpoint's answer: an own entry only, never Object.prototype's.
  const Mapped = Object.hasOwn(BY_NAME, name) ? BY_NAME[name] : undefined;
  if (Mapped !== undefined) return new Mapped(`KMS Decrypt failed: ${name}`, { cause: err });
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status === 403 || status === 400) return new KmsAccessDeniedError(`KMS Decrypt refused (${name || status})`, { cause: err });
  return new KmsUnavailableError(`KMS Decrypt failed (${name || 'transport'})`, { cause: err });
}
