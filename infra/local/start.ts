/**
 * `npm start`: the whole gateway on this machine, no AWS account needed.
 *
 *   1. an AWS emulator (LocalStack 4.14 core by default; see infra/local/emulator.ts),
 *   2. a random demo Didit key, held only in a Buffer: never printed, written to disk or put in an env var,
 *   3. the Didit sandbox (a fake verification.didit.me over HTTPS with its own CA) accepting that key,
 *   4. the key sealed the way production has it: KMS ciphertext (encryption context service/stage/purpose)
 *      stored as a Secrets Manager SecretBinary, after which this process zeroes its copy,
 *   5. serverless-offline (`sls offline start --stage local`) serving the four routes of serverless.yml,
 *      its functions configured with the secret id, the emulator endpoint and the sandbox URL/CA only.
 *
 * Ports: OFFLINE_HTTP_PORT (default 3000) and OFFLINE_LAMBDA_PORT (default 3002). Emulator choice:
 * DIDIT_TEST_EMULATOR=moto, or AWS_ENDPOINT_URL for one already running. Ctrl-C stops everything.
 * IAM authorisation (`authorizer: aws_iam`) is not emulated offline: requests need no signature.
 */
import { randomFillSync, randomUUID } from 'node:crypto';
import { startEmulator, type Emulator } from './emulator.ts';
import { startOffline, type Offline } from './offline.ts';
import { provisionSealedKey, teardownSealedKey, type SealedKeyResources } from './provision.ts';
import { startSandbox, type Sandbox } from '../../test/sandbox/index.ts';

const STAGE = 'local';
const KEY_LENGTH = 40;
const KEY_ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 'latin1');

const info = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/**
 * A random Didit-like key (40 base64url characters) built byte by byte, never as a string.
 * `allocUnsafeSlow` gives it its own off-heap ArrayBuffer: `Buffer.alloc(40)` would be a V8 on-heap typed
 * array (≤ 64 bytes) that native code copies, leaving bytes behind that `fill(0)` cannot reach.
 */
function demoKey(): Buffer {
  const key = Buffer.allocUnsafeSlow(KEY_LENGTH);
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

function banner(offline: Offline, em: Emulator, sandbox: Sandbox, sealed: SealedKeyResources): string {
  const workflowId = randomUUID();
  const create =
    `curl -sS -X POST '${offline.url}/v1/sessions' -H 'content-type: application/json' ` +
    `-d '{"workflow_id":"${workflowId}","vendor_data":"demo-user"}'`;
  return [
    '',
    `didit-kms-gateway is running offline (stage ${STAGE})`,
    `  API          ${offline.url}`,
    `  AWS emulator ${em.kind} at ${em.endpoint} (region ${em.region})`,
    `  Didit        sandbox at ${sandbox.url} (a fake; nothing leaves this machine)`,
    `  Sealed key   ${sealed.secretId} under ${sealed.alias} (the demo key itself is never shown)`,
    '  IAM auth is not emulated offline: requests need no SigV4 signature.',
    '',
    'Create a verification session:',
    `  ${create}`,
    '',
    'Create one and fetch its decision (bash):',
    `  SESSION_ID=$(${create} | sed -E 's/.*"session_id":"([^"]+)".*/\\1/')`,
    `  curl -sS "${offline.url}/v1/sessions/$SESSION_ID/decision"`,
    '',
    'Press Ctrl-C to stop (offline, sandbox and emulator).',
    '',
  ].join('\n');
}

class Interrupted extends Error {}

async function main(): Promise<number> {
  const httpPort = port('OFFLINE_HTTP_PORT', 3000);
  const lambdaPort = port('OFFLINE_LAMBDA_PORT', 3002);

  let em: Emulator | undefined;
  let sandbox: Sandbox | undefined;
  let sealed: SealedKeyResources | undefined;
  let offline: Offline | undefined;
  let apiKey: Buffer | undefined;
  let shuttingDown: Promise<void> | undefined;

  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      apiKey?.fill(0);
      const steps: Array<[string, () => Promise<void> | undefined]> = [
        ['offline', () => offline?.stop()],
        ['sandbox', () => sandbox?.close()],
        // The emulator's state goes with it, except for an external one: clean up there.
        ['sealed key', () => (sealed && em?.kind === 'external' ? teardownSealedKey(em, sealed) : undefined)],
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
    info('[start] starting the AWS emulator (the first run installs it, which takes a few minutes)…');
    em = await startEmulator({ log: info, signal: abortStart.signal });
    checkpoint();

    apiKey = demoKey();
    sandbox = await startSandbox({ apiKey }); // keeps its own copy: it is the "Didit" that accepts the key
    info(`[start] Didit sandbox at ${sandbox.url}`);
    sealed = await provisionSealedKey(em, { stage: STAGE, apiKey });
    apiKey.fill(0); // sealed in the emulator now; this process no longer needs it
    apiKey = undefined;
    info(`[start] demo key sealed with KMS (${sealed.kmsKeyArn}) into ${sealed.secretId}`);
    checkpoint();

    info('[start] starting serverless-offline (bundling with esbuild)…');
    let ready = false;
    offline = await startOffline({
      httpPort,
      lambdaPort,
      stage: STAGE,
      env: {
        AWS_ENDPOINT_URL: em.endpoint,
        AWS_REGION: em.region,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        SEALED_KEY_SECRET_ID: sealed.secretId,
        KMS_KEY_ID: sealed.kmsKeyArn,
        DIDIT_BASE_URL: sandbox.url,
        DIDIT_CA_FILE: sandbox.caFile,
      },
      // Quiet until ready (the error carries the output if it fails); then show requests and handler logs.
      log: (line) => {
        if (ready && line.trim() !== '') info(`[offline] ${line}`);
      },
    });
    ready = true;
    checkpoint();
    running = true;
    process.stdout.write(banner(offline, em, sandbox, sealed));

    const crashed = offline.exited.then(async (code) => {
      if (shuttingDown) {
        await shuttingDown; // we are stopping it: let the other steps finish before exiting
        return 0;
      }
      info(`[start] serverless-offline exited unexpectedly (code ${code}):\n${offline?.output() ?? ''}`);
      await shutdown();
      return 1;
    });
    return await Promise.race([stopped, crashed]);
  } catch (err) {
    if (!signalled) {
      const hint = /could not bind/.test(String(err)) ? ' (set OFFLINE_HTTP_PORT / OFFLINE_LAMBDA_PORT)' : '';
      info(`[start] failed: ${err instanceof Error ? err.message : String(err)}${hint}`);
    }
    await shutdown();
    return signalled ? 0 : 1;
  }
}

process.exitCode = await main();
// Every child is stopped by now; do not wait for idle keep-alive sockets or timers.
process.exit();
