// Fencing: every write transaction of an elected operator carries its
// leadership term and checks it against the last term that wrote. A newer term
// in the store means another replica became leader since: the transaction is
// aborted, so a leader that lost its Lease without noticing (a hung renewal,
// a paused process) cannot write after its successor. Writes are serialised
// (BEGIN IMMEDIATE, a PostgreSQL advisory lock), so check-then-record is safe.
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** A leader's term, as the Lease showed it when this replica acquired it. */
export interface LeadershipToken {
  /** Which Lease (namespace/name): one row per Lease. */
  lease: string;
  /** metadata.uid of the Lease. */
  leaseUid: string;
  /** spec.leaseTransitions after acquiring: each new holder increments it. */
  transitions: number;
  /** spec.acquireTime after acquiring. */
  acquireTime: string;
  holder: string;
}

export class FencedError extends Error {
  constructor(readonly token: LeadershipToken, readonly newer: { holder: string; transitions: number }) {
    super(
      `leadership term ${token.transitions} of ${token.holder} is over: ${newer.holder} (term ${newer.transitions}) has written to the identity store since; this replica must not write`,
    );
    this.name = 'FencedError';
  }
}

/** Whether term `a` came after term `b`: transitions within one Lease, acquire time across re-created Leases. */
function isNewer(a: { leaseUid: string; transitions: number; acquireTime: string }, b: { leaseUid: string; transitions: number; acquireTime: string }): boolean {
  return a.leaseUid === b.leaseUid ? a.transitions > b.transitions : a.acquireTime > b.acquireTime;
}

/**
 * Inside a write transaction: throws FencedError when a newer term has
 * written; records this term when it is the newest. Call before any write.
 */
export async function checkLeadershipFence(db: Kysely<Database>, token: LeadershipToken, at: Date): Promise<void> {
  const row = await db.selectFrom('leadership_fence').selectAll().where('name', '=', token.lease).executeTakeFirst();
  const stored = row === undefined ? undefined : { leaseUid: row.lease_uid, transitions: Number(row.transitions), acquireTime: row.acquire_time };
  if (stored !== undefined && row !== undefined && isNewer(stored, token)) {
    throw new FencedError(token, { holder: row.holder, transitions: stored.transitions });
  }
  if (stored !== undefined && !isNewer(token, stored)) return;
  const values = {
    lease_uid: token.leaseUid,
    transitions: token.transitions,
    acquire_time: token.acquireTime,
    holder: token.holder,
    updated_at: at.toISOString(),
  };
  if (row === undefined) await db.insertInto('leadership_fence').values({ name: token.lease, ...values }).execute();
  else await db.updateTable('leadership_fence').set(values).where('name', '=', token.lease).execute();
}
