import type { Context } from 'aws-lambda';
import { DiditError } from '../../errors/index.ts';
import { validateStructured, type ValidRequest } from '../../validation/request.ts';
import { retrieveDecision } from '../../operations/sessions.ts';
import type { GatewayDependencies } from '../../runtime/dependencies.ts';
import { executeOperation, type ExecutionContext } from '../../runtime/execute-operation.ts';
import { WebhookDecisionUnavailableError } from './errors.ts';

/**
 * The authoritative decision of a session, for deliveries authenticated by X-Signature-Simple alone: Simple
 * signs `timestamp:session_id:status:webhook_type` and nothing else, so the body's `decision` (and every
 * other field) may have been edited by whoever replayed the signature. The receiver publishes what Didit
 * answers to `GET /v3/session/{id}/decision/` instead (the `retrieveDecision` table entry, through
 * executeOperation: the sealed API key, one KMS Decrypt, the same audit record as every Didit call).
 */
export interface DecisionSource {
  fetch(request: ValidRequest, invocation: { context: Context; signal: AbortSignal; requestId: string | undefined }): Promise<Readonly<Record<string, unknown>>>;
}

/**
 * The validated `retrieveDecision` request for a session id, before anything secret is touched: the table's
 * own schema (a UUID), so a Simple-only delivery whose `session_id` Didit could never have issued is refused
 * without a KMS call. Throws ValidationError.
 */
export function decisionRequest(sessionId: string): ValidRequest {
  return validateStructured(retrieveDecision, { params: { sessionId } });
}

/**
 * Time kept back from the Lambda deadline for the fetch: what follows it (publish, dedupe record, answer)
 * must still fit, and the middy early-timeout answers 1 s before the deadline.
 */
const DECISION_DEADLINE_MARGIN_MS = 2_500;

/** {@link DecisionSource} over the gateway's execution path; the gateway dependencies are built on first use. */
export class ApiDecisionSource implements DecisionSource {
  readonly #gateway: () => GatewayDependencies;

  constructor(gateway: () => GatewayDependencies) {
    this.#gateway = gateway;
  }

  async fetch(request: ValidRequest, invocation: { context: Context; signal: AbortSignal; requestId: string | undefined }): Promise<Readonly<Record<string, unknown>>> {
    const { context, signal } = invocation;
    const remaining = typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 10_000;
    const budget = Math.max(0, remaining - DECISION_DEADLINE_MARGIN_MS);
    const ctx: ExecutionContext = {
      deps: this.#gateway(),
      signal,
      deadline: Date.now() + budget,
      timeoutMs: Math.min(retrieveDecision.timeoutMs, budget),
      caller: 'didit-webhook',
      lambdaRequestId: context.awsRequestId,
      sourceRequestId: invocation.requestId,
    };
    let json: unknown;
    try {
      ({ json } = await executeOperation(retrieveDecision, request, ctx));
    } catch (err) {
      // Didit's answer (404, 401, 429, 5xx, timeout): a GET, safe to retry, so Didit's redelivery may succeed.
      if (err instanceof DiditError) throw new WebhookDecisionUnavailableError(`decision fetch failed (${err.code})`, { cause: err });
      throw err;
    }
    const decision = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Readonly<Record<string, unknown>>) : undefined;
    if (decision === undefined) throw new WebhookDecisionUnavailableError('Didit answered the decision without a JSON object');
    const sessionId = decision['session_id'];
    if (sessionId !== undefined && (typeof sessionId !== 'string' || sessionId.toLowerCase() !== request.params['sessionId']?.toLowerCase())) {
      throw new WebhookDecisionUnavailableError('Didit answered the decision of another session');
    }
    return decision;
  }
}
