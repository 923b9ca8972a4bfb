// First step of `npm start` and `npm test` on a fresh clone: install the project's dependencies,
// including the Node 22 binary (npm package `node`) that the scripts then run on, whatever Node
// the machine has. Plain JavaScript on purpose: it runs on the machine's Node (20 or later),
// before anything is installed. The AWS emulator installs itself on first start (infra/local/emulator.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const installed = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
const node22 = join(root, 'node_modules', '.bin', 'node');

const stale = !existsSync(installed) || !existsSync(node22) || statSync(lock).mtimeMs > statSync(installed).mtimeMs;
if (stale) {
  process.stderr.write('[setup] installing dependencies (npm ci)…\n');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}
const version = execFileSync(node22, ['--version'], { encoding: 'utf8' }).trim();
const major = Number(/^v(\d+)/.exec(version)?.[1]);
if (!(major >= 22)) {
  process.stderr.write(`[setup] expected Node >= 22 in node_modules/.bin/node, found ${version}\n`);
  process.exit(1);
}
