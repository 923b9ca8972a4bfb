import { PutEventsCommand, type EventBridgeClient, type PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { EventPublishError } from '../errors/index.ts';
import { is, required, withDefaults } from '../config/options.ts';

export interface PublishReceipt {
  /** EventBridge's id of the published event. */
  readonly eventId: string;
  readonly detailType: string;
}

export interface EventPublisherOptions {
  readonly client: EventBridgeClient;
  /** '' allowed: a job function that never publishes builds one without EVENT_BUS_NAME (PutEvents then refuses). */
  readonly busName: string;
  readonly source: string;
}

/** No defaults: bus and source are always the composition root's choice. */
export const defaults = Object.freeze({});

const rules = { client: required(is.object), busName: required(is.text), source: required(is.string) };

/**
 * Puts one event on the configured bus under the publisher's `source`: `didit.webhooks` for what Didit told
 * us (lib/adapters/webhooks/event-mapping.ts), `didit.jobs` for job completions (lib/adapters/jobs/events.ts),
 * `didit.gateway` for what the triggers did (./gateway-publisher.ts). The detail is whatever allow-listed
 * summary the caller built; it is sent as JSON and never logged here.
 */
export class EventPublisher {
  readonly #client: EventBridgeClient;
  readonly #busName: string;
  readonly #source: string;

  constructor(options: EventPublisherOptions) {
    const o = withDefaults('EventPublisher', defaults, rules, options);
    this.#client = o.client;
    this.#busName = o.busName;
    this.#source = o.source;
  }

  async publish(detailType: string, detail: object, options: { abortSignal?: AbortSignal } = {}): Promise<PublishReceipt> {
    let out: PutEventsCommandOutput;
    try {
      out = await this.#client.send(
        new PutEventsCommand({
          Entries: [{ EventBusName: this.#busName, Source: this.#source, DetailType: detailType, Detail: JSON.stringify(detail) }],
        }),
        { abortSignal: options.abortSignal },
      );
    } catch (err) {
      const name = err instanceof Error ? err.name : 'transport';
      throw new EventPublishError(`EventBridge PutEvents failed (${name})`, { cause: err });
    }
    const entry = out.Entries?.[0];
    if ((out.FailedEntryCount ?? 0) > 0 || entry?.EventId === undefined) {
      throw new EventPublishError(`EventBridge refused the event (${entry?.ErrorCode ?? 'no event id'})`);
    }
    return { eventId: entry.EventId, detailType };
  }
}
