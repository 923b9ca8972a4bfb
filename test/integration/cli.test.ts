import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateAliasCommand, CreateKeyCommand, DeleteAliasCommand, ScheduleKeyDeletionCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { kmsClientFor, secretsClientFor } from '../../infra/local/provision.ts';
import { testEmulator } from '../support/aws.ts';
import { createSecureKmsClient } from '../../lib/kms/client.ts';
import { encryptFromSecureBuffer } from '../../lib/kms/encrypt.ts';
import { decryptToSecureBuffer } from '../../lib/kms/decrypt.ts';
import { SecureBuffer } from '../../lib/secure/secure-buffer.ts';
import { encryptionContextFor, SERVICE_NAME, type SealedPurpose } from '../../lib/sealed-key/encryption-context.ts';
import { ciphertextFingerprint } from '../../lib/sealed-key/fingerprint.ts';
import { KmsInvalidCiphertextError } from '../../lib/errors/index.ts';

// The CLI as operators run it: a child process (`node infra/cli/main.ts ...`) against the emulator and
// the HTTPS Didit sandbox, with the secret on stdin or typed into a real pseudo-terminal.

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../infra/cli/main.ts');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const em = testEmulator();
const suffix = randomBytes(4).toString('hex');
const STAGE = `cli-${suffix}`;
const TTY_STAGE = `clitty-${suffix}`;
const HOOK_STAGE = `clihook-${suffix}`;

let sandbox: Sandbox;
let kms: KMSClient;
let sm: SecretsManagerClient;
let keyId: string;
let keyArn: string;
const alias = `alias/didit-kms-gateway-cli-${suffix}`;
/** Every secret value a test used, and every byte any child process wrote, for the final leak check. */
const secrets: Buffer[] = [];
const outputs: Buffer[] = [];

const newApiKey = (): Buffer => {
  const key = Buffer.from(randomBytes(30).toString('base64url'), 'latin1');
  secrets.push(key);
  return key;
};

function cliEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    AWS_ENDPOINT_URL: em.endpoint,
    DIDIT_LOCAL_EMULATOR: '1',
    AWS_REGION: em.region,
    AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    DIDIT_BASE_URL: sandbox.url,
    DIDIT_CA_FILE: sandbox.caFile,
  };
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, any>;
}

/** Runs the CLI with `input` on stdin (a pipe, so not a terminal). */
function cli(args: string[], input: Buffer = Buffer.alloc(0)): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.stdin.on('error', () => {}); // the CLI may exit (refusal) before reading stdin
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      outputs.push(stdout, stderr);
      let json: Record<string, any> = {};
      try {
        json = JSON.parse(stdout.toString('utf8'));
      } catch {
        // human output
      }
      resolve({ code, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), json });
    });
  });
}

const line = (key: Buffer, ending = '\n') => Buffer.concat([key, Buffer.from(ending, 'latin1')]);

// ---- a real terminal: Python's pty module runs the CLI on a pseudo-terminal and types into it ----------

const PTY_DRIVER = `
import base64, json, os, pty, select, sys, time
spec = json.loads(sys.stdin.read())
pid, fd = pty.fork()
if pid == 0:
    os.chdir(spec['cwd'])
    os.execve(spec['argv'][0], spec['argv'], spec['env'])
out = bytearray()
deadline = time.time() + spec['timeout']
def pump(until=None):
    # Reads the terminal until \`until\` shows (True), the child closes it ('eof'), or the run's guard ends ('guard').
    while True:
        if until is not None and until in out:
            return True
        left = deadline - time.time()
        if left <= 0:
            return 'guard'
        r, _, _ = select.select([fd], [], [], left)
        if fd in r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return 'eof'
            if not data:
                return 'eof'
            out.extend(data)
for step in spec['steps']:
    if 'wait' in step:
        if pump(step['wait'].encode()) is not True:
            break
    elif 'send' in step:
        # No pause between sends: the CLI reads its raw-mode terminal byte by byte, however the bytes arrive.
        os.write(fd, base64.b64decode(step['send']))
if pump() != 'eof':
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
sys.stdout.write(json.dumps({'exit': code, 'transcript': base64.b64encode(bytes(out)).decode()}))
`;

