import type { JobRecord, JobStatus } from './store.ts';

/** EventBridge `source` of the job events. */
export const JOB_EVENT_SOURCE = 'didit.jobs';
export const JOB_COMPLETED_DETAIL_TYPE = 'didit.job.completed';

/**
 * The `detail` of `didit.job.completed`: identifiers, status and error code. Never the input, the result or
 * an error message: a consumer that needs the result reads `GET /v1/jobs/{jobId}`.
 */
export interface JobCompletedDetail {
  readonly schema_version: 1;
  readonly jobId: string;
  readonly operation: string;
  readonly status: JobStatus;
  readonly errorCode?: string;
  readonly completedAt?: string;
}

export function completedDetail(job: JobRecord): JobCompletedDetail {
  return {
    schema_version: 1,
    jobId: job.jobId,
    operation: job.operation,
    status: job.status,
    ...(job.error === undefined ? {} : { errorCode: job.error.code }),
    ...(job.completedAt === undefined ? {} : { completedAt: job.completedAt }),
  };
}
