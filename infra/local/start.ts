/**
 * `npm start`: the whole gateway on this machine, every path, no AWS account needed.
 *
 *   1. an AWS emulator (LocalStack 4.14 core by default; see infra/local/emulator.ts) and, beside LocalStack,
 *      a moto server for DynamoDB (host-mode LocalStack has none); meanwhile `sls package --stage local`
 *      produces the template the event sources are configured from;
 *   2. a random demo Didit key and a random webhook signing secret, held only in Buffers: never printed,
 *      written to disk or put in an env var;
 *   3. infra/local/local-gateway.ts: the Didit sandbox accepting that key and sending webhooks signed with that
 *      secret; the stack's resources on the emulator from the packaged template, both secrets sealed the way
 *      production has them (KMS ciphertext under the stage's encryption contexts, as SecretBinary), after
 *      which this process zeroes its copies; serverless-offline serving every route; the jobs queue, upload
 *      notification and sign-up rule invoking jobWorker, onUpload and onSignup through serverless-offline's
 *      Lambda Invoke API; every published event printed (`[events] …`) and listed at the events URL.
 *
 * Ports: OFFLINE_HTTP_PORT (default 3000), OFFLINE_LAMBDA_PORT (default 3002), LOCAL_EVENTS_PORT (default
 * 3003). Emulator choice: DIDIT_TEST_EMULATOR=moto, or AWS_ENDPOINT_URL for one already running
 * (AWS_ENDPOINT_URL_DYNAMODB for its DynamoDB, default the same endpoint). Ctrl-C stops everything.
 * IAM authorisation (`authorizer: aws_iam`) is not emulated offline: requests need no signature.
 */
import { randomFillSync, randomUUID } from 'node:crypto';
import { startEmulator, type Emulator } from './emulator.ts';
import { LOCAL_STAGE, packageLocalTemplate, startLocalGateway, type LocalGateway } from './local-gateway.ts';

const KEY_LENGTH = 40;
const WEBHOOK_SECRET_LENGTH = 43;
const KEY_ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 'latin1');

const info = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/**
 * Random base64url characters (a Didit-like key: 40; a webhook `secret_shared_key`: 43) built byte by byte,
 * never as a string. `allocUnsafeSlow` gives it its own off-heap ArrayBuffer: `Buffer.alloc(40)` would be a
 * V8 on-heap typed array (≤ 64 bytes) that native code copies, leaving bytes behind that `fill(0)` cannot reach.
 */
function randomToken(length: number): Buffer {
  const key = Buffer.allocUnsafeSlow(length);
  randomFillSync(key);
  for (let i = 0; i < key.length; i++) key[i] = KEY_ALPHABET[key[i]! & 63]!;
  return key;
}

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0 || value > 65_535) throw new Error(`${name} must be a TCP port, got '${raw}'`);
  return value;
}

/** A value inside single quotes in a shell command. */
function sq(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * Upload path: the ticket's presigned PUTs (each file, then the manifest, which the bucket notification fires
 * on), made with curl; python3 (which the emulator needs anyway) only reads the ticket's JSON.
 */
const UPLOAD_PUTS =
  `python3 -c 'import json,subprocess,sys; t=json.loads(sys.argv[1]); ` +
  `put=lambda p,d: subprocess.run(["curl","-sS","-o","/dev/null","-w",p["method"]+" %{http_code}\\n","-X",p["method"],*[a for k,v in p["headers"].items() for a in ("-H",k+": "+v)],"--data-binary",d,p["url"]],check=True); ` +
  `[put(f,"@/tmp/didit-front.jpg") for f in t["files"]]; put(t["manifest"],t["manifest"]["body"])' "$TICKET"`;

/** One path a newcomer can try: prose lines, and the commands to paste (in order, in one bash). */
export interface BannerPath {
  readonly key: 'operation' | 'webhooks' | 'jobs' | 'uploads' | 'signup' | 'events';
  readonly lines: ReadonlyArray<string | { readonly cmd: string }>;
}

