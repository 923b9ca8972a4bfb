import type { DiditBody, DiditRequest, DiditResponse } from '../didit/client.ts';
import { DiditError, DiditResponseError, DiditTimeoutError, ValidationError } from '../errors/index.ts';
import { checkPostprocess, runPostprocess } from './postprocess.ts';
import { redact } from './redact.ts';
import type { ValidRequest } from '../validation/request.ts';
import { auditKeyUse, keyDecryptTelemetry, type DiditCallFacts } from '../observability/audit.ts';
import { logger, metrics, MetricUnit } from '../observability/telemetry.ts';
import { failureOf, startSpan } from '../observability/tracing.ts';
import type { OperationSpec } from '../operations/types.ts';
import type { KeyScope } from '../sealed-key/key-scope.ts';
import type { KeyUseInfo } from '../sealed-key/key-scope.ts';
import type { SecureBuffer } from '../secure/secure-buffer.ts';
import type { PaidCallReservation } from '../spend-cap/gate.ts';
import type { GatewayDependencies } from './dependencies.ts';

/** Where an execution comes from and how long it may take; the same for HTTP, queues and events. */
export interface ExecutionContext {
  readonly deps: GatewayDependencies;
  readonly signal: AbortSignal;
  /** Absolute deadline (ms since epoch) set by the invocation. */
  readonly deadline: number;
  /** The Didit budget for this call (the table's, or less when a caller cannot wait that long). */
  readonly timeoutMs: number;
  /** Who asked (IAM principal, queue, bus), for the audit record. */
  readonly caller: string;
  readonly lambdaRequestId: string;
  /** The request id of the trigger (API Gateway request, SQS message, event), for the audit record. */
  readonly sourceRequestId: string | undefined;
  /** Lets the caller turn a Didit timeout into its own error (API Gateway's 29 s budget). */
  readonly onTimeout?: (error: DiditTimeoutError) => Error | undefined;
  /**
   * Where the key of this call comes from. Default: `deps.sealedKey.withKey` (one KMS Decrypt per call).
   * A batch worker passes a scope that decrypted once for the whole batch (lib/adapters/jobs/key-scope.ts); a scope
   * gives each use its own `KeyUseInfo`, so that every Didit call keeps its own audit record.
   */
  readonly useKey?: KeyScope;
  /**
   * This call's count against the daily cap of paid calls, when the caller took it itself (the job worker,
   * before its batch decrypt). Default: taken here, before the key scope.
   */
  readonly paidCall?: PaidCallReservation;
}

export type { KeyScope };

export interface OperationResult {
  readonly response: DiditResponse;
  /** The JSON answer after post-processing and redaction; undefined for empty and binary answers. */
  readonly json: unknown;
}

