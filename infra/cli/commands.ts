/**
 * The four commands. Each returns an {@link Outcome} or throws (a {@link CommandFailure} when it has
 * fields worth printing with the error). The plaintext exists only inside `seal`, in a SecureBuffer,
 * from the read until KMS Encrypt returns; `verify` uses the functions' own decrypt path.
 */
import { readFileSync } from 'node:fs';
import { CiphertextSource, type SealedCiphertext } from '../../lib/sealed-key/ciphertext-source.ts';
import { encryptionContextFor, SERVICE_NAME } from '../../lib/sealed-key/encryption-context.ts';
import { ciphertextFingerprint } from '../../lib/sealed-key/fingerprint.ts';
import { SealedKey } from '../../lib/sealed-key/sealed-key.ts';
import type { KeyObserver, KeyUseInfo } from '../../lib/sealed-key/key-scope.ts';
import { encryptFromSecureBuffer } from '../../lib/kms/encrypt.ts';
import type { DiditRequest } from '../../lib/didit/client.ts';
import { KeyShapeError } from '../../lib/errors/index.ts';
import { ConfigError } from '../../lib/config/env.ts';
import { loadConfig } from '../../lib/runtime/config.ts';
import { createDependencies } from '../../lib/runtime/dependencies.ts';
import { UsageError, type CliOptions, type CommandName } from './args.ts';
import { describeSecret, storeCiphertext, versionWithStage, type AwsClients } from './aws.ts';
import { CliError, CommandFailure, EXIT, type Fields, type Outcome } from './output.ts';
import { SecretInputError, type SecretReader } from './secret-input.ts';
import { checkSecretShape, WEBHOOK_SECRET_LENGTH } from './secret-shape.ts';

export interface CommandContext {
  readonly options: CliOptions;
  readonly env: NodeJS.ProcessEnv;
  readonly aws: AwsClients;
  readonly readSecret: SecretReader;
  /** Progress notes for humans (stderr); silent with --json. */
  readonly note: (line: string) => void;
}

const DEFAULT_DIDIT_BASE_URL = 'https://verification.didit.me';

/** The cheap read-only call that proves the key: one page of one session. */
const PROBE: DiditRequest = {
  method: 'GET',
  path: '/v3/sessions/',
  query: { limit: '1' },
  body: { kind: 'none' },
  timeoutMs: 15_000,
  idempotent: true,
};

export async function runCommand(command: CommandName, ctx: CommandContext): Promise<Outcome> {
  switch (command) {
    case 'seal': {
      const sealed = await seal(ctx);
      return { command, exitCode: EXIT.OK, fields: sealFields(sealed) };
    }
    case 'rotate':
      return rotate(ctx);
    case 'verify': {
      const fields = await verify(ctx, ctx.options.kmsKeyId, prepareVerify(ctx));
      return { command, exitCode: EXIT.OK, headline: 'OK', fields };
    }
    case 'fingerprint':
      return fingerprint(ctx);
  }
}

// ---- seal --------------------------------------------------------------------------------------

interface Sealed {
  readonly fingerprint: string;
  readonly secretId: string;
  readonly versionId: string;
  /** ARN of the KMS key that encrypted it. */
  readonly kmsKeyArn: string;
  readonly created: boolean;
}

function sealFields(s: Sealed): Fields {
  return { fingerprint: s.fingerprint, secretId: s.secretId, versionId: s.versionId };
}

