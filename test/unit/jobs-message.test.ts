import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../../lib/errors/index.ts';
import { DEFAULT_JOB_TTL_SECONDS, DEFAULT_MAX_MESSAGE_BYTES, loadJobConfig } from '../../lib/adapters/jobs/config.ts';
import { OperationNotAsyncError, PoisonMessageError, UnknownJobOperationError } from '../../lib/adapters/jobs/errors.ts';
import { completedDetail } from '../../lib/adapters/jobs/events.ts';
import { jobOperation, parseJobMessage, parseSubmission, serializeJobMessage, workerOperation } from '../../lib/adapters/jobs/message.ts';
import { apiEvent } from '../support/api-events.ts';

const submission = (body: string | undefined, contentType = 'application/json') =>
  apiEvent({ method: 'POST', path: '/v1/jobs/amlScreening', headers: { 'content-type': contentType }, ...(body === undefined ? {} : { body }) });

describe('job message', () => {
  it('round-trips a job message', () => {
    const message = { v: 1 as const, jobId: randomUUID(), operation: 'amlScreening', input: { body: { full_name: 'Ana' } } };
    expect(parseJobMessage(serializeJobMessage(message))).toEqual(message);
  });

  it('anything but a well-formed job message is poison (and the error quotes none of it)', () => {
    const jobId = randomUUID();
    for (const body of [
      'not json {',
      '[]',
      JSON.stringify({ v: 2, jobId, operation: 'amlScreening', input: {} }),
      JSON.stringify({ v: 1, jobId: 'nope', operation: 'amlScreening', input: {} }),
      JSON.stringify({ v: 1, jobId, operation: 'aml/../x', input: {} }),
      JSON.stringify({ v: 1, jobId, operation: 'amlScreening', input: { files: {} } }),
      JSON.stringify({ v: 1, jobId, operation: 'amlScreening', input: { body: [] } }),
      JSON.stringify({ v: 1, jobId, operation: 'amlScreening', input: {}, extra: 'SECRET-MARKER' }),
    ]) {
      const error = (() => {
        try {
          parseJobMessage(body);
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(error, body).toBeInstanceOf(PoisonMessageError);
      expect((error as Error).message).not.toContain('SECRET-MARKER');
    }
  });

  it('job operations: table entries with JSON answers; unknown → 404, binary answers → 400; poison in the worker', () => {
    expect(jobOperation('amlScreening').name).toBe('amlScreening');
    expect(() => jobOperation('launchRocket')).toThrow(UnknownJobOperationError);
    expect(() => jobOperation('toString')).toThrow(UnknownJobOperationError);
    expect(() => jobOperation(undefined)).toThrow(UnknownJobOperationError);
    expect(() => jobOperation('generateSessionPdf')).toThrow(OperationNotAsyncError);
    expect(() => workerOperation('launchRocket')).toThrow(PoisonMessageError);
  });
});

describe('job submission body', () => {
  it('takes {params?, query?, body?}, each an object; an empty body is an empty input', () => {
    expect(parseSubmission(submission(JSON.stringify({ params: { a: '1' }, query: { b: '2' }, body: { c: 3 } })), 1024)).toEqual({
      params: { a: '1' },
      query: { b: '2' },
      body: { c: 3 },
    });
    expect(parseSubmission(submission(JSON.stringify({ body: null })), 1024)).toEqual({});
    expect(parseSubmission(submission(undefined), 1024)).toEqual({});
  });

  it('refuses other shapes with 400, other media types with 415, oversized bodies with 413', () => {
    expect(() => parseSubmission(submission('{'), 1024)).toThrow(ValidationError);
    expect(() => parseSubmission(submission('[1]'), 1024)).toThrow(ValidationError);
    expect(() => parseSubmission(submission(JSON.stringify({ body: 'x' })), 1024)).toThrow(ValidationError);
    expect(() => parseSubmission(submission(JSON.stringify({ body: [] })), 1024)).toThrow(ValidationError);
    expect(() => parseSubmission(submission(JSON.stringify({ files: {} })), 1024)).toThrow(ValidationError);
    expect(() => parseSubmission(submission('{}', 'text/plain'), 1024)).toThrow(UnsupportedMediaTypeError);
    expect(() => parseSubmission(submission(JSON.stringify({ body: { x: 'y'.repeat(2000) } })), 1024)).toThrow(PayloadTooLargeError);
  });

  it('an unknown top-level name is not echoed back (it is caller input)', () => {
    try {
      parseSubmission(submission(JSON.stringify({ 'jane.doe@example.com': {} })), 1024);
      expect.unreachable();
    } catch (err) {
      expect(JSON.stringify((err as ValidationError).issues)).not.toContain('jane');
    }
  });
});

describe('job config and events', () => {
  it('defaults and bounds', () => {
    const config = loadJobConfig({ STAGE: 'dev', JOBS_TABLE: 't', KMS_KEY_ID: 'k' });
    expect(config).toMatchObject({ jobsTable: 't', ttlSeconds: DEFAULT_JOB_TTL_SECONDS, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, resultKmsKeyId: 'k' });
    expect(loadJobConfig({ STAGE: 'dev', JOBS_TABLE: 't', KMS_KEY_ID: 'k', JOB_RESULT_KMS_KEY_ID: 'r' }).resultKmsKeyId).toBe('r');
    expect(() => loadJobConfig({ STAGE: 'dev' })).toThrow(/JOBS_TABLE/);
    expect(() => loadJobConfig({ STAGE: 'dev', JOBS_TABLE: 't', JOB_MAX_MESSAGE_BYTES: String(2 * 1024 * 1024) })).toThrow(/JOB_MAX_MESSAGE_BYTES/);
  });

  it('the completion event carries identifiers, status and error code only', () => {
    const detail = completedDetail({
      jobId: 'j',
      operation: 'amlScreening',
      status: 'failed',
      createdAt: 'c',
      updatedAt: 'u',
      completedAt: 'd',
      expiresAt: 1,
      caller: 'arn:aws:iam::1:user/x',
      error: { code: 'DIDIT_REJECTED_INPUT', message: 'Didit rejected the request input.' },
    });
    expect(detail).toEqual({ schema_version: 1, jobId: 'j', operation: 'amlScreening', status: 'failed', errorCode: 'DIDIT_REJECTED_INPUT', completedAt: 'd' });
  });
});
