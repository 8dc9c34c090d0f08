// gatehouse audit: the audit log of every applied change, for people (a table)
// and tools (JSON); --verify, which checks the hash chain, each entry's MAC
// under the audit key and, given a checkpoint kept outside the store, that no
// entry was cut off, and names the first entry that fails (exit 1);
// `audit checkpoint`, which prints a signed checkpoint of the log's head.
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { auditCheckpoint, listAudit, redactPersonal, verifyAuditChain, type AuditEntry, type AuditVerification } from '../../store/audit.js';
import { AuditKeyError, AUDIT_KEY_ENV, AUDIT_KEY_FILE_ENV, parseCheckpoint, type AuditCheckpoint } from '../../store/audit-key.js';
import { errorMessage, UsageError } from '../../util/errors.js';
import { formatTable } from './get.js';
import { auditKeysOption, cliActor, openStoreOption, STORE_OPTION_HELP } from './plan.js';
import { parseAt } from './validate.js';
import { gatherGrantEvidence } from '../../review/grant-evidence.js';

interface AuditOptions {
  workspace?: string;
  since?: string;
  limit?: string;
  verify?: boolean;
  grant?: string;
  namespace?: string;
  checkpoint?: string;
  auditKeyFile?: string;
  output: 'table' | 'json';
  store?: string;
}

const KEY_FILE_HELP = `audit keyring file (a mounted Secret); default $${AUDIT_KEY_FILE_ENV}, else $${AUDIT_KEY_ENV}`;

function objectOf(entry: AuditEntry): string {
  if (entry.object === undefined) return '-';
  const name = entry.object.namespace !== undefined ? `${entry.object.namespace}/${entry.object.name}` : entry.object.name;
  const generation = entry.object.generation !== undefined ? ` (generation ${entry.object.generation})` : '';
  return `${entry.object.kind} ${name}${generation}`;
}

function readCheckpointFile(path: string): AuditCheckpoint {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--checkpoint: cannot read ${path}: ${errorMessage(err)}`);
  }
  try {
    return parseCheckpoint(text, `--checkpoint ${path}`);
  } catch (err) {
    if (err instanceof AuditKeyError) throw new UsageError(err.message);
    throw err;
  }
}

function verificationText(result: AuditVerification): string {
  if (!result.ok) return `Audit log broken at entry ${result.firstBad?.seq}: ${result.firstBad?.message}\n`;
  const lines = [`Audit log intact: ${result.entries} entries, each chained to the one before.`];
  if (result.redacted !== undefined) lines.push(`${result.redacted} entries had their personal data erased, each erasure recorded in the log.`);
  lines.push(
    result.authenticated
      ? 'Every entry carries a valid MAC under the audit key.'
      : `Not authenticated: no audit key was given (--audit-key-file, $${AUDIT_KEY_FILE_ENV}), so a database writer could have rewritten the whole chain.`,
  );
  lines.push(
    result.checkpoint !== undefined
      ? `The log still holds entry ${result.checkpoint.seq} as checkpointed at ${result.checkpoint.at}.`
      : 'No checkpoint was given (--checkpoint FILE), so entries cut off the end together with the head are not detected.',
  );
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  const audit = program
    .command('audit')
    .description(
      'List the audit log: when, who or what, which object, what changed and why. --verify checks the hash chain, each entry\'s MAC under the audit key and, with --checkpoint, that the log still holds a checkpointed entry; it exits 1 naming the first entry that was edited, forged or deleted.',
    )
    .option('--workspace <id>', 'only entries about this workspace (its workspaceId)')
    .option('--since <time>', 'only entries at or after this RFC 3339 instant')
    .option('--limit <n>', 'only the newest N entries')
    .option('--verify', 'check that no entry was edited, forged, deleted or reordered')
    .option('--checkpoint <file>', 'with --verify: a checkpoint printed by gatehouse audit checkpoint; the log must still hold it')
    .option('--audit-key-file <file>', KEY_FILE_HELP)
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
      if (options.checkpoint !== undefined && !options.verify) throw new UsageError('--checkpoint is used with --verify');
      const checkpoint = options.checkpoint !== undefined ? readCheckpointFile(options.checkpoint) : undefined;
      const keys = options.verify ? auditKeysOption(options.auditKeyFile) : undefined;
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
          const result = await verifyAuditChain(store.db, {
            ...(keys !== undefined ? { keys } : {}),
            ...(checkpoint !== undefined ? { checkpoint } : {}),
          });
          process.stdout.write(options.output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : verificationText(result));
          if (!result.ok) process.exitCode = 1;
          return;
        }
        let entries = await listAudit(store.db, {
          ...(options.workspace !== undefined ? { workspaceId: options.workspace } : {}),
          ...(since !== undefined ? { since } : {}),
          ...(limit !== undefined ? { limit, newestFirst: true } : {}),
          withPersonal: true,
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

  audit
    .command('redact')
    .description(
      'Erase the personal data (email, name, phone) of every audit entry that names this email, for an erasure request. The chain keeps only salted digests of it, so the log still verifies; the erasure itself is recorded as an audit.redact entry.',
    )
    .requiredOption('--email <email>', 'the person whose data is erased')
    .option('--reason <text>', 'reference of the erasure request (recorded; no personal data)')
    .option('--audit-key-file <file>', KEY_FILE_HELP)
    .option('--store <dsn>', STORE_OPTION_HELP)
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<{ email: string; reason?: string; auditKeyFile?: string; store?: string }>();
      if (!options.email.includes('@')) throw new UsageError(`--email "${options.email}" is not an email address`);
      const keys = auditKeysOption(options.auditKeyFile);
      // A writer, but not a migrator: the schema must already be this build's.
      const store = await openStoreOption(options.store, 'fail', keys);
      try {
        const erased = await store.write((trx) =>
          redactPersonal(trx, {
            email: options.email,
            at: new Date(),
            actor: cliActor(),
            ...(options.reason !== undefined ? { reason: options.reason } : {}),
            ...(keys !== undefined ? { keys } : {}),
          }),
        );
        process.stdout.write(
          erased.length === 0 ? 'No audit entry names that email; nothing was erased.\n' : `Erased the personal data of ${erased.length} audit entries (${erased.join(', ')}).\n`,
        );
      } finally {
        await store.close();
      }
    });

  audit
    .command('checkpoint')
    .description(
      'Print a checkpoint of the audit log\'s head (sequence, hash, time) signed with the audit key, as JSON. Keep it outside the store; gatehouse audit --verify --checkpoint FILE later proves the log still holds it.',
    )
    .option('--audit-key-file <file>', KEY_FILE_HELP)
    .option('--store <dsn>', STORE_OPTION_HELP)
    .option('--at <time>', 'the instant recorded in the checkpoint (RFC 3339; default now)')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<{ auditKeyFile?: string; store?: string; at?: string }>();
      const keys = auditKeysOption(options.auditKeyFile);
      if (keys === undefined) {
        throw new UsageError(`gatehouse audit checkpoint signs with the audit key: give --audit-key-file or set $${AUDIT_KEY_FILE_ENV}`);
      }
      const at = parseAt(options.at);
      const store = await openStoreOption(options.store, 'fail');
      try {
        const checkpoint = await store.read((trx) => auditCheckpoint(trx, keys, at));
        process.stdout.write(`${JSON.stringify(checkpoint)}\n`);
      } finally {
        await store.close();
      }
    });
}
