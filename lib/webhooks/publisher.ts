import { PutEventsCommand, type EventBridgeClient, type PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { EventPublishError } from './errors.ts';
import { EVENT_SOURCE, type WebhookEventDetail } from './event-mapping.ts';

export interface PublishReceipt {
  /** EventBridge's id of the published event. */
  readonly eventId: string;
  readonly detailType: string;
}

/** Puts one event per accepted delivery on the configured bus (source {@link EVENT_SOURCE}). */
export class EventPublisher {
  readonly #client: EventBridgeClient;
  readonly #busName: string;

  constructor(options: { client: EventBridgeClient; busName: string }) {
    this.#client = options.client;
    this.#busName = options.busName;
  }

  async publish(detailType: string, detail: WebhookEventDetail, options: { abortSignal?: AbortSignal } = {}): Promise<PublishReceipt> {
    let out: PutEventsCommandOutput;
    try {
      out = await this.#client.send(
        new PutEventsCommand({
          Entries: [{ EventBusName: this.#busName, Source: EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(detail) }],
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
