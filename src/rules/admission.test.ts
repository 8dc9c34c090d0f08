// checkObject (one object against an index, as the webhook and reconciler use
// it), its operation-dependent rules, and checkDeletion.
import { describe, expect, it } from 'vitest';
import type { GatehouseObject, Kind, ObjectOfKind } from '../model/kinds.js';
import { getDefaultProfile } from '../model/profile.js';
import { checkDeletion, checkObject } from './check.js';
import { createObjectIndex, workspaceNameOf } from './object-index.js';
import { aMember, anAdmin, aRole, aSupportGrant, aWorkspace } from './testing/builders.js';
import type { ObjectIndex, Operation, RuleContext, Violation } from './types.js';

const AT = new Date('2026-06-01T00:00:00Z');
const profile = getDefaultProfile();

function ctx(stored: GatehouseObject[], operation?: Operation, oldObject?: GatehouseObject): RuleContext {
  return { at: AT, profile, index: createObjectIndex(stored), ...(operation ? { operation } : {}), ...(oldObject ? { oldObject } : {}) };
}
const ids = (violations: Violation[]) => violations.map((v) => `${v.severity} ${v.ruleId} ${v.field}`);
const base = (): GatehouseObject[] => [aWorkspace(), anAdmin({ metadata: { creationTimestamp: '2025-01-01T00:00:00Z' } })];

