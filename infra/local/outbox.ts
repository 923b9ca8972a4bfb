/**
 * What the gateway published, made visible locally: a catch-all rule on the stack's event bus delivers every
 * event (sources `didit.*`) to a queue (infra/local/lambda/stack.ts makes both); this reads that queue, prints
 * one line per event and keeps them for
 *
 *   GET http://127.0.0.1:<port>/events            every event so far, oldest first (EventBridge's JSON)
 *   GET http://127.0.0.1:<port>/events?source=didit.jobs&contains=<text>
 *
 * and for tests, {@link Outbox.waitFor}, which resolves when a matching event has arrived (no timeout of its
 * own: the caller's test timeout bounds it).
 *
 * The events are the gateway's allow-listed summaries (never a key, secret or document image); the debug
 * server binds 127.0.0.1 only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type ReceiveMessageCommandOutput, type SQSClient } from '@aws-sdk/client-sqs';

export interface PublishedEvent {
  readonly id: string;
  readonly source: string;
  readonly 'detail-type': string;
  readonly time: string;
  readonly detail: Record<string, unknown>;
}

export interface OutboxOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** One line per event. */
  readonly log: (line: string) => void;
  /** Port of the debug server; default a free one. */
  readonly port?: number;
}

export interface Outbox {
  /** e.g. http://127.0.0.1:3003/events */
  readonly url: string;
  readonly events: readonly PublishedEvent[];
  /** Resolves with the first event (already received or still to come) that matches. */
  waitFor(match: (event: PublishedEvent) => boolean): Promise<PublishedEvent>;
  stop(): Promise<void>;
}

/** A short line for the start output: the event's kind and the identifiers a newcomer looks for. */
export function describeEvent(event: PublishedEvent): string {
  const d = event.detail;
  const keys = ['jobId', 'operation', 'uploadId', 'callerRef', 'userId', 'session_id', 'sessionId', 'status', 'outcome', 'errorCode', 'url'];
  const parts: string[] = [];
  for (const key of keys) {
    const value = Object.hasOwn(d, key) ? d[key] : undefined;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') parts.push(`${key}=${String(value).slice(0, 120)}`);
  }
  return `${event.source} ${event['detail-type']}${parts.length > 0 ? ` ${parts.join(' ')}` : ''}`;
}

function parseEvent(body: string | undefined): PublishedEvent | undefined {
  try {
    const value = JSON.parse(body ?? '') as Partial<PublishedEvent>;
    if (typeof value.source !== 'string' || typeof value['detail-type'] !== 'string') return undefined;
    const detail = value.detail !== null && typeof value.detail === 'object' && !Array.isArray(value.detail) ? value.detail : {};
    return { id: String(value.id ?? ''), source: value.source, 'detail-type': value['detail-type'], time: String(value.time ?? ''), detail };
  } catch {
    return undefined;
  }
}

export async function startOutbox(opts: OutboxOptions): Promise<Outbox> {
  const events: PublishedEvent[] = [];
  const waiters = new Set<{ match: (e: PublishedEvent) => boolean; resolve: (e: PublishedEvent) => void }>();
  const abort = new AbortController();
  let stopping = false;

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/events') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"GET /events only"}');
      return;
    }
    const source = url.searchParams.get('source');
    const contains = url.searchParams.get('contains');
    const selected = events.filter(
      (e) => (source === null || e.source === source) && (contains === null || JSON.stringify(e).includes(contains)),
    );
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(selected, null, 2)}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  const loop = async (): Promise<void> => {
    while (!stopping) {
      let out: ReceiveMessageCommandOutput;
      try {
        out = await opts.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: opts.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 20 }),
          { abortSignal: abort.signal },
        );
      } catch (err) {
        if (stopping) return;
        opts.log(`[events] reading the outbox queue failed: ${err instanceof Error ? err.message : String(err)}`);
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      const messages = out.Messages ?? [];
      for (const m of messages) {
        const event = parseEvent(m.Body);
        if (event === undefined) continue;
        events.push(event);
        opts.log(`[events] ${describeEvent(event)}`);
        for (const w of [...waiters]) {
          if (w.match(event)) {
            waiters.delete(w);
            w.resolve(event);
          }
        }
      }
      if (messages.length > 0) {
        await opts.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: opts.queueUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
    }
  };
  const running = loop();
  running.catch((err: unknown) => opts.log(`[events] outbox stopped: ${err instanceof Error ? err.message : String(err)}`));

  return {
    url: `http://127.0.0.1:${port}/events`,
    events,
    waitFor(match) {
      const seen = events.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.add({ match, resolve }));
    },
    async stop() {
      stopping = true;
      abort.abort();
      await running.catch(() => undefined);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
