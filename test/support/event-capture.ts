/**
 * Reading what the code under test published, without sleeping and without time windows.
 *
 * - {@link eventCapture}: the EventBridge plumbing the trigger suites need (bus → rule → SQS queue, the
 *   queue policy AWS would require) on the emulator, read back through a {@link QueueReader}.
 * - {@link queueReader}: any SQS queue (S3 notifications, the job queue) read the same way.
 *
 * Two ways to wait, both on an event, never on a clock:
 * - `next(predicate)` long-polls until a matching message arrives (the test's own timeout bounds it);
 * - `collect(min, predicate)` waits for `min` matching messages, then sends a marker down the same path
 *   (PutEvents on the bus for a capture, SendMessage for a plain queue) and reads until the marker comes
 *   back. Whatever was published before the marker is in hand by then (the emulators deliver a PutEvents
 *   to its targets before answering it, and hand a queue's messages out in order), so "exactly one event",
 *   or "no event at all", is asserted on what arrived before the marker instead of on a quiet period.
 *
 * @example
 * ```ts
 * const capture = await eventCapture<MyEvent>({ eventBridge, sqs, bus, rule, queue, pattern: { source: ['didit.jobs'] } });
 * await handler(event);
 * const [only, ...more] = await capture.collect(1, (e) => e.event.detail.jobId === jobId);
 * expect(more).toEqual([]);
 * await capture.dispose();
 * ```
 */
import { randomUUID } from 'node:crypto';
import {
  CreateEventBusCommand,
  DeleteEventBusCommand,
  DeleteRuleCommand,
  type EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { admitRulesToQueue } from '../../infra/local/lambda/queue-policy.ts';

/** One message read from the queue: its body as sent, and parsed as JSON. */
export interface Captured<E> {
  readonly raw: string;
  readonly event: E;
}

export type Predicate<E> = (captured: Captured<E>) => boolean;

export interface QueueReader<E> {
  readonly queueUrl: string;
  /**
   * The first message (kept from an earlier read, or arriving now) that matches; long-polls until one
   * does. Messages it reads are deleted; those that do not match are kept for later calls.
   */
  next(predicate?: Predicate<E>): Promise<Captured<E>>;
  /**
   * Waits for `min` matching messages, then reads up to a marker sent after them: every matching message
   * published before this call returned. Everything read is deleted; what does not match is dropped.
   */
  collect(min: number, predicate?: Predicate<E>): Promise<Array<Captured<E>>>;
  /** Drops everything published so far (`collect(0)`, discarded). */
  drain(): Promise<void>;
}

/** How a reader puts a marker on the path it reads, and recognises it coming back. */
interface Marker {
  send(id: string): Promise<void>;
  is(body: unknown, id: string): boolean;
}

const WAIT_SECONDS = 20; // SQS's longest long-poll: one request per 20 s while nothing arrives

class Reader<E> implements QueueReader<E> {
  readonly #kept: Array<Captured<E>> = [];

  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly marker: Marker;

  constructor(sqs: SQSClient, queueUrl: string, marker: Marker) {
    this.sqs = sqs;
    this.queueUrl = queueUrl;
    this.marker = marker;
  }

  async next(predicate: Predicate<E> = () => true): Promise<Captured<E>> {
    for (;;) {
      const index = this.#kept.findIndex(predicate);
      if (index >= 0) return this.#kept.splice(index, 1)[0]!;
      for (const message of await this.#receive()) this.#kept.push(captured(message));
    }
  }

  async collect(min: number, predicate: Predicate<E> = () => true): Promise<Array<Captured<E>>> {
    const found: Array<Captured<E>> = [];
    while (found.length < min) found.push(await this.next(predicate));
    const id = randomUUID();
    await this.marker.send(id);
    const earlier = this.#kept.splice(0);
    for (;;) {
      for (const message of await this.#receive()) {
        const read = captured<E>(message);
        if (this.marker.is(read.event, id)) {
          found.push(...earlier.filter(predicate));
          return found;
        }
        earlier.push(read);
      }
    }
  }

  async drain(): Promise<void> {
    await this.collect(0, () => false);
  }

  async #receive(): Promise<Message[]> {
    const out = await this.sqs.send(new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: WAIT_SECONDS }));
    const messages = out.Messages ?? [];
    for (const message of messages) await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: message.ReceiptHandle! }));
    return messages;
  }
}

function captured<E>(message: Message): Captured<E> {
  const raw = message.Body ?? '';
  let event: unknown;
  try {
    event = JSON.parse(raw);
  } catch {
    event = raw;
  }
  return { raw, event: event as E };
}

