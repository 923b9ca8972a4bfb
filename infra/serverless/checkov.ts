/**
 * checkov (the standard IaC scanner) on the packaged CloudFormation templates, pinned and installed by the
 * repository itself:
 *
 *   node infra/serverless/checkov.ts install                # venv + checkov==CHECKOV_VERSION (cached)
 *   node infra/serverless/checkov.ts run [template.json…]   # default: the templates `npm run build` wrote
 *
 * The venv lives in `${XDG_CACHE_HOME:-~/.cache}/didit-kms-gateway/checkov-<version>` beside the emulators'
 * (a marker file says the install finished). `run` scans with `--framework cloudformation` and exits 1 on any
 * failed check: a finding is fixed in the template or suppressed there, on the resource, with a
 * `Metadata.checkov.skip` entry that says why (template-checks.ts checkCheckovSuppressions checks their form).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../local/emulator.ts';
import { REPO_ROOT } from '../local/offline.ts';

export const CHECKOV_VERSION = '3.3.30';
const MARKER = '.didit-installed';

export function checkovVenv(): string {
  return join(cacheRoot(), `checkov-${CHECKOV_VERSION}`);
}

export function checkovBin(): string {
  return join(checkovVenv(), 'bin', 'checkov');
}

export function checkovInstalled(): boolean {
  try {
    return readFileSync(join(checkovVenv(), MARKER), 'utf8').trim() === CHECKOV_VERSION && existsSync(checkovBin());
  } catch {
    return false;
  }
}

/** Python ≥ 3.9 for the venv: $DIDIT_PYTHON, python3.12, python3.11, python3. */
function hostPython(): string {
  for (const cmd of [process.env['DIDIT_PYTHON'], 'python3.12', 'python3.11', 'python3'].filter((c): c is string => !!c)) {
    const r = spawnSync(cmd, ['-c', 'import sys; assert sys.version_info >= (3, 9); print(sys.executable)'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error('checkov needs Python >= 3.9 (set DIDIT_PYTHON)');
}

function run(cmd: string, args: string[], log: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const forward = (b: Buffer) => {
      for (const line of b.toString('utf8').split(/\r?\n/)) if (line.trim()) log(line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
}

/** Creates the venv and installs the pinned checkov, unless the marker says it is there. */
export async function installCheckov(log: (line: string) => void = () => {}): Promise<string> {
  if (checkovInstalled()) return checkovBin();
  const dir = checkovVenv();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(cacheRoot(), { recursive: true });
  const python = hostPython();
  log(`[checkov] creating ${dir} with ${python}`);
  if ((await run(python, ['-m', 'venv', dir], log)) !== 0) throw new Error(`python -m venv ${dir} failed`);
  const pip = ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', `checkov==${CHECKOV_VERSION}`];
  const code = await run(join(dir, 'bin', 'python'), pip, (line) => {
    if (/^(Successfully|ERROR)/.test(line)) log(`[pip] ${line}`);
  });
  if (code !== 0 || !existsSync(checkovBin())) throw new Error(`pip install checkov==${CHECKOV_VERSION} failed (${code})`);
  writeFileSync(join(dir, MARKER), `${CHECKOV_VERSION}\n`);
  log(`[checkov] installed ${CHECKOV_VERSION}`);
  return checkovBin();
}

export interface CheckovFinding {
  checkId: string;
  checkName: string;
  resource: string;
  file: string;
}

export interface CheckovReport {
  passed: number;
  failed: number;
  skipped: number;
  parsingErrors: number;
  failures: CheckovFinding[];
  /** Suppressions checkov honoured, `<check id> <resource>`. */
  suppressed: string[];
}

interface RawResult {
  check_id: string;
  check_name: string;
  resource: string;
  file_path: string;
}
interface RawReport {
  summary: { passed: number; failed: number; skipped: number; parsing_errors: number };
  results: { failed_checks: RawResult[]; skipped_checks: RawResult[] };
}

/** Runs checkov on the templates (CloudFormation framework only) and returns what it found. */
export async function runCheckov(templates: readonly string[]): Promise<CheckovReport> {
  if (!checkovInstalled()) throw new Error(`checkov ${CHECKOV_VERSION} is not installed: node infra/serverless/checkov.ts install`);
  const args = [...templates.flatMap((t) => ['-f', t]), '--framework', 'cloudformation', '--output', 'json', '--compact', '--skip-download'];
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(checkovBin(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BC_SKIP_MAPPING: 'TRUE' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.once('error', reject);
    // Exit code 1 means "failed checks": the report says which.
    child.once('close', (code) => (code === 0 || code === 1 ? resolve(stdout) : reject(new Error(`checkov exited ${code}: ${stderr.slice(-2000)}`))));
  });
  const parsed = JSON.parse(out || '[]') as RawReport | RawReport[];
  const reports = Array.isArray(parsed) ? parsed : [parsed];
  const report: CheckovReport = { passed: 0, failed: 0, skipped: 0, parsingErrors: 0, failures: [], suppressed: [] };
  for (const r of reports) {
    if (!r.summary) continue;
    report.passed += r.summary.passed;
    report.failed += r.summary.failed;
    report.skipped += r.summary.skipped;
    report.parsingErrors += r.summary.parsing_errors;
    for (const f of r.results?.failed_checks ?? []) report.failures.push({ checkId: f.check_id, checkName: f.check_name, resource: f.resource, file: f.file_path });
    for (const f of r.results?.skipped_checks ?? []) report.suppressed.push(`${f.check_id} ${f.resource}`);
  }
  return report;
}

/** The templates `sls package` wrote into `dir`: the update-stack template and any nested ones. */
export function packagedTemplates(dir: string): string[] {
  const root = join(dir, 'cloudformation-template-update-stack.json');
  if (!existsSync(root)) throw new Error(`${root} not found: run \`npm run build\` first`);
  const nested = readdirSync(dir)
    .filter((f) => /^cloudformation-template-nested-.*\.json$/.test(f))
    .sort()
    .map((f) => join(dir, f));
  return [root, ...nested];
}

async function main(argv: string[]): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const [command, ...rest] = argv;
  if (command === 'install') {
    await installCheckov(log);
    return;
  }
  if (command === 'run') {
    await installCheckov(log);
    const templates = rest.length > 0 ? rest : packagedTemplates(join(REPO_ROOT, '.serverless'));
    const report = await runCheckov(templates);
    log(`[checkov ${CHECKOV_VERSION}] ${templates.length} template(s): ${report.passed} passed, ${report.failed} failed, ${report.skipped} suppressed in the template, ${report.parsingErrors} parsing errors`);
    for (const f of report.failures) log(`  FAILED ${f.checkId} ${f.resource} (${f.file}): ${f.checkName}`);
    if (report.failed > 0 || report.parsingErrors > 0) process.exit(1);
    return;
  }
  process.stderr.write('usage: checkov.ts install | run [template.json…]\n');
  process.exit(2);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
