/**
 * Public shapes of the local Didit sandbox: what tests configure, inject and read back.
 *
 * Kept apart from the server code so a test can import the types without pulling in `node:https`.
 */
import type { WebhookDelivery, WebhookTarget } from './webhook-sender.ts';
import type { SignerForm } from './webhook-signer.ts';

export type { WebhookDelivery, WebhookTarget } from './webhook-sender.ts';
export type { SignerForm } from './webhook-signer.ts';

/** Exact, case-sensitive session status strings of Didit v3 (didit-api.md §7.2). */
export type SessionStatus =
  | 'Not Started'
  | 'In Progress'
  | 'Approved'
  | 'Declined'
  | 'In Review'
  | 'Resubmitted'
  | 'Expired'
  | 'Abandoned'
  | 'Kyc Expired'
  | 'Awaiting User';

export const SESSION_STATUSES: readonly SessionStatus[] = [
  'Not Started',
  'In Progress',
  'Approved',
  'Declined',
  'In Review',
  'Resubmitted',
  'Expired',
  'Abandoned',
  'Kyc Expired',
  'Awaiting User',
];

export function isSessionStatus(value: unknown): value is SessionStatus {
  return typeof value === 'string' && (SESSION_STATUSES as readonly string[]).includes(value);
}

/** Per-minute request budgets per Didit rate-limit scope (didit-api.md §7.3). */
export interface RateLimits {
  decision: number;
  create: number;
  pdf: number;
  other: number;
}

export interface SandboxOptions {
  /** The key the sandbox accepts. Copied; absent means a fresh random 40-character key. */
  apiKey?: Buffer;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Serve the unauthenticated `/__sandbox/` control routes. Default false. */
  control?: boolean;
  /** Override the per-minute budgets (defaults: decision 100, create 600, other 300). */
  rateLimits?: Partial<RateLimits>;
  /** Idle keep-alive connections are closed after this long (default 120 s, as Didit's API servers). */
  keepAliveTimeoutMs?: number;
  /** Send signed `status.updated` webhooks on session status changes (also settable later: `sendWebhooksTo`). */
  webhooks?: WebhookTarget;
}

export interface RecordedFile {
  filename: string;
  bytes: number;
  mimeType: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Whether x-api-key equalled the accepted key. The key and the header value are never stored. */
  keyMatched: boolean;
  contentType?: string;
  /** Parsed JSON body, when the request carried JSON. */
  json?: unknown;
  /** Multipart text fields (last value wins). */
  fields?: Record<string, string>;
  /** Multipart files: sizes only, never the bytes. */
  files?: Record<string, RecordedFile>;
  /** What the sandbox answered; 0 while pending or when the socket was reset without an answer. */
  status: number;
  at: number;
}

export type Fault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number; body?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'malformed-json' }
  | { kind: 'chunked' };

export interface FaultRule {
  fault: Fault;
  /** How many matching requests this rule affects. Default 1. */
  times?: number;
  method?: string;
  pathPrefix?: string;
}

export interface CountFilter {
  method?: string;
  pathPrefix?: string;
  keyMatched?: boolean;
}

export interface Sandbox {
  /** e.g. https://127.0.0.1:43123 (no trailing slash). */
  readonly url: string;
  /** PEM of the CA that signed the server certificate: the client's trust anchor. */
  readonly caPem: string;
  /** `caPem` written to a fresh 0700 temp dir as a 0600 file; removed on close. */
  readonly caFile: string;
  /** The key currently accepted. */
  readonly apiKey: Buffer;
  readonly received: readonly RecordedRequest[];
  count(filter?: CountFilter): number;
  /** Faults are consumed in order by matching requests. */
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** Clears received requests, faults, stored sessions and rate-limit counters. */
  reset(): void;
  /** Switch the accepted key (rotation tests); the old key then gets 401. */
  acceptKey(key: Buffer): void;
  /**
   * Move a stored session to another status (what a user or reviewer would do on Didit's side). With a
   * webhook target, a delivery follows, signed with `signatures` when given.
   */
  setSessionStatus(sessionId: string, status: SessionStatus, options?: { signatures?: readonly SignerForm[] }): void;
  /** Where (and with which secret) to send webhooks from now on; `undefined` stops sending. */
  sendWebhooksTo(target: WebhookTarget | undefined): void;
  /** Every webhook delivery so far (status changes while a target was set), with the receiver's answers. */
  readonly webhookDeliveries: readonly WebhookDelivery[];
  /** Called after each delivery attempt. */
  onWebhookAttempt(listener: (delivery: WebhookDelivery) => void): void;
  /** Total TCP connections accepted so far. */
  connections(): number;
  /** Completed TLS handshakes ('secureConnection' events). */
  tlsHandshakes(): number;
  /** Of those, the ones that resumed an earlier session (`isSessionReused()`); the rest were full handshakes. */
  tlsResumedHandshakes(): number;
  /**
   * Closes the keep-alive connections that are idle now (as the server's idle timeout would) and
   * resolves, with how many, once each has emitted 'close' on the server side.
   */
  closeIdleConnections(): Promise<number>;
  /** TCP connections open right now (idle keep-alive ones included). */
  openConnections(): number;
  /** Stops listening and destroys open keep-alive sockets. */
  close(): Promise<void>;
}
