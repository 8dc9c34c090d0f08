// The rules engine's entry points: one object (admission, reconcile), all
// declared objects (validate, plan) and a deletion.
import { privateKeyViolations } from './secret-material.js';
import { isKind, KIND_NAMES, type GatehouseObject } from '../model/kinds.js';
import type { Member } from '../model/member.js';
import type { Role } from '../model/role.js';
import type { SupportGrant } from '../model/support-grant.js';
import type { Workspace } from '../model/workspace.js';
import { describe, listNames, makeCheck, plural, type Check } from './check-context.js';
import { immutableFields, workspaceRefImmutable } from './common-rules.js';
import { checkMember, MEMBER_IMMUTABLE_FIELDS } from './member-rules.js';
import { createObjectIndex, keyOf, nameOf, namespaceOf, safeRefOf, workspaceNameOf } from './object-index.js';
import { checkRole } from './role-rules.js';
import { checkSupportGrant } from './support-grant-rules.js';
import type { Operation, RecordedObject, RuleContext, Violation } from './types.js';
import { checkWorkspace, WORKSPACE_IMMUTABLE_FIELDS } from './workspace-rules.js';
import { RuleWorld } from './world.js';

/** The context checkObjects takes: declared state has no operation and no old version. */
export type DeclaredContext = Omit<RuleContext, 'index' | 'operation' | 'oldObject'>;

function runRules(
  object: GatehouseObject,
  world: RuleWorld,
  operation: Operation | undefined,
  oldObject: GatehouseObject | undefined,
): Violation[] {
  const out: Violation[] = [];
  if (object === null || typeof object !== 'object' || !isKind((object as { kind?: unknown }).kind)) {
    const kind = (object as { kind?: unknown } | null)?.kind;
    out.push({
      ruleId: 'SchemaInvalid',
      severity: 'error',
      // Not one of the kinds; the ref carries what was given so the caller can name it.
      object: { kind: String(kind) as GatehouseObject['kind'], namespace: namespaceOf(object), name: nameOf(object) },
      field: 'kind',
      message: `kind ${JSON.stringify(typeof kind === 'string' ? kind : null)} is not a Gatehouse kind; use one of ${KIND_NAMES.join(', ')}`,
    });
    return out;
  }
  const ref = safeRefOf(object);
  const problems = world.schemaProblems(object);
  if (problems.length > 0) {
    // Later rules read fields the schema guarantees, so they wait until it passes.
    for (const problem of problems) {
      out.push({ ruleId: 'SchemaInvalid', severity: 'error', object: ref, field: problem.path, message: problem.message });
    }
    return out;
  }
  // Key material is refused before anything else reads the object.
  const keys = privateKeyViolations(object, ref);
  if (keys.length > 0) return [...out, ...keys];
  const previous = previousVersion(object, world, operation, oldObject);
  const deleting = object.metadata.deletionTimestamp !== undefined;
  const check = makeCheck(object, ref, world, operation, previous, out);
  if (deleting) {
    // An object on its way out (finalizers being removed) is only held to
    // immutability; blocking its last updates would block the deletion.
    if (object.kind === 'Workspace') immutableFields(check as Check<Workspace>, WORKSPACE_IMMUTABLE_FIELDS);
    else if (object.kind === 'Member') immutableFields(check as Check<Member>, MEMBER_IMMUTABLE_FIELDS);
    else immutableFields(check as Check<Role | SupportGrant>, [workspaceRefImmutable]);
    return out;
  }
  switch (object.kind) {
    case 'Workspace':
      checkWorkspace(check as Check<Workspace>);
      break;
    case 'Role':
      checkRole(check as Check<Role>);
      break;
    case 'Member':
      checkMember(check as Check<Member>);
      break;
    case 'SupportGrant':
      checkSupportGrant(check as Check<SupportGrant>);
      break;
  }
  return out;
}

function previousVersion(
  object: GatehouseObject,
  world: RuleWorld,
  operation: Operation | undefined,
  oldObject: GatehouseObject | undefined,
): GatehouseObject | undefined {
  if (operation === undefined) {
    // Declared state against a store: what was applied is the previous version.
    const recorded = world.recordOf(object);
    return recorded === undefined ? undefined : previousFromRecord(object, recorded, world);
  }
  if (operation !== 'UPDATE') return undefined;
  const candidate = oldObject ?? world.storedVersionOf(object);
  if (candidate === undefined || candidate === null || candidate.kind !== object.kind || !world.isValid(candidate)) return undefined;
  return candidate;
}

