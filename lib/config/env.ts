import { isLoopbackHost } from '../transport/origin.ts';

// The process environment and how it is read: the lowest layer of configuration, below every factory that
// checks its AWS endpoints (lib/kms/client.ts). The loaders of each function kind build on it
// (lib/runtime/config.ts, lib/adapters/<name>/config.ts).

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
