import { describe, expect, it } from 'vitest';
import type { CachedObject } from '../cache.js';
import { needsReconcile, parseKey } from './controller.js';

function object(meta: Record<string, unknown>): CachedObject {
  return { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Member', metadata: { name: 'a', namespace: 'n', generation: 1, ...meta }, spec: {} } as unknown as CachedObject;
}

describe('needsReconcile', () => {
  it.each([
    ['status only', {}, {}, false],
    ['labels only', {}, { labels: { a: 'b' } }, false],
    ['spec (generation)', {}, { generation: 2 }, true],
    ['deletion', {}, { deletionTimestamp: '2026-01-01T00:00:00Z' }, true],
    ['our finalizer added (our own write)', {}, { finalizers: ['gatehouse.dev/identity-store'] }, false],
    ['our finalizer removed by someone', { finalizers: ['gatehouse.dev/identity-store'] }, {}, true],
    ['another finalizer added', {}, { finalizers: ['example.com/x'] }, true],
  ] as Array<[string, Record<string, unknown>, Record<string, unknown>, boolean]>)('%s -> %s', (_name, before, after, expected) => {
    expect(needsReconcile({ type: 'update', old: object(before), object: object(after) })).toBe(expected);
  });

  it('always reconciles adds and deletes', () => {
    expect(needsReconcile({ type: 'add', object: object({}) })).toBe(true);
    expect(needsReconcile({ type: 'delete', object: object({}) })).toBe(true);
  });
});

describe('parseKey', () => {
  it('reads Kind/namespace/name', () => {
    expect(parseKey('Member/team-a/alice')).toEqual({ kind: 'Member', namespace: 'team-a', name: 'alice' });
  });
});