/**
 * The object as the identity store last had it: the declaration with the
 * recorded values of the fields the rules compare across a change.
 */
export function previousFromRecord(object: GatehouseObject, recorded: RecordedObject, world: RuleWorld): GatehouseObject | undefined {
  if (object.kind !== 'Workspace' && recorded.workspaceId !== undefined) {
    const workspaceRef = recordedWorkspaceRef(object, recorded.workspaceId, world);
    if (workspaceRef !== object.spec.workspaceRef.name) object = { ...object, spec: { ...object.spec, workspaceRef: { name: workspaceRef } } } as typeof object;
  }
  switch (object.kind) {
    case 'Workspace': {
      const spec = { ...object.spec };
      if (recorded.workspaceId !== undefined) spec.workspaceId = recorded.workspaceId;
      if (recorded.ssoEnforced !== undefined && spec.sso !== undefined) spec.sso = { ...spec.sso, enforced: recorded.ssoEnforced };
      return { ...object, spec };
    }
    case 'Member': {
      const spec = { ...object.spec };
      if (recorded.email !== undefined) spec.email = recorded.email;
      if (recorded.displayName !== undefined) spec.displayName = recorded.displayName;
      if (recorded.invitationResend !== undefined) spec.invitation = { ...spec.invitation, resend: recorded.invitationResend };
      return { ...object, spec };
    }
    case 'SupportGrant':
      return { ...object, spec: { ...object.spec, revoked: recorded.revokedByDeclaration === true ? true : object.spec.revoked } };
    case 'Role':
      return object;
  }
}

/**
 * The name of the Workspace an object's row was written under: its declared
 * Workspace when that is the one the store has the row in (by the Workspace's
 * own record, so a Workspace whose id was edited does not move its members),
 * else the declared Workspace with that id, else the id itself.
 */
function recordedWorkspaceRef(object: Exclude<GatehouseObject, Workspace>, workspaceId: string, world: RuleWorld): string {
  const namespace = namespaceOf(object);
  const current = world.find('Workspace', namespace, object.spec.workspaceRef.name);
  if (current !== undefined && (world.recordOf(current)?.workspaceId ?? current.spec?.workspaceId) === workspaceId) return object.spec.workspaceRef.name;
  if (current !== undefined && current.spec?.workspaceId === workspaceId) return object.spec.workspaceRef.name;
  const other = world
    .listWorkspaces(namespace)
    .find((w) => (world.recordOf(w)?.workspaceId ?? w.spec?.workspaceId) === workspaceId);
  return other?.metadata.name ?? `(the workspace with id ${workspaceId})`;
}

/**
 * Checks one object: its schema, its own rules and the rules that relate it to
 * the objects in `ctx.index`. An object in the index with the same
 * kind/namespace/name is taken as this object's previous version and replaced.
 */
export function checkObject(object: GatehouseObject, ctx: RuleContext): Violation[] {
  // Something that is not an object of a known kind replaces nothing in the index.
  const overlay = isKind((object as { kind?: unknown } | null)?.kind) ? object : undefined;
  const world = new RuleWorld(ctx.index, ctx.profile, ctx.at, overlay, ctx.recorded);
  return runRules(object, world, ctx.operation, ctx.oldObject);
}

/**
 * Checks every object as declared together (a folder, the cluster's state).
 * Returns one list per input object, in input order; `checkObjects` flattens it.
 * Near-linear: derived views (members per workspace, admins, emails) are
 * computed once and shared.
 */
