// Runs a plan against the store inside the caller's write transaction: the
// SQL for each action, batched where actions of one kind follow each other,
// then one audit entry per action. Ids and invitation tokens are made here (the
// plan is pure); a token's plaintext goes only to the outbox.
import { hash } from 'node:crypto';
import type { Insertable, Kysely } from 'kysely';
import {
  grantDigest,
  memberDigest,
  roleDigest,
  workspaceDigest,
  type InvitationRecord,
  type MemberRecord,
  type OwnedRecord,
  type RoleRecord,
  type SupportGrantRecord,
  type WorkspaceRecord,
} from '../reconcile/records.js';
import type { ObjectRef } from '../model/kinds.js';
import type { Plan, PlanAction } from '../reconcile/types.js';
import { AuditAppender, type AuditEntryInput, type AuditObject } from './audit.js';
import type { AuditKeyring } from './audit-key.js';
import { insertRows, ROWS_PER_INSERT } from './bulk.js';
import { newId, tokenBytes } from './ids.js';
import type { Database, MembersTable, RolesTable, SupportGrantsTable, WorkspacesTable } from './schema.js';

export interface ApplyContext {
  at: Date;
  actor: string;
  /**
   * Who made the change to one object, when known (recorded instead of
   * `actor`); `uid` is the uid of the object that owns the row, so a deletion
   * is matched to the claim on that object and not on an older namesake.
   */
  actorOf?: (ref: ObjectRef, uid?: string) => string | undefined;
  /** Signs the audit entries (absent: entries carry no MAC). */
  auditKeys?: AuditKeyring;
  /** Called as groups of actions finish (the CLI shows progress with it). */
  onProgress?: (done: number, total: number) => void;
}

export interface ApplyResult {
  actions: number;
  auditEntries: number;
  invitationsSent: number;
}

/** A new invitation token (256 bits) and the hash that is all the store keeps of it. */
export function newInvitationToken(): { token: string; hash: string } {
  const token = tokenBytes().toString('base64url');
  return { token, hash: hashInvitationToken(token) };
}

export function hashInvitationToken(token: string): string {
  return hash('sha256', token, 'hex');
}

function sourceColumns(record: OwnedRecord, digest: string, at: string) {
  const s = record.source;
  return {
    deletion_policy: record.deletionPolicy,
    managed: record.managed,
    source_kind: s?.kind ?? null,
    source_namespace: s?.namespace ?? null,
    source_name: s?.name ?? null,
    source_uid: s?.uid ?? null,
    source_generation: s?.generation ?? null,
    source_file: s?.file ?? null,
    written_digest: digest,
    updated_at: at,
  };
}

function workspaceColumns(r: WorkspaceRecord, at: string) {
  return {
    display_name: r.displayName,
    two_factor: r.twoFactor,
    sso_enforced: r.ssoEnforced,
    saml_idp_entity_id: r.samlIdpEntityId ?? null,
    saml_sso_url: r.samlSsoUrl ?? null,
    saml_signing_certificate: r.samlSigningCertificate ?? null,
    ip_allowlist: JSON.stringify(r.ipAllowlist),
    idle_session_timeout_seconds: r.idleSessionTimeoutSeconds,
    invitation_lifetime_seconds: r.invitationLifetimeSeconds,
    max_temporary_access_seconds: r.maxTemporaryAccessSeconds ?? null,
    admins_min: r.adminsMin,
    admins_max: r.adminsMax,
    access_review_interval_seconds: r.accessReviewIntervalSeconds,
    inactivity_threshold_seconds: r.inactivityThresholdSeconds,
    support_allowed: r.supportAllowed,
    support_max_duration_seconds: r.supportMaxDurationSeconds,
    support_allow_read_write: r.supportAllowReadWrite,
    ...sourceColumns(r, workspaceDigest(r), at),
  };
}

function roleColumns(r: RoleRecord, at: string) {
  return {
    display_name: r.displayName,
    description: r.description,
    builtin: r.builtin,
    administrative: r.administrative,
    ...sourceColumns(r, roleDigest(r), at),
  };
}

function memberColumns(r: MemberRecord, at: string) {
  return {
    email: r.email,
    display_name: r.displayName,
    phone: r.phone ?? null,
    role_id: r.roleId ?? null,
    login_type: r.loginType,
    expires_at: r.expiresAt ?? null,
    state: r.state,
    ...sourceColumns(r, memberDigest(r), at),
  };
}

