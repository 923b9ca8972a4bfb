/**
 * What the gateway's init is made of, at a Lambda CPU share (issue 11, goal 1): `node bench/init-profile.ts`.
 *
 * Every sample is a fresh Node process (bench/profile-child.mjs) in a cgroup with the CPU quota of
 * BENCH_PROFILE_MEMORY (default 512 MB → 512/1769 of a core), started with Lambda's heap flags, importing a
 * bundle built with serverless.yml's esbuild options (bench/lambda-package.ts):
 *  1. parts: small bundles holding one piece of the createSession function each (zod alone, the operations
 *     table, the KMS and Secrets Manager clients, Powertools logger/metrics, tracer, busboy, …), the whole
 *     function, the Powertools peer; import time, median of BENCH_PROFILE_RUNS (default 5). Pieces share
 *     code (@smithy/*), so they do not add up exactly to the whole;
 *  2. the native addon: require('sodium-native') alone;
 *  3. Node's compile cache (NODE_COMPILE_CACHE, filled by one earlier run): the whole function again;
 *  4. a CPU profile (--cpu-prof) of the whole function's import: self time by package, through the source map.
 * Prints a ranked table and writes bench/results/init-profile.json. Needs root and cgroup v1 (as the sandbox).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { isBuiltin, SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { addHostPrebuild, MB_PER_VCPU, nodeMemoryArgs } from '../infra/local/lambda/sandbox.ts';
import { REPO } from './bundle.ts';
import { esbuildOptionsOf, LAMBDA_DIR, serverlessEsbuildSettings } from './lambda-package.ts';
import { median, ms, table } from './stats.ts';

const run = promisify(execFile);
const MEMORY = Number(process.env['BENCH_PROFILE_MEMORY'] || '512');
const RUNS = Number(process.env['BENCH_PROFILE_RUNS'] || '5');
const WORK = join(LAMBDA_DIR, 'profile');
const CHILD = join(REPO, 'bench', 'profile-child.mjs');

/** One piece of the createSession function, as an entry that keeps all of it (export * as). */
const PARTS: Array<{ name: string; what: string; source: string }> = [
  { name: 'empty', what: 'an empty bundle (Node boot is not in these figures: import time only)', source: 'export const x = 1;' },
  { name: 'zod', what: 'zod (the package alone)', source: "export * as part from 'zod';" },
  { name: 'table', what: 'the operations table: 36 entries with their zod schemas (lib/operations/table.ts)', source: "export * as part from './lib/operations/table.ts';" },
  { name: 'validate', what: 'request validation incl. busboy (lib/adapters/http/validate-request.ts)', source: "export * as part from './lib/adapters/http/validate-request.ts';" },
  { name: 'busboy', what: 'busboy (multipart parser) alone', source: "export * as part from 'busboy';" },
  { name: 'kms', what: 'the secure KMS client (@aws-sdk/client-kms + our handler, lib/kms/client.ts)', source: "export * as part from './lib/kms/client.ts';" },
  { name: 'secrets', what: '@aws-sdk/client-secrets-manager', source: "export * as part from '@aws-sdk/client-secrets-manager';" },
  { name: 'dynamodb', what: 'the spend cap: @aws-sdk/client-dynamodb (lib/spend-cap/gate.ts)', source: "export * as part from './lib/spend-cap/gate.ts';" },
  { name: 'telemetry', what: 'Powertools logger + metrics (lib/observability/telemetry.ts)', source: "export * as part from './lib/observability/telemetry.ts';" },
  { name: 'tracing', what: 'Powertools tracer + aws-xray-sdk-core (lib/observability/tracing.ts)', source: "export * as part from './lib/observability/tracing.ts';" },
  { name: 'didit', what: 'transport + Didit client (lib/didit/client.ts, http-parser-js)', source: "export * as part from './lib/didit/client.ts';" },
  { name: 'middy', what: '@middy/core', source: "export * as part from '@middy/core';" },
  { name: 'createSession', what: 'the whole createSession function (functions/operation.ts)', source: "export * from './functions/operation.ts';" },
  { name: 'powertools-peer', what: 'the Powertools peer (bench/variants/powertools.ts)', source: "export * from './bench/variants/powertools.ts';" },
];

