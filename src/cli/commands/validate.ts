// gatehouse validate PATH...: the check a GitOps pull request runs in CI.
// Exit 0 valid (warnings allowed), 1 violations, 2 usage or I/O error.
import { Option, type Command } from 'commander';
import { IO_PROBLEM_CODES, loadSources, MAX_SOURCE_FILE_BYTES } from '../../source/load.js';
import { validateLoaded, type ReportEntry, type ValidationReport } from '../../source/validate.js';
import { UsageError } from '../../util/errors.js';
import { PROFILE_OPTION_HELP, readProfileOption } from '../profile-option.js';

export const FOLLOW_SYMLINKS_HELP = `follow symbolic links out of the folders given (default: refuse them); files over ${MAX_SOURCE_FILE_BYTES / 1024 / 1024} MiB are refused either way`;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export interface ValidateOptions {
  followSymlinks?: boolean;
  output?: 'text' | 'json';
  at?: string;
  profile?: string;
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
  const profile = readProfileOption(options.profile);
  const load = await loadSources(paths, { followSymlinks: options.followSymlinks === true });
  const ioProblems = load.problems.filter((p) => IO_PROBLEM_CODES.has(p.code));
  if (ioProblems.length > 0) throw new UsageError(ioProblems.map((p) => p.message).join('\n'));
  const report = validateLoaded(load, { at, profile });
  write((options.output ?? 'text') === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatText(report));
  return report.valid ? 0 : 1;
}

export function parseAt(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const ms = Date.parse(text);
  const [year = 0, month = 0, day = 0] = text.slice(0, 10).split('-').map(Number);
  // Date.parse rolls 2026-02-30 over into March; a time that names no real day is a typo.
  const realDay = day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (!RFC3339.test(text) || Number.isNaN(ms) || !realDay) {
    throw new UsageError(`--at "${text}" is not an RFC 3339 time; write it like 2026-05-01T12:00:00Z`);
  }
  return new Date(ms);
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
