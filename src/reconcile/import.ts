// What an identity store already holds, turned back into declared objects
// (`gatehouse import`): the inverse of ./desired.ts. Pure. Rows that a declared
// object owns keep its namespace and name; rows no object owns (written by the
// application or by hand) get names made from their ids and emails.
import { API_VERSION } from '../model/common.js';
import type { GatehouseObject } from '../model/kinds.js';
import type { Member } from '../model/member.js';
import type { Role } from '../model/role.js';
import type { SupportGrant } from '../model/support-grant.js';
import type { Workspace } from '../model/workspace.js';
import { DEFAULTS } from '../model/policy.js';
import { tryParseDuration } from '../model/duration.js';
import type { MemberRecord, SupportGrantRecord, WorkspaceRecord } from './records.js';
import type { ObservedStore } from './types.js';

export interface ImportedWorkspace {
  workspaceId: string;
  namespace: string;
  /** The Workspace first, then its Roles, Members and SupportGrants, each sorted by name. */
  objects: GatehouseObject[];
}

/** A DNS-1123 label made from any text: lower case, [a-z0-9-], at most 63 characters. */
export function toLabel(text: string, fallback: string): string {
  const label = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label === '' ? fallback : label;
}

/** Seconds as a duration the schema accepts: whole hours, else minutes, else seconds. */
export function secondsToDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Names unique within one namespace: a second "ada" becomes "ada-2". */
class NameBook {
  readonly #taken = new Set<string>();
  take(wanted: string): string {
    let name = wanted;
    for (let n = 2; this.#taken.has(name); n += 1) name = `${wanted.slice(0, 60)}-${n}`;
    this.#taken.add(name);
    return name;
  }
}

const defaulted = <T>(value: T, fallback: T) => (value === fallback ? undefined : value);
/** The duration field, left out when it is the default (so files stay short and plans stay empty). */
function durationField(seconds: number, fallback: string): string | undefined {
  return tryParseDuration(fallback) === seconds * 1000 ? undefined : secondsToDuration(seconds);
}

function compact<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      const inner = compact(item as object);
      if (Object.keys(inner).length > 0) out[key] = inner;
    } else {
      out[key] = item;
    }
  }
  return out as T;
}

function workspaceObject(record: WorkspaceRecord, namespace: string, name: string): Workspace {
  const spec = compact({
    workspaceId: record.workspaceId,
    displayName: record.displayName,
    twoFactor: defaulted(record.twoFactor, DEFAULTS.twoFactor) as Workspace['spec']['twoFactor'],
    sso:
      record.samlIdpEntityId !== undefined && record.samlSsoUrl !== undefined && record.samlSigningCertificate !== undefined
        ? {
            enforced: record.ssoEnforced ? true : undefined,
            saml: { idpEntityId: record.samlIdpEntityId, ssoUrl: record.samlSsoUrl, signingCertificate: record.samlSigningCertificate },
          }
        : undefined,
    ipAllowlist: record.ipAllowlist.length > 0 ? [...record.ipAllowlist] : undefined,
    idleSessionTimeout: durationField(record.idleSessionTimeoutSeconds, DEFAULTS.idleSessionTimeout),
    invitationLifetime: durationField(record.invitationLifetimeSeconds, DEFAULTS.invitationLifetime),
    maxTemporaryAccess: record.maxTemporaryAccessSeconds === undefined ? undefined : secondsToDuration(record.maxTemporaryAccessSeconds),
    admins: { min: defaulted(record.adminsMin, DEFAULTS.adminsMin), max: defaulted(record.adminsMax, DEFAULTS.adminsMax) },
    accessReview: {
      interval: durationField(record.accessReviewIntervalSeconds, DEFAULTS.accessReviewInterval),
      inactivityThreshold: durationField(record.inactivityThresholdSeconds, DEFAULTS.inactivityThreshold),
    },
    supportAccess: {
      allowed: defaulted(record.supportAllowed, DEFAULTS.supportAllowed),
      maxDuration: durationField(record.supportMaxDurationSeconds, DEFAULTS.supportMaxDuration),
      allowReadWrite: defaulted(record.supportAllowReadWrite, DEFAULTS.supportAllowReadWrite),
    },
    deletionPolicy: defaulted(record.deletionPolicy, DEFAULTS.deletionPolicy),
  }) as Workspace['spec'];
  return { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name, namespace }, spec } as Workspace;
}

