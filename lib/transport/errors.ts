/**
 * Errors of the transport. None reaches a caller as itself, so none is a GatewayError: the Didit client
 * turns a WireError into DiditNetworkError / DiditTimeoutError / DiditResponseError (lib/didit/client.ts);
 * inside a KMS call it (and a failed TLS read-stack scrub, which fails closed) becomes a KMS error through
 * lib/kms/errors.ts; the reader's errors travel as a WireError's `cause`, the deadline and abort
 * signals as its `timedOut`/`aborted`.
 */
import { NamedError } from '../errors/gateway-error.ts';

export type WirePhase = 'connect' | 'write' | 'wait' | 'read';

/**
 * A failed exchange, with what is known about how far it got. Retry decisions need exactly this:
 * a request that never left (or a reused socket that died before any response byte) can be sent
 * again; one that may have been processed can only be retried if the operation is idempotent.
 */
export class WireError extends NamedError {
  readonly phase: WirePhase;
  readonly reused: boolean;
  readonly requestSent: boolean;
  readonly responseStarted: boolean;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly tooLarge: boolean;
  constructor(
    message: string,
    details: {
      phase: WirePhase;
      reused: boolean;
      requestSent: boolean;
      responseStarted: boolean;
      timedOut?: boolean;
      aborted?: boolean;
      tooLarge?: boolean;
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.phase = details.phase;
    this.reused = details.reused;
    this.requestSent = details.requestSent;
    this.responseStarted = details.responseStarted;
    this.timedOut = details.timedOut ?? false;
    this.aborted = details.aborted ?? false;
    this.tooLarge = details.tooLarge ?? false;
  }

  /** A keep-alive socket that was already dead: nothing reached the server's application. */
  get staleSocket(): boolean {
    return this.reused && !this.responseStarted && !this.timedOut && !this.aborted && this.phase !== 'connect';
  }
}

/** The exchange's deadline passed (becomes a WireError with `timedOut`). */
export class DeadlineError extends NamedError {
  constructor() {
    super('deadline exceeded');
  }
}

/** The caller's AbortSignal fired (becomes a WireError with `aborted`). */
export class AbortedError extends NamedError {
  constructor() {
    super('aborted');
  }
}

export class ResponseTooLargeError extends NamedError {}

export class ResponseFramingError extends NamedError {}

/** The scrub could not run: the copy it exists to remove may still be on the stack. */
export class TlsReadScrubError extends NamedError {}
