import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { ValidationError, type FieldIssue } from '../../errors/index.ts';
import { validateStructured } from '../../validation/request.ts';
import { logger, metrics, MetricUnit } from '../../observability/telemetry.ts';
import { createSession } from '../../operations/sessions.ts';
import { executeOperation } from '../../runtime/execute-operation.ts';
import type { PublishReceipt } from '../../events/publisher.ts';
import { sharedSignupDependencies, type SignupDependencies } from './dependencies.ts';
import { SignupDeadlineError, TriggerEventError } from './errors.ts';
import { classifyFailure } from '../../runtime/failure-class.ts';
import { triggerExecution } from '../../runtime/trigger-execution.ts';

/**
 * The event `onSignup` consumes (on the application's bus; the rule matches {@link SIGNUP_EVENT_PATTERN}):
 *
 * ```json
 * { "source": "app.users", "detail-type": "user.signup",
 *   "detail": { "userId": "u-123", "email": "ana@example.com", "workflowId": "0b6a…-uuid" } }
 * ```
 *
 * - `userId` (required): the application's user id, 1–256 characters. Sent to Didit as `vendor_data`,
 *   which makes session creation idempotent per user and workflow (didit-api.md §3.1).
 * - `email` (optional): prefills Didit's email step (`contact_details.email`); never published.
 * - `workflowId` (optional): the Didit workflow; default `DEFAULT_WORKFLOW_ID`.
 * Other detail keys are ignored (never forwarded, never published).
 */
export const SIGNUP_EVENT = Object.freeze({ source: 'app.users', detailType: 'user.signup' });
export const SIGNUP_EVENT_PATTERN = Object.freeze({ source: [SIGNUP_EVENT.source], 'detail-type': [SIGNUP_EVENT.detailType] });

/** Published (source `didit.gateway`) when the session exists: what the application sends its user to. */
export const SESSION_CREATED_DETAIL_TYPE = 'didit.session.created';
/** Published when no session can be created from this event (bad detail, Didit refused): not retried. */
export const SESSION_CREATION_FAILED_DETAIL_TYPE = 'didit.session.creation-failed';

/** `didit.session.created`: the user id and the session link, nothing else about the person. */
export type SessionCreatedDetail = {
  readonly schemaVersion: 1;
  readonly userId: string;
  readonly sessionId: string;
  /** The hosted verification link for this user (a capability: whoever has it can do the verification). */
  readonly sessionUrl: string;
  /** Didit's session status: `Not Started`, or the status of the unfinished session Didit reused. */
  readonly status: string;
  readonly workflowId: string;
};

export type SessionCreationFailedDetail = {
  readonly schemaVersion: 1;
  /** Absent when the event's userId itself was unusable. */
  readonly userId?: string;
  readonly errorCode: string;
  /** Event detail fields that were wrong (userId, email, workflowId), names only. */
  readonly invalidFields?: readonly string[];
};

export interface SignupHandlerOptions {
  readonly dependencies?: () => SignupDependencies;
}

export interface SignupResult {
  readonly status: 'created' | 'failed' | 'ignored';
  /** The same event id was handled before: nothing was created or published this time. */
  readonly duplicate: boolean;
  readonly eventBridgeEventId?: string;
}

/** createSession's field → the event detail's name, for failure reports. */
const DETAIL_FIELD: Readonly<Record<string, string>> = {
  vendor_data: 'userId',
  workflow_id: 'workflowId',
  contact_details: 'email',
  'contact_details.email': 'email',
  callback: 'SIGNUP_CALLBACK_URL',
};

const MIDDY_TIMEOUT_EARLY_MS = 1_000;

