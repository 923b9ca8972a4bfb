/**
 * The invariants every fuzzed entry point must keep, as checks that return violations (strings) instead
 * of throwing, so the campaign can count failing cases and shrink them.
 */
import * as jobErrors from '../../../lib/adapters/jobs/errors.ts';
import * as triggerErrors from '../../../lib/adapters/triggers/errors.ts';
import * as uploadErrors from '../../../lib/adapters/uploads/errors.ts';
import * as webhookErrors from '../../../lib/adapters/webhooks/errors.ts';
import * as coreErrors from '../../../lib/errors/index.ts';
import { GatewayError } from '../../../lib/errors/index.ts';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { keyPatterns } from '../../residue/patterns.ts';
import type { Violations } from './campaign.ts';

// ---- captured output ---------------------------------------------------------------------------

/**
 * Everything the handlers write to stdout/stderr (Powertools' JSON lines, EMF), kept per case and not
 * forwarded: thousands of cases would drown the test output. `take()` hands over and clears the lines.
 */
export interface CapturedOutput {
  take(): string[];
  restore(): void;
}

export function captureOutput(): CapturedOutput {
  let lines: string[] = [];
  const originals = [process.stdout, process.stderr].map((stream) => {
    const write = stream.write;
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write;
    return { stream, write };
  });
  return {
    take() {
      const out = lines;
      lines = [];
      return out;
    },
    restore() {
      for (const { stream, write } of originals) stream.write = write;
    },
  };
}

/** Forms of a secret to look for in output and answers: ASCII, UTF-16, base64 (padded or not), hex. */
export function secretForms(secret: Buffer): string[] {
  return keyPatterns(secret)
    .filter((p) => p.name !== 'utf16le')
    .map((p) => p.bytes.toString('latin1'));
}

export function checkLogs(lines: readonly string[], secrets: Readonly<Record<string, readonly string[]>>): Violations {
  const violations: Violations = [];
  for (const line of lines) {
    for (const [name, forms] of Object.entries(secrets)) {
      if (forms.some((form) => line.includes(form))) violations.push(`[secret-in-log] log line contains the ${name}: ${redactLine(line, forms)}`);
    }
  }
  return violations;
}

function redactLine(line: string, forms: readonly string[]): string {
  let out = line;
  for (const form of forms) out = out.split(form).join('<SECRET>');
  return out.slice(0, 400);
}

// ---- unhandled rejections ----------------------------------------------------------------------

/** Records unhandled rejections and uncaught exceptions while a fuzz file runs. */
export interface RejectionTracker {
  /** What happened since the last call. */
  take(): string[];
  stop(): void;
}

