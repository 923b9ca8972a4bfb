import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError, type ParsedArgs } from '../../infra/cli/args.ts';
import { helpText } from '../../infra/cli/help.ts';
import { classify, EXIT, print, type Outcome } from '../../infra/cli/output.ts';
import { DiditForbiddenError, DiditUnauthorizedError, KmsAccessDeniedError, SecretNotFoundError, DiditServerError } from '../../lib/errors/index.ts';
import { InputAbortedError, SecretInputError } from '../../infra/cli/secret-input.ts';
import { SecretsStepError } from '../../infra/cli/aws.ts';

const run = (argv: string[]): Extract<ParsedArgs, { kind: 'run' }> => {
  const parsed = parseArgs(argv);
  if (parsed.kind !== 'run') throw new Error('expected a command');
  return parsed;
};

function usageError(argv: string[]): UsageError {
  try {
    parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

describe('parseArgs: commands and defaults', () => {
  it('parses a command with its defaults', () => {
    const { command, options } = run(['seal', '--stage', 'prod']);
    expect(command).toBe('seal');
    expect(options).toMatchObject({
      stage: 'prod',
      purpose: 'api-key',
      sealedPurpose: 'didit-api-key',
      secretId: 'didit-kms-gateway/prod/didit-api-key',
      secretIdDefaulted: true,
      kmsKeyId: undefined,
      region: undefined,
      json: false,
    });
  });

  it('defaults the webhook secret id and accepts --opt=value and options before the command', () => {
    const { command, options } = run(['--json', '--stage=dev', 'fingerprint', '--purpose', 'webhook-secret', '--region', 'eu-west-1']);
    expect(command).toBe('fingerprint');
    expect(options.secretId).toBe('didit-kms-gateway/dev/didit-webhook-secret');
    expect(options.sealedPurpose).toBe('didit-webhook-secret');
    expect(options.json).toBe(true);
    expect(options.region).toBe('eu-west-1');
  });

  it('takes explicit ids and Didit settings', () => {
    const { options } = run([
      'verify', '--stage', 'dev', '--secret-id', 'arn:aws:secretsmanager:eu-west-1:1:secret:x-AbCdEf',
      '--kms-key-id', 'alias/didit-dev', '--didit-base-url', 'https://sandbox.example', '--didit-ca-file', '/tmp/ca.pem',
    ]);
    expect(options).toMatchObject({
      secretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:x-AbCdEf',
      secretIdDefaulted: false,
      kmsKeyId: 'alias/didit-dev',
      diditBaseUrl: 'https://sandbox.example',
      diditCaFile: '/tmp/ca.pem',
    });
  });

  it('answers help in every spelling', () => {
    expect(parseArgs(['--help'])).toEqual({ kind: 'help', command: undefined, json: false });
    expect(parseArgs(['-h'])).toEqual({ kind: 'help', command: undefined, json: false });
    expect(parseArgs(['help'])).toEqual({ kind: 'help', command: undefined, json: false });
    expect(parseArgs(['help', 'rotate'])).toEqual({ kind: 'help', command: 'rotate', json: false });
    expect(parseArgs(['seal', '--help'])).toEqual({ kind: 'help', command: 'seal', json: false });
  });

  it('reports usage errors without a command or stage', () => {
    expect(usageError([]).message).toMatch(/missing command/);
    expect(usageError(['seal']).message).toBe('--stage is required');
    expect(usageError(['seal', '--stage']).message).toBe('--stage needs a value');
    expect(usageError(['seal', '--stage', '--json']).message).toBe('--stage needs a value');
    expect(usageError(['seal', '--stage', 'a b']).message).toMatch(/--stage must match/);
    expect(usageError(['seal', '--stage', 'x', '--stage', 'y']).message).toMatch(/more than once/);
    expect(usageError(['seal', '--stage', 'x', '--purpose', 'other']).message).toMatch(/api-key or webhook-secret/);
    expect(usageError(['seal', '--stage', 'x', '--region', 'Mars']).message).toMatch(/region/);
    expect(usageError(['verify', '--stage', 'x', '--didit-base-url', 'http://plain']).message).toMatch(/https/);
    expect(usageError(['seal', '--stage', 'x', '--didit-base-url', 'https://x']).message).toMatch(/does not apply to seal/);
    expect(usageError(['seal', '--stage', 'x', '--json=yes']).message).toMatch(/takes no value/);
    expect(usageError(['frobnicate', '--stage', 'x']).message).toMatch(/unknown command 'frobnicate'/);
  });

  it('flags --json on a usage error so it can be reported as JSON', () => {
    expect(usageError(['seal', '--json']).json).toBe(true);
    expect(usageError(['seal']).json).toBe(false);
  });
});

describe('parseArgs: the secret is never taken from argv', () => {
  const KEY = 'Zk3vQ9pLr7TxW2mN8bYc4HdJ6sAe1UfG0oKiXqRt';

  it.each([
    ['--api-key', KEY],
    [`--api-key=${KEY}`],
    ['--key', KEY],
    ['--value', KEY],
    [`--value=${KEY}`],
    ['--secret', KEY],
    ['--secret-string', KEY],
    ['--plaintext', KEY],
    ['--token', KEY],
    ['--password', KEY],
    ['--webhook-secret', KEY],
    ['--API_KEY', KEY],
    ['--file', '/tmp/key.txt'],
    ['--from-file', '/tmp/key.txt'],
    ['--env', 'DIDIT_API_KEY'],
    ['--api-key-env', 'DIDIT_API_KEY'],
  ])('refuses %s with exit 2 and a clear message, never echoing the value', (...attempt) => {
    const err = usageError(['seal', '--stage', 'dev', ...attempt]);
    expect(err.message).toMatch(/^refusing option (--[a-z_-]+|\(name not shown\)): the secret is never accepted on the command line/);
    expect(err.message).toMatch(/hidden prompt|stdin/);
    expect(err.message).not.toContain(KEY);
    expect(err.message).not.toContain('/tmp/key.txt');
    expect(err.message).not.toContain('DIDIT_API_KEY');
    expect(classify(err).exitCode).toBe(EXIT.USAGE);
  });

  it('refuses before anything else, even with --help', () => {
    expect(() => parseArgs(['--help', '--api-key', KEY])).toThrow(UsageError);
  });

  it('refuses positional values and `--`, without showing them', () => {
    for (const argv of [
      ['seal', '--stage', 'dev', KEY],
      ['seal', KEY, '--stage', 'dev'],
      ['rotate', '--stage', 'dev', '--', KEY],
    ]) {
      const err = usageError(argv);
      expect(err.message).toMatch(/never accepted on the command line/);
      expect(err.message).not.toContain(KEY);
    }
  });

  it('does not echo an unknown command or option that could be a pasted key', () => {
    expect(usageError([KEY, '--stage', 'dev']).message).toMatch(/unknown command \(not shown\)/);
    expect(usageError(['seal', '--stage', 'dev', '--api-keyZk3vQ9pLr7']).message).toMatch(/^refusing option \(name not shown\)/);
    // A key pasted with a leading `--` is refused as a secret, with the hint, and never echoed.
    expect(usageError(['seal', '--stage', 'dev', `--${KEY}`]).message).toMatch(/^refusing an argument that is not an option: the secret is never accepted/);
    expect(usageError(['seal', '--stage', 'dev', '--zk3vq9plr7txw2mn']).message).toMatch(/^refusing an argument that is not an option/);
    expect(usageError(['seal', '--stage', 'dev', '--zk3vq9plr7txw2mn']).message).not.toContain('zk3vq9plr7txw2mn');
    expect(usageError(['seal', '--stage', 'dev', `--${KEY}`]).message).not.toContain(KEY);
    expect(usageError(['seal', '--stage', 'dev', '--colour', 'red']).message).toBe('unknown option --colour (see --help)');
    expect(usageError(['seal', '--stage', 'dev', '-x']).message).toMatch(/unknown option -x/);
  });
});

describe('help and output', () => {
  it('documents every command, the exit codes and rotation without downtime', () => {
    const overview = helpText(undefined);
    for (const word of ['seal', 'rotate', 'verify', 'fingerprint', '--json', '130']) expect(overview).toContain(word);
    const rotate = helpText('rotate');
    expect(rotate).toMatch(/CIPHERTEXT_TTL_SECONDS/);
    expect(rotate).toMatch(/401/);
    expect(rotate).toMatch(/No downtime/);
    expect(helpText('seal')).toMatch(/AWSPREVIOUS/);
    expect(helpText('verify')).toMatch(/GET \/v3\/sessions\/\?limit=1/);
  });

  it('maps errors to exit codes', () => {
    expect(classify(new DiditUnauthorizedError('x')).exitCode).toBe(3);
    expect(classify(new DiditForbiddenError('x')).exitCode).toBe(3);
    expect(classify(new KmsAccessDeniedError('x')).exitCode).toBe(4);
    expect(classify(new SecretNotFoundError('x')).exitCode).toBe(4);
    expect(classify(new SecretsStepError('PutSecretValue', new Error('denied'))).exitCode).toBe(4);
    expect(classify(new DiditServerError('x')).exitCode).toBe(1);
    expect(classify(new SecretInputError('x')).exitCode).toBe(1);
    expect(classify(new InputAbortedError('x')).exitCode).toBe(130);
    expect(classify(new Error('boom'))).toEqual({ exitCode: 1, code: 'INTERNAL', message: 'Error: boom' });
  });

  it('prints fields for humans and one JSON object for scripts', () => {
    const outcome: Outcome = {
      command: 'seal',
      exitCode: 0,
      fields: { fingerprint: 'sha256:0123456789abcdef', secretId: 's', versionId: 'v', absent: undefined },
    };
    const out: string[] = [];
    const err: string[] = [];
    const printer = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) };
    print(outcome, false, printer);
    expect(out.join('')).toBe('fingerprint  sha256:0123456789abcdef\nsecret-id    s\nversion-id   v\n');
    print(outcome, true, printer);
    expect(JSON.parse(out[1]!)).toEqual({ ok: true, command: 'seal', fingerprint: 'sha256:0123456789abcdef', secretId: 's', versionId: 'v' });
    print({ command: 'verify', exitCode: 3, fields: { diditStatus: 401 }, error: { code: 'DIDIT_UNAUTHORIZED', message: 'Didit rejected the API key' } }, false, printer);
    expect(err.join('')).toBe('didit-kms-gateway verify: Didit rejected the API key [DIDIT_UNAUTHORIZED]\ndidit-status  401\n');
    expect(err).toHaveLength(1);
  });
});
