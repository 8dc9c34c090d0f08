import { describe, expect, it } from 'vitest';
import { CHANGED_BY_ANNOTATION, type ObjectRef } from '../../model/index.js';
import { aMember, aWorkspace } from '../../rules/testing/builders.js';
import type { DeletionClaim } from '../../store/deletion-claims.js';
import { actorsOf } from './engine-adapter.js';

const AT = new Date('2026-06-01T12:00:00.000Z');
const claim = (uid: string, user: string, name = 'alice'): DeletionClaim => ({ uid, kind: 'Member', namespace: 'acme', name, user, at: AT });
const ALICE: ObjectRef = { kind: 'Member', namespace: 'acme', name: 'alice' };

describe('actorsOf: who the audit entry names', () => {
  const ws = aWorkspace();
  const stamped = aMember({ name: 'bob', metadata: { annotations: { [CHANGED_BY_ANNOTATION]: 'jane@acme.example' } } });

  const cases: Array<{ name: string; claims: DeletionClaim[]; ref: ObjectRef; uid?: string; want: string | undefined }> = [
    { name: 'a declared object: its changed-by stamp', claims: [], ref: { kind: 'Member', namespace: 'acme', name: 'bob' }, want: 'k8s:jane@acme.example' },
    { name: 'a declared object never names a deleter, even with a claim (a DELETE refused elsewhere)', claims: [claim('uid-b', 'mallory', 'bob')], ref: { kind: 'Member', namespace: 'acme', name: 'bob' }, uid: 'uid-b', want: 'k8s:jane@acme.example' },
    { name: 'a deleted object: the user who claimed its uid', claims: [claim('uid-a', 'sam')], ref: ALICE, uid: 'uid-a', want: 'k8s:sam' },
    { name: 'the same user claiming twice is still one deleter', claims: [claim('uid-a', 'sam'), claim('uid-a', 'sam')], ref: ALICE, uid: 'uid-a', want: 'k8s:sam' },
    { name: 'a claim on an older object of the same name does not count', claims: [claim('uid-old', 'sam')], ref: ALICE, uid: 'uid-a', want: undefined },
    { name: 'two users claiming one uid: nobody is named', claims: [claim('uid-a', 'sam'), claim('uid-a', 'mallory')], ref: ALICE, uid: 'uid-a', want: undefined },
    { name: 'a row without an owner uid: nobody is named', claims: [claim('uid-a', 'sam')], ref: ALICE, want: undefined },
    { name: 'no claim: nobody is named (the operator)', claims: [], ref: ALICE, uid: 'uid-a', want: undefined },
  ];
  it.each(cases)('$name', ({ claims, ref, uid, want }) => {
    expect(actorsOf([ws, stamped], claims)(ref, uid)).toBe(want);
  });
});
