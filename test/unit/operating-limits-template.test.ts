import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionAccess, logicalIds } from '../../infra/serverless/access.ts';
import { type CfnTemplate, flattenNestedStacks } from '../../infra/serverless/nesting.ts';

// The per-stage switches of issue 13, turned ON the way an operator does it (`--param`, i.e. strings), on
// the packaged template: X-Ray on every function and on the API stage, reserved concurrency on exactly the
// functions that make paid calls, the cap in their environment. template-security.test.ts checks the
// defaults (all off). Cost: one more offline `sls package` (~10 s).

const REPO = new URL('../..', import.meta.url).pathname;
let dir: string;
let resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'didit-limits-template-'));
  const env: NodeJS.ProcessEnv = { ...process.env, SLS_TELEMETRY_DISABLED: '1', DIDIT_ESBUILD_WORK_FOLDER: join(dir, '.esbuild') };
  for (const name of Object.keys(env)) if (name.startsWith('AWS_')) delete env[name];
  env['AWS_REGION'] = 'us-east-1';
  const args = ['package', '--stage', 'limits', '--package', dir, '--param=esbuildExclude=*'];
  args.push('--param=tracing=true', '--param=paidReservedConcurrency=3', '--param=dailyPaidCallCap=1000');
  const run = spawnSync(process.execPath, [join(REPO, 'node_modules/osls/bin/serverless.js'), ...args], { cwd: REPO, env, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`sls package failed: ${run.stdout.slice(-2000)}${run.stderr.slice(-2000)}`);
  // The functions live in nested stacks: read the one template they stand for.
  const read = (file: string): CfnTemplate => JSON.parse(readFileSync(join(dir, file), 'utf8')) as CfnTemplate;
  resources = flattenNestedStacks(read('cloudformation-template-update-stack.json'), read).Resources as typeof resources;
}, 180_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a stage with tracing, reserved concurrency and a spend cap', () => {
  it('X-Ray: Active tracing on every function, TracingEnabled on the API stage, the tracer switched on', () => {
    expect(resources['ApiGatewayStage']?.Properties?.['TracingEnabled']).toBe(true);
    const fns = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(fns.length).toBe(functionAccess().length);
    for (const [id, fn] of fns) {
      expect(fn.Properties?.['TracingConfig'], id).toEqual({ Mode: 'Active' });
      expect((fn.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables?.['POWERTOOLS_TRACE_ENABLED'], id).toBe('true');
    }
  });

  it('reserved concurrency and the cap on exactly the functions that make paid calls', () => {
    for (const fn of functionAccess()) {
      const props = resources[logicalIds(fn).function]!.Properties!;
      const vars = (props['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      if (fn.countsPaidCalls) {
        expect(Number(props['ReservedConcurrentExecutions']), fn.name).toBe(3);
        expect(vars['DAILY_PAID_CALL_CAP'], fn.name).toBe('1000');
      } else {
        expect(props['ReservedConcurrentExecutions'], fn.name).toBeUndefined();
        expect(vars['DAILY_PAID_CALL_CAP'], fn.name).toBeUndefined();
      }
    }
  });
});
