import { Type, type Static } from '@sinclair/typebox';
import { Conditions, DeletionPolicyField, ObservedGeneration, type ObjectMeta } from './common.js';
import { LocalObjectReference, StringEnum } from './schema-types.js';

export const RoleSpecSchema = Type.Object(
  {
    workspaceRef: LocalObjectReference('The Workspace this role belongs to.'),
    displayName: Type.String({
      description:
        'Name shown to people. The default roles\' names (Admin, Manager, Editor, Viewer) are reserved.',
      minLength: 1,
      maxLength: 200,
    }),
    description: Type.Optional(Type.String({ description: 'What the role is for.', maxLength: 2000 })),
    permissions: Type.Array(
      Type.String({ description: 'A permission id from the product\'s catalog, for example view-dashboard.', minLength: 1, maxLength: 128 }),
      {
        description: 'Permissions the role grants, from the product\'s permission catalog (gatehouse catalog lists them).',
        minItems: 1,
        maxItems: 256,
        'x-kubernetes-list-type': 'set',
      },
    ),
    deletionPolicy: DeletionPolicyField(),
  },
  {
    description: 'A custom role: a named set of permissions in one workspace.',
    'x-kubernetes-validations': [
      { rule: 'self.workspaceRef.name == oldSelf.workspaceRef.name', message: 'workspaceRef is immutable; create a new Role instead', fieldPath: '.workspaceRef.name' },
    ],
  },
);
export type RoleSpec = Static<typeof RoleSpecSchema>;

export const RolePhaseValues = ['Ready', 'Failed', 'Terminating'] as const;
export type RolePhase = (typeof RolePhaseValues)[number];

export const RoleStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration()),
    phase: Type.Optional(StringEnum(RolePhaseValues, { description: 'Summary for people: Ready, Failed or Terminating.' })),
    conditions: Type.Optional(Conditions()),
    memberCount: Type.Optional(Type.Integer({ description: 'Members this role is assigned to.', minimum: 0 })),
  },
  { description: 'Observed state of the Role.' },
);
export type RoleStatus = Static<typeof RoleStatusSchema>;

export interface Role {
  apiVersion: 'gatehouse.dev/v1alpha1';
  kind: 'Role';
  metadata: ObjectMeta;
  spec: RoleSpec;
  status?: RoleStatus;
}
