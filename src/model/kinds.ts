// The four kinds of gatehouse.dev/v1alpha1 and everything that is said of
// each kind once: names, schemas, printer columns. CRDs, RBAC, the validator
// and the watches are all derived from this table.
import type { TObject } from '@sinclair/typebox';
import { API_GROUP, API_VERSION, API_VERSION_NAME } from './common.js';
import { MemberSpecSchema, MemberStatusSchema, type Member } from './member.js';
import { RoleSpecSchema, RoleStatusSchema, type Role } from './role.js';
import { SupportGrantSpecSchema, SupportGrantStatusSchema, type SupportGrant } from './support-grant.js';
import { WorkspaceSpecSchema, WorkspaceStatusSchema, type Workspace } from './workspace.js';

export type GatehouseObject = Workspace | Role | Member | SupportGrant;
export type Kind = GatehouseObject['kind'];
export type ObjectOfKind<K extends Kind> = Extract<GatehouseObject, { kind: K }>;

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean' | 'number';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindInfo {
  kind: Kind;
  plural: string;
  singular: string;
  listKind: string;
  shortNames: string[];
  description: string;
  specSchema: TObject;
  statusSchema: TObject;
  printerColumns: PrinterColumn[];
}

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the object is in effect in the identity store.',
};
const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};
const workspaceRefColumn: PrinterColumn = {
  name: 'Workspace',
  type: 'string',
  jsonPath: '.spec.workspaceRef.name',
  description: 'The Workspace this object belongs to.',
};

export const KINDS: Record<Kind, KindInfo> = {
  Workspace: {
    kind: 'Workspace',
    plural: 'workspaces',
    singular: 'workspace',
    listKind: 'WorkspaceList',
    shortNames: ['gws'],
    description:
      'A Workspace is a tenant of the SaaS product and its security policy: 2FA, SSO, IP allowlist, session timeout, invitation and temporary access limits, administrator bounds, access review and vendor support access.',
    specSchema: WorkspaceSpecSchema,
    statusSchema: WorkspaceStatusSchema,
    printerColumns: [
      { name: 'Workspace-ID', type: 'string', jsonPath: '.spec.workspaceId', description: 'Stable id in the identity store.' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary for people.' },
      { name: 'Members', type: 'integer', jsonPath: '.status.memberCount', description: 'Members with access now.' },
      { name: 'Admins', type: 'integer', jsonPath: '.status.adminCount', description: 'Members with an administrative role.' },
      readyColumn,
      ageColumn,
    ],
  },
  Role: {
    kind: 'Role',
    plural: 'roles',
    singular: 'role',
    listKind: 'RoleList',
    shortNames: ['grole'],
    description: 'A Role is a custom role in one Workspace: a named set of permissions from the product\'s catalog.',
    specSchema: RoleSpecSchema,
    statusSchema: RoleStatusSchema,
    printerColumns: [
      workspaceRefColumn,
      { name: 'Display-Name', type: 'string', jsonPath: '.spec.displayName', description: 'Name shown to people.' },
      { name: 'Members', type: 'integer', jsonPath: '.status.memberCount', description: 'Members this role is assigned to.' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary for people.' },
      readyColumn,
      ageColumn,
    ],
  },
  Member: {
    kind: 'Member',
    plural: 'members',
    singular: 'member',
    listKind: 'MemberList',
    shortNames: ['gmember', 'gm'],
    description: 'A Member is one person\'s access to one Workspace: email, role, login type and, for temporary access, when it ends.',
    specSchema: MemberSpecSchema,
    statusSchema: MemberStatusSchema,
    printerColumns: [
      workspaceRefColumn,
      { name: 'Email', type: 'string', jsonPath: '.spec.email', description: 'Email the member logs in with.' },
      { name: 'Role', type: 'string', jsonPath: '.spec.role', description: 'Role given to the member.' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Pending, Invited, Active, Expired or Failed.' },
      // A string, not a date: kubectl renders a date column as an age, and a future one as <invalid>.
      { name: 'Expires', type: 'string', jsonPath: '.spec.expiresAt', description: 'When temporary access ends (RFC 3339).' },
      readyColumn,
      ageColumn,
      { name: 'Last-Login', type: 'date', jsonPath: '.status.lastLoginAt', description: 'Last login recorded by the application.', priority: 1 },
    ],
  },
  SupportGrant: {
    kind: 'SupportGrant',
    plural: 'supportgrants',
    singular: 'supportgrant',
    listKind: 'SupportGrantList',
    shortNames: ['sg'],
    description: 'A SupportGrant lets the vendor\'s support team into a Workspace, read-only by default, for a limited time, with a reason.',
    specSchema: SupportGrantSpecSchema,
    statusSchema: SupportGrantStatusSchema,
    printerColumns: [
      workspaceRefColumn,
      { name: 'Grantee', type: 'string', jsonPath: '.spec.grantee.type', description: 'SupportTeam or Agents.' },
      { name: 'Access', type: 'string', jsonPath: '.spec.accessLevel', description: 'ReadOnly or ReadWrite.' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Pending, Active, Expired, Revoked or Failed.' },
      { name: 'Expires', type: 'string', jsonPath: '.status.endsAt', description: 'When access ends (RFC 3339).' },
      readyColumn,
      ageColumn,
    ],
  },
};

export const KIND_NAMES = Object.keys(KINDS) as Kind[];

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && Object.hasOwn(KINDS, value);
}

export function isGatehouseApiVersion(apiVersion: unknown): boolean {
  return typeof apiVersion === 'string' && apiVersion.split('/')[0] === API_GROUP;
}

export { API_GROUP, API_VERSION, API_VERSION_NAME };

/** A stable, printable reference to one object. */
export interface ObjectRef {
  kind: Kind;
  namespace: string;
  name: string;
}

export function refOf(obj: { kind: Kind; metadata: { name: string; namespace?: string } }): ObjectRef {
  return { kind: obj.kind, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name };
}

export function formatRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace}/${ref.name}`;
}
