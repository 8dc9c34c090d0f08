// The webhook's conversations with the API server, against the fake one
// through the real client: SubjectAccessReviews for the escalation check,
// the self-managed certificate Secret with its rotation, and the
// ValidatingWebhookConfiguration (CA injection in a cluster, registration in
// development).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { getDefaultProfile } from '../src/model/index.js';
import { createObjectIndex } from '../src/rules/index.js';
import { aMember, anAdmin, aRole, aWorkspace } from '../src/rules/testing/builders.js';
import { ManualClock } from '../src/util/clock.js';
import type { AdmissionReviewResponse } from '../src/kube/webhook/admission.js';
import { isIssuedBy, servingHosts, splitPemCertificates } from '../src/kube/webhook/certificates.js';
import { SelfManagedCertificateSource, kubernetesTlsSecretStore } from '../src/kube/webhook/certificate-secret.js';
import {
  accessChecksFor,
  AuthorizationError,
  cachingAuthorizer,
  subjectAccessReviewAuthorizer,
  type AccessCheck,
} from '../src/kube/webhook/escalation.js';
import {
  buildValidatingWebhookConfiguration,
  kubernetesWebhookConfigurationClient,
  WebhookRegistrar,
} from '../src/kube/webhook/registration.js';
import { startAdmissionWebhook } from '../src/kube/webhook/server.js';
import { anAdmissionReview, httpsJson } from '../src/kube/webhook/testing.js';
import { FakeApiServer, type SubjectAccessReviewSpec } from './support/fake-apiserver/index.js';

const NAMESPACE = 'gatehouse-system';
const SECRET = 'gatehouse-webhook-tls';
const DAY = 24 * 3_600_000;
const VWC = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration' };

let fake: FakeApiServer;

beforeAll(async () => {
  fake = await FakeApiServer.start();
});

afterAll(async () => {
  await fake?.stop();
});

/** RBAC as a table: "user verb resource/name" lines that are allowed. */
function rbac(allowed: string[]): (spec: SubjectAccessReviewSpec) => { allowed: boolean; reason?: string } {
  return (spec) => {
    const a = spec.resourceAttributes ?? {};
    const line = `${spec.user} ${a.verb} ${a.resource}/${a.name}`;
    return allowed.includes(line) ? { allowed: true, reason: 'RBAC: allowed by RoleBinding' } : { allowed: false, reason: '' };
  };
}

const assignAdmin = accessChecksFor('CREATE', aMember({ spec: { role: 'admin' } }))[0] as AccessCheck;
const assignEditor = accessChecksFor('CREATE', aMember({ spec: { role: 'editor' } }))[0] as AccessCheck;

describe('SubjectAccessReview authorizer', () => {
  it('sends the requester\'s identity and the custom verb on roles.gatehouse.dev', async () => {
    const seen: SubjectAccessReviewSpec[] = [];
    fake.setAuthorizer((spec) => {
      seen.push(spec);
      return { allowed: true };
    });
    const authorizer = subjectAccessReviewAuthorizer(fake.kubeConfig());
    const user = { username: 'jane', uid: 'u-1', groups: ['acme-admins'], extra: { scopes: ['a'] } };
    expect(await authorizer.review(user, assignAdmin)).toEqual({ allowed: true });
    expect(seen).toEqual([
      {
        user: 'jane',
        uid: 'u-1',
        groups: ['acme-admins'],
        extra: { scopes: ['a'] },
        resourceAttributes: { group: 'gatehouse.dev', resource: 'roles', verb: 'assign', namespace: 'acme', name: 'admin' },
      },
    ]);
  });

  it('reports a denial with the authorizer\'s reason', async () => {
    fake.setAuthorizer(() => ({ allowed: false, denied: true, reason: 'no RoleBinding grants assign on admin' }));
    const authorizer = subjectAccessReviewAuthorizer(fake.kubeConfig());
    expect(await authorizer.review({ username: 'jane' }, assignAdmin)).toEqual({ allowed: false, reason: 'no RoleBinding grants assign on admin' });
  });

  it('throws when the API server refuses the review or cannot be reached', async () => {
    fake.failNext('POST', /subjectaccessreviews/, 500);
    const authorizer = subjectAccessReviewAuthorizer(fake.kubeConfig());
    await expect(authorizer.review({ username: 'jane' }, assignAdmin)).rejects.toThrow(AuthorizationError);

    const gone = await FakeApiServer.start();
    const kubeConfig = gone.kubeConfig();
    await gone.stop();
    await expect(subjectAccessReviewAuthorizer(kubeConfig).review({ username: 'jane' }, assignAdmin)).rejects.toThrow(
      /the SubjectAccessReview failed/,
    );
  });

  it('asks the API server once per identity and check while the answer is fresh', async () => {
    fake.setAuthorizer(rbac(['jane assign roles/editor']));
    const clock = new ManualClock();
    const authorizer = cachingAuthorizer(subjectAccessReviewAuthorizer(fake.kubeConfig(), { clock }), { clock });
    fake.clearRequests();
    for (let i = 0; i < 3; i++) await authorizer.review({ username: 'jane' }, assignEditor);
    expect(fake.requestCount('POST', /subjectaccessreviews/)).toBe(1);
    // Denials are asked every time.
    for (let i = 0; i < 2; i++) expect((await authorizer.review({ username: 'jane' }, assignAdmin)).allowed).toBe(false);
    expect(fake.requestCount('POST', /subjectaccessreviews/)).toBe(3);
    clock.advance(10_000);
    await authorizer.review({ username: 'jane' }, assignEditor);
    expect(fake.requestCount('POST', /subjectaccessreviews/)).toBe(4);
  });
});

