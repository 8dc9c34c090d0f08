// The identity-store finalizer set at admission: added to every CREATE of the
// four kinds in the mutating webhook's JSON Patch, beside the changed-by
// stamp, so the reconciler's first write to a new object is its status.
import { describe, expect, it } from 'vitest';
import { CHANGED_BY_ANNOTATION, STORE_FINALIZER } from '../../model/common.js';
import type { GatehouseObject } from '../../model/kinds.js';
import { aMember, aRole, aSupportGrant, aWorkspace } from '../../rules/testing/builders.js';
import { parseAdmissionReview } from './admission.js';
import { storeFinalizerPatch } from './finalizer.js';
import { reviewMutation } from './handler.js';
import { anAdmissionReview, TEST_USER } from './testing.js';

function withFinalizers<T extends GatehouseObject>(object: T, finalizers: string[]): T {
  return { ...object, metadata: { ...object.metadata, finalizers } };
}

function requestFor(operation: 'CREATE' | 'UPDATE' | 'DELETE', object: GatehouseObject, extra: { subResource?: string; dryRun?: boolean } = {}) {
  return parseAdmissionReview(anAdmissionReview({ operation, object, ...(operation === 'UPDATE' ? { oldObject: object } : {}), ...extra }));
}

function patchOf(response: { patch?: string }): unknown[] {
  return response.patch === undefined ? [] : (JSON.parse(Buffer.from(response.patch, 'base64').toString()) as unknown[]);
}

const member = aMember({ name: 'alice' });

describe('storeFinalizerPatch', () => {
  it.each([
    ['a CREATE without finalizers', 'CREATE', member, {}, [{ op: 'add', path: '/metadata/finalizers', value: [STORE_FINALIZER] }]],
    ['a CREATE with someone else\'s finalizer keeps it', 'CREATE', withFinalizers(member, ['example.com/backup']), {}, [{ op: 'add', path: '/metadata/finalizers/-', value: STORE_FINALIZER }]],
    ['a CREATE with an empty list', 'CREATE', withFinalizers(member, []), {}, [{ op: 'add', path: '/metadata/finalizers/-', value: STORE_FINALIZER }]],
    ['a CREATE that already has it', 'CREATE', withFinalizers(member, ['example.com/backup', STORE_FINALIZER]), {}, []],
    ['a server-side dry run of a CREATE (patched like the real one)', 'CREATE', member, { dryRun: true }, [{ op: 'add', path: '/metadata/finalizers', value: [STORE_FINALIZER] }]],
    ['an UPDATE (the reconciler adds it to objects made before the webhook)', 'UPDATE', member, {}, []],
    ['a DELETE', 'DELETE', member, {}, []],
    ['a CREATE of a subresource', 'CREATE', member, { subResource: 'status' }, []],
  ] as const)('%s', (_title, operation, object, extra, patch) => {
    expect(storeFinalizerPatch(requestFor(operation, object, extra))).toEqual(patch);
  });

  it.each([aWorkspace(), aRole(), member, aSupportGrant()] as GatehouseObject[])('reviewMutation adds it to a new $kind with the changed-by stamp, in one patch', (object) => {
    const response = reviewMutation(requestFor('CREATE', withFinalizers(object, ['example.com/backup'])));
    expect(response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    // The stamp first, then the finalizer appended after the one already there (the API server applies it in test/e2e/webhook.test.ts).
    expect(patchOf(response)).toEqual([
      { op: 'add', path: '/metadata/annotations', value: { [CHANGED_BY_ANNOTATION]: TEST_USER.username } },
      { op: 'add', path: '/metadata/finalizers/-', value: STORE_FINALIZER },
    ]);
  });
});
