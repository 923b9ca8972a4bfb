/**
 * The event sources of the stack, played locally the way Lambda's service plays them, for the functions
 * serverless-offline serves (`npm start`): the mappers of infra/local/lambda/ (imported, not copied),
 * configured from the packaged template only, invoking through serverless-offline's Lambda Invoke API
 * (offline-invoke.ts):
 *
 *  - jobWorker: the SQS event-source mapping over the emulator's jobs queue (BatchSize,
 *    MaximumBatchingWindowInSeconds, ReportBatchItemFailures from the template; the queue's visibility
 *    timeout and redrive to the jobs DLQ after maxReceiveCount are the emulator's, as the template sets them);
 *  - onUpload: the intake bucket's notification (the template's prefix/suffix filter) delivers to a queue;
 *    the asynchronous-invocation mapper invokes onUpload with the S3 event (MaximumRetryAttempts of the
 *    EventInvokeConfig, then the RetriesExhausted record in the trigger DLQ);
 *  - onSignup: the template's sign-up rule, with a queue target, on the stack's application bus; the same
 *    asynchronous rules, and the rule's RetryPolicy / DeadLetterConfig for deliveries that fail.
 *
 * What differs from Lambda: one invocation at a time per source (Lambda polls with up to
 * MaximumConcurrency), no spacing between asynchronous retries (async-mapping.ts says why), and the functions
 * run in serverless-offline's worker threads, not in a Lambda environment (the Lambda sandbox does that).
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { startAsyncMapping, type AsyncMapping, type AsyncOutcome } from './lambda/async-mapping.ts';
import type { InvokeResult } from './lambda/sandbox.ts';
import { startSqsMapping, type BatchOutcome, type SqsMapping } from './lambda/sqs-mapping.ts';
import type { LambdaStack } from './lambda/stack.ts';
import {
  readAsyncInvokeConfig,
  readEventRule,
  readFunction,
  readSqsMapping,
  type FunctionDefinition,
  type PackagedTemplate,
} from './lambda/template.ts';
import type { Invoke } from './offline-invoke.ts';

export interface EventSourcesOptions {
  readonly sqs: SQSClient;
  readonly region: string;
  readonly template: PackagedTemplate;
  readonly stack: LambdaStack;
  /** How a function is invoked, by its deployed name (e.g. `offlineInvoker(lambdaPort, name)`). */
  readonly invoker: (functionName: string) => Invoke;
  readonly log: (line: string) => void;
}

export interface EventSources {
  readonly jobs: SqsMapping;
  readonly uploads: AsyncMapping;
  readonly signups: AsyncMapping;
  /** Outcomes so far, per source (tests read them). */
  readonly batches: readonly BatchOutcome[];
  readonly asyncOutcomes: readonly (AsyncOutcome & { readonly source: 'uploads' | 'signups' })[];
  /** Called after each outcome is recorded (a batch, an upload or sign-up invocation): tests wait on it. */
  onOutcome(listener: () => void): void;
  stop(): Promise<void>;
}

function arnOf(fn: FunctionDefinition, region: string, accountId: string): string {
  return `arn:aws:lambda:${region}:${accountId}:function:${fn.functionName}`;
}

/** The emulator queue the template names by logical id (destinations, dead-letter queues). */
function queueUrlOf(stack: LambdaStack, logicalId: string | undefined): string | undefined {
  if (logicalId === undefined) return undefined;
  const byLogicalId: Record<string, string> = {
    JobsQueue: stack.queues.jobs.url,
    JobsDeadLetterQueue: stack.queues.jobsDlq.url,
    TriggerDeadLetterQueue: stack.queues.triggerDlq.url,
  };
  if (!Object.hasOwn(byLogicalId, logicalId)) throw new Error(`no emulator queue for the template's ${logicalId}`);
  return byLogicalId[logicalId];
}

