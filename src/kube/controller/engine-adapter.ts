// The access engine over the identity store: syncToStore and
// readObjectStates from src/reconcile, on a Store from src/store.
import { sql } from 'kysely';
import { CHANGED_BY_ANNOTATION, type GatehouseObject, type ObjectRef, type Profile } from '../../model/index.js';
import { readObjectStates, syncToStore } from '../../sync/sync.js';
import type { ObjectIndex } from '../../rules/types.js';
import type { LeadershipToken, Store } from '../../store/index.js';
import { auditCheckpoint } from '../../store/audit.js';
import { deleterOf, deletionClaimsFor, forgetDeletionClaims, type DeletionClaim } from '../../store/deletion-claims.js';
import { readOptionalTime } from '../../store/convert.js';
import { membersChangedSince } from '../../store/observed.js';
import { errorMessage } from '../../util/errors.js';
import { gatherReview } from '../../review/gather.js';
import { gatherGrantEvidence } from '../../review/grant-evidence.js';
import { reviewWorkspace, type WorkspaceReview } from '../../review/review.js';
import {
  EngineError,
  type AccessEngine,
  type ApplicationChange,
  type EngineSyncResult,
  type ObjectState,
  type SyncScope,
} from './engine-port.js';

/** Recorded in the audit log as who made the operator's changes when the Kubernetes user is not known. */
export const OPERATOR_ACTOR = 'operator';

const keyOf = (ref: ObjectRef) => `${ref.kind}/${ref.namespace}/${ref.name}`;
const objectKey = (o: GatehouseObject) => keyOf({ kind: o.kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name });

/**
 * The Kubernetes user who last changed each object's spec, as the admission
 * webhooks stamped it (`k8s:USER`), by `Kind/namespace/name`.
 */
export function changedByIndex(desired: readonly GatehouseObject[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const object of desired) {
    const user = object.metadata.annotations?.[CHANGED_BY_ANNOTATION];
    if (typeof user === 'string' && user !== '') out.set(objectKey(object), `k8s:${user}`);
  }
  return out;
}

/**
 * Who made each change of a sync: the changed-by stamp of a declared object;
 * for an object no longer declared (being deleted), the user whose DELETE the
 * webhook admitted, matched by the uid of the object that owns the row. Undefined: the operator.
 */
export function actorsOf(desired: readonly GatehouseObject[], claims: readonly DeletionClaim[]): (ref: ObjectRef, uid?: string) => string | undefined {
  // Indexed on the first write only: a sync that writes nothing never walks its context for it.
  let changedBy: Map<string, string> | undefined;
  let declared: Set<string> | undefined;
  return (ref, uid) => {
    const key = keyOf(ref);
    declared ??= new Set(desired.map(objectKey));
    if (declared.has(key)) return (changedBy ??= changedByIndex(desired)).get(key);
    const user = deleterOf(claims, uid);
    return user === undefined ? undefined : `k8s:${user}`;
  };
}

/** Whether a state says the object's rows left Gatehouse's hands (removed, or orphaned): its deletion is recorded. */
function removalRecorded(state: ObjectState | undefined): boolean {
  return state !== undefined && (!state.inStore || state.reason === 'Orphaned');
}

function uniqueRefs(refs: ReadonlyArray<ObjectRef | undefined>): ObjectRef[] {
  const byKey = new Map<string, ObjectRef>();
  for (const ref of refs) if (ref !== undefined) byKey.set(`${ref.kind}/${ref.namespace}/${ref.name}`, ref);
  return [...byKey.values()];
}

/** Says whether the store may be used yet (its schema migrated); throws with the reason when not. */
export interface StoreGate {
  check(): void;
  stop?(): Promise<void>;
}

export class StoreEngine implements AccessEngine {
  constructor(
    readonly store: Store,
    readonly profile: Profile,
    readonly actor: string = OPERATOR_ACTOR,
    private readonly gate?: StoreGate,
  ) {}

  #fence: LeadershipToken | undefined;

  /** The term every later sync is fenced with (see checkLeadershipFence). */
  setLeadership(token: LeadershipToken | undefined): void {
    this.#fence = token;
  }

