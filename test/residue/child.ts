/**
 * The process under test for the residue proof: a stand-in for one Lambda execution environment. The parent
 * drives it phase by phase over IPC; each phase is one or more real invocations of an entry point (the
 * generated operation handlers, the webhook receiver, the SQS job worker, getJob) against the emulator over
 * TLS and the Didit sandbox, and the parent scans this process's memory after each one (before GC, after GC,
 * frozen). The key reaches this process only through KMS Decrypt of the sealed ciphertext (or, in naive
 * mode, the stock SDK's Decrypt), so any copy the parent finds was made by the code under test.
 *
 * Protocol: child → {ready}; parent → {phase, name} → {phase-done, outcomes}; {gc} → {gc-done};
 * {hold} → {holding}, {release} → {released}; {snapshot, path} → {snapshot-done}; {exit}.
 */
import { writeHeapSnapshot } from 'node:v8';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { KMSClient, DecryptCommand } from '@aws-sdk/client-kms';
import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, EventBridgeEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createSignupHandler } from '../../lib/adapters/triggers/signup.ts';
import { createSignupDependencies } from '../../lib/adapters/triggers/dependencies.ts';
import { loadSignupConfig } from '../../lib/adapters/triggers/config.ts';
import type { S3Event } from 'aws-lambda';
import { createUploadHandler, type UploadRecordResult } from '../../lib/adapters/uploads/intake.ts';
import { createIntakeDependencies } from '../../lib/adapters/uploads/dependencies.ts';
import { createPresignDependencies, createPresignHandler, type UploadTicket } from '../../lib/adapters/uploads/presign.ts';
import { loadIntakeConfig, loadPresignConfig } from '../../lib/adapters/uploads/config.ts';
import { createOperationHandler } from '../../lib/adapters/http/operation-handler.ts';
import { OPERATIONS } from '../../lib/operations/table.ts';
import { createDependencies, type GatewayDependencies } from '../../lib/runtime/dependencies.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { buildRequestHead } from '../../lib/didit/request-head.ts';
import { apiEvent, lambdaContext, multipartBody, JPEG } from '../support/api-events.ts';
import { createWebhookHandler } from '../../lib/adapters/webhooks/handler.ts';
import { createWebhookDependencies } from '../../lib/adapters/webhooks/dependencies.ts';
import { loadWebhookConfig } from '../../lib/adapters/webhooks/config.ts';
import { createGetJobHandler, createSubmitJobHandler } from '../../lib/adapters/jobs/api.ts';
import { createJobDependencies, type JobDependencies } from '../../lib/adapters/jobs/dependencies.ts';
import { loadJobConfig } from '../../lib/adapters/jobs/config.ts';
import { createJobWorker } from '../../lib/adapters/jobs/worker.ts';
import { disableTlsReadScrubForResidueControl, tlsReadScrubStats } from '../../lib/transport/tls-read-scrub.ts';

const WORKFLOW = '11111111-2222-4333-8444-555555555555';

export type Outcome = { scenario: string; status: number | string; detail?: Record<string, string> };

const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const parse = (r: { body?: string }) => JSON.parse(r.body ?? '{}') as Record<string, unknown>;

// Built once, as a Lambda execution environment builds them at module scope and keeps them warm.
let deps: GatewayDependencies | undefined;
const gateway = (): GatewayDependencies => (deps ??= createDependencies(loadConfig()));
let jobDeps: { deps: JobDependencies; sent: string[] } | undefined;
const jobs = (): { deps: JobDependencies; sent: string[] } => {
  if (jobDeps === undefined) {
    const sent: string[] = [];
    const base = createJobDependencies(loadJobConfig());
    // The queue is SQS in production; it carries no secret, so the phase takes the message body directly.
    jobDeps = { deps: { ...base, queue: { send: async (body: string) => void sent.push(body) } }, sent };
  }
  return jobDeps;
};
let webhook: ReturnType<typeof createWebhookHandler> | undefined;
const webhookHandler = () =>
  (webhook ??= createWebhookHandler({
    dependencies: () => createWebhookDependencies(loadWebhookConfig({ ...process.env })),
  }));