/** The whole createSession function without one piece each: whole − ablated = what removing it saves. */
const ABLATIONS: ReadonlyArray<{ name: string; what: string; stub: string[] }> = [
  { name: 'no-zod', what: 'zod (and so the cost of building the 36 operations\' schemas)', stub: ['zod'] },
  { name: 'no-dynamodb', what: '@aws-sdk/client-dynamodb + lib-dynamodb (spend cap)', stub: ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb'] },
  { name: 'no-tracer', what: 'Powertools tracer + aws-xray-sdk-core', stub: ['@aws-lambda-powertools/tracer', 'aws-xray-sdk-core'] },
  { name: 'no-logger-metrics', what: 'Powertools logger + metrics', stub: ['@aws-lambda-powertools/logger', '@aws-lambda-powertools/metrics'] },
  { name: 'no-busboy', what: 'busboy', stub: ['busboy'] },
  { name: 'no-secrets', what: '@aws-sdk/client-secrets-manager', stub: ['@aws-sdk/client-secrets-manager'] },
  { name: 'no-kms', what: '@aws-sdk/client-kms', stub: ['@aws-sdk/client-kms'] },
  { name: 'no-sodium', what: 'sodium-native (the native addon load)', stub: ['sodium-native'] },
  { name: 'no-http-parser', what: 'http-parser-js', stub: ['http-parser-js'] },
];

const ENV: Record<string, string> = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  OPERATION: 'createSession',
  STAGE: 'bench',
  AWS_REGION: 'us-east-1',
  AWS_LAMBDA_FUNCTION_NAME: 'bench-profile',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MEMORY),
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  POWERTOOLS_TRACE_ENABLED: 'false',
  SEALED_KEY_SECRET_ID: 'bench',
  TZ: ':UTC',
};

/**
 * A stand-in for a package left out of an ablation bundle: a callable, constructible proxy that answers
 * every property with itself, so module bodies that build things from the package at load (zod schemas,
 * SDK clients, Powertools loggers) still run, but none of the package's code is there. Import time only:
 * such a bundle cannot serve a request.
 */
const STUB = `const h = {
  get: (t, k) => (k === '__esModule' || k === 'then' ? undefined : k === Symbol.toPrimitive ? () => '' : k === Symbol.iterator ? function* () {} : k === 'prototype' ? {} : p),
  apply: () => p,
  construct: () => p,
  // esbuild's __toESM copies own keys onto Object.create(prototype): named imports are found through this.
  getPrototypeOf: () => p,
};
const p = new Proxy(function () {}, h);
module.exports = p;`;

function stubPlugin(packages: readonly string[]): Plugin {
  const filter = new RegExp(`^(?:${packages.map((x) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})(?:/.*)?$`);
  return {
    name: 'bench-stub',
    setup(b) {
      b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'bench-stub' }));
      b.onLoad({ filter: /.*/, namespace: 'bench-stub' }, () => ({ contents: STUB, loader: 'js' }));
    },
  };
}

async function bundlePart(name: string, source: string, stub: readonly string[] = []): Promise<{ file: string; builtins: string[] }> {
  const settings = serverlessEsbuildSettings();
  const dir = join(WORK, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const outfile = join(dir, 'index.mjs');
  const result = await build({
    absWorkingDir: REPO,
    metafile: true,
    stdin: { contents: source, resolveDir: REPO, sourcefile: `bench-part-${name}.ts`, loader: 'ts' },
    outfile,
    bundle: true,
    ...esbuildOptionsOf(settings),
    platform: 'node',
    plugins: stub.length > 0 ? [stubPlugin(stub)] : [],
    logLevel: 'silent',
  });
  const builtins = new Set<string>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imported of output.imports) if (imported.external && isBuiltin(imported.path)) builtins.add(imported.path.replace(/^node:/, ''));
  }
  return { file: outfile, builtins: [...builtins].sort() };
}

