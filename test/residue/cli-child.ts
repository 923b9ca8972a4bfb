/**
 * The CLI's process for the residue proof: runs `didit-kms-gateway seal` (runCli, as infra/cli/main.ts
 * does) with the secret on stdin (a pipe, written by the parent), then waits for the parent's scans instead
 * of exiting. The secret reaches this process only through that pipe.
 *
 * Protocol as child.ts: child → {ready, outcomes}; {gc} → {gc-done}; {exit}.
 */
import { runCli } from '../../infra/cli/run.ts';
import { tlsReadScrubStats } from '../../lib/transport/tls-read-scrub.ts';

const args = JSON.parse(process.env['RESIDUE_CLI_ARGS'] ?? '[]') as string[];
// The CLI prints the fingerprint, secret id and version: nothing secret, but keep it out of the scan's way.
let printed = 0;
const code = await runCli(args, {
  stdout: (text) => {
    printed += text.length;
  },
  stderr: (text) => {
    printed += text.length;
  },
  env: process.env,
});
const stats = tlsReadScrubStats();
process.send!({
  type: 'ready',
  outcomes: [{ scenario: `seal ${process.env['RESIDUE_CLI_SCENARIO'] ?? ''}`.trim(), status: code, detail: { printed: String(printed) } }],
  scrubs: stats.scrubs,
  scrubMs: stats.totalMs,
});

process.on('message', (message: { type: string }) => {
  if (message.type === 'gc') {
    const gc = (globalThis as { gc?: () => void }).gc;
    for (let i = 0; i < 4; i++) gc?.();
    setImmediate(() => {
      gc?.();
      setImmediate(() => process.send!({ type: 'gc-done' }));
    });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
