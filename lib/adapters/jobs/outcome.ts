import {
  DiditError,
  DiditNetworkError,
  DiditTimeoutError,
  DiditUnauthorizedError,
  GatewayError,
  OperationTooSlowForGatewayError,
  ValidationError,
} from '../../errors/index.ts';
import { WireError } from '../../transport/errors.ts';
import type { JobError } from './store.ts';

/**
 * What to do with a message whose Didit call failed:
 *  - `retry`: report a batch item failure; SQS redelivers it (and, after maxReceiveCount, dead-letters it).
 *    Only where a second call cannot be a second payment: Didit said no without processing (5xx, 429 — Didit
 *    bills 200s), the request provably never left (connection refused), the key could not be obtained
 *    (KMS, Secrets Manager), our configuration is wrong (a 401 on our key: fix it, then redrive), or the
 *    operation is idempotent.
 *  - `fail`: the job fails with the error's code, the message is deleted. Didit answered 4xx, or the input was
 *    refused, or something broke after Didit had answered (the call happened: never again).
 *  - `unknown`: a non-idempotent call may have reached Didit and we never saw the answer (timeout, connection
 *    lost after the request was sent). Retrying could pay twice, so the job fails with
 *    `DIDIT_OUTCOME_UNKNOWN` instead; the caller checks with Didit before submitting again.
 */
export type FailureDecision = 'retry' | 'fail' | 'unknown';

export function decideFailure(err: unknown, call: { readonly idempotent: boolean; readonly answered: boolean }): FailureDecision {
  if (call.answered) return 'fail';
  if (err instanceof DiditTimeoutError || err instanceof OperationTooSlowForGatewayError) return call.idempotent ? 'retry' : 'unknown';
  if (err instanceof DiditNetworkError) return call.idempotent || neverSent(err) ? 'retry' : 'unknown';
  if (err instanceof DiditUnauthorizedError) return 'retry';
  if (err instanceof DiditError) return err.retryable ? 'retry' : 'fail';
  if (err instanceof ValidationError) return 'fail';
  // Before any Didit call: key material, configuration, stores. Retry (dead-letter if it persists).
  if (err instanceof GatewayError) return err.retryable || err.status >= 500 ? 'retry' : 'fail';
  // A bug: where it happened is unknown, so never risk a second call.
  return 'fail';
}

/** True when the transport says the request never reached Didit (connect failed, or nothing was written). */
function neverSent(err: DiditNetworkError): boolean {
  const wire = err.cause;
  return wire instanceof WireError && (wire.phase === 'connect' || !wire.requestSent);
}

export const OUTCOME_UNKNOWN: JobError = Object.freeze({
  code: 'DIDIT_OUTCOME_UNKNOWN',
  message:
    'Didit may have processed this request (and billed it) but its answer was not received. It was not retried, so as not to pay twice; check with Didit before submitting it again.',
});

/** The caller-facing error of a failed job: the public code and message, as the HTTP route would answer. */
export function jobErrorOf(err: unknown): JobError {
  if (err instanceof GatewayError) return { code: err.publicCode, message: err.publicMessage };
  return { code: 'INTERNAL', message: 'The request could not be completed.' };
}

/** Didit's HTTP status in an error, when Didit answered. */
export function diditStatusOf(err: unknown): number | undefined {
  return err instanceof DiditError ? err.diditStatus : undefined;
}