/** The row a new member is inserted as (also the raw-insert baseline of the store benchmark). */
export function newMemberRow(r: MemberRecord, memberId: string, at: string): Insertable<MembersTable> {
  return {
    member_id: memberId,
    workspace_id: r.workspaceId,
    email_normalized: r.emailNormalized,
    ...memberColumns(r, at),
    accepted_at: null,
    last_login_at: null,
    created_at: at,
  };
}

function grantColumns(r: SupportGrantRecord, at: string) {
  return {
    grantee_type: r.granteeType,
    agents: JSON.stringify(r.agents),
    scope_type: r.scopeType,
    scope_member_email: r.scopeMemberEmail ?? null,
    access_level: r.accessLevel,
    starts_at: r.startsAt,
    ends_at: r.endsAt,
    reason: r.reason,
    ticket: r.ticket ?? null,
    state: r.state,
    revoked_at: r.revokedAt ?? null,
    revoked_cause: r.revokedAt !== undefined ? (r.revokedCause ?? 'Declared') : null,
    ...sourceColumns(r, grantDigest(r), at),
  };
}

// ---- audit summaries: what a row is, for people, without secrets.

function fingerprint(text: string): string {
  return `sha256:${hash('sha256', text, 'hex').slice(0, 16)}`;
}

function workspaceSummary(r: WorkspaceRecord): Record<string, unknown> {
  return {
    workspaceId: r.workspaceId,
    displayName: r.displayName,
    twoFactor: r.twoFactor,
    ssoEnforced: r.ssoEnforced,
    samlIdpEntityId: r.samlIdpEntityId,
    samlSigningCertificate: r.samlSigningCertificate !== undefined ? fingerprint(r.samlSigningCertificate) : undefined,
    ipAllowlist: r.ipAllowlist,
    idleSessionTimeoutSeconds: r.idleSessionTimeoutSeconds,
    invitationLifetimeSeconds: r.invitationLifetimeSeconds,
    maxTemporaryAccessSeconds: r.maxTemporaryAccessSeconds,
    admins: { min: r.adminsMin, max: r.adminsMax },
    supportAllowed: r.supportAllowed,
    supportMaxDurationSeconds: r.supportMaxDurationSeconds,
    supportAllowReadWrite: r.supportAllowReadWrite,
    deletionPolicy: r.deletionPolicy,
  };
}

function roleSummary(r: RoleRecord): Record<string, unknown> {
  return { roleId: r.roleId, displayName: r.displayName, builtin: r.builtin, permissions: r.permissions, deletionPolicy: r.deletionPolicy };
}

function invitationSummary(i: InvitationRecord | undefined): Record<string, unknown> | undefined {
  return i === undefined ? undefined : { state: i.state, sentAt: i.sentAt, expiresAt: i.expiresAt, sentCount: i.sentCount };
}

function memberSummary(r: MemberRecord): Record<string, unknown> {
  return {
    email: r.email,
    displayName: r.displayName,
    phone: r.phone,
    role: r.roleId ?? null,
    loginType: r.loginType,
    expiresAt: r.expiresAt,
    state: r.state,
    invitation: invitationSummary(r.invitation),
    deletionPolicy: r.deletionPolicy,
  };
}

function grantSummary(r: SupportGrantRecord): Record<string, unknown> {
  return {
    name: r.name,
    grantee: r.granteeType,
    agents: r.agents.length > 0 ? r.agents : undefined,
    scope: r.scopeType,
    scopeMemberEmail: r.scopeMemberEmail,
    accessLevel: r.accessLevel,
    startsAt: r.startsAt,
    endsAt: r.endsAt,
    reason: r.reason,
    ticket: r.ticket,
    state: r.state,
    revokedAt: r.revokedAt,
    deletionPolicy: r.deletionPolicy,
  };
}

function summaryOf(action: PlanAction, record: unknown): Record<string, unknown> | undefined {
  switch (action.target) {
    case 'workspace':
      return workspaceSummary(record as WorkspaceRecord);
    case 'role':
      return roleSummary(record as RoleRecord);
    case 'member':
      return memberSummary(record as MemberRecord);
    case 'supportGrant':
      return grantSummary(record as SupportGrantRecord);
    case 'catalog':
      return undefined;
  }
}

