/**
 * The sandbox's outgoing webhooks, as Didit sends them (didit-api.md §6): when a stored session's status
 * changes (update-status, a review, the `/__sandbox/` status route), a v3 `status.updated` delivery for it
 * is POSTed to the configured URL, signed with the configured secret (the destination's `secret_shared_key`)
 * by webhook-signer.ts: `X-Timestamp` and, by default, all three signature headers (`X-Signature-V2`,
 * `X-Signature`, `X-Signature-Simple`); any other set of the forms the receiver accepts on request.
 *
 * - The body carries `decision` (the decision endpoint's document) for Approved, Declined, In Review and
 *   Abandoned, `vendor_data`/`workflow_id`/`metadata` only when set on the session, and an `event_id`.
 * - A 5xx or 404 answer, or no answer, is retried with the same body and signatures, twice (Didit's
 *   "up to 2 retries"); Didit waits about 1 and 4 minutes, the sandbox `retryDelaysMs` (default 1 s, 4 s).
 * - Nothing is sent while no target is configured. The secret is copied in and zeroed when replaced or
 *   on close; it is never logged.
 */
import { randomUUID } from 'node:crypto';
import { decisionBody, type StoredSession } from './sessions.ts';
import type { SessionStatus } from './types.ts';
import { signDelivery, type SignerForm } from './webhook-signer.ts';

/** The statuses whose deliveries carry the decision (didit-api.md §6.3). */
const WITH_DECISION: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Abandoned']);
const DEFAULT_FORMS: readonly SignerForm[] = ['v2', 'v1', 'simple'];
const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1_000, 4_000];
const REQUEST_TIMEOUT_MS = 30_000;

export interface WebhookTarget {
  /** Where deliveries go, e.g. the gateway's `POST /v1/webhooks/didit`. */
  readonly url: string;
  /** The destination's signing secret (copied). */
  readonly secret: Uint8Array;
  /** Signature headers of every delivery unless a status change asks for others; default v2, v1, simple. */
  readonly forms?: readonly SignerForm[];
  /** Waits before the retries (their count is the number of retries); default 1 s and 4 s. */
  readonly retryDelaysMs?: readonly number[];
}

export interface WebhookDelivery {
  readonly eventId: string;
  readonly sessionId: string;
  readonly status: SessionStatus;
  readonly webhookType: 'status.updated';
  readonly forms: readonly SignerForm[];
  readonly url: string;
  /** The receiver's HTTP status per attempt (0: no answer). */
  readonly answers: number[];
  /** The last answer's body (first 2 KiB). */
  lastBody: string;
  /** True once no attempt is left to make (accepted, refused for good, or retries spent). */
  done: boolean;
}

export interface WebhookSender {
  configure(target: WebhookTarget | undefined): void;
  /** Sends a `status.updated` delivery for the session's current status (nothing when unconfigured). */
  statusChanged(session: StoredSession, forms?: readonly SignerForm[]): WebhookDelivery | undefined;
  readonly deliveries: readonly WebhookDelivery[];
  /** Called after each attempt. */
  onAttempt(listener: (delivery: WebhookDelivery) => void): void;
  close(): Promise<void>;
}

export function createWebhookSender(): WebhookSender {
  let target: (Omit<WebhookTarget, 'secret'> & { secret: Buffer }) | undefined;
  const deliveries: WebhookDelivery[] = [];
  const listeners: Array<(delivery: WebhookDelivery) => void> = [];
  const inFlight = new Set<Promise<void>>();
  const abort = new AbortController();

  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });

  const attempt = async (delivery: WebhookDelivery, body: string, headers: Record<string, string>): Promise<number> => {
    try {
      const res = await fetch(delivery.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.any([abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      });
      delivery.lastBody = (await res.text()).slice(0, 2048);
      return res.status;
    } catch (error) {
      delivery.lastBody = error instanceof Error ? error.message : 'no answer';
      return 0;
    }
  };

  const deliver = async (delivery: WebhookDelivery, body: string, headers: Record<string, string>, delays: readonly number[]): Promise<void> => {
    for (let i = 0; ; i++) {
      const status = await attempt(delivery, body, headers);
      delivery.answers.push(status);
      const retry = (status === 0 || status === 404 || status >= 500) && i < delays.length && !abort.signal.aborted;
      delivery.done = !retry;
      for (const listener of listeners) listener(delivery);
      if (!retry) return;
      await wait(delays[i] ?? 0);
      if (abort.signal.aborted) {
        delivery.done = true;
        return;
      }
    }
  };

  return {
    configure(next) {
      target?.secret.fill(0);
      target = next === undefined ? undefined : { ...next, secret: Buffer.from(next.secret) };
    },
    statusChanged(session, forms) {
      if (target === undefined || abort.signal.aborted) return undefined;
      const now = Math.floor(Date.now() / 1000);
      const eventId = randomUUID();
      const payload: Record<string, unknown> = {
        event_id: eventId,
        session_id: session.sessionId,
        status: session.status,
        webhook_type: 'status.updated',
        created_at: now,
        timestamp: now,
        session_kind: 'user',
        environment: 'live',
      };
      if (session.workflowId !== null) {
        payload['workflow_id'] = session.workflowId;
        payload['workflow_version'] = session.workflowVersion;
      }
      if (session.vendorData !== null) payload['vendor_data'] = session.vendorData;
      if (session.metadata !== null && session.metadata !== undefined) payload['metadata'] = session.metadata;
      if (WITH_DECISION.has(session.status)) payload['decision'] = decisionBody(session);
      const used = forms ?? target.forms ?? DEFAULT_FORMS;
      const { body, headers } = signDelivery({ secret: target.secret, payload, forms: used, headerTimestamp: now });
      const delivery: WebhookDelivery = {
        eventId,
        sessionId: session.sessionId,
        status: session.status,
        webhookType: 'status.updated',
        forms: [...used],
        url: target.url,
        answers: [],
        lastBody: '',
        done: false,
      };
      deliveries.push(delivery);
      const running = deliver(delivery, body, headers, target.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS);
      inFlight.add(running);
      void running.finally(() => inFlight.delete(running));
      return delivery;
    },
    deliveries,
    onAttempt(listener) {
      listeners.push(listener);
    },
    async close() {
      abort.abort();
      await Promise.allSettled([...inFlight]);
      target?.secret.fill(0);
      target = undefined;
    },
  };
}
