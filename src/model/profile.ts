// The product profile: which permissions exist and which roles every workspace
// has without declaring them. Data, not code, so another SaaS product can bring
// its own file; it is validated when loaded.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { StringEnum } from './schema-types.js';
import { compileSchema, type SchemaCheck } from './schema-validator.js';

const ID_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const ProfileSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'gatehouse.dev/v1alpha1' }),
    kind: Type.Unsafe<'Profile'>({ type: 'string', enum: ['Profile'], description: 'Profile' }),
    metadata: Type.Object({ name: Type.String({ minLength: 1, description: 'Profile name.' }) }, { description: 'Metadata.' }),
    permissions: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: ID_PATTERN, maxLength: 128, description: 'Permission id used in Roles.' }),
          displayName: Type.String({ minLength: 1, description: 'Name shown to people.' }),
          description: Type.String({ description: 'What the permission allows.' }),
          access: StringEnum(['Read', 'Write'] as const, { description: 'Read permissions are the only ones read-only support access can use.' }),
          sensitive: Type.Optional(Type.Boolean({ description: 'Sensitive data (PII, billing, exports): never given to support access.' })),
        },
        { additionalProperties: false, description: 'One permission.' },
      ),
      { minItems: 1, description: 'The permission catalog.' },
    ),
    roles: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: ID_PATTERN, maxLength: 63, description: 'Role id Members use in spec.role.' }),
          displayName: Type.String({ minLength: 1, description: 'Name shown to people.' }),
          description: Type.String({ description: 'What the role is for.' }),
          permissions: Type.Array(Type.String(), { description: 'Permission ids.' }),
        },
        { additionalProperties: false, description: 'A default role.' },
      ),
      { minItems: 1, description: 'Default roles present in every workspace; their names are reserved.' },
    ),
    adminPermissions: Type.Array(Type.String(), {
      minItems: 1,
      description: 'A role holding any of these counts as an administrator.',
    }),
    legacyPermissions: Type.Array(Type.String(), { description: 'Permissions of a member with no role assigned.' }),
  },
  { additionalProperties: false, description: 'A product profile.' },
);
export type ProfileDocument = Static<typeof ProfileSchema>;
export type PermissionInfo = ProfileDocument['permissions'][number];
export type DefaultRole = ProfileDocument['roles'][number];

/** A loaded, checked profile with lookups. */
export interface Profile {
  readonly name: string;
  readonly permissions: ReadonlyMap<string, PermissionInfo>;
  readonly defaultRoles: ReadonlyMap<string, DefaultRole>;
  readonly adminPermissions: ReadonlySet<string>;
  readonly legacyPermissions: readonly string[];
  /** Role ids and display names, lower-cased, that custom Roles may not take. */
  readonly reservedRoleNames: ReadonlySet<string>;
}

export class ProfileError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid product profile ${source}:\n  ${problems.join('\n  ')}`);
    this.name = 'ProfileError';
  }
}

// Compiled on first use, so a precompiled function registered at start-up can stand in.
let checkProfileDocument: SchemaCheck | undefined;

export function profileFromDocument(doc: unknown, source: string): Profile {
  checkProfileDocument ??= compileSchema(ProfileSchema, 'Profile');
  const schemaProblems = checkProfileDocument(doc);
  if (schemaProblems.length > 0) {
    throw new ProfileError(source, schemaProblems.map((p) => `${p.path || '(root)'}: ${p.message}`));
  }
  const profile = doc as ProfileDocument;
  const problems: string[] = [];
  const permissions = new Map<string, PermissionInfo>();
  profile.permissions.forEach((permission, i) => {
    if (permissions.has(permission.id)) problems.push(`permissions[${i}].id: duplicate permission id "${permission.id}"`);
    permissions.set(permission.id, permission);
  });
  const checkKnown = (ids: string[], path: string) =>
    ids.forEach((id, i) => {
      if (!permissions.has(id)) problems.push(`${path}[${i}]: unknown permission "${id}"; add it to permissions or remove it here`);
    });
  const defaultRoles = new Map<string, DefaultRole>();
  profile.roles.forEach((role, i) => {
    if (defaultRoles.has(role.id)) problems.push(`roles[${i}].id: duplicate role id "${role.id}"`);
    defaultRoles.set(role.id, role);
    checkKnown(role.permissions, `roles[${i}].permissions`);
  });
  checkKnown(profile.adminPermissions, 'adminPermissions');
  checkKnown(profile.legacyPermissions, 'legacyPermissions');
  if (problems.length > 0) throw new ProfileError(source, problems);

  const reservedRoleNames = new Set<string>();
  for (const role of profile.roles) {
    reservedRoleNames.add(role.id.toLowerCase());
    reservedRoleNames.add(role.displayName.toLowerCase());
  }
  return {
    name: profile.metadata.name,
    permissions,
    defaultRoles,
    adminPermissions: new Set(profile.adminPermissions),
    legacyPermissions: profile.legacyPermissions,
    reservedRoleNames,
  };
}

export function loadProfile(file: string): Profile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ProfileError(file, [`cannot read: ${(err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ProfileError(file, [`not valid YAML: ${(err as Error).message}`]);
  }
  return profileFromDocument(doc, file);
}

export const DEFAULT_PROFILE_FILE = fileURLToPath(new URL('../../profiles/default.yaml', import.meta.url));

let defaultProfile: Profile | undefined;

/** The built-in profile (seed 002's catalog and default roles). */
export function getDefaultProfile(): Profile {
  defaultProfile ??= loadProfile(DEFAULT_PROFILE_FILE);
  return defaultProfile;
}

/** Whether a set of permissions makes its holder an administrator. */
export function grantsAdmin(profile: Profile, permissions: Iterable<string>): boolean {
  for (const permission of permissions) if (profile.adminPermissions.has(permission)) return true;
  return false;
}
