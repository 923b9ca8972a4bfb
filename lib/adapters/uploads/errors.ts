import { gatewayError, NamedError, type FieldIssue } from '../../errors/index.ts';

export type UploadRejection = 'VALIDATION_FAILED' | 'PAYLOAD_TOO_LARGE' | 'MANIFEST_INVALID' | 'OPERATION_NOT_ALLOWED';

/**
 * The upload itself is wrong (files, sizes, manifest): final, nothing was sent to Didit. One class for
 * the four rejections: the code says which, and a size is a 413, the rest a 400.
 */
export class UploadRejectedError extends gatewayError({ code: 'VALIDATION_FAILED', status: 400, publicMessage: 'The upload is invalid; see `issues`.' }) {
  declare readonly code: UploadRejection;
  declare readonly status: 400 | 413;
  readonly issues: readonly FieldIssue[];
  constructor(code: UploadRejection, issues: readonly FieldIssue[]) {
    super(`upload rejected: ${code}, ${issues.length} issue(s)`);
    this.code = code;
    this.status = code === 'PAYLOAD_TOO_LARGE' ? 413 : 400;
    this.issues = issues;
  }
}

/** The invocation ran out of time before the upload was finished: retried. */
export class UploadDeadlineError extends gatewayError({ code: 'UPLOAD_TIMEOUT', status: 503, retryable: true }) {}

/**
 * The object is larger than allowed: nothing (or nothing more) was read. Internal to the trigger: it
 * always becomes an {@link UploadRejectedError} (or a manifest issue) before anything is reported.
 */
export class ObjectTooLargeError extends NamedError {}
