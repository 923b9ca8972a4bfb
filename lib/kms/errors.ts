/**
 * Errors of the KMS layer: the one map from the AWS SDK's KMS error names to the taxonomy's KMS errors
 * (lib/errors/key.ts), used by every KMS call, and the two internal errors of the plaintext paths. Those
 * two stay plain Errors: a failed capture is mapped to `KMS_BAD_RESPONSE` below; a failed splice is a
 * changed SDK serializer (a bug), which the CLI reports as such and a caller sees as the generic
 * `INTERNAL` 500.
 */
import {
  KmsAccessDeniedError,
  KmsInvalidCiphertextError,
  KmsKeyUnusableError,
  KmsResponseError,
  KmsThrottledError,
  KmsUnavailableError,
  NamedError,
  type GatewayErrorOptions,
  type GatewayError,
} from '../errors/index.ts';

/** The KMS calls the gateway makes; named in the operator message of a mapped error. */
export type KmsCall = 'Decrypt' | 'Encrypt' | 'GenerateDataKey';

type KmsErrorClass = new (message: string, options: GatewayErrorOptions) => GatewayError;

/**
 * The AWS SDK's KMS error names, for every KMS call. A Map, not an object: the name comes from the
 * endpoint's answer, and a name like `constructor` or `__proto__` must find nothing.
 */
const KMS_ERRORS: ReadonlyMap<string, KmsErrorClass> = new Map<string, KmsErrorClass>([
  ['ThrottlingException', KmsThrottledError],
  ['LimitExceededException', KmsThrottledError],
  ['KMSInternalException', KmsUnavailableError],
  ['DependencyTimeoutException', KmsUnavailableError],
  ['KeyUnavailableException', KmsUnavailableError],
  ['AccessDeniedException', KmsAccessDeniedError],
  ['InvalidGrantTokenException', KmsAccessDeniedError],
  ['DisabledException', KmsKeyUnusableError],
  ['KMSInvalidStateException', KmsKeyUnusableError],
  ['NotFoundException', KmsKeyUnusableError],
  ['InvalidKeyUsageException', KmsKeyUnusableError],
  ['InvalidArnException', KmsKeyUnusableError],
  ['InvalidCiphertextException', KmsInvalidCiphertextError],
  ['IncorrectKeyException', KmsInvalidCiphertextError],
]);

/**
 * Maps an SDK or transport failure of a KMS call to a typed error whose message is ours. KMS's own
 * message is never copied: a validation message from KMS or an emulator could quote the request, and
 * an Encrypt request carries the plaintext. A plaintext capture that failed is a bad response.
 *
 * @returns the error to throw (this function never throws): `KMS_THROTTLED` / `KMS_UNAVAILABLE` (503,
 *   retryable), `KMS_ACCESS_DENIED`, `KMS_KEY_UNUSABLE`, `KMS_INVALID_CIPHERTEXT` (500), `KMS_BAD_RESPONSE` (502).
 * @example
 * ```ts
 * try {
 *   await client.send(command);
 * } catch (err) {
 *   throw mapKmsError(err, 'Decrypt');
 * }
 * ```
 */
export function mapKmsError(err: unknown, call: KmsCall): Error {
  if (err instanceof KmsResponseError) return err;
  const name = err instanceof Error ? err.name : '';
  if (name === 'PlaintextCaptureError') return new KmsResponseError('KMS response not captured securely', { cause: err });
  const Mapped = KMS_ERRORS.get(name);
  if (Mapped !== undefined) return new Mapped(`KMS ${call} failed: ${name}`, { cause: err });
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status === 403 || status === 400) return new KmsAccessDeniedError(`KMS ${call} refused (${safeName(name) || status})`, { cause: err });
  return new KmsUnavailableError(`KMS ${call} failed (${safeName(name) || 'transport'})`, { cause: err });
}

/** An unknown name goes into the operator message only when it looks like an SDK error name. */
function safeName(name: string): string {
  return /^[A-Za-z0-9_.]{1,64}$/.test(name) ? name : '';
}

/** The `"Plaintext"` member of a KMS response could not be taken out securely (see plaintext-capture.ts). */
export class PlaintextCaptureError extends NamedError {}

/** The placeholder was not found exactly once in the serialized request: the SDK's serializer changed. */
export class PlaintextSpliceError extends NamedError {}
