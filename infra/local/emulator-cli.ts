/**
 * Command line for the local emulators.
 *
 *   node infra/local/emulator-cli.ts install [localstack|moto|lambda|all]   # warm the venvs / build the RIE (default: all)
 *   node infra/local/emulator-cli.ts start [localstack|moto|external] # prints {"kind","endpoint","region"}
 *
 * `start` stays up until SIGINT/SIGTERM (or until the emulator dies, exit code 1). Progress goes to stderr,
 * the JSON line to stdout.
 */
import { installEmulator, startEmulator, type Emulator, type EmulatorKind } from './emulator.ts';
import { installRuntime } from './lambda/runtime-install.ts';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function usage(): never {
  process.stderr.write('usage: emulator-cli.ts install [localstack|moto|lambda|all] | start [localstack|moto|external]\n');
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [command, arg] = argv;
  if (command === 'install') {
    const which = arg ?? 'all';
    if (!['localstack', 'moto', 'lambda', 'all'].includes(which)) usage();
    if (which === 'lambda' || which === 'all') {
      // The Lambda sandbox's Runtime Interface Emulator (infra/local/lambda/), built from the Go module proxy.
      const t0 = Date.now();
      const { rie } = await installRuntime(log);
      log(`[lambda] RIE ready at ${rie} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      if (which === 'lambda') return;
    }
    const kinds: EmulatorKind[] = which === 'all' ? ['localstack', 'moto'] : [which as EmulatorKind];
    for (const kind of kinds) {
      const t0 = Date.now();
      await installEmulator(kind, log);
      log(`[emulator] ${kind} ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    return;
  }
  if (command === 'start') {
    if (arg !== undefined && !['localstack', 'moto', 'external'].includes(arg)) usage();
    // Handlers go in before the start, so a signal during start-up still stops the process we launched.
    const abort = new AbortController();
    let em: Emulator | undefined;
    let stopping = false;
    const shutdown = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      log(`[emulator] ${sig}: stopping`);
      abort.abort(new Error(sig));
      if (!em) return; // startEmulator rejects and main's catch exits
      em.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log(String(err));
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGHUP', () => shutdown('SIGHUP'));
    try {
      em = await startEmulator({ kind: arg as EmulatorKind | undefined, log, signal: abort.signal });
    } catch (err) {
      if (abort.signal.aborted) process.exit(130); // stopped by a signal while starting
      throw err;
    }
    const running = em;
    process.stdout.write(`${JSON.stringify({ kind: running.kind, endpoint: running.endpoint, region: running.region })}\n`);
    if (running.kind !== 'external') {
      // Exit if the emulator goes away underneath us.
      const timer = setInterval(() => {
        fetch(running.endpoint, { signal: AbortSignal.timeout(3000) }).catch(() => {
          if (stopping) return;
          stopping = true;
          clearInterval(timer);
          log('[emulator] endpoint stopped answering; exiting');
          void running.stop().finally(() => process.exit(1));
        });
      }, 5000);
    } else {
      setInterval(() => {}, 1 << 30); // keep the process alive until a signal
    }
    return;
  }
  usage();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