export function startEventSources(opts: EventSourcesOptions): EventSources {
  const { template, stack, log } = opts;
  const accountId = stack.resources.accountId;
  const batches: BatchOutcome[] = [];
  const asyncOutcomes: (AsyncOutcome & { source: 'uploads' | 'signups' })[] = [];
  const listeners: Array<() => void> = [];
  const recorded = (): void => {
    for (const listener of listeners) listener();
  };

  // jobWorker ← JobsQueue.
  const worker = readFunction(template, 'jobWorker');
  const invokeWorker = opts.invoker(worker.functionName);
  const jobs = startSqsMapping({
    sqs: opts.sqs,
    queueUrl: stack.queues.jobs.url,
    queueArn: stack.queues.jobs.arn,
    region: opts.region,
    mapping: readSqsMapping(template, worker),
    // Lambda's poller survives a failed invoke: the batch stays on the queue and comes back after the
    // visibility timeout. Reported as a function error so that nothing of the batch is deleted.
    invoke: async (event: SQSEvent): Promise<InvokeResult> => {
      try {
        return await invokeWorker(event);
      } catch (err) {
        log(`[jobs] could not invoke ${worker.functionName}: ${err instanceof Error ? err.message : String(err)}`);
        return { requestId: '', status: 0, payload: null, functionError: 'ServiceException', timedOut: false };
      }
    },
    onBatch: (b) => {
      batches.push(b);
      recorded();
      const failed = b.messageIds.length - b.deleted.length;
      log(
        `[jobs] ${worker.name}: batch of ${b.messageIds.length}, ${b.deleted.length} done` +
          (failed > 0 ? `, ${failed} left on the queue (retried after its visibility timeout, then the DLQ)` : '') +
          (b.result.functionError ? ` (function error ${b.result.functionError})` : ''),
      );
    },
  });

  // onUpload ← the intake bucket's notification queue.
  const onUpload = readFunction(template, 'onUpload');
  const uploadConfig = readAsyncInvokeConfig(template, onUpload);
  const uploads = startAsyncMapping({
    sqs: opts.sqs,
    queueUrl: stack.queues.uploads.url,
    // S3 sends an s3:TestEvent (no Records) when the notification is configured: nothing to invoke.
    eventsOf: (m) => {
      try {
        const body = JSON.parse(m.Body ?? '{}') as { Records?: unknown[] };
        return Array.isArray(body.Records) ? [body] : [];
      } catch {
        return [];
      }
    },
    invoke: opts.invoker(onUpload.functionName),
    functionArn: arnOf(onUpload, opts.region, accountId),
    maximumRetryAttempts: uploadConfig.maximumRetryAttempts,
    onFailureQueueUrl: queueUrlOf(stack, uploadConfig.onFailureQueueLogicalId),
    onOutcome: (o) => {
      asyncOutcomes.push({ ...o, source: 'uploads' });
      recorded();
      log(`[uploads] ${onUpload.name}: ${o.result} after ${o.attempts} attempt(s)`);
    },
  });

  // onSignup ← the sign-up rule's queue target.
  const onSignup = readFunction(template, 'onSignup');
  const signupConfig = readAsyncInvokeConfig(template, onSignup);
  const rule = readEventRule(template, onSignup);
  const signups = startAsyncMapping({
    sqs: opts.sqs,
    queueUrl: stack.queues.signups.url,
    eventsOf: (m) => {
      try {
        return [JSON.parse(m.Body ?? '{}') as unknown];
      } catch {
        return [];
      }
    },
    invoke: opts.invoker(onSignup.functionName),
    functionArn: arnOf(onSignup, opts.region, accountId),
    maximumRetryAttempts: signupConfig.maximumRetryAttempts,
    onFailureQueueUrl: queueUrlOf(stack, signupConfig.onFailureQueueLogicalId),
    delivery: {
      maximumRetryAttempts: rule.maximumRetryAttempts,
      deadLetterQueueUrl: queueUrlOf(stack, rule.deadLetterQueueLogicalId),
    },
    onOutcome: (o) => {
      asyncOutcomes.push({ ...o, source: 'signups' });
      recorded();
      log(`[signups] ${onSignup.name}: ${o.result} after ${o.attempts} attempt(s)`);
    },
  });

  return {
    jobs,
    uploads,
    signups,
    batches,
    asyncOutcomes,
    onOutcome(listener) {
      listeners.push(listener);
    },
    async stop() {
      await Promise.all([jobs.stop(), uploads.stop(), signups.stop()]);
    },
  };
}
