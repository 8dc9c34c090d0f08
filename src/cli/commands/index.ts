// One entry per subcommand; each module exports a register function. Only the
// module of the subcommand being run is loaded (the operator's pulls in the
// Kubernetes client and the webhook), so `gatehouse validate` starts fast.
import type { Command } from 'commander';

type Registrar = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<{ register: Registrar }>> = {
  validate: () => import('./validate.js'),
  plan: () => import('./plan.js'),
  apply: () => import('./apply.js'),
  get: () => import('./get.js'),
  audit: () => import('./audit.js'),
  run: () => import('./run.js'),
  serve: () => import('./serve.js'),
  token: () => import('./token.js'),
  check: () => import('./check.js'),
  review: () => import('./review.js'),
  import: () => import('./import.js'),
};

/** Registers the subcommand named in argv, or every subcommand (for help and unknown names). */
export async function registerCommands(program: Command, argv: readonly string[]): Promise<void> {
  const name = argv.find((arg) => !arg.startsWith('-'));
  // `gatehouse --version` needs no subcommand at all.
  if (name === undefined && argv.some((arg) => arg === '--version' || arg === '-V')) return;
  const load = name !== undefined ? COMMANDS[name] : undefined;
  const modules = load !== undefined ? [await load()] : await Promise.all(Object.values(COMMANDS).map((l) => l()));
  for (const module of modules) module.register(program);
}
