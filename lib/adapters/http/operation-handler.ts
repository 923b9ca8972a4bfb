import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { DiditResponse } from '../../didit/client.ts';
import { DiditTimeoutError, OperationTooSlowForGatewayError } from '../../errors/index.ts';
import type { OperationSpec } from '../../operations/types.ts';
import { logger, metrics } from '../../observability/telemetry.ts';
import { sharedDependencies, type GatewayDependencies } from '../../runtime/dependencies.ts';
import { executeOperation } from '../../runtime/execute-operation.ts';
import { errorResponder } from '../../responses/error-responder.ts';
import { API_GATEWAY_BUDGET_MS } from './gateway-limits.ts';
import { jsonResponse, rateLimitHeaders } from '../../responses/json-response.ts';
import { validateRequest } from './validate-request.ts';

/** Time kept back from the Lambda deadline to answer (and zero the key) before the runtime kills us. */
const DEADLINE_MARGIN_MS = 1_000;

export interface OperationHandlerOptions {
  /** Injected in tests; the default builds them from the environment once per execution environment. */
  readonly dependencies?: () => GatewayDependencies;
  /** How long a Didit call may take when API Gateway is waiting (tests shorten it). */
  readonly apiGatewayBudgetMs?: number;
}

/**
 * The Lambda handler for one operation of the table: validate, use the sealed key for exactly one
 * Didit call (plus the retries the client deems safe), answer. Everything operation-specific comes
 * from `spec`.
 *
 * The handler never rejects: every error is answered by {@link errorResponder} as
 * `{ error: { code, message, requestId } }` with its status and, for 429/503, `Retry-After`. A 500 reaches
 * the caller as `INTERNAL`; the precise code is in the log line with that request id. Dependencies are
 * built on the first invocation, so a configuration error (`ConfigError`) is that invocation's `INTERNAL` 500.
 *
 * @example
 * ```ts
 * // functions/operation.ts: one function per table entry, named by OPERATION.
 * export const handler = traced(createOperationHandler(operationNamed(loadOperationName())));
 *
 * // A test: the real handler over injected dependencies and a shorter API Gateway budget.
 * const handler = createOperationHandler(OPERATIONS.retrieveDecision, { dependencies: () => deps, apiGatewayBudgetMs: 2_000 });
 * ```
 * @throws {ValidationError} VALIDATION_FAILED (400, with `issues`); also `PayloadTooLargeError`
 *   PAYLOAD_TOO_LARGE (413) and `UnsupportedMediaTypeError` UNSUPPORTED_MEDIA_TYPE (415): the request,
 *   refused before anything is counted, decrypted or sent.
 * @throws {OperationTooSlowForGatewayError} EXCEEDS_GATEWAY_TIMEOUT (504, retryable, `Retry-After`) when an
 *   operation whose budget exceeds API Gateway's 29 s is cut at {@link API_GATEWAY_BUDGET_MS}; Didit may still
 *   process it.
 * @throws {DiditTimeoutError} DIDIT_TIMEOUT (504, retryable) when Didit does not answer in the operation's budget,
 *   or the invocation reaches its deadline (1 s before Lambda's).
 * @throws the errors of {@link executeOperation}: SPEND_CAP_REACHED (429), the key's SECRET_* / KMS_* /
 *   KEY_SHAPE_INVALID, Didit's DIDIT_* / RATE_LIMITED / NOT_FOUND, and the seal step's.
 */
export function createOperationHandler(spec: OperationSpec, options: OperationHandlerOptions = {}) {
  const dependencies = options.dependencies ?? sharedDependencies;
  const gatewayBudget = options.apiGatewayBudgetMs ?? API_GATEWAY_BUDGET_MS;

  const core = async (
    event: APIGatewayProxyEvent,
    context: Context,
    { signal }: { signal: AbortSignal },
  ): Promise<APIGatewayProxyResult> => {
    metrics.addDimension('operation', spec.name);
    const valid = await validateRequest(spec, event);
    const deadline = deadlineOf(context);
    const capped = viaApiGateway(event) && spec.timeoutMs > gatewayBudget;
    // Only when API Gateway's budget, not the function's own deadline, is what runs out first.
    const gatewayBound = capped && Date.now() + gatewayBudget < deadline;
    const { response, json } = await executeOperation(spec, valid, {
      deps: dependencies(),
      signal,
      deadline,
      timeoutMs: capped ? gatewayBudget : spec.timeoutMs,
      caller: callerOf(event),
      lambdaRequestId: context.awsRequestId,
      sourceRequestId: event.requestContext?.requestId,
      onTimeout: (err) =>
        gatewayBound
          ? new OperationTooSlowForGatewayError('Didit slower than the API Gateway budget', {
              cause: err,
              retryAfterSeconds: Math.ceil(spec.timeoutMs / 1000),
            })
          : undefined,
    });
    return successResponse(response, json, context.awsRequestId);
  };

  return middy(core, {
    timeoutEarlyInMillis: DEADLINE_MARGIN_MS,
    timeoutEarlyResponse: () => {
      throw new DiditTimeoutError('invocation deadline reached');
    },
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(errorResponder({ logger }));
}

function deadlineOf(context: Context): number {
  const remaining = typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 900_000;
  return Date.now() + Math.max(0, remaining - DEADLINE_MARGIN_MS);
}

/** True for API Gateway proxy events (the only synchronous caller with a hard time limit). */
function viaApiGateway(event: APIGatewayProxyEvent): boolean {
  return typeof event.requestContext?.apiId === 'string' && typeof event.httpMethod === 'string';
}

function successResponse(response: DiditResponse, json: unknown, requestId: string): APIGatewayProxyResult {
  const headers = { 'x-request-id': requestId, ...rateLimitHeaders(response.rateLimit) };
  if (response.json === undefined && response.body.length > 0) {
    // Binary answers (PDF reports) pass through base64-encoded, as API Gateway expects.
    return {
      statusCode: response.status,
      headers: {
        'cache-control': 'no-store',
        'content-type': response.contentType ?? 'application/octet-stream',
        ...(response.contentDisposition === undefined ? {} : { 'content-disposition': response.contentDisposition }),
        ...headers,
      },
      body: response.body.toString('base64'),
      isBase64Encoded: true,
    };
  }
  return jsonResponse(response.status, json, headers);
}

/** Who called: the IAM principal (REST API with IAM auth), or a JWT subject, never a token. */
function callerOf(event: APIGatewayProxyEvent): string {
  const ctx = event.requestContext;
  const iam = ctx?.identity?.userArn ?? ctx?.identity?.caller ?? undefined;
  if (iam) return iam;
  const claims = (ctx?.authorizer as { claims?: { sub?: unknown } } | undefined)?.claims;
  if (typeof claims?.sub === 'string') return `jwt:${claims.sub}`;
  const principal = ctx?.authorizer?.['principalId'];
  return typeof principal === 'string' ? principal : 'anonymous';
}