export function checkObjectsByObject(objects: readonly GatehouseObject[], ctx: DeclaredContext): Violation[][] {
  const index = createObjectIndex(objects);
  const world = new RuleWorld(index, ctx.profile, ctx.at, undefined, ctx.recorded);
  const counts = new Map<string, number>();
  for (const object of objects) {
    if (!isKind(object?.kind)) continue;
    const key = keyOf(object);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return objects.map((object) => {
    if (!isKind(object?.kind)) return runRules(object, world, undefined, undefined);
    const indexed = index.get(object.kind, namespaceOf(object), nameOf(object)) === object;
    // A second declaration of the same object sees the others with itself in place.
    const violations = runRules(object, indexed ? world : new RuleWorld(index, ctx.profile, ctx.at, object, ctx.recorded), undefined, undefined);
    const count = counts.get(keyOf(object)) ?? 1;
    if (count > 1) {
      violations.unshift({
        ruleId: 'DuplicateObject',
        severity: 'error',
        object: safeRefOf(object),
        field: 'metadata.name',
        message: `${describe(object)} is declared ${count} times; the later declarations would overwrite each other, so keep exactly one (or rename the others)`,
      });
    }
    return violations;
  });
}

/** Checks every object as declared together; duplicates are reported on each copy. */
export function checkObjects(objects: readonly GatehouseObject[], ctx: DeclaredContext): Violation[] {
  return checkObjectsByObject(objects, ctx).flat();
}

/**
 * Checks the deletion of an object against what still refers to it.
 * RoleInUse is an error (seed: a role assigned to members cannot be deleted).
 * WorkspaceInUse is a warning: GitOps tools prune a Workspace and its objects
 * together in any order, and refusing would leave them stuck half-deleted; the
 * warning tells a person at kubectl what the deletion takes with it.
 * Deleting the last admins warns with TooFewAdmins.
 */
export function checkDeletion(object: GatehouseObject, ctx: RuleContext): Violation[] {
  const out: Violation[] = [];
  if (object === null || typeof object !== 'object' || !isKind(object.kind)) return out;
  const world = new RuleWorld(ctx.index, ctx.profile, ctx.at);
  const ref = safeRefOf(object);
  const namespace = ref.namespace;
  const name = ref.name;
  const report = (ruleId: Violation['ruleId'], severity: Violation['severity'], field: string, message: string) =>
    out.push({ ruleId, severity, object: ref, field, message });
  const others = <T extends GatehouseObject>(list: readonly T[]) => list.filter((o) => keyOf(o) !== keyOf(object));

  switch (object.kind) {
    case 'Role': {
      const workspace = workspaceNameOf(object);
      const members = others(ctx.index.list('Member', namespace)).filter(
        (m) => (m.spec as { role?: unknown } | undefined)?.role === name && (workspace === undefined || workspaceNameOf(m) === workspace),
      );
      if (members.length > 0) {
        report(
          'RoleInUse',
          'error',
          '',
          `${describe(object)} is still assigned to ${plural(members.length, 'member')} (${listNames(members.map(nameOf))}); change their spec.role or delete them first, then delete the Role`,
        );
      }
      break;
    }
    case 'Workspace': {
      const counts = (['Role', 'Member', 'SupportGrant'] as const)
        .map((kind) => [kind, others(ctx.index.list(kind, namespace)).filter((o) => workspaceNameOf(o) === name).length] as const)
        .filter(([, count]) => count > 0);
      if (counts.length > 0) {
        const orphan = (object.spec as { deletionPolicy?: unknown } | undefined)?.deletionPolicy === 'Orphan';
        report(
          'WorkspaceInUse',
          'warning',
          '',
          `${describe(object)} still has ${counts.map(([kind, count]) => plural(count, kind)).join(', ')}; ${
            orphan
              ? 'with deletionPolicy Orphan its records stay in the identity store'
              : 'deleting it removes the workspace and every member\'s access from the identity store'
          }. Delete or move those objects first if that is not intended`,
        );
      }
      break;
    }
    case 'Member': {
      if (!world.isValid(object)) break;
      const found = world.workspaceOf(object);
      if (found.state !== 'ok' || !world.isAdmin(object)) break;
      const policy = world.policyOf(found.workspace);
      const remaining = world.adminsOf(namespace, found.workspace.metadata.name).admins.filter((m) => keyOf(m) !== keyOf(object));
      if (remaining.length < policy.adminsMin) {
        report(
          'TooFewAdmins',
          'warning',
          '',
          `${describe(object)} is an admin; without it ${describe(found.workspace)} has ${plural(remaining.length, 'admin')}, fewer than spec.admins.min (${policy.adminsMin}); make sure someone else can still manage the workspace`,
        );
      }
      break;
    }
    case 'SupportGrant':
      break;
  }
  return out;
}

export function hasErrors(violations: readonly Violation[]): boolean {
  return violations.some((v) => v.severity === 'error');
}
