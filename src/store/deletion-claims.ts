// Deletion claims: who asked the API server to delete an object. The
// validating webhook records one for each DELETE it admits (no annotation can
// be stamped on a delete); the operator reads it, by the object's uid, when it
// removes the object's rows, names that user in the audit entry, then forgets
// it. Claims are a record, never a gate: nothing waits for one
// (docs/adr/0014-who-deleted.md).
import type { Kysely } from 'kysely';
import type { Kind, ObjectRef } from '../model/kinds.js';
import { readTime } from './convert.js';
import type { Database } from './schema.js';

/**
 * How long a claim is kept. Longer than any deletion should take to finish
 * (a Role held while still assigned, an operator down for a weekend); a claim
 * whose DELETE never happened (another webhook refused it) is dropped then.
 */
export const DELETION_CLAIM_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export interface DeletionClaim {
  /** metadata.uid of the object deleted: a name can be reused, a uid cannot. */
  uid: string;
  kind: Kind;
  namespace: string;
  name: string;
  /** The Kubernetes user of the admitted DELETE. */
  user: string;
  at: Date;
}

/** Records (or refreshes) that `claim.user` asked to delete the object. */
export async function recordDeletionClaim(db: Kysely<Database>, claim: DeletionClaim): Promise<void> {
  const at = claim.at.toISOString();
  await db
    .insertInto('deletion_claims')
    .values({ object_uid: claim.uid, username: claim.user, kind: claim.kind, namespace: claim.namespace, name: claim.name, claimed_at: at })
    .onConflict((oc) => oc.columns(['object_uid', 'username']).doUpdateSet({ claimed_at: at }))
    .execute();
}

/** The claims still valid at `at` on the objects named `refs` (any uid). */
export async function deletionClaimsFor(db: Kysely<Database>, refs: readonly ObjectRef[], at: Date): Promise<DeletionClaim[]> {
  if (refs.length === 0) return [];
  const since = new Date(at.getTime() - DELETION_CLAIM_TTL_MS).toISOString();
  const rows = await db
    .selectFrom('deletion_claims')
    .selectAll()
    .where('claimed_at', '>', since)
    .where((eb) => eb.or(refs.map((r) => eb.and([eb('kind', '=', r.kind), eb('namespace', '=', r.namespace), eb('name', '=', r.name)]))))
    .orderBy('claimed_at')
    .execute();
  return rows.map((row) => ({
    uid: row.object_uid,
    kind: row.kind as Kind,
    namespace: row.namespace,
    name: row.name,
    user: row.username,
    at: new Date(readTime(row.claimed_at)),
  }));
}

/** Drops the claims on objects whose deletion was recorded, and every claim past its time. */
export async function forgetDeletionClaims(db: Kysely<Database>, uids: readonly string[], at: Date): Promise<number> {
  const since = new Date(at.getTime() - DELETION_CLAIM_TTL_MS).toISOString();
  const result = await db
    .deleteFrom('deletion_claims')
    .where((eb) => (uids.length > 0 ? eb.or([eb('object_uid', 'in', [...uids]), eb('claimed_at', '<=', since)]) : eb('claimed_at', '<=', since)))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Who deleted the object with `uid`: the one user who claimed it. Nobody when
 * no claim was recorded, or when several users did (a DELETE refused by
 * another webhook, then sent by someone else; or a planted claim), because
 * naming the wrong person is worse than naming none.
 */
export function deleterOf(claims: readonly DeletionClaim[], uid: string | undefined): string | undefined {
  if (uid === undefined) return undefined;
  const users = new Set(claims.filter((c) => c.uid === uid).map((c) => c.user));
  return users.size === 1 ? (users.values().next().value as string) : undefined;
}
