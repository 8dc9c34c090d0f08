// What the rules see of the other objects: an ObjectIndex, optionally with one
// object put in place of its stored version (the object being checked), and the
// derived views cross-object rules need (members of a workspace, admins, emails),
// each computed once per check and then reused. Only objects that pass their
// schema are read field by field; a malformed object still counts as existing,
// so one broken file does not cascade into "not found" errors elsewhere.
import { instantMs } from '../model/time.js';
import type { GatehouseObject, Kind, ObjectOfKind } from '../model/kinds.js';
import type { Member } from '../model/member.js';
import { checkObjectSchema } from '../model/object-schema.js';
import { workspacePolicy, type WorkspacePolicy } from '../model/policy.js';
import { grantsAdmin, type DefaultRole, type Profile } from '../model/profile.js';
import type { Role } from '../model/role.js';
import type { SchemaProblem } from '../model/schema-validator.js';
import type { Workspace } from '../model/workspace.js';
import { normalizeEmail } from '../model/text.js';
import { keyOf, nameOf, namespaceOf, objectKey, workspaceNameOf } from './object-index.js';
import type { ObjectIndex, RecordedObject, RecordedState, WorkspaceScopedKind } from './types.js';

/** How a Member's spec.role resolves in its workspace. */
export type ResolvedRole =
  | { type: 'default'; role: DefaultRole; permissions: readonly string[] }
  | { type: 'custom'; role: Role; permissions: readonly string[] }
  | { type: 'legacy'; permissions: readonly string[] }
  /** A Role exists by that name but cannot be read (its own schema errors are reported). */
  | { type: 'unreadable' }
  | { type: 'missing'; otherWorkspace?: string };

export interface AdminView {
  /** Members whose role grants admin and whose access has not ended, in rank order. */
  admins: readonly Member[];
  /** Rank of each admin member (0 = first); members beyond admins.max are ranked >= max. */
  rank: ReadonlyMap<Member, number>;
}

const validityOfOthers = new WeakMap<object, boolean>();

/**
 * Whether an indexed object passes its schema, remembered per object (the
 * index is read-only: an object is replaced, never changed), so admission and
 * the reconciler do not re-validate a whole workspace on every check.
 */
export function passesSchema(object: GatehouseObject): boolean {
  let valid = validityOfOthers.get(object);
  if (valid === undefined) {
    valid = checkObjectSchema(object.kind, object).length === 0;
    validityOfOthers.set(object, valid);
  }
  return valid;
}

export class RuleWorld {
  readonly #index: ObjectIndex;
  readonly #overlay: GatehouseObject | undefined;
  readonly #overlayKey: string | undefined;
  /**
   * The overlay is absent or is the very object the index holds (the
   * reconciler checks cached objects): the index's own views are then this
   * world's, and the index's membersByEmail/membersByRole are used as they are.
   */
  readonly #indexAsIs: boolean;
  readonly #schemaProblems = new Map<unknown, SchemaProblem[]>();
  readonly #inWorkspace = new Map<string, readonly GatehouseObject[]>();
  readonly #admins = new Map<string, AdminView>();
  readonly #emails = new Map<string, Map<string, Member[]>>();
  readonly #roleNames = new Map<string, Map<string, Role[]>>();
  readonly #policies = new Map<Workspace, WorkspacePolicy>();
  // The rules ask for the same object's record several times (previous version, its Workspace's id, admins).
  readonly #records = new WeakMap<GatehouseObject, RecordedObject | null>();
  #workspaceIds: Map<string, Workspace[]> | undefined;

  constructor(
    index: ObjectIndex,
    readonly profile: Profile,
    readonly at: Date,
    overlay?: GatehouseObject,
    /** The identity store's record of the declared objects, when the check has one. */
    readonly recorded?: RecordedState,
  ) {
    this.#index = index;
    this.#overlay = overlay;
    this.#overlayKey = overlay === undefined ? undefined : keyOf(overlay);
    this.#indexAsIs = overlay === undefined || index.get(overlay.kind, namespaceOf(overlay), nameOf(overlay)) === overlay;
  }

  /** Schema problems of an object, computed once per world. */
  schemaProblems(object: GatehouseObject): SchemaProblem[] {
    let problems = this.#schemaProblems.get(object);
    if (problems === undefined) {
      problems = checkObjectSchema(object.kind, object);
      this.#schemaProblems.set(object, problems);
    }
    return problems;
  }

