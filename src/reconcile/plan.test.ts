// The planner alone: pure, deterministic, ordered, and careful about what it
// may write. The store-backed suites in test/engine-*.test.ts cover the rest.
import { describe, expect, it } from 'vitest';
import type { GatehouseObject } from '../model/kinds.js';
import { getDefaultProfile } from '../model/profile.js';
import { aMember, aRole, aSupportGrant, aWorkspace } from '../rules/testing/builders.js';
import { emptyObservedStore, plan, type PlanOptions } from './plan.js';
import {
  grantDigest,
  grantKey,
  memberDigest,
  memberKey,
  refKey,
  roleDigest,
  roleKey,
  workspaceDigest,
  type MemberRecord,
} from './records.js';
import type { ObservedStore, Plan } from './types.js';

const profile = getDefaultProfile();
const AT = new Date('2026-06-01T00:00:00.000Z');
const options = (extra: Partial<PlanOptions> = {}): PlanOptions => ({ profile, actor: 'cli:test', scope: { type: 'all' }, ...extra });
const ops = (p: Plan) => p.actions.map((a) => `${a.target}.${a.op} ${a.key}`);

/** What the store would hold after applying `p` to an empty store. */
function observedAfter(p: Plan): ObservedStore {
  const observed = emptyObservedStore();
  let id = 0;
  for (const action of p.actions) {
    if (action.op !== 'create') continue;
    switch (action.target) {
      case 'catalog':
        observed.permissions = action.permissions;
        break;
      case 'workspace':
        observed.workspaces.set(action.record.workspaceId, { ...action.record, writtenDigest: workspaceDigest(action.record) });
        break;
      case 'role':
        observed.roles.set(roleKey(action.record.workspaceId, action.record.roleId), { ...action.record, writtenDigest: roleDigest(action.record) });
        break;
      case 'member': {
        const record: MemberRecord = { ...action.record, memberId: `m${++id}`, writtenDigest: memberDigest(action.record) };
        observed.members.set(memberKey(record.workspaceId, record.emailNormalized), record);
        observed.memberCounts.set(record.workspaceId, (observed.memberCounts.get(record.workspaceId) ?? 0) + 1);
        if (record.roleId) observed.roleUsage.set(roleKey(record.workspaceId, record.roleId), (observed.roleUsage.get(roleKey(record.workspaceId, record.roleId)) ?? 0) + 1);
        break;
      }
      case 'supportGrant':
        observed.grants.set(grantKey(action.record.workspaceId, action.record.name), { ...action.record, grantId: `g${++id}`, writtenDigest: grantDigest(action.record) });
        break;
    }
  }
  for (const action of p.actions) if (action.target === 'catalog') observed.permissions = action.permissions;
  return observed;
}

const workspace = aWorkspace({ spec: { admins: { min: 0, max: 2 } } });
const declared: GatehouseObject[] = [
  aSupportGrant({ name: 'g1', spec: { startsAt: '2026-06-02T00:00:00Z', duration: '24h' } }),
  aMember({ name: 'zoe', spec: { role: 'campaign-analyst' } }),
  aMember({ name: 'adam', spec: { expiresAt: '2026-06-01T12:00:00Z' } }),
  aRole(),
  workspace,
];

