// The identity store's tables as kysely sees them. docs/store-schema.md
// describes them for application developers; this file and the migrations
// are the source of truth.
//
// Columns differ by dialect only in representation: a timestamp is an ISO-8601
// UTC string in SQLite and a timestamptz in PostgreSQL (read back as a Date),
// a boolean is 0/1 in SQLite, a JSON value is text in SQLite and jsonb in
// PostgreSQL. The readers in ./convert.ts turn both into one shape.
import type { ColumnType, Insertable, Selectable } from 'kysely';

/** Written as an ISO-8601 string; read as a string (SQLite) or a Date (PostgreSQL). */
export type TimestampColumn = ColumnType<Date | string, string, string>;
export type NullableTimestampColumn = ColumnType<Date | string | null, string | null, string | null>;
/** Written as a boolean; read as 0/1 (SQLite) or a boolean (PostgreSQL). */
export type BooleanColumn = ColumnType<boolean | number, boolean, boolean>;
/** Written as JSON text; read as text (SQLite) or a parsed value (PostgreSQL). */
export type JsonColumn = ColumnType<unknown, string, string>;
export type NullableJsonColumn = ColumnType<unknown, string | null, string | null>;
/** Integers that may come back as strings (PostgreSQL bigint, count(*)). */
export type IntegerColumn = ColumnType<number | string, number, number>;
export type NullableIntegerColumn = ColumnType<number | string | null, number | null, number | null>;

/** Where a row came from: the declared object that owns it. */
export interface SourceColumns {
  /** Deletion policy recorded when the row was last written: Delete or Orphan. */
  deletion_policy: string;
  /** False once the owning object was removed with deletionPolicy Orphan: Gatehouse no longer manages the row. */
  managed: BooleanColumn;
  /** Kind of the owning object (a default role is owned by its Workspace). */
  source_kind: string | null;
  source_namespace: string | null;
  source_name: string | null;
  source_uid: string | null;
  /** metadata.generation of the object that last changed the row (operator). */
  source_generation: NullableIntegerColumn;
  /** File the object was read from (CLI). */
  source_file: string | null;
  /**
   * SHA-256 of the managed columns as Gatehouse last wrote them. When the
   * columns no longer match it, the row was changed outside Gatehouse (drift).
   */
  written_digest: string;
  created_at: TimestampColumn;
  updated_at: TimestampColumn;
}

export interface SchemaMigrationsTable {
  version: IntegerColumn;
  name: string;
  applied_at: TimestampColumn;
}

export interface PermissionsTable {
  permission_id: string;
  display_name: string;
  description: string;
  /** Read or Write. */
  access: string;
  sensitive: BooleanColumn;
  administrative: BooleanColumn;
  /** Part of the permission set of legacy members (role_id NULL). */
  legacy: BooleanColumn;
}

export interface WorkspacesTable extends SourceColumns {
  workspace_id: string;
  display_name: string;
  /** Required or Optional. */
  two_factor: string;
  sso_enforced: BooleanColumn;
  saml_idp_entity_id: string | null;
  saml_sso_url: string | null;
  saml_signing_certificate: string | null;
  /** JSON array of CIDR strings; empty: any network. */
  ip_allowlist: JsonColumn;
  idle_session_timeout_seconds: IntegerColumn;
  invitation_lifetime_seconds: IntegerColumn;
  max_temporary_access_seconds: NullableIntegerColumn;
  admins_min: IntegerColumn;
  admins_max: IntegerColumn;
  access_review_interval_seconds: IntegerColumn;
  inactivity_threshold_seconds: IntegerColumn;
  support_allowed: BooleanColumn;
  support_max_duration_seconds: IntegerColumn;
  support_allow_read_write: BooleanColumn;
}

export interface RolesTable extends SourceColumns {
  workspace_id: string;
  role_id: string;
  display_name: string;
  description: string;
  /** One of the profile's default roles, present in every workspace. */
  builtin: BooleanColumn;
  /** Holds a permission that changes who has access (profile adminPermissions). */
  administrative: BooleanColumn;
}

export interface RolePermissionsTable {
  workspace_id: string;
  role_id: string;
  permission_id: string;
}

export interface MembersTable extends SourceColumns {
  member_id: string;
  workspace_id: string;
  email: string;
  /** Lower-cased email: the unique key within the workspace. */
  email_normalized: string;
  display_name: string;
  phone: string | null;
  /** NULL: a legacy member with no role, who has the legacy permission set. */
  role_id: string | null;
  /** Local or SSO. */
  login_type: string;
  /** Temporary access ends at this instant; NULL: permanent. */
  expires_at: NullableTimestampColumn;
  /** Invited, Active or Expired, as of the last apply; compare times for the decision. */
  state: string;
  /** Written by the application (acceptInvitation); Gatehouse never overwrites it. */
  accepted_at: NullableTimestampColumn;
  /** Written by the application (recordLogin); Gatehouse never overwrites it. */
  last_login_at: NullableTimestampColumn;
}

export interface InvitationsTable {
  invitation_id: string;
  member_id: string;
  /** SHA-256 of the token, hex. The token itself is never stored past delivery. */
  token_hash: string;
  /** Waiting, Completed or Expired. */
  state: string;
  sender: string;
  sent_at: TimestampColumn;
  expires_at: TimestampColumn;
  /** When the invitation was accepted; written by the application. */
  responded_at: NullableTimestampColumn;
  sent_count: IntegerColumn;
  /** The Member's spec.invitation.resend this invitation answers. */
  resend_requested: IntegerColumn;
  created_at: TimestampColumn;
}

