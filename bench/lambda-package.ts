/**
 * Function zips for the Lambda-sandbox part of the benchmark, built the way `sls package` builds a
 * deployed function, so that the gateway's functions and the peers are packaged alike:
 *  - esbuild with serverless.yml's own `custom.esbuild` options (read from the file, so a packaging
 *    change there is what the bench measures), the entry written where serverless-esbuild writes it
 *    (`functions/operation.handler` → `functions/operation.mjs`), its source map beside it;
 *  - the externals (sodium-native) copied from node_modules with their production dependencies, every
 *    prebuild but linux-arm64 and the `.bare` binaries removed (serverless.yml's packager script);
 *  - zipped.
 * With BENCH_LAMBDA_PACKAGE_DIR (or DIDIT_LAMBDA_PACKAGE_DIR, which CI exports) pointing at an
 * `sls package` output, the gateway's functions are taken from those zips instead and only the peers
 * are built here.
 *
 * Nothing built here is committed: it all lives under bench/results/ (git-ignored).
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build, type Metafile } from 'esbuild';
import yaml from 'js-yaml';
import { readFunction, readPackagedTemplate, TEMPLATE_FILE } from '../infra/local/lambda/template.ts';
import { REPO } from './bundle.ts';

const run = promisify(execFile);
export const LAMBDA_DIR = join(REPO, 'bench', 'results', 'lambda');

export interface FunctionSpec {
  /** Our name for it in the report (and the zip's name). */
  readonly name: string;
  /** gateway: one of this repository's functions; peer: a baseline of bench/variants/. */
  readonly kind: 'gateway' | 'peer' | 'probe';
  /** serverless.yml's function key, for gateway functions (to find it in an sls package). */
  readonly slsName?: string;
  /** Source entry (repo-relative .ts) and exported handler name. */
  readonly entry: string;
  readonly exportName: string;
  /** What the report says it is. */
  readonly label: string;
}

export interface PackagedFunction extends FunctionSpec {
  readonly zipFile: string;
  /** Lambda handler string, e.g. `functions/operation.handler`. */
  readonly handler: string;
  readonly source: 'sls package' | 'bench (serverless.yml esbuild options)';
  readonly sizes: ZipSizes;
  /** Largest inputs of the bundle, by bytes in the output, grouped by package (bench-built only). */
  readonly composition?: ReadonlyArray<{ name: string; bytes: number }>;
}

export interface ZipSizes {
  /** The function's own bundled code (.mjs/.js outside node_modules), no source map. */
  readonly codeBytes: number;
  readonly sourceMapBytes: number;
  /** node_modules in the zip: the native external (sodium-native) and its dependencies. */
  readonly nativeBytes: number;
  readonly zipBytes: number;
}

interface EsbuildSettings {
  bundle?: boolean;
  minify?: boolean;
  sourcemap?: boolean;
  keepNames?: boolean;
  target?: string;
  platform?: 'node';
  format?: 'esm' | 'cjs';
  outputFileExtension?: string;
  mainFields?: string[];
  banner?: Record<string, string>;
  external?: string[];
  treeShaking?: boolean;
  define?: Record<string, string>;
}

/**
 * serverless.yml's `custom.esbuild`, as the deployment uses it: `${param:NAME}` in `define` values resolved
 * from `params.default` (the stage the bench stands for; e.g. `tracing: false`, so the bundles leave the
 * tracer out as a deployed stage without tracing does).
 */
/** serverless.yml's `custom.esbuild` as esbuild build options, with serverless-esbuild's defaults where unset. */
export function esbuildOptionsOf(settings: EsbuildSettings) {
  return {
    minify: settings.minify ?? false,
    sourcemap: settings.sourcemap ?? false,
    keepNames: settings.keepNames ?? false,
    format: settings.format ?? 'esm',
    target: settings.target ?? 'node22',
    ...(settings.mainFields ? { mainFields: settings.mainFields } : {}),
    ...(settings.banner ? { banner: settings.banner } : {}),
    ...(settings.treeShaking !== undefined ? { treeShaking: settings.treeShaking } : {}),
    ...(settings.define ? { define: settings.define } : {}),
    external: settings.external ?? [],
  };
}

export function serverlessEsbuildSettings(): EsbuildSettings {
  const doc = yaml.load(readFileSync(join(REPO, 'serverless.yml'), 'utf8')) as {
    custom?: { esbuild?: EsbuildSettings };
    params?: { default?: Record<string, unknown> };
  };
  const settings = doc.custom?.esbuild;
  if (!settings) throw new Error('serverless.yml has no custom.esbuild');
  const params = doc.params?.default ?? {};
  const define = Object.fromEntries(
    Object.entries(settings.define ?? {}).map(([name, value]) => [
      name,
      value.replace(/\$\{param:(\w+)\}/g, (_, param: string) => {
        if (!Object.hasOwn(params, param)) throw new Error(`serverless.yml custom.esbuild.define: no default for \${param:${param}}`);
        return String(params[param]);
      }),
    ]),
  );
  return { ...settings, define };
}

