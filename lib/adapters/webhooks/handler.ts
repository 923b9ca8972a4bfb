import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { GatewayError, PayloadTooLargeError, ValidationError } from '../../errors/index.ts';
import { errorResponder } from '../../responses/error-responder.ts';
import { jsonResponse } from '../../responses/json-response.ts';
import type { ValidRequest } from '../../validation/request.ts';
import { secretUseAuditRecord } from '../../observability/audit.ts';
import { logger, metrics, MetricUnit } from '../../observability/telemetry.ts';
import type { KeyObserver, KeyUseInfo } from '../../sealed-key/key-scope.ts';
import { canonicalize, parseJsonTree, plainJson, type CanonicalForms, type JsonTree } from './canonical-json.ts';
import { decisionRequest } from './decision.ts';
import { onceForAll } from '../../idempotency/delivery-dedupe.ts';
import { sharedWebhookDependencies, type WebhookDependencies } from './dependencies.ts';
import { readEnvelope, type WebhookEnvelope } from './envelope.ts';
import { CanonicalJsonError, WebhookDeadlineError, WebhookPayloadError, WebhookSignatureError, WebhookTimestampError, WebhookTypeError } from './errors.ts';
import { detailTypeFor, summarise, summariseSimple, type SimpleFields } from './event-mapping.ts';
import type { PublishReceipt } from '../../events/publisher.ts';
import { freshness, parseHeaderTimestamp } from './replay-window.ts';
import {
  hasAnySignature,
  presentedSignature,
  SIGNATURE_HEADERS,
  strongestPresented,
  uncheckable,
  verifySignatures,
  type PresentedSignatures,
  type SignedMessages,
  type Verification,
} from './signatures.ts';

/** Time kept back from the Lambda deadline to answer before the runtime kills us. */
const DEADLINE_MARGIN_MS = 1_000;

/**
 * A signature mismatch re-reads the sealed secret (it may have been rotated since the ciphertext was
 * cached) only when the cached copy is at least this old: bounds the extra Secrets Manager reads that
 * forged deliveries can cause to one per minute per execution environment.
 */
const ROTATION_RECHECK_AGE_MS = 60_000;

export interface WebhookHandlerOptions {
  /** Injected in tests; the default builds them from the environment once per execution environment. */
  readonly dependencies?: () => WebhookDependencies;
}