function memberObject(record: MemberRecord, namespace: string, name: string, workspace: string): Member {
  const spec = compact({
    workspaceRef: { name: workspace },
    email: record.email,
    displayName: record.displayName,
    phone: record.phone,
    role: record.roleId,
    loginType: defaulted(record.loginType, DEFAULTS.loginType),
    expiresAt: record.expiresAt,
    invitation: record.invitation !== undefined && record.invitation.resendRequested > 0 ? { resend: record.invitation.resendRequested } : undefined,
    deletionPolicy: defaulted(record.deletionPolicy, DEFAULTS.deletionPolicy),
  }) as Member['spec'];
  return { apiVersion: API_VERSION, kind: 'Member', metadata: { name, namespace }, spec } as Member;
}

function grantObject(record: SupportGrantRecord, namespace: string, name: string, workspace: string, memberNames: Map<string, string>): SupportGrant {
  const scopeMember = record.scopeMemberEmail === undefined ? undefined : memberNames.get(record.scopeMemberEmail);
  const spec = compact({
    workspaceRef: { name: workspace },
    grantee: { type: record.granteeType, agents: record.granteeType === 'Agents' ? [...record.agents] : undefined },
    scope: { type: record.scopeType, memberRef: scopeMember === undefined ? undefined : { name: scopeMember } },
    accessLevel: defaulted(record.accessLevel, DEFAULTS.accessLevel),
    startsAt: record.startsAt,
    endsAt: record.endsAt,
    reason: record.reason,
    ticket: record.ticket,
    revoked: record.state === 'Revoked' ? true : undefined,
    deletionPolicy: defaulted(record.deletionPolicy, DEFAULTS.deletionPolicy),
  }) as SupportGrant['spec'];
  return { apiVersion: API_VERSION, kind: 'SupportGrant', metadata: { name, namespace }, spec } as SupportGrant;
}

/**
 * The objects that declare what the store holds, one group per workspace
 * (only `workspaceId` when given). The product's default roles are not
 * declared objects (every Workspace has them) and are left out.
 */
export function importObjects(observed: ObservedStore, workspaceId?: string): ImportedWorkspace[] {
  const byName = (a: { metadata: { name: string } }, b: { metadata: { name: string } }) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);
  const usedNamespaces = new NameBook();
  const out: ImportedWorkspace[] = [];
  const workspaces = [...observed.workspaces.values()]
    .filter((w) => workspaceId === undefined || w.workspaceId === workspaceId)
    .sort((a, b) => (a.workspaceId < b.workspaceId ? -1 : 1));
  for (const record of workspaces) {
    const namespace = usedNamespaces.take(record.source?.kind === 'Workspace' ? record.source.namespace : toLabel(record.workspaceId, 'workspace'));
    // A row keeps its owner's name when the owner lives in this namespace.
    const ownName = (source: { namespace: string; name: string } | undefined, kind: string, rowKind: string | undefined) =>
      source !== undefined && rowKind === kind && source.namespace === namespace ? source.name : undefined;
    const names = new NameBook();
    const workspaceName = names.take(ownName(record.source, 'Workspace', record.source?.kind) ?? toLabel(record.workspaceId, 'workspace'));
    const objects: GatehouseObject[] = [workspaceObject(record, namespace, workspaceName)];

    const roles: Role[] = [];
    for (const role of observed.roles.values()) {
      if (role.workspaceId !== record.workspaceId || role.builtin) continue;
      // A Role's name is its role id: the id cannot change, so it cannot be renamed on import.
      names.take(role.roleId);
      const spec = compact({
        workspaceRef: { name: workspaceName },
        displayName: role.displayName,
        description: role.description === '' ? undefined : role.description,
        permissions: [...role.permissions],
        deletionPolicy: defaulted(role.deletionPolicy, DEFAULTS.deletionPolicy),
      }) as Role['spec'];
      roles.push({ apiVersion: API_VERSION, kind: 'Role', metadata: { name: role.roleId, namespace }, spec } as Role);
    }

    const members: Member[] = [];
    const memberNames = new Map<string, string>();
    const memberRecords = [...observed.members.values()]
      .filter((m) => m.workspaceId === record.workspaceId)
      .sort((a, b) => (a.emailNormalized < b.emailNormalized ? -1 : 1));
    for (const member of memberRecords) {
      const name = names.take(ownName(member.source, 'Member', member.source?.kind) ?? toLabel(member.emailNormalized.split('@')[0] ?? '', 'member'));
      memberNames.set(member.emailNormalized, name);
      members.push(memberObject(member, namespace, name, workspaceName));
    }

    const grants: SupportGrant[] = [];
    for (const grant of observed.grants.values()) {
      if (grant.workspaceId !== record.workspaceId) continue;
      // A SupportGrant's name is its key in the store, like a Role's id.
      names.take(grant.name);
      grants.push(grantObject(grant, namespace, grant.name, workspaceName, memberNames));
    }
    objects.push(...roles.sort(byName), ...members.sort(byName), ...grants.sort(byName));
    out.push({ workspaceId: record.workspaceId, namespace, objects });
  }
  return out;
}
