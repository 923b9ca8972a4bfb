/**
 * Command-line parsing for `didit-kms-gateway`. Never reads a secret: anything that looks like an
 * attempt to pass one (a secret-like option, a positional value) is refused with exit code 2, and
 * no error message ever repeats a value the user typed on the command line (it could be the key).
 */
import { SERVICE_NAME, type SealedPurpose } from '../../lib/sealed-key/encryption-context.ts';

export const COMMANDS = ['seal', 'rotate', 'verify', 'fingerprint'] as const;
export type CommandName = (typeof COMMANDS)[number];

export type PurposeOption = 'api-key' | 'webhook-secret';

export interface CliOptions {
  readonly stage: string;
  readonly purpose: PurposeOption;
  /** `didit-api-key` or `didit-webhook-secret`: the encryption-context purpose. */
  readonly sealedPurpose: SealedPurpose;
  readonly secretId: string;
  /** True when --secret-id was not given and the default name is used. */
  readonly secretIdDefaulted: boolean;
  readonly kmsKeyId: string | undefined;
  readonly region: string | undefined;
  readonly json: boolean;
  readonly diditBaseUrl: string | undefined;
  readonly diditCaFile: string | undefined;
}

export type ParsedArgs =
  | { readonly kind: 'help'; readonly command: CommandName | undefined; readonly json: boolean }
  | { readonly kind: 'run'; readonly command: CommandName; readonly options: CliOptions };

/** A usage error: exit code 2. The message never contains a value from argv. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** Whether --json appeared on the command line, so the error can be reported as JSON. */
  readonly json: boolean;
  constructor(message: string, json: boolean) {
    super(message);
    this.json = json;
  }
}

interface OptionSpec {
  readonly takesValue: boolean;
  /** Commands that accept the option; undefined: all. */
  readonly commands?: readonly CommandName[];
}

const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  stage: { takesValue: true },
  purpose: { takesValue: true },
  'secret-id': { takesValue: true },
  'kms-key-id': { takesValue: true },
  region: { takesValue: true },
  json: { takesValue: false },
  help: { takesValue: false },
  'didit-base-url': { takesValue: true, commands: ['verify', 'rotate'] },
  'didit-ca-file': { takesValue: true, commands: ['verify', 'rotate'] },
};

/**
 * Option names that would carry the secret itself (or point at it in a file or a variable). They are
 * refused, not ignored: an operator who tries one must learn that the value went nowhere and how to
 * provide it instead. Compared after lower-casing and turning `_` into `-`.
 */
const SECRET_OPTIONS = new Set([
  'key', 'api-key', 'apikey', 'didit-api-key', 'didit-key', 'x-api-key',
  'value', 'secret', 'secret-value', 'secret-string', 'secret-binary', 'plaintext', 'password', 'passphrase',
  'token', 'webhook-secret', 'webhook-key', 'credential', 'credentials',
  'file', 'key-file', 'secret-file', 'api-key-file', 'from-file', 'input', 'input-file', 'in',
  'env', 'from-env', 'key-env', 'secret-env', 'api-key-env', 'stdin-file',
]);

const REFUSAL_HINT =
  'the secret is never accepted on the command line, from an environment variable or from a file argument ' +
  '(argv shows up in `ps`, /proc and shell history). Type it at the hidden prompt, or pipe it on stdin: ' +
  '`<your password manager> | didit-kms-gateway seal --stage <stage>`.';

const STAGE = /^[A-Za-z0-9._-]{1,64}$/;
/** Secret names and ARNs: letters, digits and /_+=.@:- (ARNs add `:`). */
const SECRET_ID = /^[A-Za-z0-9/_+=.@:-]{1,2048}$/;
/** Key ids, key ARNs, alias names and alias ARNs. */
const KMS_KEY_ID = /^[A-Za-z0-9/_:.-]{1,2048}$/;
const REGION = /^[a-z]{2}(?:-[a-z0-9]+){1,4}$/;

/**
 * An option name is shown only when it looks like words (`--stgae`): lower-case letters in short
 * hyphenated parts. A pasted key (mixed case, digits, long runs) never does, so it is never echoed.
 */
function shownName(original: string): string {
  const ok = original.length <= 32 && /^[a-z]+(?:[-_][a-z]+)*$/.test(original) && original.split(/[-_]/).every((p) => p.length <= 12);
  return ok ? `--${original}` : '(name not shown)';
}

