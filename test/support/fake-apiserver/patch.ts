// Patch semantics the API server implements: JSON merge patch (RFC 7386),
// JSON patch (RFC 6902) and an approximation of server-side apply's field
// ownership (managedFields in FieldsV1 form).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const aKeys = Object.keys(a).filter((k) => a[k] !== undefined);
    const bKeys = Object.keys(b).filter((k) => b[k] !== undefined);
    if (aKeys.length !== bKeys.length) return false;
    return aKeys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

export class JsonPatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonPatchError';
  }
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new JsonPatchError(`JSON pointer "${pointer}" must start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function resolveParent(doc: Json, tokens: string[], path: string): { parent: JsonObject | Json[]; key: string } {
  let node: Json = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(token)] as Json;
    else if (isPlainObject(node)) node = node[token] as Json;
    else node = undefined as unknown as Json;
    if (node === undefined) throw new JsonPatchError(`path ${path} does not exist`);
  }
  if (!Array.isArray(node) && !isPlainObject(node)) throw new JsonPatchError(`path ${path}: parent is not a container`);
  return { parent: node, key: tokens[tokens.length - 1] as string };
}

function getAt(doc: Json, path: string): Json {
  let node: Json | undefined = doc;
  for (const token of parsePointer(path)) {
    if (Array.isArray(node)) node = node[Number(token)];
    else if (isPlainObject(node)) node = node[token];
    else node = undefined;
    if (node === undefined) throw new JsonPatchError(`path ${path} does not exist`);
  }
  return node;
}

function removeAt(doc: Json, path: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw new JsonPatchError('cannot remove the whole document');
  const { parent, key } = resolveParent(doc, tokens, path);
  if (Array.isArray(parent)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= parent.length) throw new JsonPatchError(`path ${path} does not exist`);
    return parent.splice(index, 1)[0] as Json;
  }
  if (!Object.hasOwn(parent, key)) throw new JsonPatchError(`path ${path} does not exist`);
  const value = parent[key] as Json;
  delete parent[key];
  return value;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = resolveParent(doc, tokens, path);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new JsonPatchError(`path ${path}: index out of range`);
    if (replace) {
      if (index >= parent.length) throw new JsonPatchError(`path ${path} does not exist`);
      parent[index] = value;
    } else parent.splice(index, 0, value);
  } else {
    if (replace && !Object.hasOwn(parent, key)) throw new JsonPatchError(`path ${path} does not exist`);
    parent[key] = value;
  }
  return doc;
}

interface JsonPatchOperation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

/** RFC 6902 on a copy of `doc`. */
export function jsonPatch(doc: Json, operations: unknown): Json {
  if (!Array.isArray(operations)) throw new JsonPatchError('a JSON patch must be an array of operations');
  let result = structuredClone(doc);
  for (const raw of operations as JsonPatchOperation[]) {
    if (!isPlainObject(raw) || typeof raw.path !== 'string') throw new JsonPatchError('each operation needs "op" and "path"');
    switch (raw.op) {
      case 'add':
        result = addAt(result, raw.path, structuredClone(raw.value as Json), false);
        break;
      case 'replace':
        result = addAt(result, raw.path, structuredClone(raw.value as Json), true);
        break;
      case 'remove':
        removeAt(result, raw.path);
        break;
      case 'move': {
        const value = removeAt(result, String(raw.from));
        result = addAt(result, raw.path, value, false);
        break;
      }
      case 'copy':
        result = addAt(result, raw.path, structuredClone(getAt(result, String(raw.from))), false);
        break;
      case 'test':
        if (!deepEqual(getAt(result, raw.path), raw.value)) throw new JsonPatchError(`testing value ${raw.path} failed`);
        break;
      default:
        throw new JsonPatchError(`unknown JSON patch operation "${String(raw.op)}"`);
    }
  }
  return result;
}

// ---- field ownership (server-side apply) ----

/** A field path as keys from the root; arrays and scalars are leaves (atomic). */
export type FieldPath = string[];

export function pathKey(path: FieldPath): string {
  return path.join('\u0000');
}

export function formatFieldPath(path: FieldPath): string {
  return `.${path.join('.')}`;
}

/** Leaf paths of a document; `{}` counts as a leaf so an empty object can be owned. */
export function leafPaths(value: Json | undefined, prefix: FieldPath = []): FieldPath[] {
  if (!isPlainObject(value)) return value === undefined ? [] : [prefix];
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  if (keys.length === 0) return prefix.length > 0 ? [prefix] : [];
  return keys.flatMap((key) => leafPaths(value[key], [...prefix, key]));
}

export function valueAt(doc: Json | undefined, path: FieldPath): Json | undefined {
  let node: Json | undefined = doc;
  for (const key of path) {
    if (!isPlainObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

export function deleteAt(doc: Json, path: FieldPath): void {
  if (path.length === 0) return;
  const parents: JsonObject[] = [];
  let node: Json | undefined = doc;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node)) return;
    parents.push(node);
    node = node[key];
  }
  if (!isPlainObject(node)) return;
  delete node[path[path.length - 1] as string];
  // Drop parents that became empty, as apply does for fields nobody owns.
  for (let i = path.length - 2; i >= 0; i -= 1) {
    const parent = parents[i] as JsonObject;
    const child = parent[path[i] as string];
    if (isPlainObject(child) && Object.keys(child).length === 0) delete parent[path[i] as string];
    else break;
  }
}

/** Objects merge recursively; arrays and scalars replace (lists are atomic here). */
export function applyMerge(target: Json | undefined, applied: Json): Json {
  if (!isPlainObject(applied) || !isPlainObject(target)) return structuredClone(applied);
  const result: JsonObject = { ...target };
  for (const [key, value] of Object.entries(applied)) {
    if (value === undefined) continue;
    result[key] = applyMerge(result[key], value);
  }
  return result;
}

/** FieldsV1 encoding: {"f:spec":{"f:role":{}}}. */
export function encodeFieldsV1(paths: FieldPath[]): JsonObject {
  const root: JsonObject = {};
  for (const path of paths) {
    let node = root;
    for (const key of path) {
      const field = `f:${key}`;
      if (!isPlainObject(node[field])) node[field] = {};
      node = node[field] as JsonObject;
    }
  }
  return root;
}

export function decodeFieldsV1(fields: Json | undefined, prefix: FieldPath = []): FieldPath[] {
  if (!isPlainObject(fields)) return [];
  const entries = Object.entries(fields).filter(([k]) => k.startsWith('f:'));
  if (entries.length === 0) return prefix.length > 0 ? [prefix] : [];
  return entries.flatMap(([key, value]) => decodeFieldsV1(value, [...prefix, key.slice(2)]));
}

/** True when one path is a prefix of the other (they touch the same data). */
export function pathsOverlap(a: FieldPath, b: FieldPath): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
