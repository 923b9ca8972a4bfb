import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { OPERATIONS } from '../../lib/operations/table.ts';
import * as handlers from '../../functions/handlers.ts';

// serverless.yml is written out by hand; this keeps it in step with the operation table.
interface HttpEvent {
  http: { method: string; path: string; authorizer?: string };
}
interface Fn {
  handler: string;
  timeout: number;
  events: HttpEvent[];
}
const text = readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8');
const config = load(text) as { functions: Record<string, Fn>; provider: { environment: Record<string, string>; runtime: string } };

describe('serverless.yml and the operation table', () => {
  it('has exactly one function per operation, and functions/handlers.ts exports exactly those', () => {
    expect(Object.keys(config.functions).sort()).toEqual(Object.keys(OPERATIONS).sort());
    expect(Object.keys(handlers).sort()).toEqual(Object.keys(OPERATIONS).sort());
  });

  for (const [name, spec] of Object.entries(OPERATIONS)) {
    it(`${name}: handler, route, IAM auth and a timeout longer than the Didit budget`, () => {
      const fn = config.functions[name]!;
      expect(fn.handler).toBe(`functions/handlers.${name}`);
      expect(fn.events).toHaveLength(1);
      expect(fn.events[0]!.http).toMatchObject({ method: spec.route.method.toLowerCase(), path: spec.route.path, authorizer: 'aws_iam' });
      expect(fn.timeout * 1000).toBeGreaterThan(spec.timeoutMs);
    });
  }

  it('never puts the key, or a resolver that could inline it, into the configuration', () => {
    // The parsed document, so comments that explain the rule do not trip it.
    expect(JSON.stringify(config)).not.toMatch(/\$\{ssm:|\$\{aws:secretsmanager|\$\{file\(|DIDIT_API_KEY|x-api-key/i);
    for (const [name, value] of Object.entries(config.provider.environment)) {
      expect(name).not.toMatch(/KEY$|SECRET$|TOKEN$/);
      expect(String(value)).not.toMatch(/^(sk|pk)_[A-Za-z0-9]/);
    }
    expect(config.provider.runtime).toMatch(/^nodejs(22|24)\.x$/);
  });
});
