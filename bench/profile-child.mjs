// One module-load sample for bench/init-profile.ts: imports a function bundle (as the RIC does at init) and
// reports how long the import took, then exits (so `--cpu-prof` writes its profile). Plain .mjs on purpose:
// a .ts driver would make Node load its type stripper, which a deployed bundle never pays for.
// argv: <bundle.mjs> [require:<package>] — with require:<package>, times only require(<package>) from the
// bundle's folder (e.g. the sodium-native addon), without importing the bundle.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [bundle, what] = process.argv.slice(2);
const started = performance.now();
const cpu0 = process.cpuUsage();
if (what?.startsWith('require:')) createRequire(bundle)(what.slice('require:'.length));
else await import(pathToFileURL(bundle).href);
const loadedMs = performance.now() - started;
// CPU time of the whole process (main thread, V8's compiler and GC threads) during the import: less
// sensitive than wall time to other jobs on a shared machine; under the quota, wall ≥ CPU / share.
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write(`${JSON.stringify({ loadedMs, cpuMs, bootMs: started, sinceOriginMs: performance.now() })}\n`);
