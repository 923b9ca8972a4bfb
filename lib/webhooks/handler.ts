import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { GatewayError, PayloadTooLargeError } from '../errors.ts';
import { errorResponder } from '../http/error-responder.ts';
import { jsonResponse } from '../http/responses.ts';
import { logger, metrics, MetricUnit } from '../observability/telemetry.ts';
import type { KeyObserver, KeyUseInfo } from '../sealed-key/sealed-key.ts';
import { CanonicalJsonError, canonicalize, parseJsonTree, plainJson, type CanonicalForms, type JsonTree } from './canonical-json.ts';
import { sharedWebhookDependencies, type WebhookDependencies } from './dependencies.ts';
import { readEnvelope, type WebhookEnvelope } from './envelope.ts';
import { WebhookPayloadError, WebhookSignatureError, WebhookTimestampError } from './errors.ts';
import { detailTypeFor, summarise } from './event-mapping.ts';
import { freshness, parseHeaderTimestamp } from './replay-window.ts';
import {
  hasAnySignature,
  matchSignature,
  presentedSignature,
  SIGNATURE_HEADERS,
  type PresentedSignatures,
  type SignatureForm,
  type SignedMessages,
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
 * Order of checks — cheap and key-free first, so junk costs no KMS call:
 *  1. body present, within the size limit, UTF-8 JSON object with the envelope fields (400/413);
 *  2. `X-Timestamp` within ±tolerance, body `timestamp`/`created_at` no older than it (401);
 *  3. at least one signature header that is 64 hex characters (401);
 *  4. the webhook secret is decrypted into secure memory, the forms are tried (V2, V1 raw, Simple),
 *     and it is zeroed before anything else happens (401 when none matches);
 *  5. dedupe on `event_id` or session+status+type+timestamp (Powertools Idempotency, DynamoDB): a replay
 *     answers 200 `{status: "duplicate"}` and publishes nothing;
 *  6. one EventBridge event with an allow-listed summary; 200 `{status: "accepted"}`.
 * Failures of DynamoDB or EventBridge answer 5xx so that Didit retries (it retries on 5xx and 404).
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
      const headers = lowerCaseHeaders(event);

      const raw = rawBody(event, deps.config.maxBodyBytes);
      const tree = parseBody(raw);
      const envelope = readEnvelope(tree);

      const headerTimestampText = headers['x-timestamp']?.trim();
      const headerTimestamp = parseHeaderTimestamp(headerTimestampText);
      if (headerTimestamp === undefined || headerTimestampText === undefined) throw new WebhookTimestampError('X-Timestamp missing or malformed');
      if (freshness(headerTimestamp, now, tolerance) !== 'fresh') throw new WebhookTimestampError('X-Timestamp outside the replay window');
      const bodyFreshness = freshness(envelope.timestamp, now, tolerance);
      if (bodyFreshness !== 'fresh') throw new WebhookTimestampError(`body ${envelope.timestampField} is ${bodyFreshness}`);

      const presented: PresentedSignatures = {
        v2: presentedSignature(headers[SIGNATURE_HEADERS.v2]),
        v1: presentedSignature(headers[SIGNATURE_HEADERS.v1]),
        simple: presentedSignature(headers[SIGNATURE_HEADERS.simple]),
      };
      if (!hasAnySignature(presented)) throw new WebhookSignatureError('no well-formed signature header');

      const messages = signedMessages(raw, tree, headerTimestampText, envelope);
      const form = await verify(deps, messages, presented, signal);
      if (form === undefined) throw new WebhookSignatureError('no signature matched');

      const { detailType, known } = detailTypeFor(envelope.webhookType);
      if (!known) logger.warn('unknown Didit webhook type, published as unknown', { webhookType: envelope.webhookType, detailType });
      const detail = summarise(plainJson(tree), { signature: form, receivedAt: Math.floor(now) });
      const outcome = await deps.dedupe.once(envelope.dedupeKey, context, () => deps.publisher.publish(detailType, detail, { abortSignal: signal }));

      metrics.addMetric(outcome.duplicate ? 'WebhookDuplicate' : 'WebhookAccepted', MetricUnit.Count, 1);
      metrics.addMetric(`WebhookSignature_${form}`, MetricUnit.Count, 1);
      logger.info(outcome.duplicate ? 'didit webhook duplicate' : 'didit webhook accepted', {
        webhookType: envelope.webhookType,
        detailType,
        sessionId: envelope.sessionId,
        status: envelope.status,
        eventId: envelope.eventId,
        signature: form,
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

class WebhookDeadlineError extends GatewayError {
  readonly code = 'WEBHOOK_TIMEOUT';
  readonly statusCode = 503;
  override readonly retryable = true;
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
): Promise<SignatureForm | undefined> {
  const form = await verifyOnce(deps, messages, presented, signal);
  if (form !== undefined) return form;
  const cached = await deps.secretSource.get({ abortSignal: signal });
  if (deps.now() - cached.fetchedAt < ROTATION_RECHECK_AGE_MS) return undefined;
  const fresh = await deps.secretSource.refresh({ abortSignal: signal });
  if (fresh.fingerprint === cached.fingerprint) return undefined;
  logger.info('webhook secret ciphertext changed since it was cached: verifying again', { ciphertextFingerprint: fresh.fingerprint });
  return verifyOnce(deps, messages, presented, signal);
}

/** One decryption of the secret, one audit line (identifiers and numbers only). */
async function verifyOnce(
  deps: WebhookDependencies,
  messages: SignedMessages,
  presented: PresentedSignatures,
  signal: AbortSignal,
): Promise<SignatureForm | undefined> {
  let use: KeyUseInfo | undefined;
  const observer: KeyObserver = {
    decrypted: (info) => {
      use = info;
      metrics.addMetric('KmsDecryptLatency', MetricUnit.Milliseconds, info.kmsLatencyMs);
    },
    decryptFailed: (error) => {
      logger.error('webhook secret decrypt failed', { errorName: error.name, errorCode: error instanceof GatewayError ? error.code : undefined });
    },
  };
  let outcome = 'error';
  try {
    const form = await deps.secret.withKey(async (secret) => matchSignature(secret.bytes(), messages, presented), { abortSignal: signal, observer });
    outcome = form === undefined ? 'no_match' : `matched_${form}`;
    return form;
  } finally {
    if (use !== undefined) {
      logger.info('didit webhook secret use', {
        audit: 'didit-webhook-secret-use',
        kmsKeyId: use.kmsKeyId,
        encryptionContext: deps.encryptionContext,
        ciphertextFingerprint: use.ciphertextFingerprint,
        secretVersionId: use.secretVersionId,
        kmsLatencyMs: Math.round(use.kmsLatencyMs * 10) / 10,
        kmsRequestId: use.kmsRequestId,
        outcome,
      });
    }
  }
}

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

function lowerCaseHeaders(event: APIGatewayProxyEvent): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (values !== undefined && values.length > 0) out[name.toLowerCase()] = values[0];
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) out[name.toLowerCase()] = value;
  }
  return out;
}
