/**
 * A plain HTTP forwarder between the sandboxed functions and the emulator, standing where AWS's service
 * front ends stand:
 *  - idle keep-alive connections are closed after `idleTimeoutMs` (AWS's front ends close idle connections;
 *    the emulators' own timeouts are not configurable), so a function frozen for longer finds its pooled
 *    sockets closed after the thaw;
 *  - it counts requests by `X-Amz-Target` (KMS Decrypt, GenerateDataKey…), which is how the load run counts
 *    KMS decrypts per message without trusting the function's own logs;
 *  - it can answer the next KMS requests with KMS's ThrottlingException (HTTP 400), as KMS does past its
 *    request quota, to test bursts of throttling.
 * It forwards bytes unchanged (SigV4 signatures stay valid: the Host header is kept).
 */
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface AwsProxy {
  readonly endpoint: string;
  /** Requests forwarded (or answered with a fault) by target, e.g. `TrentService.Decrypt`. */
  count(target: string): number;
  /** The `x-amzn-RequestId` values the service answered requests of `target` with, in order. */
  requestIds(target: string): readonly string[];
  /** Answer the next `n` KMS requests (any TrentService target) with ThrottlingException. */
  throttleKms(n: number): void;
  readonly throttled: number;
  /** Hold the answers of the next `n` requests whose target starts with `targetPrefix` for `ms`. */
  delay(targetPrefix: string, ms: number, n?: number): void;
  openConnections(): number;
  /**
   * Closes the keep-alive connections that are idle now, as the idle timeout does, and resolves (with how
   * many) once each has emitted 'close' here.
   */
  closeIdleConnections(): Promise<number>;
  close(): Promise<void>;
}

/** What a test or the load run sees of the requests of some targets (never the functions' own logs). */
export interface AwsInspector {
  readonly targets: readonly string[];
  /** The request body, once it has arrived. */
  readonly onBody?: (target: string, body: Buffer) => void;
  /**
   * The whole exchange once the service answered: request headers (the SDK's `amz-sdk-invocation-id` is the
   * same for every retry of one command, `amz-sdk-request` numbers the attempt), body, and the answer.
   */
  readonly onAnswer?: (exchange: { target: string; headers: IncomingMessage['headers']; body: Buffer; status: number; answer: Buffer }) => void;
}

export async function startAwsProxy(
  upstream: string,
  opts: { idleTimeoutMs?: number; /** Sees the requests of the named targets (e.g. `AWSEvents.PutEvents`) and their answers. */ inspect?: AwsInspector } = {},
): Promise<AwsProxy> {
  const target = new URL(upstream);
  const counts = new Map<string, number>();
  const ids = new Map<string, string[]>();
  const sockets = new Set<Socket>();
  let throttleLeft = 0;
  let throttled = 0;
  const delays: { prefix: string; ms: number; left: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const amzTarget = String(req.headers['x-amz-target'] ?? `${req.method} ${(req.url ?? '').split('?')[0]}`);
    counts.set(amzTarget, (counts.get(amzTarget) ?? 0) + 1);
    if (throttleLeft > 0 && amzTarget.startsWith('TrentService.')) {
      throttleLeft -= 1;
      throttled += 1;
      req.resume();
      const body = JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' });
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': crypto.randomUUID(), 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const inspected = opts.inspect?.targets.includes(amzTarget) ? opts.inspect : undefined;
    const requestChunks: Buffer[] = [];
    if (inspected) {
      req.on('data', (c: Buffer) => requestChunks.push(c));
      req.on('end', () => inspected.onBody?.(amzTarget, Buffer.concat(requestChunks)));
    }
    const slow = delays.find((d) => d.left > 0 && amzTarget.startsWith(d.prefix));
    if (slow) slow.left -= 1;
    const upstreamReq = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamRes) => {
        const id = upstreamRes.headers['x-amzn-requestid'];
        if (typeof id === 'string') {
          const list = ids.get(amzTarget) ?? [];
          if (list.length < 100_000) list.push(id);
          ids.set(amzTarget, list);
        }
        const answer = (): void => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          if (inspected?.onAnswer) {
            const answerChunks: Buffer[] = [];
            upstreamRes.on('data', (c: Buffer) => answerChunks.push(c));
            upstreamRes.on('end', () =>
              inspected.onAnswer?.({ target: amzTarget, headers: req.headers, body: Buffer.concat(requestChunks), status: upstreamRes.statusCode ?? 0, answer: Buffer.concat(answerChunks) }),
            );
          }
          upstreamRes.pipe(res);
        };
        if (!slow) return answer();
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer();
        }, slow.ms);
        timers.add(timer);
      },
    );
    upstreamReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstreamReq);
  });
  server.keepAliveTimeout = opts.idleTimeoutMs ?? 5_000;
  // Each socket's 'close' as a promise (`socket.closed` turns true a tick before 'close' is emitted).
  const closeEvents = new WeakMap<Socket, Promise<void>>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    closeEvents.set(
      socket,
      new Promise((resolve) =>
        socket.once('close', () => {
          sockets.delete(socket);
          resolve();
        }),
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    count: (t) => counts.get(t) ?? 0,
    requestIds: (t) => ids.get(t) ?? [],
    throttleKms(n) {
      throttleLeft += n;
    },
    get throttled() {
      return throttled;
    },
    delay(prefix, ms, n = 1) {
      delays.push({ prefix, ms, left: n });
    },
    openConnections: () => sockets.size,
    async closeIdleConnections() {
      const open = [...sockets].filter((socket) => !socket.destroyed);
      server.closeIdleConnections();
      const closing = open.filter((socket) => socket.destroyed);
      await Promise.all(closing.map((socket) => closeEvents.get(socket)));
      return closing.length;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
