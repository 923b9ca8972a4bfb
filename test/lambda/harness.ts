/**
 * What the lambda tests (and the load run) share: the Didit sandbox, the emulator stack created from the
 * packaged template, the AWS front (idle timeouts, KMS counting and throttling), one current Lambda sandbox
 * switched by function name (`fn`), and pools of concurrent environments of a function (`pool`, the load run).
 */
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { startAwsProxy, type AwsInspector, type AwsProxy } from '../../infra/local/lambda/aws-proxy.ts';
import { startLambdaPool, type LambdaPool } from '../../infra/local/lambda/pool.ts';
import { startLambdaSandbox, type LambdaSandbox } from '../../infra/local/lambda/sandbox.ts';
import { provisionLambdaStack, type LambdaStack } from '../../infra/local/lambda/stack.ts';
import { readFunction, readPackagedTemplate, type PackagedTemplate } from '../../infra/local/lambda/template.ts';
import type { Emulator } from '../../infra/local/emulator.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../sandbox/index.ts';

export interface HarnessOptions {
  readonly em: Emulator;
  readonly dynamodbEndpoint: string;
  readonly packageDir: string;
  /** Idle timeout of the Didit sandbox's and the AWS front's keep-alive connections. */
  readonly idleTimeoutMs?: number;
  readonly jobsVisibilityTimeoutSeconds?: number;
  readonly didit?: SandboxOptions;
  readonly onLog?: (line: string) => void;
  /** The functions' requests to these AWS targets (e.g. `AWSEvents.PutEvents`), and the answers. */
  readonly inspect?: AwsInspector;
}

/** An event the functions put on a bus and EventBridge accepted (it answered with an EventId). */
export interface PublishedEvent {
  readonly source: string;
  readonly detailType: string;
  /** The detail as sent (JSON text). */
  readonly detail: string;
}

