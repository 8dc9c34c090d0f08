// gatehouse apply PATH...: makes the identity store hold what the files
// declare, in one transaction, and prints what it did. Refuses everything on
// any rule error, and a mass removal unless --allow-mass-removal.
import { Option, type Command } from 'commander';
import { DEFAULT_MAX_REMOVAL_SHARE } from '../../reconcile/plan.js';
import { formatPlanText, planJson } from '../../reconcile/format.js';
import { MassRemovalError, syncToStore } from '../../sync/sync.js';
import { cliActor, loadDeclaration, openAndSnapshotStore, openStoreOption, printWarnings, reportRuleErrors, STORE_OPTION_HELP, type StoreCommandOptions } from './plan.js';
import { FOLLOW_SYMLINKS_HELP } from './validate.js';
import { PROFILE_OPTION_HELP } from '../profile-option.js';

interface ApplyOptions extends StoreCommandOptions {
  output: 'text' | 'json';
  allowMassRemoval?: boolean;
}

/** Below this many changes a progress line is not worth printing. */
const PROGRESS_THRESHOLD = 500;

export function register(program: Command): void {
  program
    .command('apply')
    .description(
      'Make the identity store hold what the files declare: one transaction, audited. Refuses on any rule error (exit 1), and refuses to remove more than a quarter of a workspace\'s members at once unless --allow-mass-removal.',
    )
    .argument('<paths...>', 'files and folders of Workspaces, Roles, Members and SupportGrants')
    .option('--store <dsn>', STORE_OPTION_HELP)
    .option('--at <time>', 'apply as of this RFC 3339 instant instead of now (expiries, support windows)')
    .option('--allow-mass-removal', `remove members even when more than ${DEFAULT_MAX_REMOVAL_SHARE * 100}% of a workspace's members go at once`)
    .addOption(new Option('-o, --output <format>', 'text for people, json for tools').choices(['text', 'json']).default('text'))
    .option('--profile <file>', PROFILE_OPTION_HELP)
    .option('--follow-symlinks', FOLLOW_SYMLINKS_HELP)
    .action(async (paths: string[], _options: ApplyOptions, command: Command) => {
      const options = command.optsWithGlobals<ApplyOptions>();
      // With many files, a worker thread parses them while this one reads the store.
      let early: Awaited<ReturnType<typeof openAndSnapshotStore>>;
      let declaration;
      try {
        declaration = await loadDeclaration(paths, options, async () => {
          early = await openAndSnapshotStore(options.store);
        });
      } catch (err) {
        await early?.store.close();
        throw err;
      }
      if (declaration === undefined) {
        await early?.store.close();
        process.exitCode = 1;
        return;
      }
      const store = early?.store ?? (await openStoreOption(options.store, 'create'));
      const showProgress = process.stderr.isTTY === true;
      let progressShown = false;
      try {
        const result = await syncToStore(store, declaration.objects, {
          at: declaration.at,
          actor: cliActor(),
          scope: { type: 'all' },
          profile: declaration.profile,
          files: declaration.files,
          refuseOnRuleErrors: true,
          // Printed is the plan: no object's status is worked out.
          objectStates: false,
          ...(early !== undefined ? { snapshot: early.snapshot } : {}),
          removalGuard: { maxShare: DEFAULT_MAX_REMOVAL_SHARE, allow: options.allowMassRemoval === true },
          onProgress: (done, total) => {
            if (!showProgress || total < PROGRESS_THRESHOLD) return;
            progressShown = true;
            process.stderr.write(`\rgatehouse: applied ${done} of ${total} changes`);
          },
        });
        if (progressShown) process.stderr.write('\n');
        printWarnings(result.violations, declaration);
        process.stdout.write(
          options.output === 'json'
            ? `${JSON.stringify(planJson(result.plan, result.applied), null, 2)}\n`
            : formatPlanText(result.plan, { applied: true, files: declaration.files }),
        );
      } catch (err) {
        if (progressShown) process.stderr.write('\n');
        if (err instanceof MassRemovalError) {
          process.stderr.write(`gatehouse: nothing was changed: ${err.message}\n`);
          process.exitCode = 1;
          return;
        }
        if (reportRuleErrors(err, declaration)) return;
        throw err;
      } finally {
        await store.close();
      }
    });
}
