import { readFileSync } from 'node:fs';
import { SERVICE_NAME } from '../sealed-key/encryption-context.ts';
import { isLoopbackHost } from '../transport/origin.ts';

/**
 * The operation functions' config ({@link loadConfig}); the other function kinds use it too for the sealed
 * API key and the Didit client. None of it is secret: the key itself is only ever in Secrets Manager as KMS
 * ciphertext, referenced here by id.
 */
export interface GatewayConfig extends SharedConfig {
  readonly stage: string;
  /** Secrets Manager id (name or ARN) of the sealed Didit key. */
  readonly sealedKeySecretId: string;
  /** Expected KMS key (id, ARN or alias ARN); optional, passed to Decrypt when set. */
  readonly kmsKeyId: string | undefined;
  readonly ciphertextTtlMs: number;
  readonly diditBaseUrl: string;
  /** PEM of an extra trust anchor for Didit (the local sandbox's CA); absent in production. */
  readonly diditCa: string | undefined;
  /**
   * Daily cap of paid Didit calls for this stage (lib/spend-cap/); undefined = no cap. DAILY_PAID_CALL_CAP,
   * '' or '0' meaning off. When set, SPEND_CAP_TABLE must name the counter's table (fails closed otherwise).
   */
  readonly dailyPaidCallCap?: number | undefined;
  readonly spendCounterTable?: string | undefined;
}

/**
 * A setting or an option is missing or invalid: our configuration, never the caller's input. Not a
 * GatewayError: where it surfaces in an HTTP answer it is the generic `INTERNAL` 500 (the log line names the
 * variable or option); in a trigger it fails the invocation, which is retried.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type Env = NodeJS.ProcessEnv;

/**
 * The process environment. The ONE place in lib/ that reads `process.env` (test/unit/config-env.test.ts
 * holds every other module to that): the config loaders (this file, lib/adapters/<name>/config.ts) take it
 * as their default and turn it into one validated, typed object per function kind; everything else gets
 * its settings from those objects. Exceptions, each named in that test: Powertools' own variables.
 */
export function environment(): Env {
  return process.env;
}

/**
 * Reads one environment with the checks every loader shares, each error a ConfigError naming the variable
 * (settings are not secret, but the messages still never quote a value).
 */
export class EnvReader {
  readonly env: Env;

  constructor(env: Env) {
    this.env = env;
  }

  /** Present and not ''. */
  required(name: string): string {
    const value = this.env[name];
    if (value === undefined || value === '') throw new ConfigError(`missing environment variable ${name}`);
    return value;
  }

  /** '' counts as absent. */
  optional(name: string): string | undefined {
    return this.env[name] || undefined;
  }

  /** A whole number in `min..max`; absent or '': `fallback`. */
  integer(name: string, fallback: number, min: number, max: number, noun = 'an integer'): number {
    return this.#number(name, fallback, min, max, noun, Number.isInteger);
  }

  /** A finite number in `min..max`; absent or '': `fallback`. */
  number(name: string, fallback: number, min: number, max: number): number {
    return this.#number(name, fallback, min, max, 'a number', Number.isFinite);
  }

  /** `true` or `false` (any case, spaces ignored); absent or '': `fallback`. */
  flag(name: string, fallback: boolean): boolean {
    const raw = this.env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw new ConfigError(`${name} must be true or false`);
  }

  #number(name: string, fallback: number, min: number, max: number, noun: string, accept: (n: number) => boolean): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!accept(value) || value < min || value > max) throw new ConfigError(`${name} must be ${noun} in ${min}..${max}`);
    return value;
  }
}

/** What every function kind reads the same way. */
export interface SharedConfig {
  readonly region: string;
  /** Service name of the encryption contexts (`SERVICE_NAME`, default the gateway's). */
  readonly service: string;
}

