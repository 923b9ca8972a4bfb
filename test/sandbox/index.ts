/**
 * The local Didit sandbox: a fake `verification.didit.me` for tests and `npm start`.
 *
 * It speaks HTTPS with a per-run CA (clients verify it like the real thing), keeps connections alive
 * like a production server, checks `x-api-key` in constant time, answers the v3 routes the gateway uses
 * (sessions, decision, ID verification, AML) with Didit-shaped bodies and errors, and lets tests inject
 * the failures a client must survive.
 *
 * @example
 * ```ts
 * const sandbox = await startSandbox();
 * // https.request(`${sandbox.url}/v3/session/`, { ca: sandbox.caPem, headers: { 'x-api-key': ... } })
 * sandbox.inject({ fault: { kind: 'status', status: 429, retryAfterSeconds: 2 } });
 * await sandbox.close();
 * ```
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey } from './api-key.ts';
import { createCertificates } from './certificates.ts';
import type { ControlTarget } from './control.ts';
import { createFaultQueue } from './faults.ts';
import { createRequestHandler } from './handler.ts';
import { DEFAULT_RATE_LIMITS, createRateLimiter } from './rate-limit.ts';
import { createSessionStore } from './sessions.ts';
import type { CountFilter, RecordedRequest, Sandbox, SandboxOptions, SignerForm } from './types.ts';
import { createWebhookSender } from './webhook-sender.ts';

export type {
  CountFilter,
  Fault,
  FaultRule,
  RateLimits,
  RecordedFile,
  RecordedRequest,
  Sandbox,
  SandboxOptions,
  SessionStatus,
  SignerForm,
  WebhookDelivery,
  WebhookTarget,
} from './types.ts';
export { SESSION_STATUSES, isSessionStatus } from './types.ts';

/**
 * Idle keep-alive connections are closed after 120 s, as Didit's API servers do (issue 11). Node's
 * server announces it in every answer (`Keep-Alive: timeout=120`), which the gateway's pool learns.
 */
