// gatehouse audit: the audit log of every applied change, for people (a table)
// and tools (JSON), and --verify, which checks the hash chain and names the
// first entry that was edited or deleted (exit 1).
import { Option, type Command } from 'commander';
import { listAudit, verifyAuditChain, type AuditEntry } from '../../store/audit.js';
import { UsageError } from '../../util/errors.js';
import { formatTable } from './get.js';
import { openStoreOption, STORE_OPTION_HELP } from './plan.js';
import { parseAt } from './validate.js';
import { gatherGrantEvidence } from '../../review/grant-evidence.js';

interface AuditOptions {
  workspace?: string;
  since?: string;
  limit?: string;
  verify?: boolean;
  grant?: string;
  namespace?: string;
  output: 'table' | 'json';
  store?: string;
}

function objectOf(entry: AuditEntry): string {
  if (entry.object === undefined) return '-';
  const name = entry.object.namespace !== undefined ? `${entry.object.namespace}/${entry.object.name}` : entry.object.name;
  const generation = entry.object.generation !== undefined ? ` (generation ${entry.object.generation})` : '';
  return `${entry.object.kind} ${name}${generation}`;
}

export function register(program: Command): void {
  program
    .command('audit')
    .description(
      'List the audit log: when, who or what, which object, what changed and why. --verify checks the hash chain and exits 1 naming the first entry that was edited or deleted.',
    )
    .option('--workspace <id>', 'only entries about this workspace (its workspaceId)')
    .option('--since <time>', 'only entries at or after this RFC 3339 instant')
    .option('--limit <n>', 'only the newest N entries')
    .option('--verify', 'check that no entry was edited, deleted or reordered')
    .option('--grant <name>', 'evidence of one SupportGrant: its life and every action taken under it, with a digest')
    .option('--namespace <ns>', 'with --grant: the grant\'s namespace, when the name is not unique')
    .addOption(new Option('-o, --output <format>', 'table for people, json for tools').choices(['table', 'json']).default('table'))
    .option('--store <dsn>', STORE_OPTION_HELP)
    .action(async (_options: AuditOptions, command: Command) => {
      const options = command.optsWithGlobals<AuditOptions>();
      const since = options.since !== undefined ? parseAt(options.since) : undefined;
      let limit: number | undefined;
      if (options.limit !== undefined) {
        limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit <= 0) throw new UsageError(`--limit "${options.limit}" is not a positive whole number`);
      }
      const store = await openStoreOption(options.store, 'fail');
      try {
        if (options.grant !== undefined) {
          let evidence;
          try {
            evidence = await gatherGrantEvidence(store.db, options.grant, options.namespace);
          } catch (err) {
            throw new UsageError(err instanceof Error ? err.message : String(err));
          }
          if (evidence === undefined) throw new UsageError(`the audit log has no entries about SupportGrant ${options.grant}; gatehouse get supportgrants lists them`);
          if (options.output === 'json') {
            process.stdout.write(`${JSON.stringify(evidence, null, 2)}\n`);
            return;
          }
          const g = evidence.grant;
          process.stdout.write(
            `Support grant ${g.namespace !== null ? `${g.namespace}/` : ''}${g.name} (workspace ${g.workspaceId ?? '-'}): ${evidence.entries.length} entries, ${evidence.decisions.allowed} actions allowed, ${evidence.decisions.denied} denied.\nDigest: sha256:${evidence.digest}\n\n`,
          );
          process.stdout.write(
            formatTable(
              ['SEQ', 'AT', 'ACTOR', 'ACTION', 'REASON'],
              evidence.entries.map((e) => [String(e.seq), e.at.replace(/\.000Z$/, 'Z'), e.actor, e.action, e.reason]),
            ),
          );
          return;
        }
        if (options.verify) {
          const result = await verifyAuditChain(store.db);
          if (options.output === 'json') {
            process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          } else if (result.ok) {
            process.stdout.write(`Audit log intact: ${result.entries} entries, each chained to the one before.\n`);
          } else {
            process.stdout.write(`Audit log broken at entry ${result.firstBad?.seq}: ${result.firstBad?.message}\n`);
          }
          if (!result.ok) process.exitCode = 1;
          return;
        }
        let entries = await listAudit(store.db, {
          ...(options.workspace !== undefined ? { workspaceId: options.workspace } : {}),
          ...(since !== undefined ? { since } : {}),
          ...(limit !== undefined ? { limit, newestFirst: true } : {}),
        });
        if (limit !== undefined) entries = entries.reverse();
        if (options.output === 'json') {
          process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
          return;
        }
        process.stdout.write(
          formatTable(
            ['SEQ', 'AT', 'ACTOR', 'ACTION', 'OBJECT', 'WORKSPACE', 'REASON'],
            entries.map((e) => [String(e.seq), e.at.replace(/\.000Z$/, 'Z'), e.actor, e.action, objectOf(e), e.workspaceId ?? '-', e.reason]),
          ),
        );
      } finally {
        await store.close();
      }
    });
}