/**
 * Runs one validated operation: the sealed key for exactly one Didit call (plus the retries the
 * client deems safe), metrics, one audit record per key use, post-processing and redaction. Every
 * trigger (API Gateway, SQS, S3, EventBridge) goes through here, so none can use the key differently.
 *
 * Order, cheapest refusal first: the seal step's configuration, the daily spend cap (before any KMS call),
 * the key scope (Secrets Manager, KMS Decrypt), the Didit call. A count whose call never reached Didit is
 * given back. Errors are thrown as they are; each trigger decides what a caller sees
 * (lib/responses/error-responder.ts, lib/runtime/failure-class.ts, lib/adapters/jobs/outcome.ts).
 *
 * @example
 * ```ts
 * const valid = validateStructured(createSession, { body: { vendor_data: 'u-123', workflow_id } });
 * const { response, json } = await executeOperation(
 *   createSession,
 *   valid,
 *   triggerExecution(createSession, deps.gateway, context, signal, { caller: 'events:app.users', requestId: event.id }),
 * );
 * ```
 * @throws {SealingNotConfiguredError} SEALING_NOT_CONFIGURED (500) for `seal=true` where no sealing target is
 *   configured, before anything is counted or sent.
 * @throws {SpendCapReachedError} SPEND_CAP_REACHED (429, not retryable, `retryAfterSeconds` until 00:00 UTC) when
 *   a paid operation is over the stage's daily cap; `SpendCounterUnavailableError` SPEND_COUNTER_UNAVAILABLE (503,
 *   retryable) when the counter cannot be updated (the cap fails closed).
 * @throws the sealed key's errors (see `SealedKey`): SECRETS_UNAVAILABLE, KMS_THROTTLED, KMS_UNAVAILABLE
 *   (503, retryable); SECRET_NOT_FOUND, SECRET_MALFORMED, KMS_ACCESS_DENIED, KMS_KEY_UNUSABLE,
 *   KMS_INVALID_CIPHERTEXT, KEY_SHAPE_INVALID (500); KMS_BAD_RESPONSE (502). Nothing was sent to Didit.
 * @throws {DiditError} Didit's answer (see `DiditClient.send`): DIDIT_REJECTED_INPUT (400), DIDIT_FORBIDDEN
 *   (403), NOT_FOUND (404), RATE_LIMITED (429, retryable), DIDIT_UNAUTHORIZED (502, after the key was re-read),
 *   DIDIT_UNAVAILABLE / DIDIT_NETWORK (502, retryable), DIDIT_BAD_RESPONSE (502), DIDIT_TIMEOUT (504, retryable;
 *   or what `ctx.onTimeout` turns it into). DIDIT_BAD_RESPONSE also when an entry that redacts or seals fields
 *   gets an answer that is not a JSON object: it is withheld, never passed on.
 * @throws the seal step's errors after Didit answered (`seal=true`): WEBHOOK_SECRET_MISSING (502),
 *   SEALED_SECRET_STORE_REFUSED (500), SECRETS_UNAVAILABLE and the KMS_* codes of the Encrypt.
 */
export async function executeOperation(spec: OperationSpec, valid: ValidRequest, ctx: ExecutionContext): Promise<OperationResult> {
  const { deps, signal } = ctx;
  // Refuse a post-processing request we cannot honour before Didit creates anything.
  checkPostprocess(spec.postprocess, { deps, query: valid.query });
  const request = diditRequest(spec, valid, ctx.deadline, signal, ctx.timeoutMs);
  const useKey: KeyScope = ctx.useKey ?? ((fn, options) => deps.sealedKey.withKey(fn, options));
  // Spend cap (lib/spend-cap/): counted BEFORE the key scope, so a call over the cap costs no KMS Decrypt and
  // sends nothing; a count whose call never reached Didit (the key could not be had) is given back.
  const paidCall = ctx.paidCall ?? (await deps.spendGate?.reserve(spec, { abortSignal: signal }));
  let reachedDidit = false;
  // Didit's answer as soon as it exists: if anything after it throws (metrics, the audit record, the key's
  // release), its body — a webhook secret, personal data — is wiped rather than left to the GC.
  let answered: DiditResponse | undefined;
  /** One use of the key: one Didit call, its metrics, then its audit record, built from what the call came to. */
  const callDidit = async (key: SecureBuffer, use?: KeyUseInfo): Promise<DiditResponse> => {
    reachedDidit = true;
    const started = performance.now();
    const span = startSpan('Didit', 'remote');
    let settled: { readonly ok: true; readonly response: DiditResponse } | { readonly ok: false; readonly error: unknown };
    let status: number | undefined;
    try {
      answered = await deps.didit.send(key, request);
      status = answered.status;
      settled = { ok: true, response: answered };
    } catch (err) {
      if (err instanceof DiditError) status = err.diditStatus;
      settled = { ok: false, error: err instanceof DiditTimeoutError && !signal.aborted ? (ctx.onTimeout?.(err) ?? err) : err };
    }
    const didit: DiditCallFacts = { status, attempts: settled.ok ? settled.response.attempts : undefined, latencyMs: performance.now() - started };
    try {
      recordDiditCall(spec.name, didit, span);
    } catch (err) {
      // A throwing metrics sink ends this use as a throw from the call would: it is what the audit records.
      settled = { ok: false, error: err };
    }
    // Every real scope describes the use; a stand-in that has no Decrypt to describe gets no record.
    if (use !== undefined) {
      auditKeyUse({
        operation: spec.name,
        lambdaRequestId: ctx.lambdaRequestId,
        sourceRequestId: ctx.sourceRequestId,
        caller: ctx.caller,
        encryptionContext: deps.encryptionContext,
        use,
        didit,
        error: settled.ok ? undefined : settled.error,
      });
    }
    if (!settled.ok) throw settled.error;
    return settled.response;
  };
  let response: DiditResponse;
  try {
    response = await useKey(callDidit, { abortSignal: signal, observer: keyDecryptTelemetry });
  } catch (err) {
    (answered as DiditResponse | undefined)?.body.fill(0);
    if (!reachedDidit) await paidCall?.release();
    throw err;
  }
  if (spec.redact === undefined && spec.postprocess === undefined) return { response, json: response.json };
  return guardedAnswer(spec, response, { deps, query: valid.query, signal });
}

