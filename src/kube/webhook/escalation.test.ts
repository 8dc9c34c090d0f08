import { describe, expect, it } from 'vitest';
import type { GatehouseObject } from '../../model/kinds.js';
import { aMember, aRole, aSupportGrant, aWorkspace } from '../../rules/testing/builders.js';
import { ManualClock } from '../../util/clock.js';
import { accessChecksFor, cachingAuthorizer, rbacRuleFor, type AccessCheck, type Authorizer } from './escalation.js';

type Op = 'CREATE' | 'UPDATE' | 'DELETE';
const check = (verb: string, resource: string, name: string, field: string) => expect.objectContaining({ verb, resource, name, field, namespace: 'acme' });

describe('accessChecksFor', () => {
  const cases: Array<[string, Op, GatehouseObject, GatehouseObject | undefined, unknown[]]> = [
    ['a new Member: assign its role', 'CREATE', aMember({ spec: { role: 'editor' } }), undefined, [check('assign', 'roles', 'editor', 'spec.role')]],
    ['a new Member with a custom role', 'CREATE', aMember({ spec: { role: 'campaign-analyst' } }), undefined, [check('assign', 'roles', 'campaign-analyst', 'spec.role')]],
    ['a new Member with no role: the legacy set', 'CREATE', aMember({ spec: { role: undefined } }), undefined, [check('assign', 'roles', 'gatehouse:legacy', 'spec.role')]],
    ['a Member given another role', 'UPDATE', aMember({ spec: { role: 'admin' } }), aMember({ spec: { role: 'viewer' } }), [check('assign', 'roles', 'admin', 'spec.role')]],
    ['a Member losing its role', 'UPDATE', aMember({ spec: { role: undefined } }), aMember({ spec: { role: 'viewer' } }), [check('assign', 'roles', 'gatehouse:legacy', 'spec.role')]],
    ['a Member changed otherwise', 'UPDATE', aMember({ spec: { phone: '+4930123456' } }), aMember(), []],
    // Extending, reviving or making permanent is giving the role again.
    ['an admin\'s temporary access made permanent', 'UPDATE', aMember({ spec: { role: 'admin' } }), aMember({ spec: { role: 'admin', expiresAt: '2027-01-01T00:00:00Z' } }), [check('assign', 'roles', 'admin', 'spec.expiresAt')]],
    ['an expired admin revived (2020 to 2099)', 'UPDATE', aMember({ spec: { role: 'admin', expiresAt: '2099-01-01T00:00:00Z' } }), aMember({ spec: { role: 'admin', expiresAt: '2020-01-01T00:00:00Z' } }), [check('assign', 'roles', 'admin', 'spec.expiresAt')]],
    ['an end moved later in another offset', 'UPDATE', aMember({ spec: { role: 'admin', expiresAt: '2027-01-01T06:00:00+05:00' } }), aMember({ spec: { role: 'admin', expiresAt: '2027-01-01T00:00:00Z' } }), [check('assign', 'roles', 'admin', 'spec.expiresAt')]],
    ['an end moved earlier', 'UPDATE', aMember({ spec: { role: 'admin', expiresAt: '2026-12-01T00:00:00Z' } }), aMember({ spec: { role: 'admin', expiresAt: '2027-01-01T00:00:00Z' } }), []],
    ['the same instant spelled in another offset', 'UPDATE', aMember({ spec: { role: 'admin', expiresAt: '2027-01-01T05:00:00+05:00' } }), aMember({ spec: { role: 'admin', expiresAt: '2027-01-01T00:00:00Z' } }), []],
    ['temporary access added', 'UPDATE', aMember({ spec: { role: 'admin', expiresAt: '2027-01-01T00:00:00Z' } }), aMember({ spec: { role: 'admin' } }), []],
    ['an invitation sent again', 'UPDATE', aMember({ spec: { role: 'admin', invitation: { resend: 1 } } }), aMember({ spec: { role: 'admin' } }), [check('assign', 'roles', 'admin', 'spec.invitation.resend')]],
    ['a SupportGrant\'s endsAt moved later', 'UPDATE', aSupportGrant({ spec: { duration: undefined, endsAt: '2027-02-15T00:00:00Z' } }), aSupportGrant({ spec: { duration: undefined, endsAt: '2027-01-25T00:00:00Z' } }), [check('grant', 'supportgrants', 'ReadOnly', 'spec.accessLevel')]],
    ['a Member deleted', 'DELETE', aMember(), undefined, []],
    ['a new Role: escalate on it', 'CREATE', aRole(), undefined, [check('escalate', 'roles', 'campaign-analyst', 'spec.permissions')]],
    ['a Role given a permission more', 'UPDATE', aRole({ spec: { permissions: ['view-dashboard', 'view-pii'] } }), aRole({ spec: { permissions: ['view-dashboard'] } }), [check('escalate', 'roles', 'campaign-analyst', 'spec.permissions')]],
    ['a Role losing a permission', 'UPDATE', aRole({ spec: { permissions: ['view-dashboard'] } }), aRole({ spec: { permissions: ['view-dashboard', 'view-pii'] } }), []],
    ['a Role renamed for people', 'UPDATE', aRole({ spec: { displayName: 'Analyst' } }), aRole(), []],
    ['a new SupportGrant: grant its level', 'CREATE', aSupportGrant(), undefined, [check('grant', 'supportgrants', 'ReadOnly', 'spec.accessLevel')]],
    ['a new read-write SupportGrant', 'CREATE', aSupportGrant({ spec: { accessLevel: 'ReadWrite' } }), undefined, [check('grant', 'supportgrants', 'ReadWrite', 'spec.accessLevel')]],
    ['a SupportGrant made longer', 'UPDATE', aSupportGrant({ spec: { duration: '336h' } }), aSupportGrant(), [check('grant', 'supportgrants', 'ReadOnly', 'spec.accessLevel')]],
    ['a SupportGrant with a new reason', 'UPDATE', aSupportGrant({ spec: { reason: 'Another issue.' } }), aSupportGrant(), []],
    ['a SupportGrant revoked', 'UPDATE', aSupportGrant({ spec: { revoked: true, duration: '336h' } }), aSupportGrant(), []],
    ['a Workspace', 'CREATE', aWorkspace(), undefined, []],
  ];
  it.each(cases)('%s', (_name, operation, object, oldObject, expected) => {
    expect(accessChecksFor(operation, object, oldObject)).toEqual(expected);
  });

  it('says the RBAC rule that allows a check', () => {
    const [first] = accessChecksFor('CREATE', aMember({ spec: { role: 'admin' } }));
    expect(rbacRuleFor(first as AccessCheck)).toBe('{apiGroups: ["gatehouse.dev"], resources: ["roles"], verbs: ["assign"], resourceNames: ["admin"]}');
  });
});