export function bannerPaths(gw: LocalGateway, em: Emulator): BannerPath[] {
  const api = gw.offline.url;
  const workflowId = randomUUID();
  const json = (body: unknown): string => sq(JSON.stringify(body));
  const post = (path: string, body: unknown): string =>
    `curl -sS -X POST ${sq(`${api}${path}`)} -H 'content-type: application/json' -d ${json(body)}`;
  const create = post('/v1/sessions', { workflow_id: workflowId, vendor_data: 'demo-user' });
  const sandboxStatus = (status: string, extra: Record<string, unknown> = {}): string =>
    `curl -sS --cacert ${sq(gw.sandbox.caFile)} -X POST "${gw.sandbox.url}/__sandbox/sessions/$SESSION_ID/status" ` +
    `-H 'content-type: application/json' -d ${json({ status, ...extra })}`;
  const signupDetail = JSON.stringify({ userId: 'demo-user-1', email: 'demo-user-1@example.com', workflowId });
  const putEvents = {
    Entries: [{ EventBusName: gw.stack.signupBus, Source: 'app.users', DetailType: 'user.signup', Detail: signupDetail }],
  };
  const { accessKeyId, secretAccessKey } = em.credentials;
  const ticket = post('/v1/uploads', {
    operation: 'idVerification',
    callerRef: 'demo-upload',
    files: [{ field: 'front_image', contentType: 'image/jpeg', size: 4100 }],
    fields: { minimum_age: 18 },
  });
  return [
    {
      key: 'operation',
      lines: [
        '1. An operation (POST /v1/sessions), then its decision:',
        { cmd: `SESSION_ID=$(${create} | sed -E 's/.*"session_id":"([^"]+)".*/\\1/'); echo "$SESSION_ID"` },
        { cmd: `curl -sS "${api}/v1/sessions/$SESSION_ID/decision"; echo` },
      ],
    },
    {
      key: 'webhooks',
      lines: [
        '2. Webhooks: finish that session on the Didit sandbox; it sends a signed status.updated to',
        '   POST /v1/webhooks/didit, which publishes didit.session.status-updated ([didit] and [events] lines):',
        { cmd: `${sandboxStatus('Approved')}; echo` },
        '   Other signature forms: add "signatures":[…] (any of v2, v2-timestamped, v2-ascii, v2-ascii-timestamped, v1, simple), e.g.',
        { cmd: `${sandboxStatus('In Review', { signatures: ['simple'] })}; echo` },
        "   A reviewer's change through the gateway (PATCH → Didit update-status → webhook):",
        { cmd: `curl -sS -X PATCH "${api}/v1/sessions/$SESSION_ID/status" -H 'content-type: application/json' -d '{"new_status":"Declined"}'; echo` },
      ],
    },
    {
      key: 'jobs',
      lines: [
        '3. A job (queue → jobWorker), then its result:',
        {
          cmd: `JOB_ID=$(${post('/v1/jobs/amlScreening', { body: { full_name: 'Jane Doe', nationality: 'ES' } })} | sed -E 's/.*"jobId":"([^"]+)".*/\\1/'); echo "$JOB_ID"`,
        },
        { cmd: `curl -sS "${api}/v1/jobs/$JOB_ID"; echo` },
      ],
    },
    {
      key: 'uploads',
      lines: [
        '4. An upload (presigned PUTs; the manifest under intake/ notifies the queue → onUpload):',
        { cmd: `printf '\\377\\330\\377\\340' > /tmp/didit-front.jpg && head -c 4096 /dev/zero >> /tmp/didit-front.jpg` },
        { cmd: `TICKET=$(${ticket}); echo "$TICKET"` },
        { cmd: UPLOAD_PUTS },
      ],
    },
    {
      key: 'signup',
      lines: [
        `5. A user.signup event on the application bus ${gw.stack.signupBus} (rule → queue → onSignup → a Didit session):`,
        {
          cmd:
            `curl -sS ${sq(`${em.endpoint}/`)} --aws-sigv4 ${sq(`aws:amz:${em.region}:events`)} --user ${sq(`${accessKeyId}:${secretAccessKey}`)} ` +
            `-H 'content-type: application/x-amz-json-1.1' -H 'x-amz-target: AWSEvents.PutEvents' -d ${json(putEvents)}; echo`,
        },
      ],
    },
    {
      key: 'events',
      lines: ['6. What was published:', { cmd: `curl -sS ${sq(gw.outbox.url)}` }],
    },
  ];
}

export function banner(gw: LocalGateway, em: Emulator): string {
  const paths = bannerPaths(gw, em).flatMap((p) => [...p.lines.map((l) => (typeof l === 'string' ? l : `  ${l.cmd}`)), '']);
  return [
    '',
    `didit-kms-gateway is running offline (stage ${LOCAL_STAGE})`,
    `  API          ${gw.offline.url}`,
    `  Events       ${gw.outbox.url}  (every published event; each is also printed below as [events] …)`,
    `  AWS emulator ${em.kind} at ${em.endpoint} (region ${em.region})`,
    `  Didit        sandbox at ${gw.sandbox.url} (a fake; nothing leaves this machine), CA ${gw.sandbox.caFile}`,
    `  Sealed       ${gw.stack.sealed.secretId} under ${gw.stack.sealed.kmsKeyArn}, and the webhook secret (neither is ever shown)`,
    '  IAM auth is not emulated offline: requests need no SigV4 signature.',
    '',
    ...paths,
    'Press Ctrl-C to stop (offline, event sources, sandbox and emulator).',
    '',
  ].join('\n');
}

