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
const SHRINK_BUDGET = positiveInt(process.env['FUZZ_SHRINK_BUDGET'], 400);

/** What one case broke; empty when every invariant held. */
export type Violations = string[];

export interface FuzzRow {
  readonly entry: string;
  readonly cases: number;
  readonly failures: number;
  readonly seed: number;
  /** First violation of the minimal counterexample, one line. */
  readonly firstViolation?: string;
  readonly counterexample?: string;
}

export interface FuzzOptions {
  /** Overrides FUZZ_RUNS for entry points whose cases are expensive. */
  readonly runs?: number;
}

/**
 * Runs `check` on `runs` generated inputs; throws (failing the test) with the seed, the number of failing
 * cases and the shrunk counterexample if any case broke an invariant.
 */
export async function fuzz<T>(entry: string, arbitrary: fc.Arbitrary<T>, check: (input: T) => Promise<Violations>, options: FuzzOptions = {}): Promise<FuzzRow> {
  const runs = options.runs ?? FUZZ_RUNS;
  const seed = FUZZ_SEED;
  let cases = 0;
  let failures = 0;
  let firstFailingIndex: number | undefined;
  const firstViolations: Violations = [];

  const pass = await fc.check(
    fc.asyncProperty(arbitrary, async (input) => {
      const index = cases;
      cases += 1;
      const violations = await check(input);
      if (violations.length > 0) {
        failures += 1;
        if (firstFailingIndex === undefined) {
          firstFailingIndex = index;
          firstViolations.push(...violations);
        }
      }
      return true;
    }),
    { seed, numRuns: runs },
  );
  if (pass.failed) {
    // The checker itself threw: a defect of the test plumbing, reported as such.
    throw new Error(`fuzz ${entry}: the checker threw (seed ${seed}): ${describeError(pass.errorInstance)}`);
  }

  let row: FuzzRow = { entry, cases, failures, seed };
  let shown = firstViolations;
  if (firstFailingIndex !== undefined) {
    const minimal = await shrink(arbitrary, check, seed, runs, firstFailingIndex);
    if (minimal !== undefined && minimal.violations.length > 0) shown = minimal.violations;
    row = {
      ...row,
      firstViolation: oneLine((minimal?.violations ?? firstViolations)[0] ?? ''),
      counterexample: minimal?.text ?? '(not reproduced on replay)',
    };
  }
  report(row);
  if (failures > 0) {
    throw new Error(
      [
        `fuzz ${entry}: ${failures} of ${cases} cases broke an invariant.`,
        `Reproduce with FUZZ_SEED=${seed} FUZZ_RUNS=${runs}.`,
        `Minimal counterexample: ${row.counterexample}`,
        'Violations of that counterexample:',
        ...shown.map((v) => `  - ${truncate(v, 1_500)}`),
      ].join('\n'),
    );
  }
  return row;
}

async function shrink<T>(
  arbitrary: fc.Arbitrary<T>,
  check: (input: T) => Promise<Violations>,
  seed: number,
  runs: number,
  index: number,
): Promise<{ text: string; violations: Violations } | undefined> {
  let budget = SHRINK_BUDGET;
  let last: Violations = [];
  const details = await fc.check(
    fc.asyncProperty(arbitrary, async (input) => {
      if (budget <= 0) return true;
      budget -= 1;
      const violations = await check(input);
      if (violations.length === 0) return true;
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

function oneLine(text: string): string {
  return truncate(text.replace(/\s+/g, ' '), 300);
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