describe('the webhook with the default authorizer (SubjectAccessReviews through its kubeConfig)', () => {
  // Generated certificates follow this clock and TLS checks them against the real one.
  const clock = new ManualClock(new Date());
  const cluster = createObjectIndex([aWorkspace(), anAdmin(), aRole(), aMember()].map((o) => ({ ...o, metadata: { ...o.metadata, creationTimestamp: '2026-05-01T00:00:00Z' } })));
  let webhook: Awaited<ReturnType<typeof startAdmissionWebhook>>;
  let ca: string;

  beforeAll(async () => {
    webhook = await startAdmissionWebhook({
      listen: '127.0.0.1:0',
      tls: { selfSigned: { namespace: NAMESPACE, secretName: 'sar-test-tls', hosts: servingHosts({}) } },
      kubeConfig: fake.kubeConfig(),
      index: cluster,
      profile: getDefaultProfile(),
      clock,
    });
    ca = webhook.certificate().caBundle as string;
  });
  afterAll(async () => {
    await webhook?.close();
  });

  const send = async (user: string, role: string) => {
    const body = anAdmissionReview({ operation: 'CREATE', object: aMember({ name: 'bob', spec: { role } }), user: { username: user, groups: ['system:authenticated'] }, now: clock.now() });
    const res = await httpsJson(`${webhook.url}/validate`, { ca, body });
    return (res.json as AdmissionReviewResponse).response;
  };

  it('allows a workspace admin to give editor and refuses manager, naming the rule to add', async () => {
    fake.setAuthorizer(rbac(['jane assign roles/editor', 'jane assign roles/viewer']));
    expect((await send('jane', 'editor')).allowed).toBe(true);
    const denied = await send('jane', 'manager');
    expect(denied.allowed).toBe(false);
    expect(denied.status).toMatchObject({ code: 403, reason: 'Forbidden' });
    expect(denied.status?.message).toContain('verbs: ["assign"], resourceNames: ["manager"]');
  });

  it('lets a GitOps service account that may assign every role through', async () => {
    fake.setAuthorizer((spec) => ({ allowed: spec.user === 'system:serviceaccount:argocd:argocd-application-controller' && spec.resourceAttributes?.verb === 'assign' }));
    expect((await send('system:serviceaccount:argocd:argocd-application-controller', 'manager')).allowed).toBe(true);
  });

  it.each([
    ['removes an admin\'s expiresAt (temporary becomes permanent)', '2027-01-01T00:00:00Z', undefined, 'spec.expiresAt'],
    ['moves an expired admin\'s expiresAt from 2020 to 2099', '2020-01-01T00:00:00Z', '2099-01-01T00:00:00Z', 'spec.expiresAt'],
  ])('refuses a user who may assign only viewer and editor when she %s', async (_name, before, after, field) => {
    fake.setAuthorizer(rbac(['jane assign roles/editor', 'jane assign roles/viewer', 'gitops assign roles/admin']));
    const oldObject = anAdmin({ name: 'root', spec: { expiresAt: before } });
    const object = anAdmin({ name: 'root', spec: { expiresAt: after } });
    const update = async (user: string) => {
      const body = anAdmissionReview({ operation: 'UPDATE', object, oldObject, user: { username: user, groups: ['system:authenticated'] }, now: clock.now() });
      return ((await httpsJson(`${webhook.url}/validate`, { ca, body })).json as AdmissionReviewResponse).response;
    };
    const denied = await update('jane');
    expect(denied.allowed).toBe(false);
    expect(denied.status?.code).toBe(403);
    expect(denied.status?.details?.causes?.[0]).toMatchObject({ reason: 'PrivilegeEscalation', field });
    expect(denied.status?.message).toContain('resourceNames: ["admin"]');
    // Whoever may give the admin role may extend it.
    expect((await update('gitops')).allowed).toBe(true);
  });

  it('fails closed when the API server does not answer', async () => {
    fake.failNext('POST', /subjectaccessreviews/, 503, { times: 1 });
    fake.setAuthorizer(() => ({ allowed: true }));
    const denied = await send('carl', 'viewer');
    expect(denied.allowed).toBe(false);
    expect(denied.status?.code).toBe(503);
    expect(denied.status?.details?.causes?.[0]?.reason).toBe('EscalationCheckFailed');
    // It answered; it was not cached: the next try asks again and passes.
    expect((await send('carl', 'viewer')).allowed).toBe(true);
  });
});

