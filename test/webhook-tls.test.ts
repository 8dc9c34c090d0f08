// The admission webhook over real TLS: a client that trusts only the generated
// CA sends AdmissionReviews built from the rules' builders, for every rule and
// every operation, plus requests that are not AdmissionReviews at all.
import { Agent } from 'node:https';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDefaultProfile, type GatehouseObject, type Kind, type ObjectOfKind } from '../src/model/index.js';
import { createObjectIndex, RULES } from '../src/rules/index.js';
import type { ObjectIndex, WorkspaceScopedKind } from '../src/rules/types.js';
import {
  aMember,
  anAdmin,
  aRole,
  aSupportGrant,
  aWorkspace,
  CERT_EXPIRED_2021,
  CERT_FROM_2030,
  CERT_VALID_2025_TO_2035,
} from '../src/rules/testing/builders.js';
import { ManualClock } from '../src/util/clock.js';
import type { AdmissionReviewResponse } from '../src/kube/webhook/admission.js';
import { StaticCertificateSource } from '../src/kube/webhook/certificate-source.js';
import type { AccessCheck, AccessAnswer, Authorizer } from '../src/kube/webhook/escalation.js';
import { startAdmissionWebhook, type AdmissionWebhook } from '../src/kube/webhook/server.js';
import { anAdmissionReview, createTestCertificates, httpsJson, type ReviewFixture } from '../src/kube/webhook/testing.js';

const NOW = '2026-06-01T12:00:00Z';
const HOUR = 3_600_000;
const at = (offsetMs: number) => new Date(Date.parse(NOW) + offsetMs).toISOString();

/** The operator's cache stand-in: each case sets what the cluster holds. */
class SwappableIndex implements ObjectIndex {
  current = createObjectIndex([]);
  /** Objects in a cluster were created some time ago. */
  set(objects: GatehouseObject[]): void {
    const created = at(-24 * HOUR).replace('.000Z', 'Z');
    this.current = createObjectIndex(
      objects.map((o) => (o.metadata.creationTimestamp ? o : ({ ...o, metadata: { ...o.metadata, creationTimestamp: created } } as GatehouseObject))),
    );
  }
  list<K extends Kind>(kind: K, namespace?: string): readonly ObjectOfKind<K>[] {
    return this.current.list(kind, namespace);
  }
  get<K extends Kind>(kind: K, namespace: string, name: string): ObjectOfKind<K> | undefined {
    return this.current.get(kind, namespace, name);
  }
  listInWorkspace<K extends WorkspaceScopedKind>(kind: K, namespace: string, workspace: string): readonly ObjectOfKind<K>[] {
    return this.current.listInWorkspace(kind, namespace, workspace);
  }
}

/** Answers from a table; records what it was asked. */
class TableAuthorizer implements Authorizer {
  asked: AccessCheck[] = [];
  deny = new Set<string>();
  fail = false;
  async review(_user: unknown, check: AccessCheck): Promise<AccessAnswer> {
    this.asked.push(check);
    if (this.fail) throw new Error('connect ECONNREFUSED 127.0.0.1:6443');
    return this.deny.has(`${check.verb}/${check.resource}/${check.name}`) ? { allowed: false, reason: 'no RBAC rule matched' } : { allowed: true };
  }
}

const ws = aWorkspace();
const root = anAdmin();
const analyst = aRole();
const alice = aMember();
const base: GatehouseObject[] = [ws, root, analyst, alice];
const samlWith = (certificate: string, ssoUrl = 'https://idp.acme.example/sso/saml') => ({
  enforced: false,
  saml: { idpEntityId: 'https://idp.acme.example', ssoUrl, signingCertificate: certificate },
});

interface Case {
  name: string;
  review: ReviewFixture;
  /** What the cluster holds besides the object; `base` when absent. */
  cluster?: GatehouseObject[];
  errors?: string[];
  warnings?: string[];
}

