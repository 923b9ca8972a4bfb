import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { readPackagedTemplate } from '../../infra/local/lambda/template.ts';

// The operators' dashboard, as packaged: valid JSON once CloudFormation substitutes it, and every metric it
// shows is one the code publishes (a renamed metric would leave an empty graph nobody notices).

const template = readPackagedTemplate(inject('lambdaPackageDir'));

function published(dir: string): Set<string> {
  const names = new Set<string>();
  for (const entry of readdirSync(dir)) {
    const file = join(dir, entry);
    if (statSync(file).isDirectory()) {
      for (const n of published(file)) names.add(n);
      continue;
    }
    if (!file.endsWith('.ts')) continue;
    const text = readFileSync(file, 'utf8');
    for (const line of text.split('\n')) {
      if (!line.includes('addMetric(')) continue;
      // Every quoted name on the line: also `addMetric(ok ? 'JobSucceeded' : 'JobFailed', …)`.
      for (const m of line.matchAll(/'([A-Z][A-Za-z0-9]+)'/g)) names.add(m[1] as string);
    }
    // DiditStatus${2xx|4xx|5xx|None} (lib/runtime/execute-operation.ts).
    if (text.includes('addMetric(`DiditStatus')) for (const s of ['2xx', '3xx', '4xx', '5xx', 'None']) names.add(`DiditStatus${s}`);
  }
  return names;
}

describe('the CloudWatch dashboard in the packaged template', () => {
  it('is one dashboard whose body is valid JSON after substitution, showing only published metrics and the stack queues', () => {
    const dashboards = Object.entries(template.resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Dashboard');
    expect(dashboards.map(([id]) => id)).toEqual(['OperationsDashboard']);
    const properties = dashboards[0]?.[1].Properties ?? {};
    const sub = (properties['DashboardBody'] as { 'Fn::Sub': [string, Record<string, unknown>] })['Fn::Sub'];
    const [text, vars] = sub;
    expect(Object.values(vars).filter((v) => typeof v === 'object')).toEqual([
      { 'Fn::GetAtt': ['JobsDeadLetterQueue', 'QueueName'] },
      { 'Fn::GetAtt': ['TriggerDeadLetterQueue', 'QueueName'] },
      { 'Fn::GetAtt': ['JobsQueue', 'QueueName'] },
    ]);
    const body = JSON.parse(text.replace(/\$\{([^}]+)\}/g, (_, name: string) => (name in vars ? `sub-${name}` : name === 'AWS::Region' ? 'us-east-1' : `UNRESOLVED-${name}`))) as {
      widgets: { properties: { title: string; metrics: unknown[][] } }[];
    };
    expect(JSON.stringify(body)).not.toContain('UNRESOLVED');
    const titles = body.widgets.map((w) => w.properties.title);
    expect(titles).toEqual([
      'Key uses (KMS Decrypts) and failures',
      'KMS and Didit latency (ms)',
      'Didit statuses',
      'Job outcomes',
      'Dead-letter queue depths',
      'Webhook rejects',
    ]);
    const shown = new Set<string>();
    for (const w of body.widgets) {
      for (const row of w.properties.metrics) {
        const first = row[0];
        if (typeof first === 'object' && first !== null && 'expression' in first) {
          const m = /\(([A-Za-z0-9]+)\) FROM DiditKmsGateway/.exec(String((first as { expression: string }).expression));
          if (m) shown.add(m[1] as string);
        } else if (first === 'DiditKmsGateway') {
          shown.add(String(row[1]));
        }
      }
    }
    const metrics = published(join(import.meta.dirname, '..', '..', 'lib'));
    expect([...shown].filter((m) => !metrics.has(m))).toEqual([]);
    expect(shown.size).toBeGreaterThanOrEqual(12);
  });
});
