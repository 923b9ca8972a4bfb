/**
 * `npm run fuzz`: the long fuzz campaign. Runs the vitest `fuzz` project with FUZZ_RUNS cases per entry
 * point (default 2000) and one FUZZ_SEED for every file (default: a fresh one), then prints the table —
 * entry point, cases, failing cases, seed, classes of violations — and each class's minimal counterexample.
 *
 *   npm run fuzz
 *   FUZZ_RUNS=500 FUZZ_SEED=1234 npm run fuzz -- test/fuzz/webhook.fuzz.test.ts
 *
 * FUZZ_WORKERS (default 4) test files run at once.
 *
 * Exits with vitest's status (non-zero when an invariant broke).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FuzzRow } from './support/campaign.ts';

const runs = process.env['FUZZ_RUNS'] || '2000';
const seed = process.env['FUZZ_SEED'] || String((Date.now() ^ (Math.random() * 0x7fffffff)) | 0);
const dir = mkdtempSync(join(tmpdir(), 'didit-fuzz-'));
const report = join(dir, 'report.jsonl');

process.stdout.write(`fuzz campaign: ${runs} cases per entry point, seed ${seed}\n`);
// The cases mostly wait on the emulator and the sandbox (KMS, DynamoDB, TLS): more workers than cores pay.
const workers = process.env['FUZZ_WORKERS'] || '4';
const vitest = spawnSync('vitest', ['run', '--project', 'fuzz', `--maxWorkers=${workers}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: runs, FUZZ_SEED: seed, FUZZ_REPORT: report, FUZZ_SHRINK_BUDGET: process.env['FUZZ_SHRINK_BUDGET'] || '400' },
});

let rows: FuzzRow[] = [];
try {
  rows = readFileSync(report, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FuzzRow);
} catch {
  // No report: vitest failed before any entry point ran (its output says why).
}
rmSync(dir, { recursive: true, force: true });
rows.sort((a, b) => a.entry.localeCompare(b.entry));

const header = ['entry point', 'cases', 'failures', 'seed', 'violation classes (failing cases)'];
const table = rows.map((r) => [r.entry, String(r.cases), String(r.failures), String(r.seed), r.classes.map((c) => `${c.name} (${c.cases})`).join(', ') || '-']);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => (i === 1 || i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
const out: string[] = ['', line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.map(line)];
const total = rows.reduce((n, r) => n + r.cases, 0);
const failing = rows.reduce((n, r) => n + r.failures, 0);
out.push('', `${rows.length} entry points, ${total} cases, ${failing} failing; reproduce with FUZZ_SEED=${seed} FUZZ_RUNS=${runs}`);
for (const r of rows) {
  for (const c of r.classes) {
    out.push('', `${r.entry} — [${c.name}] in ${c.cases} case(s)`, `  counterexample: ${c.counterexample}`, ...c.violations.map((v) => `  - ${v.slice(0, 600)}`));
  }
}
process.stdout.write(`${out.join('\n')}\n`);
process.exit(vitest.status ?? 1);