const KEEP_ALIVE_TIMEOUT_MS = 120_000;

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const host = opts.host ?? '127.0.0.1';
  // Copy, so a caller that wipes its buffer after handing it over does not change what we accept.
  let acceptedKey = opts.apiKey === undefined ? generateApiKey() : Buffer.from(opts.apiKey);
  const certificates = await createCertificates(host);

  const received: RecordedRequest[] = [];
  const faults = createFaultQueue();
  // Outgoing webhooks: every status change of a stored session, signed as the pending change asks (the
  // control route can name the signature forms) or as the target says.
  const webhooks = createWebhookSender();
  if (opts.webhooks !== undefined) webhooks.configure(opts.webhooks);
  let pendingForms: readonly SignerForm[] | undefined;
  const sessions = createSessionStore((session) => {
    webhooks.statusChanged(session, pendingForms);
  });
  const areas = new Map<string, unknown>();
  const rateLimiter = createRateLimiter({
    decision: opts.rateLimits?.decision ?? DEFAULT_RATE_LIMITS.decision,
    create: opts.rateLimits?.create ?? DEFAULT_RATE_LIMITS.create,
    pdf: opts.rateLimits?.pdf ?? DEFAULT_RATE_LIMITS.pdf,
    other: opts.rateLimits?.other ?? DEFAULT_RATE_LIMITS.other,
  });

  let connectionCount = 0;
  let handshakeCount = 0;
  let closed = false;
  /** Raw TCP sockets by remote address, so a reset fault can send a real RST on the right one. */
  const sockets = new Map<string, Socket>();
  const pendingSleeps = new Set<() => void>();

  const caDir = await mkdtemp(join(tmpdir(), 'didit-sandbox-'));
  const caFile = join(caDir, 'ca.pem');
  await writeFile(caFile, certificates.caPem, { mode: 0o600 });

  const server = createServer({
    key: certificates.keyPem,
    cert: certificates.certPem,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS,
    minVersion: 'TLSv1.2',
  });
  server.on('connection', (socket: Socket) => {
    connectionCount += 1;
    const id = socketId(socket.remoteAddress, socket.remotePort);
    sockets.set(id, socket);
    socket.once('close', () => sockets.delete(id));
  });
  // Full vs resumed handshakes: resumption (a session ticket) is what a client that reconnects after
  // an idle period should use, and what the idle benchmark counts.
  let resumedCount = 0;
  const secureSockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    handshakeCount += 1;
    if (socket.isSessionReused()) resumedCount += 1;
    secureSockets.add(socket);
    socket.once('close', () => secureSockets.delete(socket));
  });
  // A client that rejects our certificate or hangs up mid-handshake is its business, not a crash.
  server.on('tlsClientError', () => undefined);

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await rm(caDir, { recursive: true, force: true });
    throw error;
  }
  const { port } = server.address() as AddressInfo;

  const sandbox: Sandbox & ControlTarget = {
    url: `https://${urlHost(host)}:${port}`,
    caPem: certificates.caPem,
    caFile,
    get apiKey() {
      return acceptedKey;
    },
    received,
    count(filter: CountFilter = {}) {
      return received.filter(
        (record) =>
          (filter.method === undefined || record.method === filter.method.toUpperCase()) &&
          (filter.pathPrefix === undefined || record.path.startsWith(filter.pathPrefix)) &&
          (filter.keyMatched === undefined || record.keyMatched === filter.keyMatched),
      ).length;
    },
    inject(rule) {
      faults.inject(rule);
    },
    clearFaults() {
      faults.clear();
    },
    reset() {
      received.length = 0;
      faults.clear();
      sessions.clear();
      areas.clear();
      rateLimiter.reset();
    },
    acceptKey(key) {
      // The old buffer is not wiped: tests still hold it (via `apiKey`) to prove it now gets 401,
      // and residue scans need the key bytes after the sandbox is gone.
      acceptedKey = Buffer.from(key);
    },
    setSessionStatus(sessionId, status, options) {
      pendingForms = options?.signatures;
      try {
        sessions.setStatus(sessionId, status);
      } finally {
        pendingForms = undefined;
      }
    },
    sendWebhooksTo(target) {
      webhooks.configure(target);
    },
    webhookDeliveries: webhooks.deliveries,
    onWebhookAttempt(listener) {
      webhooks.onAttempt(listener);
    },
    connections: () => connectionCount,
    tlsHandshakes: () => handshakeCount,
    tlsResumedHandshakes: () => resumedCount,
    async closeIdleConnections() {
      const open = [...secureSockets].filter((socket) => !socket.destroyed);
      server.closeIdleConnections();
      const closing = open.filter((socket) => socket.destroyed);
      await Promise.all(closing.map((socket) => (socket.closed ? undefined : new Promise((resolve) => socket.once('close', resolve)))));
      return closing.length;
    },
    openConnections: () => sockets.size,
    async close() {
      if (closed) return;
      closed = true;
      for (const finish of [...pendingSleeps]) finish();
      await webhooks.close();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets.values()) socket.destroy();
      await stopped;
      await rm(caDir, { recursive: true, force: true });
    },
  };

  server.on(
    'request',
    createRequestHandler({
      acceptedKey: () => acceptedKey,
      received,
      faults,
      sessions,
      areas,
      rateLimiter,
      control: opts.control === true ? sandbox : undefined,
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          const finish = (): void => {
            clearTimeout(timer);
            pendingSleeps.delete(finish);
            resolve();
          };
          const timer = setTimeout(finish, ms);
          pendingSleeps.add(finish);
        }),
      resetConnection: (req: IncomingMessage) => resetConnection(req, sockets),
    }),
  );
  return sandbox;
}

function socketId(address: string | undefined, port: number | undefined): string {
  return `${address ?? '?'}|${port ?? 0}`;
}

/**
 * Drop the connection with a TCP RST, so the client sees ECONNRESET as when a load balancer kills it.
 * The TLS socket's handle is not resettable; the underlying TCP socket is found by the peer's address.
 */
function resetConnection(req: IncomingMessage, sockets: Map<string, Socket>): void {
  const raw = sockets.get(socketId(req.socket.remoteAddress, req.socket.remotePort));
  try {
    if (raw !== undefined && !raw.destroyed) {
      raw.resetAndDestroy();
      req.socket.destroy();
      return;
    }
  } catch {
    // Fall through: a plain destroy still ends the connection without an answer.
  }
  req.socket.destroy();
}

/** A host as it appears in a URL; wildcard listen addresses are reached via loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
