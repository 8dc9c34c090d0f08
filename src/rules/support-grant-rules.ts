// Rules of a SupportGrant: well-formed who/what/when, a reason, and within
// what the Workspace allows (allowed at all, read-only unless permitted, no
// longer than maxDuration).
import { formatDuration, tryParseDuration } from '../model/duration.js';
import { supportAccessLevel, supportGrantWindow } from '../model/policy.js';
import { SUPPORT_GRANT_MAX_DURATION, type SupportGrant } from '../model/support-grant.js';
import { normalizeEmail } from '../model/text.js';
import { describe, type Check } from './check-context.js';
import { duplicateItems, immutableFields, workspaceFor, workspaceRefImmutable } from './common-rules.js';
import { namespaceOf, workspaceNameOf } from './object-index.js';

const MAX_DURATION_MS = tryParseDuration(SUPPORT_GRANT_MAX_DURATION) as number;

export function checkSupportGrant(c: Check<SupportGrant>): void {
  const grant = c.object;
  const spec = grant.spec;
  immutableFields(c, [workspaceRefImmutable]);
  if (c.operation === 'UPDATE' && c.previous?.spec.revoked === true && spec.revoked !== true) {
    c.report(
      'RevokedGrantReinstated',
      'error',
      'spec.revoked',
      'a revoked grant stays revoked; set spec.revoked back to true, and create a new SupportGrant (with its own reason) if support needs access again',
    );
  }
  if (spec.reason.trim() === '') {
    c.report('SupportReasonMissing', 'error', 'spec.reason', 'spec.reason is blank; say why support needs access (the issue to diagnose) so the audit log explains it, and add spec.ticket if there is one');
  }
  checkGrantee(c);
  checkScopeShape(c);
  const windowOk = checkWindowShape(c);

  const workspace = workspaceFor(c);
  const revoked = spec.revoked === true;
  // A revoked grant gives no access, so limits that only matter while it is in
  // effect are not checked; it stays declared as a record.
  if (revoked) return;

  const window = windowOk ? supportGrantWindow(grant, startFallback(c)) : undefined;
  const endField = spec.endsAt !== undefined ? 'spec.endsAt' : 'spec.duration';
  if (window !== undefined && window.endsAt.getTime() <= c.at.getTime()) {
    if (c.operation === 'CREATE') {
      c.report('SupportGrantEnded', 'error', endField, `this grant ends at ${window.endsAt.toISOString()}, which is not in the future (now ${c.at.toISOString()}); set a later end, or leave startsAt out so it starts now`);
    } else {
      c.report('SupportGrantEnded', 'warning', endField, `support access ended at ${window.endsAt.toISOString()}; remove this SupportGrant when it is no longer needed as a record`);
    }
  }
  checkScopeMember(c);
  if (workspace === undefined) return;
  const policy = c.world.policyOf(workspace);
  if (!policy.supportAllowed) {
    c.report(
      'SupportAccessNotAllowed',
      'error',
      'spec.workspaceRef.name',
      `${describe(workspace)} does not allow vendor support access (spec.supportAccess.allowed is ${workspace.spec.supportAccess?.allowed === false ? 'false' : 'not set, and off by default'}); set it to true on the Workspace first, or remove this grant`,
    );
  }
  if (supportAccessLevel(grant) === 'ReadWrite' && !policy.supportAllowReadWrite) {
    c.report(
      'SupportReadWriteNotAllowed',
      'error',
      'spec.accessLevel',
      `support access is read-only in ${describe(workspace)}; use spec.accessLevel: ReadOnly, or set spec.supportAccess.allowReadWrite: true on the Workspace if support must change data`,
    );
  }
  if (window !== undefined) {
    const length = window.endsAt.getTime() - window.startsAt.getTime();
    if (length > policy.supportMaxDurationMs) {
      c.report(
        'SupportGrantTooLong',
        'error',
        endField,
        `this grant lasts ${formatDuration(length)}, longer than the ${formatDuration(policy.supportMaxDurationMs)} ${describe(workspace)} allows (spec.supportAccess.maxDuration); shorten it (a week is 168h), or raise maxDuration on the Workspace`,
      );
    }
  }
}

/** An absent startsAt means "when the grant was created"; before that, "now". */
function startFallback(c: Check<SupportGrant>): Date {
  const created = c.object.metadata.creationTimestamp;
  const at = created === undefined ? Number.NaN : Date.parse(created);
  return Number.isNaN(at) ? c.at : new Date(at);
}

