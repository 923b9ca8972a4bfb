import { GatewayError, type GatewayErrorOptions } from '../errors.ts';

/**
 * The stage's daily cap of paid Didit calls is reached. Nothing was sent to Didit and the key was not
 * decrypted. Not `retryable`: retrying within minutes (a queue redelivery, a Lambda retry) cannot succeed
 * before the UTC day rolls over, which `retryAfterSeconds` says; jobs and triggers record it as their
 * final outcome (with this code) instead of burning their retries.
 */
export class SpendCapReachedError extends GatewayError {
  readonly code = 'SPEND_CAP_REACHED';
  readonly statusCode = 429;
  constructor(options: GatewayErrorOptions & { retryAfterSeconds: number }) {
    super('The daily cap of paid Didit calls of this stage is reached.', options);
  }
  override get publicMessage(): string {
    return 'The daily limit of paid verification calls is reached; retry after 00:00 UTC (see Retry-After).';
  }
}

/**
 * The counter could not be read or written. The cap guards money, so it fails closed: no count, no call.
 */
export class SpendCounterUnavailableError extends GatewayError {
  readonly code = 'SPEND_COUNTER_UNAVAILABLE';
  readonly statusCode = 503;
  override readonly retryable = true;
}
