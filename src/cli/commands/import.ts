// gatehouse import --store DSN --out DIR: adoption of an identity store that
// already has users. Writes the Workspaces, Roles, Members and SupportGrants the
// store holds as YAML (one folder per workspace), then records those objects as
// the rows' owners in one audited transaction, so that `plan` of the files is
// empty and neither apply nor the operator invites anyone again. Refuses, and
// writes nothing, when the files would not reproduce the rows exactly.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { GatehouseObject } from '../../model/kinds.js';
import { importObjects } from '../../reconcile/import.js';
import { refOfObject } from '../../reconcile/plan.js';
import { refKey } from '../../reconcile/records.js';
import { syncToStore } from '../../sync/sync.js';
import type { PlanAction } from '../../reconcile/types.js';
import { loadObserved } from '../../store/observed.js';
import { UsageError } from '../../util/errors.js';
import { PROFILE_OPTION_HELP, readProfileOption } from '../profile-option.js';
import { cliActor, openStoreOption, STORE_OPTION_HELP } from './plan.js';

interface ImportOptions {
  store?: string;
  workspace?: string;
  out: string;
  profile?: string;
}

const FILES: Array<[GatehouseObject['kind'], string]> = [
  ['Workspace', 'workspace.yaml'],
  ['Role', 'roles.yaml'],
  ['Member', 'members.yaml'],
  ['SupportGrant', 'support-grants.yaml'],
];

/** Adoption changes only who manages a row; the product's default roles may be written where missing. */
function isAdoption(action: PlanAction): boolean {
  if (action.op === 'update') return action.changes.every((c) => c.field === 'managed' || c.field === 'owner');
  return action.op === 'create' && action.target === 'role' && action.record.builtin;
}

export function register(program: Command): void {
  program
    .command('import')
    .description(
      'Write what an identity store already holds (rows Gatehouse did not create too) as Workspaces, Roles, Members and SupportGrants in YAML, one folder per workspace, and record them as the rows\' owners so that plan of the files is empty and nobody is invited again. Writes nothing when the files would not reproduce the rows exactly.',
    )
    .requiredOption('--out <dir>', 'folder to write the YAML files to (must be empty or absent)')
    .option('--store <dsn>', STORE_OPTION_HELP)
    .option('--workspace <id>', 'import only this workspace id')
    .option('--profile <file>', PROFILE_OPTION_HELP)
    .action(async (_options: ImportOptions, command: Command) => {
      const options = command.optsWithGlobals<ImportOptions>();
      process.exitCode = await runImport(options, (text) => process.stdout.write(text));
    });
}

export async function runImport(options: ImportOptions, write: (text: string) => void): Promise<number> {
  const existing = await readdir(options.out).catch(() => []);
  if (existing.length > 0) throw new UsageError(`--out ${options.out} is not empty; name a new folder so no file is overwritten`);
  const profile = readProfileOption(options.profile);
  const store = await openStoreOption(options.store, 'fail');
  try {
    const observed = await loadObserved(store.db, { type: 'all' }, store.dialect);
    const imported = importObjects(observed, options.workspace);
    if (options.workspace !== undefined && imported.length === 0) {
      throw new UsageError(`--workspace ${options.workspace}: the store has no such workspace; gatehouse get workspaces lists them`);
    }
    const objects = imported.flatMap((w) => w.objects);
    const files = new Map<string, string>();
    const contents = new Map<string, GatehouseObject[]>();
    for (const workspace of imported) {
      for (const [kind, file] of FILES) {
        const ofKind = workspace.objects.filter((o) => o.kind === kind);
        if (ofKind.length === 0) continue;
        const path = join(options.out, workspace.namespace, file);
        contents.set(path, ofKind);
        for (const object of ofKind) files.set(refKey(refOfObject(object)), path);
      }
    }
    const at = new Date();
    const sync = (dryRun: boolean) =>
      syncToStore(store, objects, {
        at,
        actor: cliActor(),
        // One workspace: the others' rows are out of scope, never removed.
        scope: options.workspace === undefined ? { type: 'all' } : { type: 'objects', refs: objects.map(refOfObject) },
        profile,
        dryRun,
        files,
        // Import reads the plan and the violations only, no object's status.
        objectStates: false,
      });
    const check = await sync(true);
    const errors = check.violations.filter((v) => v.severity === 'error');
    const other = check.plan.actions.filter((a) => !isAdoption(a));
    if (errors.length > 0 || other.length > 0) {
      const lines = [
        ...errors.map((v) => `  ${v.object.kind} ${v.object.namespace}/${v.object.name} ${v.field}: ${v.ruleId}: ${v.message}`),
        ...other.map((a) => `  ${a.op} ${a.target} ${a.key}: ${a.reason}`),
      ];
      write(`gatehouse import wrote nothing: the store's rows cannot be declared as they are:\n${lines.join('\n')}\nFix these rows in the store (or the product profile) and import again.\n`);
      return 1;
    }
    for (const [path, ofFile] of contents) {
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, ofFile.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
    }
    const adopted = check.plan.actions.length > 0 ? (await sync(false)).plan.actions.length : 0;
    const count = (kind: string) => objects.filter((o) => o.kind === kind).length;
    write(
      `Imported ${count('Workspace')} workspaces, ${count('Role')} roles, ${count('Member')} members and ${count('SupportGrant')} support grants into ${options.out}; ${adopted} rows adopted.\n`,
    );
    return 0;
  } finally {
    await store.close();
  }
}
