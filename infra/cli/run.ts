/**
 * The CLI without the process around it: parses, runs one command, prints, returns the exit code.
 * `main.ts` wires it to the real process; tests can call it with their own streams.
 */
import { parseArgs, UsageError, type ParsedArgs } from './args.ts';
import { createAwsClients, type AwsClients } from './aws.ts';
import { runCommand } from './commands.ts';
import { helpText } from './help.ts';
import { EXIT, failureOutcome, print, type Printer } from './output.ts';
import { stdinSecretReader, type SecretReader } from './secret-input.ts';

export interface CliIo extends Printer {
  readonly env: NodeJS.ProcessEnv;
  /** Where the secret comes from; default: the terminal without echo, or stdin when it is not a terminal. */
  readonly readSecret?: SecretReader;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    const outcome = failureOutcome(undefined, err);
    print(outcome, err instanceof UsageError && err.json, io);
    return outcome.exitCode;
  }
  if (parsed.kind === 'help') {
    io.stdout(`${helpText(parsed.command)}\n`);
    return EXIT.OK;
  }
  const { command, options } = parsed;
  let aws: AwsClients | undefined;
  try {
    aws = await createAwsClients(options.region, options.json);
    const outcome = await runCommand(command, {
      options,
      env: io.env,
      aws,
      readSecret: io.readSecret ?? stdinSecretReader((text) => io.stderr(text)),
      note: options.json ? () => {} : (line) => io.stderr(`${line}\n`),
    });
    print(outcome, options.json, io);
    return outcome.exitCode;
  } catch (err) {
    const outcome = failureOutcome(command, err);
    print(outcome, options.json, io);
    return outcome.exitCode;
  } finally {
    aws?.destroy();
  }
}