describe('self-managed certificates in a Secret', () => {
  const hosts = servingHosts({ service: { name: 'gatehouse-webhook', namespace: NAMESPACE } });
  const settings = { hosts, caValidityMs: 30 * DAY, servingValidityMs: 3 * DAY };
  let clock: ManualClock;
  const sources: SelfManagedCertificateSource[] = [];
  const open = async (name = SECRET) => {
    const source = await SelfManagedCertificateSource.open({ store: kubernetesTlsSecretStore(fake.kubeConfig(), NAMESPACE, name), clock, ...settings });
    sources.push(source);
    return source;
  };
  const stored = (name = SECRET) => fake.get('v1', 'Secret', NAMESPACE, name);
  const decoded = (name: string, key: string) => Buffer.from(String((stored(name)?.data as Record<string, string>)[key]), 'base64').toString('utf8');

  beforeEach(() => {
    clock = new ManualClock(new Date());
  });
  afterEach(async () => {
    for (const source of sources.splice(0)) await source.close();
  });

  it('generates a CA and serving certificate into a kubernetes.io/tls Secret, and a second replica adopts them', async () => {
    const first = await open('adopt-tls');
    const secret = stored('adopt-tls');
    expect(secret).toMatchObject({ type: 'kubernetes.io/tls', metadata: { labels: { 'app.kubernetes.io/managed-by': 'gatehouse' } } });
    expect(Object.keys(secret?.data as object).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(decoded('adopt-tls', 'tls.crt')).toBe(first.current().cert);
    expect(isIssuedBy(first.current().cert, decoded('adopt-tls', 'ca.crt'))).toBe(true);
    expect(first.current().info.hosts).toEqual(expect.arrayContaining(['gatehouse-webhook.gatehouse-system.svc']));

    const rv = secret?.metadata.resourceVersion;
    const second = await open('adopt-tls');
    expect(second.current().cert).toBe(first.current().cert);
    expect(stored('adopt-tls')?.metadata.resourceVersion).toBe(rv);
  });

  it('rotates the serving certificate when the clock passes 2/3 of its life, and tells its listeners', async () => {
    const source = await open('rotate-tls');
    const before = source.current();
    const seen: string[] = [];
    source.onChange((c) => seen.push(c.cert));
    clock.advance(1.5 * DAY);
    await source.whenIdle();
    expect(seen).toEqual([]);
    clock.advance(0.6 * DAY);
    await source.whenIdle();
    expect(seen).toHaveLength(1);
    expect(source.current().cert).not.toBe(before.cert);
    expect(source.current().caBundle).toBe(before.caBundle);
    expect(decoded('rotate-tls', 'tls.crt')).toBe(source.current().cert);
  });

  it('lets two replicas race on rotation: one writes, the other adopts its pair', async () => {
    const a = await open('race-tls');
    const b = await open('race-tls');
    clock.advance(2.1 * DAY);
    await Promise.all([a.whenIdle(), b.whenIdle()]);
    expect(a.current().cert).toBe(b.current().cert);
    expect(decoded('race-tls', 'tls.crt')).toBe(a.current().cert);
  });

  it('keeps serving and retries when the API server fails', async () => {
    const source = await open('retry-tls');
    const before = source.current().cert;
    fake.failNext('GET', /secrets\/retry-tls/, 500);
    clock.advance(2.1 * DAY);
    await source.whenIdle();
    expect(source.lastError).toBeDefined();
    expect(source.current().cert).toBe(before);
    clock.advance(60_000);
    await source.whenIdle();
    expect(source.lastError).toBeUndefined();
    expect(source.current().cert).not.toBe(before);
  });

  it('injects the CA bundle into the ValidatingWebhookConfiguration, only when it differs, and again after a CA rotation', async () => {
    fake.seed(buildValidatingWebhookConfiguration({ name: 'gatehouse-inject', service: 'gatehouse-webhook', namespace: NAMESPACE }));
    const source = await open('inject-tls');
    const registrar = new WebhookRegistrar({ client: kubernetesWebhookConfigurationClient(fake.kubeConfig()), source, mode: { injectInto: 'gatehouse-inject' }, clock });
    try {
      expect(await registrar.start()).toBe('updated');
      const vwc = () => fake.get(VWC.apiVersion, VWC.kind, undefined, 'gatehouse-inject') as unknown as V1ValidatingWebhookConfiguration;
      const bundle = () => Buffer.from(vwc().webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString('utf8');
      expect(bundle()).toBe(source.current().caBundle);
      expect(vwc().webhooks?.[0]?.clientConfig.service).toMatchObject({ name: 'gatehouse-webhook', namespace: NAMESPACE, path: '/validate' });

      fake.clearRequests();
      expect(await registrar.sync()).toBe('unchanged');
      expect(fake.requestCount('PUT', /validatingwebhookconfigurations/)).toBe(0);

      // 21 days on, the CA is rotated; the bundle trusts old and new until the old expires.
      for (let day = 0; day < 21; day += 2) {
        clock.advance(2 * DAY);
        await source.whenIdle();
        await registrar.sync();
      }
      expect(splitPemCertificates(bundle())).toHaveLength(2);
      expect(bundle()).toBe(source.current().caBundle);
    } finally {
      await registrar.close();
    }
  });

  it('waits for a missing configuration and injects once it appears', async () => {
    const source = await open('later-tls');
    const registrar = new WebhookRegistrar({ client: kubernetesWebhookConfigurationClient(fake.kubeConfig()), source, mode: { injectInto: 'gatehouse-later' }, clock });
    try {
      expect(await registrar.start()).toBe('missing');
      fake.seed(buildValidatingWebhookConfiguration({ name: 'gatehouse-later', service: 'gatehouse-webhook', namespace: NAMESPACE }));
      clock.advance(60_000);
      await registrar.sync();
      expect(registrar.lastResult).toBe('unchanged');
      const vwc = fake.get(VWC.apiVersion, VWC.kind, undefined, 'gatehouse-later') as unknown as V1ValidatingWebhookConfiguration;
      expect(vwc.webhooks?.[0]?.clientConfig.caBundle).toBe(Buffer.from(source.current().caBundle ?? '').toString('base64'));
    } finally {
      await registrar.close();
    }
  });
});

describe('development mode: --webhook-url', () => {
  it('registers the whole configuration pointing at the URL with its own CA, and repairs edits', async () => {
    const clock = new ManualClock(new Date());
    const url = 'https://127.0.0.1:0/validate';
    const webhook = await startAdmissionWebhook({
      listen: '127.0.0.1:0',
      tls: { selfSigned: { namespace: NAMESPACE, secretName: 'dev-tls', hosts: servingHosts({ url }) } },
      registration: { register: { name: 'gatehouse-dev', url } },
      kubeConfig: fake.kubeConfig(),
      index: createObjectIndex([]),
      profile: getDefaultProfile(),
      clock,
    });
    try {
      const get = () => fake.get(VWC.apiVersion, VWC.kind, undefined, 'gatehouse-dev') as unknown as V1ValidatingWebhookConfiguration;
      const hook = get().webhooks?.[0];
      expect(hook).toMatchObject({
        name: 'validate.gatehouse.dev',
        clientConfig: { url: 'https://127.0.0.1:0/validate' },
        failurePolicy: 'Fail',
        sideEffects: 'NoneOnDryRun',
        timeoutSeconds: 5,
        admissionReviewVersions: ['v1'],
        rules: [{ apiGroups: ['gatehouse.dev'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['workspaces', 'roles', 'members', 'supportgrants'] }],
      });
      // The API server would trust the webhook with this bundle: so does a client given it.
      const caBundle = Buffer.from(hook?.clientConfig.caBundle ?? '', 'base64').toString('utf8');
      const res = await httpsJson(`${webhook.url}/healthz`, { ca: caBundle });
      expect(res.status).toBe(200);

      const edited = get();
      // A person edits it (kubectl edit); the next periodic check puts it back.
      await kubernetesWebhookConfigurationClient(fake.kubeConfig()).replace({ ...edited, webhooks: [{ ...edited.webhooks![0]!, timeoutSeconds: 30, failurePolicy: 'Ignore' }] });
      clock.advance(60_000);
      await expect.poll(() => get().webhooks?.[0]?.failurePolicy).toBe('Fail');
      expect(get().webhooks?.[0]?.timeoutSeconds).toBe(5);
    } finally {
      await webhook.close();
    }
  });
});
