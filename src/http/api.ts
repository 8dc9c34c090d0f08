// The decision API's request and response schemas: one definition gives the
// validation (unknown fields are refused, nothing is coerced), the TypeScript
// types the client uses, and the OpenAPI document checked in at
// docs/openapi.json (a test fails when it is stale).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DECISION_REASONS } from './decide.js';

const Strict = { additionalProperties: false } as const;
const Email = (description: string) => Type.String({ minLength: 3, maxLength: 254, description });
const WorkspaceId = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', description: 'The Workspace\'s spec.workspaceId.' });
const PermissionId = Type.String({ minLength: 1, maxLength: 63, description: 'A permission id from the catalog, such as view-dashboard.' });
const LoginMethod = Type.Unsafe<'local' | 'sso'>({ type: 'string', enum: ['local', 'sso'], description: 'How the session was signed in: local credentials or SAML SSO.' });
const Ip = Type.String({ maxLength: 45, description: 'The address the request comes from, IPv4 or IPv6.' });

export const CheckRequestSchema = Type.Object(
  {
    workspace: WorkspaceId,
    subject: Email('Email of who acts: a member, or a vendor support agent when subjectType is support.'),
    subjectType: Type.Optional(Type.Unsafe<'member' | 'support'>({ type: 'string', enum: ['member', 'support'], description: 'member (default) or support.' })),
    permission: PermissionId,
    ip: Type.Optional(Ip),
    loginMethod: Type.Optional(LoginMethod),
    mfa: Type.Optional(Type.Boolean({ description: 'Whether the session passed a second factor. Absent counts as no.' })),
    idleSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 315_360_000, description: 'Seconds since the session\'s last activity.' })),
    account: Type.Optional(Email('Support only: the member account acted on; required under a grant scoped to one member.')),
  },
  { ...Strict, description: 'May this subject do this permission in this workspace, now?' },
);
export type CheckRequest = Static<typeof CheckRequestSchema>;

export const CheckResponseSchema = Type.Object(
  {
    decision: Type.Unsafe<'allow' | 'deny'>({ type: 'string', enum: ['allow', 'deny'] }),
    reason: Type.Unsafe<(typeof DECISION_REASONS)[number]>({ type: 'string', enum: [...DECISION_REASONS], description: 'Why; stable values to branch on.' }),
    validUntil: Type.String({ format: 'date-time', description: 'The answer holds until this instant at most; ask again after it.' }),
    grant: Type.Optional(Type.String({ description: 'The support grant the answer was made under.' })),
  },
  Strict,
);
export type CheckResponse = Static<typeof CheckResponseSchema>;

export const AcceptInvitationRequestSchema = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 512, description: 'The token from the invitation link.' }),
    email: Email('The email the person signed in with; only the invited address is accepted.'),
  },
  Strict,
);
export type AcceptInvitationRequest = Static<typeof AcceptInvitationRequestSchema>;

export const AcceptInvitationResponseSchema = Type.Object(
  {
    workspace: Type.String(),
    email: Type.String(),
    role: Type.Union([Type.String(), Type.Null()], { description: 'null: a legacy member with no role.' }),
    acceptedAt: Type.String({ format: 'date-time' }),
  },
  Strict,
);
export type AcceptInvitationResponse = Static<typeof AcceptInvitationResponseSchema>;

export const PendingInvitationsQuerySchema = Type.Object(
  { limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'At most this many (1 to 9999; default 100).' })) },
  Strict,
);

export const PendingInvitationSchema = Type.Object(
  {
    workspace: Type.String(),
    email: Type.String(),
    displayName: Type.String(),
    role: Type.Union([Type.String(), Type.Null()]),
    sender: Type.String(),
    expiresAt: Type.String({ format: 'date-time' }),
    token: Type.String({ description: 'For the accept link. Handed out once: the store keeps only its hash.' }),
  },
  Strict,
);
export const PendingInvitationsResponseSchema = Type.Object({ invitations: Type.Array(PendingInvitationSchema) }, Strict);
export type PendingInvitation = Static<typeof PendingInvitationSchema>;
export type PendingInvitationsResponse = Static<typeof PendingInvitationsResponseSchema>;

