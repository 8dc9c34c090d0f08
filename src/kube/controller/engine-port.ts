// The seam between the controller and the access engine. The controller knows
// declared objects, scopes and instants; the engine plans, applies to the
// identity store and reports each object's state. The real adapter
// (engine-adapter.ts) runs syncToStore over a Store; tests can put a small
// in-memory engine behind the same interface.
import type { GatehouseObject, ObjectRef } from '../../model/index.js';
import type { ObjectState, SyncScope } from '../../reconcile/types.js';
import type { ObjectIndex, Violation } from '../../rules/types.js';
import type { LeadershipToken } from '../../store/fence.js';
import type { AuditCheckpoint } from '../../store/audit-key.js';
import type { WorkspaceReview } from '../../review/review.js';

export type { ObjectState, SyncScope };

export interface EngineSyncResult {
  /** False when nothing was written (a dry run, or everything in scope was held). */
  applied: boolean;
  /** Rule violations of the objects in scope. */
  violations: Violation[];
  /** The earliest instant something in scope changes by itself (an expiry): reconcile again then. */
  nextChangeAt?: Date;
  /** The same, per object in scope (`Kind/namespace/name`), so a batch can come back for each at its own time. */
  nextChangeAtByRef: Map<string, Date>;
  /** Objects whose rows this sync wrote (in scope, or written because an object in scope needed them). */
  changed: ObjectRef[];
  /** One per object in scope; a ref absent from `desired` reports its removal. */
  states: ObjectState[];
  /** Rows written by this sync, for the logs. */
  changes: number;
  /** A signed checkpoint of the audit log's head after this sync wrote, when an audit key is configured. */
  auditCheckpoint?: AuditCheckpoint;
}

/** Something the application recorded in the store about an object (not Gatehouse's doing). */
export interface ApplicationChange {
  ref: ObjectRef;
  /** When the invitation was accepted. */
  acceptedAt?: string;
  lastLoginAt?: string;
}

export interface AccessEngine {
  /**
   * Brings the store in line with `desired` for the objects in `scope`.
   * `desired` holds the objects in scope and what planning them reads (their
   * Workspace, a Member's Role, a grant's Member); an in-scope ref absent from
   * it is being deleted. `index`, when given, is the whole cluster's live view
   * the rules judge against (the informer cache's LiveIndex); without it,
   * `desired` is that view and must hold the objects' siblings too.
   */
  sync(desired: readonly GatehouseObject[], scope: SyncScope, at: Date, index?: ObjectIndex): Promise<EngineSyncResult>;
  /** Reads what the store says about `refs` now (invitation accepted, last login) without writing. */
  readStates(desired: readonly GatehouseObject[], refs: readonly ObjectRef[], at: Date): Promise<ObjectState[]>;
  /**
   * Optional, cheap: Members the application changed (invitation accepted,
   * login) at or after `since`, by the application's timestamps. Without it
   * the controller polls with readStates.
   */
  changedSince?(since: Date): Promise<ApplicationChange[]>;
  /**
   * Optional: the declared objects that own managed rows in the store, so
   * objects deleted while no operator watched (a finalizer stripped) are
   * found and their rows removed. Without it only deletions seen are cleaned up.
   */
  managedSources?(): Promise<ObjectRef[]>;
  /**
   * Optional: the leadership term to fence every later write with (the
   * operator sets it on becoming leader); a write after a newer leader's fails.
   */
  setLeadership?(token: LeadershipToken | undefined): void;
  /**
   * Optional: the access review of one workspace (by its workspaceId) over
   * what the store holds at `at`; undefined when the store has no such
   * workspace. Without it the operator keeps no review in Workspace status.
   */
  reviewWorkspace?(workspaceId: string, at: Date): Promise<WorkspaceReview | undefined>;
  /**
   * Optional: the evidence digest of a SupportGrant (SHA-256 over the chain
   * hashes of its audit entries); undefined when the log holds none.
   */
  grantEvidenceDigest?(ref: ObjectRef): Promise<string | undefined>;
  /** Throws when the store cannot be reached (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** An engine failure the controller retries with backoff (store unreachable, a transaction aborted). */
export class EngineError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EngineError';
  }
}
