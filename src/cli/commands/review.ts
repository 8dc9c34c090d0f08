// gatehouse review: the two-weekly access review (seed 001) of what the store
// holds, as a table, markdown for a pull-request comment, or stable JSON.
// Exit 0 whatever it finds: it reports, it does not judge a build.
import { Option, type Command } from 'commander';
import { gatherReview } from '../../review/gather.js';
import { formatReviewMarkdown, formatReviewTable } from '../../review/format.js';
import { reviewAccess } from '../../review/review.js';
import { loadSources } from '../../source/load.js';
import { UsageError } from '../../util/errors.js';
import { openStoreOption, STORE_OPTION_HELP } from './plan.js';
import { parseAt } from './validate.js';

interface ReviewOptions {
  workspace?: string;
  at?: string;
  source?: string[];
  output: 'table' | 'json' | 'markdown';
  store?: string;
}

export function register(program: Command): void {
  program
    .command('review')
    .description(
      'Review access: members with no recent login, invitations never accepted, access that ended but is still declared (with file and line), too many admins, support grants and what was done under them, and privileges not used in the period with a smaller role to use.',
    )
    .option('--workspace <id>', 'only this workspace (its workspaceId)')
    .option('--at <time>', 'review as of this RFC 3339 instant instead of now')
    .option('--source <path...>', 'the declarations (files or folders) to point at for what to delete from Git')
    .addOption(new Option('-o, --output <format>', 'table for people, markdown for a pull-request comment, json for tools').choices(['table', 'json', 'markdown']).default('table'))
    .option('--store <dsn>', STORE_OPTION_HELP)
    .action(async (_o: ReviewOptions, command: Command) => {
      const options = command.optsWithGlobals<ReviewOptions>();
      const at = parseAt(options.at);
      let sources;
      if (options.source !== undefined) {
        const loaded = await loadSources(options.source);
        const unreadable = loaded.problems.find((p) => p.code === 'PathNotFound' || p.code === 'UnreadableFile' || p.code === 'NoSourceFiles');
        if (unreadable !== undefined) throw new UsageError(`--source: ${unreadable.message}`);
        sources = loaded.objects;
      }
      const store = await openStoreOption(options.store, 'fail');
      try {
        const inputs = await gatherReview(store.db, { dialect: store.dialect, at, ...(options.workspace !== undefined ? { workspaceId: options.workspace } : {}), ...(sources !== undefined ? { sources } : {}) });
        if (options.workspace !== undefined && inputs.length === 0) throw new UsageError(`there is no workspace ${options.workspace} in the store; gatehouse get workspaces lists them`);
        const report = reviewAccess(inputs, at.getTime());
        if (options.output === 'json') process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else if (options.output === 'markdown') process.stdout.write(formatReviewMarkdown(report));
        else process.stdout.write(formatReviewTable(report));
      } finally {
        await store.close();
      }
    });
}
