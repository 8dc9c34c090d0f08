// The application's side of the identity store: what the SaaS application (or
// Gatehouse's HTTP API, later) calls. Deliver invitations from the outbox,
// accept an invitation with its token and the signed-in email, record logins.
// Each call is one transaction and one audit entry per change. Gatehouse never
// overwrites what these write (accepted_at, responded_at, last_login_at).
import type { Kysely } from 'kysely';
import { hasCompatibilityCharacters, mixesLookalikeScripts, normalizeEmail } from '../model/text.js';
import { hashInvitationToken } from '../store/apply.js';
import { appendAudit, type AuditEntryInput, type AuditObject } from '../store/audit.js';
import { readTime } from '../store/convert.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';

/** Actor recorded for what the application does. */
export const APPLICATION_ACTOR = 'application';

export interface InvitationToDeliver {
  outboxId: string;
  invitationId: string;
  workspaceId: string;
  email: string;
  displayName: string;
  /** Role the person is invited with; null for a legacy member. */
  roleId: string | null;
  /** Who sent it (the actor that applied the declaration). */
  sender: string;
  expiresAt: Date;
  /** The plaintext token for the accept link. Returned once; the store keeps only its hash. */
  token: string;
}

export type InvitationErrorCode =
  | 'InvitationNotFound'
  | 'InvitationAlreadyAccepted'
  | 'InvitationExpired'
  | 'InvitationEmailMismatch'
  | 'MemberAccessExpired'
  | 'MemberNotFound';

/** A refused application call; `code` is stable for programs, the message is for people. */
export class InvitationError extends Error {
  constructor(
    readonly code: InvitationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'InvitationError';
  }
}

export class MemberNotFoundError extends Error {
  readonly code = 'MemberNotFound';
  constructor(
    readonly workspaceId: string,
    readonly email: string,
  ) {
    super(`workspace ${workspaceId} has no member with email ${email}; check the workspace id and the signed-in address`);
    this.name = 'MemberNotFoundError';
  }
}

interface MemberSource {
  source_kind: string | null;
  source_namespace: string | null;
  source_name: string | null;
  source_uid: string | null;
}

function auditObjectOf(row: MemberSource): AuditObject | undefined {
  if (row.source_kind === null || row.source_name === null) return undefined;
  return {
    kind: row.source_kind,
    ...(row.source_namespace !== null ? { namespace: row.source_namespace } : {}),
    name: row.source_name,
    ...(row.source_uid !== null ? { uid: row.source_uid } : {}),
  };
}

function entry(input: Omit<AuditEntryInput, 'object'> & { object?: AuditObject | undefined }): AuditEntryInput {
  const { object, ...rest } = input;
  return object === undefined ? rest : { ...rest, object };
}

/**
 * Takes up to `limit` invitations waiting for delivery, oldest first, and
 * deletes them from the outbox with their plaintext tokens: the caller must
 * send them now, as they cannot be read again (the store keeps only the
 * tokens' hashes). Invitations that can no longer be accepted are dropped
 * instead of returned.
 */
export async function takeInvitationsToDeliver(
  store: Store,
  limit = 100,
  options: { at?: Date; actor?: string } = {},
): Promise<InvitationToDeliver[]> {
  const at = (options.at ?? new Date()).toISOString();
  const actor = options.actor ?? APPLICATION_ACTOR;
  return store.write(async (trx) => {
    const rows = await trx
      .selectFrom('invitation_outbox')
      .innerJoin('invitations', 'invitations.invitation_id', 'invitation_outbox.invitation_id')
      .innerJoin('members', 'members.member_id', 'invitations.member_id')
      .select([
        'invitation_outbox.outbox_id',
        'invitation_outbox.invitation_id',
        'invitation_outbox.token',
        'members.workspace_id',
        'members.email',
        'members.display_name',
        'members.role_id',
        'invitations.sender',
        'invitations.expires_at',
        'invitations.state as invitation_state',
        'members.source_kind',
        'members.source_namespace',
        'members.source_name',
        'members.source_uid',
      ])
      .orderBy('invitation_outbox.created_at')
      .orderBy('invitation_outbox.outbox_id')
      .limit(Math.max(0, Math.floor(limit)))
      .execute();
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.outbox_id);
    for (let i = 0; i < ids.length; i += 500) {
      await trx
        .deleteFrom('invitation_outbox')
        .where('outbox_id', 'in', ids.slice(i, i + 500))
        .execute();
    }
    const delivered: InvitationToDeliver[] = [];
    const audit: AuditEntryInput[] = [];
    for (const row of rows) {
      const expiresAt = readTime(row.expires_at);
      const deliverable = row.invitation_state === 'Waiting' && expiresAt > at;
      audit.push(
        entry({
          at,
          actor,
          action: deliverable ? 'invitation.deliver' : 'invitation.discard',
          object: auditObjectOf(row),
          workspaceId: row.workspace_id,
          after: { email: row.email, expiresAt },
          reason: deliverable ? 'taken from the outbox for delivery' : 'no longer acceptable (expired or replaced); not delivered',
        }),
      );
      if (!deliverable) continue;
      delivered.push({
        outboxId: row.outbox_id,
        invitationId: row.invitation_id,
        workspaceId: row.workspace_id,
        email: row.email,
        displayName: row.display_name,
        roleId: row.role_id,
        sender: row.sender,
        expiresAt: new Date(expiresAt),
        token: row.token,
      });
    }
    await appendAudit(trx, audit, store.auditKeys);
    return delivered;
  });
}

