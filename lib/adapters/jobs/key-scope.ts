import { logger } from '../../observability/telemetry.ts';
import { keyDecryptTelemetry } from '../../observability/audit.ts';
import { SharedKeyScope } from '../../sealed-key/shared-key-scope.ts';
import type { SealedKey } from '../../sealed-key/sealed-key.ts';

/**
 * One KMS Decrypt for a whole SQS batch: the core's {@link SharedKeyScope} (lib/sealed-key/shared-key-scope.ts) with the
 * gateway's KMS metrics. The first message that needs the Didit key opens the scope; every message of the batch
 * then uses that key through `useKey`, concurrently, each Didit call with its own audit record. `close()` — in
 * the worker's `finally`, after every message has finished — zeroes and frees it; a use after `close()` is
 * refused.
 *
 * Rotation: a Didit 401 on the shared key makes that message (and any later one of the batch) go through
 * `SealedKey.withKey` itself, which re-reads the sealed key and tries the new one.
 *
 * A batch in which no message reaches Didit (all done already, or invalid) decrypts nothing.
 */
export class BatchKeyScope extends SharedKeyScope {
  constructor(sealedKey: Pick<SealedKey, 'withKey'>, options: { abortSignal?: AbortSignal } = {}) {
    super(sealedKey, {
      abortSignal: options.abortSignal,
      observer: keyDecryptTelemetry,
      onRefused: (info) => {
        logger.warn('didit refused the batch key; re-reading the sealed key for this message', { ciphertextFingerprint: info.ciphertextFingerprint });
      },
    });
  }
}
