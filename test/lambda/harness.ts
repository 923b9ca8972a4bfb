/**
 * What the lambda tests (and the load run) share: the Didit sandbox, the emulator stack created from the
 * packaged template, the AWS front (idle timeouts, KMS counting and throttling), one current Lambda sandbox
 * switched by function name (`fn`), and pools of concurrent environments of a function (`pool`, the load run).
 */
import { randomBytes } from 'node:crypto';
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

export interface Harness {
  readonly didit: Sandbox;
  readonly aws: AwsProxy;
  readonly dynamo: AwsProxy;
  readonly stack: LambdaStack;
  readonly template: PackagedTemplate;
  readonly webhookSecret: Buffer;
  readonly sqs: SQSClient;
  readonly stage: string;
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
  const aws = await startAwsProxy(opts.em.endpoint, { idleTimeoutMs: idle, ...(opts.inspect ? { inspect: opts.inspect } : {}) });
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

/** Receives (long polling) and deletes everything that arrives on a queue until `until` says enough. */
export async function collect(sqs: SQSClient, url: string, until: (all: Message[]) => boolean, maxPolls = 60): Promise<Message[]> {
  const all: Message[] = [];
  for (let i = 0; i < maxPolls && !until(all); i += 1) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 2, MessageSystemAttributeNames: ['All'] }));
    for (const m of out.Messages ?? []) {
      all.push(m);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return all;
}

/** Polls a condition that an asynchronous actor makes true (no fixed sleep decides the outcome). */
export async function until(what: string, check: () => boolean | Promise<boolean>, maxChecks = 600): Promise<void> {
  for (let i = 0; i < maxChecks; i += 1) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for: ${what}`);
}
