/**
 * Run the Didit sandbox as its own process (for `npm start` and for tests that need the client in a
 * separate process, e.g. memory-residue scans, where the sandbox must not share the client's heap).
 *
 *   node test/sandbox/main.ts [--key-from-stdin] [--host 127.0.0.1] [--port 0]
 *
 * Prints one JSON line, `{"url":"https://127.0.0.1:PORT","caFile":"/tmp/.../ca.pem"}`, once listening.
 * With `--key-from-stdin` the accepted key is the first line read from stdin (read as bytes, never
 * echoed); otherwise a random key is generated and nothing about it is printed. The `/__sandbox/`
 * control routes are enabled. SIGINT / SIGTERM close the server and remove the CA file.
 */
import { startSandbox } from './index.ts';
import type { SandboxOptions } from './types.ts';

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const MAX_KEY_LINE_BYTES = 4096;

function usage(message: string): never {
  process.stderr.write(`didit sandbox: ${message}\nusage: node test/sandbox/main.ts [--key-from-stdin] [--host HOST] [--port PORT]\n`);
  process.exit(2);
}

interface Args {
  keyFromStdin: boolean;
  host?: string;
  port?: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { keyFromStdin: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--key-from-stdin') args.keyFromStdin = true;
    else if (arg === '--host') {
      const value = argv[++i];
      if (value === undefined || value === '') usage('--host needs a value');
      args.host = value;
    } else if (arg === '--port') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 0 || value > 65535) usage('--port needs 0-65535');
      args.port = value;
    } else usage(`unknown argument ${String(arg)}`);
  }
  return args;
}

/**
 * The first stdin line as bytes (without CR/LF). Kept as a Buffer throughout: no string copy of the
 * key is made here.
 */
function readKeyLine(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = (): void => {
      process.stdin.off('data', onData);
      process.stdin.off('end', finish);
      process.stdin.pause();
      const all = Buffer.concat(chunks);
      for (const chunk of chunks) chunk.fill(0);
      let end = all.indexOf(NEWLINE);
      if (end === -1) end = all.length;
      if (end > 0 && all[end - 1] === CARRIAGE_RETURN) end -= 1;
      const key = Buffer.from(all.subarray(0, end));
      all.fill(0);
      if (key.length === 0) reject(new Error('no key on stdin'));
      else resolve(key);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      if (chunk.includes(NEWLINE) || length > MAX_KEY_LINE_BYTES) finish();
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', finish);
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const options: SandboxOptions = { control: true };
  if (args.host !== undefined) options.host = args.host;
  if (args.port !== undefined) options.port = args.port;
  if (args.keyFromStdin) options.apiKey = await readKeyLine();

  const sandbox = await startSandbox(options);
  options.apiKey?.fill(0);
  process.stdout.write(`${JSON.stringify({ url: sandbox.url, caFile: sandbox.caFile })}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    sandbox.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`didit sandbox: ${error instanceof Error ? error.message : 'failed to start'}\n`);
  process.exit(1);
});
