import { DiditError, DiditNetworkError, DiditResponseError, DiditTimeoutError, GatewayError } from '../errors/index.ts';
import { WireError } from '../transport/errors.ts';

/**
 * What a trigger does with an error of one attempt:
 *
 * - `final`: the caller's input or Didit's verdict on it (validation, Didit 4xx) — retrying cannot change
 *   it. Also a non-idempotent call whose outcome is unknown (Didit may have processed and billed it: a
 *   timeout, a connection lost after the request was sent, an unreadable answer): the trigger reports it
 *   and does NOT try again on its own, so nothing is paid twice; the caller decides.
 * - `retry`: a fault on our side or a transient one, before Didit processed anything (KMS, Secrets Manager,
 *   S3, DynamoDB, Didit 429/5xx or a connection that failed before sending, our key refused): thrown, so
 *   the Lambda retry (and after it the on-failure destination) gets the event again.
 */
export interface FailureClass {
  readonly kind: 'final' | 'retry';
  /** Stable code for events and logs (`GatewayError.code`, `INTERNAL` otherwise). */
  readonly code: string;
  /** Didit may have processed the request. */
  readonly outcomeUnknown: boolean;
}

export function classifyFailure(err: unknown, options: { readonly idempotent: boolean }): FailureClass {
  const code = err instanceof GatewayError ? err.code : 'INTERNAL';
  if (err instanceof DiditError && mayHaveBeenProcessed(err)) return { kind: options.idempotent ? 'retry' : 'final', code, outcomeUnknown: true };
  // The taxonomy decides the rest. A 4xx that is not retryable is the caller's input or Didit's verdict on
  // it: final. Everything else is a fault on our side or a transient one: retried — Didit 429 (retryable),
  // Didit 5xx, and our key refused by Didit (a 502: operators fix it while the event waits in the
  // retry/on-failure path) included.
  if (err instanceof GatewayError && err.status < 500 && !err.retryable) return { kind: 'final', code, outcomeUnknown: false };
  return { kind: 'retry', code, outcomeUnknown: false };
}

/** A request that reached Didit without an answer we could read. */
function mayHaveBeenProcessed(err: DiditError): boolean {
  if (err instanceof DiditTimeoutError || err instanceof DiditResponseError) return true;
  if (err instanceof DiditNetworkError) {
    const wire = err.cause;
    // Unknown transport failures are treated as sent: the safe side for money.
    return !(wire instanceof WireError) || wire.requestSent;
  }
  return false;
}
