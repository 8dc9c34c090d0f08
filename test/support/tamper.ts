// Changes the audit tables the way someone with write access to the database
// would. On PostgreSQL the append-only triggers are bypassed as a superuser
// can (session_replication_role = replica): the test plays an attacker who
// owns the database, which the MACs and checkpoints must still catch.
import { sql, type Kysely, type Transaction } from 'kysely';
import { auditHash, listAudit } from '../../src/store/audit.js';
import type { Database } from '../../src/store/schema.js';
import type { Store } from '../../src/store/store.js';

export async function tamper(store: Store, fn: (db: Kysely<Database>) => Promise<void>): Promise<void> {
  await store.db.transaction().execute(async (trx: Transaction<Database>) => {
    if (store.dialect === 'postgres') await sql`set local session_replication_role = replica`.execute(trx);
    await fn(trx);
  });
}

/**
 * Rewrites entry `seq` with `change`, then recomputes the hash of it and of
 * every later entry and the head, as someone who read the source would: the
 * plain chain then verifies. MACs are left as they were, or dropped.
 */
export async function rewriteHistory(
  store: Store,
  seq: number,
  change: { actor: string },
  macs: 'keep' | 'drop' = 'keep',
): Promise<void> {
  const log = await listAudit(store.db);
  await tamper(store, async (db) => {
    let prevHash: string | undefined;
    for (const entry of log) {
      if (entry.seq < seq) continue;
      const { hash: _hash, keyId: _keyId, mac: _mac, ...rest } = entry;
      const next = { ...rest, ...(entry.seq === seq ? change : {}), prevHash: prevHash ?? entry.prevHash };
      const hash = auditHash(next);
      await db
        .updateTable('audit_log')
        .set({ actor: next.actor, prev_hash: next.prevHash, hash, ...(macs === 'drop' ? { key_id: null, mac: null } : {}) })
        .where('seq', '=', entry.seq)
        .execute();
      prevHash = hash;
    }
    if (prevHash !== undefined) await db.updateTable('audit_head').set({ hash: prevHash }).where('id', '=', 1).execute();
  });
}