const wsUpdate = (spec: Parameters<typeof aWorkspace>[0]): ReviewFixture => ({ operation: 'UPDATE', object: aWorkspace(spec), oldObject: ws });

/** One fixture per rule (and operation); each names the rule ids it must produce, no more, no less. */
const CASES: Case[] = [
  // Allowed changes, one per kind and operation.
  { name: 'CREATE a valid Member', review: { operation: 'CREATE', object: aMember({ name: 'bob' }) } },
  { name: 'UPDATE a Member to another role', review: { operation: 'UPDATE', object: aMember({ spec: { role: 'editor' } }), oldObject: alice } },
  { name: 'DELETE a Member', review: { operation: 'DELETE', object: alice } },
  { name: 'CREATE a valid Role', review: { operation: 'CREATE', object: aRole({ name: 'auditor', spec: { displayName: 'Auditor', permissions: ['view-dashboard'] } }) } },
  { name: 'UPDATE a Role', review: { operation: 'UPDATE', object: aRole({ spec: { permissions: ['view-dashboard'] } }), oldObject: analyst } },
  { name: 'DELETE an unassigned Role', review: { operation: 'DELETE', object: analyst } },
  { name: 'CREATE a valid SupportGrant', review: { operation: 'CREATE', object: aSupportGrant() } },
  { name: 'UPDATE a SupportGrant to revoke it', review: { operation: 'UPDATE', object: aSupportGrant({ spec: { revoked: true } }), oldObject: aSupportGrant() }, cluster: [...base, aSupportGrant()] },
  { name: 'DELETE a SupportGrant', review: { operation: 'DELETE', object: aSupportGrant() }, cluster: [...base, aSupportGrant()] },
  { name: 'UPDATE a valid Workspace', review: wsUpdate({ spec: { displayName: 'Acme Corp' } }) },
  // Every kind
  { name: 'SchemaInvalid: an unknown field', review: { operation: 'CREATE', object: aMember({ name: 'bob', spec: { nickname: 'b' } as never }) }, errors: ['SchemaInvalid'] },
  { name: 'DuplicateListItem: a permission twice', review: { operation: 'CREATE', object: aRole({ name: 'auditor', spec: { displayName: 'Auditor', permissions: ['view-dashboard', 'view-dashboard'] } }) }, errors: ['DuplicateListItem'] },
  { name: 'ImmutableFieldChanged: a Member\'s email', review: { operation: 'UPDATE', object: aMember({ spec: { email: 'alice@other.example' } }), oldObject: alice }, errors: ['ImmutableFieldChanged'] },
  { name: 'UnknownWorkspace', review: { operation: 'CREATE', object: aMember({ name: 'bob', spec: { workspaceRef: { name: 'globex' } } }) }, errors: ['UnknownWorkspace'] },
  { name: 'DurationOutOfRange: a zero idle timeout', review: wsUpdate({ spec: { idleSessionTimeout: '0s' } }), errors: ['DurationOutOfRange'] },
  // Workspace
  {
    name: 'DuplicateWorkspaceId in another namespace',
    review: { operation: 'CREATE', object: aWorkspace({ namespace: 'globex', spec: { workspaceId: 'acme' } }) },
    errors: ['DuplicateWorkspaceId'],
    warnings: ['TooFewAdmins'],
  },
  { name: 'InvalidAdminLimits', review: wsUpdate({ spec: { admins: { min: 3, max: 2 } } }), errors: ['InvalidAdminLimits'] },
  { name: 'TooFewAdmins (a warning)', review: wsUpdate({ spec: { admins: { min: 2, max: 2 } } }), warnings: ['TooFewAdmins'] },
  {
    name: 'TooManyAdmins: lowering admins.max below the admins declared',
    review: { operation: 'UPDATE', object: aWorkspace({ spec: { admins: { min: 1, max: 1 } } }), oldObject: aWorkspace({ spec: { admins: { min: 1, max: 2 } } }) },
    cluster: [aWorkspace({ spec: { admins: { min: 1, max: 2 } } }), root, anAdmin({ name: 'root2' })],
    errors: ['TooManyAdmins'],
  },
  { name: 'TwoFactorOptional (a warning)', review: wsUpdate({ spec: { twoFactor: 'Optional' } }), warnings: ['TwoFactorOptional'] },
  { name: 'InvalidCidr', review: wsUpdate({ spec: { ipAllowlist: ['10.0.0.300/8'] } }), errors: ['InvalidCidr'] },
  { name: 'CidrHostBitsSet (a warning)', review: wsUpdate({ spec: { ipAllowlist: ['10.0.0.1/8'] } }), warnings: ['CidrHostBitsSet'] },
  { name: 'AllowlistAllowsAnyAddress (a warning)', review: wsUpdate({ spec: { ipAllowlist: ['0.0.0.0/0'] } }), warnings: ['AllowlistAllowsAnyAddress'] },
  { name: 'InvalidSsoUrl', review: wsUpdate({ spec: { sso: samlWith(CERT_VALID_2025_TO_2035, 'http://idp.acme.example/sso') } }), errors: ['InvalidSsoUrl'] },
  { name: 'InvalidSigningCertificate', review: wsUpdate({ spec: { sso: samlWith('not a certificate') } }), errors: ['InvalidSigningCertificate'] },
  { name: 'PrivateKeyMaterial', review: wsUpdate({ spec: { sso: samlWith(`${CERT_VALID_2025_TO_2035}\n-----BEGIN PRIVATE KEY-----\nplaceholder\n-----END PRIVATE KEY-----\n`) } }), errors: ['PrivateKeyMaterial'] },
  { name: 'SigningCertificateExpired (a warning)', review: wsUpdate({ spec: { sso: samlWith(CERT_EXPIRED_2021) } }), warnings: ['SigningCertificateExpired'] },
  { name: 'SigningCertificateNotYetValid (a warning)', review: wsUpdate({ spec: { sso: samlWith(CERT_FROM_2030) } }), warnings: ['SigningCertificateNotYetValid'] },
  { name: 'WorkspaceInUse: DELETE warns', review: { operation: 'DELETE', object: ws }, warnings: ['WorkspaceInUse'] },
  // Role
  { name: 'UnknownPermission', review: { operation: 'CREATE', object: aRole({ name: 'auditor', spec: { displayName: 'Auditor', permissions: ['fly-to-the-moon'] } }) }, errors: ['UnknownPermission'] },
  { name: 'ReservedRoleName', review: { operation: 'CREATE', object: aRole({ name: 'admin', spec: { displayName: 'Boss' } }) }, errors: ['ReservedRoleName'] },
  { name: 'DuplicateRoleDisplayName (a warning)', review: { operation: 'CREATE', object: aRole({ name: 'auditor', spec: { displayName: analyst.spec.displayName } }) }, warnings: ['DuplicateRoleDisplayName'] },
  {
    name: 'RoleInUse: DELETE of an assigned Role',
    review: { operation: 'DELETE', object: analyst },
    cluster: [...base, aMember({ name: 'carol', spec: { role: 'campaign-analyst' } })],
    errors: ['RoleInUse'],
  },
  // Member
  { name: 'TooManyAdmins: a second admin', review: { operation: 'CREATE', object: anAdmin({ name: 'bob' }) }, errors: ['TooManyAdmins'] },
  { name: 'RoleNotFound', review: { operation: 'CREATE', object: aMember({ name: 'bob', spec: { role: 'ghost' } }) }, errors: ['RoleNotFound'] },
  { name: 'NoRoleAssigned (a warning)', review: { operation: 'CREATE', object: aMember({ name: 'bob', spec: { role: undefined } }) }, warnings: ['NoRoleAssigned'] },
  { name: 'DuplicateEmail', review: { operation: 'CREATE', object: aMember({ name: 'bob', spec: { email: 'Alice@acme.example' } }) }, errors: ['DuplicateEmail'] },
  { name: 'TemporaryAccessInPast on CREATE', review: { operation: 'CREATE', object: aMember({ name: 'bob', spec: { expiresAt: at(-HOUR) } }) }, errors: ['TemporaryAccessInPast'] },
  {
    name: 'TemporaryAccessTooLong',
    review: { operation: 'CREATE', object: aMember({ name: 'bob', spec: { expiresAt: at(48 * HOUR) } }) },
    cluster: [aWorkspace({ spec: { maxTemporaryAccess: '24h' } }), root],
    errors: ['TemporaryAccessTooLong'],
  },
  {
    name: 'LocalLoginWithSsoEnforced',
    review: { operation: 'CREATE', object: aMember({ name: 'bob' }) },
    cluster: [aWorkspace({ spec: { sso: { ...samlWith(CERT_VALID_2025_TO_2035), enforced: true } } }), anAdmin({ spec: { loginType: 'SSO' } })],
    errors: ['LocalLoginWithSsoEnforced'],
  },
  { name: 'SsoNotConfigured', review: { operation: 'CREATE', object: aMember({ name: 'bob', spec: { loginType: 'SSO' } }) }, errors: ['SsoNotConfigured'] },
  {
    name: 'InvitationResendDecreased',
    review: { operation: 'UPDATE', object: aMember({ spec: { invitation: { resend: 1 } } }), oldObject: aMember({ spec: { invitation: { resend: 2 } } }) },
    errors: ['InvitationResendDecreased'],
  },
  // SupportGrant
  {
    name: 'SupportAccessNotAllowed',
    review: { operation: 'CREATE', object: aSupportGrant() },
    cluster: [aWorkspace({ spec: { supportAccess: { allowed: false, maxDuration: '720h', allowReadWrite: false } } }), root],
    errors: ['SupportAccessNotAllowed'],
  },
  { name: 'SupportGrantTooLong', review: { operation: 'CREATE', object: aSupportGrant({ spec: { duration: '1000h' } }) }, errors: ['SupportGrantTooLong'] },
  {
    name: 'SupportGrantsChained (a warning)',
    review: { operation: 'CREATE', object: aSupportGrant({ name: 'ticket-2', spec: { duration: undefined, startsAt: at(601 * HOUR), endsAt: at(1201 * HOUR) } }) },
    cluster: [...base, aSupportGrant({ spec: { duration: undefined, startsAt: at(HOUR), endsAt: at(601 * HOUR) } })],
    warnings: ['SupportGrantsChained'],
  },
  { name: 'SupportReadWriteNotAllowed', review: { operation: 'CREATE', object: aSupportGrant({ spec: { accessLevel: 'ReadWrite' } }) }, errors: ['SupportReadWriteNotAllowed'] },
  { name: 'SupportReasonMissing', review: { operation: 'CREATE', object: aSupportGrant({ spec: { reason: '   ' } }) }, errors: ['SupportReasonMissing'] },
  { name: 'DurationOrEndsAtRequired', review: { operation: 'CREATE', object: aSupportGrant({ spec: { endsAt: at(HOUR) } }) }, errors: ['DurationOrEndsAtRequired'] },
  {
    name: 'SupportGrantEndsBeforeStart',
    review: { operation: 'CREATE', object: aSupportGrant({ spec: { duration: undefined, startsAt: at(2 * HOUR), endsAt: at(HOUR) } }) },
    errors: ['SupportGrantEndsBeforeStart'],
  },
  { name: 'SupportGrantEnded on CREATE', review: { operation: 'CREATE', object: aSupportGrant({ spec: { duration: undefined, endsAt: at(-HOUR) } }) }, errors: ['SupportGrantEnded'] },
  { name: 'InvalidGrantee', review: { operation: 'CREATE', object: aSupportGrant({ spec: { grantee: { type: 'Agents', agents: [] } } }) }, errors: ['InvalidGrantee'] },
  { name: 'InvalidScope', review: { operation: 'CREATE', object: aSupportGrant({ spec: { scope: { type: 'Member' } } }) }, errors: ['InvalidScope'] },
  { name: 'ScopeMemberNotFound', review: { operation: 'CREATE', object: aSupportGrant({ spec: { scope: { type: 'Member', memberRef: { name: 'ghost' } } } }) }, errors: ['ScopeMemberNotFound'] },
  {
    name: 'RevokedGrantReinstated',
    review: { operation: 'UPDATE', object: aSupportGrant({ spec: { revoked: false } }), oldObject: aSupportGrant({ spec: { revoked: true } }) },
    errors: ['RevokedGrantReinstated'],
  },
];

