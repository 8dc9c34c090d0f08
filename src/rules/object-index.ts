// A read-only snapshot of declared objects with the lookups rules need:
// by kind/namespace/name, by kind and namespace, and by workspace. Built once in
// O(n); every lookup is a map read.
import { isKind, type GatehouseObject, type Kind, type ObjectOfKind, type ObjectRef } from '../model/kinds.js';
import type { ObjectIndex, WorkspaceScopedKind } from './types.js';

const DEFAULT_NAMESPACE = 'default';

// Objects reaching the rules may be malformed (a file, an admission request that
// failed its schema), so these read identity fields without trusting their types.
function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function nameOf(object: unknown): string {
  const name = record(record(object)?.metadata)?.name;
  return typeof name === 'string' ? name : '';
}

export function namespaceOf(object: unknown): string {
  const namespace = record(record(object)?.metadata)?.namespace;
  return typeof namespace === 'string' && namespace !== '' ? namespace : DEFAULT_NAMESPACE;
}

/** spec.workspaceRef.name, when it is a string. */
export function workspaceNameOf(object: unknown): string | undefined {
  const name = record(record(record(object)?.spec)?.workspaceRef)?.name;
  return typeof name === 'string' ? name : undefined;
}

/** An ObjectRef that never throws, whatever the object's shape. */
export function safeRefOf(object: GatehouseObject): ObjectRef {
  return { kind: object.kind, namespace: namespaceOf(object), name: nameOf(object) };
}

export function objectKey(kind: string, namespace: string, name: string): string {
  // NUL cannot occur in Kubernetes names, so keys never collide.
  return `${kind}\u0000${namespace}\u0000${name}`;
}

export function keyOf(object: GatehouseObject): string {
  return objectKey(object.kind, namespaceOf(object), nameOf(object));
}

/** The index createObjectIndex returns; also usable by callers that want the maps. */
export class SnapshotIndex implements ObjectIndex {
  readonly #byKey = new Map<string, GatehouseObject>();
  readonly #byKindNamespace = new Map<string, GatehouseObject[]>();
  readonly #byKind = new Map<Kind, GatehouseObject[]>();
  readonly #byWorkspace = new Map<string, GatehouseObject[]>();

  constructor(objects: readonly GatehouseObject[]) {
    for (const object of objects) {
      if (!isKind(object?.kind)) continue;
      const key = keyOf(object);
      // The first declaration wins; checkObjects reports the others as duplicates.
      if (this.#byKey.has(key)) continue;
      this.#byKey.set(key, object);
      const namespace = namespaceOf(object);
      push(this.#byKind, object.kind, object);
      push(this.#byKindNamespace, `${object.kind}\u0000${namespace}`, object);
      const workspace = object.kind === 'Workspace' ? undefined : workspaceNameOf(object);
      if (workspace !== undefined) push(this.#byWorkspace, objectKey(object.kind, namespace, workspace), object);
    }
  }

  get size(): number {
    return this.#byKey.size;
  }

  list<K extends Kind>(kind: K, namespace?: string): readonly ObjectOfKind<K>[] {
    const list = namespace === undefined ? this.#byKind.get(kind) : this.#byKindNamespace.get(`${kind}\u0000${namespace}`);
    return (list ?? []) as ObjectOfKind<K>[];
  }

  get<K extends Kind>(kind: K, namespace: string, name: string): ObjectOfKind<K> | undefined {
    return this.#byKey.get(objectKey(kind, namespace, name)) as ObjectOfKind<K> | undefined;
  }

  listInWorkspace<K extends WorkspaceScopedKind>(kind: K, namespace: string, workspace: string): readonly ObjectOfKind<K>[] {
    return (this.#byWorkspace.get(objectKey(kind, namespace, workspace)) ?? []) as ObjectOfKind<K>[];
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/**
 * Indexes objects for the rules. When the same kind/namespace/name occurs more
 * than once, the first is indexed (checkObjects reports the duplicates).
 */
export function createObjectIndex(objects: readonly GatehouseObject[]): SnapshotIndex {
  return new SnapshotIndex(objects);
}

/**
 * A base index with a few objects laid over it: objects the base has not
 * seen yet (a cache a moment behind the API server). An overlaid object
 * replaces the base's copy of the same kind/namespace/name. The optional
 * views (membersByEmail, membersByRole) are left out, so rules derive them.
 */
export class OverlayIndex implements ObjectIndex {
  readonly #extra: SnapshotIndex;

  constructor(
    private readonly base: ObjectIndex,
    extra: readonly GatehouseObject[],
  ) {
    this.#extra = new SnapshotIndex(extra);
  }

  get<K extends Kind>(kind: K, namespace: string, name: string): ObjectOfKind<K> | undefined {
    return this.#extra.get(kind, namespace, name) ?? this.base.get(kind, namespace, name);
  }

  list<K extends Kind>(kind: K, namespace?: string): readonly ObjectOfKind<K>[] {
    return this.#merge(this.base.list(kind, namespace), this.#extra.list(kind, namespace));
  }

  listInWorkspace<K extends WorkspaceScopedKind>(kind: K, namespace: string, workspace: string): readonly ObjectOfKind<K>[] {
    const base = this.base.listInWorkspace?.(kind, namespace, workspace) ?? this.base.list(kind, namespace).filter((o) => workspaceNameOf(o) === workspace);
    return this.#merge(base, this.#extra.listInWorkspace(kind, namespace, workspace));
  }

  #merge<T extends GatehouseObject>(base: readonly T[], extra: readonly T[]): readonly T[] {
    if (extra.length === 0) return base;
    return [...base.filter((o) => this.#extra.get(o.kind, namespaceOf(o), nameOf(o)) === undefined), ...extra];
  }
}