function auditEntryFor(action: PlanAction, ctx: ApplyContext): AuditEntryInput {
  const target = action.target === 'supportGrant' ? 'supportgrant' : action.target;
  let before: unknown;
  let after: unknown;
  if (action.target === 'catalog') {
    after = { permissions: action.permissions.map((p) => p.permissionId) };
  } else if (action.op === 'create') {
    after = summaryOf(action, action.record);
  } else if (action.op === 'delete') {
    before = summaryOf(action, action.record);
    if (action.target === 'workspace' && action.cascade) after = { removedWith: action.cascade };
  } else if (action.op === 'forget') {
    after = { managed: false };
  } else {
    before = Object.fromEntries(action.changes.map((c) => [c.field, c.from]));
    after = Object.fromEntries(action.changes.map((c) => [c.field, c.to]));
  }
  const object: AuditObject | undefined =
    action.object === undefined
      ? undefined
      : {
          kind: action.object.kind,
          namespace: action.object.namespace,
          name: action.object.name,
          ...(action.source?.uid !== undefined ? { uid: action.source.uid } : {}),
          ...(action.source?.generation !== undefined ? { generation: action.source.generation } : {}),
          ...(action.source?.file !== undefined ? { file: action.source.file } : {}),
        };
  return {
    at: ctx.at.toISOString(),
    actor: (action.object !== undefined ? ctx.actorOf?.(action.object, action.source?.uid) : undefined) ?? ctx.actor,
    action: `${target}.${action.op}`,
    ...(object !== undefined ? { object } : {}),
    ...(action.workspaceId !== undefined ? { workspaceId: action.workspaceId } : {}),
    ...(before !== undefined ? { before } : {}),
    ...(after !== undefined ? { after } : {}),
    reason: action.drift ? `drift: ${action.reason}` : action.reason,
  };
}

/** Consecutive actions with the same target and operation, run together. */
function groups(actions: readonly PlanAction[]): PlanAction[][] {
  const out: PlanAction[][] = [];
  for (const action of actions) {
    const last = out[out.length - 1];
    const head = last?.[0];
    if (last !== undefined && head !== undefined && head.target === action.target && head.op === action.op) last.push(action);
    else out.push([action]);
  }
  return out;
}

type Action<T extends PlanAction['target']> = Extract<PlanAction, { target: T }>;

class PlanExecutor {
  readonly at: string;
  invitationsSent = 0;
  constructor(
    readonly db: Kysely<Database>,
    readonly ctx: ApplyContext,
  ) {
    this.at = ctx.at.toISOString();
  }

  async run(group: PlanAction[]): Promise<void> {
    const head = group[0] as PlanAction;
    switch (head.target) {
      case 'catalog':
        return this.catalog(group as Array<Action<'catalog'>>);
      case 'workspace':
        return this.workspaces(head.op, group as Array<Action<'workspace'>>);
      case 'role':
        return this.roles(head.op, group as Array<Action<'role'>>);
      case 'member':
        return this.members(head.op, group as Array<Action<'member'>>);
      case 'supportGrant':
        return this.grants(head.op, group as Array<Action<'supportGrant'>>);
    }
  }

  async catalog(group: Array<Action<'catalog'>>): Promise<void> {
    const last = group[group.length - 1] as Action<'catalog'>;
    await this.db.deleteFrom('permissions').execute();
    await insertRows(
      this.db,
      'permissions',
      last.permissions.map((p) => ({
        permission_id: p.permissionId,
        display_name: p.displayName,
        description: p.description,
        access: p.access,
        sensitive: p.sensitive,
        administrative: p.administrative,
        legacy: p.legacy,
      })),
    );
  }

  async workspaces(op: PlanAction['op'], group: Array<Action<'workspace'>>): Promise<void> {
    switch (op) {
      case 'create': {
        const rows: Array<Insertable<WorkspacesTable>> = group.map((a) => ({
          workspace_id: a.record.workspaceId,
          ...workspaceColumns(a.record, this.at),
          created_at: this.at,
        }));
        await insertRows(this.db, 'workspaces', rows);
        return;
      }
      case 'update':
        for (const a of group) {
          await this.db.updateTable('workspaces').set(workspaceColumns(a.record, this.at)).where('workspace_id', '=', a.record.workspaceId).execute();
        }
        return;
      case 'delete':
        for (const ids of chunkList(group.map((a) => a.record.workspaceId))) {
          await this.db.deleteFrom('workspaces').where('workspace_id', 'in', ids).execute();
        }
        return;
      case 'forget':
        for (const ids of chunkList(group.map((a) => a.record.workspaceId))) {
          await this.db.updateTable('workspaces').set({ managed: false, updated_at: this.at }).where('workspace_id', 'in', ids).execute();
        }
        return;
      default:
        throw new Error(`no such workspace operation: ${op}`);
    }
  }

