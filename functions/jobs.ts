/**
 * The Lambda entry points of asynchronous jobs (lib/adapters/jobs/):
 *  - `submitJob`: `POST /v1/jobs/{operation}` (IAM auth) validates, records and queues a job → 202;
 *  - `getJob`: `GET /v1/jobs/{jobId}` (IAM auth) → status, and the decrypted result once succeeded;
 *  - `worker`: the SQS event source of the job queue (batch, `ReportBatchItemFailures`).
 */
import { createGetJobHandler, createSubmitJobHandler } from '../lib/adapters/jobs/api.ts';
import { createJobWorker } from '../lib/adapters/jobs/worker.ts';
import { traced } from '../lib/observability/tracing.ts';

/** `POST /v1/jobs/{operation}`: see {@link createSubmitJobHandler} (errors and answer). */
export const submitJob = traced(createSubmitJobHandler());
/** `GET /v1/jobs/{jobId}`: see {@link createGetJobHandler}. */
export const getJob = traced(createGetJobHandler());
/** The job queue's SQS worker: see {@link createJobWorker}. */
export const worker = traced(createJobWorker());