export interface InvitationOutboxTable {
  outbox_id: string;
  invitation_id: string;
  /** Plaintext token for the accept link. The row is deleted when the application's mailer takes it. */
  token: string;
  created_at: TimestampColumn;
}

export interface SupportGrantsTable extends SourceColumns {
  grant_id: string;
  workspace_id: string;
  /** The SupportGrant's name, unique in the workspace. */
  name: string;
  /** SupportTeam or Agents. */
  grantee_type: string;
  /** JSON array of agent emails (grantee_type Agents). */
  agents: JsonColumn;
  /** Workspace or Member. */
  scope_type: string;
  scope_member_email: string | null;
  /** ReadOnly or ReadWrite. */
  access_level: string;
  starts_at: TimestampColumn;
  ends_at: TimestampColumn;
  reason: string;
  ticket: string | null;
  /** Pending, Active, Expired or Revoked, as of the last apply. */
  state: string;
  revoked_at: NullableTimestampColumn;
  /** Declared (spec.revoked) or SupportAccessOff (its Workspace switched support access off); null before revocation. */
  revoked_cause: string | null;
}

/** One row per lease: the leadership term that wrote last (fencing a deposed leader). */
export interface LeadershipFenceTable {
  name: string;
  /** metadata.uid of the Lease: a re-created Lease starts counting transitions again. */
  lease_uid: string;
  /** spec.leaseTransitions when the writer acquired the Lease. */
  transitions: IntegerColumn;
  /** spec.acquireTime (RFC 3339 MicroTime), to order terms of different Leases. */
  acquire_time: string;
  holder: string;
  updated_at: TimestampColumn;
}

export interface AuditLogTable {
  seq: IntegerColumn;
  at: TimestampColumn;
  actor: string;
  action: string;
  object_kind: string | null;
  object_namespace: string | null;
  object_name: string | null;
  object_uid: string | null;
  object_generation: NullableIntegerColumn;
  source_file: string | null;
  workspace_id: string | null;
  before: NullableJsonColumn;
  after: NullableJsonColumn;
  reason: string;
  prev_hash: string;
  hash: string;
  /** The audit key that authenticated the entry (schema version 5); NULL when written without one. */
  key_id: string | null;
  /** HMAC-SHA256 of the hash under that key (src/store/audit-key.ts). */
  mac: string | null;
  /** Salted digest of the entry's personal values, kept in audit_personal (schema version 5). */
  personal_digest: string | null;
}

/** An audit entry's personal values (emails, names, phones), deleted on an erasure request. */
export interface AuditPersonalTable {
  seq: IntegerColumn;
  salt: string;
  /** Canonical JSON of the values, verbatim. */
  data: string;
}

/** The newest entry of the audit log, so that cutting entries off its end is detected too. */
export interface AuditHeadTable {
  id: IntegerColumn;
  seq: IntegerColumn;
  hash: string;
}

export interface ApiTokensTable {
  token_id: string;
  /** Unique name a person gives the token (the application it was made for). */
  name: string;
  /** SHA-256 of the token, hex. The token is shown once, when created. */
  token_hash: string;
  created_by: string;
  created_at: TimestampColumn;
  revoked_at: NullableTimestampColumn;
}

export interface PermissionUsageTable {
  workspace_id: string;
  email_normalized: string;
  permission_id: string;
  allowed_count: IntegerColumn;
  first_allowed_at: TimestampColumn;
  last_allowed_at: TimestampColumn;
}

export interface SamlAssertionsSeenTable {
  assertion_id: string;
  workspace_id: string;
  expires_at: TimestampColumn;
}

/** A DELETE the validating webhook admitted: who asked to delete which object (by uid). */
export interface DeletionClaimsTable {
  object_uid: string;
  /** The Kubernetes user of the admission request. */
  username: string;
  kind: string;
  namespace: string;
  name: string;
  claimed_at: TimestampColumn;
}

/**
 * SQLite only: one row whose version moves, by trigger, with every change to the tables the
 * decision API caches (PostgreSQL notifies instead). The decision API polls it.
 */
export interface FactChangesTable {
  id: number;
  version: number;
}

export interface Database {
  gatehouse_schema_migrations: SchemaMigrationsTable;
  permissions: PermissionsTable;
  workspaces: WorkspacesTable;
  roles: RolesTable;
  role_permissions: RolePermissionsTable;
  members: MembersTable;
  invitations: InvitationsTable;
  invitation_outbox: InvitationOutboxTable;
  support_grants: SupportGrantsTable;
  leadership_fence: LeadershipFenceTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  api_tokens: ApiTokensTable;
  permission_usage: PermissionUsageTable;
  saml_assertions_seen: SamlAssertionsSeenTable;
  audit_personal: AuditPersonalTable;
  deletion_claims: DeletionClaimsTable;
  fact_changes: FactChangesTable;
}

export type WorkspaceRow = Selectable<WorkspacesTable>;
export type NewWorkspaceRow = Insertable<WorkspacesTable>;
export type RoleRow = Selectable<RolesTable>;
export type MemberRow = Selectable<MembersTable>;
export type InvitationRow = Selectable<InvitationsTable>;
export type SupportGrantRow = Selectable<SupportGrantsTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