describe('checkObject at admission', () => {
  interface AdmissionCase {
    name: string;
    object: GatehouseObject;
    stored: GatehouseObject[];
    operation?: Operation;
    oldObject?: GatehouseObject;
    expected: string[];
  }
  const alice = aMember({ metadata: { creationTimestamp: '2026-01-01T00:00:00Z' } });
  const grant = aSupportGrant({ spec: { startsAt: '2026-05-01T00:00:00Z', duration: '168h' } });
  const cases: AdmissionCase[] = [
    { name: 'a valid new member', object: aMember(), stored: base(), operation: 'CREATE', expected: [] },
    {
      name: 'email changed',
      object: aMember({ spec: { email: 'alice.new@acme.example' } }),
      stored: [...base(), alice],
      operation: 'UPDATE',
      oldObject: alice,
      expected: ['error ImmutableFieldChanged spec.email'],
    },
    {
      name: 'displayName changed',
      object: aMember({ spec: { displayName: 'Alice B.' } }),
      stored: [...base(), alice],
      operation: 'UPDATE',
      oldObject: alice,
      expected: ['error ImmutableFieldChanged spec.displayName'],
    },
    {
      name: 'workspaceRef changed',
      object: aRole({ spec: { workspaceRef: { name: 'beta' } } }),
      stored: [...base(), aWorkspace({ name: 'beta', spec: { workspaceId: 'beta' } }), aRole()],
      operation: 'UPDATE',
      oldObject: aRole(),
      expected: ['error ImmutableFieldChanged spec.workspaceRef.name'],
    },
    {
      name: 'workspaceId changed',
      object: aWorkspace({ spec: { workspaceId: 'acme-2' } }),
      stored: base(),
      operation: 'UPDATE',
      oldObject: aWorkspace(),
      expected: ['error ImmutableFieldChanged spec.workspaceId'],
    },
    {
      name: 'the stored version stands in for a missing oldObject',
      object: aMember({ spec: { email: 'alice.new@acme.example' } }),
      stored: [...base(), alice],
      operation: 'UPDATE',
      expected: ['error ImmutableFieldChanged spec.email'],
    },
    {
      name: 'an unchanged immutable field on UPDATE',
      object: aMember({ spec: { role: 'editor' } }),
      stored: [...base(), alice],
      operation: 'UPDATE',
      oldObject: alice,
      expected: [],
    },
    {
      name: 'invitation.resend lowered',
      object: aMember({ spec: { invitation: { resend: 1 } } }),
      stored: [...base(), aMember({ spec: { invitation: { resend: 2 } } })],
      operation: 'UPDATE',
      oldObject: aMember({ spec: { invitation: { resend: 2 } } }),
      expected: ['error InvitationResendDecreased spec.invitation.resend'],
    },
    {
      name: 'invitation.resend raised',
      object: aMember({ spec: { invitation: { resend: 3 } } }),
      stored: [...base(), aMember({ spec: { invitation: { resend: 2 } } })],
      operation: 'UPDATE',
      expected: [],
    },
    {
      name: 'created with expiresAt in the past',
      object: aMember({ spec: { expiresAt: '2026-05-31T00:00:00Z' } }),
      stored: base(),
      operation: 'CREATE',
      expected: ['error TemporaryAccessInPast spec.expiresAt'],
    },
    {
      name: 'expiresAt moved into the past',
      object: aMember({ spec: { expiresAt: '2026-05-31T00:00:00Z' } }),
      stored: [...base(), aMember({ spec: { expiresAt: '2026-08-01T00:00:00Z' } })],
      operation: 'UPDATE',
      expected: ['error TemporaryAccessInPast spec.expiresAt'],
    },
    {
      name: 'expiresAt passed since; another field changes',
      object: aMember({ spec: { expiresAt: '2026-05-31T00:00:00Z', phone: '+4930123456' } }),
      stored: [...base(), aMember({ spec: { expiresAt: '2026-05-31T00:00:00Z' } })],
      operation: 'UPDATE',
      expected: ['warning TemporaryAccessInPast spec.expiresAt'],
    },
    {
      name: 'expired member seen by the reconciler (no operation)',
      object: aMember({ spec: { expiresAt: '2026-05-31T00:00:00Z' } }),
      stored: base(),
      expected: ['warning TemporaryAccessInPast spec.expiresAt'],
    },
    {
      name: 'grant created already ended',
      object: grant,
      stored: base(),
      operation: 'CREATE',
      expected: ['error SupportGrantEnded spec.duration'],
    },
    {
      name: 'ended grant updated',
      object: grant,
      stored: [...base(), grant],
      operation: 'UPDATE',
      expected: ['warning SupportGrantEnded spec.duration'],
    },
    {
      name: 'revoked grant reinstated',
      object: aSupportGrant({ spec: { revoked: false } }),
      stored: [...base(), aSupportGrant({ spec: { revoked: true } })],
      operation: 'UPDATE',
      expected: ['error RevokedGrantReinstated spec.revoked'],
    },
    {
      name: 'a second admin created',
      object: anAdmin({ name: 'zed' }),
      stored: base(),
      operation: 'CREATE',
      expected: ['error TooManyAdmins spec.role'],
    },
    {
      name: 'the existing admin updated while a newer one is over the limit',
      object: anAdmin({ metadata: { creationTimestamp: '2025-01-01T00:00:00Z' }, spec: { phone: '+4930123456' } }),
      stored: [...base(), anAdmin({ name: 'zed', metadata: { creationTimestamp: '2026-03-01T00:00:00Z' } })],
      operation: 'UPDATE',
      expected: [],
    },
    {
      name: 'the only admin demoted',
      object: anAdmin({ metadata: { creationTimestamp: '2025-01-01T00:00:00Z' }, spec: { role: 'viewer' } }),
      stored: base(),
      operation: 'UPDATE',
      expected: ['warning TooFewAdmins spec.role'],
    },
    {
      name: 'a Role edit that makes its members admins beyond max',
      object: aRole({ spec: { permissions: ['view-dashboard', 'manage-login-settings'] } }),
      stored: [...base(), aRole(), aMember({ spec: { role: 'campaign-analyst' } })],
      operation: 'UPDATE',
      expected: ['error TooManyAdmins spec.permissions'],
    },
    {
      name: 'a Role edit with admin permissions but no members',
      object: aRole({ spec: { permissions: ['view-dashboard', 'manage-login-settings'] } }),
      stored: [...base(), aRole()],
      operation: 'UPDATE',
      expected: [],
    },
    {
      name: 'admins.max lowered below the admins declared',
      object: aWorkspace({ spec: { admins: { min: 1, max: 1 } } }),
      stored: [aWorkspace({ spec: { admins: { min: 1, max: 2 } } }), anAdmin(), anAdmin({ name: 'zed' })],
      operation: 'UPDATE',
      expected: ['error TooManyAdmins spec.admins.max'],
    },
    {
      name: 'email taken by another member (its own old version does not count)',
      object: aMember({ name: 'bob', spec: { email: 'alice@acme.example' } }),
      stored: [...base(), aMember(), aMember({ name: 'bob', spec: { email: 'bob@acme.example' } })],
      operation: 'UPDATE',
      expected: ['error DuplicateEmail spec.email', 'error ImmutableFieldChanged spec.email'].reverse(),
    },
    {
      name: 'a Member whose Role does not exist is refused',
      object: aMember({ spec: { role: 'campaign-analyst' } }),
      stored: base(),
      operation: 'CREATE',
      expected: ['error RoleNotFound spec.role'],
    },
    {
      name: 'a Member whose Workspace does not exist is refused',
      object: aMember(),
      stored: [],
      operation: 'CREATE',
      expected: ['error UnknownWorkspace spec.workspaceRef.name'],
    },
    {
      name: 'a Workspace without admins warns, also when created',
      object: aWorkspace(),
      stored: [],
      operation: 'CREATE',
      expected: ['warning TooFewAdmins spec.admins.min'],
    },
    {
      name: 'an object being deleted is only held to immutability',
      object: aMember({ name: 'zed', metadata: { deletionTimestamp: '2026-05-31T00:00:00Z' }, spec: { role: 'nope' } }),
      stored: base(),
      operation: 'UPDATE',
      expected: [],
    },
    {
      name: 'an object being deleted still cannot change an immutable field',
      object: aMember({ metadata: { deletionTimestamp: '2026-05-31T00:00:00Z' }, spec: { role: 'nope', email: 'new@acme.example' } }),
      stored: [...base(), alice],
      operation: 'UPDATE',
      expected: ['error ImmutableFieldChanged spec.email'],
    },
  ];

  it.each(cases)('$name', (c) => {
    const violations = checkObject(c.object, ctx(c.stored, c.operation, c.oldObject));
    expect(ids(violations).sort()).toEqual([...c.expected].sort());
  });

  it('replaces the stored version with the object being checked', () => {
    const stored = [...base(), aMember({ spec: { role: 'nope' } })];
    expect(ids(checkObject(aMember(), ctx(stored, 'UPDATE')))).toEqual([]);
  });

  it('works with any ObjectIndex, not only createObjectIndex', () => {
    const objects = [...base(), aMember()];
    // A minimal index without the listInWorkspace fast path, like a cache might offer.
    const index: ObjectIndex = {
      list: <K extends Kind>(kind: K, namespace?: string) =>
        objects.filter((o) => o.kind === kind && (namespace === undefined || o.metadata.namespace === namespace)) as ObjectOfKind<K>[],
      get: <K extends Kind>(kind: K, namespace: string, name: string) =>
        objects.find((o) => o.kind === kind && o.metadata.namespace === namespace && o.metadata.name === name) as ObjectOfKind<K> | undefined,
    };
    const violations = checkObject(anAdmin({ name: 'zed', spec: { email: 'ALICE@acme.example' } }), { at: AT, profile, index, operation: 'CREATE' });
    expect(ids(violations).sort()).toEqual(['error DuplicateEmail spec.email', 'error TooManyAdmins spec.role']);
  });

  it('reports schema problems with their field paths and stops there', () => {
    const member = aMember({ spec: { email: 42 as never, loginType: 'Password' as never } });
    const violations = checkObject(member, ctx(base(), 'CREATE'));
    expect(ids(violations).sort()).toEqual(['error SchemaInvalid spec.email', 'error SchemaInvalid spec.loginType']);
  });
});