type PtyStep = { wait: string } | { send: Buffer };

/** Runs argv under a pseudo-terminal, typing the steps; the key reaches Python through its stdin, not argv. */
function underPty(argv: string[], steps: PtyStep[]): Promise<{ code: number; transcript: Buffer }> {
  return new Promise((resolve, reject) => {
    const driver = spawn('python3', ['-c', PTY_DRIVER], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    driver.stdout.on('data', (b: Buffer) => out.push(b));
    driver.stderr.on('data', (b: Buffer) => err.push(b));
    driver.once('error', reject);
    driver.once('close', (code) => {
      if (code !== 0) return reject(new Error(`pty driver failed (${code}): ${Buffer.concat(err).toString()}`));
      const result = JSON.parse(Buffer.concat(out).toString()) as { exit: number; transcript: string };
      const transcript = Buffer.from(result.transcript, 'base64');
      outputs.push(transcript);
      resolve({ code: result.exit, transcript });
    });
    driver.stdin.end(
      JSON.stringify({
        argv,
        env: { ...cliEnv(), TERM: 'dumb' },
        cwd: ROOT,
        timeout: 60,
        steps: steps.map((s) => ('wait' in s ? s : { send: s.send.toString('base64') })),
      }),
    );
  });
}

// ---- helpers on the emulator --------------------------------------------------------------------------

const secretIdFor = (stage: string, purpose: SealedPurpose = 'didit-api-key') => `${SERVICE_NAME}/${stage}/${purpose}`;

async function secretExists(secretId: string): Promise<boolean> {
  try {
    await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
    return true;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return false;
    throw err;
  }
}

async function stagesOf(secretId: string): Promise<Record<string, string[]>> {
  const out = await sm.send(new ListSecretVersionIdsCommand({ SecretId: secretId }));
  return Object.fromEntries((out.Versions ?? []).map((v) => [v.VersionId!, v.VersionStages ?? []]));
}

/** Decrypts the current ciphertext through the secure path and compares it with `expected`, in constant time. */
async function currentDecryptsTo(secretId: string, stage: string, expected: Buffer, purpose: SealedPurpose = 'didit-api-key') {
  const value = await sm.send(new GetSecretValueCommand({ SecretId: secretId }));
  expect(value.SecretString).toBeUndefined();
  expect(value.SecretBinary).toBeDefined();
  const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint });
  try {
    const { plaintext } = await decryptToSecureBuffer(client, {
      ciphertext: value.SecretBinary!,
      encryptionContext: encryptionContextFor({ service: SERVICE_NAME, stage, purpose }),
    });
    try {
      return { equal: plaintext.equals(expected), fingerprint: ciphertextFingerprint(value.SecretBinary!), versionId: value.VersionId };
    } finally {
      plaintext.dispose();
    }
  } finally {
    handler.destroy();
  }
}

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: em.endpoint,
    AWS_REGION: em.region,
    AWS_ACCESS_KEY_ID: em.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: em.credentials.secretAccessKey,
  });
  kms = kmsClientFor(em);
  sm = secretsClientFor(em);
  const created = await kms.send(new CreateKeyCommand({ Description: 'didit-kms-gateway CLI test key', KeyUsage: 'ENCRYPT_DECRYPT' }));
  keyId = created.KeyMetadata!.KeyId!;
  keyArn = created.KeyMetadata!.Arn!;
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
  sandbox = await startSandbox({ apiKey: newApiKey() });
});

afterAll(async () => {
  for (const id of [secretIdFor(STAGE), secretIdFor(TTY_STAGE), secretIdFor(HOOK_STAGE, 'didit-webhook-secret')]) {
    await sm?.send(new DeleteSecretCommand({ SecretId: id, ForceDeleteWithoutRecovery: true })).catch(() => {});
  }
  await kms?.send(new DeleteAliasCommand({ AliasName: alias })).catch(() => {});
  if (keyId) await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 })).catch(() => {});
  kms?.destroy();
  sm?.destroy();
  await sandbox?.close();
  // No output of any child process contains any secret used here, in any usual encoding.
  expect(secrets.length).toBeGreaterThan(3);
  expect(outputs.length).toBeGreaterThan(10);
  const all = Buffer.concat(outputs);
  for (const secret of secrets) {
    for (const form of [secret, Buffer.from(secret.toString('base64')), Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('hex').toUpperCase())]) {
      expect(all.includes(form)).toBe(false);
    }
  }
});

