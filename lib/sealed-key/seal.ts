/**
 * Sealing a secret the gateway receives (a webhook destination's signing secret): KMS Encrypt from
 * secure memory under a context-bound encryption context, then the ciphertext stored as a new
 * Secrets Manager version (`SecretBinary`), the form infra/local/provision.ts gives the Didit key.
 *
 * The Encrypt call itself is lib/kms/encrypt.ts: the SDK serialises a placeholder, and the real
 * plaintext is spliced into a secure request body after serialisation, so it never becomes a string.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import { PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SealedSecretStoreError, SecretsUnavailableError } from '../errors/index.ts';
import { encryptFromSecureBuffer } from '../kms/encrypt.ts';
import type { SecureBuffer } from '../secure/secure-buffer.ts';
import type { EncryptionContext } from './encryption-context.ts';
import { ciphertextFingerprint } from './fingerprint.ts';

export interface SealInput {
  /** The secret; still owned (and disposed) by the caller. */
  readonly plaintext: SecureBuffer;
  /** Key id, key ARN, alias name or alias ARN. */
  readonly keyId: string;
  readonly encryptionContext: EncryptionContext;
}

export interface SealedSecret {
  /** ARN (or name, if Secrets Manager gave no ARN) of the secret that now holds the ciphertext. */
  readonly secretId: string;
  readonly versionId: string;
  /** Of the ciphertext, never of the secret: safe to log and to show. */
  readonly fingerprint: string;
  /** ARN of the KMS key that encrypted it. */
  readonly kmsKeyId: string;
}

/**
 * Encrypts `input.plaintext` and stores the ciphertext as the new AWSCURRENT version of the existing
 * secret `secretId`. `kms` must be a client of lib/kms/client.ts (the secure transport).
 */
export async function sealIntoSecret(
  clients: { readonly kms: KMSClient; readonly secrets: SecretsManagerClient },
  secretId: string,
  input: SealInput,
  options: { abortSignal?: AbortSignal } = {},
): Promise<SealedSecret> {
  const { ciphertext, keyId } = await encryptFromSecureBuffer(clients.kms, input, options);
  const fingerprint = ciphertextFingerprint(ciphertext);
  let put: { ARN?: string | undefined; VersionId?: string | undefined };
  try {
    // The SDK fills ClientRequestToken, so its own retries cannot add a second version.
    put = await clients.secrets.send(new PutSecretValueCommand({ SecretId: secretId, SecretBinary: ciphertext }), options);
  } catch (err) {
    throw mapStoreError(err);
  }
  if (put.VersionId === undefined) throw new SealedSecretStoreError('PutSecretValue answered without a VersionId');
  return { secretId: put.ARN ?? secretId, versionId: put.VersionId, fingerprint, kmsKeyId: keyId };
}

/** Our own messages: a dependency's could quote the request. */
function mapStoreError(err: unknown): Error {
  const name = err instanceof Error ? err.name : '';
  switch (name) {
    case 'ResourceNotFoundException':
    case 'AccessDeniedException':
    case 'InvalidRequestException':
    case 'InvalidParameterException':
    case 'EncryptionFailure':
    case 'LimitExceededException':
    case 'ResourceExistsException':
      return new SealedSecretStoreError(`Secrets Manager refused the sealed secret (${name})`, { cause: err });
    default:
      return new SecretsUnavailableError(`Secrets Manager unavailable (${/^[A-Za-z0-9_.]{1,64}$/.test(name) ? name : 'transport'})`, {
        cause: err,
      });
  }
}