/**
 * The Didit webhook receiver (`POST /v1/webhooks/didit`, no IAM authoriser: Didit cannot sign SigV4; the
 * HMAC signatures are the authentication).
 *
 * Order of checks — cheap and key-free first, so a forged delivery that fails them costs no KMS call:
 *  1. body present, within the size limit, UTF-8 JSON object with the envelope fields (400/413), and a
 *     `webhook_type` this receiver knows (400 WEBHOOK_TYPE_UNKNOWN);
 *  2. `X-Timestamp` (once) within ±tolerance, body `timestamp`/`created_at` no older than it (401);
 *  3. the signature headers: at least one, each present header exactly once and 64 hex characters, each
 *     checkable against this body (401); when Simple is the strongest one, the stage accepts Simple, the
 *     signed `timestamp` is the one checked for freshness and `session_id` is a UUID (401/400);
 *  4. the webhook secret is decrypted into secure memory and EVERY presented form is checked: one that does
 *     not verify rejects the delivery whatever else verifies (401), so the strongest presented form decides
 *     (V2 > X-Signature raw > Simple) and the secret is zeroed before anything else happens;
 *  5. dedupe (Powertools Idempotency, DynamoDB) on authenticated fields only: `event_id`, else
 *     session+status+type+timestamp, for a whole-body signature; session+status+type+timestamp for Simple.
 *     A replay answers 200 `{status: "duplicate"}` and publishes nothing;
 *  6. one EventBridge event with an allow-listed summary; 200 `{status: "accepted"}`. A Simple-only delivery
 *     publishes its four signed fields and the decision fetched from Didit (sealed API key, one KMS Decrypt),
 *     never the body's other fields.
 * Failures of DynamoDB or EventBridge answer 5xx so that Didit retries (it retries on 5xx and 404).
 *
 * The handler never rejects: every error is answered by `errorResponder` as `{ error: { code, message,
 * requestId } }` (a 500 as `INTERNAL`), and counted as `WebhookRejected_<code>`. Every 401 carries the same
 * sentence, whichever check failed; the log line names the check.
 *
 * @example
 * ```ts
 * // functions/webhook.ts
 * export const handler = traced(createWebhookHandler());
 *
 * // A test: the real receiver over dependencies bound to an emulator and a fixed clock.
 * const deps = createWebhookDependencies(loadWebhookConfig(env), { dynamodb, eventBridge, secretsManager }, () => fixedNow);
 * const handler = createWebhookHandler({ dependencies: () => deps });
 * ```
 * @throws {WebhookPayloadError} WEBHOOK_PAYLOAD_INVALID (400): empty, not UTF-8 JSON, missing envelope fields, or a
 *   Simple-only delivery whose `session_id` is not a session id. `PayloadTooLargeError` PAYLOAD_TOO_LARGE (413).
 * @throws {WebhookTypeError} WEBHOOK_TYPE_UNKNOWN (400): a `webhook_type` this receiver does not handle.
 * @throws {WebhookTimestampError} WEBHOOK_TIMESTAMP_INVALID (401): `X-Timestamp` missing, malformed, repeated with
 *   different values or outside the window, or the body's timestamp too old or in the future.
 * @throws {WebhookSignatureError} WEBHOOK_SIGNATURE_INVALID (401): no signature, a malformed or repeated one, a
 *   presented form that does not verify, or Simple-only where the stage refuses it.
 * @throws the webhook secret's errors (see `SealedKey.withKey`): SECRETS_UNAVAILABLE, KMS_THROTTLED,
 *   KMS_UNAVAILABLE (503); SECRET_NOT_FOUND, SECRET_MALFORMED, KMS_ACCESS_DENIED, KMS_KEY_UNUSABLE,
 *   KMS_INVALID_CIPHERTEXT, KEY_SHAPE_INVALID (500, answered `INTERNAL`); KMS_BAD_RESPONSE (502).
 * @throws {WebhookInProgressError} WEBHOOK_IN_PROGRESS (503, `Retry-After: 30`) while another invocation holds the
 *   same delivery; `IdempotencyStoreUnavailableError` IDEMPOTENCY_STORE_UNAVAILABLE (503) when DynamoDB fails.
 * @throws {EventPublishError} EVENT_PUBLISH_FAILED (502): EventBridge did not take the event (the dedupe record is
 *   released, so Didit's retry publishes again).
 * @throws {WebhookDecisionUnavailableError} WEBHOOK_DECISION_UNAVAILABLE (502): a Simple-only delivery whose decision
 *   Didit did not give; the API key's own KMS / Secrets Manager errors pass through as above.
 * @throws {WebhookDeadlineError} WEBHOOK_TIMEOUT (503): the invocation reached its deadline (1 s before Lambda's).
 */
