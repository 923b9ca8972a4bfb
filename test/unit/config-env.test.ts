import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * lib/ reads its environment in one place: lib/config/env.ts (`environment()`), called by the config
 * loaders only (lib/config/env.ts, lib/runtime/config.ts, lib/adapters/<name>/config.ts), which turn it into one validated
 * config object per function kind. Everything else gets settings from those objects.
 *
 * The exceptions, each with its reason:
 */
const ALLOWED: Readonly<Record<string, string>> = {
  'config/env.ts': 'the one reader (environment())',
  // Powertools' own variables (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE), read at module scope: the
  // logger and metrics must exist before any config is loaded (a ConfigError is logged through them), and
  // Powertools reads its other variables (POWERTOOLS_LOG_LEVEL, …) from process.env itself anyway.
  'observability/telemetry.ts': "Powertools' logger and metrics",
  // Tracer's service name (Powertools), read when the tracing runtime is loaded.
  'observability/tracing-runtime.ts': "Powertools' tracer",
  // POWERTOOLS_TRACE_ENABLED and AWS_EXECUTION_ENV (Lambda's own), read when a handler module is imported
  // (traced() decides there whether to wrap it), before any config.
  'observability/tracing.ts': "Powertools' tracing switch",
  // DIDIT_SPEND_CAP_PACKAGED: not configuration but a package-time constant. serverless.yml's
  // custom.esbuild.define replaces it in the bundle by the stage's dailyPaidCallCap, so that with "0" esbuild
  // drops the DynamoDB SDK (the comparison must be at the import() for that); unbundled it is unset.
  'spend-cap/counter.ts': 'package-time constant: is the DynamoDB SDK bundled',
  'spend-cap/gate.ts': 'package-time constant: fail closed when a cap meets a bundle without the counter',
};

const LIB = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'lib');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Code without comments, so a comment that names process.env is not a read. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** Every way this code base could reach the environment: `process.env`, `process['env']`, `{ env } = process`. */
const READS = /\bprocess\s*(?:\.\s*env\b|\[\s*['"`]env['"`]\s*\])|\{[^}]*\benv\b[^}]*\}\s*=\s*(?:globalThis\.)?process\b/;
/** Calls of the one reader. */
const READER_CALL = /\benvironment\s*\(\s*\)/;

function envReaders(files: ReadonlyArray<{ path: string; text: string }>): { reads: string[]; readerCalls: string[] } {
  return {
    reads: files.filter((f) => READS.test(code(f.text))).map((f) => f.path),
    readerCalls: files.filter((f) => READER_CALL.test(code(f.text))).map((f) => f.path),
  };
}

const isConfigLoader = (path: string): boolean =>
  path === 'config/env.ts' || path === 'runtime/config.ts' || /^adapters\/[a-z-]+\/config\.ts$/.test(path);

describe('one reader of process.env in lib/', () => {
  const files = sourceFiles(LIB).map((file) => ({ path: relative(LIB, file).split('\\').join('/'), text: readFileSync(file, 'utf8') }));
  const found = envReaders(files);

  it('no module but the config loader (and the Powertools exceptions above) reads process.env', () => {
    expect(found.reads.filter((path) => ALLOWED[path] === undefined)).toEqual([]);
  });

  it('environment() is called by config loaders only', () => {
    expect(found.readerCalls.filter((path) => !isConfigLoader(path))).toEqual([]);
  });

  it('every exception is still needed (a stale entry would hide a new read)', () => {
    expect(Object.keys(ALLOWED).filter((path) => !found.reads.includes(path))).toEqual([]);
  });

  it('the scan finds each form of read, and not a mention in a comment', () => {
    const sample = (text: string) => envReaders([{ path: 'x.ts', text }]);
    expect(sample("const r = process.env['AWS_REGION'];").reads).toEqual(['x.ts']);
    expect(sample('const r = process . env.STAGE;').reads).toEqual(['x.ts']);
    expect(sample("const r = process['env'];").reads).toEqual(['x.ts']);
    expect(sample('const { env } = process;').reads).toEqual(['x.ts']);
    expect(sample('const { argv, env: e } = globalThis.process;').reads).toEqual(['x.ts']);
    expect(sample('// reads process.env\n/* process.env */ const x = 1;').reads).toEqual([]);
    expect(sample('const c = loadConfig(environment());').readerCalls).toEqual(['x.ts']);
  });
});