const MARKER_FIELD = 'didit-test-marker';

/** A reader of a plain queue; its marker is a message sent straight to the queue. */
export function queueReader<E = unknown>(sqs: SQSClient, queueUrl: string): QueueReader<E> {
  return new Reader<E>(sqs, queueUrl, {
    send: async (id) => {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ [MARKER_FIELD]: id }) }));
    },
    is: (body, id) => isRecord(body) && body[MARKER_FIELD] === id,
  });
}

export interface EventCaptureOptions {
  readonly eventBridge: EventBridgeClient;
  readonly sqs: SQSClient;
  /** The bus; created here unless `createBus: false` (then it must exist). */
  readonly bus: string;
  readonly createBus?: boolean;
  /** The rule's name and event pattern; the marker gets a rule of its own, `<rule>-marker`. */
  readonly rule: string;
  readonly pattern: Readonly<Record<string, unknown>>;
  /** The queue the rule targets (created here). */
  readonly queue: string;
  /** The target's id (default `queue`). */
  readonly targetId?: string;
}

export interface EventCapture<E> extends QueueReader<E> {
  readonly busArn: string | undefined;
  readonly queueArn: string;
  readonly ruleArn: string;
  /** Removes targets, rules, the bus (if created here) and the queue. */
  dispose(): Promise<void>;
}

const MARKER_SOURCE = 'didit.test.event-capture';

/**
 * Bus → rule (`pattern`) → queue on the emulator, as the stack wires it in AWS (the queue's policy lets
 * the rule send), plus the marker rule {@link QueueReader.collect} needs.
 */
export async function eventCapture<E = unknown>(options: EventCaptureOptions): Promise<EventCapture<E>> {
  const { eventBridge, sqs, bus, rule } = options;
  const targetId = options.targetId ?? 'queue';
  const markerRule = `${rule}-marker`;
  const busArn = options.createBus === false ? undefined : (await eventBridge.send(new CreateEventBusCommand({ Name: bus }))).EventBusArn;
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: options.queue }))).QueueUrl!;
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!['QueueArn']!;
  const ruleArn = (await eventBridge.send(new PutRuleCommand({ Name: rule, EventBusName: bus, EventPattern: JSON.stringify(options.pattern) }))).RuleArn!;
  const markerArn = (
    await eventBridge.send(new PutRuleCommand({ Name: markerRule, EventBusName: bus, EventPattern: JSON.stringify({ source: [MARKER_SOURCE] }) }))
  ).RuleArn!;
  // As in AWS: the queue lets these rules send to it (the emulators do not enforce it).
  await admitRulesToQueue(sqs, { url: queueUrl, arn: queueArn }, [ruleArn, markerArn]);
  await eventBridge.send(new PutTargetsCommand({ Rule: rule, EventBusName: bus, Targets: [{ Id: targetId, Arn: queueArn }] }));
  await eventBridge.send(new PutTargetsCommand({ Rule: markerRule, EventBusName: bus, Targets: [{ Id: 'marker', Arn: queueArn }] }));

  const reader = new Reader<E>(sqs, queueUrl, {
    send: async (id) => {
      const out = await eventBridge.send(new PutEventsCommand({ Entries: [{ EventBusName: bus, Source: MARKER_SOURCE, DetailType: 'marker', Detail: JSON.stringify({ id }) }] }));
      if ((out.FailedEntryCount ?? 0) > 0) throw new Error(`the marker was not put on ${bus}: ${JSON.stringify(out.Entries)}`);
    },
    is: (body, id) => isRecord(body) && body['source'] === MARKER_SOURCE && isRecord(body['detail']) && body['detail']['id'] === id,
  });

  return {
    queueUrl,
    queueArn,
    ruleArn,
    busArn,
    next: (predicate) => reader.next(predicate),
    collect: (min, predicate) => reader.collect(min, predicate),
    drain: () => reader.drain(),
    async dispose() {
      for (const [name, id] of [
        [rule, targetId],
        [markerRule, 'marker'],
      ] as const) {
        await eventBridge.send(new RemoveTargetsCommand({ Rule: name, EventBusName: bus, Ids: [id] })).catch(() => {});
        await eventBridge.send(new DeleteRuleCommand({ Name: name, EventBusName: bus })).catch(() => {});
      }
      if (options.createBus !== false) await eventBridge.send(new DeleteEventBusCommand({ Name: bus })).catch(() => {});
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