export interface AcceptedInvitation {
  workspaceId: string;
  memberId: string;
  email: string;
  roleId: string | null;
  acceptedAt: Date;
}

/**
 * Accepts an invitation: the token from the accept link and the email the
 * person signed in with. Single use; only the invited email (any letter case);
 * refused once expired. Throws InvitationError with a code otherwise.
 */
export async function acceptInvitation(
  store: Store,
  request: { token: string; email: string; at?: Date; actor?: string },
): Promise<AcceptedInvitation> {
  const at = (request.at ?? new Date()).toISOString();
  const tokenHash = hashInvitationToken(request.token);
  return store.write(async (trx) => {
    const row = await trx
      .selectFrom('invitations')
      .innerJoin('members', 'members.member_id', 'invitations.member_id')
      .select([
        'invitations.invitation_id',
        'invitations.state as invitation_state',
        'invitations.expires_at as invitation_expires_at',
        'members.member_id',
        'members.workspace_id',
        'members.email',
        'members.email_normalized',
        'members.role_id',
        'members.expires_at',
        'members.source_kind',
        'members.source_namespace',
        'members.source_name',
        'members.source_uid',
      ])
      .where('invitations.token_hash', '=', tokenHash)
      .executeTakeFirst();
    if (row === undefined) {
      throw new InvitationError(
        'InvitationNotFound',
        'no invitation has this token: the link is wrong, or a newer invitation replaced it; ask for the invitation to be sent again',
      );
    }
    if (row.invitation_state === 'Completed') {
      throw new InvitationError('InvitationAlreadyAccepted', 'this invitation was already accepted; sign in instead');
    }
    // A lookalike (a Kelvin sign for K, Cyrillic letters among Latin ones) is not the invited address.
    if (hasCompatibilityCharacters(request.email) || mixesLookalikeScripts(request.email) || normalizeEmail(request.email) !== row.email_normalized) {
      throw new InvitationError(
        'InvitationEmailMismatch',
        'this invitation was sent to another email address; sign in with the address the invitation was sent to',
      );
    }
    const invitationExpiresAt = readTime(row.invitation_expires_at);
    if (row.invitation_state === 'Expired' || invitationExpiresAt <= at) {
      throw new InvitationError('InvitationExpired', `this invitation expired at ${invitationExpiresAt}; ask for it to be sent again`);
    }
    if (row.expires_at !== null && readTime(row.expires_at) <= at) {
      throw new InvitationError('MemberAccessExpired', `access to workspace ${row.workspace_id} ended at ${readTime(row.expires_at)}`);
    }
    await trx.updateTable('invitations').set({ state: 'Completed', responded_at: at }).where('invitation_id', '=', row.invitation_id).execute();
    await trx.updateTable('members').set({ accepted_at: at, state: 'Active' }).where('member_id', '=', row.member_id).execute();
    await appendAudit(trx, [
      entry({
        at,
        actor: request.actor ?? APPLICATION_ACTOR,
        action: 'invitation.accept',
        object: auditObjectOf(row),
        workspaceId: row.workspace_id,
        before: { state: 'Invited', invitation: row.invitation_state },
        after: { state: 'Active', invitation: 'Completed', acceptedAt: at },
        reason: `${row.email} accepted the invitation`,
      }),
    ], store.auditKeys);
    return { workspaceId: row.workspace_id, memberId: row.member_id, email: row.email, roleId: row.role_id, acceptedAt: new Date(at) };
  });
}

/** Records that a member logged in (read back into status and by the access review). */
export async function recordLogin(store: Store, request: { workspaceId: string; email: string; at?: Date; actor?: string }): Promise<void> {
  const at = (request.at ?? new Date()).toISOString();
  await store.write(async (trx) => {
    const row = await findMember(trx, request.workspaceId, request.email);
    if (row === undefined) throw new MemberNotFoundError(request.workspaceId, request.email);
    await trx.updateTable('members').set({ last_login_at: at }).where('member_id', '=', row.member_id).execute();
    await appendAudit(trx, [
      entry({
        at,
        actor: request.actor ?? APPLICATION_ACTOR,
        action: 'member.login',
        object: auditObjectOf(row),
        workspaceId: request.workspaceId,
        after: { lastLoginAt: at },
        reason: `${row.email} logged in`,
      }),
    ], store.auditKeys);
  });
}

async function findMember(db: Kysely<Database>, workspaceId: string, email: string) {
  return db
    .selectFrom('members')
    .select(['member_id', 'email', 'source_kind', 'source_namespace', 'source_name', 'source_uid'])
    .where('workspace_id', '=', workspaceId)
    .where('email_normalized', '=', normalizeEmail(email))
    .executeTakeFirst();
}
