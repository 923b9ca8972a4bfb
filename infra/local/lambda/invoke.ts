/**
 * Run one packaged function in the Lambda sandbox and invoke it with an event:
 *
 *   npm run build                                     # or any `sls package --stage <s>`: .serverless/
 *   node infra/local/lambda/invoke.ts createSession event.json [--memory 128] [--timeout 5] [--times 2]
 *
 * Starts the emulator (DIDIT_TEST_EMULATOR=moto|localstack, or AWS_ENDPOINT_URL), the Didit sandbox, the
 * template's resources with a freshly sealed demo key, then the function; prints each answer (stdout, JSON)
 * and the sandbox's figures (init and invocation durations, cgroup memory peak) on stderr. The event file
 * is the event Lambda would pass (an API Gateway proxy event, an SQSEvent…); `-` reads stdin.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startHarness } from '../../../test/lambda/harness.ts';
import { startEmulator } from '../emulator.ts';
import { preparePackage } from './package.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { memory: { type: 'string' }, timeout: { type: 'string' }, times: { type: 'string' }, quiet: { type: 'boolean' } },
  });
  const [name, eventFile] = positionals;
  if (!name || !eventFile) {
    log('usage: invoke.ts <function> <event.json|-> [--memory MB] [--timeout s] [--times n] [--quiet]');
    process.exit(2);
  }
  const event = JSON.parse(readFileSync(eventFile === '-' ? 0 : eventFile, 'utf8')) as unknown;
  const prepared = await preparePackage(process.env['DIDIT_LAMBDA_PACKAGE_DIR'] ?? join(root, '.serverless'), log);
  const em = await startEmulator({ log });
  const dynamo = em.kind === 'localstack' ? await startEmulator({ kind: 'moto', log }) : undefined;
  const h = await startHarness({
    em,
    dynamodbEndpoint: dynamo?.endpoint ?? em.endpoint,
    packageDir: prepared.dir,
    ...(values.quiet ? {} : { onLog: (line: string) => log(`  | ${line}`) }),
  });
  try {
    const sb = await h.fn(name, {
      ...(values.memory ? { memorySize: Number(values.memory) } : {}),
      ...(values.timeout ? { timeout: Number(values.timeout) } : {}),
    });
    for (let i = 0; i < Number(values.times ?? 1); i += 1) {
      const r = await sb.invoke(event);
      process.stdout.write(`${JSON.stringify(r.payload)}\n`);
      if (r.functionError) log(`[lambda] function error: ${r.functionError}`);
    }
    log(
      `[lambda] ${sb.definition.functionName}: ${sb.memorySize} MB, timeout ${sb.timeout} s, init ${sb.initDurations.map((d) => d.toFixed(0)).join('/')} ms, ` +
        `durations ${sb.durations.map((d) => d.toFixed(0)).join('/')} ms, memory peak ${((await sb.memoryPeak()) / 1048576).toFixed(1)} MB, ` +
        `Didit requests ${h.didit.received.length}`,
    );
  } finally {
    await h.close();
    await dynamo?.stop();
    await em.stop();
    await prepared.cleanup();
  }
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