/**
 * The answer of an entry that redacts or seals fields, failing closed. Such an answer must be JSON we can
 * walk: anything else (another content type, an empty body, a bare string) may carry the very field in
 * clear, so it is withheld as a 502 DIDIT_BAD_RESPONSE, never passed on as bytes. The raw body holds the
 * fields in clear whatever happens: it is wiped on every path, including a seal step or a logger that throws.
 * A `seal=true` request that cannot seal therefore never answers 2xx.
 */
async function guardedAnswer(
  spec: OperationSpec,
  response: DiditResponse,
  context: { deps: GatewayDependencies; query: Readonly<Record<string, string>>; signal: AbortSignal },
): Promise<OperationResult> {
  try {
    if (response.json === null || typeof response.json !== 'object') {
      // Never the body: only that it was withheld, and what framed it.
      logger.error('Didit answer of an operation that redacts fields cannot be parsed; withheld and wiped', {
        operation: spec.name,
        diditStatus: response.status,
        contentType: response.contentType?.slice(0, 100),
        bodyBytes: response.body.length,
      });
      throw new DiditResponseError('Didit answered a body that cannot be redacted', { diditStatus: response.status });
    }
    // The step sees Didit's answer first (it may need a field that is then redacted).
    const processed = await runPostprocess(spec.postprocess, response.json, context);
    return { response, json: redact(processed, spec.redact) };
  } finally {
    response.body.fill(0);
  }
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

/** Query parameters that are ours (e.g. `seal`) are not Didit's: they stay here. */
const GATEWAY_QUERY_PARAMETERS = new Set(['seal']);

function diditQuery(spec: OperationSpec, query: Readonly<Record<string, string>>): Record<string, string> {
  if (spec.postprocess === undefined) return { ...query };
  return Object.fromEntries(Object.entries(query).filter(([name]) => !GATEWAY_QUERY_PARAMETERS.has(name)));
}

/** Didit's metrics and trace span of one call: never the request, never the answer. */
function recordDiditCall(operation: string, call: DiditCallFacts, span: ReturnType<typeof startSpan>): void {
  metrics.addMetric('DiditLatency', MetricUnit.Milliseconds, call.latencyMs);
  metrics.addMetric(`DiditStatus${call.status === undefined ? 'None' : `${Math.floor(call.status / 100)}xx`}`, MetricUnit.Count, 1);
  if (call.status === 429) metrics.addMetric('DiditRateLimited', MetricUnit.Count, 1);
  // X-Ray (when the stage traces): the operation, status, attempts and latency; never the request.
  span.end({ operation, status: call.status, attempts: call.attempts, latency_ms: Math.round(call.latencyMs) }, failureOf(call.status));
}
