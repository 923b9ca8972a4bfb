/**
 * An SQS event-source mapping as Lambda's poller plays it, over a real emulator queue, configured from the
 * packaged template's AWS::Lambda::EventSourceMapping (never a second copy of its numbers):
 *  - long polls the queue (20 s, Lambda's), gathers up to BatchSize messages, waiting at most
 *    MaximumBatchingWindowInSeconds for a fuller batch;
 *  - invokes the function synchronously with the SQSEvent Lambda builds (attributes, message attributes,
 *    eventSourceARN, awsRegion);
 *  - a function error or timeout: nothing is deleted, every message comes back after the queue's visibility
 *    timeout; with ReportBatchItemFailures, only the reported items stay (a malformed response, or an
 *    identifier not in the batch, fails the whole batch, as Lambda does); otherwise all are deleted;
 *  - redrive to the dead-letter queue is the emulator's (maxReceiveCount on the queue), not ours;
 *  - `concurrency` pollers, each with one batch in flight at a time, as Lambda runs up to the mapping's
 *    MaximumConcurrency (or the function's reserved concurrency) batches at once; `invoke` sends them to as
 *    many execution environments (pool.ts). Default 1.
 * An invocation that cannot be made at all (the environment's RIE is gone) is a failed batch: nothing is
 * deleted, the messages come back after the visibility timeout, and the poller goes on, as Lambda's does.
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { InvokeResult } from './sandbox.ts';
import type { SqsMappingDefinition } from './template.ts';

const LONG_POLL_SECONDS = 20;

export interface SqsMappingOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly region: string;
  readonly mapping: SqsMappingDefinition;
  readonly invoke: (event: SQSEvent) => Promise<InvokeResult>;
  /** Batches in flight at once (pollers); default 1. */
  readonly concurrency?: number;
  /** Called after each batch (tests and the load run count with it). */
  readonly onBatch?: (batch: BatchOutcome) => void;
}

export interface BatchOutcome {
  readonly messageIds: readonly string[];
  readonly deleted: readonly string[];
  /** The invocation's answer; a failed invocation (it threw) has `functionError` set and `invokeError`. */
  readonly result: InvokeResult;
  readonly invokeError?: unknown;
}

export interface SqsMapping {
  readonly batches: number;
  /** Stops polling after the current batch. */
  stop(): Promise<void>;
}

function toRecord(m: Message, queueArn: string, region: string): SQSRecord {
  const attributes = m.Attributes ?? {};
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(m.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') } : {}),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes['ApproximateReceiveCount'] ?? '1',
      SentTimestamp: attributes['SentTimestamp'] ?? String(Date.now()),
      SenderId: attributes['SenderId'] ?? 'AIDAEMULATOR',
      ApproximateFirstReceiveTimestamp: attributes['ApproximateFirstReceiveTimestamp'] ?? String(Date.now()),
    },
    messageAttributes,
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  } as SQSRecord;
}

/** Which messages to delete after an invocation, per Lambda's rules. */
export function successfulMessageIds(ids: readonly string[], result: InvokeResult, reportBatchItemFailures: boolean): string[] {
  if (result.functionError !== undefined || result.timedOut) return [];
  if (!reportBatchItemFailures) return [...ids];
  const payload = result.payload;
  if (payload === null || payload === undefined || payload === '') return [...ids];
  if (typeof payload !== 'object') return [];
  const failures = (payload as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return [...ids];
  if (!Array.isArray(failures)) return [];
  const failed = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    // An empty, null or unknown identifier makes Lambda treat the whole batch as failed.
    if (typeof id !== 'string' || id === '' || !ids.includes(id)) return [];
    failed.add(id);
  }
  return ids.filter((id) => !failed.has(id));
}

export function startSqsMapping(opts: SqsMappingOptions): SqsMapping {
  let stopping = false;
  let batches = 0;
  const abort = new AbortController();
  const { batchSize, maximumBatchingWindowSeconds, reportBatchItemFailures } = opts.mapping;

  const receive = async (max: number, waitSeconds: number): Promise<Message[]> => {
    const out = await opts.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: opts.queueUrl,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: abort.signal },
    );
    return out.Messages ?? [];
  };

  const poller = async (): Promise<void> => {
    while (!stopping) {
      let messages: Message[];
      try {
        messages = await receive(batchSize, LONG_POLL_SECONDS);
        // The batching window: keep gathering until the batch is full or the window has passed.
        const windowEnds = Date.now() + maximumBatchingWindowSeconds * 1000;
        while (messages.length > 0 && messages.length < batchSize && !stopping) {
          const left = Math.floor((windowEnds - Date.now()) / 1000);
          if (left <= 0) break;
          const more = await receive(batchSize - messages.length, Math.min(left, LONG_POLL_SECONDS));
          if (more.length === 0) break;
          messages = messages.concat(more);
        }
      } catch (err) {
        if (stopping) return;
        throw err;
      }
      if (messages.length === 0) continue;
      const event: SQSEvent = { Records: messages.map((m) => toRecord(m, opts.queueArn, opts.region)) };
      const ids = event.Records.map((r) => r.messageId);
      let result: InvokeResult;
      let invokeError: unknown;
      try {
        result = await opts.invoke(event);
      } catch (err) {
        invokeError = err;
        result = { requestId: '', status: 0, payload: undefined, functionError: 'Sandbox.InvokeFailed', timedOut: false };
      }
      const ok = new Set(successfulMessageIds(ids, result, reportBatchItemFailures));
      const toDelete = event.Records.filter((r) => ok.has(r.messageId));
      for (let i = 0; i < toDelete.length; i += 10) {
        const chunk = toDelete.slice(i, i + 10);
        await opts.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: opts.queueUrl,
            Entries: chunk.map((r, n) => ({ Id: String(n), ReceiptHandle: r.receiptHandle })),
          }),
        );
      }
      batches += 1;
      opts.onBatch?.({ messageIds: ids, deleted: toDelete.map((r) => r.messageId), result, ...(invokeError === undefined ? {} : { invokeError }) });
    }
  };
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be an integer >= 1, got ${concurrency}`);
  const running = Promise.all(Array.from({ length: concurrency }, () => poller()));
  running.catch(() => undefined);
  return {
    get batches() {
      return batches;
    },
    async stop() {
      stopping = true;
      abort.abort();
      await running.catch(() => undefined);
    },
  };
}
