#!/usr/bin/env node
/**
 * didit-kms-gateway: seal, rotate, verify and fingerprint the sealed Didit key. See `--help`.
 *
 * Run with Node >= 22.18 (native TypeScript): `node infra/cli/main.ts seal --stage dev`.
 */
import { runCli } from './run.ts';

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => {
    process.stdout.write(text);
  },
  stderr: (text) => {
    process.stderr.write(text);
  },
  env: process.env,
});
process.exitCode = code;
// Idle keep-alive sockets are unref'd; should anything else linger, do not hang the operator's shell.
setTimeout(() => process.exit(code), 2_000).unref();
