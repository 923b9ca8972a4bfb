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

describe('what a packaged operation function leaves out (serverless.yml custom.esbuild.define)', () => {
  const TRACER = /node_modules\/(aws-xray-sdk-core|@aws-lambda-powertools\/tracer)\//;
  const DYNAMODB = /node_modules\/@aws-sdk\/client-dynamodb\//;

  async function bundledInputs(params: { tracing: string; dailyPaidCallCap: string }): Promise<string[]> {
    const { build } = await import('esbuild');
    const { serverlessEsbuildSettings } = await import('../../bench/lambda-package.ts');
    const settings = serverlessEsbuildSettings();
    expect(Object.keys(settings.define ?? {})).toEqual(expect.arrayContaining(['process.env.DIDIT_TRACER_PACKAGED', 'process.env.DIDIT_SPEND_CAP_PACKAGED']));
    // serverless.yml's define, with the params of the stage under test.
    const define = {
      ...settings.define,
      'process.env.DIDIT_TRACER_PACKAGED': JSON.stringify(params.tracing),
      'process.env.DIDIT_SPEND_CAP_PACKAGED': JSON.stringify(params.dailyPaidCallCap),
    };
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
    return Object.values(result.metafile.outputs).flatMap((output) => Object.keys(output.inputs));
  }

  it('leaves the tracer and the DynamoDB SDK out on a stage without tracing and without a cap, bundles them otherwise', async () => {
    const plain = await bundledInputs({ tracing: 'false', dailyPaidCallCap: '0' });
    expect(plain.filter((input) => TRACER.test(input))).toEqual([]);
    expect(plain.filter((input) => DYNAMODB.test(input))).toEqual([]);
    const full = await bundledInputs({ tracing: 'true', dailyPaidCallCap: '100' });
    expect(full.some((input) => TRACER.test(input))).toBe(true);
    expect(full.some((input) => DYNAMODB.test(input))).toBe(true);
  });

  it('fails closed when a cap is asked for at run time from a bundle packaged without the counter', async () => {
    const { createSpendGate, UNCAPPED } = await import('../../lib/spend-cap/gate.ts');
    const options = { cap: 5, tableName: 'spend', stage: 'test', region: 'us-east-1' };
    const saved = process.env['DIDIT_SPEND_CAP_PACKAGED'];
    process.env['DIDIT_SPEND_CAP_PACKAGED'] = '0';
    try {
      expect(() => createSpendGate(options)).toThrow(/packaged with dailyPaidCallCap 0/);
      expect(createSpendGate({ ...options, cap: undefined })).toBe(UNCAPPED);
    } finally {
      if (saved === undefined) delete process.env['DIDIT_SPEND_CAP_PACKAGED'];
      else process.env['DIDIT_SPEND_CAP_PACKAGED'] = saved;
    }
    expect(createSpendGate(options)).not.toBe(UNCAPPED);
  });
});