describe('cachingAuthorizer', () => {
  const assignAdmin = accessChecksFor('CREATE', aMember({ spec: { role: 'admin' } }))[0] as AccessCheck;
  const assignViewer = accessChecksFor('CREATE', aMember({ spec: { role: 'viewer' } }))[0] as AccessCheck;

  function counting(answer: (user: string, check: AccessCheck) => boolean) {
    const calls: string[] = [];
    const inner: Authorizer = {
      async review(user, c) {
        calls.push(`${user.username}:${c.name}`);
        return { allowed: answer(user.username ?? '', c) };
      },
    };
    return { calls, inner };
  }

  it('asks once per identity and check within the TTL, again after it', async () => {
    const clock = new ManualClock();
    const { calls, inner } = counting(() => true);
    const cached = cachingAuthorizer(inner, { clock, ttlMs: 10_000 });
    const jane = { username: 'jane', groups: ['a', 'b'] };
    await cached.review(jane, assignAdmin);
    await cached.review({ username: 'jane', groups: ['b', 'a'] }, assignAdmin);
    await cached.review(jane, assignViewer);
    await cached.review({ username: 'jane', groups: ['a'] }, assignAdmin);
    expect(calls).toEqual(['jane:admin', 'jane:viewer', 'jane:admin']);
    clock.advance(10_000);
    await cached.review(jane, assignAdmin);
    expect(calls).toHaveLength(4);
  });

  it('does not remember denials, so a new RoleBinding works at once', async () => {
    let allowed = false;
    const { calls, inner } = counting(() => allowed);
    const cached = cachingAuthorizer(inner, { clock: new ManualClock() });
    expect(await cached.review({ username: 'jane' }, assignAdmin)).toEqual({ allowed: false });
    allowed = true;
    expect(await cached.review({ username: 'jane' }, assignAdmin)).toEqual({ allowed: true });
    expect(calls).toHaveLength(2);
  });

  it('stays bounded', async () => {
    const { inner } = counting(() => true);
    const cached = cachingAuthorizer(inner, { clock: new ManualClock(), maxEntries: 3 });
    for (const username of ['a', 'b', 'c', 'd', 'e']) await cached.review({ username }, assignAdmin);
    expect(cached.size).toBe(3);
  });
});
