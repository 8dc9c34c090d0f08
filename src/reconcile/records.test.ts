import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { diffFields, grantStateAt, memberDigest, memberFields, memberStateAt, type MemberRecord } from './records.js';

const member: MemberRecord = {
  workspaceId: 'acme',
  email: 'Alice@Acme.example',
  emailNormalized: 'alice@acme.example',
  displayName: 'Alice',
  roleId: 'viewer',
  loginType: 'Local',
  expiresAt: '2026-06-01T00:00:00.000Z',
  state: 'Invited',
  deletionPolicy: 'Delete',
  managed: true,
};

describe('records', () => {
  it('memberDigest digests exactly the fields memberFields lists, in order', () => {
    const expected = createHash('sha256').update(JSON.stringify(Object.values(memberFields(member)))).digest('hex');
    expect(memberDigest(member)).toBe(expected);
    expect(memberDigest({ ...member, phone: '+4930123456' })).not.toBe(expected);
  });

  it.each([
    ['one millisecond before the end', '2026-05-31T23:59:59.999Z', 'Invited'],
    ['at the end', '2026-06-01T00:00:00.000Z', 'Expired'],
    ['after the end', '2026-06-01T00:00:00.001Z', 'Expired'],
  ])('temporary access %s', (_name, at, state) => {
    expect(memberStateAt(member, at).state).toBe(state);
  });

  it('an invitation expires at its instant unless accepted', () => {
    const invited = { ...member, expiresAt: undefined, invitation: { state: 'Waiting' as const, sender: 'x', sentAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-08T00:00:00.000Z', sentCount: 1, resendRequested: 0 } };
    expect(memberStateAt(invited, '2026-01-07T23:59:59.999Z')).toEqual({ state: 'Invited', why: 'Invited' });
    expect(memberStateAt(invited, '2026-01-08T00:00:00.000Z')).toEqual({ state: 'Expired', why: 'InvitationExpired' });
    expect(memberStateAt({ ...invited, acceptedAt: '2026-01-02T00:00:00.000Z' }, '2026-02-01T00:00:00.000Z')).toEqual({ state: 'Active', why: 'Accepted' });
  });

  it.each([
    ['2026-01-01T23:59:59.999Z', undefined, 'Pending'],
    ['2026-01-02T00:00:00.000Z', undefined, 'Active'],
    ['2026-01-08T00:00:00.000Z', undefined, 'Expired'],
    ['2026-01-03T00:00:00.000Z', '2026-01-03T00:00:00.000Z', 'Revoked'],
  ])('a support grant at %s (revoked %s) is %s', (at, revokedAt, state) => {
    const grant = { startsAt: '2026-01-02T00:00:00.000Z', endsAt: '2026-01-08T00:00:00.000Z', ...(revokedAt ? { revokedAt } : {}) };
    expect(grantStateAt(grant, at)).toBe(state);
  });

  it.each([
    ['equal lists of strings', ['10.0.0.0/8', '192.168.0.0/16'], ['10.0.0.0/8', '192.168.0.0/16'], false],
    ['lists in another order', ['a', 'b'], ['b', 'a'], true],
    ['a longer list', ['a'], ['a', 'b'], true],
    ['an empty list and null', [], null, true],
    ['equal objects, keys in another order', { a: 1, b: [2] }, { b: [2], a: 1 }, false],
    ['objects that differ inside', { a: 1, b: [2] }, { a: 1, b: [3] }, true],
    ['a list of strings and a list of numbers', ['1'], [1], true],
  ])('diffFields: %s', (_name, from, to, changed) => {
    expect(diffFields({ field: from }, { field: to })).toEqual(changed ? [{ field: 'field', from, to }] : []);
  });
});