/**
 * `onSignup`: EventBridge rule target. Creates one Didit session per sign-up (createSession through
 * validateStructured and executeOperation, `vendor_data = userId`) and publishes `didit.session.created`.
 *
 * A redelivered event (EventBridge and Lambda retry a failed target, and may deliver twice) is handled
 * once: "create and publish" is idempotent on the event id (Powertools, DynamoDB), so a replay calls
 * nothing and publishes nothing. If the publish fails after Didit created the session, the record is
 * removed and the retry calls Didit again, which returns the same session (Didit's own dedupe by
 * `vendor_data` and workflow), so a retry never makes a second session either.
 *
 * A final failure is not thrown: it is published as `didit.session.creation-failed` with its `errorCode` —
 * TRIGGER_EVENT_INVALID, VALIDATION_FAILED (with `invalidFields`), SPEND_CAP_REACHED, Didit's 4xx codes — and
 * the invocation succeeds (`status: "failed"`). An event that is not `user.signup` is ignored.
 *
 * @example
 * ```ts
 * // functions/signup.ts: target of the rule SIGNUP_EVENT_PATTERN on the application's bus.
 * export const onSignup = traced(createSignupHandler());
 *
 * // A test: the real trigger over emulator-bound dependencies.
 * const onSignup = createSignupHandler({ dependencies: () => deps });
 * const event = { id: randomUUID(), source: 'app.users', 'detail-type': 'user.signup', detail: { userId: 'u-123' } };
 * const result = await onSignup(event as EventBridgeEvent<string, unknown>, context); // { status: 'created', duplicate: false, … }
 * ```
 * @throws what a retry can fix, for EventBridge's and Lambda's retry (then the on-failure destination): the key's
 *   SECRETS_UNAVAILABLE / KMS_* / SECRET_* / KEY_SHAPE_INVALID, SPEND_COUNTER_UNAVAILABLE, TRIGGER_IN_PROGRESS,
 *   IDEMPOTENCY_STORE_UNAVAILABLE, EVENT_PUBLISH_FAILED, RATE_LIMITED, DIDIT_UNAVAILABLE, DIDIT_UNAUTHORIZED,
 *   DIDIT_TIMEOUT, DIDIT_NETWORK, DIDIT_BAD_RESPONSE (session creation is idempotent per `vendor_data`, so
 *   these are retried, never reported), and an answer without `session_id` or `url`.
 * @throws {SignupDeadlineError} SIGNUP_TIMEOUT (503, retryable) when the invocation reaches its deadline.
 * @throws {ConfigError} when the function's configuration is invalid (e.g. DEFAULT_WORKFLOW_ID not a UUID).
 */