describe('checkDeletion', () => {
  it('refuses to delete a Role still assigned, naming the members', () => {
    const stored = [...base(), aRole(), aMember({ spec: { role: 'campaign-analyst' } }), aMember({ name: 'bob', spec: { role: 'campaign-analyst' } })];
    const violations = checkDeletion(aRole(), ctx(stored, 'DELETE', aRole()));
    expect(ids(violations)).toEqual(['error RoleInUse ']);
    expect(violations[0]?.message).toContain('2 members (alice, bob)');
  });

  it('lets an unassigned Role go, and ignores members of another workspace with that role name', () => {
    const stored = [...base(), aRole(), aMember({ spec: { role: 'campaign-analyst', workspaceRef: { name: 'beta' } } })];
    expect(checkDeletion(aRole(), ctx(stored, 'DELETE'))).toEqual([]);
  });

  it('warns, without refusing, when a Workspace still has objects', () => {
    const stored = [...base(), aRole(), aSupportGrant()];
    const violations = checkDeletion(aWorkspace(), ctx(stored, 'DELETE'));
    expect(ids(violations)).toEqual(['warning WorkspaceInUse ']);
    expect(violations[0]?.message).toContain('1 Role, 1 Member, 1 SupportGrant');
    expect(checkDeletion(aWorkspace(), ctx([aWorkspace()], 'DELETE'))).toEqual([]);
  });

  it('warns when deleting the last admin', () => {
    const violations = checkDeletion(anAdmin(), ctx(base(), 'DELETE'));
    expect(ids(violations)).toEqual(['warning TooFewAdmins ']);
    expect(checkDeletion(aMember(), ctx([...base(), aMember()], 'DELETE'))).toEqual([]);
  });
});

describe('createObjectIndex', () => {
  const objects = [aWorkspace(), aMember(), aMember({ name: 'bob', spec: { workspaceRef: { name: 'beta' } } }), aMember({ namespace: 'other' }), aMember({ spec: { email: 'second@acme.example' } })];
  const index = createObjectIndex(objects);

  it('looks up by kind, namespace and name; the first declaration wins', () => {
    expect(index.get('Member', 'acme', 'alice')?.spec.email).toBe('alice@acme.example');
    expect(index.get('Member', 'acme', 'nobody')).toBeUndefined();
    expect(index.size).toBe(4);
  });

  it('lists by kind, by namespace and by workspace', () => {
    expect(index.list('Member').map((m) => m.metadata.name)).toEqual(['alice', 'bob', 'alice']);
    expect(index.list('Member', 'acme')).toHaveLength(2);
    expect(index.listInWorkspace('Member', 'acme', 'beta').map((m) => workspaceNameOf(m))).toEqual(['beta']);
    expect(index.list('Role')).toEqual([]);
  });
});
