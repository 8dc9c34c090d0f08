import { Type, type Static } from '@sinclair/typebox';
import {
  Conditions,
  DeletionPolicyField,
  ObservedGeneration,
  type ObjectMeta,
} from './common.js';
import { Duration, StringEnum, Timestamp } from './schema-types.js';

export const WORKSPACE_ID_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const TwoFactorValues = ['Required', 'Optional'] as const;
export type TwoFactorPolicy = (typeof TwoFactorValues)[number];

export const SamlSchema = Type.Object(
  {
    idpEntityId: Type.String({
      description: 'Entity ID of the SAML 2.0 identity provider (IdP), as in its metadata.',
      minLength: 1,
      maxLength: 1024,
    }),
    ssoUrl: Type.String({
      description: 'HTTPS URL of the identity provider\'s single sign-on service (HTTP-Redirect or HTTP-POST binding).',
      minLength: 1,
      maxLength: 2048,
    }),
    signingCertificate: Type.String({
      description:
        'PEM-encoded X.509 certificate the identity provider signs SAML assertions with. Gatehouse acts as the service provider.',
      minLength: 1,
      maxLength: 16384,
    }),
  },
  { description: 'SAML 2.0 identity provider settings; Gatehouse\'s application acts as the service provider (SP).' },
);

export const SsoSchema = Type.Object(
  {
    enforced: Type.Optional(Type.Boolean({
      description:
        'When true, every member must log in through SSO: Members with loginType Local are rejected. Enable it organisation-wide once the IdP works.',
      default: false,
    })),
    saml: SamlSchema,
  },
  { description: 'Single sign-on through a SAML 2.0 identity provider.' },
);

export const AdminLimitsSchema = Type.Object(
  {
    min: Type.Optional(Type.Integer({
      description:
        'Fewest members with an administrative role the workspace should have, so it cannot be locked out. Fewer gives a warning.',
      minimum: 0,
      maximum: 1000,
      default: 1,
    })),
    max: Type.Optional(Type.Integer({
      description:
        'Most members with an administrative role (one that can manage team members) the workspace may have. The minimum-permission rule recommends one.',
      minimum: 1,
      maximum: 1000,
      default: 1,
    })),
  },
  {
    description: 'Bounds on the number of administrators (minimum-permission rule).',
    'x-kubernetes-validations': [{ rule: '!has(self.min) || !has(self.max) || self.min <= self.max', message: 'admins.min must not exceed admins.max' }],
  },
);

export const AccessReviewSchema = Type.Object(
  {
    interval: Type.Optional(Duration({
      description: 'How often access is reviewed (gatehouse review). Two weeks by default.',
      default: '336h',
    })),
    inactivityThreshold: Type.Optional(Duration({
      description: 'A member who has not logged in for this long is reported as unused by the access review.',
      default: '720h',
    })),
  },
  { description: 'The regular access review: find unused, off-boarded and over-privileged members.' },
);

export const SupportAccessPolicySchema = Type.Object(
  {
    allowed: Type.Optional(Type.Boolean({
      description:
        'Whether the vendor\'s support team may be granted access to this workspace at all. Off by default: no SupportGrant takes effect until this is true.',
      default: false,
    })),
    maxDuration: Type.Optional(Duration({
      description: 'Longest time one SupportGrant may last. A month by default; a year at most.',
      default: '720h',
      'x-kubernetes-validations': [
        { rule: "duration(self) > duration('0s')", message: 'maxDuration must be positive' },
        { rule: "duration(self) <= duration('8784h')", message: 'maxDuration must be at most a year (8784h)' },
      ],
    })),
    allowReadWrite: Type.Optional(Type.Boolean({
      description:
        'Whether a SupportGrant may ask for ReadWrite access. Support access is read-only unless this is true.',
      default: false,
    })),
  },
  { description: 'Whether and how the vendor\'s support team may be let in.' },
);