export function createSignupHandler(options: SignupHandlerOptions = {}) {
  const dependencies = options.dependencies ?? sharedSignupDependencies;
  const core = async (event: EventBridgeEvent<string, unknown>, context: Context, { signal }: { signal: AbortSignal }): Promise<SignupResult> => {
    metrics.addDimension('operation', 'onSignup');
    if (event?.source !== SIGNUP_EVENT.source || event['detail-type'] !== SIGNUP_EVENT.detailType || typeof event.id !== 'string' || event.id === '') {
      // A rule that matches more than it should: not ours to retry.
      metrics.addMetric('SignupIgnored', MetricUnit.Count, 1);
      logger.warn('not a user.signup event: ignored', { source: event?.source, detailType: event?.['detail-type'] });
      return { status: 'ignored', duplicate: false };
    }
    const deps = dependencies();
    const outcome = await deps.dedupe.once(event.id, context, () => createAndPublish(deps, event, context, signal));
    const created = outcome.receipt.detailType === SESSION_CREATED_DETAIL_TYPE;
    if (!outcome.duplicate) metrics.addMetric(created ? 'SignupSessionCreated' : 'SignupFailed', MetricUnit.Count, 1);
    else metrics.addMetric('SignupDuplicate', MetricUnit.Count, 1);
    logger.info('user.signup handled', { eventId: event.id, created, duplicate: outcome.duplicate, eventBridgeEventId: outcome.receipt.eventId });
    return { status: created ? 'created' : 'failed', duplicate: outcome.duplicate, eventBridgeEventId: outcome.receipt.eventId };
  };
  return middy(core, {
    timeoutEarlyInMillis: MIDDY_TIMEOUT_EARLY_MS,
    timeoutEarlyResponse: () => {
      throw new SignupDeadlineError('invocation deadline reached');
    },
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}

async function createAndPublish(
  deps: SignupDependencies,
  event: EventBridgeEvent<string, unknown>,
  context: Context,
  signal: AbortSignal,
): Promise<PublishReceipt> {
  const detail = record(event.detail);
  const userId = detail?.['userId'];
  try {
    if (detail === undefined) throw new TriggerEventError('user.signup detail is not an object');
    const body = sessionBody(deps, detail);
    const valid = validateStructured(createSession, { body });
    const { json } = await executeOperation(
      createSession,
      valid,
      triggerExecution(createSession, deps.gateway, context, signal, { caller: `events:${event.source}`, requestId: event.id }),
    );
    const session = record(json);
    const sessionId = session?.['session_id'];
    const sessionUrl = session?.['url'];
    const status = session?.['status'];
    // Didit created it (or will hand the same one back): a retry is free and makes no second session.
    if (typeof sessionId !== 'string' || typeof sessionUrl !== 'string') throw new Error('Didit answered without session_id or url');
    const created: SessionCreatedDetail = {
      schemaVersion: 1,
      userId: valid.input['vendor_data'] as string,
      sessionId,
      sessionUrl,
      status: typeof status === 'string' ? status : 'Not Started',
      workflowId: valid.input['workflow_id'] as string,
    };
    return await deps.publisher.publish(SESSION_CREATED_DETAIL_TYPE, created, { abortSignal: signal });
  } catch (err) {
    // Session creation with vendor_data is idempotent at Didit (§3.1): a timeout is retried, not reported.
    const failure = classifyFailure(err, { idempotent: true });
    if (failure.kind === 'retry') throw err;
    const failedDetail: { -readonly [K in keyof SessionCreationFailedDetail]: SessionCreationFailedDetail[K] } = { schemaVersion: 1, errorCode: failure.code };
    const invalid = err instanceof ValidationError ? invalidFields(err.issues) : [];
    if (typeof userId === 'string' && !invalid.includes('userId')) failedDetail.userId = userId;
    if (invalid.length > 0) failedDetail.invalidFields = invalid;
    logger.warn('user.signup failed', { eventId: event.id, errorCode: failure.code, invalidFields: invalid });
    return deps.publisher.publish(SESSION_CREATION_FAILED_DETAIL_TYPE, failedDetail, { abortSignal: signal });
  }
}

/** The createSession body for this sign-up; validateStructured checks it like any caller's. */
function sessionBody(deps: SignupDependencies, detail: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const issues: FieldIssue[] = [];
  const userId = detail['userId'];
  // vendor_data is optional for createSession, but without it nothing dedupes: required here.
  if (userId === undefined || userId === null) issues.push({ field: 'vendor_data', message: 'is required' });
  const body: Record<string, unknown> = { vendor_data: userId ?? undefined, workflow_id: detail['workflowId'] ?? deps.config.defaultWorkflowId };
  const email = detail['email'];
  if (email !== undefined && email !== null) body['contact_details'] = { email };
  if (deps.config.callbackUrl !== undefined) body['callback'] = deps.config.callbackUrl;
  if (issues.length > 0) throw new ValidationError(issues);
  for (const name of Object.keys(body)) if (body[name] === undefined) delete body[name];
  return body;
}

function invalidFields(issues: readonly FieldIssue[]): string[] {
  const names = new Set<string>();
  for (const issue of issues) {
    const name = DETAIL_FIELD[issue.field] ?? DETAIL_FIELD[issue.field.split('.')[0] ?? ''];
    if (name !== undefined) names.add(name);
  }
  return [...names];
}

function record(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
