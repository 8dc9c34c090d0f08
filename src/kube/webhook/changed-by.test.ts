// Finding 2: the Kubernetes user who changed an object reaches the audit log
// through the changed-by annotation, which the mutating webhook stamps and the
// validating webhook refuses from anyone else.
import { describe, expect, it } from 'vitest';
import { CHANGED_BY_ANNOTATION } from '../../model/common.js';
import type { GatehouseObject } from '../../model/kinds.js';
import { getDefaultProfile } from '../../model/profile.js';
import { createObjectIndex } from '../../rules/index.js';
import { aMember, aWorkspace } from '../../rules/testing/builders.js';
import { ManualClock } from '../../util/clock.js';
import { parseAdmissionReview } from './admission.js';
import { FORGED_CHANGED_BY } from './changed-by.js';
import { reviewAdmission, reviewMutation } from './handler.js';
import { anAdmissionReview, TEST_USER } from './testing.js';

const JANE = TEST_USER.username as string;
const OPERATOR = 'system:serviceaccount:gatehouse-system:gatehouse';

function stamped<T extends GatehouseObject>(object: T, user: string | undefined): T {
  const annotations = { ...(object.metadata.annotations ?? {}) };
  if (user === undefined) delete annotations[CHANGED_BY_ANNOTATION];
  else annotations[CHANGED_BY_ANNOTATION] = user;
  return { ...object, metadata: { ...object.metadata, annotations } };
}

const viewer = aMember({ name: 'alice' });
const editor = aMember({ name: 'alice', spec: { role: 'editor' } });
const withFinalizer = { ...viewer, metadata: { ...viewer.metadata, finalizers: ['gatehouse.dev/identity-store'] } };

// Every CREATE also gets the identity-store finalizer (finalizer.test.ts).
const ADD_FINALIZER = { op: 'add', path: '/metadata/finalizers', value: ['gatehouse.dev/identity-store'] };

function patchOf(response: { patch?: string }): unknown {
  return response.patch === undefined ? undefined : JSON.parse(Buffer.from(response.patch, 'base64').toString());
}

describe('reviewMutation stamps gatehouse.dev/changed-by', () => {
  it.each([
    ['a CREATE', 'CREATE', viewer, undefined, JANE, [{ op: 'add', path: '/metadata/annotations', value: { [CHANGED_BY_ANNOTATION]: JANE } }, ADD_FINALIZER]],
    ['a CREATE claiming someone else', 'CREATE', stamped(viewer, 'bob'), undefined, JANE, [{ op: 'add', path: '/metadata/annotations/gatehouse.dev~1changed-by', value: JANE }, ADD_FINALIZER]],
    ['a spec change', 'UPDATE', stamped(editor, 'bob'), stamped(viewer, 'bob'), JANE, [{ op: 'add', path: '/metadata/annotations/gatehouse.dev~1changed-by', value: JANE }]],
    ['the operator adding a finalizer', 'UPDATE', stamped(withFinalizer, 'bob'), stamped(viewer, 'bob'), OPERATOR, undefined],
    ['a metadata update rewriting the annotation', 'UPDATE', stamped(viewer, 'mallory'), stamped(viewer, 'bob'), JANE, [{ op: 'add', path: '/metadata/annotations/gatehouse.dev~1changed-by', value: 'bob' }]],
  ] as const)('%s', (_title, operation, object, oldObject, user, patch) => {
    const request = parseAdmissionReview(anAdmissionReview({ operation, object, ...(oldObject ? { oldObject } : {}), user: { ...TEST_USER, username: user } }));
    const response = reviewMutation(request);
    expect(response.allowed).toBe(true);
    expect(patchOf(response)).toEqual(patch);
    if (patch !== undefined) expect(response.patchType).toBe('JSONPatch');
  });
});

describe('reviewAdmission refuses a forged gatehouse.dev/changed-by', () => {
  const deps = {
    index: createObjectIndex([aWorkspace()]),
    profile: getDefaultProfile(),
    clock: new ManualClock('2026-06-01T00:00:00Z'),
    authorizer: { review: async () => ({ allowed: true }) },
  };
  it.each([
    ['a CREATE naming another user', 'CREATE', stamped(viewer, 'bob'), undefined, false],
    ['a CREATE naming the requester', 'CREATE', stamped(viewer, JANE), undefined, true],
    ['a CREATE without it', 'CREATE', viewer, undefined, true],
    ['a spec change naming another user', 'UPDATE', stamped(editor, 'bob'), stamped(viewer, 'bob'), false],
    ['a spec change naming the requester', 'UPDATE', stamped(editor, JANE), stamped(viewer, 'bob'), true],
    ['a metadata-only update rewriting it', 'UPDATE', stamped(viewer, JANE), stamped(viewer, 'bob'), false],
    ['a metadata-only update keeping it', 'UPDATE', stamped(withFinalizer, 'bob'), stamped(viewer, 'bob'), true],
  ] as const)('%s', async (_title, operation, object, oldObject, allowed) => {
    const request = parseAdmissionReview(anAdmissionReview({ operation, object, ...(oldObject ? { oldObject } : {}) }));
    const outcome = await reviewAdmission(request, deps);
    expect(outcome.response.allowed).toBe(allowed);
    if (!allowed) {
      expect(outcome.response.status?.details?.causes).toEqual([expect.objectContaining({ reason: FORGED_CHANGED_BY })]);
      // The denial names neither the forged user nor anyone else.
      expect(JSON.stringify(outcome.response)).not.toMatch(/bob|mallory/);
    }
  });
});