/** Rules that cannot fire at admission, and why. */
const NOT_AT_ADMISSION: Record<string, string> = {
  DuplicateObject: 'about one input declaring the same object twice; the API server holds one object per name',
};

let webhook: AdmissionWebhook;
let caCert: string;
let agent: Agent;
const index = new SwappableIndex();
const authorizer = new TableAuthorizer();
const clock = new ManualClock(NOW);
const registry = new Registry();

async function send(review: ReviewFixture | unknown, options: { raw?: boolean } = {}) {
  const body = options.raw ? review : anAdmissionReview({ now: clock.now(), ...(review as ReviewFixture) });
  return httpsJson(`${webhook.url}/validate`, { ca: caCert, body, agent });
}

async function review(fixture: ReviewFixture, cluster: GatehouseObject[] = base) {
  index.set(cluster);
  const sent = anAdmissionReview({ now: clock.now(), ...fixture });
  const res = await httpsJson(`${webhook.url}/validate`, { ca: caCert, body: sent, agent });
  expect(res.status).toBe(200);
  const answer = res.json as AdmissionReviewResponse;
  expect(answer.apiVersion).toBe('admission.k8s.io/v1');
  expect(answer.kind).toBe('AdmissionReview');
  expect(answer.response.uid).toBe(sent.request.uid);
  return answer.response;
}