export interface Harness {
  readonly didit: Sandbox;
  readonly aws: AwsProxy;
  readonly dynamo: AwsProxy;
  readonly stack: LambdaStack;
  readonly template: PackagedTemplate;
  readonly webhookSecret: Buffer;
  readonly sqs: SQSClient;
  readonly stage: string;
  /** Every event the functions published, in the order EventBridge accepted them (seen at the AWS front). */
  readonly published: readonly PublishedEvent[];
  /**
   * Resolves once the Didit sandbox has received the whole of the next request matching `method` and the
   * path prefix: an event (Node's `http.server.request.start` diagnostics channel, then the request's
   * 'end'), not a poll of its records. Call it before the request can arrive.
   */
  diditReceives(filter: { method: string; pathPrefix: string }): Promise<void>;
  /**
   * Resolves once every TCP connection to the Didit sandbox open now has closed (each socket's 'close',
   * tracked from Node's `net.server.socket` diagnostics channel), and answers how many were open.
   */
  diditConnectionsClosed(): Promise<number>;
  /** The sandbox of `name` (the running one is stopped first when it is another function or config). */
  fn(name: string, opts?: { memorySize?: number; timeout?: number }): Promise<LambdaSandbox>;
  /**
   * Up to `size` concurrent environments of `name` (each its own sandbox, started on demand), beside the
   * one `fn` runs; stopped by `close` or the pool's own `stop`.
   */
  pool(name: string, opts: { size: number; memorySize?: number; timeout?: number }): LambdaPool;
  /** Stops the running sandbox, if any. */
  release(): Promise<void>;
  readonly logs: string[];
  close(): Promise<void>;
}

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const template = readPackagedTemplate(opts.packageDir);
  const stage = String(readFunction(template, 'createSession').environment['STAGE']);
  const idle = opts.idleTimeoutMs ?? 5_000;
  const didit = await startSandbox({ keepAliveTimeoutMs: idle, ...opts.didit });
  const webhookSecret = randomBytes(32).toString('base64url').slice(0, 43);
  const secretBytes = Buffer.from(webhookSecret, 'utf8');
  const published: PublishedEvent[] = [];
  const own = opts.inspect;
  const recordPublished = (body: Buffer, answer: Buffer): void => {
    const entries = (JSON.parse(body.toString('utf8')) as { Entries?: { Source?: string; DetailType?: string; Detail?: string }[] }).Entries ?? [];
    const accepted = (JSON.parse(answer.toString('utf8') || '{}') as { Entries?: { EventId?: string }[] }).Entries ?? [];
    entries.forEach((e, i) => {
      if (accepted[i]?.EventId) published.push({ source: e.Source ?? '', detailType: e.DetailType ?? '', detail: e.Detail ?? '' });
    });
  };
  const inspect: AwsInspector = {
    targets: [...new Set(['AWSEvents.PutEvents', ...(own?.targets ?? [])])],
    onBody: (target, body) => {
      if (own?.targets.includes(target)) own.onBody?.(target, body);
    },
    onAnswer: (exchange) => {
      if (exchange.target === 'AWSEvents.PutEvents' && exchange.status === 200) recordPublished(exchange.body, exchange.answer);
      if (own?.targets.includes(exchange.target)) own.onAnswer?.(exchange);
    },
  };
  const aws = await startAwsProxy(opts.em.endpoint, { idleTimeoutMs: idle, inspect });
  const dynamo = await startAwsProxy(opts.dynamodbEndpoint, { idleTimeoutMs: idle });
  const stack = await provisionLambdaStack(opts.em, {
    template,
    stage,
    apiKey: didit.apiKey,
    webhookSecret: secretBytes,
    dynamodbEndpoint: opts.dynamodbEndpoint,
    ...(opts.jobsVisibilityTimeoutSeconds !== undefined ? { jobsVisibilityTimeoutSeconds: opts.jobsVisibilityTimeoutSeconds } : {}),
  });
  const overrides = {
    ...stack.overrides,
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    DIDIT_BASE_URL: didit.url,
    DIDIT_CA_FILE: didit.caFile,
  };
  const sqs = new SQSClient({ endpoint: opts.em.endpoint, region: opts.em.region, credentials: { ...opts.em.credentials }, maxAttempts: 3 });
  const logs: string[] = [];
  const onLog = (line: string): void => {
    logs.push(line);
    if (logs.length > 20_000) logs.splice(0, 10_000);
    opts.onLog?.(line);
  };
  const start = (name: string, o: { memorySize?: number; timeout?: number }): Promise<LambdaSandbox> =>
    startLambdaSandbox({
      functionName: name,
      template,
      resources: stack.resources,
      overrides,
      ...(o.memorySize !== undefined ? { memorySize: o.memorySize } : {}),
      ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
      onLog,
    });
  const pools: LambdaPool[] = [];
  const diditPort = Number(new URL(didit.url).port);
  const diditReceives = (filter: { method: string; pathPrefix: string }): Promise<void> =>
    new Promise((resolve) => {
      const onStart = (message: unknown): void => {
        const { request } = message as { request: IncomingMessage };
        if (request.socket.localPort !== diditPort || request.method !== filter.method.toUpperCase() || !(request.url ?? '').startsWith(filter.pathPrefix)) return;
        unsubscribe('http.server.request.start', onStart);
        if (request.readableEnded) resolve();
        else request.once('end', () => resolve());
      };
      subscribe('http.server.request.start', onStart);
    });
  // The Didit sandbox's raw sockets, seen as its server accepts them (its TLS sockets close a tick earlier).
  // Each one's 'close' event as a promise taken when it is accepted (`socket.closed` turns true a tick before
  // 'close' is emitted, so it cannot tell whether the event has happened).
  const diditSockets = new Map<Socket, Promise<void>>();
  const onServerSocket = (message: unknown): void => {
    const { socket } = message as { socket: Socket };
    if (socket.localPort !== diditPort) return;
    diditSockets.set(
      socket,
      new Promise((resolve) =>
        socket.once('close', () => {
          diditSockets.delete(socket);
          resolve();
        }),
      ),
    );
  };
  subscribe('net.server.socket', onServerSocket);
  const diditConnectionsClosed = async (): Promise<number> => {
    const open = [...diditSockets.values()];
    await Promise.all(open);
    return open.length;
  };
  let current: { key: string; sb: LambdaSandbox } | undefined;
  const release = async (): Promise<void> => {
    const c = current;
    current = undefined;
    await c?.sb.stop();
  };
  return {
    didit,
    aws,
    dynamo,
    stack,
    template,
    webhookSecret: secretBytes,
    sqs,
    stage,
    logs,
    published,
    diditReceives,
    diditConnectionsClosed,
    async fn(name, o = {}) {
      const key = `${name}/${o.memorySize ?? ''}/${o.timeout ?? ''}`;
      if (current?.key === key) return current.sb;
      await release();
      const sb = await start(name, o);
      current = { key, sb };
      return sb;
    },
    pool(name, o) {
      const p = startLambdaPool({ definition: readFunction(template, name), size: o.size, start: () => start(name, o) });
      pools.push(p);
      return p;
    },
    release,
    async close() {
      unsubscribe('net.server.socket', onServerSocket);
      await release();
      for (const p of pools.splice(0)) await p.stop().catch(() => undefined);
      await stack.teardown();
      await aws.close();
      await dynamo.close();
      await didit.close();
      sqs.destroy();
    },
  };
}

/**
 * Receives and deletes what arrives on a queue until `until` says enough. Each receive is a long poll (20 s,
 * SQS's longest), which returns as soon as a message arrives: the wait is the queue's event, and only the
 * test's own timeout bounds it.
 */
export async function collect(sqs: SQSClient, url: string, until: (all: Message[]) => boolean): Promise<Message[]> {
  const all: Message[] = [];
  while (!until(all)) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 20, MessageSystemAttributeNames: ['All'] }));
    for (const m of out.Messages ?? []) {
      all.push(m);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return all;
}
