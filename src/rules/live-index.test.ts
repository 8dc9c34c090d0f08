import { describe, expect, it } from 'vitest';
import type { GatehouseObject, Kind } from '../model/kinds.js';
import type { Member } from '../model/member.js';
import { getDefaultProfile } from '../model/profile.js';
import { normalizeEmail } from '../model/text.js';
import { seededPicker, type SeededPicker } from '../../test/support/random.js';
import { checkDeletion, checkObject } from './check.js';
import { LiveIndex } from './live-index.js';
import { keyOf, SnapshotIndex } from './object-index.js';
import { aMember, aRole, aSupportGrant, aWorkspace } from './testing/builders.js';
import { passesSchema } from './world.js';

const profile = getDefaultProfile();
const at = new Date('2026-06-01T00:00:00Z');
const names = (list: readonly GatehouseObject[]) => list.map((o) => o.metadata.name);

describe('LiveIndex', () => {
  it('files a member under its workspace, email and role, and moves it when they change', () => {
    const index = new LiveIndex([aWorkspace(), aWorkspace({ name: 'beta' })]);
    const alice = aMember({ spec: { email: 'Alice@Acme.example', role: 'viewer' } });
    index.put(alice);
    expect(names(index.listInWorkspace('Member', 'acme', 'acme'))).toEqual(['alice']);
    expect(index.membersByEmail('acme', 'acme').get('alice@acme.example')).toEqual([alice]);
    expect([...(index.membersByRole('acme', 'acme').get('viewer') ?? [])]).toEqual([alice]);

    const cases: Array<{ name: string; next: Member; workspace: string; email: string; role: string | undefined }> = [
      { name: 'email change', next: aMember({ spec: { email: 'al@acme.example' } }), workspace: 'acme', email: 'al@acme.example', role: 'viewer' },
      { name: 'role change', next: aMember({ spec: { email: 'al@acme.example', role: 'admin' } }), workspace: 'acme', email: 'al@acme.example', role: 'admin' },
      { name: 'role removed', next: aMember({ spec: { email: 'al@acme.example', role: undefined } }), workspace: 'acme', email: 'al@acme.example', role: undefined },
      { name: 'workspaceRef renamed', next: aMember({ spec: { workspaceRef: { name: 'beta' }, email: 'al@acme.example' } }), workspace: 'beta', email: 'al@acme.example', role: 'viewer' },
    ];
    for (const c of cases) {
      index.put(c.next);
      const other = c.workspace === 'acme' ? 'beta' : 'acme';
      expect(index.get('Member', 'acme', 'alice'), c.name).toBe(c.next);
      expect(index.listInWorkspace('Member', 'acme', c.workspace), c.name).toEqual([c.next]);
      expect(index.listInWorkspace('Member', 'acme', other), c.name).toEqual([]);
      expect([...index.membersByEmail('acme', c.workspace)], c.name).toEqual([[c.email, [c.next]]]);
      expect(index.membersByEmail('acme', other).size, c.name).toBe(0);
      expect([...index.membersByRole('acme', c.workspace)].map(([role, set]) => [role, [...set]]), c.name).toEqual([[c.role, [c.next]]]);
      expect(index.list('Member', 'acme'), c.name).toEqual([c.next]);
    }

    index.delete(aMember());
    expect(index.get('Member', 'acme', 'alice')).toBeUndefined();
    expect(index.list('Member')).toEqual([]);
    expect(index.membersByEmail('acme', 'beta').size).toBe(0);
    expect(index.membersByRole('acme', 'beta').size).toBe(0);
    expect(index.size).toBe(2);
  });

  it('lists a member that fails its schema but files it under no email or role', () => {
    const broken = aMember({ name: 'broken', spec: { email: 42 as unknown as string } });
    const index = new LiveIndex([aWorkspace(), broken]);
    expect(index.listInWorkspace('Member', 'acme', 'acme')).toEqual([broken]);
    expect(index.membersByEmail('acme', 'acme').size).toBe(0);
    expect(index.membersByRole('acme', 'acme').size).toBe(0);
    // Fixed, it is filed.
    const fixed = aMember({ name: 'broken' });
    index.put(fixed);
    expect(index.membersByEmail('acme', 'acme').get('broken@acme.example')).toEqual([fixed]);
  });

  it('keeps every list in the order objects were last put, and hands out the same list until something changes', () => {
    const a = aMember({ name: 'a' });
    const b = aMember({ name: 'b' });
    const index = new LiveIndex([a, b]);
    const first = index.listInWorkspace('Member', 'acme', 'acme');
    expect(index.listInWorkspace('Member', 'acme', 'acme')).toBe(first);
    const a2 = aMember({ name: 'a', spec: { displayName: 'A again' } });
    index.put(a2);
    expect(index.listInWorkspace('Member', 'acme', 'acme')).toEqual([b, a2]);
    expect(index.list('Member', 'acme')).toEqual([b, a2]);
    expect(first).toEqual([a, b]);
  });

  // A seeded run of puts and deletes over a small world (two namespaces, three
  // workspace names, colliding emails and role names, malformed and expired
  // members): after each step the index answers as a SnapshotIndex built from
  // the same objects, and every check gives the same violations through either.
  it.each([1, 2, 3, 4, 5, 6])('answers as a SnapshotIndex of the same objects (seed %i)', (seed) => {
    const random = seededPicker(seed);
    const live = new LiveIndex();
    // The objects in the order they were last put, as the index keeps them.
    const model = new Map<string, GatehouseObject>();
    for (let step = 0; step < 120; step += 1) {
      if (model.size > 0 && random.next() < 0.25) {
        const victim = random.pick([...model.values()]);
        live.delete(victim);
        model.delete(keyOf(victim));
      } else {
        const object = randomObject(random);
        live.put(object);
        model.delete(keyOf(object));
        model.set(keyOf(object), object);
      }
      if (step % 10 === 9 || step === 119) expectSameAnswers(live, new SnapshotIndex([...model.values()]), [...model.values()]);
    }
  });
});

