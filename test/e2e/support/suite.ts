// The end-to-end suite: the real operator, the real engine and a real SQLite
// identity store against a cluster target. On a real API server (envtest) it
// runs everything the API server decides; on the fake API server only the
// faults a real one will not produce on demand. Time that matters is a manual
// clock moved by the test, except where the real clock is the point (access
// revoked within 1 s of its end time); other waiting is only for asynchronous
// work to settle.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acceptInvitation, recordLogin, takeInvitationsToDeliver } from '../../../src/app/index.js';
import { LEASE_RESOURCE } from '../../../src/kube/client.js';
import { STORE_FINALIZER } from '../../../src/model/index.js';
import { systemClock } from '../../../src/util/clock.js';
import { E2E, eventually, member, role, sleep, supportGrant, workspace } from './harness.js';
import type { ClusterTarget, TargetFactory } from './targets.js';

const LEASE = { namespace: 'gatehouse-system' };

export function operatorSuite(factory: TargetFactory): void {
  let target: ClusterTarget;
  let e: E2E;
  let namespaceSeq = 0;
  let ns: string;

  beforeAll(async () => {
    target = await factory.create();
  }, 180_000);
  afterAll(async () => {
    await target?.stop();
  });
  beforeEach(async () => {
    // A namespace per test keeps tests apart on a shared (real) cluster.
    namespaceSeq += 1;
    ns = `e2e-${process.pid}-${namespaceSeq}`;
    e = await E2E.start(target, [ns]);
  });
  afterEach(async () => {
    await e?.stop();
  });

  if (!factory.faults) describe('in-process operator', () => {
    it('create, update, delete: status, observedGeneration, Ready on every kind, store rows, finalizer', async () => {
      await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', { supportAccess: { allowed: true } }, ns));
      await e.create(role('ops', ['view-dashboard', 'create-segment'], {}, ns));
      await e.create(member('alice', { role: 'ops' }, ns));
      await e.create(supportGrant('help', { startsAt: e.clock.now().toISOString() }, ns));
      await e.settle();
      // What `kubectl wait --for=condition=Ready` looks at, on every kind.
      for (const [kind, name] of [['Workspace', 'acme'], ['Role', 'ops'], ['Member', 'alice'], ['SupportGrant', 'help']] as const) {
        const object = await e.get(kind, name, ns);
        expect(object?.metadata.finalizers, `${kind} finalizer`).toEqual([STORE_FINALIZER]);
        expect(object?.status?.observedGeneration, `${kind} observedGeneration`).toBe(1);
        expect(await e.condition(kind, name, 'Ready', ns), `${kind} Ready`).toMatchObject({ status: 'True' });
      }
      expect(await e.status('Member', 'alice', ns)).toMatchObject({ phase: 'Invited', role: 'ops', invitation: { state: 'Waiting' } });
      expect(await e.status('Workspace', 'acme', ns)).toMatchObject({ phase: 'Ready', memberCount: 1, adminCount: 0, activeSupportGrants: 1 });
      expect(await e.status('Role', 'ops', ns)).toMatchObject({ memberCount: 1 });
      expect((await e.memberRows()).map((r) => [r.email, r.role_id, r.state])).toEqual([['alice@example.com', 'ops', 'Invited']]);

      await e.patch('Member', 'alice', { spec: { role: 'editor' } }, ns);
      await e.settle();
      expect(await e.status('Member', 'alice', ns)).toMatchObject({ observedGeneration: 2, role: 'editor' });
      expect((await e.condition('Member', 'alice', 'Ready', ns))?.observedGeneration).toBe(2);
      expect((await e.memberRows())[0]?.role_id).toBe('editor');
      expect(await e.status('Role', 'ops', ns)).toMatchObject({ memberCount: 0 });

      await e.delete('Member', 'alice', ns);
      await e.settle();
      expect(await e.get('Member', 'alice', ns)).toBeUndefined();
      expect(await e.memberRows()).toEqual([]);
      expect(await e.status('Workspace', 'acme', ns)).toMatchObject({ memberCount: 0 });
    });

    it('ends temporary access at the exact instant, on a moved clock', async () => {
      await e.startOperator({ namespaces: [ns] });
      const expiresAt = new Date(e.clock.now().getTime() + 3600_000);
      await e.create(workspace('acme', {}, ns));
      await e.create(member('temp', { expiresAt: expiresAt.toISOString() }, ns));
      await e.settle();
      expect(await e.status('Member', 'temp', ns)).toMatchObject({ phase: 'Invited', expiresAt: expiresAt.toISOString() });

      e.clock.set(new Date(expiresAt.getTime() - 1));
      await e.settle();
      expect((await e.status('Member', 'temp', ns)).phase).toBe('Invited');
      expect((await e.memberRows())[0]?.state).toBe('Invited');

      e.clock.advance(1);
      await e.settle();
      expect((await e.status('Member', 'temp', ns)).phase).toBe('Expired');
      expect(await e.condition('Member', 'temp', 'Expired', ns)).toMatchObject({ status: 'True', lastTransitionTime: expiresAt.toISOString() });
      expect((await e.memberRows())[0]?.state).toBe('Expired');
    });

    it('ends a support grant at its end time; revoking one revokes it', async () => {
      await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', { supportAccess: { allowed: true } }, ns));
      const endsAt = new Date(e.clock.now().getTime() + 7200_000);
      // startsAt explicit: the API server's creationTimestamp is wall time, not the test's clock.
      const startsAt = e.clock.now().toISOString();
      await e.create(supportGrant('ends', { duration: undefined, startsAt, endsAt: endsAt.toISOString() }, ns));
      await e.create(supportGrant('revoked', { startsAt }, ns));
      await e.settle();
      expect((await e.status('SupportGrant', 'ends', ns)).phase).toBe('Active');
      expect((await e.status('Workspace', 'acme', ns)).activeSupportGrants).toBe(2);

      await e.patch('SupportGrant', 'revoked', { spec: { revoked: true } }, ns);
      await e.settle();
      expect((await e.status('SupportGrant', 'revoked', ns)).phase).toBe('Revoked');

      e.clock.set(endsAt);
      await e.settle();
      expect((await e.status('SupportGrant', 'ends', ns)).phase).toBe('Expired');
      expect((await e.status('Workspace', 'acme', ns)).activeSupportGrants).toBe(0);
    });

    it('brings an invitation accepted and a login recorded by the application into status, without a spec change', async () => {
      await e.startOperator({ namespaces: [ns], storePollMs: 2000 });
      await e.create(workspace('acme', {}, ns));
      await e.create(member('alice', {}, ns));
      await e.settle();
      const [invitation] = await takeInvitationsToDeliver(e.store, 10, { at: e.clock.now() });
      expect(invitation?.email).toBe('alice@example.com');
      await acceptInvitation(e.store, { token: invitation?.token as string, email: 'Alice@Example.com', at: e.clock.now() });
      const loginAt = e.clock.now();
      await recordLogin(e.store, { workspaceId: `${ns}-acme`, email: 'alice@example.com', at: loginAt });
      e.clock.advance(2000);
      await e.settle();
      const alice = await e.get('Member', 'alice', ns);
      expect(alice?.metadata.generation).toBe(1);
      expect(alice?.status).toMatchObject({ phase: 'Active', lastLoginAt: loginAt.toISOString(), invitation: { state: 'Completed' } });
      expect(await e.condition('Member', 'alice', 'InvitationAccepted', ns)).toMatchObject({ status: 'True' });
    });

    it('reports two Members with one email on both and never overwrites the row already in the store', async () => {
      await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', {}, ns));
      await e.create(member('alice', {}, ns));
      await e.settle();
      const [before] = await e.memberRows();
      await e.create(member('alice-again', { email: 'ALICE@example.com' }, ns));
      await e.settle();
      for (const name of ['alice', 'alice-again']) {
        expect(await e.condition('Member', name, 'Conflict', ns), name).toMatchObject({ status: 'True', reason: 'DuplicateEmail' });
        expect(await e.condition('Member', name, 'Ready', ns), name).toMatchObject({ status: 'False' });
      }
      const rows = await e.memberRows();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ member_id: before?.member_id, source_name: 'alice', email: 'alice@example.com' });
    });

    it('re-checks the rules and refuses what they forbid even when admission let it through', async () => {
      await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', {}, ns));
      await e.create(role('rockets', ['fly-rockets'], {}, ns));
      await e.settle();
      expect(await e.condition('Role', 'rockets', 'RulesSatisfied', ns)).toMatchObject({ status: 'False', reason: 'UnknownPermission' });
      expect((await e.status('Role', 'rockets', ns)).phase).toBe('Failed');
      const roles = await e.store.db.selectFrom('roles').select('role_id').where('role_id', '=', 'rockets').execute();
      expect(roles).toEqual([]);
    });

    it('deleting a Workspace with members leaves no rows behind and does not hang', async () => {
      await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', {}, ns));
      await e.create(member('alice', {}, ns));
      await e.create(member('bob', {}, ns));
      await e.settle();
      await e.delete('Workspace', 'acme', ns);
      await e.settle();
      expect(await e.get('Workspace', 'acme', ns)).toBeUndefined();
      expect(await e.store.db.selectFrom('workspaces').select('workspace_id').execute()).toEqual([]);
      expect(await e.memberRows()).toEqual([]);
      expect((await e.status('Member', 'alice', ns)).phase).toBe('Failed');
      await e.delete('Member', 'alice', ns);
      await e.delete('Member', 'bob', ns);
      await e.settle();
      expect(await e.get('Member', 'alice', ns)).toBeUndefined();
      expect(await e.get('Member', 'bob', ns)).toBeUndefined();
    });

    it('honours deletionPolicy Orphan: the row stays, unmanaged', async () => {
      await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', {}, ns));
      await e.create(member('keep', { deletionPolicy: 'Orphan' }, ns));
      await e.settle();
      await e.delete('Member', 'keep', ns);
      await e.settle();
      expect(await e.get('Member', 'keep', ns)).toBeUndefined();
      const rows = await e.memberRows();
      expect(rows.map((r) => [r.email, Number(r.managed)])).toEqual([['keep@example.com', 0]]);
    });

    it('keeps the finalizer while the store cleanup fails, with a condition, and removes it once cleanup committed', async () => {
      const { engine } = await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', {}, ns));
      await e.create(member('alice', {}, ns));
      await e.settle();
      engine.failDeletes(1);
      await e.delete('Member', 'alice', ns);
      await e.settle();
      const held = await e.get('Member', 'alice', ns);
      expect(held?.metadata.deletionTimestamp).toBeDefined();
      expect(held?.metadata.finalizers).toEqual([STORE_FINALIZER]);
      expect(await e.condition('Member', 'alice', 'Synced', ns)).toMatchObject({ status: 'False', reason: 'CleanupFailed' });
      expect(await e.memberRows()).toHaveLength(1);
      e.clock.advance(5);
      await e.settle();
      expect(await e.get('Member', 'alice', ns)).toBeUndefined();
      expect(await e.memberRows()).toEqual([]);
    });

    it('revokes temporary access within 1 s of its end time on the real clock', async () => {
      // The one place the wall clock is the point: the API server and the store run on it too.
      await e.startOperator({ namespaces: [ns], clock: systemClock });
      await e.create(workspace('acme', {}, ns));
      const expiresAt = new Date(Date.now() + 4000);
      await e.create(member('brief', { expiresAt: expiresAt.toISOString() }, ns));
      await eventually(async () => (await e.memberRows())[0]?.state === 'Invited', 'the member in the store');
      let revokedSeenAt = 0;
      await eventually(
        async () => {
          if ((await e.memberRows())[0]?.state !== 'Expired') return false;
          revokedSeenAt = Date.now();
          return true;
        },
        'the member revoked',
        10_000,
      );
      expect(revokedSeenAt).toBeGreaterThanOrEqual(expiresAt.getTime());
      expect(revokedSeenAt - expiresAt.getTime(), 'revocation lateness in ms').toBeLessThan(1000);
      await eventually(async () => (await e.status('Member', 'brief', ns)).phase === 'Expired', 'status Expired');
    });

    it('hands over between two instances through the Lease; only the leader writes', async () => {
      const first = await e.startOperator({ namespaces: [ns], leaderElection: { ...LEASE, name: `lease-${ns}`, identity: 'first' } });
      const second = await e.startOperator({ namespaces: [ns], leaderElection: { ...LEASE, name: `lease-${ns}`, identity: 'second' } });
      await eventually(() => first.operator.isLeader, 'first to lead');
      await e.create(workspace('acme', {}, ns));
      await e.settle();
      expect(second.operator.controller.reconciling).toBe(false);
      expect((await e.status('Workspace', 'acme', ns)).phase).toBe('Ready');
      await first.operator.stop();
      e.clock.advance(2000);
      await eventually(() => second.operator.isLeader, 'second to take over');
      await e.create(member('alice', {}, ns));
      await e.settle();
      expect((await e.status('Member', 'alice', ns)).phase).toBe('Invited');
    });
  });

  if (factory.faults) describe('faults only a fake API server injects', () => {
    it('retries a status write refused with 409 Conflict (fake API server only: injected)', async () => {
      await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', {}, ns));
      await e.settle();
      target.fake?.failNext('PATCH', /members\/alice\/status/, 409);
      await e.create(member('alice', {}, ns));
      await e.settle();
      expect((await e.status('Member', 'alice', ns)).phase).toBeUndefined();
      e.clock.advance(5);
      await e.settle();
      expect((await e.status('Member', 'alice', ns)).phase).toBe('Invited');
    });

    it('converges through dropped watches and a 410 Gone relist (fake API server only: injected)', async () => {
      const { operator } = await e.startOperator({ namespaces: [ns] });
      await e.create(workspace('acme', {}, ns));
      await e.settle();
      target.fake?.dropWatches();
      await e.create(member('alice', {}, ns));
      target.fake?.compactHistory();
      await eventually(async () => (await e.status('Member', 'alice', ns)).phase === 'Invited', 'alice reconciled after the relist');
      expect(operator.controller.cache.informers.Member.stats.relists).toBeGreaterThanOrEqual(1);
      expect(await e.memberRows()).toHaveLength(1);
    });
  });

  if (!factory.faults) describe('gatehouse run as a process', () => {
    it('stops gracefully on SIGTERM: exit code 0, lease released', async () => {
      const lease = `run-${ns}`;
      const proc = e.startProcess(['--namespace', ns, '--lease-name', lease, '--probe-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0']);
      const started = await proc.waitForLog('operator started');
      await proc.waitForLog('reconciling');
      const probes = String(started.probes);
      await eventually(async () => (await fetch(`${probes}/readyz`)).status === 200, '/readyz 200');
      await e.create(workspace('acme', {}, ns));
      await e.create(member('alice', {}, ns));
      await eventually(async () => (await e.status('Member', 'alice', ns)).phase === 'Invited', 'alice Invited');
      const metrics = await (await fetch(`${String(started.metrics)}/metrics`)).text();
      expect(metrics).toMatch(/gatehouse_reconcile_total\{kind="Member",result="(done|requeue)"\} [1-9]/);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.lines.map((l) => l.msg)).toContain('operator stopped');
      const leaseObject = await e.client.get<{ metadata: { name: string }; spec?: { holderIdentity?: string } }>(
        { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
        'gatehouse-system',
        lease,
      );
      expect(leaseObject.spec?.holderIdentity ?? '').toBe('');
    });

    it('hands the Lease over between two operator processes when the leader is killed', async () => {
      const lease = `pair-${ns}`;
      const args = ['--namespace', ns, '--lease-name', lease, '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms', '--probe-listen', '', '--metrics-listen', ''];
      const one = e.startProcess(args);
      await one.waitForLog('reconciling');
      const two = e.startProcess(args);
      await two.waitForLog('operator started');
      await e.create(workspace('acme', {}, ns));
      await e.create(member('alice', {}, ns));
      await eventually(async () => (await e.status('Member', 'alice', ns)).phase === 'Invited', 'alice Invited by the first leader');
      expect(two.lines.map((l) => l.msg), 'the standby does not lead').not.toContain('reconciling');
      const leaseObject = () =>
        e.client.get<{ metadata: { name: string }; spec?: { holderIdentity?: string; leaseTransitions?: number } }>(LEASE_RESOURCE, 'gatehouse-system', lease);
      const firstHolder = (await leaseObject()).spec?.holderIdentity;
      expect(firstHolder).toBe(String((await one.waitForLog('operator started')).identity));

      one.child.kill('SIGKILL');
      await one.exited;
      await two.waitForLog('reconciling', 20_000);
      await e.create(member('bob', {}, ns));
      await eventually(async () => (await e.status('Member', 'bob', ns)).phase === 'Invited', 'bob Invited by the new leader', 20_000);
      const after = await leaseObject();
      expect(after.spec?.holderIdentity).toBe(String((await two.waitForLog('operator started')).identity));
      expect(after.spec?.leaseTransitions ?? 0).toBeGreaterThanOrEqual(1);
      two.child.kill('SIGTERM');
      expect(await two.exited).toBe(0);
    });

    it('converges after a crash mid-work (kill -9) and a restart', async () => {
      const args = ['--namespace', ns, '--lease-name', `crash-${ns}`, '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms', '--probe-listen', '', '--metrics-listen', ''];
      const first = e.startProcess(args);
      await first.waitForLog('reconciling');
      await e.create(workspace('acme', {}, ns));
      const names = Array.from({ length: 40 }, (_, i) => `m${String(i).padStart(2, '0')}`);
      await Promise.all(names.map((name) => e.create(member(name, {}, ns))));
      await eventually(async () => (await e.memberRows()).length >= 5, 'some members in the store');
      first.child.kill('SIGKILL');
      await first.exited;

      const second = e.startProcess(args);
      await second.waitForLog('reconciling', 30_000);
      await eventually(
        async () => {
          const phases = await Promise.all(names.map(async (name) => (await e.status('Member', name, ns)).phase));
          return phases.every((p) => p === 'Invited');
        },
        'every member Invited after the restart',
        30_000,
      );
      const rows = await e.memberRows();
      expect(rows.map((r) => r.email)).toEqual(names.map((n) => `${n}@example.com`));
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      await sleep(0);
    });
  });
}
