// The access engine over the identity store: syncToStore and
// readObjectStates from src/reconcile, on a Store from src/store.
import { sql } from 'kysely';
import { CHANGED_BY_ANNOTATION, type GatehouseObject, type ObjectRef, type Profile } from '../../model/index.js';
import { readObjectStates, syncToStore } from '../../sync/sync.js';
import type { ObjectIndex } from '../../rules/types.js';
import type { LeadershipToken, Store } from '../../store/index.js';
import { auditCheckpoint } from '../../store/audit.js';
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

/**
 * The Kubernetes user who last changed each object's spec, as the admission
 * webhooks stamped it (`k8s:USER`), by `Kind/namespace/name`.
 */
export function changedByIndex(desired: readonly GatehouseObject[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const object of desired) {
    const user = object.metadata.annotations?.[CHANGED_BY_ANNOTATION];
    if (typeof user === 'string' && user !== '') out.set(`${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`, `k8s:${user}`);
  }
  return out;
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
      // Indexed on the first write only: a sync that writes nothing never walks its context for it.
      let changedBy: Map<string, string> | undefined;
      const result = await syncToStore(this.store, desired, {
        at,
        actor: this.actor,
        actorOf: (ref) => (changedBy ??= changedByIndex(desired)).get(`${ref.kind}/${ref.namespace}/${ref.name}`),
        scope,
        profile: this.profile,
        ...(index !== undefined ? { index } : {}),
        ...(this.#fence !== undefined ? { fence: this.#fence } : {}),
      });
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