describe('plan', () => {
  it('orders actions: catalog, workspaces, roles, members, grants; each group by key', () => {
    expect(ops(plan(declared, emptyObservedStore(), AT, options()))).toEqual([
      'catalog.update permissions',
      'workspace.create acme',
      'role.create acme/admin',
      'role.create acme/manager',
      'role.create acme/editor',
      'role.create acme/viewer',
      'role.create acme/campaign-analyst',
      'member.create acme/adam@acme.example',
      'member.create acme/zoe@acme.example',
      'supportGrant.create acme/g1',
    ]);
  });

  it('is deterministic and does not depend on the order objects are declared in', () => {
    const a = plan(declared, emptyObservedStore(), AT, options());
    const b = plan([...declared].reverse(), emptyObservedStore(), AT, options());
    expect(b.actions).toEqual(a.actions);
    expect(plan(declared, emptyObservedStore(), AT, options())).toEqual(a);
  });

  it('gives the next instant something changes by itself', () => {
    expect(plan(declared, emptyObservedStore(), AT, options()).nextChangeAt).toBe('2026-06-01T12:00:00.000Z');
    expect(plan([workspace, aMember()], emptyObservedStore(), AT, options()).nextChangeAt).toBe('2026-06-08T00:00:00.000Z');
    expect(plan([workspace], emptyObservedStore(), AT, options()).nextChangeAt).toBeUndefined();
  });

  it('counts objects, not statements, in the summary', () => {
    expect(plan(declared, emptyObservedStore(), AT, options()).summary).toEqual({ add: 5, change: 0, remove: 0 });
  });

  it('plans nothing against the store its own plan produced', () => {
    const first = plan(declared, emptyObservedStore(), AT, options());
    expect(ops(plan(declared, observedAfter(first), AT, options()))).toEqual([]);
  });

  it.each([
    ['a member whose access ends at this very instant', aMember({ name: 'x', spec: { expiresAt: AT.toISOString() } }), 'ended'],
    ['a grant that ended before it was written', aSupportGrant({ name: 'x', spec: { startsAt: '2026-05-01T00:00:00Z', duration: '24h' } }), 'ended'],
    ['a grant revoked before it was written', aSupportGrant({ name: 'x', spec: { duration: '24h', revoked: true } }), 'ended'],
  ])('never writes %s', (_name, object, status) => {
    const p = plan([workspace, object], emptyObservedStore(), AT, options());
    expect(ops(p).filter((o) => !o.startsWith('catalog') && !o.startsWith('workspace') && !o.startsWith('role'))).toEqual([]);
    expect(p.outcomes.find((o) => o.ref.name === 'x')?.status).toBe(status);
  });

  it('does not write held objects, keeps their rows and holds back what depends on them', () => {
    const first = plan(declared, emptyObservedStore(), AT, options());
    const observed = observedAfter(first);
    const held = new Set([refKey({ kind: 'Role', namespace: 'acme', name: 'campaign-analyst' }), refKey({ kind: 'Member', namespace: 'acme', name: 'zoe' })]);
    const changed = declared.map((o) => (o.kind === 'Role' ? aRole({ spec: { permissions: ['view-dashboard'] } }) : o));
    const p = plan(changed, observed, AT, options({ held }));
    expect(ops(p)).toEqual([]);
    expect(p.outcomes.find((o) => o.ref.name === 'zoe')).toMatchObject({ status: 'held', inStore: true });

    // Held Workspace, empty store: its Members cannot be written either.
    const blocked = plan([workspace, aMember()], emptyObservedStore(), AT, options({ held: new Set([refKey({ kind: 'Workspace', namespace: 'acme', name: 'acme' })]) }));
    expect(ops(blocked)).toEqual(['catalog.update permissions']);
    expect(blocked.outcomes.find((o) => o.ref.kind === 'Member')).toMatchObject({ status: 'blocked', reason: 'DependencyNotReady' });
  });

  it('reports a row owned by another declared object as a conflict, and takes over the row of one that is gone', () => {
    const observed = observedAfter(plan([workspace, aMember({ name: 'alice' })], emptyObservedStore(), AT, options()));
    const twin = aMember({ name: 'alice-2', spec: { email: 'alice@acme.example', displayName: 'Person alice' } });
    const conflict = plan([workspace, aMember({ name: 'alice' }), twin], observed, AT, options());
    expect(conflict.outcomes.find((o) => o.ref.name === 'alice-2')).toMatchObject({ status: 'conflict', reason: 'Conflict' });
    expect(ops(conflict)).toEqual([]);

    const renamed = plan([workspace, twin], observed, AT, options());
    expect(renamed.actions).toMatchObject([{ op: 'update', changes: [{ field: 'owner', from: 'Member acme/alice', to: 'Member acme/alice-2' }] }]);

    // A scoped sync that does not cover the old owner leaves it alone.
    const scoped = plan([workspace, twin], observed, AT, options({ scope: { type: 'objects', refs: [{ kind: 'Member', namespace: 'acme', name: 'alice-2' }] } }));
    expect(scoped.outcomes.find((o) => o.ref.name === 'alice-2')?.status).toBe('conflict');
  });

  it.each([
    ['a second Workspace with the same workspace id', aWorkspace({ name: 'acme-2', spec: { workspaceId: 'acme' } }), 'you might have two Workspaces with the same spec.workspaceId: Workspace acme/acme owns it'],
    ['a second Member with the same email', aMember({ name: 'alice-2', spec: { email: 'alice@acme.example' } }), 'you might have two Members with the same email: Member acme/alice owns it'],
    ['a Role named like a role of the product profile (its rows belong to the Workspace)', aRole({ name: 'viewer' }), 'already owned in the identity store by Workspace acme/acme; rename the Role'],
  ])('holds back %s as a conflict, naming who owns the row', (_name, twin, message) => {
    const owners = [workspace, aMember({ name: 'alice' })];
    const observed = observedAfter(plan(owners, emptyObservedStore(), AT, options()));
    const p = plan([...owners, twin], observed, AT, options());
    const outcome = p.outcomes.find((o) => o.ref.kind === twin.kind && o.ref.name === twin.metadata.name);
    expect(outcome).toMatchObject({ status: 'conflict', reason: 'Conflict' });
    expect(outcome?.message).toContain(message);
    expect(ops(p)).toEqual([]);
  });

  it('reports mass removals with scope all by default, not with scope objects', () => {
    const people = ['a', 'b', 'c', 'd'].map((name) => aMember({ name }));
    const observed = observedAfter(plan([workspace, ...people], emptyObservedStore(), AT, options()));
    expect(plan([workspace, ...people.slice(0, 3)], observed, AT, options()).massRemovals).toEqual([]);
    expect(plan([workspace, ...people.slice(0, 2)], observed, AT, options()).massRemovals).toEqual([
      { workspaceId: 'acme', removing: 2, total: 4, maxShare: 0.25 },
    ]);
    const refs = ['c', 'd'].map((name) => ({ kind: 'Member' as const, namespace: 'acme', name }));
    const scoped = plan([workspace, ...people.slice(0, 2)], observed, AT, options({ scope: { type: 'objects', refs } }));
    expect(ops(scoped)).toEqual(['member.delete acme/c@acme.example', 'member.delete acme/d@acme.example']);
    expect(scoped.massRemovals).toEqual([]);
  });

  it('removes in reverse order: grants, members, roles, workspaces', () => {
    const observed = observedAfter(plan(declared, emptyObservedStore(), AT, options()));
    const p = plan([], observed, AT, options());
    expect(ops(p)).toEqual(['workspace.delete acme']);
    expect(p.actions[0]).toMatchObject({ cascade: { members: 2, roles: 5, supportGrants: 1 } });
    const keepWorkspace = plan([workspace], observed, AT, options({ removalGuard: false }));
    expect(ops(keepWorkspace)).toEqual([
      'supportGrant.delete acme/g1',
      'member.delete acme/adam@acme.example',
      'member.delete acme/zoe@acme.example',
      'role.delete acme/campaign-analyst',
    ]);
  });
});
