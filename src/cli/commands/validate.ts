// gatehouse validate PATH...: the check a GitOps pull request runs in CI.
// Exit 0 valid (warnings allowed), 1 violations, 2 usage or I/O error.
import { Option, type Command } from 'commander';
import { IO_PROBLEM_CODES, loadSources, MAX_SOURCE_FILE_BYTES } from '../../source/load.js';
import { validateLoaded, type ReportEntry, type ValidationReport } from '../../source/validate.js';
import { UsageError } from '../../util/errors.js';
import { PROFILE_OPTION_HELP, readProfileOption } from '../profile-option.js';
import { INSTANT_HINT, parseInstant } from '../../model/time.js';
import { recordedStateOf } from '../../sync/sync.js';
import type { RecordedState } from '../../rules/types.js';
import { loadObserved } from '../../store/observed.js';
import { openStore, parseStoreDsn, StoreError } from '../../store/store.js';
import { existsSync } from 'node:fs';

export const FOLLOW_SYMLINKS_HELP = `follow symbolic links out of the folders given (default: refuse them); files over ${MAX_SOURCE_FILE_BYTES / 1024 / 1024} MiB are refused either way`;


export interface ValidateOptions {
  followSymlinks?: boolean;
  output?: 'text' | 'json';
  at?: string;
  profile?: string;
  /** Also check against what this identity store holds. */
  store?: string;
  /** Text as typed; more warnings than this fail the run (exit code 1). */
  maxWarnings?: string;
  /** --max-warnings 0. */
  strict?: boolean;
}

export function register(program: Command): void {
  program
    .command('validate')
    .description(
      'Check Workspaces, Roles, Members and SupportGrants in YAML files and folders against their schema and the rules. Prints FILE:LINE:COL: SEVERITY RULE-ID Kind namespace/name FIELD: message. Exit code 0 when valid (warnings allowed), 1 on violations, 2 on a usage or I/O error.',
    )
    .argument('<paths...>', 'files and folders; folders are searched recursively for *.yaml and *.yml')
    .addOption(new Option('-o, --output <format>', 'text for people, json for tools').choices(['text', 'json']).default('text'))
    .option('--at <time>', 'evaluate time rules (expiry, support windows, certificates) at this RFC 3339 instant instead of now')
    .option('--profile <file>', PROFILE_OPTION_HELP)
    .option(
      '--store <dsn>',
      'also check the files against what this identity store holds (immutable fields, revoked grants, resend counters, when grants really started, admin tenure)',
    )
    .option('--max-warnings <n>', 'exit code 1 when there are more than N warnings (for CI that treats warnings as errors)')
    .option('--strict', 'same as --max-warnings 0')
    .option('--follow-symlinks', FOLLOW_SYMLINKS_HELP)
    .action(async (paths: string[], _options: ValidateOptions, command: Command) => {
      const code = await runValidate(paths, command.optsWithGlobals<ValidateOptions>());
      if (code !== 0) process.exitCode = code;
    });
}

/**
 * Validates the paths and prints the report. Returns the exit code (0 valid,
 * 1 violations); usage and I/O errors are thrown as UsageError (exit code 2).
 */
export async function runValidate(
  paths: readonly string[],
  options: ValidateOptions,
  write: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> {
  const at = parseAt(options.at);
  const maxWarnings = options.strict === true ? 0 : parseMaxWarnings(options.maxWarnings);
  const profile = readProfileOption(options.profile);
  const load = await loadSources(paths, { followSymlinks: options.followSymlinks === true });
  const ioProblems = load.problems.filter((p) => IO_PROBLEM_CODES.has(p.code));
  if (ioProblems.length > 0) throw new UsageError(ioProblems.map((p) => p.message).join('\n'));
  const recorded = options.store !== undefined ? await readRecordedState(options.store) : undefined;
  const report = validateLoaded(load, { at, profile, ...(recorded !== undefined ? { recorded } : {}) });
  const json = (options.output ?? 'text') === 'json';
  write(json ? `${JSON.stringify(report, null, 2)}\n` : formatText(report));
  if (!report.valid) return 1;
  if (maxWarnings !== undefined && report.summary.warnings > maxWarnings) {
    if (!json) write(`${count(report.summary.warnings, 'warning')}, more than the ${maxWarnings} that ${options.strict === true ? '--strict' : '--max-warnings'} allows\n`);
    return 1;
  }
  return 0;
}

function parseMaxWarnings(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--max-warnings "${text}" is not a whole number; write e.g. --max-warnings 0`);
  return Number(text);
}

/** What an existing identity store recorded, read in one transaction. */
async function readRecordedState(dsn: string): Promise<RecordedState> {
  let address;
  try {
    address = parseStoreDsn(dsn);
  } catch (err) {
    throw new UsageError(`--store: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (address.dialect === 'sqlite' && address.path !== ':memory:' && !existsSync(address.path)) {
    throw new StoreError(`there is no identity store at ${address.path}; run gatehouse apply first, or leave --store out`);
  }
  const store = await openStore(dsn);
  try {
    return recordedStateOf(await store.read((trx) => loadObserved(trx, { type: 'all' }, store.dialect)));
  } finally {
    await store.close();
  }
}

export function parseAt(text: string | undefined): Date {
  if (text === undefined) return new Date();
  // The reader the schema and the rules use, so --at takes exactly the times a spec may hold.
  const at = parseInstant(text);
  if (at === undefined) throw new UsageError(`--at "${text}" is not an RFC 3339 time; ${INSTANT_HINT}`);
  return at;
}

export function formatEntry(entry: ReportEntry): string {
  const where = entry.file === null ? '' : entry.line > 0 ? `${entry.file}:${entry.line}:${entry.column}: ` : `${entry.file}: `;
  const object = entry.kind === null ? '' : ` ${entry.kind} ${entry.namespace}/${entry.name}`;
  const field = entry.field === '' ? '' : ` ${entry.field}`;
  return `${where}${entry.severity} ${entry.ruleId}${object}${field}: ${entry.message}`;
}

const count = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

export function formatSummary(report: ValidationReport): string {
  const { errors, warnings, objects, files, ignoredDocuments } = report.summary;
  const ignored = ignoredDocuments > 0 ? ` (${count(ignoredDocuments, 'document')} of other kinds ignored)` : '';
  return `${count(errors, 'error')}, ${count(warnings, 'warning')} in ${count(objects, 'object')} from ${count(files, 'file')}${ignored}`;
}

export function formatText(report: ValidationReport): string {
  return [...report.violations.map(formatEntry), formatSummary(report)].join('\n') + '\n';
}
