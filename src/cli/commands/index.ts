// One line per subcommand; each module exports a register function.
import type { Command } from 'commander';

export function registerCommands(program: Command): void {
  void program;
}
