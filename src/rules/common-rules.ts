// Rules shared by several kinds.
import type { GatehouseObject } from '../model/kinds.js';
import type { Member } from '../model/member.js';
import type { Role } from '../model/role.js';
import type { SupportGrant } from '../model/support-grant.js';
import type { Workspace } from '../model/workspace.js';
import { describe, type Check } from './check-context.js';
import { namespaceOf, workspaceNameOf } from './object-index.js';

type WorkspaceScoped = Role | Member | SupportGrant;

/** Reports UnknownWorkspace and returns the readable Workspace, if any. */
export function workspaceFor(c: Check<WorkspaceScoped>): Workspace | undefined {
  const found = c.world.workspaceOf(c.object);
  if (found.state === 'ok') return found.workspace;
  if (found.state === 'missing') {
    const name = workspaceNameOf(c.object) ?? '';
    const namespace = namespaceOf(c.object);
    c.report(
      'UnknownWorkspace',
      'error',
      'spec.workspaceRef.name',
      `no Workspace "${name}" in namespace ${namespace}; declare Workspace ${namespace}/${name} or name an existing one (a ${c.object.kind} belongs to a Workspace of its own namespace)`,
    );
  }
  return undefined;
}

/** Reports items of a set-like list that occur more than once. */
export function duplicateItems(
  c: Check,
  field: string,
  items: readonly string[] | undefined,
  normalize: (item: string) => string = (item) => item,
): void {
  if (items === undefined) return;
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const key = normalize(item);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else c.report('DuplicateListItem', 'error', `${field}[${i}]`, `"${item}" is already listed at ${field}[${first}]; remove one of them`);
  });
}

/** Reports ImmutableFieldChanged for each listed field whose value differs from the previous version. */
export function immutableFields<T extends GatehouseObject>(
  c: Check<T>,
  fields: ReadonlyArray<{ field: string; value: (object: T) => unknown; fix: string }>,
): void {
  const previous = c.previous;
  // previous: the old object at admission, or what the identity store recorded.
  if (previous === undefined) return;
  for (const { field, value, fix } of fields) {
    const before = value(previous);
    const after = value(c.object);
    if (before !== after) {
      c.report(
        'ImmutableFieldChanged',
        'error',
        field,
        `${field} cannot change (was ${JSON.stringify(before)}, now ${JSON.stringify(after)}) on ${describe(c.object)}; ${fix}`,
      );
    }
  }
}

export const workspaceRefImmutable = {
  field: 'spec.workspaceRef.name',
  value: (object: WorkspaceScoped) => object.spec.workspaceRef.name,
  fix: 'put it back, or delete this object and create a new one in the other Workspace',
};