function checkGrantee(c: Check<SupportGrant>): void {
  const grantee = c.object.spec.grantee;
  const agents = grantee.agents ?? [];
  if (grantee.type === 'Agents' && agents.length === 0) {
    c.report('InvalidGrantee', 'error', 'spec.grantee.agents', 'grantee.type is Agents but no agents are listed; list the support agents\' emails in spec.grantee.agents, or use grantee.type: SupportTeam');
  }
  if (grantee.type === 'SupportTeam' && agents.length > 0) {
    c.report('InvalidGrantee', 'error', 'spec.grantee.agents', 'grantee.type is SupportTeam (the whole team) but agents are listed; use grantee.type: Agents to let in only those agents, or remove spec.grantee.agents');
  }
  duplicateItems(c, 'spec.grantee.agents', grantee.agents, (email) => normalizeEmail(email));
}

function checkScopeShape(c: Check<SupportGrant>): void {
  const scope = c.object.spec.scope;
  if (scope.type === 'Member' && scope.memberRef === undefined) {
    c.report('InvalidScope', 'error', 'spec.scope.memberRef', 'scope.type is Member but scope.memberRef is missing; name the Member whose account support may use, or use scope.type: Workspace');
  }
  if (scope.type === 'Workspace' && scope.memberRef !== undefined) {
    c.report('InvalidScope', 'error', 'spec.scope.memberRef', 'scope.type is Workspace (the whole workspace) but scope.memberRef is set; remove memberRef, or use scope.type: Member to limit support to that member\'s account');
  }
}

function checkScopeMember(c: Check<SupportGrant>): void {
  const scope = c.object.spec.scope;
  if (scope.type !== 'Member' || scope.memberRef === undefined) return;
  const namespace = namespaceOf(c.object);
  const workspace = c.object.spec.workspaceRef.name;
  const member = c.world.find('Member', namespace, scope.memberRef.name);
  if (member === undefined) {
    c.report('ScopeMemberNotFound', 'error', 'spec.scope.memberRef.name', `no Member "${scope.memberRef.name}" in namespace ${namespace}; name a Member of Workspace ${workspace}, or use scope.type: Workspace`);
    return;
  }
  const memberWorkspace = workspaceNameOf(member);
  if (memberWorkspace !== undefined && memberWorkspace !== workspace) {
    c.report('ScopeMemberNotFound', 'error', 'spec.scope.memberRef.name', `${describe(member)} belongs to Workspace ${memberWorkspace}, not ${workspace}; a grant can only reach members of its own workspace`);
  }
}

/** Checks duration/endsAt/startsAt on their own; returns whether a window can be computed. */
function checkWindowShape(c: Check<SupportGrant>): boolean {
  const spec = c.object.spec;
  if (spec.duration !== undefined && spec.endsAt !== undefined) {
    c.report('DurationOrEndsAtRequired', 'error', 'spec.endsAt', 'both spec.duration and spec.endsAt are set; keep one of them (duration counts from startsAt)');
    return false;
  }
  if (spec.duration === undefined && spec.endsAt === undefined) {
    c.report('DurationOrEndsAtRequired', 'error', 'spec', 'support access must be time-boxed: set spec.duration (for example 168h, a week) or spec.endsAt');
    return false;
  }
  if (spec.duration !== undefined) {
    const ms = tryParseDuration(spec.duration);
    if (ms === undefined) return false;
    if (ms <= 0 || ms > MAX_DURATION_MS) {
      c.report('DurationOutOfRange', 'error', 'spec.duration', `spec.duration is ${spec.duration}; it must be longer than zero and at most a year (${SUPPORT_GRANT_MAX_DURATION}), for example 168h for a week`);
      return false;
    }
  }
  if (spec.endsAt !== undefined && spec.startsAt !== undefined) {
    const starts = Date.parse(spec.startsAt);
    const ends = Date.parse(spec.endsAt);
    if (!Number.isNaN(starts) && !Number.isNaN(ends) && ends <= starts) {
      c.report('SupportGrantEndsBeforeStart', 'error', 'spec.endsAt', `spec.endsAt ${spec.endsAt} is not after spec.startsAt ${spec.startsAt}; swap them or fix the dates`);
      return false;
    }
  }
  return true;
}
