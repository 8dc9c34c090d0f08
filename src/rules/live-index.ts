// An ObjectIndex kept up to date one object at a time, for a long-lived view
// such as the operator's informer cache: put() and delete() cost what the
// object touches (its kind, namespace and workspace buckets, its email and
// role), never a scan of its workspace. Besides the ObjectIndex lookups it
// keeps the views checks of a Member would otherwise rebuild per check
// (members by email, members by role), so checking one Member of a
// 10,000-member workspace reads a handful of entries. `gatehouse validate`
// and plan/apply keep the SnapshotIndex, built once per run.
//
// Order: an object put again moves to the end of every list it is in, so all
// lists follow the order objects were last put (as an informer's store does).
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

const EMPTY: readonly never[] = Object.freeze([]);
const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();

/** What an object's entry touches, computed once when it is put so delete() needs no re-reading. */
interface Entry {
  object: GatehouseObject;
  listKeys: string[];
  /** Members that pass their schema: the workspace key and the email and role they are filed under. */
  member?: { workspace: string; email: string; role: string | undefined };
}

export class LiveIndex implements ObjectIndex {
  readonly #entries = new Map<string, Entry>();
  /** `kind`, `kind\0namespace` and `kind\0namespace\0workspace` -> objects. */
  readonly #lists = new Map<string, Bucket>();
  /** `namespace\0workspace` -> normalized email -> Members (valid ones). */
  readonly #emails = new Map<string, Map<string, Member[]>>();
  /** `namespace\0workspace` -> spec.role -> Members (valid ones). */
  readonly #roles = new Map<string, Map<string | undefined, Set<Member>>>();

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
    const listKeys: string[] = [object.kind, `${object.kind}\u0000${namespace}`];
    const workspace = object.kind === 'Workspace' ? undefined : workspaceNameOf(object);
    if (workspace !== undefined) listKeys.push(objectKey(object.kind, namespace, workspace));
    const entry: Entry = { object, listKeys };
    for (const listKey of listKeys) {
      let bucket = this.#lists.get(listKey);
      if (bucket === undefined) this.#lists.set(listKey, (bucket = new Bucket()));
      bucket.set(key, object);
    }
    if (object.kind === 'Member' && workspace !== undefined && passesSchema(object)) {
      const member = { workspace: `${namespace}\u0000${workspace}`, email: normalizeEmail(object.spec.email), role: object.spec.role };
      entry.member = member;
      let emails = this.#emails.get(member.workspace);
      if (emails === undefined) this.#emails.set(member.workspace, (emails = new Map()));
      const same = emails.get(member.email);
      if (same === undefined) emails.set(member.email, [object]);
      else same.push(object);
      let roles = this.#roles.get(member.workspace);
      if (roles === undefined) this.#roles.set(member.workspace, (roles = new Map()));
      const withRole = roles.get(member.role);
      if (withRole === undefined) roles.set(member.role, new Set([object]));
      else withRole.add(object);
    }
    this.#entries.set(key, entry);
  }

  /** Removes the object with this kind/namespace/name, if indexed. */
  delete(object: GatehouseObject): void {
    if (isKind(object?.kind)) this.#remove(keyOf(object));
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    for (const listKey of entry.listKeys) {
      const bucket = this.#lists.get(listKey);
      bucket?.delete(key);
      if (bucket?.objects.size === 0) this.#lists.delete(listKey);
    }
    const member = entry.member;
    if (member === undefined) return;
    const emails = this.#emails.get(member.workspace);
    const same = emails?.get(member.email);
    if (emails !== undefined && same !== undefined) {
      const at = same.indexOf(entry.object as Member);
      if (at >= 0) same.splice(at, 1);
      if (same.length === 0) emails.delete(member.email);
      if (emails.size === 0) this.#emails.delete(member.workspace);
    }
    const roles = this.#roles.get(member.workspace);
    const withRole = roles?.get(member.role);
    if (roles !== undefined && withRole !== undefined) {
      withRole.delete(entry.object as Member);
      if (withRole.size === 0) roles.delete(member.role);
      if (roles.size === 0) this.#roles.delete(member.workspace);
    }
  }

  list<K extends Kind>(kind: K, namespace?: string): readonly ObjectOfKind<K>[] {
    const bucket = this.#lists.get(namespace === undefined ? kind : `${kind}\u0000${namespace}`);
    return (bucket?.list() ?? EMPTY) as ObjectOfKind<K>[];
  }

  get<K extends Kind>(kind: K, namespace: string, name: string): ObjectOfKind<K> | undefined {
    return this.#entries.get(objectKey(kind, namespace, name))?.object as ObjectOfKind<K> | undefined;
  }

  listInWorkspace<K extends WorkspaceScopedKind>(kind: K, namespace: string, workspace: string): readonly ObjectOfKind<K>[] {
    return (this.#lists.get(objectKey(kind, namespace, workspace))?.list() ?? EMPTY) as ObjectOfKind<K>[];
  }

  membersByEmail(namespace: string, workspace: string): ReadonlyMap<string, readonly Member[]> {
    return this.#emails.get(`${namespace}\u0000${workspace}`) ?? EMPTY_MAP;
  }

  membersByRole(namespace: string, workspace: string): ReadonlyMap<string | undefined, ReadonlySet<Member>> {
    return this.#roles.get(`${namespace}\u0000${workspace}`) ?? EMPTY_MAP;
  }
}

