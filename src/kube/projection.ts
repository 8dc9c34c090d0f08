// What the operator's cache keeps of an object: the object without what only
// the API server and kubectl read (managedFields, the kubectl last-applied
// annotation), with its repeated strings shared. managedFields alone is most
// of a Member as the API server sends it (one entry per field manager, each a
// tree of every field it owns), and JSON.parse gives every copy of
// "gatehouse.dev/v1alpha1", a namespace, a role or a condition message its own
// string: at 10,000 Members that is tens of megabytes the rules, the planner
// and the status writer never read.
import type { KubeObject } from './client.js';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Shares equal strings. Bounded: when full it starts again empty (strings
 * already shared stay shared; only later copies stop being deduplicated), so
 * ever-new values (timestamps) cannot grow it without end.
 */
export class StringPool {
  readonly #strings = new Map<string, string>();

  constructor(
    readonly maxEntries = 50_000,
    readonly maxLength = 256,
  ) {}

  get size(): number {
    return this.#strings.size;
  }

  intern(value: string): string {
    if (value.length > this.maxLength) return value;
    const known = this.#strings.get(value);
    if (known !== undefined) return known;
    if (this.#strings.size >= this.maxEntries) this.#strings.clear();
    this.#strings.set(value, value);
    return value;
  }
}

/** Every string in a JSON value shared through the pool (keys are shared by V8 already). */
function internDeep(value: unknown, pool: StringPool): unknown {
  if (typeof value === 'string') return pool.intern(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) value[i] = internDeep(value[i], pool);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = internDeep(record[key], pool);
  }
  return value;
}

// Spec fields whose values repeat across objects: references and role names.
// Free text (emails, display names) is unique per object and is not pooled.
const SHARED_SPEC_FIELDS = new Set(['role', 'kind', 'type', 'workspaceId']);

function internSpec(spec: unknown, pool: StringPool): unknown {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return spec;
  const record = spec as Record<string, unknown>;
  for (const [key, value] of Object.entries(record)) {
    if (typeof value === 'string') {
      if (SHARED_SPEC_FIELDS.has(key)) record[key] = pool.intern(value);
    } else if (value !== null && typeof value === 'object') {
      // Nested values are references ({ name }) and lists of role names and permissions.
      record[key] = internDeep(value, pool);
    }
  }
  return spec;
}

/**
 * The cache's copy of an object: managedFields and the last-applied
 * annotation dropped, strings shared. Changes `object` in place (it is the
 * freshly parsed copy from a list, a watch or a write, referenced nowhere
 * else) and returns it.
 */
export function compactObject<T extends KubeObject>(object: T, pool: StringPool): T {
  // A new metadata object rather than `delete`: a deleted property turns a V8
  // object into a slower, larger dictionary (about 1 KiB more per object).
  const { managedFields: _managed, annotations, ...kept } = object.metadata;
  const metadata: KubeObject['metadata'] = kept;
  if (annotations !== undefined) {
    const { [LAST_APPLIED_ANNOTATION]: _lastApplied, ...rest } = annotations;
    if (Object.keys(rest).length > 0) metadata.annotations = internDeep(rest, pool) as Record<string, string>;
  }
  object.metadata = metadata;
  if (object.apiVersion !== undefined) object.apiVersion = pool.intern(object.apiVersion);
  if (object.kind !== undefined) object.kind = pool.intern(object.kind);
  if (metadata.namespace !== undefined) metadata.namespace = pool.intern(metadata.namespace);
  if (metadata.finalizers !== undefined) internDeep(metadata.finalizers, pool);
  if (metadata.labels !== undefined) internDeep(metadata.labels, pool);
  if (typeof metadata.creationTimestamp === 'string') metadata.creationTimestamp = pool.intern(metadata.creationTimestamp);
  if ('spec' in object) internSpec(object.spec, pool);
  // Status is written by Gatehouse from a few reasons and messages: shared throughout.
  if ('status' in object) internDeep(object.status, pool);
  return object;
}