const handler = (name: keyof typeof OPERATIONS, d: () => GatewayDependencies = gateway) =>
  createOperationHandler(OPERATIONS[name], { dependencies: d });

async function run(outcomes: Outcome[], scenario: string, fn: () => Promise<{ statusCode: number | string; detail?: Record<string, string> }>): Promise<void> {
  try {
    const r = await fn();
    outcomes.push({ scenario, status: r.statusCode, ...(r.detail === undefined ? {} : { detail: r.detail }) });
  } catch (err) {
    outcomes.push({ scenario, status: `threw ${(err as Error).name}` });
  }
}

type Phase = (outcomes: Outcome[]) => Promise<void>;

const aml = (name: string, remainingMs?: number) =>
  handler('amlScreening')(apiEvent({ method: 'POST', path: '/v1/aml', ...json({ full_name: name }) }), lambdaContext({ remainingMs })) as Promise<APIGatewayProxyResult>;

const PHASES: Record<string, Phase> = {
  'op-json': async (o) => {
    await run(o, 'createSession (JSON)', async () => {
      const r = (await handler('createSession')(
        apiEvent({ method: 'POST', path: '/v1/sessions', ...json({ workflow_id: WORKFLOW, vendor_data: 'residue-user' }) }),
        lambdaContext(),
      )) as APIGatewayProxyResult;
      return { statusCode: r.statusCode, detail: { sessionId: String(parse(r)['session_id'] ?? '') } };
    });
  },
  'op-multipart': async (o) => {
    const mp = multipartBody([['front_image', { filename: 'f.jpg', type: 'image/jpeg', data: JPEG }]]);
    await run(o, 'idVerification (multipart)', () =>
      handler('idVerification')(apiEvent({ method: 'POST', path: '/v1/id-verification', headers: { 'content-type': mp.contentType }, body: mp.body }), lambdaContext()),
    );
  },
  'op-json-base64': async (o) => {
    await run(o, 'createSession with portrait_image (JSON with base64)', () =>
      handler('createSession')(
        apiEvent({ method: 'POST', path: '/v1/sessions', ...json({ workflow_id: WORKFLOW, portrait_image: JPEG.toString('base64') }) }),
        lambdaContext(),
      ),
    );
  },
  'op-pdf': async (o) => {
    const sessionId = process.env['RESIDUE_PDF_SESSION'] ?? '';
    await run(o, 'generateSessionPdf (binary answer)', async () => {
      const sid = phaseInput['sessionId'] ?? sessionId;
      return handler('generateSessionPdf')(
        apiEvent({ method: 'GET', path: `/v1/sessions/${sid}/pdf`, pathParameters: { sessionId: sid } }),
        lambdaContext(),
      );
    });
  },
  'op-401': async (o) => {
    await run(o, 'Didit 401 (ciphertext re-read, unchanged: not retried)', () => aml('Residue Unauthorized'));
  },
  'op-4xx': async (o) => {
    await run(o, 'Didit 400', () => aml('Residue Bad Request'));
  },
  'op-5xx': async (o) => {
    await run(o, 'Didit 500 (retried once, then 502)', () => aml('Residue Server Error'));
  },
  'op-reset': async (o) => {
    await run(o, 'Didit connection reset', () => aml('Residue Reset'));
  },
  'op-timeout': async (o) => {
    // The invocation deadline aborts the Didit call (the abort path and the timeout path are the same signal).
    // The aborted exchange's connection is destroyed, so the sandbox's late answer is never read.
    await run(o, 'Didit timeout at the invocation deadline (abort)', () => aml('Residue Timeout', 2_500));
  },
  'op-kms-failure': async (o) => {
    const config = loadConfig();
    const wrong = createDependencies({ ...config, stage: `${config.stage}-other` });
    await run(o, 'KMS refuses (wrong encryption context)', () =>
      handler('createSession', () => wrong)(apiEvent({ method: 'POST', path: '/v1/sessions', ...json({ workflow_id: WORKFLOW }) }), lambdaContext()),
    );
    wrong.didit.close();
    wrong.kmsHandler.destroy();
  },
  'op-kms-cut': async (o) => {
    // The parent's proxy cuts the KMS connection in the middle of the next answer (after its first bytes).
    await run(o, 'KMS connection cut mid-answer (partial read)', () => aml('Residue Kms Cut'));
  },
  'op-throw': async (o) => {
    await run(o, 'handler throws inside the key scope', async () => {
      await gateway().sealedKey.withKey(async (key) => {
        const head = buildRequestHead({ method: 'GET', target: '/v3/x/', host: 'h', headers: [] }, key);
        head.dispose();
        throw new Error('boom after using the key');
      });
      return { statusCode: 200 };
    });
  },
  'op-seal': async (o) => {
    await run(o, 'createWebhookDestination ?seal=true (KMS Encrypt)', () =>
      handler('createWebhookDestination')(
        apiEvent({
          method: 'POST',
          path: '/v1/webhook-destinations',
          query: { seal: 'true' },
          ...json({ label: 'Residue', url: 'https://hooks.example.com/residue', subscribed_events: ['status.updated'] }),
        }),
        lambdaContext(),
      ),
    );
  },
  'webhook-valid': async (o) => {
    await run(o, 'signed delivery verified with the sealed secret', () =>
      webhookHandler()(JSON.parse(process.env['RESIDUE_WEBHOOK_EVENT']!) as APIGatewayProxyEvent, lambdaContext()) as Promise<APIGatewayProxyResult>,
    );
  },
  'webhook-forged': async (o) => {
    await run(o, 'forged delivery (wrong signature) refused', () =>
      webhookHandler()(JSON.parse(process.env['RESIDUE_WEBHOOK_FORGED']!) as APIGatewayProxyEvent, lambdaContext()) as Promise<APIGatewayProxyResult>,
    );
  },
  'worker-batch': async (o) => {
    const { deps: d, sent } = jobs();
    sent.length = 0;
    const submit = createSubmitJobHandler({ dependencies: () => d });
    const jobIds: string[] = [];
    for (const name of ['Residue Job One', 'Residue Job Two', 'Residue Job Fails']) {
      const r = (await submit(
        apiEvent({
          method: 'POST',
          path: '/v1/jobs/amlScreening',
          resource: '/v1/jobs/{operation}',
          pathParameters: { operation: 'amlScreening' },
          ...json({ body: { full_name: name, nationality: 'ES' } }),
        }),
        lambdaContext(),
      )) as APIGatewayProxyResult;
      jobIds.push(String(parse(r)['jobId']));
    }
    const event: SQSEvent = {
      Records: sent.map((body, i) => ({
        messageId: `m-${i}-${jobIds[i]}`,
        receiptHandle: `rh-${i}`,
        body,
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'AIDATEST', ApproximateFirstReceiveTimestamp: String(Date.now()) },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:didit-residue-jobs',
        awsRegion: 'us-east-1',
      })),
    };
    const worker = createJobWorker({ dependencies: () => ({ jobs: d, gateway: gateway() }) });
    await run(o, 'SQS batch of 3 (one key scope; one Didit 500 → item failure)', async () => {
      const r = (await worker(event, lambdaContext({ remainingMs: 60_000 }))) as SQSBatchResponse;
      return { statusCode: r.batchItemFailures.length, detail: { jobIds: jobIds.join(',') } };
    });
  },
  'job-result': async (o) => {
    const { deps: d } = jobs();
    const getJob = createGetJobHandler({ dependencies: () => d });
    const jobId = phaseInput['jobId'] ?? '';
    await run(o, 'getJob (KMS Decrypt of the data key, AES-256-GCM open)', () =>
      getJob(apiEvent({ method: 'GET', path: `/v1/jobs/${jobId}`, resource: '/v1/jobs/{jobId}', pathParameters: { jobId } }), lambdaContext()) as Promise<APIGatewayProxyResult>,
    );
  },
  signup: async (o) => {
    await run(o, 'user.signup → createSession', () => signup('residue-signup-user'));
  },
  'signup-didit-5xx': async (o) => {
    await run(o, 'user.signup, Didit 503 twice (retryable)', () => signup('residue-signup-5xx'));
  },
  upload: async (o) => {
    await run(o, 'S3 upload: presign, PUT, onUpload → idVerification', () => uploadFlow('residue-upload'));
  },
  'upload-didit-reset': async (o) => {
    await run(o, 'S3 upload, Didit connection reset', () => uploadFlow('residue-upload-reset'));
  },
  // Negative control for the scrub: the same reset as op-reset with the TLS read scrub switched off. The
  // scan must find the Decrypt answer on the stack, or the proof cannot tell the scrub works.
  'control-unscrubbed-reset': async (o) => {
    disableTlsReadScrubForResidueControl();
    await run(o, 'Didit reset, TLS read scrub disabled (negative control)', () => aml('Residue Unscrubbed'));
  },
};

