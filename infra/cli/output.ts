/**
 * Exit codes, error classification and printing. Results are short, fixed fields (fingerprints, ids,
 * statuses); nothing printed here can hold the secret, which never exists as a string.
 */
import { GatewayError } from '../../lib/errors/index.ts';
import { PlaintextSpliceError } from '../../lib/kms/errors.ts';
import { ConfigError } from '../../lib/config/env.ts';
import { UsageError, type CommandName } from './args.ts';
import { SecretsStepError } from './aws.ts';
import { InputAbortedError, SecretInputError } from './secret-input.ts';

export const EXIT = Object.freeze({
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  DIDIT_REJECTED: 3,
  AWS_FAILED: 4,
  ABORTED: 130,
});

export type FieldValue = string | number | boolean | undefined;
/** Result fields in print order; names are camelCase (JSON) and shown kebab-case to humans. */
export type Fields = Readonly<Record<string, FieldValue>>;

export interface Outcome {
  readonly command: CommandName | undefined;
  readonly exitCode: number;
  readonly fields: Fields;
  /** Human headline (e.g. `OK`), printed before the fields. */
  readonly headline?: string;
  readonly error?: { readonly code: string; readonly message: string };
  /** Human-only advice after an error (e.g. how to roll back). */
  readonly hint?: string;
}

/** A command failed after learning something worth printing (fingerprint, version ids, Didit status). */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
  readonly fields: Fields;
  readonly hint: string | undefined;
  constructor(cause: unknown, fields: Fields, hint?: string) {
    super('command failed', { cause });
    this.fields = fields;
    this.hint = hint;
  }
}

/** A CLI-level failure with its own code (exit code 1 unless given). */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number = EXIT.ERROR) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

const DIDIT_REJECTED = new Set(['DIDIT_UNAUTHORIZED', 'DIDIT_FORBIDDEN']);
const AWS_CODES = new Set([
  'SECRET_NOT_FOUND',
  'SECRET_MALFORMED',
  'SECRETS_UNAVAILABLE',
  'KMS_THROTTLED',
  'KMS_UNAVAILABLE',
  'KMS_ACCESS_DENIED',
  'KMS_INVALID_CIPHERTEXT',
  'KMS_KEY_UNUSABLE',
  'KMS_BAD_RESPONSE',
  'KEY_SHAPE_INVALID',
]);

/** Exit code, stable code and a secret-free message for any error a command can throw. */
export function classify(err: unknown): { exitCode: number; code: string; message: string } {
  if (err instanceof UsageError) return { exitCode: EXIT.USAGE, code: 'USAGE', message: err.message };
  if (err instanceof ConfigError) return { exitCode: EXIT.USAGE, code: 'CONFIG', message: err.message };
  if (err instanceof InputAbortedError) return { exitCode: err.exitCode, code: 'ABORTED', message: err.message };
  if (err instanceof SecretInputError) return { exitCode: EXIT.ERROR, code: 'INPUT_INVALID', message: err.message };
  if (err instanceof SecretsStepError) return { exitCode: EXIT.AWS_FAILED, code: 'SECRETS_MANAGER_FAILED', message: err.message };
  if (err instanceof CliError) return { exitCode: err.exitCode, code: err.code, message: err.message };
  if (err instanceof PlaintextSpliceError) return { exitCode: EXIT.ERROR, code: 'ENCRYPT_SPLICE_FAILED', message: err.message };
  if (err instanceof GatewayError) {
    // Our own messages (lib/errors/): never copied from a dependency, never key material.
    const exitCode = DIDIT_REJECTED.has(err.code) ? EXIT.DIDIT_REJECTED : AWS_CODES.has(err.code) ? EXIT.AWS_FAILED : EXIT.ERROR;
    return { exitCode, code: err.code, message: err.message };
  }
  const name = err instanceof Error && /^[A-Za-z0-9_.]{1,64}$/.test(err.name) ? err.name : 'Error';
  const message = err instanceof Error ? err.message.replace(/[\r\n]+/g, ' ') : 'unexpected failure';
  return { exitCode: EXIT.ERROR, code: 'INTERNAL', message: `${name}: ${message}` };
}

export function failureOutcome(command: CommandName | undefined, err: unknown): Outcome {
  const fields = err instanceof CommandFailure ? err.fields : {};
  const hint = err instanceof CommandFailure ? err.hint : undefined;
  const cause = err instanceof CommandFailure ? err.cause : err;
  const { exitCode, code, message } = classify(cause);
  return { command, exitCode, fields, error: { code, message }, hint };
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function humanFields(fields: Fields): string[] {
  const entries = Object.entries(fields).filter((e): e is [string, string | number | boolean] => e[1] !== undefined);
  const width = Math.max(0, ...entries.map(([name]) => kebab(name).length));
  return entries.map(([name, value]) => `${kebab(name).padEnd(width)}  ${String(value)}`);
}

export interface Printer {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Prints an outcome: JSON (one object on stdout) or human text (results on stdout, errors on stderr). */
export function print(outcome: Outcome, json: boolean, out: Printer): void {
  if (json) {
    const body: Record<string, unknown> = { ok: outcome.exitCode === EXIT.OK };
    if (outcome.command !== undefined) body['command'] = outcome.command;
    for (const [name, value] of Object.entries(outcome.fields)) if (value !== undefined) body[name] = value;
    if (outcome.error !== undefined) {
      body['exitCode'] = outcome.exitCode;
      body['error'] = outcome.error;
    }
    out.stdout(`${JSON.stringify(body)}\n`);
    return;
  }
  const lines = humanFields(outcome.fields);
  if (outcome.error === undefined) {
    const text = [...(outcome.headline === undefined ? [] : [outcome.headline]), ...lines].join('\n');
    out.stdout(`${text}\n`);
    return;
  }
  const prefix = outcome.command === undefined ? 'didit-kms-gateway' : `didit-kms-gateway ${outcome.command}`;
  const parts = [`${prefix}: ${outcome.error.message} [${outcome.error.code}]`];
  if (outcome.exitCode === EXIT.USAGE && outcome.error.code === 'USAGE') parts.push('Run `didit-kms-gateway --help` for usage.');
  parts.push(...lines);
  if (outcome.hint !== undefined) parts.push(outcome.hint);
  out.stderr(`${parts.join('\n')}\n`);
}