export function defaultSecretId(stage: string, purpose: SealedPurpose): string {
  return `${SERVICE_NAME}/${stage}/${purpose}`;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const json = argv.includes('--json');
  const fail = (message: string): never => {
    throw new UsageError(message, json);
  };

  // Refusals first, over the whole command line, before anything else can echo or use a value.
  let positionalIndex = 0;
  let command: CommandName | undefined;
  let helpWanted = false;
  const values = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') fail(`unexpected \`--\`: this command takes no positional values; ${REFUSAL_HINT}`);
    if (arg === '-h') {
      helpWanted = true;
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const original = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const rawName = original.toLowerCase().replaceAll('_', '-');
      if (SECRET_OPTIONS.has(rawName) || rawName.startsWith('api-key') || rawName.endsWith('-secret')) {
        fail(`refusing option ${shownName(original)}: ${REFUSAL_HINT}`);
      }
      // Own entries only: `--constructor` must not find Object.prototype.constructor.
      const spec = Object.hasOwn(OPTIONS, rawName) ? OPTIONS[rawName] : undefined;
      if (spec === undefined) {
        // Something that does not look like an option name may be a pasted key starting with `--`.
        if (shownName(original) === '(name not shown)') fail(`refusing an argument that is not an option: ${REFUSAL_HINT}`);
        fail(`unknown option ${shownName(original)} (see --help)`);
      }
      if (rawName === 'help') {
        helpWanted = true;
        continue;
      }
      let value: string | true = true;
      if (spec!.takesValue) {
        if (eq >= 0) value = arg.slice(eq + 1);
        else {
          const next = argv[i + 1];
          if (next === undefined || next.startsWith('-')) fail(`--${rawName} needs a value`);
          value = next!;
          i++;
        }
        if (value === '') fail(`--${rawName} needs a value`);
      } else if (eq >= 0) {
        fail(`--${rawName} takes no value`);
      }
      if (values.has(rawName)) fail(`--${rawName} given more than once`);
      values.set(rawName, value);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // `-x` is a mistyped flag; anything longer may be a pasted key that starts with `-`.
      if (!/^-[a-z]$/.test(arg)) fail(`refusing an argument that is not an option: ${REFUSAL_HINT}`);
      fail(`unknown option ${arg} (see --help)`);
    }
    // A positional: the command, or (refused) a value.
    positionalIndex++;
    if (positionalIndex === 1) {
      if (arg === 'help') {
        helpWanted = true;
        continue;
      }
      if (!(COMMANDS as readonly string[]).includes(arg)) {
        fail(`unknown command ${/^[a-z]{1,16}$/.test(arg) ? `'${arg}'` : '(not shown)'}; expected one of ${COMMANDS.join(', ')}`);
      }
      command = arg as CommandName;
      continue;
    }
    if (positionalIndex === 2 && helpWanted && command === undefined && (COMMANDS as readonly string[]).includes(arg)) {
      command = arg as CommandName; // `help seal`
      continue;
    }
    fail(`unexpected argument #${i + 1} (not shown): ${REFUSAL_HINT}`);
  }

  if (helpWanted) return { kind: 'help', command, json };
  if (command === undefined) fail(`missing command; expected one of ${COMMANDS.join(', ')} (see --help)`);
  const cmd = command!;

  for (const name of values.keys()) {
    const allowed = Object.hasOwn(OPTIONS, name) ? OPTIONS[name]?.commands : undefined;
    if (allowed !== undefined && !allowed.includes(cmd)) fail(`--${name} does not apply to ${cmd}`);
  }
  const str = (name: string): string | undefined => {
    const v = values.get(name);
    return typeof v === 'string' ? v : undefined;
  };

  const stage = str('stage');
  if (stage === undefined) fail('--stage is required');
  if (!STAGE.test(stage!)) fail(`--stage must match ${STAGE.source}`);

  const purposeText = str('purpose') ?? 'api-key';
  if (purposeText !== 'api-key' && purposeText !== 'webhook-secret') fail('--purpose must be api-key or webhook-secret');
  const purpose = purposeText as PurposeOption;
  const sealedPurpose: SealedPurpose = purpose === 'api-key' ? 'didit-api-key' : 'didit-webhook-secret';

  const givenSecretId = str('secret-id');
  if (givenSecretId !== undefined && !SECRET_ID.test(givenSecretId)) fail(`--secret-id must match ${SECRET_ID.source}`);
  const kmsKeyId = str('kms-key-id');
  if (kmsKeyId !== undefined && !KMS_KEY_ID.test(kmsKeyId)) fail(`--kms-key-id must match ${KMS_KEY_ID.source}`);
  const region = str('region');
  if (region !== undefined && !REGION.test(region)) fail('--region must be an AWS region name such as eu-west-1');
  const diditBaseUrl = str('didit-base-url');
  if (diditBaseUrl !== undefined && !isHttpsUrl(diditBaseUrl)) fail('--didit-base-url must be an https:// URL');

  return {
    kind: 'run',
    command: cmd,
    options: {
      stage: stage!,
      purpose,
      sealedPurpose,
      secretId: givenSecretId ?? defaultSecretId(stage!, sealedPurpose),
      secretIdDefaulted: givenSecretId === undefined,
      kmsKeyId,
      region,
      json: values.has('json'),
      diditBaseUrl,
      diditCaFile: str('didit-ca-file'),
    },
  };
}

function isHttpsUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}