describe('encryptFromSecureBuffer against the emulator', () => {
  it('round-trips through decryptToSecureBuffer, bound to the encryption context', async () => {
    const { client, handler } = createSecureKmsClient({ region: em.region, endpoint: em.endpoint });
    const context = encryptionContextFor({ service: SERVICE_NAME, stage: STAGE, purpose: 'didit-api-key' });
    for (const size of [1, 40, 512, 4096]) {
      const plaintext = SecureBuffer.alloc(size);
      plaintext.bytes().set(randomBytes(size));
      try {
        const sealed = await encryptFromSecureBuffer(client, { keyId: alias, plaintext, encryptionContext: context });
        expect(sealed.keyId).toContain(keyId);
        const { plaintext: opened } = await decryptToSecureBuffer(client, { ciphertext: sealed.ciphertext, encryptionContext: context, keyId: keyArn });
        expect(opened.equals(plaintext.bytes())).toBe(true);
        opened.dispose();
        const other = encryptionContextFor({ service: SERVICE_NAME, stage: `${STAGE}-other`, purpose: 'didit-api-key' });
        await expect(decryptToSecureBuffer(client, { ciphertext: sealed.ciphertext, encryptionContext: other })).rejects.toBeInstanceOf(KmsInvalidCiphertextError);
      } finally {
        plaintext.dispose();
      }
    }
    handler.destroy();
  });
});

