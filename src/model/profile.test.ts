import { describe, expect, it } from 'vitest';
import { getDefaultProfile, grantsAdmin, profileFromDocument, ProfileError } from './profile.js';

describe('default profile (seed 002)', () => {
  const profile = getDefaultProfile();
  const perms = (id: string) => [...(profile.defaultRoles.get(id)?.permissions ?? [])].sort();

  it('has the fourteen permissions of the catalog', () => {
    expect([...profile.permissions.keys()].sort()).toEqual(
      [
        'view-dashboard', 'export-users', 'create-segment', 'campaign-maker', 'campaign-checker',
        'update-integrations', 'update-data-management', 'update-settings', 'update-team-members',
        'view-update-billing', 'view-user-profile', 'view-pii', 'feedback-management', 'manage-login-settings',
      ].sort(),
    );
  });

  it('gives Admin every permission', () => {
    expect(perms('admin')).toEqual([...profile.permissions.keys()].sort());
  });

  it('gives Manager all of seed 002 but billing and team members', () => {
    const expected = [...profile.permissions.keys()]
      .filter((p) => !['view-update-billing', 'update-team-members', 'manage-login-settings'].includes(p))
      .sort();
    expect(perms('manager')).toEqual(expected);
  });

  it.each([
    ['editor', ['campaign-maker', 'create-segment', 'view-dashboard']],
    ['viewer', ['view-dashboard']],
  ])('gives %s exactly %j', (role, expected) => {
    expect(perms(role)).toEqual(expected);
  });

  it('reserves default role ids and display names, case-insensitively', () => {
    for (const name of ['admin', 'manager', 'editor', 'viewer']) expect(profile.reservedRoleNames.has(name)).toBe(true);
    expect(profile.reservedRoleNames.has('analyst')).toBe(false);
  });

  it('counts only roles that can change access as admin', () => {
    expect(grantsAdmin(profile, perms('admin'))).toBe(true);
    expect(grantsAdmin(profile, perms('manager'))).toBe(false);
    expect(grantsAdmin(profile, ['view-dashboard', 'update-team-members'])).toBe(true);
  });
});

describe('profileFromDocument', () => {
  const base = () => ({
    apiVersion: 'gatehouse.dev/v1alpha1',
    kind: 'Profile',
    metadata: { name: 'other-product' },
    permissions: [{ id: 'read', displayName: 'Read', description: 'r', access: 'Read' }],
    roles: [{ id: 'owner', displayName: 'Owner', description: 'o', permissions: ['read'] }],
    adminPermissions: ['read'],
    legacyPermissions: [],
  });

  it('loads another product\'s profile', () => {
    const profile = profileFromDocument(base(), 'other.yaml');
    expect(profile.name).toBe('other-product');
    expect([...profile.defaultRoles.keys()]).toEqual(['owner']);
  });

  it.each([
    ['an unknown permission in a role', (d: ReturnType<typeof base>) => { d.roles[0]!.permissions = ['write']; }, /roles\[0\]\.permissions\[0\]: unknown permission "write"/],
    ['a duplicate permission id', (d: ReturnType<typeof base>) => { d.permissions.push({ ...d.permissions[0]! }); }, /permissions\[1\]\.id: duplicate permission id "read"/],
    ['a missing field', (d: ReturnType<typeof base>) => { delete (d as Partial<ReturnType<typeof base>>).roles; }, /roles: required field is missing/],
    ['an unknown field', (d: ReturnType<typeof base>) => { (d as Record<string, unknown>).extra = 1; }, /extra: unknown field/],
    ['a bad access value', (d: ReturnType<typeof base>) => { (d.permissions[0] as { access: string }).access = 'Admin'; }, /permissions\[0\]\.access: must be one of "Read", "Write"/],
  ])('rejects %s, naming the file and field', (_name, mutate, pattern) => {
    const doc = base();
    mutate(doc);
    expect(() => profileFromDocument(doc, 'other.yaml')).toThrow(ProfileError);
    expect(() => profileFromDocument(doc, 'other.yaml')).toThrow(pattern);
  });
});