export function createWebhookHandler(options: WebhookHandlerOptions = {}) {
  const dependencies = options.dependencies ?? sharedWebhookDependencies;

  const core = async (event: APIGatewayProxyEvent, context: Context, { signal }: { signal: AbortSignal }): Promise<APIGatewayProxyResult> => {
    metrics.addDimension('operation', 'diditWebhook');
    const started = performance.now();
    try {
      const deps = dependencies();
      const now = deps.now() / 1000;
      const tolerance = deps.config.toleranceSeconds;
      const headers = headerValues(event);

      const raw = rawBody(event, deps.config.maxBodyBytes);
      const tree = parseBody(raw);
      const envelope = readEnvelope(tree);
      const { detailType, known } = detailTypeFor(envelope.webhookType);
      if (!known) throw new WebhookTypeError('webhook_type is not one this receiver knows');

      const headerTimestampText = single(headers, 'x-timestamp', (why) => new WebhookTimestampError(`X-Timestamp ${why}`))?.trim();
      const headerTimestamp = parseHeaderTimestamp(headerTimestampText);
      if (headerTimestamp === undefined || headerTimestampText === undefined) throw new WebhookTimestampError('X-Timestamp missing or malformed');
      if (freshness(headerTimestamp, now, tolerance) !== 'fresh') throw new WebhookTimestampError('X-Timestamp outside the replay window');
      const bodyFreshness = freshness(envelope.timestamp, now, tolerance);
      if (bodyFreshness !== 'fresh') throw new WebhookTimestampError(`body ${envelope.timestampField} is ${bodyFreshness}`);

      const presented = presentedHeaders(headers);
      if (!hasAnySignature(presented)) throw new WebhookSignatureError('no signature header');
      const messages = signedMessages(raw, tree, headerTimestampText, envelope);
      const uncheckableReason = uncheckable(presented, messages);
      if (uncheckableReason !== undefined) throw new WebhookSignatureError(uncheckableReason);
      // Everything a Simple-only delivery needs is checked here too, before the secret is decrypted.
      const decisionFor = strongestPresented(presented) === 'simple' ? simpleOnlyChecks(deps, envelope) : undefined;

      const verification = await verify(deps, messages, presented, signal);
      if (!verification.ok) throw new WebhookSignatureError(`X-Signature${verification.failed === 'v1' ? '' : verification.failed === 'v2' ? '-V2' : '-Simple'} presented and not verified`);
      const { form, coverage } = verification;

      const meta = { signature: form, receivedAt: Math.floor(now) };
      let dedupeKeys: string[];
      let publish: () => Promise<PublishReceipt>;
      if (decisionFor === undefined) {
        const detail = summarise(plainJson(tree), meta);
        dedupeKeys = [envelope.dedupeKey, envelope.fieldsKey];
        publish = () => deps.publisher.publish(detailType, detail, { abortSignal: signal });
      } else {
        // Only the four signed fields are read from the body; the decision is Didit's own, fetched after the
        // dedupe claim so that a replay costs no Didit call and no second KMS Decrypt.
        dedupeKeys = [envelope.fieldsKey];
        publish = async () => {
          const decision = await deps.decisions.fetch(decisionFor.request, { context, signal, requestId: event.requestContext?.requestId });
          const detail = summariseSimple(decisionFor.fields, decision, meta);
          return deps.publisher.publish(detailType, detail, { abortSignal: signal });
        };
      }
      const outcome = await onceForAll(deps.dedupe, dedupeKeys, context, publish);

      metrics.addMetric(outcome.duplicate ? 'WebhookDuplicate' : 'WebhookAccepted', MetricUnit.Count, 1);
      metrics.addMetric(`WebhookSignature_${form}`, MetricUnit.Count, 1);
      logger.info(outcome.duplicate ? 'didit webhook duplicate' : 'didit webhook accepted', {
        webhookType: envelope.webhookType,
        detailType,
        sessionId: envelope.sessionId,
        status: envelope.status,
        // Unsigned in a Simple-only delivery: not worth a log line then.
        eventId: coverage === 'body' ? envelope.eventId : undefined,
        signature: form,
        authenticated: coverage,
        duplicate: outcome.duplicate,
        eventBridgeEventId: outcome.receipt.eventId,
        latencyMs: Math.round((performance.now() - started) * 10) / 10,
      });
      return jsonResponse(200, { status: outcome.duplicate ? 'duplicate' : 'accepted' }, { 'x-request-id': context.awsRequestId });
    } catch (err) {
      const code = err instanceof GatewayError ? err.code : 'INTERNAL';
      metrics.addMetric('WebhookRejected', MetricUnit.Count, 1);
      metrics.addMetric(`WebhookRejected_${code}`, MetricUnit.Count, 1);
      throw err;
    }
  };

  return middy(core, {
    timeoutEarlyInMillis: DEADLINE_MARGIN_MS,
    timeoutEarlyResponse: () => {
      throw new WebhookDeadlineError('invocation deadline reached');
    },
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(errorResponder({ logger }));
}

/**
 * Decrypts the secret, tries the forms, zeroes it. If nothing matched and the cached ciphertext is old
 * enough, re-reads the sealed secret once: a rotated secret must not turn every delivery into a 401
 * until the ciphertext cache expires (Didit does not retry 4xx).
 */
async function verify(
  deps: WebhookDependencies,
  messages: SignedMessages,
  presented: PresentedSignatures,
  signal: AbortSignal,
): Promise<Verification> {
  const first = await verifyOnce(deps, messages, presented, signal);
  if (first.ok) return first;
  const cached = await deps.secretSource.get({ abortSignal: signal });
  if (deps.now() - cached.fetchedAt < ROTATION_RECHECK_AGE_MS) return first;
  const fresh = await deps.secretSource.refresh({ abortSignal: signal });
  if (fresh.fingerprint === cached.fingerprint) return first;
  logger.info('webhook secret ciphertext changed since it was cached: verifying again', { ciphertextFingerprint: fresh.fingerprint });
  return verifyOnce(deps, messages, presented, signal);
}

/** One decryption of the secret, one audit line built from how the verification ended (lib/observability/audit.ts). */
async function verifyOnce(
  deps: WebhookDependencies,
  messages: SignedMessages,
  presented: PresentedSignatures,
  signal: AbortSignal,
): Promise<Verification> {
  let use: KeyUseInfo | undefined;
  let verification: Verification | undefined;
  try {
    verification = await deps.secret.withKey(
      async (secret, keyUse) => {
        use = keyUse;
        return verifySignatures(secret.bytes(), messages, presented);
      },
      { abortSignal: signal, observer: secretDecryptTelemetry },
    );
    return verification;
  } finally {
    if (use !== undefined) {
      logger.info('didit webhook secret use', secretUseAuditRecord({ use, encryptionContext: deps.encryptionContext, verification }));
    }
  }
}

const secretDecryptTelemetry: KeyObserver = {
  decrypted: (info) => {
    metrics.addMetric('KmsDecryptLatency', MetricUnit.Milliseconds, info.kmsLatencyMs);
  },
  decryptFailed: (error) => {
    logger.error('webhook secret decrypt failed', { errorName: error.name, errorCode: error instanceof GatewayError ? error.code : undefined });
  },
};

function signedMessages(raw: Buffer, tree: JsonTree, headerTimestamp: string, envelope: WebhookEnvelope): SignedMessages {
  let forms: CanonicalForms | undefined;
  try {
    forms = canonicalize(tree);
  } catch (err) {
    // A number beyond the double range: Python could not have signed it; V1/Simple may still match.
    if (!(err instanceof CanonicalJsonError)) throw err;
  }
  return {
    canonical: forms === undefined ? undefined : Buffer.from(forms.unicode, 'utf8'),
    canonicalAscii: forms === undefined || forms.ascii === forms.unicode ? undefined : Buffer.from(forms.ascii, 'utf8'),
    headerTimestamp: Buffer.from(headerTimestamp, 'latin1'),
    rawBody: raw,
    simple: envelope.simpleMessage === undefined ? undefined : Buffer.from(envelope.simpleMessage, 'utf8'),
  };
}

/** The body bytes exactly as Didit sent them (API Gateway may have base64-encoded them). */
function rawBody(event: APIGatewayProxyEvent, maxBytes: number): Buffer {
  if (event.body === null || event.body === undefined || event.body === '') throw new WebhookPayloadError('empty body');
  // Cheap bound before decoding: base64 is 4/3 of the bytes, UTF-8 at most 3 bytes per UTF-16 unit.
  if (event.body.length > maxBytes * (event.isBase64Encoded ? 4 / 3 : 1) + 4) throw new PayloadTooLargeError(`webhook body exceeds ${maxBytes} bytes`);
  const raw = Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (raw.length > maxBytes) throw new PayloadTooLargeError(`webhook body exceeds ${maxBytes} bytes`);
  return raw;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function parseBody(raw: Buffer): JsonTree {
  let text: string;
  try {
    text = UTF8.decode(raw);
  } catch {
    throw new WebhookPayloadError('body is not UTF-8');
  }
  try {
    return parseJsonTree(text);
  } catch {
    // Not the parser's message: it quotes the input.
    throw new WebhookPayloadError('body is not JSON');
  }
}

/** Every value of every header, by lower-case name (API Gateway's `headers` repeats the last of `multiValueHeaders`). */
function headerValues(event: APIGatewayProxyEvent): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (name: string, value: string | undefined): void => {
    if (value === undefined) return;
    const key = name.toLowerCase();
    const values = out.get(key) ?? [];
    if (!values.includes(value)) values.push(value);
    out.set(key, values);
  };
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) for (const value of values ?? []) add(name, value);
  for (const [name, value] of Object.entries(event.headers ?? {})) add(name, value);
  return out;
}

/** The one value of a header; two different values of a header that authenticates are ambiguous: refused. */
function single(headers: Map<string, string[]>, name: string, refuse: (why: string) => Error): string | undefined {
  const values = headers.get(name);
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) throw refuse('sent more than once with different values');
  return values[0];
}