/** The shared part of every function kind's config: the adapters' loaders build on it. */
export function loadSharedConfig(reader: EnvReader): SharedConfig {
  return {
    region: reader.optional('AWS_REGION') ?? reader.optional('AWS_DEFAULT_REGION') ?? 'us-east-1',
    service: reader.optional('SERVICE_NAME') ?? SERVICE_NAME,
  };
}

/** The shared part and the stage (`STAGE`, required): what every function kind with a sealed secret or a job reads. */
export function loadStagedConfig(reader: EnvReader): SharedConfig & { readonly stage: string } {
  return { ...loadSharedConfig(reader), stage: reader.required('STAGE') };
}

/** How long a fetched sealed ciphertext is reused (`CIPHERTEXT_TTL_SECONDS`, 0..86400, default 300), in ms. */
export function ciphertextTtlMs(reader: EnvReader): number {
  return reader.number('CIPHERTEXT_TTL_SECONDS', 300, 0, 86_400) * 1000;
}

/**
 * The operation functions' config (also the sealed API key and the Didit client of every other kind), read
 * once by the composition root (lib/runtime/dependencies.ts). The adapters' loaders follow the same shape:
 * lib/adapters/<name>/config.ts `loadWebhookConfig`, `loadJobConfig`, `loadPresignConfig`,
 * `loadIntakeConfig`, `loadSignupConfig`.
 *
 * @example
 * ```ts
 * const config = loadConfig(); // process.env
 * const deps = createDependencies(loadConfig({ STAGE: 'dev', SEALED_KEY_SECRET_ID: 'didit/dev/api-key', AWS_REGION: 'eu-west-1' }));
 * ```
 * @throws {ConfigError} naming the variable (never its value): STAGE or SEALED_KEY_SECRET_ID missing,
 *   DIDIT_BASE_URL not https, CIPHERTEXT_TTL_SECONDS outside 0..86400, DAILY_PAID_CALL_CAP not a whole
 *   number, a cap without SPEND_CAP_TABLE. An unreadable DIDIT_CA_FILE throws the file system's error.
 *   Loaded on the first invocation, so a configuration error fails that call (`INTERNAL` 500, or a retried
 *   event), never the module's import.
 */
export function loadConfig(env: Env = environment()): GatewayConfig {
  const reader = new EnvReader(env);
  const baseUrl = reader.env['DIDIT_BASE_URL'] ?? 'https://verification.didit.me';
  if (!baseUrl.startsWith('https://')) throw new ConfigError('DIDIT_BASE_URL must use https');
  const caFile = reader.optional('DIDIT_CA_FILE');
  const cap = Number(reader.optional('DAILY_PAID_CALL_CAP') ?? '0');
  if (!Number.isInteger(cap) || cap < 0) throw new ConfigError('DAILY_PAID_CALL_CAP must be a whole number (0 = no cap)');
  const spendCounterTable = reader.optional('SPEND_CAP_TABLE');
  if (cap > 0 && spendCounterTable === undefined) throw new ConfigError('DAILY_PAID_CALL_CAP needs SPEND_CAP_TABLE');
  return {
    ...loadStagedConfig(reader),
    sealedKeySecretId: reader.required('SEALED_KEY_SECRET_ID'),
    kmsKeyId: reader.optional('KMS_KEY_ID'),
    ciphertextTtlMs: ciphertextTtlMs(reader),
    diditBaseUrl: baseUrl,
    diditCa: caFile ? readFileSync(caFile, 'utf8') : undefined,
    dailyPaidCallCap: cap > 0 ? cap : undefined,
    spendCounterTable,
  };
}

/**
 * Which table entry an operation function serves (`OPERATION`, set per function by serverless.yml). Read when
 * functions/operation.ts is imported: the handler is generated from that entry (an unknown name fails there).
 */
export function loadOperationName(env: Env = environment()): string | undefined {
  return env['OPERATION'];
}

/**
 * Where `sealWebhookSecret` puts sealed webhook secrets (`WEBHOOK_SECRET_SECRET_ID`, `WEBHOOK_SECRET_KMS_KEY_ID`).
 * Read when sealing is asked for, not with {@link loadConfig}: only that one operation needs it, and its
 * absence is a 500 for that call alone (lib/runtime/postprocess.ts).
 */