  async sync(desired: readonly GatehouseObject[], scope: SyncScope, at: Date, index?: ObjectIndex): Promise<EngineSyncResult> {
    try {
      this.gate?.check();
      const declared = new Set(desired.map(objectKey));
      const deleting = scope.type === 'objects' ? scope.refs.filter((ref) => !declared.has(keyOf(ref))) : [];
      const claims = await this.#claimsOn(deleting, at);
      const result = await syncToStore(this.store, desired, {
        at,
        actor: this.actor,
        actorOf: actorsOf(desired, claims),
        scope,
        profile: this.profile,
        ...(index !== undefined ? { index } : {}),
        ...(this.#fence !== undefined ? { fence: this.#fence } : {}),
      });
      if (deleting.length > 0) await this.#forgetClaims(deleting, claims, result.states, at);
      const changed = result.applied ? uniqueRefs(result.plan.actions.map((a) => a.object)) : [];
      const keys = this.store.auditKeys;
      // Exported on every sync that wrote, so a copy of the head lives outside the store.
      const checkpoint = keys !== undefined && (result.written?.auditEntries ?? 0) > 0 ? await auditCheckpoint(this.store.db, keys, at) : undefined;
      return {
        ...(checkpoint !== undefined ? { auditCheckpoint: checkpoint } : {}),
        applied: result.applied,
        violations: result.violations,
        states: result.states,
        changes: result.written?.actions ?? 0,
        changed,
        nextChangeAtByRef: result.nextChangeAtByRef,
        ...(result.nextChangeAt !== undefined ? { nextChangeAt: result.nextChangeAt } : {}),
      };
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * The deletion claims on objects being deleted. A failure to read them
   * never holds the deletion back: the entry then names the operator.
   */
  async #claimsOn(refs: readonly ObjectRef[], at: Date): Promise<DeletionClaim[]> {
    if (refs.length === 0) return [];
    try {
      return await deletionClaimsFor(this.store.db, refs, at);
    } catch {
      return [];
    }
  }

  /** Forgets the claims of deletions now recorded (and expired ones); a failure leaves them to expire. */
  async #forgetClaims(refs: readonly ObjectRef[], claims: readonly DeletionClaim[], states: readonly ObjectState[], at: Date): Promise<void> {
    const done = new Set(refs.filter((ref) => removalRecorded(states.find((s) => keyOf(s.ref) === keyOf(ref)))).map(keyOf));
    const uids = [...new Set(claims.filter((c) => done.has(keyOf(c))).map((c) => c.uid))];
    try {
      await this.store.write((trx) => forgetDeletionClaims(trx, uids, at));
    } catch {
      // Harmless: a claim is keyed by a uid no other object will have, and expires.
    }
  }

  async readStates(desired: readonly GatehouseObject[], refs: readonly ObjectRef[], at: Date): Promise<ObjectState[]> {
    try {
      this.gate?.check();
      return await readObjectStates(this.store, desired, [...refs], at, this.profile);
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** The owners of managed rows, one query per table (the source index). */
  async managedSources(): Promise<ObjectRef[]> {
    try {
      const refs: ObjectRef[] = [];
      for (const table of ['workspaces', 'roles', 'members', 'support_grants'] as const) {
        const rows = await this.store.db
          .selectFrom(table)
          .select(['source_kind', 'source_namespace', 'source_name'])
          .distinct()
          .where('managed', '=', sql<boolean>`${this.store.dialect === 'sqlite' ? 1 : true}`)
          .where('source_kind', 'is not', null)
          .execute();
        for (const row of rows) {
          if (row.source_kind === null || row.source_namespace === null || row.source_name === null) continue;
          refs.push({ kind: row.source_kind as ObjectRef['kind'], namespace: row.source_namespace, name: row.source_name });
        }
      }
      return uniqueRefs(refs);
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Rows whose accepted_at or last_login_at is at or after `since`, read through their indexes. */
  async changedSince(since: Date): Promise<ApplicationChange[]> {
    try {
      this.gate?.check();
      return (await membersChangedSince(this.store.db, since)).map(({ source, ...times }) => ({ ref: { kind: 'Member', ...source }, ...times }));
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** The pure review (src/review) over one workspace's rows, gathered in bulk. */
  async reviewWorkspace(workspaceId: string, at: Date): Promise<WorkspaceReview | undefined> {
    try {
      this.gate?.check();
      const [input] = await gatherReview(this.store.db, { dialect: this.store.dialect, workspaceId, at });
      return input === undefined ? undefined : reviewWorkspace(input, at.getTime());
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async grantEvidenceDigest(ref: ObjectRef): Promise<string | undefined> {
    try {
      this.gate?.check();
      return (await gatherGrantEvidence(this.store.db, ref.name, ref.namespace))?.digest;
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async ping(): Promise<void> {
    try {
      this.gate?.check();
      await sql`select 1`.execute(this.store.db);
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location} is unreachable: ${errorMessage(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.gate?.stop?.();
    await this.store.close();
  }
}