describe('didit-kms-gateway CLI', () => {
  const secretId = secretIdFor(STAGE);
  let firstKey: Buffer;
  let firstVersion: string;
  let secondVersion: string;

  it('refuses the secret on the command line (exit 2) and creates nothing', async () => {
    const key = newApiKey();
    for (const args of [
      ['--api-key', 'xyz'],
      [`--api-key=${key.toString('latin1')}`],
      ['--value', key.toString('latin1')],
      [key.toString('latin1')],
      // base64url keys can begin with `-` or `--`: still refused as a secret, never as a typo.
      [`-${key.toString('latin1')}`],
      [`--${key.toString('latin1')}`],
    ]) {
      // The key is also offered on stdin: had the refusal not happened, it would have been sealed.
      const run = await cli(['seal', '--stage', STAGE, '--kms-key-id', keyId, ...args], line(key));
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/never accepted on the command line/);
      expect(run.stdout).toBe('');
    }
    const json = await cli(['seal', '--stage', STAGE, '--kms-key-id', keyId, '--json', '--api-key', 'xyz'], line(key));
    expect(json.code).toBe(2);
    expect(json.json).toMatchObject({ ok: false, exitCode: 2, error: { code: 'USAGE' } });
    expect(await secretExists(secretId)).toBe(false);
  });

  it('seal: from stdin, creates the secret and prints only fingerprint, secret id and version id', async () => {
    firstKey = sandbox.apiKey;
    const run = await cli(['seal', '--stage', STAGE, '--kms-key-id', alias, '--json'], line(firstKey));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(Object.keys(run.json).sort()).toEqual(['command', 'fingerprint', 'ok', 'secretId', 'versionId']);
    expect(run.json).toMatchObject({ ok: true, command: 'seal', secretId });
    expect(run.json['fingerprint']).toMatch(/^sha256:[0-9a-f]{16}$/);
    firstVersion = run.json['versionId'];
    const current = await currentDecryptsTo(secretId, STAGE, firstKey);
    expect(current).toEqual({ equal: true, fingerprint: run.json['fingerprint'], versionId: firstVersion });
    const described = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
    expect(described.KmsKeyId).toContain(keyId); // the secret itself is encrypted with the same key
  });

  it('fingerprint: shows the current ciphertext without decrypting (human and JSON)', async () => {
    const human = await cli(['fingerprint', '--stage', STAGE]);
    expect(human.code).toBe(0);
    const { fingerprint } = await currentDecryptsTo(secretId, STAGE, firstKey);
    expect(human.stdout).toBe(`fingerprint  ${fingerprint}\nsecret-id    ${secretId}\nversion-id   ${firstVersion}\n`);
    const json = await cli(['fingerprint', '--stage', STAGE, '--json']);
    expect(json.json).toEqual({ ok: true, command: 'fingerprint', fingerprint, secretId, versionId: firstVersion });
    const missing = await cli(['fingerprint', '--stage', `${STAGE}-missing`, '--json']);
    expect(missing.code).toBe(4);
    expect(missing.json).toMatchObject({ ok: false, error: { code: 'SECRET_NOT_FOUND' } });
  });

  it('seal refuses a key of the wrong shape (exit 1) and stores nothing', async () => {
    const run = await cli(['seal', '--stage', STAGE], Buffer.from('too short\n'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/visible ASCII only.*nothing was stored/);
    expect(Object.keys(await stagesOf(secretId))).toEqual([firstVersion]);
  });

  it('verify: Didit accepts the sealed key (exit 0)', async () => {
    sandbox.reset();
    const run = await cli(['verify', '--stage', STAGE]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK\n/);
    expect(run.stdout).toMatch(/didit-status +200\n/);
    expect(sandbox.count({ method: 'GET', pathPrefix: '/v3/sessions/', keyMatched: true })).toBe(1);
    const json = await cli(['verify', '--stage', STAGE, '--json', '--kms-key-id', keyArn]);
    expect(json.code).toBe(0);
    expect(json.json).toMatchObject({ ok: true, command: 'verify', secretId, versionId: firstVersion, diditStatus: 200 });
  });

  it('verify: exit 3 once Didit no longer accepts the key', async () => {
    sandbox.acceptKey(newApiKey());
    const run = await cli(['verify', '--stage', STAGE, '--json']);
    expect(run.code).toBe(3);
    expect(run.json).toMatchObject({ ok: false, exitCode: 3, versionId: firstVersion, diditStatus: 401, error: { code: 'DIDIT_UNAUTHORIZED' } });
    const human = await cli(['verify', '--stage', STAGE]);
    expect(human.code).toBe(3);
    expect(human.stderr).toMatch(/Didit rejected the API key \[DIDIT_UNAUTHORIZED\]/);
  });

  it('verify: exit 4 when Secrets Manager has no usable ciphertext (missing, or a plaintext SecretString)', async () => {
    const missing = await cli(['verify', '--stage', `${STAGE}-missing`, '--json']);
    expect(missing.code).toBe(4);
    expect(missing.json).toMatchObject({ ok: false, error: { code: 'SECRET_NOT_FOUND' } });
    const plainId = `${SERVICE_NAME}/${STAGE}/plain-string`;
    await sm.send(new CreateSecretCommand({ Name: plainId, SecretString: 'not-a-ciphertext-0123456789' }));
    try {
      const malformed = await cli(['verify', '--stage', STAGE, '--secret-id', plainId, '--json']);
      expect(malformed.code).toBe(4);
      expect(malformed.json).toMatchObject({ ok: false, error: { code: 'SECRET_MALFORMED' } });
      expect(malformed.stdout).not.toContain('not-a-ciphertext');
    } finally {
      await sm.send(new DeleteSecretCommand({ SecretId: plainId, ForceDeleteWithoutRecovery: true }));
    }
  });

  it('rotate: seals a new version, keeps the old one as AWSPREVIOUS, verifies it (exit 0)', async () => {
    const accepted = sandbox.apiKey; // the key Didit now accepts
    const run = await cli(['rotate', '--stage', STAGE, '--json'], line(accepted, '\r\n'));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    secondVersion = run.json['versionId'];
    expect(secondVersion).not.toBe(firstVersion);
    expect(run.json).toMatchObject({ ok: true, command: 'rotate', secretId, previousVersionId: firstVersion, diditStatus: 200 });
    const stages = await stagesOf(secretId);
    expect(stages[secondVersion]).toContain('AWSCURRENT');
    expect(stages[firstVersion]).toContain('AWSPREVIOUS');
    expect((await currentDecryptsTo(secretId, STAGE, accepted)).equal).toBe(true);
  });

  it('rotate: exit 3 with the rollback command when Didit rejects the new key', async () => {
    const wrong = newApiKey();
    const run = await cli(['rotate', '--stage', STAGE], line(wrong));
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/Didit rejected the API key/);
    expect(run.stderr).toContain(`--move-to-version-id ${secondVersion}`);
    expect(run.stderr).toMatch(/previous-version-id +/);
    const stages = await stagesOf(secretId);
    expect(stages[secondVersion]).toContain('AWSPREVIOUS');
  });

  it('help: explains the commands and rotation without downtime', async () => {
    const run = await cli(['rotate', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/No downtime/);
  });

  it('webhook secret: seals 43 URL-safe characters and verifies them without calling Didit', async () => {
    const hook = Buffer.from(randomBytes(32).toString('base64url'), 'latin1');
    secrets.push(hook);
    const hookId = secretIdFor(HOOK_STAGE, 'didit-webhook-secret');
    const sealed = await cli(['seal', '--stage', HOOK_STAGE, '--purpose', 'webhook-secret', '--kms-key-id', keyId, '--json'], line(hook));
    expect(sealed.code).toBe(0);
    expect(sealed.json['secretId']).toBe(hookId);
    expect((await currentDecryptsTo(hookId, HOOK_STAGE, hook, 'didit-webhook-secret')).equal).toBe(true);
    sandbox.reset();
    const verified = await cli(['verify', '--stage', HOOK_STAGE, '--purpose', 'webhook-secret', '--json']);
    expect(verified.code).toBe(0);
    expect(verified.json['verified']).toMatch(/webhook secret shape valid/);
    expect(sandbox.received.length).toBe(0);
  });
});

