import type { MetadataBearer, MiddlewareStack } from '@smithy/types';
import type { Context } from 'aws-lambda';

/**
 * X-Ray tracing (Powertools Tracer), switched per stage by the `tracing` param (POWERTOOLS_TRACE_ENABLED).
 *
 * This module is the cheap half: it never imports the tracer. When tracing is off — the default — `traced`
 * returns the handler unchanged and `startSpan` returns a no-op, so a function pays nothing for it. When it
 * is on, the first invocation loads ./tracing-runtime.ts (Powertools Tracer and the X-Ray SDK) once.
 *
 * What a trace may contain is decided HERE, by construction: spans carry a name and the annotations below
 * (operation, status, attempts, latency, outcome), nothing else. No automatic capture is ever switched on:
 * not of HTTPS requests (URLs, with path identifiers and query strings), not of AWS SDK clients (the X-Ray
 * SDK's v3 capture records request ids, allow-listed parameters and, on failure, the error message and
 * stack), not of handler responses or error objects (bodies, messages). See SECURITY.md, guarantee 8.
 */

/** Annotation values X-Ray indexes; keys are fixed names from this codebase, never input. */
export type SpanAnnotations = Readonly<Record<'operation' | 'status' | 'attempts' | 'latency_ms' | 'outcome' | 'service', string | number | boolean | undefined>>;

export interface Span {
  /** Closes the span with these annotations; `failed` marks it as an error (4xx) or fault (5xx / none). */
  end(annotations: Partial<SpanAnnotations>, failed?: 'error' | 'fault' | 'throttle'): void;
}

/** What the lazily loaded runtime provides (lib/observability/tracing-runtime.ts). */
export interface TracingRuntime {
  invoke<E, R>(handler: (event: E, context: Context) => Promise<R>, event: E, context: Context): Promise<R>;
  startSpan(name: string, namespace: 'aws' | 'remote'): Span;
}

const NO_SPAN: Span = Object.freeze({ end: () => {} });

/**
 * Whether this bundle holds the tracer. serverless.yml (custom.esbuild.define) replaces the variable at package
 * time by the stage's `tracing` param: for a stage without tracing it is the constant "false", so esbuild drops
 * the branch that imports ./tracing-runtime.ts, and with it Powertools Tracer and the X-Ray SDK (about 120 KiB
 * and their compile time at every cold start). Unbundled (tests, `node`), nothing replaces it and the variable
 * is unset in the environment: the tracer is available and POWERTOOLS_TRACE_ENABLED decides, as in a bundle
 * of a traced stage.
 */
const TRACER_PACKAGED = process.env['DIDIT_TRACER_PACKAGED'] !== 'false';

let runtime: TracingRuntime | undefined;
let loading: Promise<TracingRuntime> | undefined;

/**
 * Whether this execution environment traces: the stage turned it on AND this is Lambda (the X-Ray daemon
 * and the trace header exist only there; the tracer disables itself elsewhere too).
 */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (!TRACER_PACKAGED) return false;
  return (env['POWERTOOLS_TRACE_ENABLED'] ?? '').toLowerCase() === 'true' && (env['AWS_EXECUTION_ENV'] ?? '') !== '';
}

/**
 * Wraps a Lambda handler so that each invocation is a `## <function>` subsegment holding the spans of its
 * Didit and KMS calls. Off: the handler itself is returned (no wrapper, no import).
 */
export function traced<E, R>(handler: (event: E, context: Context) => Promise<R>): (event: E, context: Context) => Promise<R> {
  if (!tracingEnabled()) return handler;
  return async (event, context) => (await loadRuntime()).invoke(handler, event, context);
}

/**
 * Opens a span under the current invocation's subsegment. A no-op when tracing is off or outside a traced
 * invocation. `name` is a fixed string (e.g. `Didit`, `KMS`), never input.
 */
export function startSpan(name: string, namespace: 'aws' | 'remote'): Span {
  return runtime?.startSpan(name, namespace) ?? NO_SPAN;
}

interface AwsMetadata {
  readonly httpStatusCode?: number;
  readonly attempts?: number;
}

/**
 * One span per AWS SDK command of `client` (KMS), with the command name, HTTP status, attempts and latency
 * only: the middleware reads `$metadata` and the error's name, never the input or the output (which, for
 * KMS, would be key material or ciphertext). Added at `initialize`, so the span covers the retries. Costs one
 * function call per command when tracing is off.
 */
export function traceAwsCalls<Input extends object, Output extends MetadataBearer>(client: { readonly middlewareStack: MiddlewareStack<Input, Output> }, service: string): void {
  if (!tracingEnabled()) return;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const span = startSpan(service, 'aws');
      const started = performance.now();
      const operation = context.commandName?.replace(/Command$/, '');
      try {
        const result = await next(args);
        const meta: AwsMetadata = result.output.$metadata;
        span.end({ operation, status: meta.httpStatusCode, attempts: meta.attempts, latency_ms: latency(started), outcome: 'ok' });
        return result;
      } catch (err) {
        const meta = (err as { $metadata?: AwsMetadata }).$metadata ?? {};
        const status = meta.httpStatusCode;
        // The error's class name (e.g. ThrottlingException) is AWS's, not data; its message is never recorded.
        const outcome = err instanceof Error ? err.name : 'error';
        span.end(
          { operation, status, attempts: meta.attempts, latency_ms: latency(started), outcome },
          outcome === 'ThrottlingException' ? 'throttle' : failureOf(status),
        );
        throw err;
      }
    },
    { step: 'initialize', name: 'diditGatewayTraceSpan', priority: 'high' },
  );
}

/** How a span with this HTTP status (undefined: no answer) is flagged in X-Ray. */
export function failureOf(status: number | undefined): 'error' | 'fault' | 'throttle' | undefined {
  if (status === undefined || status >= 500) return 'fault';
  if (status === 429) return 'throttle';
  return status >= 400 ? 'error' : undefined;
}

function latency(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function loadRuntime(): Promise<TracingRuntime> {
  // The condition is the replaced variable itself, not TRACER_PACKAGED: esbuild drops an import() only from a
  // branch it knows to be dead while parsing, before it would inline a constant.
  loading ??=
    process.env['DIDIT_TRACER_PACKAGED'] === 'false'
      ? Promise.reject(new Error('this bundle was packaged without the tracer (the stage\'s tracing param is off)'))
      : import('./tracing-runtime.ts').then((m) => {
          runtime = m.createTracingRuntime();
          return runtime;
        });
  return loading;
}
