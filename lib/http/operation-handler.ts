import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { DiditBody, DiditRequest, DiditResponse } from '../didit/client.ts';
import { DiditError, DiditTimeoutError, GatewayError, OperationTooSlowForGatewayError, ValidationError } from '../errors.ts';
import type { OperationSpec } from '../operations/types.ts';
import { auditKeyUse, type AuditOutcome } from '../observability/audit.ts';
import { logger, metrics, MetricUnit } from '../observability/telemetry.ts';
import { sharedDependencies, type GatewayDependencies } from '../runtime/dependencies.ts';
import type { KeyObserver } from '../sealed-key/sealed-key.ts';
import { errorResponder } from './error-responder.ts';
import { API_GATEWAY_BUDGET_MS } from './gateway-limits.ts';
import { checkPostprocess, runPostprocess } from './postprocess.ts';
import { redact } from './redact.ts';
import { jsonResponse, rateLimitHeaders } from './responses.ts';
import { validateRequest, type ValidRequest } from './validate-request.ts';

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
    const deps = dependencies();
    // Refuse a post-processing request we cannot honour before Didit creates anything.
    checkPostprocess(spec.postprocess, { deps, query: valid.query });
    const lambdaDeadline = deadlineOf(context);
    const capped = viaApiGateway(event) && spec.timeoutMs > gatewayBudget;
    // Only when API Gateway's budget, not the function's own deadline, is what runs out first.
    const gatewayBound = capped && Date.now() + gatewayBudget < lambdaDeadline;
    const request = diditRequest(spec, valid, lambdaDeadline, signal, capped ? gatewayBudget : spec.timeoutMs);
    const call: CallRecord = {};
    const response = await deps.sealedKey.withKey(
      async (key) => {
        const started = performance.now();
        try {
          const result = await deps.didit.send(key, request);
          call.status = result.status;
          call.attempts = result.attempts;
          return result;
        } catch (err) {
          if (err instanceof DiditError) call.status = err.diditStatus;
          if (gatewayBound && err instanceof DiditTimeoutError && !signal.aborted) {
            throw new OperationTooSlowForGatewayError('Didit slower than the API Gateway budget', {
              cause: err,
              retryAfterSeconds: Math.ceil(spec.timeoutMs / 1000),
            });
          }
          throw err;
        } finally {
          call.latencyMs = performance.now() - started;
          metrics.addMetric('DiditLatency', MetricUnit.Milliseconds, call.latencyMs);
          metrics.addMetric(`DiditStatus${call.status === undefined ? 'None' : `${Math.floor(call.status / 100)}xx`}`, MetricUnit.Count, 1);
          if (call.status === 429) metrics.addMetric('DiditRateLimited', MetricUnit.Count, 1);
        }
      },
      { abortSignal: signal, observer: keyObserver(spec, event, context, deps, call) },
    );
    if (response.json === undefined) return successResponse(response, undefined, context.awsRequestId);
    // The step sees Didit's answer first (it may need a field that is then redacted).
    const processed = await runPostprocess(spec.postprocess, response.json, { deps, query: valid.query, signal });
    // The raw answer of an operation with redacted fields holds them in clear: wipe it once parsed.
    if (spec.redact !== undefined) response.body.fill(0);
    return successResponse(response, redact(processed, spec.redact), context.awsRequestId);
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

interface CallRecord {
  status?: number | undefined;
  attempts?: number;
  latencyMs?: number;
}

function diditRequest(
  spec: OperationSpec,
  valid: ValidRequest,
  deadline: number,
  signal: AbortSignal,
  timeoutMs: number,
): DiditRequest {
  const path = spec.didit.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = valid.params[name];
    // The table guarantees a schema for every parameter; this guards the guarantee.
    if (value === undefined) throw new ValidationError([{ field: `path.${name}`, message: 'is required' }]);
    return encodeURIComponent(value);
  });
  let body: DiditBody = { kind: 'none' };
  if (spec.body === 'json') body = { kind: 'json', value: valid.input };
  if (spec.body === 'multipart') {
    const fields: Array<readonly [string, string | { filename: string; contentType: string; data: Uint8Array }]> = [];
    for (const [name, value] of Object.entries(valid.input)) fields.push([name, String(value)]);
    for (const [name, file] of Object.entries(valid.files)) fields.push([name, file]);
    body = { kind: 'multipart', fields };
  }
  return {
    method: spec.didit.method,
    path,
    query: diditQuery(spec, valid.query),
    body,
    timeoutMs,
    accept: spec.response === 'binary' ? 'application/pdf, application/octet-stream;q=0.9, application/json;q=0.5' : undefined,
    idempotent: typeof spec.idempotent === 'function' ? spec.idempotent(valid.input) : spec.idempotent,
    deadline,
    signal,
  };
}

function deadlineOf(context: Context): number {
  const remaining = typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 900_000;
  return Date.now() + Math.max(0, remaining - DEADLINE_MARGIN_MS);
}

/** Query parameters that are ours (e.g. `seal`) are not Didit's: they stay here. */
const GATEWAY_QUERY_PARAMETERS = new Set(['seal']);

function diditQuery(spec: OperationSpec, query: Readonly<Record<string, string>>): Record<string, string> {
  if (spec.postprocess === undefined) return { ...query };
  return Object.fromEntries(Object.entries(query).filter(([name]) => !GATEWAY_QUERY_PARAMETERS.has(name)));
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

function keyObserver(
  spec: OperationSpec,
  event: APIGatewayProxyEvent,
  context: Context,
  deps: GatewayDependencies,
  call: CallRecord,
): KeyObserver {
  return {
    decrypted: (info) => {
      metrics.addMetric('KmsDecryptLatency', MetricUnit.Milliseconds, info.kmsLatencyMs);
    },
    decryptFailed: (error, latencyMs) => {
      metrics.addMetric('KmsDecryptFailure', MetricUnit.Count, 1);
      metrics.addMetric('KmsDecryptLatency', MetricUnit.Milliseconds, latencyMs);
      logger.warn('kms decrypt failed', { errorName: error.name, errorCode: error instanceof GatewayError ? error.code : undefined });
    },
    released: (info, error) => {
      auditKeyUse({
        operation: spec.name,
        lambdaRequestId: context.awsRequestId,
        apiRequestId: event.requestContext?.requestId,
        caller: callerOf(event),
        kmsKeyId: info.kmsKeyId,
        encryptionContext: deps.encryptionContext,
        ciphertextFingerprint: info.ciphertextFingerprint,
        secretVersionId: info.secretVersionId,
        kmsLatencyMs: info.kmsLatencyMs,
        afterRefresh: info.afterRefresh,
        diditStatus: call.status,
        diditRequestId: error instanceof DiditError ? error.diditRequestId : undefined,
        diditLatencyMs: call.latencyMs,
        diditAttempts: call.attempts,
        outcome: outcomeOf(error),
        errorCode: error instanceof GatewayError ? error.code : error === undefined ? undefined : 'INTERNAL',
      });
      // Reset for a second use after a key refresh.
      call.status = undefined;
    },
  };
}

function outcomeOf(error: unknown): AuditOutcome {
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