export function trackRejections(): RejectionTracker {
  let seen: string[] = [];
  const onRejection = (reason: unknown): void => {
    seen.push(`[uncaught] unhandled rejection: ${describe(reason)}`);
  };
  const onException = (error: unknown): void => {
    seen.push(`[uncaught] uncaught exception: ${describe(error)}`);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    take() {
      const out = seen;
      seen = [];
      return out;
    },
    stop() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

function describe(value: unknown): string {
  return value instanceof Error ? `${value.name}: ${value.message.slice(0, 200)}` : String(value).slice(0, 200);
}

// ---- answers -----------------------------------------------------------------------------------

/**
 * Every code the gateway's error taxonomy defines (the `spec.code` of each class declared with `gatewayError()`
 * in lib/errors/ and the adapters' errors.ts), and `INTERNAL`, which stands for any 500: an error body may carry
 * only these.
 */
export const OUR_CODES: ReadonlySet<string> = new Set([
  'INTERNAL',
  ...[coreErrors, jobErrors, triggerErrors, uploadErrors, webhookErrors].flatMap((module) =>
    Object.values(module).flatMap((value) => {
      const spec = typeof value === 'function' && value.prototype instanceof GatewayError ? (value as typeof GatewayError).spec : undefined;
      return spec === undefined ? [] : [spec.code];
    }),
  ),
]);

/** 4xx answers that Didit gave (passed on): these cost a call, every other 4xx must not. */
export const DIDIT_4XX_CODES: ReadonlySet<string> = new Set(['DIDIT_REJECTED_INPUT', 'DIDIT_FORBIDDEN', 'NOT_FOUND', 'RATE_LIMITED']);

/** Text that means internals leaked into an answer. */
const INTERNAL_TEXT = [
  /\n\s+at /,
  /\bat (?:async )?[\w.<>]+ \(/,
  /node_modules/,
  /\/work\//,
  /file:\/\//,
  /\.ts:\d+/,
  /\b(?:TypeError|ReferenceError|SyntaxError|RangeError)\b/,
  /Unexpected token/,
  /is not a function/,
  /Cannot read properties/,
  /Maximum call stack/,
];

export interface AnswerContext {
  /** Strings planted in the input's values: an error body must never echo them. */
  readonly probes?: readonly string[];
  /** Secrets (key, ciphertext…) by name, in every form to look for. */
  readonly secrets: Readonly<Record<string, readonly string[]>>;
}

/**
 * The status and error-body invariants of an API Gateway answer:
 * - no 5xx except a deliberate upstream mapping (502/503/504 with one of our codes, never INTERNAL);
 * - an error body is exactly `{error: {code, message, requestId, issues?, fields?}}`, with our code, a
 *   message free of internals, and none of the secrets or of the input's planted values.
 */
export function checkAnswer(res: APIGatewayProxyResult | undefined, ctx: AnswerContext): Violations {
  if (res === undefined || res === null || typeof res !== 'object') return [`[threw] handler answered ${String(res)}`];
  const violations: Violations = [];
  const status = res.statusCode;
  if (!Number.isInteger(status) || status < 200 || status > 599) return [`[error-body] status ${String(status)} is not an HTTP status`];
  const text = typeof res.body === 'string' ? res.body : '';
  for (const [name, forms] of Object.entries(ctx.secrets)) {
    if (forms.some((f) => text.includes(f))) violations.push(`[secret-in-answer] answer ${status} contains the ${name}`);
  }
  if (status < 400) return violations;

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [...violations, `[error-body] error answer ${status} is not JSON: ${text.slice(0, 200)}`];
  }
  const error = (parsed as { error?: unknown } | null)?.error as Record<string, unknown> | undefined;
  if (error === undefined || error === null || typeof error !== 'object' || Object.keys(parsed as object).length !== 1) {
    return [...violations, `[error-body] error answer ${status} is not {error: …}: ${text.slice(0, 200)}`];
  }
  const code = error['code'];
  const message = error['message'];
  if (typeof code !== 'string' || !OUR_CODES.has(code)) violations.push(`[error-body] error code ${JSON.stringify(code)} is not one of ours`);
  if (typeof message !== 'string' || message.length === 0 || message.length > 400) violations.push(`[error-body] error message is not a short string: ${JSON.stringify(message)?.slice(0, 200)}`);
  else for (const pattern of INTERNAL_TEXT) if (pattern.test(message)) violations.push(`[internal-text] error message has internal text (${pattern}): ${message.slice(0, 200)}`);
  for (const key of Object.keys(error)) {
    if (!['code', 'message', 'requestId', 'issues', 'fields'].includes(key)) violations.push(`[error-body] error body has an unexpected member ${JSON.stringify(key)}`);
  }
  const issues = error['issues'];
  if (issues !== undefined) {
    if (!Array.isArray(issues)) violations.push('[error-body] error.issues is not an array');
    else
      for (const issue of issues as unknown[]) {
        const m = (issue as { message?: unknown } | null)?.message;
        if (typeof m !== 'string') violations.push(`[error-body] an issue has no message: ${JSON.stringify(issue)?.slice(0, 200)}`);
        else for (const pattern of INTERNAL_TEXT) if (pattern.test(m)) violations.push(`[internal-text] issue message has internal text (${pattern}): ${m.slice(0, 200)}`);
      }
  }
  for (const probe of ctx.probes ?? []) if (text.includes(probe)) violations.push(`[echo] error answer ${status} echoes an input value (${probe})`);

  if (status >= 500) {
    const upstream = (status === 502 || status === 503 || status === 504) && typeof code === 'string' && code !== 'INTERNAL' && OUR_CODES.has(code);
    if (!upstream) violations.push(`[5xx] 5xx that is not an upstream mapping: ${status} ${String(code)}`);
  }
  return violations;
}

/** The error code of an answer, if it has one. */
export function errorCode(res: APIGatewayProxyResult | undefined): string | undefined {
  if (res === undefined || res.statusCode < 400) return undefined;
  try {
    const code = (JSON.parse(res.body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Didit is called only for input we accepted: a 4xx of our own (validation, size, media type…) must not
 * have moved the sandbox's count; a 2xx or a passed-on Didit 4xx must have.
 */
export function checkDiditCalls(res: APIGatewayProxyResult | undefined, callsBefore: number, callsAfter: number): Violations {
  if (res === undefined) return [];
  const moved = callsAfter - callsBefore;
  const code = errorCode(res);
  if (res.statusCode >= 400 && res.statusCode < 500) {
    if (code !== undefined && DIDIT_4XX_CODES.has(code)) return moved > 0 ? [] : [`[didit-call] ${res.statusCode} ${code} claims Didit's answer but Didit was not called`];
    return moved === 0 ? [] : [`[didit-call] invalid input reached Didit: ${res.statusCode} ${String(code)} after ${moved} Didit call(s)`];
  }
  if (res.statusCode < 300 && moved === 0) return [`[didit-call] ${res.statusCode} without any Didit call`];
  return [];
}

/**
 * Runs a handler call with a guard: a call that never settles is a violation (a hang in production is a
 * Lambda timeout), not a stuck test run.
 */
export async function settle<T>(call: () => Promise<T>, limitMs = 30_000): Promise<{ value?: T; threw?: unknown; hung?: true }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<{ hung: true }>((resolve) => {
    timer = setTimeout(() => resolve({ hung: true }), limitMs);
  });
  try {
    return await Promise.race([
      call().then(
        (value) => ({ value }),
        (threw: unknown) => ({ threw }),
      ),
      hung,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