export const LoginRequestSchema = Type.Object(
  {
    workspace: WorkspaceId,
    email: Email('The member who signs in.'),
    loginMethod: LoginMethod,
    mfa: Type.Boolean({ description: 'Whether the sign-in passed a second factor.' }),
    ip: Type.Optional(Ip),
  },
  Strict,
);
export type LoginRequest = Static<typeof LoginRequestSchema>;

export const LoginResponseSchema = Type.Object(
  {
    decision: Type.Unsafe<'allow' | 'deny'>({ type: 'string', enum: ['allow', 'deny'] }),
    reason: Type.Unsafe<(typeof DECISION_REASONS)[number]>({ type: 'string', enum: [...DECISION_REASONS] }),
    /** Only an allowed login is recorded. */
    recorded: Type.Boolean({ description: 'True when the login was allowed and recorded as the member\'s last login.' }),
  },
  Strict,
);
export type LoginResponse = Static<typeof LoginResponseSchema>;

export const MembersParamsSchema = Type.Object({ id: WorkspaceId }, Strict);
export const MembersQuerySchema = Type.Object(
  { search: Type.Optional(Type.String({ maxLength: 254, description: 'Case-insensitive part of a name or email.' })) },
  Strict,
);
export const MemberListingSchema = Type.Object(
  {
    email: Type.String(),
    displayName: Type.String(),
    phone: Type.Union([Type.String(), Type.Null()]),
    role: Type.Union([Type.String(), Type.Null()]),
    loginType: Type.String(),
    state: Type.String(),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastLoginAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  Strict,
);
export const MembersResponseSchema = Type.Object({ members: Type.Array(MemberListingSchema) }, Strict);
export type MemberListing = Static<typeof MemberListingSchema>;
export type MembersResponse = Static<typeof MembersResponseSchema>;

export const SamlParamsSchema = Type.Object({ id: WorkspaceId }, Strict);
export const SamlAcsRequestSchema = Type.Object(
  {
    SAMLResponse: Type.String({ minLength: 1, maxLength: 256 * 1024, description: 'The base64 SAML Response the identity provider posted to the application.' }),
    RelayState: Type.Optional(Type.String({ maxLength: 1024 })),
    ip: Type.Optional(Ip),
    mfa: Type.Optional(Type.Boolean({ description: 'Whether the identity provider verified a second factor; absent counts as no.' })),
  },
  { ...Strict, description: 'A SAML Response the application received on its assertion consumer service, forwarded for verification.' },
);
export type SamlAcsRequest = Static<typeof SamlAcsRequestSchema>;
export const SamlAcsResponseSchema = Type.Object(
  {
    email: Type.String({ description: 'The member the assertion signed in.' }),
    decision: Type.Unsafe<'allow' | 'deny'>({ type: 'string', enum: ['allow', 'deny'] }),
    reason: Type.Unsafe<(typeof DECISION_REASONS)[number]>({ type: 'string', enum: [...DECISION_REASONS] }),
    recorded: Type.Boolean(),
  },
  Strict,
);
export type SamlAcsResponse = Static<typeof SamlAcsResponseSchema>;

/** Stable error codes: every refusal carries one. */
export const ErrorCode = {
  MalformedJson: 'malformed-json',
  InvalidRequest: 'invalid-request',
  BodyTooLarge: 'body-too-large',
  UnsupportedMediaType: 'unsupported-media-type',
  Unauthenticated: 'unauthenticated',
  TokenRevoked: 'token-revoked',
  RateLimited: 'rate-limited',
  NotFound: 'not-found',
  MethodNotAllowed: 'method-not-allowed',
  WorkspaceUnknown: 'workspace-unknown',
  SubjectUnknown: 'subject-unknown',
  InvitationNotFound: 'invitation-not-found',
  InvitationAlreadyAccepted: 'invitation-already-accepted',
  InvitationExpired: 'invitation-expired',
  InvitationEmailMismatch: 'invitation-email-mismatch',
  MemberAccessExpired: 'member-access-expired',
  SamlInvalid: 'saml-invalid',
  SamlNotConfigured: 'saml-not-configured',
  SamlReplayed: 'saml-replayed',
  StoreUnavailable: 'store-unavailable',
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ErrorResponseSchema = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.Unsafe<ErrorCode>({ type: 'string', enum: Object.values(ErrorCode) }),
        message: Type.String({ description: 'For people: what went wrong and what to do.' }),
      },
      Strict,
    ),
  },
  Strict,
);
export type ErrorResponse = Static<typeof ErrorResponseSchema>;

