// An ObjectIndex kept up to date one object at a time, for a long-lived view
// such as the operator's informer cache: put() and delete() cost what the
// object touches (its kind, namespace and workspace buckets, its email and
// role), never a scan of its workspace. Besides the ObjectIndex lookups it
// keeps the views checks of a Member would otherwise rebuild per check
// (members by email, members by role), so checking one Member of a
// 10,000-member workspace reads a handful of entries. `gatehouse validate`
// and plan/apply keep the SnapshotIndex, built once per run.
//
// Order: an object put again moves to the end of every list it is in, so the
// lists follow the order objects were last put (as an informer's store does);
// a cluster-wide list of a kind other than Workspace is by namespace.
import { isKind, type GatehouseObject, type Kind, type ObjectOfKind } from '../model/kinds.js';
import type { Member } from '../model/member.js';
import { normalizeEmail } from '../model/text.js';
import { keyOf, namespaceOf, objectKey, workspaceNameOf } from './object-index.js';
import type { ObjectIndex, WorkspaceScopedKind } from './types.js';
import { passesSchema } from './world.js';

/** Objects by key, with the list handed out built once per change rather than once per read. */
class Bucket {
  readonly objects = new Map<string, GatehouseObject>();
  #list: GatehouseObject[] | undefined;

  constructor(readonly key: string) {}

  set(key: string, object: GatehouseObject): void {
    this.objects.set(key, object);
    this.#list = undefined;
  }

  delete(key: string): void {
    this.objects.delete(key);
    this.#list = undefined;
  }

  list(): GatehouseObject[] {
    this.#list ??= [...this.objects.values()];
    return this.#list;
  }
}

/** The valid Members of one workspace, by email and by role. */
class WorkspaceMembers {
  readonly emails = new Map<string, Member[]>();
  readonly roles = new Map<string | undefined, Set<Member>>();

  constructor(readonly key: string) {}
}

const EMPTY: readonly never[] = Object.freeze([]);
const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();

/**
 * Where an object is filed, kept so delete() needs no re-reading. References,
 * not keys: at 100,000 objects a few strings per object are megabytes.
 */
interface Entry {
  object: GatehouseObject;
  /** Its kind-and-namespace list, its workspace's list, and (Workspaces) the kind's list. */
  buckets: Bucket[];
  /** A Member that passes its schema: its workspace's views and the email it is filed under. */
  members?: WorkspaceMembers;
  email?: string;
}

export class LiveIndex implements ObjectIndex {
  /** Every map below is keyed by the entry's key string, shared. */
  readonly #entries = new Map<string, Entry>();
  /**
   * `kind\0namespace` and `kind\0namespace\0workspace` -> objects; `Workspace`
   * -> every Workspace (the rules list them cluster-wide; other kinds are
   * listed cluster-wide by concatenating their namespaces).
   */
  readonly #lists = new Map<string, Bucket>();
  readonly #namespaces = new Map<Kind, Set<string>>();
  /** `namespace\0workspace` -> its valid Members by email and role. */
  readonly #members = new Map<string, WorkspaceMembers>();