  async roles(op: PlanAction['op'], group: Array<Action<'role'>>): Promise<void> {
    switch (op) {
      case 'create': {
        const rows: Array<Insertable<RolesTable>> = group.map((a) => ({
          workspace_id: a.record.workspaceId,
          role_id: a.record.roleId,
          ...roleColumns(a.record, this.at),
          created_at: this.at,
        }));
        await insertRows(this.db, 'roles', rows);
        await this.insertPermissions(group.map((a) => a.record));
        return;
      }
      case 'update':
        for (const a of group) {
          await this.db
            .updateTable('roles')
            .set(roleColumns(a.record, this.at))
            .where('workspace_id', '=', a.record.workspaceId)
            .where('role_id', '=', a.record.roleId)
            .execute();
          const before = a.before?.permissions ?? [];
          if (before.join('\n') !== a.record.permissions.join('\n')) {
            await this.db
              .deleteFrom('role_permissions')
              .where('workspace_id', '=', a.record.workspaceId)
              .where('role_id', '=', a.record.roleId)
              .execute();
            await this.insertPermissions([a.record]);
          }
        }
        return;
      case 'delete':
        for (const a of group) {
          await this.db.deleteFrom('roles').where('workspace_id', '=', a.record.workspaceId).where('role_id', '=', a.record.roleId).execute();
        }
        return;
      case 'forget':
        for (const a of group) {
          await this.db
            .updateTable('roles')
            .set({ managed: false, updated_at: this.at })
            .where('workspace_id', '=', a.record.workspaceId)
            .where('role_id', '=', a.record.roleId)
            .execute();
        }
        return;
      default:
        throw new Error(`no such role operation: ${op}`);
    }
  }

  private async insertPermissions(roles: RoleRecord[]): Promise<void> {
    const rows = roles.flatMap((r) => r.permissions.map((p) => ({ workspace_id: r.workspaceId, role_id: r.roleId, permission_id: p })));
    await insertRows(this.db, 'role_permissions', rows);
  }

  async members(op: PlanAction['op'], group: Array<Action<'member'>>): Promise<void> {
    switch (op) {
      case 'create': {
        const members: Array<Insertable<MembersTable>> = [];
        const sends: Array<{ memberId: string; record: MemberRecord; invitation: InvitationRecord }> = [];
        for (const a of group) {
          const memberId = newId();
          members.push(newMemberRow(a.record, memberId, this.at));
          if (a.invitation !== undefined) sends.push({ memberId, record: a.record, invitation: a.invitation });
        }
        await insertRows(this.db, 'members', members);
        await this.sendInvitations(sends, 'insert');
        return;
      }
      case 'update':
        for (const a of group) {
          await this.db.updateTable('members').set(memberColumns(a.record, this.at)).where('member_id', '=', memberIdOf(a)).execute();
          // An invitation cut short to the member's new end of access (the token stays).
          const invitationId = a.before?.invitation?.invitationId;
          if (a.invitation !== undefined && invitationId !== undefined && a.invitation.expiresAt !== a.before?.invitation?.expiresAt) {
            await this.db.updateTable('invitations').set({ expires_at: a.invitation.expiresAt }).where('invitation_id', '=', invitationId).execute();
          }
        }
        return;
      case 'issue-invitation':
      case 'resend-invitation': {
        for (const a of group) {
          await this.db.updateTable('members').set({ state: a.record.state, updated_at: this.at }).where('member_id', '=', memberIdOf(a)).execute();
        }
        const sends = group.map((a) => ({ memberId: memberIdOf(a), record: a.record, invitation: a.invitation as InvitationRecord }));
        await this.sendInvitations(sends, op === 'issue-invitation' ? 'insert' : 'update');
        return;
      }
      case 'expire':
      case 'expire-invitation':
        for (const a of group) {
          await this.db.updateTable('members').set({ state: a.record.state, updated_at: this.at }).where('member_id', '=', memberIdOf(a)).execute();
          const invitationId = a.before?.invitation?.invitationId;
          if (a.invitation !== undefined && invitationId !== undefined) {
            await this.db.updateTable('invitations').set({ state: a.invitation.state }).where('invitation_id', '=', invitationId).execute();
            // A token that can no longer be accepted is not delivered.
            await this.db.deleteFrom('invitation_outbox').where('invitation_id', '=', invitationId).execute();
          }
        }
        return;
      case 'delete':
        for (const ids of chunkList(group.map(memberIdOf))) {
          await this.db.deleteFrom('members').where('member_id', 'in', ids).execute();
        }
        return;
      case 'forget':
        for (const ids of chunkList(group.map(memberIdOf))) {
          await this.db.updateTable('members').set({ managed: false, updated_at: this.at }).where('member_id', 'in', ids).execute();
        }
        return;
      default:
        throw new Error(`no such member operation: ${op}`);
    }
  }

