import { GatewayError, type FieldIssue } from '../../errors.ts';

export type UploadRejection = 'VALIDATION_FAILED' | 'PAYLOAD_TOO_LARGE' | 'MANIFEST_INVALID' | 'OPERATION_NOT_ALLOWED';

/** The upload itself is wrong (files, sizes, manifest): final, nothing was sent to Didit. */
export class UploadRejectedError extends GatewayError {
  readonly code: UploadRejection;
  readonly statusCode: number;
  readonly issues: readonly FieldIssue[];
  constructor(code: UploadRejection, issues: readonly FieldIssue[]) {
    super(`upload rejected: ${code}, ${issues.length} issue(s)`);
    this.code = code;
    this.statusCode = code === 'PAYLOAD_TOO_LARGE' ? 413 : 400;
    this.issues = issues;
  }
  override get publicMessage(): string {
    return 'The upload is invalid; see `issues`.';
  }
}

/** The invocation ran out of time before the upload was finished: retried. */
export class UploadDeadlineError extends GatewayError {
  readonly code = 'UPLOAD_TIMEOUT';
  readonly statusCode = 503;
  override readonly retryable = true;
}
