/**
 * Several execution environments of one function, as Lambda scales a function under concurrent
 * invocations: an invocation goes to an idle (warm, frozen) environment when there is one, otherwise a new
 * environment is started (a cold start) up to `size` (the concurrency Lambda would allow: the event-source
 * mapping's MaximumConcurrency, the function's reserved concurrency); beyond that the invocation waits for
 * an environment to come free (where Lambda would throttle, an event-source poller simply has no more
 * batches in flight than `size`, so it does not wait).
 *
 * Each environment is a full {@link LambdaSandbox}: its own RIE and Runtime API port, its own cgroups (CPU
 * share, memory limit, freezer), one invocation at a time. An environment whose RIE is gone (the invocation
 * threw instead of answering) is stopped and replaced by a fresh one on demand, as Lambda replaces a lost
 * execution environment.
 */
import type { InvokeResult, LambdaSandbox } from './sandbox.ts';
import type { FunctionDefinition } from './template.ts';

export interface LambdaPoolOptions {
  readonly definition: FunctionDefinition;
  /** At most this many environments (≥ 1). */
  readonly size: number;
  /** Starts one environment (startLambdaSandbox with the function's configuration). */
  readonly start: () => Promise<LambdaSandbox>;
}

export interface LambdaPool {
  readonly definition: FunctionDefinition;
  readonly size: number;
  /** Invokes synchronously in an idle environment, or a new one, or the next one to come free. */
  invoke(event: unknown): Promise<InvokeResult>;
  /** Every environment started so far (replaced ones included), in start order. */
  readonly environments: readonly LambdaSandbox[];
  /** Most invocations in flight at once so far (at most `size`). */
  readonly peakConcurrency: number;
  /** Init durations (ms) of every environment's cold starts. */
  initDurations(): number[];
  /** Invocation durations (ms) of every environment. */
  durations(): number[];
  /** The highest cgroup memory peak among the environments (bytes). */
  memoryPeak(): Promise<number>;
  stop(): Promise<void>;
}

export function startLambdaPool(opts: LambdaPoolOptions): LambdaPool {
  if (!Number.isInteger(opts.size) || opts.size < 1) throw new Error(`pool size must be an integer >= 1, got ${opts.size}`);
  const environments: LambdaSandbox[] = [];
  const retired = new Set<LambdaSandbox>();
  const idle: LambdaSandbox[] = [];
  const waiting: ((sb: LambdaSandbox | undefined) => void)[] = [];
  let live = 0; // started or starting, not retired
  let inFlight = 0;
  let peakConcurrency = 0;
  let stopping = false;

  const release = (sb: LambdaSandbox): void => {
    const next = waiting.shift();
    if (next) next(sb);
    else idle.push(sb);
  };

  const acquire = async (): Promise<LambdaSandbox> => {
    if (stopping) throw new Error(`${opts.definition.name}: the pool is stopping`);
    // The most recently used environment first: its connections are the freshest.
    const warm = idle.pop();
    if (warm) return warm;
    if (live < opts.size) {
      live += 1;
      try {
        const sb = await opts.start();
        environments.push(sb);
        return sb;
      } catch (err) {
        live -= 1;
        // Someone waiting may now start one in our place.
        waiting.shift()?.(undefined);
        throw err;
      }
    }
    const handed = await new Promise<LambdaSandbox | undefined>((resolve) => waiting.push(resolve));
    return handed ?? acquire();
  };

  return {
    definition: opts.definition,
    size: opts.size,
    environments,
    get peakConcurrency() {
      return peakConcurrency;
    },
    async invoke(event) {
      const sb = await acquire();
      inFlight += 1;
      peakConcurrency = Math.max(peakConcurrency, inFlight);
      let healthy = false;
      try {
        const result = await sb.invoke(event);
        healthy = true;
        return result;
      } finally {
        inFlight -= 1;
        if (healthy) release(sb);
        else {
          // The RIE is gone (the invocation could not be made or answered): retire the environment; the next
          // invocation that finds no idle one starts a fresh one.
          retired.add(sb);
          live -= 1;
          await sb.stop().catch(() => undefined);
          waiting.shift()?.(undefined);
        }
      }
    },
    initDurations: () => environments.flatMap((sb) => [...sb.initDurations]),
    durations: () => environments.flatMap((sb) => [...sb.durations]),
    async memoryPeak() {
      const peaks = await Promise.all(environments.filter((sb) => !retired.has(sb)).map((sb) => sb.memoryPeak().catch(() => 0)));
      return Math.max(0, ...peaks);
    },
    async stop() {
      stopping = true;
      for (const w of waiting.splice(0)) w(undefined);
      await Promise.all(environments.filter((sb) => !retired.has(sb)).map((sb) => sb.stop()));
    },
  };
}
