/**
 * Per-function bundles for the benchmark: each variant's handler bundled with esbuild the way
 * serverless.yml's `custom.esbuild` builds a deployed function (bundle, minify, keepNames, ESM,
 * node22, CJS `require` banner, sodium-native external), written under bench/results/bundles/
 * (git-ignored, and inside the repository so the external sodium-native resolves from
 * node_modules when a cold-start sample imports the bundle).
 */
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBuiltin } from 'node:module';
import { gzipSync } from 'node:zlib';
import type { VariantName } from './warm-child.ts';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLES = join(REPO, 'bench', 'results', 'bundles');

export const ENTRIES: Record<VariantName, string> = {
  naive: 'bench/variants/naive.ts',
  powertools: 'bench/variants/powertools.ts',
  ours: 'bench/variants/ours.ts',
};

export interface BundleInfo {
  readonly entry: string;
  readonly file: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  /** Input files that made it into the bundle. */
  readonly inputs: number;
  readonly externals: readonly string[];
}

export async function bundleVariant(name: VariantName): Promise<BundleInfo> {
  const outdir = join(BUNDLES, name);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const outfile = join(outdir, 'handler.mjs');
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: [ENTRIES[name]],
    outfile,
    bundle: true,
    minify: true,
    keepNames: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    external: ['sodium-native'],
    // serverless.yml's define for a stage without tracing and without a spend cap (the defaults): the tracer
    // and the spend counter's DynamoDB SDK are left out of the bundle.
    define: { 'process.env.DIDIT_TRACER_PACKAGED': '"false"', 'process.env.DIDIT_SPEND_CAP_PACKAGED': '"0"' },
    banner: {
      js: "import { createRequire as __didit_createRequire } from 'node:module'; const require = __didit_createRequire(import.meta.url);",
    },
    metafile: true,
    logLevel: 'silent',
  });
  const bytes = readFileSync(outfile);
  const externals = new Set<string>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imported of output.imports) if (imported.external && !isBuiltin(imported.path)) externals.add(imported.path);
  }
  return {
    entry: ENTRIES[name],
    file: relative(REPO, outfile),
    bytes: bytes.length,
    gzipBytes: gzipSync(bytes, { level: 9 }).length,
    inputs: Object.keys(result.metafile.inputs).length,
    externals: [...externals].sort(),
  };
}

export interface NativeRuntimeSize {
  /** sodium-native alone: its JS files, package.json and prebuilds/linux-arm64/*.node. */
  readonly sodiumNativeBytes: number;
  /** The same plus its production dependencies (require-addon, which-runtime, …), as `npm ci` installs them. */
  readonly withDependenciesBytes: number;
  readonly packages: ReadonlyArray<{ name: string; bytes: number }>;
}

/**
 * What a linux-arm64 function package carries for the sodium-native external once the packager
 * script in serverless.yml has pruned it: every other platform's prebuilds and the `.bare` binaries
 * (Bare runtime only) are gone; sources (.c/.cc/.h, CMake), docs and type declarations are not loaded at runtime.
 */
export function nativeRuntimeSize(): NativeRuntimeSize {
  const packages: Array<{ name: string; bytes: number }> = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const dir = join(REPO, 'node_modules', name);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    packages.push({ name, bytes: runtimeBytes(dir) });
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep);
  };
  visit('sodium-native');
  return {
    sodiumNativeBytes: packages[0]?.bytes ?? 0,
    withDependenciesBytes: packages.reduce((sum, p) => sum + p.bytes, 0),
    packages,
  };
}

function runtimeBytes(dir: string): number {
  let total = 0;
  const walk = (path: string, rel: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name === 'node_modules' || entry.name === 'test' || entry.name === 'tests') continue;
        if (relPath.startsWith('prebuilds/') && relPath !== 'prebuilds/linux-arm64') continue;
        walk(full, relPath);
      } else if (isRuntimeFile(relPath)) {
        total += statSync(full).size;
      }
    }
  };
  walk(dir, '');
  return total;
}

function isRuntimeFile(relPath: string): boolean {
  if (relPath.startsWith('prebuilds/')) return relPath.startsWith('prebuilds/linux-arm64/') && relPath.endsWith('.node');
  if (relPath.endsWith('.d.ts') || relPath.endsWith('.d.mts') || relPath.endsWith('.d.cts')) return false;
  return /\.(?:js|cjs|mjs|json)$/.test(relPath);
}
