import { describe, expect, it } from 'vitest';
import { checkObjectSchema } from './object-schema.js';
import { pointerToFieldPath } from './schema-validator.js';

const member = (spec: Record<string, unknown>) => ({
  apiVersion: 'gatehouse.dev/v1alpha1',
  kind: 'Member',
  metadata: { name: 'ada', namespace: 'acme', labels: { team: 'growth' } },
  spec: { workspaceRef: { name: 'acme' }, email: 'ada@acme.example', displayName: 'Ada', ...spec },
});

describe('checkObjectSchema', () => {
  it('accepts a valid Member with open metadata and any status', () => {
    expect(checkObjectSchema('Member', { ...member({ role: 'viewer' }), status: { phase: 'Active', anything: 1 } })).toEqual([]);
  });

  it.each([
    ['unknown spec field', { rolee: 'viewer' }, 'spec.rolee', 'additionalProperties'],
    ['bad enum', { loginType: 'Password' }, 'spec.loginType', 'enum'],
    ['bad email', { email: 'not-an-email' }, 'spec.email', 'format'],
    ['bad timestamp', { expiresAt: 'tomorrow' }, 'spec.expiresAt', 'format'],
    ['bad phone', { phone: '0301234' }, 'spec.phone', 'pattern'],
    ['nested unknown field', { workspaceRef: { name: 'acme', namespace: 'x' } }, 'spec.workspaceRef.namespace', 'additionalProperties'],
  ])('reports %s at its field path', (_name, spec, path, keyword) => {
    const problems = checkObjectSchema('Member', member(spec));
    expect(problems).toContainEqual(expect.objectContaining({ path, keyword }));
  });

  it('reports a missing required field by its full path', () => {
    const doc = member({});
    delete (doc.spec as Record<string, unknown>).email;
    expect(checkObjectSchema('Member', doc)).toContainEqual(
      expect.objectContaining({ path: 'spec.email', keyword: 'required', message: 'required field is missing; add email' }),
    );
  });

  it('checks apiVersion and kind', () => {
    const problems = checkObjectSchema('Member', { ...member({}), apiVersion: 'gatehouse.dev/v1' });
    expect(problems.map((p) => p.path)).toContain('apiVersion');
  });
});

describe('pointerToFieldPath', () => {
  it.each([
    ['', ''],
    ['/spec', 'spec'],
    ['/spec/permissions/2', 'spec.permissions[2]'],
    ['/metadata/annotations/a~1b', 'metadata.annotations.a/b'],
  ])('%j -> %j', (pointer, path) => {
    expect(pointerToFieldPath(pointer)).toBe(path);
  });
});

describe('fields with a default', () => {
  it('may be left out of a file, as the API server would fill them in', () => {
    const workspace = {
      apiVersion: 'gatehouse.dev/v1alpha1',
      kind: 'Workspace',
      metadata: { name: 'acme', namespace: 'acme' },
      spec: {
        workspaceId: 'acme',
        displayName: 'Acme',
        admins: { max: 2 },
        supportAccess: { allowed: true },
        accessReview: {},
      },
    };
    expect(checkObjectSchema('Workspace', workspace)).toEqual([]);
  });
});
