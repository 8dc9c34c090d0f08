// gatehouse plan PATH...: what apply would change in the identity store,
// object by object, with reasons. Exit 0 (with --detailed-exitcode: 0 no
// changes, 2 changes), 1 on rule errors or a store failure, 2 on usage errors.
// Also the helpers apply, get and audit share: store, profile, time, actor.
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Option, type Command } from 'commander';
import type { GatehouseObject } from '../../model/kinds.js';
import { formatPlanText, planJson } from '../../reconcile/format.js';
import { refOfObject } from '../../reconcile/plan.js';
import { refKey } from '../../reconcile/records.js';
import { RuleErrorsError, syncToStore } from '../../sync/sync.js';
import { IO_PROBLEM_CODES, loadSources, type LoadOptions, type LoadResult } from '../../source/load.js';
import { reportOfViolations, validateLoaded } from '../../source/validate.js';
import type { Violation } from '../../rules/types.js';
import { AuditKeyError, loadAuditKeyring, type AuditKeyring } from '../../store/audit-key.js';
import { SchemaMissingError } from '../../store/migrations.js';
import { readObservedSnapshot, type ObservedSnapshot } from '../../store/observed.js';
import { openStore, parseStoreDsn, StoreError, storeDsnFrom, type Store } from '../../store/store.js';
import { errorMessage, UsageError } from '../../util/errors.js';
import { FOLLOW_SYMLINKS_HELP, formatEntry, formatText, parseAt } from './validate.js';
import type { Profile } from '../../model/profile.js';
import { PROFILE_OPTION_HELP, readProfileOption } from '../profile-option.js';

export const STORE_OPTION_HELP =
  'identity store: postgres://USER@HOST:PORT/DB, sqlite:PATH or a file path (default: $GATEHOUSE_STORE, else .gatehouse/gatehouse.db)';

export interface StoreCommandOptions {
  store?: string;
  at?: string;
  profile?: string;
  followSymlinks?: boolean;
}

/** The actor recorded in the audit log for changes made from the command line. */
export function cliActor(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = process.env.USER ?? 'unknown';
  }
  return `cli:${name}`;
}