const ruleIdsOfWarnings = (warnings: string[] | undefined) => [...new Set((warnings ?? []).map((w) => w.split(/[ :]/)[0]))].sort();

beforeAll(async () => {
  // Certificates follow the real clock (TLS checks them against it); the rules follow the test's.
  const { ca, serving } = await createTestCertificates();
  caCert = ca.cert;
  agent = new Agent({ keepAlive: true, ca: ca.cert });
  webhook = await startAdmissionWebhook({
    listen: '127.0.0.1:0',
    tls: { source: new StaticCertificateSource(serving) },
    index,
    profile: getDefaultProfile(),
    clock,
    authorizer,
    registry,
    maxReviewBytes: 256 * 1024,
  });
});

afterAll(async () => {
  agent?.destroy();
  await webhook?.close();
});

describe('admission webhook over TLS: every rule, every operation', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const response = await review(c.review, c.cluster);
    const errors = [...(c.errors ?? [])].sort();
    expect(response.allowed).toBe(errors.length === 0);
    const causes = response.status?.details?.causes ?? [];
    expect([...new Set(causes.map((cause) => cause.reason))].sort()).toEqual(errors);
    expect(ruleIdsOfWarnings(response.warnings)).toEqual([...(c.warnings ?? [])].sort());
    for (const warning of response.warnings ?? []) expect(warning.length).toBeLessThanOrEqual(256);
    if (errors.length > 0) {
      expect(response.status?.code).toBe(422);
      expect(response.status?.reason).toBe('Invalid');
      // Each violation is in the message as "RULE-ID field: what to do".
      for (const cause of causes) {
        expect(response.status?.message).toContain(`${cause.reason}${cause.field ? ` ${cause.field}` : ''}: `);
      }
    }
  });

  it('has a fixture for every rule the engine has', () => {
    const covered = new Set(CASES.flatMap((c) => [...(c.errors ?? []), ...(c.warnings ?? [])]));
    const missing = RULES.map((r) => r.id).filter((id) => !covered.has(id) && !(id in NOT_AT_ADMISSION));
    expect(missing).toEqual([]);
  });

  it('lists every error of one object in one denial, with a cause per field', async () => {
    const response = await review({
      operation: 'CREATE',
      object: aRole({ name: 'manager', spec: { displayName: 'Manager', permissions: ['view-dashboard', 'teleport'] } }),
    });
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toMatch(/^Role acme\/manager has 3 problems:\n- /);
    expect(response.status?.details?.causes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'UnknownPermission', field: 'spec.permissions[1]' }),
        expect.objectContaining({ reason: 'ReservedRoleName', field: 'metadata.name' }),
        expect.objectContaining({ reason: 'ReservedRoleName', field: 'spec.displayName' }),
      ]),
    );
    expect(response.status?.details).toMatchObject({ name: 'manager', group: 'gatehouse.dev', kind: 'Role' });
  });

  it('answers a dry run exactly like the real request', async () => {
    const fixture = { operation: 'CREATE' as const, object: aMember({ name: 'bob', spec: { role: 'ghost' } }), uid: 'same' };
    const real = await review(fixture);
    const dry = await review({ ...fixture, dryRun: true });
    expect(dry).toEqual(real);
    expect(dry.allowed).toBe(false);
  });

  it('allows metadata-only updates without judging the object: the operator adds its finalizer', async () => {
    // Declared long ago with an end that has passed: the rules would warn, but the spec did not change.
    const expired = aMember({ spec: { expiresAt: at(-HOUR) } });
    const withFinalizer = aMember({ spec: { expiresAt: at(-HOUR) }, metadata: { finalizers: ['gatehouse.dev/identity-store'] } });
    const asked = authorizer.asked.length;
    const response = await review({ operation: 'UPDATE', object: withFinalizer, oldObject: expired });
    expect(response).toEqual({ uid: expect.any(String), allowed: true });
    expect(authorizer.asked.length).toBe(asked);
  });

  it('lets an object being deleted drop its finalizer even when the cluster around it is broken', async () => {
    const terminating = { deletionTimestamp: at(-60_000), finalizers: ['gatehouse.dev/identity-store'] };
    const before = aMember({ spec: { role: 'ghost' }, metadata: terminating });
    const after = aMember({ spec: { role: 'ghost' }, metadata: { deletionTimestamp: terminating.deletionTimestamp, finalizers: [] } });
    const response = await review({ operation: 'UPDATE', object: after, oldObject: before }, [ws]);
    expect(response.allowed).toBe(true);
  });

  it('allows status subresource writes (they are the operator\'s)', async () => {
    const response = await review({ operation: 'UPDATE', object: aMember({ spec: { role: 'ghost' } }), oldObject: alice, subResource: 'status' });
    expect(response.allowed).toBe(true);
  });
});