/** The emulators need python3 anyway; only an external endpoint could leave us without it. */
const hasPythonPty = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasPythonPty)('didit-kms-gateway CLI on a real terminal (python3 pty)', () => {
  const secretId = secretIdFor(TTY_STAGE);

  it('the harness sees terminal echo when there is some (positive control)', async () => {
    const marker = Buffer.from(`echo-control-${suffix}`);
    const { code, transcript } = await underPty(['/bin/sh', '-c', 'echo READY; read x'], [
      { wait: 'READY' },
      { send: Buffer.concat([marker, Buffer.from('\r')]) },
    ]);
    expect(code).toBe(0);
    expect(transcript.includes(marker)).toBe(true);
  });

  it('Ctrl-C at the prompt aborts with exit 130 and stores nothing', async () => {
    const key = newApiKey();
    const { code, transcript } = await underPty([process.execPath, CLI, 'seal', '--stage', TTY_STAGE, '--kms-key-id', keyId], [
      { wait: 'input hidden' },
      { send: key.subarray(0, 12) },
      { send: Buffer.from([0x03]) },
    ]);
    expect(code).toBe(130);
    expect(transcript.toString('latin1')).toMatch(/aborted at the prompt/);
    expect(await secretExists(secretId)).toBe(false);
  });

  it('seal: the typed key is not echoed, Backspace works, and the sealed key is exactly what was typed', async () => {
    const key = newApiKey();
    const { code, transcript } = await underPty([process.execPath, CLI, 'seal', '--stage', TTY_STAGE, '--kms-key-id', keyId], [
      { wait: 'input hidden' },
      { send: key.subarray(0, 20) },
      { send: Buffer.from('oops') },
      { send: Buffer.from([0x7f, 0x7f, 0x7f, 0x7f]) },
      { send: key.subarray(20) },
      { send: Buffer.from('\r') },
    ]);
    const text = transcript.toString('latin1');
    expect(code).toBe(0);
    expect(text).toMatch(/Didit API key for stage clitty-[0-9a-f]+ \(input hidden/);
    expect(transcript.includes(key)).toBe(false);
    expect(transcript.includes(key.subarray(0, 20))).toBe(false);
    expect(text).not.toContain('oops');
    const current = await currentDecryptsTo(secretId, TTY_STAGE, key);
    expect(current.equal).toBe(true);
    expect(text).toContain(`fingerprint  ${current.fingerprint}`);
    expect(text).toContain(`version-id   ${current.versionId}`);
  });
});
