/**
 * Everything `npm start` runs on top of an AWS emulator, as one composition (start.ts and the offline
 * integration test both use it):
 *
 *   1. the packaged template of the `local` stage (`sls package --stage local`, sodium-native not installed:
 *      only the template is read), the one source of the event sources' settings;
 *   2. the Didit sandbox (control routes on), accepting the demo key and sending signed `status.updated`
 *      webhooks, with the webhook secret, to the gateway's `POST /v1/webhooks/didit`;
 *   3. the stack's resources on the emulator from that template (infra/local/lambda/stack.ts): the KMS key,
 *      the Didit key and the webhook secret sealed under it, the DynamoDB tables, the event bus with a
 *      catch-all rule to an outbox queue, the jobs queue and its DLQ, the intake bucket notifying a queue,
 *      the sign-up rule on an application bus with a queue target, the trigger DLQ;
 *   4. serverless-offline serving every route of serverless.yml with those resources' names;
 *   5. the event sources (event-sources.ts) invoking jobWorker, onUpload and onSignup through
 *      serverless-offline's Lambda Invoke API;
 *   6. the outbox (outbox.ts): a line per published event, and `GET <eventsUrl>`.
 *
 * The caller owns the emulator(s), the key and the webhook secret (it zeroes them once this returns: the
 * sandbox and the emulator hold their own copies). No secret is put in an environment variable, argument,
 * file or log line: the functions get secret ids only.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startSandbox, type Sandbox } from '../../test/sandbox/index.ts';
import type { Emulator } from './emulator.ts';
import { startEventSources, type EventSources } from './event-sources.ts';
import { provisionLambdaStack, type LambdaStack } from './lambda/stack.ts';
import { readPackagedTemplate, type PackagedTemplate } from './lambda/template.ts';
import { childEnv, REPO_ROOT, SLS_BIN, startOffline, type Offline } from './offline.ts';
import { offlineInvoker } from './offline-invoke.ts';
import { startOutbox, type Outbox } from './outbox.ts';

export const LOCAL_STAGE = 'local';

/**
 * `sls package --stage local` into a private folder under .cache/start/ (git-ignored), read its template, and
 * remove the folder: nothing but the template is used. The `local` stage skips installing sodium-native into
 * the zips, so this is a bundle-and-compile of a few seconds, and needs no AWS credentials.
 */