  /** Puts each object in turn: a later object with the same kind/namespace/name replaces an earlier one. */
  constructor(objects: Iterable<GatehouseObject> = []) {
    for (const object of objects) this.put(object);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Adds an object, or replaces the indexed version with the same kind/namespace/name. */
  put(object: GatehouseObject): void {
    if (!isKind(object?.kind)) return;
    const key = keyOf(object);
    this.#remove(key);
    const namespace = namespaceOf(object);
    const workspace = object.kind === 'Workspace' ? undefined : workspaceNameOf(object);
    const buckets = [this.#bucket(`${object.kind}\u0000${namespace}`)];
    if (workspace !== undefined) buckets.push(this.#bucket(objectKey(object.kind, namespace, workspace)));
    if (object.kind === 'Workspace') buckets.push(this.#bucket(object.kind));
    for (const bucket of buckets) bucket.set(key, object);
    let namespaces = this.#namespaces.get(object.kind);
    if (namespaces === undefined) this.#namespaces.set(object.kind, (namespaces = new Set()));
    namespaces.add(namespace);
    const entry: Entry = { object, buckets };
    if (object.kind === 'Member' && workspace !== undefined && passesSchema(object)) {
      const membersKey = `${namespace}\u0000${workspace}`;
      let members = this.#members.get(membersKey);
      if (members === undefined) this.#members.set(membersKey, (members = new WorkspaceMembers(membersKey)));
      const email = normalizeEmail(object.spec.email);
      const same = members.emails.get(email);
      if (same === undefined) members.emails.set(email, [object]);
      else same.push(object);
      const withRole = members.roles.get(object.spec.role);
      if (withRole === undefined) members.roles.set(object.spec.role, new Set([object]));
      else withRole.add(object);
      entry.members = members;
      entry.email = email;
    }
    this.#entries.set(key, entry);
  }

  /** Removes the object with this kind/namespace/name, if indexed. */
  delete(object: GatehouseObject): void {
    if (isKind(object?.kind)) this.#remove(keyOf(object));
  }

  #bucket(listKey: string): Bucket {
    let bucket = this.#lists.get(listKey);
    if (bucket === undefined) this.#lists.set(listKey, (bucket = new Bucket(listKey)));
    return bucket;
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    for (const bucket of entry.buckets) {
      bucket.delete(key);
      if (bucket.objects.size === 0) this.#lists.delete(bucket.key);
    }
    const members = entry.members;
    if (members === undefined || entry.email === undefined) return;
    const member = entry.object as Member;
    const same = members.emails.get(entry.email);
    if (same !== undefined) {
      const at = same.indexOf(member);
      if (at >= 0) same.splice(at, 1);
      if (same.length === 0) members.emails.delete(entry.email);
    }
    const withRole = members.roles.get(member.spec.role);
    if (withRole !== undefined) {
      withRole.delete(member);
      if (withRole.size === 0) members.roles.delete(member.spec.role);
    }
    if (members.emails.size === 0 && members.roles.size === 0) this.#members.delete(members.key);
  }

  list<K extends Kind>(kind: K, namespace?: string): readonly ObjectOfKind<K>[] {
    if (namespace !== undefined) return (this.#lists.get(`${kind}\u0000${namespace}`)?.list() ?? EMPTY) as ObjectOfKind<K>[];
    if (kind === 'Workspace') return (this.#lists.get(kind)?.list() ?? EMPTY) as ObjectOfKind<K>[];
    const out: GatehouseObject[] = [];
    for (const ns of this.#namespaces.get(kind) ?? []) out.push(...(this.#lists.get(`${kind}\u0000${ns}`)?.list() ?? EMPTY));
    return out as ObjectOfKind<K>[];
  }

  get<K extends Kind>(kind: K, namespace: string, name: string): ObjectOfKind<K> | undefined {
    return this.#entries.get(objectKey(kind, namespace, name))?.object as ObjectOfKind<K> | undefined;
  }

  listInWorkspace<K extends WorkspaceScopedKind>(kind: K, namespace: string, workspace: string): readonly ObjectOfKind<K>[] {
    return (this.#lists.get(objectKey(kind, namespace, workspace))?.list() ?? EMPTY) as ObjectOfKind<K>[];
  }

  membersByEmail(namespace: string, workspace: string): ReadonlyMap<string, readonly Member[]> {
    return this.#members.get(`${namespace}\u0000${workspace}`)?.emails ?? EMPTY_MAP;
  }

  membersByRole(namespace: string, workspace: string): ReadonlyMap<string | undefined, ReadonlySet<Member>> {
    return this.#members.get(`${namespace}\u0000${workspace}`)?.roles ?? EMPTY_MAP;
  }
}

