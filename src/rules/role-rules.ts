// Rules of a custom Role: known permissions, a name that is not a default
// role's, and (at admission) no back door around admins.max.
import { grantsAdmin, type Profile } from '../model/profile.js';
import type { Role } from '../model/role.js';
import { looksLike, normalizeName } from '../model/text.js';
import { describe, listNames, plural, type Check } from './check-context.js';
import { duplicateItems, immutableFields, workspaceFor, workspaceRefImmutable } from './common-rules.js';
import { keyOf, nameOf, namespaceOf } from './object-index.js';

export function checkRole(c: Check<Role>): void {
  const role = c.object;
  immutableFields(c, [workspaceRefImmutable]);
  checkPermissions(c);
  checkReservedNames(c);
  const workspace = workspaceFor(c);
  if (workspace === undefined) return;

  const namespace = namespaceOf(role);
  const sameName = c.world.rolesByDisplayName(namespace, workspace.metadata.name).get(role.spec.displayName.toLowerCase()) ?? [];
  const others = sameName.filter((other) => keyOf(other) !== keyOf(role));
  if (others.length > 0) {
    c.report(
      'DuplicateRoleDisplayName',
      'warning',
      'spec.displayName',
      `spec.displayName "${role.spec.displayName}" is also the name of ${listNames(others.map(describe))} in ${describe(workspace)}; people choosing a role cannot tell them apart, so give each a distinct name`,
    );
  }

  // A Role edit can turn its members into admins without any Member changing,
  // so admission checks admins.max here too. Declared state (validate, the
  // reconciler) reports TooManyAdmins on the Members instead.
  if (c.operation !== 'CREATE' && c.operation !== 'UPDATE') return;
  if (!grantsAdmin(c.profile, role.spec.permissions)) return;
  if (c.previous !== undefined && grantsAdmin(c.profile, c.previous.spec.permissions)) return;
  const policy = c.world.policyOf(workspace);
  const { admins } = c.world.adminsOf(namespace, workspace.metadata.name);
  const made = admins.filter((m) => m.spec.role === role.metadata.name);
  if (made.length > 0 && admins.length > policy.adminsMax) {
    c.report(
      'TooManyAdmins',
      'error',
      'spec.permissions',
      `with these permissions the Role makes ${plural(made.length, 'member')} (${listNames(made.map(nameOf))}) administrators, bringing ${describe(workspace)} to ${admins.length}, more than spec.admins.max (${policy.adminsMax}); follow the minimum-permission rule: leave out ${listNames([...c.profile.adminPermissions])}, or raise spec.admins.max on ${describe(workspace)}`,
    );
  }
}

function checkPermissions(c: Check<Role>): void {
  const permissions = c.object.spec.permissions;
  duplicateItems(c, 'spec.permissions', permissions);
  permissions.forEach((permission, i) => {
    if (c.profile.permissions.has(permission)) return;
    const suggestion = suggestPermission(c.profile, permission);
    c.report(
      'UnknownPermission',
      'error',
      `spec.permissions[${i}]`,
      suggestion !== undefined
        ? `"${permission}" is not a permission; did you mean "${suggestion}"?`
        : `"${permission}" is not a permission of product profile "${c.profile.name}"; use one of ${[...c.profile.permissions.keys()].join(', ')}`,
    );
  });
}

function normalize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** A catalog id the user probably meant: same letters in another case or spelling ("View Dashboard", "view_dashboard"). */
export function suggestPermission(profile: Profile, text: string): string | undefined {
  const wanted = normalize(text);
  for (const [id, info] of profile.permissions) {
    if (normalize(id) === wanted || normalize(info.displayName) === wanted) return id;
  }
  return undefined;
}

function checkReservedNames(c: Check<Role>): void {
  const role = c.object;
  const defaults = [...c.profile.defaultRoles.keys()].join(', ');
  const reserved = (name: string) => c.profile.reservedRoleNames.has(normalizeName(name)) || [...c.profile.reservedRoleNames].some((r) => looksLike(name, r));
  if (reserved(role.metadata.name)) {
    c.report(
      'ReservedRoleName',
      'error',
      'metadata.name',
      `"${role.metadata.name}" is the name of a default role (${defaults}), which every workspace already has and which cannot be changed; choose another name, or assign the default role to Members directly`,
    );
  }
  if (reserved(role.spec.displayName)) {
    c.report(
      'ReservedRoleName',
      'error',
      'spec.displayName',
      `spec.displayName "${role.spec.displayName}" is a default role's name (${defaults}); choose a name people will not confuse with it`,
    );
  }
}