export async function packageLocalTemplate(log: (line: string) => void = () => {}): Promise<PackagedTemplate> {
  const dir = join(REPO_ROOT, '.cache', 'start', `${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const env = childEnv({ DIDIT_ESBUILD_WORK_FOLDER: join(dir, '.esbuild'), SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', FORCE_COLOR: '0' });
    const output: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [SLS_BIN, 'package', '--stage', LOCAL_STAGE, '--package', join(dir, 'package')], {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    if (code !== 0) throw new Error(`sls package --stage ${LOCAL_STAGE} failed (exit ${code}):\n${output.join('').slice(-4000)}`);
    const template = readPackagedTemplate(join(dir, 'package'));
    log(`[start] packaged template read (${Object.keys(template.resources).length} resources)`);
    return template;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface LocalGatewayOptions {
  readonly em: Emulator;
  /** Where DynamoDB answers (moto beside host-mode LocalStack, else the emulator itself). */
  readonly dynamodbEndpoint: string;
  readonly template: PackagedTemplate;
  /** The demo Didit key: the sandbox accepts it, the emulator seals it. Copied; the caller zeroes it. */
  readonly apiKey: Buffer;
  /** The webhook destination's signing secret: the sandbox signs with it, the emulator seals it. Copied. */
  readonly webhookSecret: Uint8Array;
  readonly httpPort?: number;
  readonly lambdaPort?: number;
  /** Port of the outbox's debug server; default a free one. */
  readonly eventsPort?: number;
  /** Progress and event lines. */
  readonly log: (line: string) => void;
  /** serverless-offline's output lines. */
  readonly offlineLog?: (line: string) => void;
  /**
   * Delete the stack's resources on stop. Default: only on an external emulator (a started one takes its
   * state with it); tests sharing one emulator set it.
   */
  readonly teardownStack?: boolean;
  /**
   * Test-only: a shorter visibility timeout for the jobs queue than the template's 540 s, so a redelivery and
   * the redrive to the DLQ happen within a test (stack.ts's option of the same name).
   */
  readonly jobsVisibilityTimeoutSeconds?: number;
  /** Waits between the sandbox's webhook retries (Didit's are minutes); default the sandbox's. */
  readonly webhookRetryDelaysMs?: readonly number[];
}

export interface LocalGateway {
  readonly offline: Offline;
  readonly sandbox: Sandbox;
  readonly stack: LambdaStack;
  readonly sources: EventSources;
  readonly outbox: Outbox;
  /** The URL the sandbox sends its webhooks to. */
  readonly webhookUrl: string;
  readonly sqs: SQSClient;
  stop(): Promise<void>;
}

export async function startLocalGateway(opts: LocalGatewayOptions): Promise<LocalGateway> {
  const { em, log } = opts;
  const stops: Array<[string, () => Promise<unknown>]> = [];
  const stop = async (): Promise<void> => {
    for (const [name, step] of stops.reverse()) {
      try {
        await step();
      } catch (err) {
        log(`[start] stopping ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    stops.length = 0;
  };
  const sqs = new SQSClient({ endpoint: em.endpoint, region: em.region, credentials: { ...em.credentials }, maxAttempts: 3 });
  stops.push(['SQS client', async () => sqs.destroy()]);
  try {
    // The sandbox keeps its own copy (it is the "Didit" that accepts the key); no other copy is made here.
    const sandbox = await startSandbox({ apiKey: opts.apiKey, control: true });
    stops.push(['Didit sandbox', () => sandbox.close()]);
    log(`[start] Didit sandbox at ${sandbox.url}`);

    const stack = await provisionLambdaStack(em, {
      template: opts.template,
      stage: LOCAL_STAGE,
      apiKey: opts.apiKey,
      webhookSecret: opts.webhookSecret,
      dynamodbEndpoint: opts.dynamodbEndpoint,
      ...(opts.jobsVisibilityTimeoutSeconds !== undefined ? { jobsVisibilityTimeoutSeconds: opts.jobsVisibilityTimeoutSeconds } : {}),
    });
    // The emulator's state goes with it, except for an external one: clean up there.
    if (opts.teardownStack ?? em.kind === 'external') stops.push(['the stack on the emulator', () => stack.teardown()]);
    log(`[start] stack created on the emulator: key sealed with KMS into ${stack.sealed.secretId}, webhook secret sealed beside it`);

    const refs = stack.resources.refs;
    const attr = stack.resources.attributes ?? {};
    log('[start] starting serverless-offline (bundling with esbuild)…');
    const offline = await startOffline({
      stage: LOCAL_STAGE,
      ...(opts.httpPort !== undefined ? { httpPort: opts.httpPort } : {}),
      ...(opts.lambdaPort !== undefined ? { lambdaPort: opts.lambdaPort } : {}),
      // serverless.yml's `local` params read these; names and ids only, never a secret.
      env: {
        AWS_ENDPOINT_URL: em.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: opts.dynamodbEndpoint,
        AWS_REGION: em.region,
        AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
        SEALED_KEY_SECRET_ID: refs['DiditApiKeySecret'],
        WEBHOOK_SECRET_SECRET_ID: refs['DiditWebhookSecret'],
        KMS_KEY_ID: attr['DiditSecretsKey.Arn'],
        IDEMPOTENCY_TABLE: refs['WebhookIdempotencyTable'],
        SPEND_CAP_TABLE: refs['WebhookIdempotencyTable'],
        EVENT_BUS_NAME: refs['DiditEventBus'],
        JOBS_TABLE: refs['JobsTable'],
        JOBS_QUEUE_URL: refs['JobsQueue'],
        UPLOAD_BUCKET: refs['UploadIntakeBucket'],
        UPLOAD_KMS_KEY_ID: attr['UploadsKey.Arn'],
        DIDIT_BASE_URL: sandbox.url,
        DIDIT_CA_FILE: sandbox.caFile,
      },
      ...(opts.offlineLog ? { log: opts.offlineLog } : {}),
    });
    stops.push(['serverless-offline', () => offline.stop()]);

    const webhookUrl = `${offline.url}/v1/webhooks/didit`;
    sandbox.sendWebhooksTo({
      url: webhookUrl,
      secret: opts.webhookSecret,
      ...(opts.webhookRetryDelaysMs ? { retryDelaysMs: opts.webhookRetryDelaysMs } : {}),
    });
    sandbox.onWebhookAttempt((d) => {
      log(`[didit] webhook ${d.webhookType} "${d.status}" for session ${d.sessionId} (${d.forms.join(', ')}) → ${d.answers.at(-1) || 'no answer'} ${d.lastBody}`);
    });

    const outbox = await startOutbox({ sqs, queueUrl: stack.queues.events.url, log, ...(opts.eventsPort !== undefined ? { port: opts.eventsPort } : {}) });
    stops.push(['outbox', () => outbox.stop()]);

    const sources = startEventSources({
      sqs,
      region: em.region,
      template: opts.template,
      stack,
      invoker: (name) => offlineInvoker(offline.lambdaPort, name),
      log,
    });
    stops.push(['event sources', () => sources.stop()]);

    return { offline, sandbox, stack, sources, outbox, webhookUrl, sqs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
