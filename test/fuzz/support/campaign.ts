/**
 * The fuzz campaign runner: one seeded fast-check property per entry point.
 *
 * Every case runs to the end (so the report can say how many of the N cases broke an invariant, not only
 * that one did); when any failed, the first failing case is replayed from its seed and path and shrunk to
 * a minimal counterexample, which the failure message prints with the seed that reproduces it.
 *
 * `FUZZ_RUNS` (cases per entry point; default 30, what `npm test` runs) and `FUZZ_SEED` (default: a fresh
 * one, printed) drive it; `FUZZ_REPORT` names a JSON-lines file that `npm run fuzz` turns into the table.
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

/** Cases per entry point: small in `npm test` (CI), `npm run fuzz` sets 2000. */
export const FUZZ_RUNS = positiveInt(process.env['FUZZ_RUNS'], 30);
/** One seed for the whole file, so a failing run is reproduced with `FUZZ_SEED=<seed>`. */
export const FUZZ_SEED = seedFrom(process.env['FUZZ_SEED']);

/** Shrinking runs the real handler each step: bounded, keeping the smallest failure found so far. */
const SHRINK_BUDGET = positiveInt(process.env['FUZZ_SHRINK_BUDGET'], 150);

/**
 * What one case broke; empty when every invariant held. Each violation starts with its class in brackets
 * (`[5xx] …`, `[uncaught] …`); lines starting with `(` are context for the report, not violations.
 */
export type Violations = string[];

export interface FuzzClass {
  /** The bracketed class of the violation, e.g. `5xx`. */
  readonly name: string;
  /** Cases that broke it. */
  readonly cases: number;
  /** The shrunk counterexample (fast-check's notation) and what it broke. */
  readonly counterexample: string;
  readonly violations: Violations;
}

export interface FuzzRow {
  readonly entry: string;
  readonly cases: number;
  /** Cases that broke at least one invariant. */
  readonly failures: number;
  readonly seed: number;
  readonly classes: readonly FuzzClass[];
}

export interface FuzzOptions {
  /** Overrides FUZZ_RUNS for entry points whose cases are expensive. */
  readonly runs?: number;
}

export function classOf(violation: string): string | undefined {
  if (violation.startsWith('(')) return undefined;
  return /^\[([\w-]+)\]/.exec(violation)?.[1] ?? 'other';
}

function classesOf(violations: Violations): Set<string> {
  return new Set(violations.map(classOf).filter((c): c is string => c !== undefined));
}

/**
 * Runs `check` on `runs` generated inputs. Each class of violation found is shrunk on its own from the first
 * case that showed it, so the report has one minimal counterexample per class; then the test fails with
 * the seed that reproduces them.
 */
export async function fuzz<T>(entry: string, arbitrary: fc.Arbitrary<T>, check: (input: T) => Promise<Violations>, options: FuzzOptions = {}): Promise<FuzzRow> {
  const runs = options.runs ?? FUZZ_RUNS;
  const seed = FUZZ_SEED;
  let cases = 0;
  let failures = 0;
  const found = new Map<string, { count: number; index: number; violations: Violations; input: string }>();

  const pass = await fc.check(
    fc.asyncProperty(arbitrary, async (input) => {
      const index = cases;
      cases += 1;
      const violations = await check(input);
      const classes = classesOf(violations);
      if (classes.size > 0) failures += 1;
      for (const name of classes) {
        const seen = found.get(name);
        if (seen === undefined) found.set(name, { count: 1, index, violations, input: truncate(fc.stringify(input), 3_000) });
        else seen.count += 1;
      }
      return true;
    }),
    { seed, numRuns: runs },
  );
  if (pass.failed) {
    // The checker itself threw: a defect of the test plumbing, reported as such.
    throw new Error(`fuzz ${entry}: the checker threw (seed ${seed}): ${describeError(pass.errorInstance)}`);
  }

  const classes: FuzzClass[] = [];
  for (const [name, seen] of found) {
    const minimal = await shrink(arbitrary, check, seed, runs, seen.index, name);
    classes.push({
      name,
      cases: seen.count,
      // Not reproduced on replay: the entry point kept state (a dedupe record); the first failing case, unshrunk.
      counterexample: minimal?.text ?? `${seen.input} (first failing case; not reproduced on replay, the entry point keeps state)`,
      violations: minimal?.violations ?? seen.violations,
    });
  }
  const row: FuzzRow = { entry, cases, failures, seed, classes };
  report(row);
  if (failures > 0) {
    const lines = [`fuzz ${entry}: ${failures} of ${cases} cases broke an invariant. Reproduce with FUZZ_SEED=${seed} FUZZ_RUNS=${runs}.`];
    for (const c of classes) {
      lines.push(`[${c.name}] in ${c.cases} case(s). Minimal counterexample: ${c.counterexample}`);
      lines.push(...c.violations.map((v) => `  - ${truncate(v, 1_500)}`));
    }
    throw new Error(lines.join('\n'));
  }
  return row;
}

async function shrink<T>(
  arbitrary: fc.Arbitrary<T>,
  check: (input: T) => Promise<Violations>,
  seed: number,
  runs: number,
  index: number,
  name: string,
): Promise<{ text: string; violations: Violations } | undefined> {
  let budget = SHRINK_BUDGET;
  let last: Violations = [];
  const details = await fc.check(
    fc.asyncProperty(arbitrary, async (input) => {
      if (budget <= 0) return true;
      budget -= 1;
      const violations = await check(input);
      if (!classesOf(violations).has(name)) return true;
      last = violations;
      return false;
    }),
    { seed, numRuns: runs, path: String(index) },
  );
  if (!details.failed || details.counterexample === null) return undefined;
  // The last failing call of the shrink is the minimal counterexample's.
  return { text: truncate(fc.stringify(details.counterexample[0]), 3_000), violations: last };
}

function report(row: FuzzRow): void {
  const file = process.env['FUZZ_REPORT'];
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
}

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isInteger(n) && n > 0 ? n : fallback;
}

function seedFrom(raw: string | undefined): number {
  const n = Number(raw);
  if (raw !== undefined && raw !== '' && Number.isInteger(n)) return n | 0;
  return (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
}
