import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventPublisher } from './publisher.ts';

/**
 * EventBridge `source` of the events the gateway's own triggers publish (upload results, sessions created
 * for sign-ups). Distinct from `didit.webhooks` (what Didit told us): these say what the gateway did.
 */
export const GATEWAY_EVENT_SOURCE = 'didit.gateway';

/** The webhook receiver's publisher (same PutEvents call and error mapping), under {@link GATEWAY_EVENT_SOURCE}. */
export function createGatewayPublisher(options: { client: EventBridgeClient; busName: string }): EventPublisher {
  return new EventPublisher({ client: options.client, busName: options.busName, source: GATEWAY_EVENT_SOURCE });
}