class Interrupted extends Error {}

async function main(): Promise<number> {
  const httpPort = port('OFFLINE_HTTP_PORT', 3000);
  const lambdaPort = port('OFFLINE_LAMBDA_PORT', 3002);
  const eventsPort = port('LOCAL_EVENTS_PORT', 3003);

  let em: Emulator | undefined;
  let dynamo: Emulator | undefined;
  let gw: LocalGateway | undefined;
  let apiKey: Buffer | undefined;
  let webhookSecret: Buffer | undefined;
  let shuttingDown: Promise<void> | undefined;

  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      apiKey?.fill(0);
      webhookSecret?.fill(0);
      const steps: Array<[string, () => Promise<void> | undefined]> = [
        ['the gateway', () => gw?.stop()],
        ['DynamoDB (moto)', () => dynamo?.stop()],
        ['emulator', () => em?.stop()],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          info(`[start] stopping ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return shuttingDown;
  };

  // During start-up a signal is honoured between steps (so nothing already started is left behind); once
  // running, at once. A second signal exits immediately: the emulator and offline children are still
  // killed by their modules' process-exit handlers.
  let signalled = false;
  let running = false;
  const abortStart = new AbortController();
  const stopped = new Promise<number>((resolveStopped) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        info(`[start] ${signal} again: exiting now`);
        process.exit(130);
      }
      signalled = true;
      if (running) {
        info(`\n[start] ${signal}: stopping…`);
        void shutdown().then(() => resolveStopped(0));
      } else {
        info(`\n[start] ${signal}: stopping once the current step finishes (again to exit now)…`);
        abortStart.abort(); // the emulator's health wait can be cut short
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const checkpoint = (): void => {
    if (signalled) throw new Interrupted();
  };

  try {
    info('[start] starting the AWS emulator (the first run installs it, which takes a few minutes) and packaging the template…');
    // The template is packaged while the emulator starts; both are needed before anything else.
    const template = packageLocalTemplate(info);
    template.catch(() => undefined);
    em = await startEmulator({ log: info, signal: abortStart.signal });
    checkpoint();
    // Host-mode LocalStack has no DynamoDB: a moto server beside it serves the tables (as in the tests).
    let dynamodbEndpoint = process.env['AWS_ENDPOINT_URL_DYNAMODB'] || em.endpoint;
    if (em.kind === 'localstack') {
      dynamo = await startEmulator({ kind: 'moto', log: info, signal: abortStart.signal });
      dynamodbEndpoint = dynamo.endpoint;
      info(`[start] DynamoDB on moto at ${dynamodbEndpoint}`);
    }
    checkpoint();

    apiKey = randomToken(KEY_LENGTH);
    webhookSecret = randomToken(WEBHOOK_SECRET_LENGTH);
    let ready = false;
    gw = await startLocalGateway({
      em,
      dynamodbEndpoint,
      template: await template,
      apiKey,
      webhookSecret,
      httpPort,
      lambdaPort,
      eventsPort,
      log: info,
      // Quiet until ready (the error carries the output if it fails); then show requests and handler logs.
      offlineLog: (line) => {
        if (ready && line.trim() !== '') info(`[offline] ${line}`);
      },
    });
    // Sealed in the emulator and copied into the sandbox (the fake Didit) now: this process needs neither.
    apiKey.fill(0);
    apiKey = undefined;
    webhookSecret.fill(0);
    webhookSecret = undefined;
    ready = true;
    checkpoint();
    running = true;
    process.stdout.write(banner(gw, em));

    const offline = gw.offline;
    const crashed = offline.exited.then(async (code) => {
      if (shuttingDown) {
        await shuttingDown; // we are stopping it: let the other steps finish before exiting
        return 0;
      }
      info(`[start] serverless-offline exited unexpectedly (code ${code}):\n${offline.output()}`);
      await shutdown();
      return 1;
    });
    return await Promise.race([stopped, crashed]);
  } catch (err) {
    if (!signalled) {
      const hint = /could not bind|EADDRINUSE/.test(String(err)) ? ' (set OFFLINE_HTTP_PORT / OFFLINE_LAMBDA_PORT / LOCAL_EVENTS_PORT)' : '';
      info(`[start] failed: ${err instanceof Error ? err.message : String(err)}${hint}`);
    }
    await shutdown();
    return signalled ? 0 : 1;
  }
}

// Only as the entry point (`node infra/local/start.ts`): tests import the banner.
if (import.meta.main) {
  process.exitCode = await main();
  // Every child is stopped by now; do not wait for idle keep-alive sockets or timers.
  process.exit();
}