function packageOf(input: string): string {
  const parts = input.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at === -1) return parts.slice(0, 2).join('/');
  const first = parts[at + 1] ?? '?';
  return first.startsWith('@') ? `${first}/${parts[at + 2] ?? '?'}` : first;
}

function composition(metafile: Metafile): Array<{ name: string; bytes: number }> {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = packageOf(input);
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage.entries()].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}

/** The externals and their production dependencies, from node_modules, pruned as serverless.yml's packager script does. */
function copyExternals(externals: readonly string[], dest: string): void {
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const from = join(REPO, 'node_modules', name);
    const to = join(dest, 'node_modules', name);
    cpSync(from, to, {
      recursive: true,
      filter: (src) => {
        const rel = src.slice(from.length + 1);
        if (rel.startsWith('node_modules')) return false;
        const m = /^prebuilds\/([^/]+)/.exec(rel);
        if (m && m[1] !== 'linux-arm64') return false;
        return !(rel.startsWith('prebuilds/') && rel.endsWith('.bare'));
      },
    });
    const manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep);
  };
  for (const name of externals) visit(name);
}

/** Sizes read from the zip's listing: the same for bench-built and `sls package` zips. */
export async function zipSizes(zipFile: string): Promise<ZipSizes> {
  const { stdout } = await run('unzip', ['-Z', '-l', zipFile], { maxBuffer: 16 * 1024 * 1024 });
  let codeBytes = 0;
  let sourceMapBytes = 0;
  let nativeBytes = 0;
  for (const line of stdout.split('\n')) {
    // -rw-r--r--  3.0 unx   123456 b-   54321 defN 26-Dec-06 23:00 node_modules/…
    const m = /^[-dl][rwx-]{9}\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+\S+\s+\S+\s+\S+\s+(\S.*)$/.exec(line);
    if (!m) continue;
    const size = Number(m[1]);
    const path = m[2] ?? '';
    if (path.endsWith('/')) continue;
    if (path.startsWith('node_modules/')) nativeBytes += size;
    else if (path.endsWith('.map')) sourceMapBytes += size;
    else if (/\.(?:mjs|cjs|js)$/.test(path)) codeBytes += size;
  }
  return { codeBytes, sourceMapBytes, nativeBytes, zipBytes: statSync(zipFile).size };
}

async function buildZip(spec: FunctionSpec, settings: EsbuildSettings): Promise<PackagedFunction> {
  const stem = spec.entry.replace(/\.ts$/, '');
  const work = join(LAMBDA_DIR, 'build', spec.name);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const ext = settings.outputFileExtension ?? '.js';
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: { [stem]: spec.entry },
    outdir: work,
    outExtension: { '.js': ext },
    bundle: settings.bundle ?? true,
    ...esbuildOptionsOf(settings),
    platform: settings.platform ?? 'node',
    metafile: true,
    logLevel: 'silent',
  });
  const externals = new Set<string>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imported of output.imports) if (imported.external && !isBuiltin(imported.path)) externals.add(imported.path);
  }
  copyExternals([...externals], work);
  const zipFile = join(LAMBDA_DIR, `${spec.name}.zip`);
  rmSync(zipFile, { force: true });
  await run('zip', ['-q', '-r', '-X', zipFile, '.'], { cwd: work });
  return {
    ...spec,
    zipFile,
    handler: `${stem}.${spec.exportName}`,
    source: 'bench (serverless.yml esbuild options)',
    sizes: await zipSizes(zipFile),
    composition: composition(result.metafile).slice(0, 8),
  };
}

/** Where an `sls package` output is, if the caller gave one. */
export function slsPackageDir(): string | undefined {
  const dir = process.env['BENCH_LAMBDA_PACKAGE_DIR'] || process.env['DIDIT_LAMBDA_PACKAGE_DIR'] || undefined;
  return dir && existsSync(join(dir, TEMPLATE_FILE)) ? dir : undefined;
}

export async function packageFunctions(specs: readonly FunctionSpec[]): Promise<PackagedFunction[]> {
  await mkdir(LAMBDA_DIR, { recursive: true });
  const settings = serverlessEsbuildSettings();
  const slsDir = slsPackageDir();
  const template = slsDir ? readPackagedTemplate(slsDir) : undefined;
  const out: PackagedFunction[] = [];
  for (const spec of specs) {
    if (template && spec.kind === 'gateway' && spec.slsName) {
      const def = readFunction(template, spec.slsName);
      const zipFile = join(LAMBDA_DIR, `${spec.name}.zip`);
      await copyFile(def.zipFile, zipFile);
      out.push({ ...spec, zipFile, handler: def.handler, source: 'sls package', sizes: await zipSizes(zipFile) });
    } else {
      out.push(await buildZip(spec, settings));
    }
  }
  return out;
}