async function seal(ctx: CommandContext): Promise<Sealed> {
  const { options, aws } = ctx;
  // Everything that can fail without the secret is checked before asking for it.
  const existing = await describeSecret(aws.secrets, options.secretId);
  const keyId = options.kmsKeyId ?? existing?.kmsKeyId;
  if (keyId === undefined) {
    throw new UsageError(
      existing === undefined
        ? `secret ${options.secretId} does not exist yet: pass --kms-key-id to create it`
        : `secret ${options.secretId} is encrypted with the default aws/secretsmanager key: pass --kms-key-id`,
      options.json,
    );
  }
  if (existing === undefined && options.secretId.startsWith('arn:')) {
    throw new UsageError('no secret with this ARN exists; pass a secret name (not an ARN) to create one', options.json);
  }
  const encryptionContext = encryptionContextFor({ service: SERVICE_NAME, stage: options.stage, purpose: options.sealedPurpose });
  const label = options.purpose === 'api-key' ? `Didit API key for stage ${options.stage}` : `Didit webhook secret for stage ${options.stage}`;

  const secret = await ctx.readSecret({ label });
  let ciphertext: Uint8Array;
  let kmsKeyArn: string;
  try {
    const shape = checkSecretShape(secret.bytes(), options.purpose);
    if (!shape.ok) throw new SecretInputError(`${shape.problem}; nothing was stored`);
    const encrypted = await encryptFromSecureBuffer(aws.kms, { keyId, plaintext: secret, encryptionContext });
    ciphertext = encrypted.ciphertext;
    kmsKeyArn = encrypted.keyId;
  } finally {
    secret.dispose();
  }
  const stored = await storeCiphertext(aws.secrets, {
    secretId: options.secretId,
    ciphertext,
    kmsKeyId: kmsKeyArn,
    stage: options.stage,
    purpose: options.sealedPurpose,
    exists: existing !== undefined,
  });
  if (stored.created) ctx.note(`created secret ${options.secretId} (encrypted with the same KMS key)`);
  return {
    fingerprint: ciphertextFingerprint(ciphertext),
    secretId: options.secretId,
    versionId: stored.versionId,
    kmsKeyArn,
    created: stored.created,
  };
}

// ---- rotate ------------------------------------------------------------------------------------

async function rotate(ctx: CommandContext): Promise<Outcome> {
  const { options, aws } = ctx;
  const didit = prepareVerify(ctx); // a bad URL or CA file fails before the secret is asked for
  const sealed = await seal(ctx);
  let previousVersionId: string | undefined;
  try {
    previousVersionId = versionWithStage(await describeSecret(aws.secrets, options.secretId), 'AWSPREVIOUS');
  } catch {
    previousVersionId = undefined; // informational only
  }
  const base: Fields = { ...sealFields(sealed), previousVersionId };
  const hint =
    previousVersionId === undefined
      ? 'The new version is current; there is no previous version to roll back to.'
      : 'The new version is current. To roll back:\n' +
        `  aws secretsmanager update-secret-version-stage --secret-id ${options.secretId} --version-stage AWSCURRENT \\\n` +
        `      --move-to-version-id ${previousVersionId} --remove-from-version-id ${sealed.versionId}`;
  let verified: Fields;
  try {
    verified = await verify(ctx, sealed.kmsKeyArn, didit);
  } catch (err) {
    const cause = err instanceof CommandFailure ? err.cause : err;
    const diditStatus = err instanceof CommandFailure ? err.fields['diditStatus'] : undefined;
    throw new CommandFailure(cause, { ...base, diditStatus }, hint);
  }
  if (verified['fingerprint'] !== sealed.fingerprint) {
    throw new CommandFailure(
      new CliError('ROTATION_RACE', 'the current version is not the one just sealed: did another rotation run at the same time?'),
      { ...base, verifiedFingerprint: verified['fingerprint'] },
    );
  }
  return {
    command: 'rotate',
    exitCode: EXIT.OK,
    headline: 'OK',
    fields: { ...base, verified: verified['verified'], diditStatus: verified['diditStatus'] },
  };
}

// ---- verify ------------------------------------------------------------------------------------

interface DiditTarget {
  readonly baseUrl: string;
  readonly caFile: string | undefined;
}

