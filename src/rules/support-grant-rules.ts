// Rules of a SupportGrant: well-formed who/what/when, a reason, and within
// what the Workspace allows (allowed at all, read-only unless permitted, no
// longer than maxDuration).
import { instantMs } from '../model/time.js';
import { describeLimit, formatDuration, limitEnd, tryParseDuration } from '../model/duration.js';
import { supportAccessLevel, supportGrantWindow } from '../model/policy.js';
import { SUPPORT_GRANT_MAX_DURATION, type SupportGrant } from '../model/support-grant.js';
import { normalizeEmail } from '../model/text.js';
import { describe, listNames, type Check } from './check-context.js';
import { duplicateItems, immutableFields, workspaceFor, workspaceRefImmutable } from './common-rules.js';
import { namespaceOf, workspaceNameOf } from './object-index.js';

const MAX_DURATION_MS = tryParseDuration(SUPPORT_GRANT_MAX_DURATION) as number;

export function checkSupportGrant(c: Check<SupportGrant>): void {
  const grant = c.object;
  const spec = grant.spec;
  immutableFields(c, [workspaceRefImmutable]);
  if (c.previous?.spec.revoked === true && spec.revoked !== true) {
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
      c.report('SupportGrantEnded', 'warning', endField, `support access ended at ${window.endsAt.toISOString()} (now ${c.at.toISOString()}); remove this SupportGrant when it is no longer needed as a record`);
    }
  }
  checkScopeMember(c);
  if (workspace === undefined) return;
  const policy = c.world.policyOf(workspace);
  if (!policy.supportAllowed) {
    const setting = workspace.spec.supportAccess?.allowed === false ? 'false' : 'not set, and off by default';
    if (isNewGrant(c)) {
      c.report(
        'SupportAccessNotAllowed',
        'error',
        'spec.workspaceRef.name',
        `${describe(workspace)} does not allow vendor support access (spec.supportAccess.allowed is ${setting}); set it to true on the Workspace first, or remove this grant`,
      );
    } else {
      // Support access was switched off while this grant existed: that ends
      // the grant (the engine revokes it for good); it must not block the switch.
      c.report(
        'SupportAccessNotAllowed',
        'warning',
        'spec.workspaceRef.name',
        `${describe(workspace)} does not allow vendor support access (spec.supportAccess.allowed is ${setting}), so this grant is revoked in the identity store and stays revoked; remove it, or turn support access on and create a new SupportGrant`,
      );
    }
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
    checkChainedGrants(c, window, policy.supportMaxDurationMs);
    const real = realWindow(c, window);
    const length = real.endsAt.getTime() - real.startsAt.getTime();
    if (real.endsAt.getTime() > limitEnd(real.startsAt, policy.supportMaxDurationMs).getTime()) {
      c.report(
        'SupportGrantTooLong',
        'error',
        endField,
        `this grant lasts ${formatDuration(length)} from ${real.startsAt.toISOString()}${real.startsAt !== window.startsAt || c.object.spec.startsAt === undefined ? ' (when it started)' : ''} to ${real.endsAt.toISOString()}, longer than the ${describeLimit(policy.supportMaxDurationMs)} ${describe(workspace)} allows (spec.supportAccess.maxDuration); shorten it (a week is 168h), or raise maxDuration on the Workspace`,
      );
    }
  }
}

/**
 * Grants of one workspace that follow each other without a gap are one stretch
 * of support access: warn, naming them, when the stretch is longer than one
 * grant may be (a month split into back-to-back grants is still two months).
 */