/** The audit keyring from $GATEHOUSE_AUDIT_KEY_FILE or $GATEHOUSE_AUDIT_KEY (or `file`), as a usage error when unreadable. */
export function auditKeysOption(file?: string) {
  try {
    return loadAuditKeyring(file);
  } catch (err) {
    if (err instanceof AuditKeyError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Opens the store the flag or GATEHOUSE_STORE names. A SQLite file that does
 * not exist yet is created (`create`, apply), refused (`fail`, commands that
 * only read) or read as an empty store without creating it (`empty`, plan).
 * Only `create` migrates (and signs audit entries); readers take no lock and
 * work with a SELECT-only role.
 */
export async function openStoreOption(flag: string | undefined, ifMissing: 'create' | 'fail' | 'empty', auditKeys?: AuditKeyring): Promise<Store> {
  const dsn = storeDsnFrom(flag);
  let address;
  try {
    address = parseStoreDsn(dsn);
  } catch (err) {
    throw new UsageError(`--store: ${errorMessage(err)}`);
  }
  if (ifMissing !== 'create' && address.dialect === 'sqlite' && address.path !== ':memory:' && !existsSync(address.path)) {
    if (ifMissing === 'empty') return openStore('sqlite::memory:');
    throw new StoreError(`there is no identity store at ${address.path}; run gatehouse apply first, or name one with --store`);
  }
  if (ifMissing === 'create') {
    const auditKeys = auditKeysOption();
    return openStore(dsn, auditKeys !== undefined ? { auditKeys } : {});
  }
  try {
    return await openStore(dsn, { migrate: 'check', ...(auditKeys !== undefined ? { auditKeys } : {}) });
  } catch (err) {
    // plan on a database Gatehouse never wrote to: plan against an empty store.
    if (ifMissing === 'empty' && err instanceof StoreError && err.cause instanceof SchemaMissingError) return openStore('sqlite::memory:');
    throw err;
  }
}

/**
 * An existing SQLite store of this build's schema, opened and read in full, or undefined:
 * another kind of store, none yet, or any error (the caller then opens it as usual, so
 * every message stays the same). `apply` reads it while a worker thread parses the files;
 * the sync uses the read if the store has not changed since.
 */
export async function openAndSnapshotStore(flag: string | undefined): Promise<{ store: Store; snapshot: ObservedSnapshot } | undefined> {
  let store: Store | undefined;
  try {
    const dsn = storeDsnFrom(flag);
    const address = parseStoreDsn(dsn);
    if (address.dialect !== 'sqlite' || address.path === ':memory:' || !existsSync(address.path)) return undefined;
    const auditKeys = auditKeysOption();
    // 'check': a store that needs migrating is left to openStoreOption, after the files are known good.
    store = await openStore(dsn, { migrate: 'check', ...(auditKeys !== undefined ? { auditKeys } : {}) });
    return { store, snapshot: await readObservedSnapshot(store) };
  } catch {
    await store?.close().catch(() => {});
    return undefined;
  }
}

export interface LoadedDeclaration {
  objects: GatehouseObject[];
  /** The files as loaded, to place violations found against the store. */
  load: LoadResult;
  /** refKey -> file the object came from. */
  files: Map<string, string>;
  at: Date;
  profile: Profile;
}

/**
 * Loads the declaration. Problems with the files themselves (YAML syntax, an
 * unknown kind) are printed as validate prints them, with the rules' verdict,
 * and give undefined (the caller exits 1). The rules proper run in the engine,
 * against what the identity store holds (see reportRuleErrors, printWarnings).
 */
export async function loadDeclaration(
  paths: string[],
  options: StoreCommandOptions,
  meanwhile?: LoadOptions['meanwhile'],
): Promise<LoadedDeclaration | undefined> {
  const at = parseAt(options.at);
  const profile = readProfileOption(options.profile);
  const load = await loadSources(paths, { followSymlinks: options.followSymlinks === true, ...(meanwhile !== undefined ? { meanwhile } : {}) });
  const ioProblems = load.problems.filter((p) => IO_PROBLEM_CODES.has(p.code));
  if (ioProblems.length > 0) throw new UsageError(ioProblems.map((p) => p.message).join('\n'));
  if (load.problems.length > 0) {
    process.stdout.write(formatText(validateLoaded(load, { at, profile })));
    process.stderr.write('gatehouse: nothing was changed: fix the errors above first\n');
    return undefined;
  }
  const files = new Map<string, string>();
  for (const source of load.objects) files.set(refKey(refOfObject(source.object)), source.file);
  return { objects: load.objects.map((s) => s.object), load, files, at, profile };
}

/**
 * Prints the rule errors found once the declaration was compared with the
 * identity store (immutable fields, revocations, resend counters), as validate
 * prints them. Returns false when `err` is not such a refusal.
 */
export function reportRuleErrors(err: unknown, declaration: LoadedDeclaration): boolean {
  if (!(err instanceof RuleErrorsError)) return false;
  process.stdout.write(formatText(reportOfViolations(declaration.load, err.violations)));
  process.stderr.write('gatehouse: nothing was changed: fix the errors above first\n');
  process.exitCode = 1;
  return true;
}

/** Prints the rules' warnings (an allowed plan still tells what it found), as validate does, on stderr. */
export function printWarnings(violations: readonly Violation[], declaration: LoadedDeclaration): void {
  const warnings = violations.filter((v) => v.severity === 'warning');
  const report = reportOfViolations(declaration.load, warnings);
  for (const entry of report.violations) process.stderr.write(`${formatEntry(entry)}\n`);
}

interface PlanOptions extends StoreCommandOptions {
  output: 'text' | 'json';
  detailedExitcode?: boolean;
}

export function register(program: Command): void {
  program
    .command('plan')
    .description(
      'Show what apply would change in the identity store, object by object, with the reason for each change. Exit code 0, or with --detailed-exitcode 0 when nothing would change and 2 when something would; 1 on rule errors or store failures; 2 on usage errors.',
    )
    .argument('<paths...>', 'files and folders of Workspaces, Roles, Members and SupportGrants')
    .option('--store <dsn>', STORE_OPTION_HELP)
    .option('--at <time>', 'plan as of this RFC 3339 instant instead of now (expiries, support windows)')
    .addOption(new Option('-o, --output <format>', 'text for people, json for tools').choices(['text', 'json']).default('text'))
    .option('--detailed-exitcode', 'exit 0 when there is nothing to do, 2 when there are changes, 1 on errors')
    .option('--profile <file>', PROFILE_OPTION_HELP)
    .option('--follow-symlinks', FOLLOW_SYMLINKS_HELP)
    .action(async (paths: string[], _options: PlanOptions, command: Command) => {
      const options = command.optsWithGlobals<PlanOptions>();
      const declaration = await loadDeclaration(paths, options);
      if (declaration === undefined) {
        process.exitCode = 1;
        return;
      }
      const store = await openStoreOption(options.store, 'empty');
      try {
        const result = await syncToStore(store, declaration.objects, {
          at: declaration.at,
          actor: cliActor(),
          scope: { type: 'all' },
          profile: declaration.profile,
          dryRun: true,
          files: declaration.files,
          refuseOnRuleErrors: true,
          // Printed is the plan: no object's status is worked out.
          objectStates: false,
        });
        printWarnings(result.violations, declaration);
        process.stdout.write(
          options.output === 'json'
            ? `${JSON.stringify(planJson(result.plan, false), null, 2)}\n`
            : formatPlanText(result.plan, { applied: false, files: declaration.files }),
        );
        if (options.detailedExitcode && result.plan.actions.length > 0) process.exitCode = 2;
      } catch (err) {
        if (!reportRuleErrors(err, declaration)) throw err;
      } finally {
        await store.close();
      }
    });
}
