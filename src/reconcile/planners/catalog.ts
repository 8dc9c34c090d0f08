// The product profile's permission catalog: one update when the store's
// differs. Compared field by field (no serialisation): it runs on every sync.
import type { Profile } from '../../model/profile.js';
import { permissionRecords } from '../desired.js';
import type { FieldChange, PermissionRecord } from '../records.js';
import { compareStrings, type PlanContext } from './context.js';

const PERMISSION_FIELDS = ['permissionId', 'displayName', 'description', 'access', 'sensitive', 'administrative', 'legacy'] as const;

function samePermission(a: PermissionRecord, b: PermissionRecord): boolean {
  return PERMISSION_FIELDS.every((field) => a[field] === b[field]);
}

function sameCatalog(a: readonly PermissionRecord[], b: readonly PermissionRecord[]): boolean {
  return a.length === b.length && a.every((p, i) => samePermission(p, b[i] as PermissionRecord));
}

// A profile is fixed for a process's life: its catalog is made once.
const catalogs = new WeakMap<Profile, readonly PermissionRecord[]>();

function catalogOf(profile: Profile): readonly PermissionRecord[] {
  let records = catalogs.get(profile);
  if (records === undefined) catalogs.set(profile, (records = permissionRecords(profile)));
  return records;
}

export function planCatalog(ctx: PlanContext): void {
  const desired = catalogOf(ctx.profile);
  const observed = [...ctx.observed.permissions].sort((a, b) => compareStrings(a.permissionId, b.permissionId));
  if (sameCatalog(desired, observed)) return;
  const changes: FieldChange[] = [];
  if (observed.length === 0) {
    changes.push({ field: 'permissions', from: null, to: desired.length });
  } else {
    const before = new Map(observed.map((p) => [p.permissionId, p]));
    const after = new Map(desired.map((p) => [p.permissionId, p]));
    for (const [id, permission] of after) {
      const was = before.get(id);
      if (was === undefined) changes.push({ field: `permission ${id}`, from: null, to: 'added' });
      else if (!samePermission(was, permission)) changes.push({ field: `permission ${id}`, from: 'as before', to: 'changed' });
    }
    for (const id of before.keys()) if (!after.has(id)) changes.push({ field: `permission ${id}`, from: 'present', to: null });
  }
  ctx.actions.push({
    target: 'catalog',
    op: 'update',
    key: 'permissions',
    reason: observed.length === 0 ? "the product profile's permission catalog is not in the store" : "the product profile's permission catalog changed",
    drift: false,
    changes,
    permissions: desired.map((p) => ({ ...p })),
  });
}