let phaseInput: Record<string, string> = {};

let signupHandler: ReturnType<typeof createSignupHandler> | undefined;
async function signup(userId: string): Promise<{ statusCode: number | string }> {
  signupHandler ??= createSignupHandler({ dependencies: () => (signupDeps ??= createSignupDependencies(loadSignupConfig())) });
  const event = {
    version: '0',
    id: randomUUID(),
    source: 'app.users',
    'detail-type': 'user.signup',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [],
    detail: { userId, email: `${userId}@example.com` },
  } as EventBridgeEvent<string, unknown>;
  const r = (await signupHandler(event, lambdaContext())) as { status: string };
  return { statusCode: r.status };
}
let signupDeps: ReturnType<typeof createSignupDependencies> | undefined;

let intakeDeps: ReturnType<typeof createIntakeDependencies> | undefined;
let presignDeps: ReturnType<typeof createPresignDependencies> | undefined;
/** The client flow (presign, PUT the file and the manifest), then the S3 trigger as Lambda would invoke it. */
async function uploadFlow(callerRef: string): Promise<{ statusCode: number | string; detail?: Record<string, string> }> {
  presignDeps ??= createPresignDependencies(loadPresignConfig());
  const answer = (await createPresignHandler({ dependencies: () => presignDeps! })(
    apiEvent({
      method: 'POST',
      path: '/v1/uploads',
      ...json({ operation: 'idVerification', callerRef, files: [{ field: 'front_image', contentType: 'image/jpeg', size: JPEG.length }] }),
    }),
    lambdaContext(),
  )) as APIGatewayProxyResult;
  if (answer.statusCode !== 201) return { statusCode: `presign ${answer.statusCode}` };
  const ticket = JSON.parse(answer.body) as UploadTicket;
  for (const file of ticket.files) {
    const put = await fetch(file.url, { method: file.method, headers: file.headers, body: JPEG });
    if (put.status !== 200) return { statusCode: `put ${put.status}` };
  }
  const put = await fetch(ticket.manifest.url, { method: ticket.manifest.method, headers: ticket.manifest.headers, body: ticket.manifest.body });
  if (put.status !== 200) return { statusCode: `manifest ${put.status}` };
  // As S3 reports it in the event (unquoted): the trigger checks the manifest was not replaced since.
  const eTag = (put.headers.get('etag') ?? '').replace(/"/g, '');
  const event = {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        userIdentity: { principalId: 'AWS:AIDATEST' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': 'r', 'x-amz-id-2': 'i' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'intake',
          bucket: { name: ticket.bucket, ownerIdentity: { principalId: 'A' }, arn: `arn:aws:s3:::${ticket.bucket}` },
          object: { key: encodeURIComponent(ticket.manifest.key).replace(/%2F/g, '/'), size: Buffer.byteLength(ticket.manifest.body), eTag, sequencer: '1' },
        },
      },
    ],
  } as S3Event;
  intakeDeps ??= createIntakeDependencies(loadIntakeConfig(), { gateway: gateway() });
  const out = (await createUploadHandler({ dependencies: () => intakeDeps! })(event, lambdaContext({ remainingMs: 60_000 }))) as {
    results: UploadRecordResult[];
  };
  const first = out.results[0];
  return { statusCode: first === undefined ? 'no result' : `${first.status}${first.errorCode === undefined ? '' : ` ${first.errorCode}`}` };
}