describe('escalation check at admission', () => {
  it('asks assign on the role given, and nothing when the role stays', async () => {
    authorizer.asked = [];
    await review({ operation: 'CREATE', object: aMember({ name: 'bob', spec: { role: 'editor' } }) });
    await review({ operation: 'UPDATE', object: aMember({ spec: { phone: '+4930123456' } }), oldObject: alice });
    expect(authorizer.asked).toEqual([
      expect.objectContaining({ verb: 'assign', resource: 'roles', namespace: 'acme', name: 'editor', field: 'spec.role' }),
    ]);
  });

  it('denies with 403 naming the verb, the resource and the RBAC rule to add', async () => {
    authorizer.deny = new Set(['assign/roles/admin']);
    try {
      const response = await review({ operation: 'UPDATE', object: aMember({ spec: { role: 'admin' } }), oldObject: alice }, [ws, analyst, alice]);
      expect(response.allowed).toBe(false);
      expect(response.status).toMatchObject({ code: 403, reason: 'Forbidden' });
      expect(response.status?.message).toContain('PrivilegeEscalation spec.role: user "jane@acme.example" may not give role "admin"');
      expect(response.status?.message).toContain('verb "assign" on roles.gatehouse.dev named "admin" in namespace "acme"');
      expect(response.status?.message).toContain('{apiGroups: ["gatehouse.dev"], resources: ["roles"], verbs: ["assign"], resourceNames: ["admin"]}');
    } finally {
      authorizer.deny = new Set();
    }
  });

  it('lists an escalation denial together with rule errors (422)', async () => {
    authorizer.deny = new Set(['escalate/roles/admin']);
    try {
      const response = await review({ operation: 'CREATE', object: aRole({ name: 'admin', spec: { displayName: 'Boss' } }) });
      expect(response.status?.code).toBe(422);
      expect(response.status?.details?.causes?.map((c) => c.reason).sort()).toEqual(['PrivilegeEscalation', 'ReservedRoleName']);
    } finally {
      authorizer.deny = new Set();
    }
  });

  it('fails closed (503) when the API server cannot be asked', async () => {
    authorizer.fail = true;
    try {
      const response = await review({ operation: 'CREATE', object: aSupportGrant({ name: 'ticket-2' }) });
      expect(response.allowed).toBe(false);
      expect(response.status).toMatchObject({ code: 503, reason: 'ServiceUnavailable' });
      expect(response.status?.message).toContain('EscalationCheckFailed spec.accessLevel: cannot tell whether user "jane@acme.example" may grant ReadOnly vendor support access');
      expect(response.status?.message).toContain('ECONNREFUSED');
    } finally {
      authorizer.fail = false;
    }
  });

  it('passes the requester\'s identity to the authorizer', async () => {
    const seen: unknown[] = [];
    const original = authorizer.review.bind(authorizer);
    authorizer.review = async (user, check) => {
      seen.push(user);
      return original(user, check);
    };
    try {
      const user = { username: 'system:serviceaccount:argocd:argocd-application-controller', uid: 'sa-1', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['argocd-0'] } };
      await review({ operation: 'CREATE', object: aMember({ name: 'bob' }), user });
      expect(seen).toEqual([user]);
    } finally {
      authorizer.review = original;
    }
  });
});

