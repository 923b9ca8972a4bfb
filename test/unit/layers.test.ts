import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layers of lib/, checked on the import graph as the code has it:
 *
 * - core (every folder of lib/ but `adapters/` and `client/`) never imports an adapter;
 * - an adapter (`lib/adapters/<name>/`: http, webhooks, jobs, uploads, triggers) imports core and its own
 *   folder, never another adapter;
 * - the callers' client (`lib/client/`) imports core only.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LIB = join(ROOT, 'lib');
const ADAPTERS = ['http', 'webhooks', 'jobs', 'uploads', 'triggers'] as const;

type Layer = { readonly kind: 'core' } | { readonly kind: 'adapter'; readonly name: string } | { readonly kind: 'client' };

interface Edge {
  readonly from: string;
  readonly to: string;
}

function layerOf(libPath: string): Layer {
  const [top, second] = libPath.split('/');
  if (top === 'adapters') return { kind: 'adapter', name: second ?? '' };
  if (top === 'client') return { kind: 'client' };
  return { kind: 'core' };
}

/** Why an edge breaks the layering, or undefined when it is allowed. Paths are relative to lib/. */
function violation(edge: Edge): string | undefined {
  const from = layerOf(edge.from);
  const to = layerOf(edge.to);
  if (to.kind === 'client' && from.kind !== 'client') return 'only the client imports the client';
  if (to.kind !== 'adapter') return undefined;
  if (from.kind === 'core') return 'core imports an adapter';
  if (from.kind === 'client') return 'the client imports an adapter';
  if (from.kind === 'adapter' && from.name !== to.name) return 'an adapter imports another adapter';
  return undefined;
}

// Static imports and re-exports (`from '…'`), side-effect imports and dynamic `import('…')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.{1,2}\/[^'"]+)\1/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function libEdges(): Edge[] {
  return sourceFiles(LIB).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(SPECIFIER)].map((m) => ({
      from: relative(LIB, file),
      to: relative(LIB, resolve(dirname(file), m[2] ?? '')),
    })),
  );
}

describe('the layers of lib/', () => {
  const edges = libEdges();

  it('reads the import graph (it sees the edges the layering is about)', () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual({ from: 'adapters/http/operation-handler.ts', to: 'runtime/execute-operation.ts' });
    expect(edges.filter((e) => e.from.startsWith('adapters/jobs/') && e.to.startsWith('adapters/jobs/')).length).toBeGreaterThan(0);
  });

  it('has one folder per adapter and nothing else under adapters/', () => {
    expect(readdirSync(join(LIB, 'adapters')).sort()).toEqual([...ADAPTERS].sort());
  });

  it('no core module imports an adapter, no adapter imports another, the client imports core only', () => {
    const broken = edges.flatMap((edge) => {
      const why = violation(edge);
      return why === undefined ? [] : [`${edge.from} -> ${edge.to}: ${why}`];
    });
    expect(broken).toEqual([]);
  });

  it('the rule itself refuses each kind of break', () => {
    expect(violation({ from: 'runtime/x.ts', to: 'adapters/http/y.ts' })).toBe('core imports an adapter');
    expect(violation({ from: 'adapters/jobs/x.ts', to: 'adapters/webhooks/y.ts' })).toBe('an adapter imports another adapter');
    expect(violation({ from: 'client/x.ts', to: 'adapters/http/y.ts' })).toBe('the client imports an adapter');
    expect(violation({ from: 'kms/x.ts', to: 'client/y.ts' })).toBe('only the client imports the client');
    expect(violation({ from: 'adapters/jobs/x.ts', to: 'adapters/jobs/y.ts' })).toBeUndefined();
    expect(violation({ from: 'adapters/jobs/x.ts', to: 'kms/y.ts' })).toBeUndefined();
  });
});