  /** Writes invitations with fresh tokens (hash in invitations, plaintext in the outbox). */
  private async sendInvitations(
    sends: Array<{ memberId: string; record: MemberRecord; invitation: InvitationRecord }>,
    mode: 'insert' | 'update',
  ): Promise<void> {
    if (sends.length === 0) return;
    const invitations: Array<Insertable<Database['invitations']>> = [];
    const outbox: Array<Insertable<Database['invitation_outbox']>> = [];
    for (const send of sends) {
      const { token, hash } = newInvitationToken();
      const invitationId = mode === 'update' ? (send.invitation.invitationId as string) : newId();
      const columns = {
        token_hash: hash,
        state: send.invitation.state,
        sender: send.invitation.sender,
        sent_at: send.invitation.sentAt,
        expires_at: send.invitation.expiresAt,
        sent_count: send.invitation.sentCount,
        resend_requested: send.invitation.resendRequested,
      };
      if (mode === 'insert') {
        invitations.push({
          invitation_id: invitationId,
          member_id: send.memberId,
          ...columns,
          responded_at: null,
          created_at: this.at,
        });
      } else {
        await this.db.updateTable('invitations').set(columns).where('invitation_id', '=', invitationId).execute();
        // The old token is void: its hash is gone, and an undelivered copy goes too.
        await this.db.deleteFrom('invitation_outbox').where('invitation_id', '=', invitationId).execute();
      }
      outbox.push({ outbox_id: newId(), invitation_id: invitationId, token, created_at: this.at });
    }
    await insertRows(this.db, 'invitations', invitations);
    await insertRows(this.db, 'invitation_outbox', outbox);
    this.invitationsSent += sends.length;
  }

  async grants(op: PlanAction['op'], group: Array<Action<'supportGrant'>>): Promise<void> {
    switch (op) {
      case 'create': {
        const rows: Array<Insertable<SupportGrantsTable>> = group.map((a) => ({
          grant_id: newId(),
          workspace_id: a.record.workspaceId,
          name: a.record.name,
          ...grantColumns(a.record, this.at),
          created_at: this.at,
        }));
        await insertRows(this.db, 'support_grants', rows);
        return;
      }
      case 'update':
      case 'activate':
      case 'expire':
      case 'revoke':
        for (const a of group) {
          await this.db.updateTable('support_grants').set(grantColumns(a.record, this.at)).where('grant_id', '=', grantIdOf(a)).execute();
        }
        return;
      case 'delete':
        for (const ids of chunkList(group.map(grantIdOf))) {
          await this.db.deleteFrom('support_grants').where('grant_id', 'in', ids).execute();
        }
        return;
      case 'forget':
        for (const ids of chunkList(group.map(grantIdOf))) {
          await this.db.updateTable('support_grants').set({ managed: false, updated_at: this.at }).where('grant_id', 'in', ids).execute();
        }
        return;
      default:
        throw new Error(`no such support grant operation: ${op}`);
    }
  }
}

function chunkList<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ROWS_PER_INSERT) out.push(items.slice(i, i + ROWS_PER_INSERT));
  return out;
}

function memberIdOf(action: Action<'member'>): string {
  const id = action.before?.memberId ?? action.record.memberId;
  if (id === undefined) throw new Error(`member ${action.key} has no id in the store`);
  return id;
}

function grantIdOf(action: Action<'supportGrant'>): string {
  const id = action.before?.grantId ?? action.record.grantId;
  if (id === undefined) throw new Error(`support grant ${action.key} has no id in the store`);
  return id;
}

/**
 * Runs every action of `plan`, in order, with `db` (a write transaction), and
 * appends one audit entry per action. Throws on the first failure; the caller's
 * transaction then rolls everything back.
 */
export async function applyPlan(db: Kysely<Database>, plan: Plan, ctx: ApplyContext): Promise<ApplyResult> {
  const executor = new PlanExecutor(db, ctx);
  const audit = await AuditAppender.open(db, ctx.auditKeys);
  const total = plan.actions.length;
  let done = 0;
  for (const group of groups(plan.actions)) {
    // Slices keep the rows being built (and their audit entries) small, whatever the plan's size.
    for (let start = 0; start < group.length; start += ROWS_PER_INSERT) {
      const slice = group.slice(start, start + ROWS_PER_INSERT);
      await executor.run(slice);
      for (const action of slice) await audit.add(auditEntryFor(action, ctx));
      done += slice.length;
      ctx.onProgress?.(done, total);
    }
  }
  const auditEntries = await audit.close();
  return { actions: total, auditEntries, invitationsSent: executor.invitationsSent };
}