  /**
   * Whether an object passes its schema. For the other objects (the index is
   * a read-only view, and caches such as informers replace objects rather than
   * change them) the answer is remembered across checks, so admission does not
   * re-validate a whole workspace on every request.
   */
  isValid(object: GatehouseObject): boolean {
    if ((object === this.#overlay && !this.#indexAsIs) || object === null || typeof object !== 'object') return this.schemaProblems(object).length === 0;
    return passesSchema(object);
  }

  /** The object by name, readable or not; undefined when absent. */
  find<K extends Kind>(kind: K, namespace: string, name: string): ObjectOfKind<K> | undefined {
    if (this.#overlayKey !== undefined && objectKey(kind, namespace, name) === this.#overlayKey) {
      return this.#overlay as ObjectOfKind<K>;
    }
    return this.#index.get(kind, namespace, name);
  }

  /** What the identity store recorded for an object; undefined without a store or for a new object. */
  recordOf(object: GatehouseObject): RecordedObject | undefined {
    if (this.recorded === undefined) return undefined;
    let record = this.#records.get(object);
    if (record === undefined) {
      record = this.recorded.of({ kind: object.kind, namespace: namespaceOf(object), name: nameOf(object) }) ?? null;
      this.#records.set(object, record);
    }
    return record ?? undefined;
  }

  /** The Workspaces of a namespace, readable or not. */
  listWorkspaces(namespace: string): readonly Workspace[] {
    return this.#index.list('Workspace', namespace);
  }

  /** A stored version of the overlay object, if the index holds one. */
  storedVersionOf<K extends Kind>(object: ObjectOfKind<K>): ObjectOfKind<K> | undefined {
    const stored = this.#index.get(object.kind as K, namespaceOf(object), nameOf(object));
    return stored === object ? undefined : stored;
  }

  /** The object's Workspace when it exists and is readable. */
  workspaceOf(object: GatehouseObject): { state: 'ok'; workspace: Workspace } | { state: 'missing' | 'unreadable' | 'unnamed' } {
    const name = workspaceNameOf(object);
    if (name === undefined) return { state: 'unnamed' };
    const workspace = this.find('Workspace', namespaceOf(object), name);
    if (workspace === undefined) return { state: 'missing' };
    return this.isValid(workspace) ? { state: 'ok', workspace } : { state: 'unreadable' };
  }

  policyOf(workspace: Workspace): WorkspacePolicy {
    let policy = this.#policies.get(workspace);
    if (policy === undefined) {
      policy = workspacePolicy(workspace);
      this.#policies.set(workspace, policy);
    }
    return policy;
  }

  /** Readable objects of a kind that belong to one workspace, with the overlay in place. */
  inWorkspace<K extends WorkspaceScopedKind>(kind: K, namespace: string, workspace: string): readonly ObjectOfKind<K>[] {
    const cacheKey = objectKey(kind, namespace, workspace);
    let list = this.#inWorkspace.get(cacheKey);
    if (list === undefined) {
      const stored =
        this.#index.listInWorkspace?.(kind, namespace, workspace) ??
        this.#index.list(kind, namespace).filter((o) => workspaceNameOf(o) === workspace);
      const result: GatehouseObject[] = [];
      // With the index as is, the overlay is already in `stored` in its place.
      const replaced = this.#indexAsIs ? undefined : this.#overlayKey;
      for (const object of stored) {
        if (replaced !== undefined && keyOf(object) === replaced) continue;
        if (this.isValid(object)) result.push(object);
      }
      const overlay = this.#overlay;
      if (
        !this.#indexAsIs &&
        overlay !== undefined &&
        overlay.kind === kind &&
        namespaceOf(overlay) === namespace &&
        workspaceNameOf(overlay) === workspace &&
        this.isValid(overlay)
      ) {
        result.push(overlay);
      }
      list = result;
      this.#inWorkspace.set(cacheKey, list);
    }
    return list as ObjectOfKind<K>[];
  }

  /** Readable Workspaces of every namespace by spec.workspaceId. */
  workspacesById(workspaceId: string): readonly Workspace[] {
    if (this.#workspaceIds === undefined) {
      const byId = new Map<string, Workspace[]>();
      const add = (workspace: Workspace) => {
        if (!this.isValid(workspace)) return;
        const list = byId.get(workspace.spec.workspaceId);
        if (list === undefined) byId.set(workspace.spec.workspaceId, [workspace]);
        else list.push(workspace);
      };
      for (const workspace of this.#index.list('Workspace')) {
        if (this.#overlayKey === undefined || keyOf(workspace) !== this.#overlayKey) add(workspace);
      }
      if (this.#overlay?.kind === 'Workspace') add(this.#overlay);
      this.#workspaceIds = byId;
    }
    return this.#workspaceIds.get(workspaceId) ?? [];
  }

  /** How a member's role resolves: a default role, a Role of its workspace, legacy (no role) or missing. */
  resolveRole(member: Member): ResolvedRole {
    const roleName = member.spec.role;
    if (roleName === undefined) return { type: 'legacy', permissions: this.profile.legacyPermissions };
    const defaultRole = this.profile.defaultRoles.get(roleName);
    if (defaultRole !== undefined) return { type: 'default', role: defaultRole, permissions: defaultRole.permissions };
    const role = this.find('Role', namespaceOf(member), roleName);
    if (role === undefined) return { type: 'missing' };
    const roleWorkspace = workspaceNameOf(role);
    if (roleWorkspace !== undefined && roleWorkspace !== member.spec.workspaceRef.name) {
      return { type: 'missing', otherWorkspace: roleWorkspace };
    }
    if (!this.isValid(role)) return { type: 'unreadable' };
    return { type: 'custom', role, permissions: role.spec.permissions };
  }

  /** Whether the member's access has ended at `at` (temporary access or an expired invitation). */
  hasEnded(member: Member): boolean {
    if (member.spec.expiresAt !== undefined) {
      const expiresAt = instantMs(member.spec.expiresAt);
      if (!Number.isNaN(expiresAt) && expiresAt <= this.at.getTime()) return true;
    }
    const status = member.status as { phase?: unknown; invitation?: { state?: unknown } } | undefined;
    return status?.phase === 'Expired' || status?.invitation?.state === 'Expired';
  }

  /** Whether the member holds an administrative role now. */
  isAdmin(member: Member): boolean {
    if (this.hasEnded(member)) return false;
    const resolved = this.resolveRole(member);
    return 'permissions' in resolved && grantsAdmin(this.profile, resolved.permissions);
  }

  /**
   * The admins of a workspace, ranked: oldest first by creationTimestamp, or
   * where there is none (files) by when the identity store first recorded the
   * member (an object not yet created or applied ranks last), then by name. Those ranked beyond
   * admins.max are the ones TooManyAdmins reports, so the longest-standing
   * admins keep their access.
   */
  adminsOf(namespace: string, workspace: string): AdminView {
    const cacheKey = `${namespace}\u0000${workspace}`;
    let view = this.#admins.get(cacheKey);
    if (view === undefined) {
      const admins = this.#adminCandidates(namespace, workspace).filter((m) => this.isAdmin(m));
      // Instants compared as UTC ISO strings: creationTimestamp is second-precision RFC 3339 in UTC.
      const created = (m: Member) => {
        const text = m.metadata.creationTimestamp ?? this.recordOf(m)?.since;
        const ms = instantMs(text);
        return Number.isNaN(ms) ? '\uffff' : new Date(ms).toISOString();
      };
      admins.sort((a, b) => compare(created(a), created(b)) || compare(nameOf(a), nameOf(b)));
      view = { admins, rank: new Map(admins.map((m, i) => [m, i])) };
      this.#admins.set(cacheKey, view);
    }
    return view;
  }

  /**
   * The readable members of a workspace that may be admins. With an index
   * that files members by role, only the members of roles granting admin are
   * read, not the whole workspace.
   */
  #adminCandidates(namespace: string, workspace: string): Member[] {
    const byRole = this.#indexAsIs ? this.#index.membersByRole?.(namespace, workspace) : undefined;
    if (byRole === undefined) return [...this.inWorkspace('Member', namespace, workspace)];
    const out: Member[] = [];
    for (const members of byRole.values()) {
      // Members filed under one role name in one workspace resolve alike.
      const first = members.values().next().value;
      if (first === undefined) continue;
      const resolved = this.resolveRole(first);
      if ('permissions' in resolved && grantsAdmin(this.profile, resolved.permissions)) out.push(...members);
    }
    return out;
  }

  /** Members of a workspace by lower-cased email. */
  membersByEmail(namespace: string, workspace: string): ReadonlyMap<string, readonly Member[]> {
    const indexed = this.#indexAsIs ? this.#index.membersByEmail?.(namespace, workspace) : undefined;
    if (indexed !== undefined) return indexed;
    const cacheKey = `${namespace}\u0000${workspace}`;
    let map = this.#emails.get(cacheKey);
    if (map === undefined) {
      map = new Map();
      for (const member of this.inWorkspace('Member', namespace, workspace)) {
        const email = normalizeEmail(member.spec.email);
        const list = map.get(email);
        if (list === undefined) map.set(email, [member]);
        else list.push(member);
      }
      this.#emails.set(cacheKey, map);
    }
    return map;
  }

  /** Roles of a workspace by lower-cased display name. */
  rolesByDisplayName(namespace: string, workspace: string): ReadonlyMap<string, Role[]> {
    const cacheKey = `${namespace}\u0000${workspace}`;
    let map = this.#roleNames.get(cacheKey);
    if (map === undefined) {
      map = new Map();
      for (const role of this.inWorkspace('Role', namespace, workspace)) {
        const name = role.spec.displayName.toLowerCase();
        const list = map.get(name);
        if (list === undefined) map.set(name, [role]);
        else list.push(role);
      }
      this.#roleNames.set(cacheKey, map);
    }
    return map;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