const NAMESPACES = ['acme', 'beta'];
const WORKSPACES = ['w1', 'w2', 'w3'];
const ROLE_NAMES = ['r-admin', 'r-plain'];

function randomObject(random: SeededPicker): GatehouseObject {
  const namespace = random.pick(NAMESPACES);
  const workspace = random.pick(WORKSPACES);
  const created = { creationTimestamp: `2026-0${1 + random.int(5)}-01T00:00:00Z` };
  switch (random.pick<Kind>(['Workspace', 'Role', 'Member', 'Member', 'Member', 'SupportGrant'])) {
    case 'Workspace':
      return aWorkspace({
        name: workspace,
        namespace,
        metadata: created,
        spec: { workspaceId: `${random.pick(['a', 'b', 'c'])}-id`, admins: { min: random.int(2), max: 1 + random.int(2) } },
      });
    case 'Role':
      return aRole({
        name: random.pick(ROLE_NAMES),
        namespace,
        metadata: created,
        spec: {
          workspaceRef: { name: workspace },
          displayName: random.pick(['Ops', 'OPS', 'Analyst']),
          permissions: random.next() < 0.5 ? ['view-dashboard', 'update-team-members'] : ['view-dashboard'],
        },
      });
    case 'Member': {
      const email = `${random.pick(['ann', 'ANN', 'bob', 'cy'])}@acme.example`;
      const role = random.pick<string | undefined>(['viewer', 'admin', 'admin', ...ROLE_NAMES, 'missing-role', undefined]);
      return aMember({
        name: `m${random.int(8)}`,
        namespace,
        metadata: created,
        spec: {
          workspaceRef: { name: workspace },
          email: random.next() < 0.1 ? (7 as unknown as string) : email,
          role,
          ...(random.next() < 0.2 ? { expiresAt: random.pick(['2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z']) } : {}),
        },
      });
    }
    default:
      return aSupportGrant({ name: `g${random.int(3)}`, namespace, metadata: created, spec: { workspaceRef: { name: workspace } } });
  }
}

function expectSameAnswers(live: LiveIndex, snapshot: SnapshotIndex, objects: readonly GatehouseObject[]): void {
  expect(live.size).toBe(snapshot.size);
  for (const kind of ['Workspace', 'Role', 'Member', 'SupportGrant'] as const) {
    // Cluster-wide, only Workspaces keep put order across namespaces (the rules list only them so).
    if (kind === 'Workspace') expect(live.list(kind)).toEqual(snapshot.list(kind));
    else expect(live.list(kind).map(keyOf).sort()).toEqual(snapshot.list(kind).map(keyOf).sort());
    for (const namespace of NAMESPACES) {
      expect(live.list(kind, namespace)).toEqual(snapshot.list(kind, namespace));
      if (kind === 'Workspace') continue;
      for (const workspace of WORKSPACES) {
        expect(live.listInWorkspace(kind, namespace, workspace)).toEqual(snapshot.listInWorkspace(kind, namespace, workspace));
      }
    }
  }
  for (const namespace of NAMESPACES) {
    for (const workspace of WORKSPACES) {
      const members = snapshot.listInWorkspace('Member', namespace, workspace).filter((m) => passesSchema(m));
      const byEmail = new Map<string, Member[]>();
      const byRole = new Map<string | undefined, Member[]>();
      for (const m of members) {
        byEmail.set(normalizeEmail(m.spec.email), [...(byEmail.get(normalizeEmail(m.spec.email)) ?? []), m]);
        byRole.set(m.spec.role, [...(byRole.get(m.spec.role) ?? []), m]);
      }
      const sortEntries = <V>(entries: Array<[string | undefined, V]>) => entries.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      expect(sortEntries([...live.membersByEmail(namespace, workspace)])).toEqual(sortEntries([...byEmail]));
      expect(sortEntries([...live.membersByRole(namespace, workspace)].map(([role, set]) => [role, [...set]]))).toEqual(sortEntries([...byRole]));
    }
  }
  for (const object of objects) {
    expect(checkObject(object, { index: live, profile, at }), keyOf(object)).toEqual(checkObject(object, { index: snapshot, profile, at }));
    expect(checkDeletion(object, { index: live, profile, at }), keyOf(object)).toEqual(checkDeletion(object, { index: snapshot, profile, at }));
  }
}
