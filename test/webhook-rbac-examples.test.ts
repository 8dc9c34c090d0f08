// The example ClusterRoles in deploy/examples do what docs/webhook.md says:
// the fake API server answers SubjectAccessReviews with Kubernetes' RBAC
// semantics over exactly those files, and the webhook asks it.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { getDefaultProfile, type GatehouseObject } from '../src/model/index.js';
import { createObjectIndex } from '../src/rules/index.js';
import { aMember, anAdmin, aRole, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import type { AdmissionReviewResponse, UserInfo } from '../src/kube/webhook/admission.js';
import { StaticCertificateSource } from '../src/kube/webhook/certificate-source.js';
import { startAdmissionWebhook, type AdmissionWebhook } from '../src/kube/webhook/server.js';
import { anAdmissionReview, createTestCertificates, httpsJson, type ReviewFixture } from '../src/kube/webhook/testing.js';
import { FakeApiServer, type SubjectAccessReviewSpec } from './support/fake-apiserver/index.js';

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  namespace?: string;
}
interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: Subject[];
}

function load(file: string): RbacObject[] {
  const text = readFileSync(new URL(`../deploy/examples/${file}`, import.meta.url), 'utf8');
  return parseAllDocuments(text).map((doc) => doc.toJSON() as RbacObject);
}

/** Kubernetes RBAC: a binding's subjects, its role's rules, namespaces for RoleBindings. Allow-only, no deny. */
function rbacAuthorizer(objects: RbacObject[]) {
  const roles = new Map(objects.filter((o) => o.kind === 'ClusterRole').map((o) => [o.metadata.name, o.rules ?? []]));
  const bindings = objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding');
  const has = (list: string[] | undefined, value: string) => list !== undefined && (list.includes('*') || list.includes(value));
  const matchesSubject = (subject: Subject, spec: SubjectAccessReviewSpec) =>
    (subject.kind === 'User' && subject.name === spec.user) ||
    (subject.kind === 'Group' && (spec.groups ?? []).includes(subject.name)) ||
    (subject.kind === 'ServiceAccount' && spec.user === `system:serviceaccount:${subject.namespace}:${subject.name}`);
  return (spec: SubjectAccessReviewSpec) => {
    const a = spec.resourceAttributes ?? {};
    for (const binding of bindings) {
      if (binding.kind === 'RoleBinding' && binding.metadata.namespace !== a.namespace) continue;
      if (!(binding.subjects ?? []).some((s) => matchesSubject(s, spec))) continue;
      for (const rule of roles.get(binding.roleRef?.name ?? '') ?? []) {
        const nameOk = rule.resourceNames === undefined || rule.resourceNames.length === 0 || (a.name !== undefined && rule.resourceNames.includes(a.name));
        if (has(rule.verbs, a.verb ?? '') && has(rule.apiGroups, a.group ?? '') && has(rule.resources, a.resource ?? '') && nameOk) {
          return { allowed: true, reason: `RBAC: allowed by ${binding.kind} "${binding.metadata.name}"` };
        }
      }
    }
    return { allowed: false };
  };
}

const WORKSPACE_ADMIN: UserInfo = { username: 'alice@acme.example', groups: ['acme-admins', 'system:authenticated'] };
const ARGOCD: UserInfo = { username: 'system:serviceaccount:argocd:argocd-application-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd'] };
const SOMEONE: UserInfo = { username: 'mallory@acme.example', groups: ['system:authenticated'] };

const cluster: GatehouseObject[] = [
  aWorkspace({ spec: { supportAccess: { allowed: true, maxDuration: '720h', allowReadWrite: true }, admins: { min: 1, max: 3 } } }),
  anAdmin(),
  aRole(),
  aMember(),
].map((o) => ({ ...o, metadata: { ...o.metadata, creationTimestamp: '2026-01-01T00:00:00Z' } }) as GatehouseObject);

let fake: FakeApiServer;
let webhook: AdmissionWebhook;
let ca: string;

beforeAll(async () => {
  fake = await FakeApiServer.start();
  fake.setAuthorizer(rbacAuthorizer([...load('clusterrole-workspace-admin.yaml'), ...load('clusterrole-gitops.yaml')]));
  const certificates = await createTestCertificates();
  ca = certificates.ca.cert;
  webhook = await startAdmissionWebhook({
    listen: '127.0.0.1:0',
    tls: { source: new StaticCertificateSource(certificates.serving) },
    kubeConfig: fake.kubeConfig(),
    index: createObjectIndex(cluster),
    profile: getDefaultProfile(),
  });
});

afterAll(async () => {
  await webhook?.close();
  await fake?.stop();
});

async function decide(user: UserInfo, fixture: ReviewFixture): Promise<string> {
  const res = await httpsJson(`${webhook.url}/validate`, { ca, body: anAdmissionReview({ ...fixture, user }) });
  const response = (res.json as AdmissionReviewResponse).response;
  if (response.allowed) return 'allowed';
  return (response.status?.details?.causes ?? []).map((c) => c.reason).join(',');
}

const giveRole = (role: string | undefined): ReviewFixture => {
  const name = `bob-${role ?? 'legacy'}`;
  return { operation: 'CREATE', object: aMember({ name, spec: { email: `${name}@acme.example`, role } }) };
};
const defineRole: ReviewFixture = { operation: 'CREATE', object: aRole({ name: 'auditor', spec: { displayName: 'Auditor', permissions: ['view-dashboard'] } }) };
const grant = (accessLevel: 'ReadOnly' | 'ReadWrite'): ReviewFixture => ({ operation: 'CREATE', object: aSupportGrant({ name: `t-${accessLevel.toLowerCase()}`, spec: { accessLevel } }) });

describe('deploy/examples/clusterrole-workspace-admin.yaml', () => {
  it.each([
    ['give editor', 'allowed', giveRole('editor')],
    ['give viewer', 'allowed', giveRole('viewer')],
    ['give the custom role campaign-analyst', 'allowed', giveRole('campaign-analyst')],
    ['give admin', 'PrivilegeEscalation', giveRole('admin')],
    ['give manager', 'PrivilegeEscalation', giveRole('manager')],
    ['leave a new member without a role (legacy permissions)', 'PrivilegeEscalation', giveRole(undefined)],
    ['define a Role\'s permissions', 'PrivilegeEscalation', defineRole],
    ['grant read-only support access', 'allowed', grant('ReadOnly')],
    ['grant read-write support access', 'PrivilegeEscalation', grant('ReadWrite')],
  ] as const)('a workspace admin who tries to %s: %s', async (_what, expected, fixture) => {
    expect(await decide(WORKSPACE_ADMIN, fixture)).toBe(expected);
  });
});

describe('deploy/examples/clusterrole-gitops.yaml', () => {
  it.each([
    ['give admin', giveRole('admin')],
    ['give manager', giveRole('manager')],
    ['define a Role\'s permissions', defineRole],
    ['grant read-write support access', grant('ReadWrite')],
  ])('the GitOps service account may %s', async (_what, fixture) => {
    expect(await decide(ARGOCD, fixture)).toBe('allowed');
  });

  it('gives nothing to anyone else', async () => {
    expect(await decide(SOMEONE, giveRole('viewer'))).toBe('PrivilegeEscalation');
    expect(await decide(SOMEONE, grant('ReadOnly'))).toBe('PrivilegeEscalation');
  });
});
