import type { EncryptionContext } from '../sealed-key/encryption-context.ts';
import type { KeyUseInfo } from '../sealed-key/sealed-key.ts';
import { logger } from './telemetry.ts';

export type AuditOutcome = 'success' | 'didit_rejected' | 'didit_error' | 'key_error' | 'aborted' | 'internal_error';

/**
 * One record per use of the Didit key. Every field is an identifier, a number or an enum:
 * nothing here can carry the key, the ciphertext, or the caller's personal data.
 */
export interface KeyAuditRecord {
  readonly operation: string;
  readonly lambdaRequestId: string;
  readonly apiRequestId: string | undefined;
  readonly caller: string;
  readonly kmsKeyId: string | undefined;
  readonly encryptionContext: EncryptionContext;
  readonly ciphertextFingerprint: string;
  readonly secretVersionId: string | undefined;
  readonly kmsLatencyMs: number;
  /** KMS's `x-amzn-RequestId` of the Decrypt: the `requestID` of its CloudTrail record. */
  readonly kmsRequestId: string | undefined;
  readonly afterRefresh: boolean;
  readonly diditStatus: number | undefined;
  readonly diditRequestId: string | undefined;
  readonly diditLatencyMs: number | undefined;
  readonly diditAttempts: number | undefined;
  readonly outcome: AuditOutcome;
  readonly errorCode: string | undefined;
}

export function auditKeyUse(record: KeyAuditRecord): void {
  logger.info('didit key use', { audit: 'didit-key-use', ...roundTimes(record) });
}

export type { KeyUseInfo };

function roundTimes(record: KeyAuditRecord): KeyAuditRecord {
  return {
    ...record,
    kmsLatencyMs: Math.round(record.kmsLatencyMs * 10) / 10,
    diditLatencyMs: record.diditLatencyMs === undefined ? undefined : Math.round(record.diditLatencyMs * 10) / 10,
  };
}