describe('requests that are not answerable AdmissionReviews', () => {
  const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at /);

  it('denies a kind Gatehouse does not own as a configuration error', async () => {
    const body = anAdmissionReview({ operation: 'CREATE', object: aMember() });
    body.request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
    body.request.resource = { group: 'apps', version: 'v1', resource: 'deployments' };
    const res = await send(body, { raw: true });
    expect(res.status).toBe(200);
    const response = (res.json as AdmissionReviewResponse).response;
    expect(response).toMatchObject({ uid: body.request.uid, allowed: false, status: { code: 400, reason: 'BadRequest' } });
    expect(response.status?.message).toContain('not apps/v1 Deployment');
    expect(response.status?.message).toContain('limit its rules to apiGroups [gatehouse.dev]');
  });

  it('denies another version of a Gatehouse kind as a configuration error', async () => {
    const body = anAdmissionReview({ operation: 'CREATE', object: aMember() });
    body.request.kind = { group: 'gatehouse.dev', version: 'v1beta1', kind: 'Member' };
    const response = ((await send(body, { raw: true })).json as AdmissionReviewResponse).response;
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('matchPolicy: Equivalent');
  });

  const valid = anAdmissionReview({ operation: 'CREATE', object: aMember() });
  it.each([
    ['malformed JSON', 400, /not a JSON AdmissionReview/, '{"apiVersion": "admission.k8s.io/v1", "kind": '],
    ['an empty body', 400, /not a JSON AdmissionReview/, ''],
    ['a JSON array', 400, /must be a JSON AdmissionReview object/, '[]'],
    ['the v1beta1 AdmissionReview', 400, /admissionReviewVersions: \[v1\]/, JSON.stringify({ ...valid, apiVersion: 'admission.k8s.io/v1beta1' })],
    ['no request', 400, /request must be an object/, JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })],
    ['no uid', 400, /request\.uid must be a non-empty string/, JSON.stringify({ ...valid, request: { ...valid.request, uid: undefined } })],
    ['an unknown operation', 400, /request\.operation must be one of/, JSON.stringify({ ...valid, request: { ...valid.request, operation: 'PATCH' } })],
    ['a body over the limit', 413, /larger than 262144 bytes/, JSON.stringify({ ...valid, padding: 'x'.repeat(300 * 1024) })],
  ] as const)('answers %s with HTTP %i and a clear message', async (_name, status, message, rawBody) => {
    const res = await httpsJson(`${webhook.url}/validate`, { ca: caCert, rawBody, agent });
    expect(res.status).toBe(status);
    expect(res.json).toMatchObject({ kind: 'Status', status: 'Failure', code: status });
    expect((res.json as { message: string }).message).toMatch(message);
    noStackTrace(res.text);
  });

  it('refuses a body that is not JSON (415)', async () => {
    const res = await httpsJson(`${webhook.url}/validate`, { ca: caCert, rawBody: 'uid=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, agent });
    expect(res.status).toBe(415);
    expect((res.json as { message: string }).message).toContain('send an AdmissionReview as application/json');
  });

  it('answers unknown paths with 404 naming the routes', async () => {
    const res = await httpsJson(`${webhook.url}/convert`, { ca: caCert, body: {}, agent });
    expect(res.status).toBe(404);
    expect((res.json as { message: string }).message).toContain('POST /validate');
    expect((res.json as { message: string }).message).toContain('POST /mutate');
  });

  it('denies a request whose object is not the kind it claims', async () => {
    const body = anAdmissionReview({ operation: 'CREATE', object: aMember() });
    (body.request as { object: unknown }).object = { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Role', metadata: { name: 'x' }, spec: {} };
    const response = ((await send(body, { raw: true })).json as AdmissionReviewResponse).response;
    expect(response).toMatchObject({ allowed: false, status: { code: 400 } });
    expect(response.status?.message).toContain('request.object.kind is "Role", not Member');
  });

  it('denies a DELETE without oldObject rather than guessing', async () => {
    const body = anAdmissionReview({ operation: 'DELETE', object: analyst });
    (body.request as { oldObject: unknown }).oldObject = null;
    const response = ((await send(body, { raw: true })).json as AdmissionReviewResponse).response;
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('request.oldObject is missing');
  });

  it('keeps serving after all of that', async () => {
    const res = await httpsJson(`${webhook.url}/healthz`, { ca: caCert, agent });
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok');
    expect(webhook.ready()).toBe(true);
  });
});

describe('metrics', () => {
  it('counts requests by kind, operation and outcome, times them, and counts invalid requests', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/gatehouse_webhook_requests_total\{kind="Member",operation="CREATE",allowed="true"\} [1-9]/);
    expect(text).toMatch(/gatehouse_webhook_requests_total\{kind="Role",operation="DELETE",allowed="false"\} [1-9]/);
    expect(text).toMatch(/gatehouse_webhook_request_duration_seconds_count\{kind="Member",operation="UPDATE"\} [1-9]/);
    expect(text).toMatch(/gatehouse_webhook_invalid_requests_total\{code="413"\} 1/);
    expect(text).toMatch(/gatehouse_webhook_certificate_expiry_timestamp_seconds \d+/);
  });
});

describe('serving certificate', () => {
  it('is verified by a client that trusts only the CA, and refused by one that does not', async () => {
    const other = await createTestCertificates();
    await expect(httpsJson(`${webhook.url}/healthz`, { ca: other.ca.cert })).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });
});
