import { PutEventsCommand, type EventBridgeClient, type PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { EventPublishError } from '../errors/index.ts';

export interface PublishReceipt {
  /** EventBridge's id of the published event. */
  readonly eventId: string;
  readonly detailType: string;
}

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

  constructor(options: { client: EventBridgeClient; busName: string; source: string }) {
    this.#client = options.client;
    this.#busName = options.busName;
    this.#source = options.source;
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
