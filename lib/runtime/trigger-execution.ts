import type { Context } from 'aws-lambda';
import type { OperationSpec } from '../operations/types.ts';
import type { GatewayDependencies } from './dependencies.ts';
import type { ExecutionContext } from './execute-operation.ts';

/**
 * Time kept back from the Lambda deadline: a Didit call still running then is cut (DiditTimeoutError), and
 * what follows it — storing the outcome, deleting the objects, publishing — still fits before the runtime
 * stops us. Function timeouts are set so that this never cuts a call short of its table budget.
 */
export const TRIGGER_DEADLINE_MARGIN_MS = 5_000;

/** The execution context of one operation run by an asynchronous trigger (no API Gateway budget). */
export function triggerExecution(
  spec: OperationSpec,
  deps: GatewayDependencies,
  context: Context,
  signal: AbortSignal,
  source: { readonly caller: string; readonly requestId: string | undefined },
): ExecutionContext {
  const remaining = typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 900_000;
  return {
    deps,
    signal,
    deadline: Date.now() + Math.max(0, remaining - TRIGGER_DEADLINE_MARGIN_MS),
    timeoutMs: spec.timeoutMs,
    caller: source.caller,
    lambdaRequestId: context.awsRequestId,
    sourceRequestId: source.requestId,
  };
}
