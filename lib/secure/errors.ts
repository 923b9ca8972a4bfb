/**
 * Errors of secure memory. Plain Errors, not GatewayErrors: each is a programming error or a malformed
 * dependency answer caught where it happens, never a caller's answer as itself. Use after dispose is a
 * bug (a caller sees the generic `INTERNAL` 500); bad base64 arises inside a KMS plaintext capture and
 * leaves through the KMS error map (lib/kms/errors.ts).
 */
import { NamedError } from '../errors/gateway-error.ts';

/** Thrown on any use of a {@link SecureBuffer} after `dispose()`. */
export class SecureBufferDisposedError extends NamedError {
  constructor() {
    super('secure buffer used after disposal');
  }
}

export class Base64FormatError extends NamedError {}
