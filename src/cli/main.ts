#!/usr/bin/env node
// The gatehouse command. Each subcommand lives in ./commands and registers itself here.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { errorMessage, UsageError } from '../util/errors.js';
import { keepTickObjectShape } from '../util/tick-shape.js';
import { registerCommands } from './commands/index.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('gatehouse')
    .description('Workspace access as code: validate, plan and apply Workspaces, Roles, Members and SupportGrants.')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  await registerCommands(program, argv);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // Before the first full garbage collection: keeps every nextTick on V8's fast path (ADR 20).
  keepTickObjectShape();
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? EXIT_OK : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    process.stderr.write(`gatehouse: ${errorMessage(err)}\n`);
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`gatehouse: ${errorMessage(err)}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}