export const WorkspaceSpecSchema = Type.Object(
  {
    workspaceId: Type.String({
      description:
        'Stable identifier of the workspace in the identity store, unique across the cluster. Immutable: it is the key the application uses.',
      minLength: 1,
      maxLength: 63,
      pattern: WORKSPACE_ID_PATTERN,
      'x-kubernetes-validations': [
        {
          rule: 'self == oldSelf',
          message: 'workspaceId is immutable; create a new Workspace instead',
          messageExpression: "'workspaceId is immutable (it was ' + oldSelf + '): it is the key the application uses; create a new Workspace instead'",
          reason: 'FieldValueForbidden',
        },
      ],
    }),
    displayName: Type.String({ description: 'Name shown to people.', minLength: 1, maxLength: 200 }),
    twoFactor: Type.Optional(
      StringEnum(TwoFactorValues, {
        description: 'Two-factor authentication policy: Required (every member, the default) or Optional.',
        default: 'Required',
      }),
    ),
    sso: Type.Optional(SsoSchema),
    ipAllowlist: Type.Optional(
      Type.Array(Type.String({ description: 'An IPv4 or IPv6 network in CIDR notation.', minLength: 1, maxLength: 64 }), {
        description: 'Networks members may use the workspace from, as CIDRs (IPv4 and IPv6). Empty or absent: any network.',
        maxItems: 256,
        'x-kubernetes-list-type': 'set',
      }),
    ),
    idleSessionTimeout: Type.Optional(
      Duration({
        description: 'A session with no activity for this long is logged out. One day by default.',
        default: '24h',
      }),
    ),
    invitationLifetime: Type.Optional(
      Duration({
        description: 'How long an invitation stays valid before it expires unaccepted. A week by default.',
        default: '168h',
      }),
    ),
    maxTemporaryAccess: Type.Optional(
      Duration({
        description:
          'Longest temporary access a Member may be given (expiresAt at most this far ahead). Absent: no limit.',
      }),
    ),
    admins: Type.Optional(AdminLimitsSchema),
    accessReview: Type.Optional(AccessReviewSchema),
    supportAccess: Type.Optional(SupportAccessPolicySchema),
    deletionPolicy: DeletionPolicyField(),
  },
  { description: 'The tenant and its security policy.' },
);
export type WorkspaceSpec = Static<typeof WorkspaceSpecSchema>;

export const WorkspacePhaseValues = ['Ready', 'Failed', 'Terminating'] as const;
export type WorkspacePhase = (typeof WorkspacePhaseValues)[number];

const FindingCount = (description: string) => Type.Integer({ description, minimum: 0 });

export const AccessReviewStatusSchema = Type.Object(
  {
    lastReviewedAt: Timestamp({ description: 'When the operator last ran the access review of this workspace.' }),
    findings: Type.Integer({ description: 'Findings that ask for a change, all kinds together. Run gatehouse review --workspace ID for the detail.', minimum: 0 }),
    inactiveMembers: FindingCount('Members who have not logged in within spec.accessReview.inactivityThreshold.'),
    invitationsNotAccepted: FindingCount('Invitations sent and never accepted.'),
    expiredStillDeclared: FindingCount('Members whose access ended but who are still declared.'),
    tooManyAdmins: FindingCount('1 when the workspace has more administrators than spec.admins.max, else 0.'),
    unusedPrivileges: FindingCount('Members who used less than their role allows in the review period, with a smaller role that would do.'),
    supportGrants: FindingCount('SupportGrants in the review period (listed for the record, not findings).'),
  },
  { description: 'A summary of the last access review the operator ran; gatehouse review --workspace ID gives the detail.' },
);
export type AccessReviewStatus = Static<typeof AccessReviewStatusSchema>;

export const WorkspaceStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration()),
    phase: Type.Optional(StringEnum(WorkspacePhaseValues, { description: 'Summary for people: Ready, Failed or Terminating.' })),
    conditions: Type.Optional(Conditions()),
    memberCount: Type.Optional(Type.Integer({ description: 'Members with access now (Invited or Active).', minimum: 0 })),
    adminCount: Type.Optional(Type.Integer({ description: 'Members with an administrative role.', minimum: 0 })),
    activeSupportGrants: Type.Optional(Type.Integer({ description: 'SupportGrants in effect now.', minimum: 0 })),
    nextReviewAt: Type.Optional(Timestamp({ description: 'When the next access review is due.' })),
    accessReview: Type.Optional(AccessReviewStatusSchema),
  },
  { description: 'Observed state of the Workspace.' },
);
export type WorkspaceStatus = Static<typeof WorkspaceStatusSchema>;

export interface Workspace {
  apiVersion: 'gatehouse.dev/v1alpha1';
  kind: 'Workspace';
  metadata: ObjectMeta;
  spec: WorkspaceSpec;
  status?: WorkspaceStatus;
}