/** A refusal's body, the one shape every endpoint answers errors with. */
export function errorResponse(code: ErrorCode, message: string): ErrorResponse {
  return { error: { code, message } };
}

interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  body?: TSchema;
  query?: TSchema;
  params?: TSchema;
  response: TSchema;
  auth: boolean;
}

export const OPERATIONS: readonly Operation[] = [
  { method: 'post', path: '/v1/check', summary: 'One access decision at request time', body: CheckRequestSchema, response: CheckResponseSchema, auth: true },
  { method: 'post', path: '/v1/invitations/accept', summary: 'Accept an invitation (only by the invited email, once, before it expires)', body: AcceptInvitationRequestSchema, response: AcceptInvitationResponseSchema, auth: true },
  { method: 'get', path: '/v1/invitations/pending', summary: 'Take invitations waiting to be mailed; each token is handed out once', query: PendingInvitationsQuerySchema, response: PendingInvitationsResponseSchema, auth: true },
  { method: 'post', path: '/v1/logins', summary: 'Check a sign-in against the workspace policy and record it as the last login', body: LoginRequestSchema, response: LoginResponseSchema, auth: true },
  { method: 'post', path: '/v1/workspaces/{id}/saml/acs', summary: 'Verify a SAML Response (signature, issuer, audience, time window, replay) and answer like a login', params: SamlParamsSchema, body: SamlAcsRequestSchema, response: SamlAcsResponseSchema, auth: true },
  { method: 'get', path: '/v1/workspaces/{id}/members', summary: 'List or search a workspace\'s members', params: MembersParamsSchema, query: MembersQuerySchema, response: MembersResponseSchema, auth: true },
];

function parameters(schema: TSchema | undefined, where: 'query' | 'path') {
  if (schema === undefined) return [];
  const props = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  const required = new Set((schema as { required?: string[] }).required ?? []);
  return Object.entries(props).map(([name, s]) => ({ name, in: where, required: where === 'path' || required.has(name), schema: s }));
}

/** The OpenAPI 3.1 document of the API, built from the same schemas that validate requests. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorContent = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  for (const op of OPERATIONS) {
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, unknown>)[op.method] = {
      summary: op.summary,
      ...(op.auth ? { security: [{ bearer: [] }] } : {}),
      parameters: [...parameters(op.params, 'path'), ...parameters(op.query, 'query')],
      ...(op.body !== undefined ? { requestBody: { required: true, content: { 'application/json': { schema: op.body } } } } : {}),
      responses: {
        200: { description: 'OK', content: { 'application/json': { schema: op.response } } },
        '4XX': { description: 'Refused: see error.code', content: errorContent },
        503: { description: 'The identity store cannot be reached', content: errorContent },
      },
    };
  }
  for (const [path, summary] of [
    ['/healthz', 'Liveness'],
    ['/readyz', 'Readiness: the store answers and its changes are watched'],
    ['/metrics', 'Prometheus metrics'],
    ['/openapi.json', 'This document'],
    ['/v1/workspaces/{id}/saml/metadata', 'The workspace\'s SAML service provider metadata (XML), for the identity provider; no token needed'],
  ] as const) {
    paths[path] = { get: { summary, responses: { 200: { description: 'OK' } } } };
  }
  return JSON.parse(
    JSON.stringify({
      openapi: '3.1.0',
      info: { title: 'Gatehouse decision API', version, description: 'Access decisions at request time, invitations, logins and member search, for the SaaS application.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from gatehouse token create.' } }, schemas: { Error: ErrorResponseSchema } },
      paths,
    }),
  ) as Record<string, unknown>;
}
