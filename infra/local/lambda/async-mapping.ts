/**
 * Asynchronous invocation as Lambda's service plays it, for the sources that invoke a function
 * asynchronously (S3 notifications, EventBridge rules). The emulators cannot invoke Lambda, so the source
 * delivers to a queue instead (S3 notification → queue with the template's key filter; EventBridge rule →
 * queue target with the template's pattern) and this mapper takes it from there:
 *  - each event is invoked (Event invocation type: nobody waits for the answer);
 *  - a function error or timeout is retried `MaximumRetryAttempts` times (the template's EventInvokeConfig,
 *    Lambda's default 2), then the event goes to the on-failure destination with Lambda's destination
 *    record (`condition: RetriesExhausted`, request and response payloads);
 *  - a delivery failure (the function could not be invoked at all) is the source's to retry: EventBridge
 *    retries per the target's RetryPolicy and then sends the event to the target's DeadLetterConfig queue.
 * Lambda waits (1 min, then 2 min) between async retries; here the retry follows at once: only the number
 * of attempts is Lambda's, not the spacing.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { InvokeResult } from './sandbox.ts';

export interface AsyncMappingOptions {
  readonly sqs: SQSClient;
  /** The queue the source delivers to. */
  readonly queueUrl: string;
  /** The events a delivered message carries (S3: the notification; EventBridge: the event), or none to skip. */
  readonly eventsOf: (message: Message) => unknown[];
  readonly invoke: (event: unknown) => Promise<InvokeResult>;
  readonly functionArn: string;
  readonly maximumRetryAttempts: number;
  readonly onFailureQueueUrl: string | undefined;
  /** EventBridge: retries of a failed delivery, and the target's dead-letter queue. */
  readonly delivery?: { readonly maximumRetryAttempts: number; readonly deadLetterQueueUrl: string | undefined };
  readonly onOutcome?: (outcome: AsyncOutcome) => void;
}

export interface AsyncOutcome {
  readonly event: unknown;
  readonly attempts: number;
  readonly result: 'succeeded' | 'destination' | 'dead-letter' | 'dropped';
}

export interface AsyncMapping {
  stop(): Promise<void>;
}

export function startAsyncMapping(opts: AsyncMappingOptions): AsyncMapping {
  let stopping = false;
  const abort = new AbortController();

  const send = async (url: string, body: unknown): Promise<void> => {
    await opts.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(body) }));
  };

  const deliver = async (event: unknown): Promise<AsyncOutcome> => {
    let deliveryFailures = 0;
    let attempts = 0;
    let last: InvokeResult | undefined;
    for (;;) {
      let result: InvokeResult;
      try {
        result = await opts.invoke(event);
      } catch (err) {
        // Not invoked at all: the source's retry policy decides.
        deliveryFailures += 1;
        if (opts.delivery && deliveryFailures <= opts.delivery.maximumRetryAttempts) continue;
        if (opts.delivery?.deadLetterQueueUrl) {
          await send(opts.delivery.deadLetterQueueUrl, event);
          return { event, attempts, result: 'dead-letter' };
        }
        throw err;
      }
      attempts += 1;
      last = result;
      if (result.functionError === undefined) return { event, attempts, result: 'succeeded' };
      if (attempts > opts.maximumRetryAttempts) break;
    }
    if (!opts.onFailureQueueUrl) return { event, attempts, result: 'dropped' };
    await send(opts.onFailureQueueUrl, {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: last?.requestId,
        functionArn: `${opts.functionArn}:$LATEST`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: attempts,
      },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: last?.payload,
    });
    return { event, attempts, result: 'destination' };
  };

  const loop = async (): Promise<void> => {
    while (!stopping) {
      let messages: Message[] = [];
      try {
        const out = await opts.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: opts.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 20 }),
          { abortSignal: abort.signal },
        );
        messages = out.Messages ?? [];
      } catch (err) {
        if (stopping) return;
        throw err;
      }
      for (const m of messages) {
        for (const event of opts.eventsOf(m)) opts.onOutcome?.(await deliver(event));
        // Accepted for asynchronous invocation: the event is Lambda's now, whatever became of it.
        await opts.sqs.send(new DeleteMessageCommand({ QueueUrl: opts.queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
  };
  const running = loop();
  running.catch(() => undefined);
  return {
    async stop() {
      stopping = true;
      abort.abort();
      await running.catch(() => undefined);
    },
  };
}
