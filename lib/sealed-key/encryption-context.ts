/** What a sealed secret is for: each purpose has its own encryption context, so a ciphertext cannot serve another. */
export type SealedPurpose = 'didit-api-key' | 'didit-webhook-secret' | 'didit-job-result';

export interface EncryptionContextInput {
  readonly service: string;
  readonly stage: string;
  readonly purpose: SealedPurpose;
}

export type EncryptionContext = Readonly<Record<string, string>>;

const VALUE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The KMS encryption context that binds a sealed secret to this service, stage and purpose.
 *
 * KMS authenticates the context as additional data: a ciphertext sealed for `stage=prod` cannot be
 * decrypted by a function that asks for `stage=dev`, and a key policy can require the same pairs
 * (`kms:EncryptionContext:purpose`). The object is frozen so no caller can widen it after creation.
 *
 * @throws {TypeError} when a value is not 1–64 of `A-Z a-z 0-9 . _ -`: a misconfigured `SERVICE_NAME` or
 *   `STAGE` (the values come from the config, never from a caller).
 * @example
 * ```ts
 * const ctx = encryptionContextFor({ service: 'didit-kms-gateway', stage: 'prod', purpose: 'didit-api-key' });
 * // { service: 'didit-kms-gateway', stage: 'prod', purpose: 'didit-api-key' }
 * ```
 */
export function encryptionContextFor(input: EncryptionContextInput): EncryptionContext {
  for (const [name, value] of Object.entries(input)) {
    // Context values end up in CloudTrail and in key-policy conditions: keep them boring.
    if (typeof value !== 'string' || !VALUE.test(value)) {
      throw new TypeError(`encryption context ${name} must match ${VALUE.source}`);
    }
  }
  return Object.freeze({ service: input.service, stage: input.stage, purpose: input.purpose });
}

/** Default service name used in the encryption context and in logs. */
export const SERVICE_NAME = 'didit-kms-gateway';
