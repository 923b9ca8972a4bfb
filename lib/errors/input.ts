/** Errors of the caller's input: nothing was sent to Didit. */
import { gatewayError } from './gateway-error.ts';

export interface FieldIssue {
  /** Dotted path of the field, e.g. `contact_details.email` or `path.sessionId`. */
  readonly field: string;
  readonly message: string;
}

/** The caller's input is invalid. Nothing was sent to Didit. */
export class ValidationError extends gatewayError({
  code: 'VALIDATION_FAILED',
  status: 400,
  publicMessage: 'The request is invalid; see `issues`.',
}) {
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[]) {
    // Not the field names: an unknown field's name is caller input and could carry personal data.
    super(`invalid request: ${issues.length} issue(s)`);
    this.issues = issues;
  }
}

export class PayloadTooLargeError extends gatewayError({ code: 'PAYLOAD_TOO_LARGE', status: 413 }) {}

export class UnsupportedMediaTypeError extends gatewayError({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 }) {}
