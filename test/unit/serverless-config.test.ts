import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { OPERATIONS, operationNamed } from '../../lib/operations/table.ts';
import { renderFunctionsYaml } from '../../infra/serverless/functions.ts';

// serverless.yml takes its functions from a file generated from the operation table.
interface HttpEvent {
  http: { method: string; path: string; authorizer?: string };
}
interface Fn {
  handler: string;
  timeout: number;
  environment: Record<string, string>;
  events: HttpEvent[];
}
const text = readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8');
const config = load(text) as { functions: string; provider: { environment: Record<string, string>; runtime: string } };
const generated = readFileSync(new URL('../../infra/serverless/functions.yml', import.meta.url), 'utf8');
const functions = load(generated) as Record<string, Fn>;

describe('serverless.yml and the operation table', () => {
  it('includes the generated functions file, which is up to date (run `npm run generate`)', () => {
    expect(config.functions).toBe('${file(./infra/serverless/functions.yml)}');
    expect(generated).toBe(renderFunctionsYaml());
  });

  it('has exactly one function per operation', () => {
    expect(Object.keys(functions).sort()).toEqual(Object.keys(OPERATIONS).sort());
  });

  for (const [name, spec] of Object.entries(OPERATIONS)) {
    it(`${name}: handler, route, IAM auth and a timeout longer than the Didit budget`, () => {
      const fn = functions[name]!;
      expect(fn.handler).toBe('functions/operation.handler');
      expect(fn.environment).toEqual({ OPERATION: name });
      expect(operationNamed(fn.environment['OPERATION'])).toBe(spec);
      expect(fn.events).toHaveLength(1);
      expect(fn.events[0]!.http).toMatchObject({ method: spec.route.method.toLowerCase(), path: spec.route.path, authorizer: 'aws_iam' });
      expect(fn.timeout * 1000).toBeGreaterThan(spec.timeoutMs);
    });
  }

  it('refuses an OPERATION that is not in the table', () => {
    expect(() => operationNamed(undefined)).toThrow(/OPERATION/);
    expect(() => operationNamed('toString')).toThrow(/OPERATION/);
    expect(() => operationNamed('deleteEverything')).toThrow(/OPERATION/);
  });

  it('never puts the key, or a resolver that could inline it, into the configuration', () => {
    // The parsed documents, so comments that explain the rule do not trip it.
    expect(JSON.stringify([config, functions])).not.toMatch(/\$\{ssm:|\$\{aws:secretsmanager|DIDIT_API_KEY|x-api-key/i);
    for (const [name, value] of Object.entries(config.provider.environment)) {
      expect(name).not.toMatch(/KEY$|SECRET$|TOKEN$/);
      expect(String(value)).not.toMatch(/^(sk|pk)_[A-Za-z0-9]/);
    }
    expect(config.provider.runtime).toMatch(/^nodejs(22|24)\.x$/);
  });
});
