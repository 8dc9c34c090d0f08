import { describe, expect, it } from 'vitest';
import type { GatehouseObject } from '../model/kinds.js';
import { OverlayIndex, SnapshotIndex, nameOf } from './object-index.js';
import { aMember, aRole, aWorkspace } from './testing/builders.js';

const named = <T extends GatehouseObject>(object: T, name: string, spec: Record<string, unknown> = {}): T =>
  ({ ...object, metadata: { ...object.metadata, name }, spec: { ...object.spec, ...spec } }) as T;
const names = (objects: readonly GatehouseObject[]) => objects.map(nameOf);

describe('OverlayIndex', () => {
  const base = new SnapshotIndex([aWorkspace(), named(aMember(), 'alice'), named(aMember(), 'bob', { role: 'viewer' })]);

  it.each([
    { name: 'an object only the overlay has is found', extra: [named(aRole(), 'analyst')], kind: 'Role' as const, list: ['analyst'], inWorkspace: ['analyst'] },
    { name: 'an overlaid copy replaces the base copy', extra: [named(aMember(), 'bob', { role: 'editor' })], kind: 'Member' as const, list: ['alice', 'bob'], inWorkspace: ['alice', 'bob'] },
    { name: 'no overlay: the base as it is', extra: [], kind: 'Member' as const, list: ['alice', 'bob'], inWorkspace: ['alice', 'bob'] },
  ])('$name', ({ extra, kind, list, inWorkspace }) => {
    const index = new OverlayIndex(base, extra);
    expect(names(index.list(kind, 'acme'))).toEqual(list);
    expect(names(index.listInWorkspace(kind, 'acme', aWorkspace().metadata.name))).toEqual(inWorkspace);
    for (const object of extra) expect(index.get(object.kind, 'acme', nameOf(object))).toBe(object);
  });

  it('reads a base without listInWorkspace by filtering its list', () => {
    const plain = { list: base.list.bind(base), get: base.get.bind(base) };
    const index = new OverlayIndex(plain, [named(aMember(), 'carol')]);
    expect(names(index.listInWorkspace('Member', 'acme', aWorkspace().metadata.name))).toEqual(['alice', 'bob', 'carol']);
    expect(index.listInWorkspace('Member', 'acme', 'other')).toEqual([]);
  });
});
