import { DiditError, DiditTimeoutError, GatewayError } from '../errors/index.ts';
import type { EncryptionContext } from '../sealed-key/encryption-context.ts';
import type { KeyObserver, KeyUseInfo } from '../sealed-key/key-scope.ts';
import { logger, metrics, MetricUnit } from './telemetry.ts';

export type AuditOutcome = 'success' | 'didit_rejected' | 'didit_error' | 'key_error' | 'aborted' | 'internal_error';

/** What one Didit call came to, measured around `DiditClient.send` (one value per call, never updated). */
export interface DiditCallFacts {
  /** Didit's HTTP status: of the answer, or of the `DiditError` it was refused with; else undefined. */
  readonly status: number | undefined;
  /** Attempts the client made, when it answered. */
  readonly attempts: number | undefined;
  readonly latencyMs: number;
}

/**
 * Everything the audit record of one use of the Didit key says, as one immutable value: who asked for which
 * operation, which key and Decrypt served it ({@link KeyUseInfo}), what Didit did, and how the use ended.
 */
export interface KeyUseOutcome {
  readonly operation: string;
  readonly lambdaRequestId: string;
  /** The request id of the trigger (API Gateway request, SQS message, event). */
  readonly sourceRequestId: string | undefined;
  readonly caller: string;
  readonly encryptionContext: EncryptionContext;
  readonly use: KeyUseInfo;
  readonly didit: DiditCallFacts;
  /** What the use ended with, undefined on success. */
  readonly error: unknown;
}

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

/**
 * The audit record of one key use, from its outcome: a pure function (latencies rounded to 0.1 ms).
 *
 * @example
 * ```ts
 * logger.info('didit key use', { audit: 'didit-key-use', ...keyAuditRecord(outcome) });
 * ```
 */
export function keyAuditRecord(outcome: KeyUseOutcome): KeyAuditRecord {
  const { use, didit, error } = outcome;
  return {
    operation: outcome.operation,
    lambdaRequestId: outcome.lambdaRequestId,
    apiRequestId: outcome.sourceRequestId,
    caller: outcome.caller,
    ...decryptFields(use, outcome.encryptionContext),
    afterRefresh: use.afterRefresh,
    diditStatus: didit.status,
    diditRequestId: error instanceof DiditError ? error.diditRequestId : undefined,
    diditLatencyMs: tenthOfMs(didit.latencyMs),
    diditAttempts: didit.attempts,
    outcome: auditOutcomeOf(error),
    errorCode: error instanceof GatewayError ? error.code : error === undefined ? undefined : 'INTERNAL',
  };
}

/** Writes the audit record of one key use: one log line. */
export function auditKeyUse(outcome: KeyUseOutcome): void {
  logger.info('didit key use', { audit: 'didit-key-use', ...keyAuditRecord(outcome) });
}

/** How a verification with the webhook secret ended: which form matched, or which presented header failed. */
export type SecretVerification = { readonly ok: true; readonly form: string } | { readonly ok: false; readonly failed: string };

/**
 * The audit record of one use of the webhook secret, from how it ended (`verification` undefined: the use
 * threw). Identifiers and numbers only, like {@link keyAuditRecord}.
 */
export function secretUseAuditRecord(outcome: {
  readonly use: KeyUseInfo;
  readonly encryptionContext: EncryptionContext;
  readonly verification: SecretVerification | undefined;
}): Readonly<Record<string, unknown>> {
  const { use, verification } = outcome;
  return {
    audit: 'didit-webhook-secret-use',
    ...decryptFields(use, outcome.encryptionContext),
    outcome: verification === undefined ? 'error' : verification.ok ? `matched_${verification.form}` : 'no_match',
    // Which presented header did not verify (every presented one must).
    failedSignature: verification === undefined || verification.ok ? undefined : verification.failed,
  };
}

/** What every audit record says about the Decrypt that served the use (in this order). */
function decryptFields(use: KeyUseInfo, encryptionContext: EncryptionContext) {
  return {
    kmsKeyId: use.kmsKeyId,
    encryptionContext,
    ciphertextFingerprint: use.ciphertextFingerprint,
    secretVersionId: use.secretVersionId,
    kmsLatencyMs: tenthOfMs(use.kmsLatencyMs),
    kmsRequestId: use.kmsRequestId,
  } as const;
}

function auditOutcomeOf(error: unknown): AuditOutcome {
  if (error === undefined) return 'success';
  if (error instanceof DiditError) {
    // Didit answered 4xx (our key or the input refused): distinct from Didit failing.
    const status = error.diditStatus;
    if (status !== undefined && status >= 400 && status < 500 && status !== 429) return 'didit_rejected';
    return error instanceof DiditTimeoutError && error.message.includes('aborted') ? 'aborted' : 'didit_error';
  }
  if (error instanceof GatewayError) return 'key_error';
  return 'internal_error';
}

function tenthOfMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * The KMS Decrypt metrics of the Didit key (latency, failures) and the warning on a failed Decrypt: one
 * observer for every path that decrypts it (per call, or once for a batch).
 */
export const keyDecryptTelemetry: Pick<KeyObserver, 'decrypted' | 'decryptFailed'> = {
  decrypted: (info) => {
    metrics.addMetric('KmsDecryptLatency', MetricUnit.Milliseconds, info.kmsLatencyMs);
  },
  decryptFailed: (error, latencyMs) => {
    metrics.addMetric('KmsDecryptFailure', MetricUnit.Count, 1);
    metrics.addMetric('KmsDecryptLatency', MetricUnit.Milliseconds, latencyMs);
    logger.warn('kms decrypt failed', { errorName: error.name, errorCode: error instanceof GatewayError ? error.code : undefined });
  },
};
