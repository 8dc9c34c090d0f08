// A small in-memory AccessEngine for the controller's tests: enough of the
// real engine's behaviour (invitations, acceptance, expiry with nextChangeAt,
// duplicate emails, missing workspaces, deletion policies) to drive every
// path of the controller, with switches to make it fail. The end-to-end tests
// use the real engine and a real SQLite store instead.
import type { GatehouseObject, Member, ObjectRef, SupportGrant } from '../../model/index.js';
import { deletionPolicyOf, supportGrantWindow } from '../../model/index.js';
import type { ObjectIndex, Violation } from '../../rules/types.js';
import { EngineError, type AccessEngine, type EngineSyncResult, type ObjectState, type SyncScope } from '../controller/engine-port.js';

interface Row {
  ref: ObjectRef;
  workspace?: string;
  email?: string;
  phase: ObjectState['phase'];
  invitation?: NonNullable<ObjectState['invitation']>;
  expiresAt?: string;
  lastLoginAt?: string;
  orphaned?: boolean;
  generation?: number;
}

const INVITATION_LIFETIME_MS = 7 * 24 * 3600_000;

function key(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

function refOf(object: GatehouseObject): ObjectRef {
  return { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name };
}

export class MemoryEngine implements AccessEngine {
  readonly rows = new Map<string, Row>();
  /** Every sync, in order: the scope's refs and the instant. */
  readonly syncs: Array<{ refs: string[]; at: string }> = [];
  #failures = 0;
  #failureMessage = 'the store is unreachable';
  #failureMatch: ((refs: readonly ObjectRef[]) => boolean) | undefined;
  #failDeletes = 0;
  down = false;
  closed = false;
  /** Called at the start of every sync, before anything is written (tests assert what holds then). */
  beforeSync: ((refs: readonly ObjectRef[]) => void) | undefined;

  /** The next `count` syncs (whose scope `match` accepts, if given) throw. */
  failNext(count: number, options: { message?: string; match?: (refs: readonly ObjectRef[]) => boolean } = {}): void {
    this.#failures = count;
    this.#failureMessage = options.message ?? 'the store is unreachable';
    this.#failureMatch = options.match;
  }

  /** The next `count` syncs that delete something throw. */
  failDeletes(count: number): void {
    this.#failDeletes = count;
  }

  /** The application accepted a member's invitation. */
  acceptInvitation(namespace: string, name: string, at: Date): void {
    const row = this.rows.get(`Member/${namespace}/${name}`);
    if (row?.invitation === undefined) throw new Error(`no invitation for Member ${namespace}/${name}`);
    row.invitation = { ...row.invitation, state: 'Completed', respondedAt: at.toISOString() };
    if (row.phase === 'Invited') row.phase = 'Active';
  }

  recordLogin(namespace: string, name: string, at: Date): void {
    const row = this.rows.get(`Member/${namespace}/${name}`);
    if (row === undefined) throw new Error(`no Member ${namespace}/${name} in the store`);
    row.lastLoginAt = at.toISOString();
  }

  row(kind: string, namespace: string, name: string): Row | undefined {
    return this.rows.get(`${kind}/${namespace}/${name}`);
  }

  async sync(desired: readonly GatehouseObject[], scope: SyncScope, at: Date, index?: ObjectIndex): Promise<EngineSyncResult> {
    await Promise.resolve();
    if (this.closed) throw new EngineError('the engine is closed');
    const refs = scope.type === 'objects' ? scope.refs : desired.map(refOf);
    if (this.#failures > 0 && (this.#failureMatch === undefined || this.#failureMatch(refs))) {
      this.#failures -= 1;
      throw new EngineError(this.#failureMessage);
    }
    this.beforeSync?.(refs);
    this.syncs.push({ refs: refs.map(key), at: at.toISOString() });
    const byKey = new Map(desired.map((o) => [key(refOf(o)), o]));
    const violations: Violation[] = [];
    const states: ObjectState[] = [];
    let changes = 0;
    let next: number | undefined;
    const changed: ObjectRef[] = [];
    const nextChangeAtByRef = new Map<string, Date>();
    for (const ref of refs) {
      const object = byKey.get(key(ref));
      if (object === undefined) {
        if (this.#failDeletes > 0) {
          this.#failDeletes -= 1;
          throw new EngineError('cannot delete: the store is unreachable');
        }
        const row = this.rows.get(key(ref));
        if (row === undefined) {
          states.push(this.#state(ref, 'Pending', 'Removed', 'Not in the store.', false, false));
          continue;
        }
        if (row.orphaned) {
          states.push(this.#state(ref, row.phase, 'Orphaned', 'Left in the store (deletionPolicy Orphan), no longer managed.', false, true));
          continue;
        }
        if ((row as Row & { policy?: string }).policy === 'Orphan') {
          row.orphaned = true;
          states.push(this.#state(ref, row.phase, 'Orphaned', 'Left in the store (deletionPolicy Orphan).', false, true));
        } else {
          this.rows.delete(key(ref));
          if (ref.kind === 'Workspace') {
            for (const [k, r] of this.rows) if (r.workspace === `${ref.namespace}/${ref.name}`) this.rows.delete(k);
          }
          states.push(this.#state(ref, 'Terminating', 'Removed', 'Removed from the store.', false, false));
        }
        changes += 1;
        changed.push(ref);
        continue;
      }
      const objectViolations = this.#check(object, desired, index);
      violations.push(...objectViolations);
      if (objectViolations.some((v) => v.severity === 'error')) {
        const row = this.rows.get(key(ref));
        states.push({ ...this.#state(ref, 'Failed', objectViolations[0]?.ruleId ?? 'Held', 'Held by rule errors.', false, row !== undefined), violations: objectViolations });
        continue;
      }
      const result = this.#write(object, at);
      if (result.changed) {
        changes += 1;
        changed.push(ref);
      }
      states.push(result.state);
      if (result.nextChangeAt !== undefined) nextChangeAtByRef.set(key(ref), new Date(result.nextChangeAt));
      if (result.nextChangeAt !== undefined && (next === undefined || result.nextChangeAt < next)) next = result.nextChangeAt;
    }
    return { applied: changes > 0, violations, states, changes, changed, nextChangeAtByRef, ...(next !== undefined ? { nextChangeAt: new Date(next) } : {}) };
  }

  async readStates(desired: readonly GatehouseObject[], refs: readonly ObjectRef[], at: Date): Promise<ObjectState[]> {
    void desired;
    void at;
    if (this.down) throw new EngineError('the store is unreachable');
    return refs.map((ref) => {
      const row = this.rows.get(key(ref));
      return row === undefined ? this.#state(ref, 'Pending', 'NotApplied', 'Not in the store.', false, false) : this.#rowState(row);
    });
  }

  async ping(): Promise<void> {
    if (this.down) throw new EngineError('the store is unreachable');
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Like the real engine, judges against the index when given (the operator's live cache), else `desired`. */
  #check(object: GatehouseObject, desired: readonly GatehouseObject[], index: ObjectIndex | undefined): Violation[] {
    if (object.kind === 'Workspace') return [];
    const namespace = object.metadata.namespace ?? 'default';
    const ws = object.spec.workspaceRef.name;
    const violation = (ruleId: string, field: string, message: string): Violation => ({ ruleId, severity: 'error', object: refOf(object), field, message });
    const workspaceExists =
      index !== undefined
        ? index.get('Workspace', namespace, ws) !== undefined
        : desired.some((o) => o.kind === 'Workspace' && o.metadata.name === ws && (o.metadata.namespace ?? 'default') === namespace);
    if (!workspaceExists) {
      return [violation('UnknownWorkspace', 'spec.workspaceRef.name', `Workspace ${ws} does not exist in namespace ${namespace}.`)];
    }
    if (object.kind === 'Member') {
      const email = object.spec.email.toLowerCase();
      const others = (index !== undefined ? (index.list('Member', namespace) as readonly GatehouseObject[]) : desired).filter(
        (o): o is Member => o.kind === 'Member' && o !== object && o.metadata.name !== object.metadata.name && o.spec.workspaceRef.name === ws && o.spec.email.toLowerCase() === email,
      );
      if (others.length > 0) {
        return [violation('DuplicateEmail', 'spec.email', `Member ${others.map((o) => o.metadata.name).join(', ')} of Workspace ${ws} has the same email; an email is unique in a workspace.`)];
      }
    }
    return [];
  }

  #write(object: GatehouseObject, at: Date): { state: ObjectState; changed: boolean; nextChangeAt?: number } {
    const ref = refOf(object);
    const existing = this.rows.get(key(ref));
    const namespace = ref.namespace;
    if (object.kind !== 'Workspace') {
      const wsRow = this.rows.get(`Workspace/${namespace}/${object.spec.workspaceRef.name}`);
      if (wsRow === undefined) {
        return { state: this.#state(ref, 'Pending', 'DependencyNotReady', `Workspace ${object.spec.workspaceRef.name} is not in the store yet.`, false, false), changed: false };
      }
    }
    const policy = deletionPolicyOf(object as { spec: { deletionPolicy?: 'Delete' | 'Orphan' } });
    const workspace = object.kind === 'Workspace' ? `${namespace}/${object.metadata.name}` : `${namespace}/${object.spec.workspaceRef.name}`;
    const row: Row & { policy?: string } = existing ?? { ref, phase: 'Pending', workspace };
    row.policy = policy;
    let changed = existing === undefined || existing.generation !== object.metadata.generation;
    row.generation = object.metadata.generation ?? 0;
    let nextChangeAt: number | undefined;
    if (object.kind === 'Member') {
      row.email = object.spec.email.toLowerCase();
      if (row.invitation === undefined) {
        row.invitation = { state: 'Waiting', sentAt: at.toISOString(), expiresAt: new Date(at.getTime() + INVITATION_LIFETIME_MS).toISOString(), sentCount: 1 };
        row.phase = 'Invited';
      }
      if (object.spec.expiresAt !== undefined) {
        row.expiresAt = new Date(object.spec.expiresAt).toISOString();
        if (at.getTime() >= new Date(object.spec.expiresAt).getTime()) {
          if (row.phase !== 'Expired') changed = true;
          row.phase = 'Expired';
        } else {
          nextChangeAt = new Date(object.spec.expiresAt).getTime();
          if (row.phase === 'Expired') row.phase = row.invitation.state === 'Completed' ? 'Active' : 'Invited';
        }
      } else {
        delete row.expiresAt;
      }
    } else if (object.kind === 'SupportGrant') {
      const window = supportGrantWindow(object as SupportGrant, new Date(object.metadata.creationTimestamp ?? at));
      if (object.spec.revoked) row.phase = 'Revoked';
      else if (window !== undefined && at >= window.endsAt) row.phase = 'Expired';
      else {
        row.phase = 'Active';
        if (window !== undefined) nextChangeAt = window.endsAt.getTime();
      }
      if (window !== undefined) row.expiresAt = window.endsAt.toISOString();
    } else {
      row.phase = 'Ready';
    }
    this.rows.set(key(ref), row);
    return { state: this.#rowState(row), changed, ...(nextChangeAt !== undefined ? { nextChangeAt } : {}) };
  }

  #rowState(row: Row): ObjectState {
    const reasons: Record<string, [string, string]> = {
      Invited: ['Invited', 'The invitation is waiting to be accepted.'],
      Active: ['Activated', 'The member accepted the invitation.'],
      Expired: ['Expired', 'Access reached its end time.'],
      Revoked: ['Revoked', 'Support access was revoked.'],
      Ready: ['Synced', 'In the identity store as declared.'],
    };
    const [reason, message] = reasons[row.phase] ?? ['Synced', 'In the store.'];
    const ready = row.phase === 'Invited' || row.phase === 'Active' || row.phase === 'Ready';
    const state = this.#state(row.ref, row.phase, reason, message, ready, true);
    if (row.ref.kind === 'Member') {
      if (row.invitation) state.invitation = { ...row.invitation };
      if (row.expiresAt) state.expiresAt = row.expiresAt;
      if (row.lastLoginAt) state.lastLoginAt = row.lastLoginAt;
      state.role = 'viewer';
    }
    if (row.ref.kind === 'SupportGrant' && row.expiresAt) state.endsAt = row.expiresAt;
    if (row.ref.kind === 'Workspace') {
      const members = [...this.rows.values()].filter((r) => r.ref.kind === 'Member' && r.workspace === `${row.ref.namespace}/${row.ref.name}`);
      state.memberCount = members.filter((r) => r.phase === 'Invited' || r.phase === 'Active').length;
      state.adminCount = 0;
      state.activeSupportGrants = [...this.rows.values()].filter(
        (r) => r.ref.kind === 'SupportGrant' && r.workspace === `${row.ref.namespace}/${row.ref.name}` && r.phase === 'Active',
      ).length;
    }
    return state;
  }

  #state(ref: ObjectRef, phase: ObjectState['phase'], reason: string, message: string, ready: boolean, inStore: boolean): ObjectState {
    return { ref, phase, reason, message, ready, inStore, violations: [] };
  }
}