export function loadSealingConfig(env: Env = environment()): { readonly secretId: string | undefined; readonly kmsKeyId: string | undefined } {
  const reader = new EnvReader(env);
  return { secretId: reader.optional('WEBHOOK_SECRET_SECRET_ID'), kmsKeyId: reader.optional('WEBHOOK_SECRET_KMS_KEY_ID') };
}

/**
 * The explicit switch for a local AWS emulator (LocalStack, moto) reached over plain http on loopback. The
 * test harness (vitest.config.ts), the residue and CLI test children and the bench set
 * `DIDIT_LOCAL_EMULATOR=1`; serverless-offline (`npm start`) marks its functions with `IS_OFFLINE=true`. No
 * deployed stage sets either, so there every AWS endpoint must be https (see {@link checkAwsEndpoints}).
 */
export const LOCAL_EMULATOR_VARIABLE = 'DIDIT_LOCAL_EMULATOR';

export function localEmulatorEnabled(env: Env = environment()): boolean {
  return env[LOCAL_EMULATOR_VARIABLE] === '1' || env['IS_OFFLINE'] === 'true';
}

/** The file of a local KMS emulator's trust anchor (`KMS_EMULATOR_CA_FILE`), honoured for loopback endpoints only. */
export function emulatorCaFileOf(env: Env): string | undefined {
  return env['KMS_EMULATOR_CA_FILE'] || undefined;
}

/** How the AWS clients of a function reach AWS: checked by {@link loadAwsSettings}. */
export interface AwsSettings {
  /** The local-emulator switch ({@link localEmulatorEnabled}). */
  readonly localEmulator: boolean;
  /** See {@link emulatorCaFileOf}. */
  readonly kmsEmulatorCaFile: string | undefined;
}

/**
 * The AWS endpoint settings, after {@link checkAwsEndpoints} (`endpoint`: a client's explicit one).
 *
 * @throws {ConfigError} as {@link checkAwsEndpoints}.
 */
export function loadAwsSettings(env: Env = environment(), endpoint?: string): AwsSettings {
  checkAwsEndpoints(env, endpoint);
  return { localEmulator: localEmulatorEnabled(env), kmsEmulatorCaFile: emulatorCaFileOf(env) };
}

/**
 * Refuses, at startup, an AWS endpoint the Didit key's path could leak through: anything but https, unless
 * the local-emulator switch is on and the endpoint is plain http on loopback. Checks `endpoint` (a client's
 * explicit one) and every `AWS_ENDPOINT_URL*` variable the SDK would use (KMS, Secrets Manager, DynamoDB,
 * S3, SQS, EventBridge). Fails closed: an endpoint that does not parse is refused too.
 *
 * @throws {ConfigError} `<name> is not a URL`, `<name> must use https`, or `<name> uses plain http: …` (plain http
 *   passes only on a loopback host with the local-emulator switch on).
 */
export function checkAwsEndpoints(env: Env = environment(), endpoint?: string): void {
  const candidates: Array<[string, string]> = [];
  if (endpoint !== undefined) candidates.push(['endpoint', endpoint]);
  for (const [name, value] of Object.entries(env)) {
    if ((name === 'AWS_ENDPOINT_URL' || name.startsWith('AWS_ENDPOINT_URL_')) && value !== undefined && value !== '') candidates.push([name, value]);
  }
  const local = localEmulatorEnabled(env);
  for (const [name, value] of candidates) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`${name} is not a URL`);
    }
    if (url.protocol === 'https:') continue;
    if (url.protocol === 'http:' && local && isLoopbackHost(url.hostname)) continue;
    throw new ConfigError(
      url.protocol === 'http:'
        ? `${name} uses plain http: allowed only for a local emulator on loopback with ${LOCAL_EMULATOR_VARIABLE}=1`
        : `${name} must use https`,
    );
  }
}