/** Didit URL and CA: the flags, else the functions' own variables (DIDIT_BASE_URL, DIDIT_CA_FILE). */
function prepareVerify(ctx: CommandContext): DiditTarget {
  const baseUrl = ctx.options.diditBaseUrl ?? (ctx.env['DIDIT_BASE_URL'] || DEFAULT_DIDIT_BASE_URL);
  if (!baseUrl.startsWith('https://')) throw new ConfigError('DIDIT_BASE_URL must use https');
  const caFile = ctx.options.diditCaFile ?? (ctx.env['DIDIT_CA_FILE'] || undefined);
  if (caFile !== undefined) {
    try {
      readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read the Didit CA file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return { baseUrl, caFile };
}

/**
 * Decrypts the current version through SealedKey and proves it: a read-only Didit call for the API
 * key; for the webhook secret, which Didit cannot check, the decrypted shape.
 */
async function verify(ctx: CommandContext, kmsKeyId: string | undefined, target: DiditTarget): Promise<Fields> {
  const { options, aws } = ctx;
  // The ciphertext's identity first, so any failure below can say which version it was.
  let current: SealedCiphertext;
  try {
    current = await new CiphertextSource({ client: aws.secrets, secretId: options.secretId, ttlMs: 0 }).get();
  } catch (err) {
    throw new CommandFailure(err, { secretId: options.secretId });
  }
  let used: KeyUseInfo | undefined;
  const observer: KeyObserver = {
    decrypted(info) {
      used = info;
    },
  };
  const fields = (extra: Fields): Fields => ({
    fingerprint: used?.ciphertextFingerprint ?? current.fingerprint,
    secretId: options.secretId,
    versionId: used?.secretVersionId ?? current.versionId,
    ...extra,
  });

  if (options.purpose === 'webhook-secret') {
    const sealedKey = new SealedKey({
      kms: aws.kms,
      source: new CiphertextSource({ client: aws.secrets, secretId: options.secretId, ttlMs: 0 }),
      encryptionContext: encryptionContextFor({ service: SERVICE_NAME, stage: options.stage, purpose: options.sealedPurpose }),
      kmsKeyId,
      minLength: WEBHOOK_SECRET_LENGTH,
      maxLength: WEBHOOK_SECRET_LENGTH,
    });
    try {
      await sealedKey.withKey(async (key) => {
        if (!checkSecretShape(key.bytes(), 'webhook-secret').ok) throw new KeyShapeError('decrypted webhook secret is not 43 URL-safe characters');
      }, { observer });
    } catch (err) {
      throw new CommandFailure(err, fields({}));
    }
    return fields({ verified: 'decrypted; webhook secret shape valid (Didit has no read-only check for it)' });
  }

  // The functions' own wiring: loadConfig + createDependencies, from the same variables they read.
  const deps = createDependencies(
    loadConfig({
      AWS_REGION: aws.region,
      STAGE: options.stage,
      SEALED_KEY_SECRET_ID: options.secretId,
      KMS_KEY_ID: kmsKeyId ?? '',
      CIPHERTEXT_TTL_SECONDS: '0',
      DIDIT_BASE_URL: target.baseUrl,
      DIDIT_CA_FILE: target.caFile ?? '',
    }),
  );
  try {
    const response = await deps.sealedKey.withKey((key) => deps.didit.send(key, PROBE), { observer });
    return fields({ verified: 'Didit accepted the key (GET /v3/sessions/?limit=1)', diditStatus: response.status });
  } catch (err) {
    const status = (err as { diditStatus?: unknown }).diditStatus;
    throw new CommandFailure(err, fields({ diditStatus: typeof status === 'number' ? status : undefined }));
  } finally {
    deps.didit.close();
    deps.kmsHandler.destroy();
  }
}

// ---- fingerprint -------------------------------------------------------------------------------

async function fingerprint(ctx: CommandContext): Promise<Outcome> {
  const { options, aws } = ctx;
  let current: SealedCiphertext;
  try {
    current = await new CiphertextSource({ client: aws.secrets, secretId: options.secretId, ttlMs: 0 }).get();
  } catch (err) {
    throw new CommandFailure(err, { secretId: options.secretId });
  }
  return {
    command: 'fingerprint',
    exitCode: EXIT.OK,
    fields: { fingerprint: current.fingerprint, secretId: options.secretId, versionId: current.versionId },
  };
}