function checkChainedGrants(c: Check<SupportGrant>, window: { startsAt: Date; endsAt: Date }, maxMs: number): void {
  const namespace = namespaceOf(c.object);
  const intervals: Array<{ name: string; start: number; end: number }> = [];
  for (const grant of c.world.inWorkspace('SupportGrant', namespace, c.object.spec.workspaceRef.name)) {
    if (grant.spec.revoked === true) continue;
    const mine = grant.metadata.name === c.object.metadata.name;
    const recordedStart = mine ? c.recorded?.startsAt : c.world.recordOf(grant)?.startsAt;
    const created = grant.metadata.creationTimestamp ?? recordedStart;
    const createdMs = instantMs(created);
    const w = mine ? window : supportGrantWindow(grant, Number.isNaN(createdMs) ? c.at : new Date(createdMs));
    if (w !== undefined) intervals.push({ name: grant.metadata.name, start: w.startsAt.getTime(), end: w.endsAt.getTime() });
  }
  intervals.sort((a, b) => a.start - b.start || a.end - b.end);
  // The run of touching or overlapping windows that holds this grant.
  let run: typeof intervals = [];
  let runEnd = Number.NEGATIVE_INFINITY;
  let found: typeof intervals | undefined;
  let foundEnd = 0;
  for (const interval of intervals) {
    if (interval.start > runEnd) {
      if (found === undefined && run.some((i) => i.name === c.object.metadata.name)) {
        found = run;
        foundEnd = runEnd;
      }
      run = [];
    }
    run.push(interval);
    runEnd = Math.max(runEnd, interval.end);
  }
  if (found === undefined && run.some((i) => i.name === c.object.metadata.name)) {
    found = run;
    foundEnd = runEnd;
  }
  if (found === undefined || found.length < 2) return;
  const start = found[0]?.start ?? 0;
  if (foundEnd <= limitEnd(new Date(start), maxMs).getTime()) return;
  const others = found.filter((i) => i.name !== c.object.metadata.name).map((i) => i.name);
  c.report(
    'SupportGrantsChained',
    'warning',
    c.object.spec.endsAt !== undefined ? 'spec.endsAt' : 'spec.duration',
    `this grant and ${listNames(others)} follow each other without a gap, giving support access from ${new Date(start).toISOString()} to ${new Date(foundEnd).toISOString()}, longer than the ${describeLimit(maxMs)} one grant may last; leave a gap, or make sure the extension was intended`,
  );
}

/**
 * Whether the grant is being created: a CREATE at admission, or declared
 * state checked against a store that has no row for it. Without a store
 * (plain validate) and on an UPDATE the grant may already exist.
 */
function isNewGrant(c: Check<SupportGrant>): boolean {
  if (c.operation === 'CREATE') return true;
  return c.operation === undefined && c.world.recorded !== undefined && c.recorded === undefined;
}

/**
 * An absent startsAt means "when the grant was created" (creationTimestamp,
 * else when the identity store first wrote it); before that, "now".
 */
function startFallback(c: Check<SupportGrant>): Date {
  const created = c.object.metadata.creationTimestamp ?? c.recorded?.startsAt;
  const at = created === undefined ? Number.NaN : instantMs(created);
  return Number.isNaN(at) ? c.at : new Date(at);
}

/**
 * The grant's window measured from when access really began: a grant whose
 * recorded start has passed cannot be made longer by moving startsAt later.
 */
function realWindow(c: Check<SupportGrant>, window: { startsAt: Date; endsAt: Date }): { startsAt: Date; endsAt: Date } {
  const recordedStart = instantMs(c.recorded?.startsAt);
  if (Number.isNaN(recordedStart) || recordedStart > c.at.getTime() || recordedStart >= window.startsAt.getTime()) return window;
  return { startsAt: new Date(recordedStart), endsAt: window.endsAt };
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
    const starts = instantMs(spec.startsAt);
    const ends = instantMs(spec.endsAt);
    if (!Number.isNaN(starts) && !Number.isNaN(ends) && ends <= starts) {
      c.report('SupportGrantEndsBeforeStart', 'error', 'spec.endsAt', `spec.endsAt ${spec.endsAt} is not after spec.startsAt ${spec.startsAt}; swap them or fix the dates`);
      return false;
    }
  }
  return true;
}
