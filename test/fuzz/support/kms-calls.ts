import type { HttpRequest } from '@smithy/types';
import { SecureKmsRequestHandler } from '../../../lib/kms/secure-request-handler.ts';

/**
 * Counts every KMS request of this process by operation (Decrypt, Encrypt, GenerateDataKey…), whatever
 * client made it: every KMS client of the gateway goes through {@link SecureKmsRequestHandler}, so the
 * count does not depend on how an entry point wires its dependencies.
 */
export interface KmsCallCounter {
  total(): number;
  of(operation: string): number;
  restore(): void;
}

export function countKmsCalls(): KmsCallCounter {
  const calls = new Map<string, number>();
  const proto = SecureKmsRequestHandler.prototype;
  const original = proto.handle;
  proto.handle = function (this: SecureKmsRequestHandler, request: HttpRequest, options?: Parameters<typeof original>[1]) {
    const target = Object.entries(request.headers).find(([k]) => k.toLowerCase() === 'x-amz-target')?.[1] ?? '?';
    const operation = target.replace('TrentService.', '');
    calls.set(operation, (calls.get(operation) ?? 0) + 1);
    return original.call(this, request, options);
  };
  return {
    total: () => [...calls.values()].reduce((a, b) => a + b, 0),
    of: (operation) => calls.get(operation) ?? 0,
    restore: () => {
      proto.handle = original;
    },
  };
}