/** Module-level cache of the plaintext, as popular secret middlewares keep one. */
const naiveCache: { key?: string } = {};

/** The obvious implementation, as a positive control: the scan must find its copies. */
async function naive(): Promise<Outcome[]> {
  const secrets = new SecretsManagerClient({});
  const kms = new KMSClient({});
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: process.env['SEALED_KEY_SECRET_ID'] }));
  const stage = process.env['STAGE']!;
  const out = await kms.send(
    new DecryptCommand({
      CiphertextBlob: secret.SecretBinary,
      EncryptionContext: { service: 'didit-kms-gateway', stage, purpose: 'didit-api-key' },
    }),
  );
  const key = Buffer.from(out.Plaintext!).toString('latin1');
  naiveCache.key = key;
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      `${process.env['DIDIT_BASE_URL']}/v3/session/`,
      {
        method: 'POST',
        ca: readFileSync(process.env['DIDIT_CA_FILE']!),
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ workflow_id: WORKFLOW }));
  });
  return [{ scenario: 'naive create session', status }];
}

const mode = process.env['RESIDUE_MODE'] ?? 'product';
if (mode === 'naive') {
  const outcomes = await naive();
  process.send!({ type: 'ready', outcomes });
} else {
  process.send!({ type: 'ready', outcomes: [] });
}

