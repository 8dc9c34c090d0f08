// Support-grant evidence (seeds 000 and 002): every entry of the audit log
// about one SupportGrant, its life (created, activated, expired, revoked) and
// every decision taken under it, as one report with a digest over the
// entries' chain hashes, so the report can be checked against the log later.
import { hash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { auditEntryFromRow, type AuditEntry } from '../store/audit.js';
import type { Database } from '../store/schema.js';

export interface GrantEvidence {
  grant: { namespace: string | null; name: string; workspaceId: string | null };
  entries: AuditEntry[];
  decisions: { allowed: number; denied: number };
  /** SHA-256 over the entries' hashes in order: changes if any entry is added, removed or edited. */
  digest: string;
}

export function grantEvidenceDigest(entries: readonly Pick<AuditEntry, 'hash'>[]): string {
  return hash('sha256', entries.map((e) => e.hash).join('\n'), 'hex');
}

/** Every audit entry about the SupportGrant named `name` (in `namespace`, when given), oldest first. */
export async function gatherGrantEvidence(db: Kysely<Database>, name: string, namespace?: string): Promise<GrantEvidence | undefined> {
  let q = db.selectFrom('audit_log').selectAll().where('object_kind', '=', 'SupportGrant').where('object_name', '=', name);
  if (namespace !== undefined) q = q.where('object_namespace', '=', namespace);
  const entries = (await q.orderBy('seq').execute()).map(auditEntryFromRow);
  if (entries.length === 0) return undefined;
  const namespaces = new Set(entries.map((e) => e.object?.namespace ?? null));
  if (namespaces.size > 1) {
    throw new Error(`support grants named ${name} exist in several namespaces (${[...namespaces].join(', ')}); name one with --namespace`);
  }
  const first = entries[0] as AuditEntry;
  return {
    grant: { namespace: first.object?.namespace ?? null, name, workspaceId: first.workspaceId ?? null },
    entries,
    decisions: {
      allowed: entries.filter((e) => e.action === 'support.allow').length,
      denied: entries.filter((e) => e.action === 'support.deny').length,
    },
    digest: grantEvidenceDigest(entries),
  };
}