/**
 * The signature headers, in their one accepted shape (64 hex characters). A header that is present but not
 * in that shape is a presented signature that cannot verify: it rejects the delivery here, before any KMS
 * call, rather than being skipped in favour of a weaker form.
 */
function presentedHeaders(headers: Map<string, string[]>): PresentedSignatures {
  const read = (name: string): Buffer | undefined => {
    const value = single(headers, name, (why) => new WebhookSignatureError(`${name} ${why}`));
    if (value === undefined) return undefined;
    const signature = presentedSignature(value);
    if (signature === undefined) throw new WebhookSignatureError(`${name} is not 64 hex characters`);
    return signature;
  };
  return { v2: read(SIGNATURE_HEADERS.v2), v1: read(SIGNATURE_HEADERS.v1), simple: read(SIGNATURE_HEADERS.simple) };
}

/**
 * The key-free checks of a delivery that only X-Signature-Simple will authenticate: allowed in this stage,
 * its freshness checked on the signed `timestamp` field (not on an unsigned `created_at`), and a session id
 * Didit's decision route accepts. Returns what the decision fetch and the summary need.
 */
function simpleOnlyChecks(deps: WebhookDependencies, envelope: WebhookEnvelope): { request: ValidRequest; fields: SimpleFields } {
  if (!deps.config.acceptSimple) throw new WebhookSignatureError('signed by X-Signature-Simple only, which this stage does not accept (WEBHOOK_ACCEPT_SIMPLE=false)');
  const { sessionId, status } = envelope;
  // Every field published or checked must be the one Simple signed: `timestamp` (not `created_at`), and
  // `webhook_type` (not the entity envelope's `event`).
  if (envelope.timestampField !== 'timestamp' || envelope.webhookTypeField !== 'webhook_type' || sessionId === undefined || status === undefined) {
    throw new WebhookSignatureError('signed by X-Signature-Simple only, without the signed fields to check freshness on');
  }
  let request: ValidRequest;
  try {
    request = decisionRequest(sessionId);
  } catch (err) {
    if (err instanceof ValidationError) throw new WebhookPayloadError('session_id is not a Didit session id', { cause: err });
    throw err;
  }
  return { request, fields: { webhookType: envelope.webhookType, sessionId, status, timestamp: envelope.timestamp } };
}