interface Cgroup {
  readonly dir: string;
}

async function cpuCgroup(memory: number): Promise<Cgroup> {
  const dir = join('/sys/fs/cgroup/cpu', `didit-bench-profile-${randomBytes(4).toString('hex')}`);
  await mkdir(dir);
  await writeFile(join(dir, 'cpu.cfs_period_us'), '100000');
  await writeFile(join(dir, 'cpu.cfs_quota_us'), String(Math.round((100_000 * memory) / MB_PER_VCPU)));
  return { dir };
}

interface Sample {
  readonly loadedMs: number;
  readonly cpuMs: number;
  readonly bootMs: number;
}

/** One fresh process in the cgroup. */
function sample(cg: Cgroup, args: readonly string[], env: Record<string, string> = {}): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      '/bin/sh',
      ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec "$0" "$@"`, process.execPath, ...nodeMemoryArgs(MEMORY), ...args],
      { env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`sample failed (${code}): ${err.slice(0, 500)}`));
      resolve(JSON.parse(line) as Sample);
    });
  });
}

// ---- CPU profile by package --------------------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function packageOf(source: string): string {
  const parts = source.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at === -1) {
    const i = parts.findIndex((p) => p === 'lib' || p === 'functions' || p === 'bench');
    return i === -1 ? source : parts.slice(i, i + 2).join('/');
  }
  const first = parts[at + 1] ?? '?';
  return first.startsWith('@') ? `${first}/${parts[at + 2] ?? '?'}` : first;
}

function selfTimeByPackage(profile: CpuProfile, bundleUrl: string, map: SourceMap): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  const category = (node: ProfileNode): string => {
    const { url, functionName, lineNumber, columnNumber } = node.callFrame;
    if (url === '') return functionName === '(garbage collector)' ? '(garbage collector)' : functionName === '(program)' ? '(program: V8 compile/parse, runtime)' : functionName;
    if (url === bundleUrl) {
      if (lineNumber === 0 && columnNumber === 0) return 'bundle top level (module bodies, hoisted by esbuild)';
      const entry = map.findEntry(lineNumber, columnNumber) as { originalSource?: string };
      return entry.originalSource ? packageOf(entry.originalSource) : 'bundle (unmapped)';
    }
    if (url.startsWith('node:')) return `node ${url.slice(5)}`;
    if (url.includes('sodium-native') || url.includes('require-addon')) return 'sodium-native (JS + addon load)';
    if (url.includes('profile-child')) return '(driver)';
    return url.split('/').slice(-2).join('/');
  };
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (!node) return;
    const c = category(node);
    out.set(c, (out.get(c) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}

async function main(): Promise<void> {
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  await mkdir(WORK, { recursive: true });
  log(`[profile] bundling ${PARTS.length} parts with serverless.yml's esbuild options`);
  const files: Record<string, string> = {};
  let builtins: string[] = [];
  for (const p of PARTS) {
    const built = await bundlePart(p.name, p.source);
    files[p.name] = built.file;
    if (p.name === 'createSession') builtins = built.builtins;
  }
  // esbuild's ESM output hoists every Node built-in the bundle imports anywhere (even in code the SDK
  // meant to load lazily) to a static import at the top: this part loads just those.
  const builtinsPart = {
    name: 'builtins',
    what: `only the ${builtins.length} Node built-ins the createSession bundle imports (esbuild hoists them all)`,
    source: `${builtins.map((b, i) => `import * as b${i} from 'node:${b}';`).join('\n')}\nexport const all = [${builtins.map((_, i) => `b${i}`).join(', ')}];`,
  };
  files[builtinsPart.name] = (await bundlePart(builtinsPart.name, builtinsPart.source)).file;
  PARTS.splice(1, 0, builtinsPart);
  for (const a of ABLATIONS) files[a.name] = (await bundlePart(a.name, "export * from './functions/operation.ts';", a.stub)).file;
  // sodium-native beside the whole function (external), with the host's prebuild like the sandbox adds.
  const fnDir = join(WORK, 'createSession');
  await run('cp', ['-r', join(REPO, 'node_modules', 'sodium-native'), join(fnDir, 'node_modules-sodium')]);
  await mkdir(join(fnDir, 'node_modules'), { recursive: true });
  await run('sh', ['-c', `mv "${join(fnDir, 'node_modules-sodium')}" "${join(fnDir, 'node_modules', 'sodium-native')}"`]);
  for (const dep of ['require-addon', 'which-runtime', 'bare-assert']) {
    if (existsSync(join(REPO, 'node_modules', dep))) await run('cp', ['-r', join(REPO, 'node_modules', dep), join(fnDir, 'node_modules', dep)]);
  }
  addHostPrebuild(fnDir);

  const cg = await cpuCgroup(MEMORY);
  const onSignal = (): void => {
    void rmdir(cg.dir)
      .catch(() => undefined)
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const cacheDir = await mkdtemp(join(tmpdir(), 'didit-compile-cache-'));
  const profDir = await mkdtemp(join(tmpdir(), 'didit-cpu-prof-'));
  try {
    // 1. parts, interleaved round by round.
    const loads: Record<string, number[]> = Object.fromEntries([...PARTS, ...ABLATIONS].map((p) => [p.name, []]));
    const cpus: Record<string, number[]> = Object.fromEntries([...PARTS, ...ABLATIONS].map((p) => [p.name, []]));
    const boots: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      log(`[profile] round ${r + 1}/${RUNS} at the ${MEMORY} MB share`);
      for (const p of PARTS) {
        const s = await sample(cg, [CHILD, files[p.name]!]);
        loads[p.name]!.push(s.loadedMs);
        cpus[p.name]!.push(s.cpuMs);
        boots.push(s.bootMs);
      }
      for (const a of ABLATIONS) {
        try {
          const s = await sample(cg, [CHILD, files[a.name]!]);
          loads[a.name]!.push(s.loadedMs);
          cpus[a.name]!.push(s.cpuMs);
        } catch (err) {
          log(`[profile] ${a.name}: ${String(err).slice(0, 300)}`);
        }
      }
    }
    // 2. the native addon alone.
    const sodium: number[] = [];
    const sodiumCpu: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const s = await sample(cg, [CHILD, files['createSession']!, 'require:sodium-native']);
      sodium.push(s.loadedMs);
      sodiumCpu.push(s.cpuMs);
    }
    // 3. compile cache: one run fills it, then RUNS runs use it.
    await sample(cg, [CHILD, files['createSession']!], { NODE_COMPILE_CACHE: cacheDir });
    const cached: number[] = [];
    const cachedCpu: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const s = await sample(cg, [CHILD, files['createSession']!], { NODE_COMPILE_CACHE: cacheDir });
      cached.push(s.loadedMs);
      cachedCpu.push(s.cpuMs);
    }
    // 4. CPU profiles of the whole function.
    for (let r = 0; r < RUNS; r++) {
      await sample(cg, ['--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', profDir, CHILD, files['createSession']!]);
    }
    const bundleFile = files['createSession']!;
    const map = new SourceMap(JSON.parse(readFileSync(`${bundleFile}.map`, 'utf8')));
    const selfTotals = new Map<string, number>();
    const profiles = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    for (const f of profiles) {
      const prof = JSON.parse(readFileSync(join(profDir, f), 'utf8')) as CpuProfile;
      for (const [k, v] of selfTimeByPackage(prof, pathToFileURL(bundleFile).href, map)) selfTotals.set(k, (selfTotals.get(k) ?? 0) + v);
    }
    const self = [...selfTotals.entries()].map(([k, v]) => ({ category: k, ms: v / Math.max(1, profiles.length) })).sort((a, b) => b.ms - a.ms);

    const med = (n: string): number => median(loads[n] ?? []);
    const cpu = (n: string): number => median(cpus[n] ?? []);
    const empty = med('empty');
    const partsRows = PARTS.filter((p) => p.name !== 'empty')
      .map((p) => ({ name: p.name, what: p.what, ms: med(p.name), overEmpty: med(p.name) - empty, cpu: cpu(p.name) }))
      .sort((a, b) => b.cpu - a.cpu);
    const lines: string[] = [];
    lines.push('');
    lines.push(`Init breakdown at the ${MEMORY} MB share (${MEMORY}/${MB_PER_VCPU} of a core): import time of one bundle per part, fresh process each, median of ${RUNS}`);
    lines.push(`Node boot before the import (process start → driver's first line), median: ${ms(median(boots))} ms`);
    lines.push(
      table([
        ['part', 'import wall (ms)', 'import CPU (ms)', 'what'],
        ...partsRows.map((r) => [r.name, ms(r.ms), ms(r.cpu), r.what]),
        ['empty', ms(empty), ms(cpu('empty')), 'baseline: an empty bundle'],
      ]),
    );
    const whole = med('createSession');
    const wholeCpu = cpu('createSession');
    lines.push(
      `What leaving one piece out of the whole createSession bundle saves (whole: import wall ${ms(whole)} ms, CPU ${ms(wholeCpu)} ms; median of ${RUNS}, same rounds):`,
    );
    lines.push(
      table([
        ['left out', 'wall without (ms)', 'wall saved (ms)', 'CPU without (ms)', 'CPU saved (ms)', 'CPU share'],
        ...ABLATIONS.map((a) => ({ a, m: med(a.name), c: cpu(a.name) }))
          .sort((x, y) => x.c - y.c)
          .map(({ a, m, c }) => [a.what, ms(m), ms(whole - m), ms(c), ms(wholeCpu - c), Number.isFinite(c) ? `${Math.round(((wholeCpu - c) / wholeCpu) * 100)} %` : 'n/a']),
      ]),
    );
    lines.push(`require('sodium-native') alone (native addon, host prebuild): wall ${ms(median(sodium))} ms, CPU ${ms(median(sodiumCpu))} ms`);
    lines.push(
      `whole createSession with NODE_COMPILE_CACHE (filled by one earlier run): wall ${ms(median(cached))} ms vs ${ms(whole)} ms without (${ms(whole - median(cached))} saved), CPU ${ms(median(cachedCpu))} ms vs ${ms(wholeCpu)} (${ms(wholeCpu - median(cachedCpu))} saved)`,
    );
    lines.push(`CPU profile of the whole createSession import (--cpu-prof, 200 µs sampling, mean of ${profiles.length}; self time by package via the source map):`);
    const nodeInternals = self.filter((x) => x.category.startsWith('node ')).reduce((sum, x) => sum + x.ms, 0);
    const grouped = [...self.filter((x) => !x.category.startsWith('node ')), { category: 'node internals (loader, built-ins), all', ms: nodeInternals }].sort((a, b) => b.ms - a.ms);
    lines.push(table([['self time in', 'ms'], ...grouped.slice(0, 14).map((x) => [x.category, ms(x.ms)])]));
    lines.push(
      `  of which the largest node internals: ${self
        .filter((x) => x.category.startsWith('node '))
        .slice(0, 8)
        .map((x) => `${x.category.slice(5)} ${ms(x.ms)}`)
        .join(', ')}`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    await writeFile(
      join(REPO, 'bench', 'results', 'init-profile.json'),
      `${JSON.stringify({ memory: MEMORY, runs: RUNS, bootMs: boots, parts: loads, cpuMs: cpus, ablations: ABLATIONS, sodiumNativeMs: sodium, compileCacheMs: cached, selfTimeMs: self }, null, 2)}\n`,
    );
  } finally {
    await rmdir(cg.dir).catch(() => undefined);
    await rm(cacheDir, { recursive: true, force: true });
    await rm(profDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`[profile] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
