import { describe, expect, it } from 'vitest';
import type { KubeObject } from './client.js';
import { LAST_APPLIED_ANNOTATION, StringPool, compactObject } from './projection.js';

function member(metadata: Partial<KubeObject['metadata']> = {}): KubeObject {
  return {
    apiVersion: 'gatehouse.dev/v1alpha1',
    kind: 'Member',
    metadata: { name: 'alice', namespace: 'team-a', resourceVersion: '7', generation: 2, ...metadata },
    spec: { workspaceRef: { name: 'acme' }, email: 'alice@example.com', role: 'viewer' },
    status: { phase: 'Invited', observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: 'Every rule passes.' }] },
  };
}

describe('compactObject', () => {
  const managedFields = [{ manager: 'kubectl-create', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:email': {} } } }];
  const cases: Array<{ name: string; metadata: Partial<KubeObject['metadata']>; annotations: Record<string, string> | undefined }> = [
    { name: 'drops managedFields', metadata: { managedFields }, annotations: undefined },
    { name: 'drops the last-applied annotation and the annotations map it leaves empty', metadata: { annotations: { [LAST_APPLIED_ANNOTATION]: '{"big":"json"}' } }, annotations: undefined },
    { name: 'keeps other annotations', metadata: { managedFields, annotations: { [LAST_APPLIED_ANNOTATION]: '{}', owner: 'platform' } }, annotations: { owner: 'platform' } },
    { name: 'leaves an object without either as it was', metadata: { annotations: { owner: 'platform' } }, annotations: { owner: 'platform' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const compact = compactObject(member(c.metadata), new StringPool());
      expect(compact.metadata.managedFields).toBeUndefined();
      expect(compact.metadata.annotations).toEqual(c.annotations);
      // What the rules, the planner and the status writer read is untouched.
      const { managedFields: _m, annotations: _a, ...rest } = { ...member(c.metadata).metadata };
      expect({ ...compact, metadata: { ...compact.metadata, annotations: undefined } }).toEqual({ ...member(), metadata: { ...rest, annotations: undefined } });
    });
  }

  it('shares repeated strings through the pool, not free text', () => {
    const pool = new StringPool();
    compactObject(member(), pool);
    const afterOne = pool.size;
    compactObject(member({ name: 'bob' }), pool);
    // A second Member in the same namespace, workspace and role adds nothing to the pool.
    expect(pool.size).toBe(afterOne);
    expect(pool.intern('viewer')).toBe('viewer');
    expect(pool.intern('alice@example.com')).toBe('alice@example.com');
  });
});

describe('StringPool', () => {
  it('starts again empty when full, and passes long strings through', () => {
    const pool = new StringPool(3, 8);
    for (const s of ['a', 'b', 'c']) pool.intern(s);
    expect(pool.size).toBe(3);
    pool.intern('d');
    expect(pool.size).toBe(1);
    pool.intern('a very long string');
    expect(pool.size).toBe(1);
  });
});
