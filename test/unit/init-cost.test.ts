import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { defineOperation } from '../../lib/operations/types.ts';

/** What keeps a function's cold start small (issue 11), as properties of the code rather than timings. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('init cost', () => {
  it('builds an entry’s schema on its first read only, once, and keeps it', () => {
    let builds = 0;
    const spec = defineOperation({
      name: 'probe',
      summary: 'probe',
      route: { method: 'POST', path: '/v1/probe' },
      didit: { method: 'POST', path: '/probe/' },
      body: 'json',
      input: () => {
        builds += 1;
        return z.strictObject({ a: z.string() });
      },
      timeoutMs: 1_000,
      idempotent: true,
      billing: 'free',
    });
    expect(builds).toBe(0);
    const first = spec.input;
    expect(spec.input).toBe(first);
    expect(builds).toBe(1);
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.keys(spec)).toContain('input');
    expect('params' in spec).toBe(false);
  });

  it('imports zod as a namespace in bundled code (`{ z }` would bundle all of zod: 460 KiB instead of 100)', () => {
    const offenders = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'functions'))]
      .filter((file) => /^import\s+\{[^}]*\bz\b[^}]*\}\s+from\s+'zod(?:\/[^']*)?';/m.test(readFileSync(file, 'utf8')))
      .map((file) => relative(ROOT, file));
    expect(offenders).toEqual([]);
  });
});

describe('the tracer in a packaged function', () => {
  const TRACER = /node_modules\/(aws-xray-sdk-core|@aws-lambda-powertools\/tracer)\//;

  async function tracerInputs(tracing: string): Promise<string[]> {
    const { build } = await import('esbuild');
    const { serverlessEsbuildSettings } = await import('../../bench/lambda-package.ts');
    const settings = serverlessEsbuildSettings();
    // serverless.yml's define, with the `tracing` param of the stage under test.
    const define = { ...settings.define, 'process.env.DIDIT_TRACER_PACKAGED': JSON.stringify(tracing) };
    expect(Object.keys(settings.define ?? {})).toContain('process.env.DIDIT_TRACER_PACKAGED');
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: ['functions/operation.ts'],
      bundle: true,
      write: false,
      outdir: 'out',
      platform: 'node',
      format: 'esm',
      mainFields: settings.mainFields ?? ['module', 'main'],
      external: settings.external ?? [],
      define,
      metafile: true,
      logLevel: 'silent',
    });
    return Object.values(result.metafile.outputs).flatMap((output) => Object.keys(output.inputs).filter((input) => TRACER.test(input)));
  }

  it('is left out of the bundle of a stage without tracing, and bundled with tracing on', async () => {
    expect(await tracerInputs('false')).toEqual([]);
    expect((await tracerInputs('true')).length).toBeGreaterThan(0);
  });
});
