import { Type, type Static } from '@sinclair/typebox';
import { Conditions, DeletionPolicyField, ObservedGeneration, type ObjectMeta } from './common.js';
import { LocalObjectReference, StringEnum, Timestamp } from './schema-types.js';

export const LoginTypeValues = ['Local', 'SSO'] as const;
export type LoginType = (typeof LoginTypeValues)[number];

export const MemberSpecSchema = Type.Object(
  {
    workspaceRef: LocalObjectReference('The Workspace this member belongs to.'),
    email: Type.String({
      description: 'Email address the invitation is sent to and the member logs in with. Unique in the workspace. Immutable.',
      format: 'email',
      minLength: 3,
      maxLength: 254,
      'x-kubernetes-validations': [
        {
          rule: 'self == oldSelf',
          message: 'email is immutable; create a new Member instead',
          messageExpression: "'email is immutable (it was ' + oldSelf + '): delete this Member and declare a new one for the new address'",
          reason: 'FieldValueForbidden',
        },
      ],
    }),
    displayName: Type.String({
      description: 'The person\'s full name. Immutable, as in the product\'s own console.',
      minLength: 1,
      maxLength: 200,
      'x-kubernetes-validations': [
        { rule: 'self == oldSelf', message: 'displayName is immutable; delete this Member and declare a new one', reason: 'FieldValueForbidden' },
      ],
    }),
    phone: Type.Optional(
      Type.String({ description: 'Phone number in E.164 form, for example +4930123456.', pattern: '^\\+[1-9][0-9]{6,14}$' }),
    ),
    role: Type.Optional(
      Type.String({
        description:
          'Role given to the member: a default role (admin, manager, editor, viewer) or the name of a Role in this namespace for the same workspace. Absent: a legacy member with no role assigned, who keeps the legacy permission set until a role is assigned.',
        minLength: 1,
        maxLength: 253,
      }),
    ),
    loginType: Type.Optional(
      StringEnum(LoginTypeValues, {
        description: 'How the member logs in: Local credentials or SSO through the workspace\'s identity provider.',
        default: 'Local',
      }),
    ),
    expiresAt: Type.Optional(
      Timestamp({
        description:
          'Temporary access: the member cannot log in from this instant on. Absent: permanent access.',
      }),
    ),
    invitation: Type.Optional(
      Type.Object(
        {
          resend: Type.Optional(Type.Integer({
            description:
              'Increase by one to send the invitation again (only while it is pending). Resending through Git keeps the change reviewed and audited.',
            minimum: 0,
            default: 0,
            'x-kubernetes-validations': [{ rule: 'self >= oldSelf', message: 'invitation.resend can only increase' }],
          })),
        },
        { description: 'Invitation controls.' },
      ),
    ),
    deletionPolicy: DeletionPolicyField(),
  },
  {
    description: 'One person\'s access to one workspace.',
    'x-kubernetes-validations': [
      {
        rule: 'self.workspaceRef.name == oldSelf.workspaceRef.name',
        message: 'workspaceRef is immutable; create a new Member instead',
        messageExpression: "'workspaceRef.name is immutable (it was ' + oldSelf.workspaceRef.name + '): declare a new Member in workspace ' + self.workspaceRef.name + ' instead'",
        fieldPath: '.workspaceRef.name',
        reason: 'FieldValueForbidden',
      },
    ],
  },
);
export type MemberSpec = Static<typeof MemberSpecSchema>;

export const MemberPhaseValues = ['Pending', 'Invited', 'Active', 'Expired', 'Failed'] as const;
export type MemberPhase = (typeof MemberPhaseValues)[number];

export const InvitationStatusSchema = Type.Object(
  {
    state: StringEnum(['Waiting', 'Completed', 'Expired'] as const, {
      description: 'Waiting until the invited person accepts, then Completed; Expired when its lifetime passed unaccepted.',
    }),
    sentAt: Type.Optional(Timestamp({ description: 'When the invitation was last sent.' })),
    expiresAt: Type.Optional(Timestamp({ description: 'When the pending invitation stops being valid.' })),
    respondedAt: Type.Optional(Timestamp({ description: 'When the invitation was accepted.' })),
    sentCount: Type.Optional(Type.Integer({ description: 'How many times the invitation was sent.', minimum: 0 })),
  },
  { description: 'The member\'s invitation, as recorded in the identity store.' },
);

export const MemberStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration()),
    phase: Type.Optional(
      StringEnum(MemberPhaseValues, {
        description: 'Pending (not yet in the store), Invited, Active, Expired (temporary access or invitation ended) or Failed.',
      }),
    ),
    conditions: Type.Optional(Conditions()),
    role: Type.Optional(Type.String({ description: 'Role in effect in the identity store.' })),
    invitation: Type.Optional(InvitationStatusSchema),
    expiresAt: Type.Optional(Timestamp({ description: 'When access ends (temporary access).' })),
    lastLoginAt: Type.Optional(Timestamp({ description: 'Last login recorded by the application.' })),
  },
  { description: 'Observed state of the Member.' },
);
export type MemberStatus = Static<typeof MemberStatusSchema>;

export interface Member {
  apiVersion: 'gatehouse.dev/v1alpha1';
  kind: 'Member';
  metadata: ObjectMeta;
  spec: MemberSpec;
  status?: MemberStatus;
}