// In-scope control: hold the key inside withKey while the parent scans, so the parent can show
// its scan does see secure memory, and that the key is gone once the scope ends.
let release: (() => void) | undefined;
async function hold(): Promise<void> {
  await gateway().sealedKey.withKey(async () => {
    process.send!({ type: 'holding' });
    await new Promise<void>((resolve) => (release = resolve));
  });
  process.send!({ type: 'released' });
}

process.on('message', (message: { type: string; path?: string; name?: string; input?: Record<string, string> }) => {
  if (message.type === 'phase' && message.name !== undefined) {
    const phase = PHASES[message.name];
    phaseInput = message.input ?? {};
    const outcomes: Outcome[] = [];
    const started = performance.now();
    const before = tlsReadScrubStats();
    void (phase === undefined ? Promise.reject(new Error(`unknown phase ${message.name}`)) : phase(outcomes)).then(
      () => {
        const after = tlsReadScrubStats();
        process.send!({
          type: 'phase-done',
          outcomes,
          ms: performance.now() - started,
          scrubs: after.scrubs - before.scrubs,
          scrubMs: after.totalMs - before.totalMs,
        });
      },
      (err: unknown) => process.send!({ type: 'phase-done', outcomes: [{ scenario: message.name, status: `phase failed: ${(err as Error).name}` }] }),
    );
  } else if (message.type === 'hold') {
    void hold();
  } else if (message.type === 'release') {
    release?.();
  } else if (message.type === 'gc') {
    const gc = (globalThis as { gc?: () => void }).gc;
    for (let i = 0; i < 4; i++) gc?.();
    // Finalisers (sodium's external buffers, Node's cipher contexts) run after GC on a later tick.
    setImmediate(() => {
      gc?.();
      setImmediate(() => process.send!({ type: 'gc-done' }));
    });
  } else if (message.type === 'snapshot' && message.path !== undefined) {
    writeHeapSnapshot(message.path);
    process.send!({ type: 'snapshot-done' });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
