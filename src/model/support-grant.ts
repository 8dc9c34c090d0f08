import { Type, type Static } from '@sinclair/typebox';
import { Conditions, DeletionPolicyField, ObservedGeneration, type ObjectMeta } from './common.js';
import { Duration, LocalObjectReference, StringEnum, Timestamp } from './schema-types.js';

export const GranteeTypeValues = ['SupportTeam', 'Agents'] as const;
export const ScopeTypeValues = ['Workspace', 'Member'] as const;
export const AccessLevelValues = ['ReadOnly', 'ReadWrite'] as const;
export type AccessLevel = (typeof AccessLevelValues)[number];

/** Longest grant the API accepts at all: a leap year. A workspace sets its own, lower limit. */
export const SUPPORT_GRANT_MAX_DURATION = '8784h';

export const SupportGrantSpecSchema = Type.Object(
  {
    workspaceRef: LocalObjectReference('The Workspace the vendor\'s support team is let into.'),
    grantee: Type.Object(
      {
        type: StringEnum(GranteeTypeValues, {
          description: 'SupportTeam: the vendor\'s whole support team. Agents: only the agents listed.',
        }),
        agents: Type.Optional(
          Type.Array(Type.String({ description: 'A support agent\'s email address.', format: 'email', maxLength: 254 }), {
            description: 'Support agents let in, by email. Required when type is Agents.',
            maxItems: 100,
            'x-kubernetes-list-type': 'set',
          }),
        ),
      },
      {
        description: 'Who from the vendor\'s support team gets access.',
        'x-kubernetes-validations': [
          {
            rule: "self.type != 'Agents' || (has(self.agents) && size(self.agents) > 0)",
            message: 'grantee.agents must list at least one agent when grantee.type is Agents',
            fieldPath: '.agents',
          },
          {
            rule: "self.type != 'SupportTeam' || !has(self.agents) || size(self.agents) == 0",
            message: 'grantee.agents must be empty when grantee.type is SupportTeam',
            fieldPath: '.agents',
          },
        ],
      },
    ),
    scope: Type.Object(
      {
        type: StringEnum(ScopeTypeValues, {
          description: 'Workspace: the whole workspace. Member: only one member\'s account ("as you").',
        }),
        memberRef: Type.Optional(LocalObjectReference('The Member whose account support may use, when type is Member.')),
      },
      {
        description: 'What support may see.',
        'x-kubernetes-validations': [
          { rule: "self.type != 'Member' || has(self.memberRef)", message: 'scope.memberRef is required when scope.type is Member', fieldPath: '.memberRef' },
          { rule: "self.type != 'Workspace' || !has(self.memberRef)", message: 'scope.memberRef must be absent when scope.type is Workspace', fieldPath: '.memberRef' },
        ],
      },
    ),
    accessLevel: Type.Optional(
      StringEnum(AccessLevelValues, {
        description: 'ReadOnly (the default) or ReadWrite, which the workspace must allow (supportAccess.allowReadWrite).',
        default: 'ReadOnly',
      }),
    ),
    startsAt: Type.Optional(Timestamp({ description: 'When access begins. Absent: when the grant is created.' })),
    duration: Type.Optional(
      Duration({
        description: 'How long access lasts from startsAt, for example 168h (a week), 720h (a month) or 8760h (a year). Set either duration or endsAt.',
        'x-kubernetes-validations': [
          { rule: "duration(self) > duration('0s')", message: 'duration must be positive' },
          {
            rule: `duration(self) <= duration('${SUPPORT_GRANT_MAX_DURATION}')`,
            message: 'duration must be at most a year (8784h)',
            messageExpression: `'duration ' + self + ' is longer than a year (${SUPPORT_GRANT_MAX_DURATION}); grant a year or less and renew it if support still needs access'`,
            reason: 'FieldValueInvalid',
          },
        ],
      }),
    ),
    endsAt: Type.Optional(Timestamp({ description: 'When access ends. Set either duration or endsAt.' })),
    reason: Type.String({
      description: 'Why support needs access: the issue to diagnose. Shown in the audit log.',
      minLength: 1,
      maxLength: 2000,
    }),
    ticket: Type.Optional(Type.String({ description: 'Support ticket reference.', maxLength: 200 })),
    revoked: Type.Optional(
      Type.Boolean({
        description: 'Set to true to revoke access now while keeping the grant on record. Deleting the grant revokes it too.',
        default: false,
      }),
    ),
    deletionPolicy: DeletionPolicyField(),
  },
  {
    description: 'Time-boxed access for the vendor\'s support team.',
    'x-kubernetes-validations': [
      { rule: 'has(self.duration) != has(self.endsAt)', message: 'set exactly one of duration and endsAt' },
      {
        rule: '!has(self.startsAt) || !has(self.endsAt) || timestamp(self.endsAt) > timestamp(self.startsAt)',
        message: 'endsAt must be after startsAt',
        // No messageExpression: string(timestamp) has no bounded cost, and the API server refuses the CRD.
        fieldPath: '.endsAt',
        reason: 'FieldValueInvalid',
      },
      { rule: 'self.workspaceRef.name == oldSelf.workspaceRef.name', message: 'workspaceRef is immutable; create a new SupportGrant instead', fieldPath: '.workspaceRef.name' },
      { rule: '!has(oldSelf.revoked) || !oldSelf.revoked || (has(self.revoked) && self.revoked)', message: 'a revoked grant cannot be reinstated; create a new SupportGrant instead', fieldPath: '.revoked' },
    ],
  },
);
export type SupportGrantSpec = Static<typeof SupportGrantSpecSchema>;

export const SupportGrantPhaseValues = ['Pending', 'Active', 'Expired', 'Revoked', 'Failed'] as const;
export type SupportGrantPhase = (typeof SupportGrantPhaseValues)[number];

export const SupportGrantStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration()),
    phase: Type.Optional(
      StringEnum(SupportGrantPhaseValues, {
        description: 'Pending (not started or not yet in the store), Active, Expired, Revoked or Failed.',
      }),
    ),
    conditions: Type.Optional(Conditions()),
    startsAt: Type.Optional(Timestamp({ description: 'When access began or begins.' })),
    endsAt: Type.Optional(Timestamp({ description: 'When access ends.' })),
    revokedAt: Type.Optional(Timestamp({ description: 'When access was revoked.' })),
    evidenceDigest: Type.Optional(Type.String({
      description:
        'SHA-256 (hex) over the chain hashes of every audit-log entry about this grant, recorded once when the grant ended (Expired or Revoked). gatehouse audit --grant NAME prints the same digest while the log is intact.',
      pattern: '^[0-9a-f]{64}$',
    })),
  },
  { description: 'Observed state of the SupportGrant.' },
);
export type SupportGrantStatus = Static<typeof SupportGrantStatusSchema>;

export interface SupportGrant {
  apiVersion: 'gatehouse.dev/v1alpha1';
  kind: 'SupportGrant';
  metadata: ObjectMeta;
  spec: SupportGrantSpec;
  status?: SupportGrantStatus;
}
