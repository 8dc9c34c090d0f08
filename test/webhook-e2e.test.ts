// End to end: a client (the real @kubernetes/client-node, as kubectl or Argo CD
// would) writes Gatehouse objects to the fake API server, which calls the
// webhook over TLS with an AdmissionReview for each write, the way the real
// API server does, and refuses what the webhook denies.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_GROUP, API_VERSION, API_VERSION_NAME, getDefaultProfile, isKind, type GatehouseObject } from '../src/model/index.js';
import { createObjectIndex } from '../src/rules/index.js';
import type { ObjectIndex } from '../src/rules/types.js';
import { aMember, anAdmin, aRole, aWorkspace } from '../src/rules/testing/builders.js';
import type { AdmissionReviewResponse } from '../src/kube/webhook/admission.js';
import { StaticCertificateSource } from '../src/kube/webhook/certificate-source.js';
import { startAdmissionWebhook, type AdmissionWebhook } from '../src/kube/webhook/server.js';
import { createTestCertificates, httpsJson } from '../src/kube/webhook/testing.js';
import { FakeApiServer, type AdmissionAttributes } from './support/fake-apiserver/index.js';

const NS = 'acme';
let fake: FakeApiServer;
let webhook: AdmissionWebhook;
let api: CustomObjectsApi;

/** What an informer cache would hold: the fake's stored Gatehouse objects, read at admission time. */
const cache: ObjectIndex = {
  list: (kind, namespace) => snapshot().list(kind, namespace),
  get: (kind, namespace, name) => snapshot().get(kind, namespace, name),
};
function snapshot() {
  const objects: GatehouseObject[] = [];
  for (const kind of ['Workspace', 'Role', 'Member', 'SupportGrant'] as const) {
    objects.push(...(fake.list(API_VERSION, kind) as unknown as GatehouseObject[]));
  }
  return createObjectIndex(objects);
}

beforeAll(async () => {
  fake = await FakeApiServer.start();
  const { ca, serving } = await createTestCertificates();
  webhook = await startAdmissionWebhook({
    listen: '127.0.0.1:0',
    tls: { source: new StaticCertificateSource(serving) },
    index: cache,
    profile: getDefaultProfile(),
    kubeConfig: fake.kubeConfig(),
  });
  // The API server's side of the webhook call (failurePolicy Fail: no answer, no write).
  fake.setAdmission(async (attributes: AdmissionAttributes) => {
    if (attributes.resource.group !== API_GROUP || !isKind(attributes.resource.kind)) return { allowed: true };
    const gvk = { group: API_GROUP, version: API_VERSION_NAME, kind: attributes.resource.kind };
    const gvr = { group: API_GROUP, version: API_VERSION_NAME, resource: attributes.resource.plural };
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: crypto.randomUUID(),
        kind: gvk,
        resource: gvr,
        ...(attributes.subresource ? { subResource: attributes.subresource } : {}),
        name: attributes.name,
        namespace: attributes.namespace,
        operation: attributes.operation,
        userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
        object: attributes.operation === 'DELETE' ? null : attributes.object,
        oldObject: attributes.oldObject ?? null,
        dryRun: attributes.dryRun,
      },
    };
    const res = await httpsJson(`${webhook.url}/validate`, { ca: ca.cert, body: review });
    if (res.status !== 200) return { allowed: false, code: 500, message: `failed calling webhook: HTTP ${res.status}` };
    const response = (res.json as AdmissionReviewResponse).response;
    return response.allowed ? { allowed: true } : { allowed: false, code: response.status?.code ?? 400, message: response.status?.message ?? '' };
  });
  fake.seed(aWorkspace());
  fake.seed(anAdmin());
  api = fake.kubeConfig(NS).makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  await webhook?.close();
  await fake?.stop();
});

const create = (object: GatehouseObject, dryRun = false) =>
  api.createNamespacedCustomObject({ group: API_GROUP, version: API_VERSION_NAME, namespace: NS, plural: `${object.kind.toLowerCase()}s`, body: object, ...(dryRun ? { dryRun: 'All' } : {}) });

/** The API server's error body, as a client sees it. */
async function rejection(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    const status = typeof body === 'string' ? JSON.parse(body) : body;
    return { code: (err as { code: number }).code, message: String(status?.message) };
  }
  throw new Error('expected the API server to refuse the write');
}

describe('writes through the API server are checked by the webhook', () => {
  it('refuses a Member with an unknown role, with every problem in the message', async () => {
    const refused = await rejection(create(aMember({ name: 'bob', spec: { role: 'ghost', email: 'root@acme.example' } })));
    expect(refused.code).toBe(422);
    expect(refused.message).toContain('Member acme/bob has 2 problems:');
    // The API server passes the webhook's lines through: "RULE-ID field: what to do".
    expect(refused.message).toMatch(/\n- RoleNotFound spec\.role: .*ghost/);
    expect(refused.message).toMatch(/\n- DuplicateEmail spec\.email: .*root@acme\.example/);
    expect(fake.get(API_VERSION, 'Member', NS, 'bob')).toBeUndefined();
  });

  it('refuses a dry run the same way, and stores nothing either way', async () => {
    const refused = await rejection(create(aMember({ name: 'bob', spec: { role: 'ghost' } }), true));
    expect(refused.message).toContain('RoleNotFound');
  });

  it('stores valid objects, then refuses deleting a Role still assigned', async () => {
    await create(aRole({ name: 'analyst', spec: { displayName: 'Analyst' } }));
    await create(aMember({ name: 'bob', spec: { role: 'analyst' } }));
    const refused = await rejection(
      api.deleteNamespacedCustomObject({ group: API_GROUP, version: API_VERSION_NAME, namespace: NS, plural: 'roles', name: 'analyst' }),
    );
    expect(refused.code).toBe(422);
    expect(refused.message).toMatch(/^admission webhook denied the request: Role acme\/analyst: RoleInUse: .*another Member/);
    expect(fake.get(API_VERSION, 'Role', NS, 'analyst')).toBeDefined();
  });

  it('never blocks the operator: finalizer patches and status writes pass even on an object the rules now reject', async () => {
    // A second admin got in while the webhook was not looking (seeded directly): zed is beyond admins.max.
    fake.seed(anAdmin({ name: 'zed', spec: { email: 'zed@acme.example' } }));
    const patch = { metadata: { finalizers: ['gatehouse.dev/identity-store'] } };
    await api.patchNamespacedCustomObject(
      { group: API_GROUP, version: API_VERSION_NAME, namespace: NS, plural: 'members', name: 'zed', body: patch },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const status = { status: { phase: 'Active' } };
    await api.patchNamespacedCustomObjectStatus(
      { group: API_GROUP, version: API_VERSION_NAME, namespace: NS, plural: 'members', name: 'zed', body: status },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(fake.get(API_VERSION, 'Member', NS, 'zed')?.metadata.finalizers).toEqual(['gatehouse.dev/identity-store']);
    // But a spec change to it is judged, and refused.
    const stored = fake.get(API_VERSION, 'Member', NS, 'zed') as unknown as GatehouseObject;
    const refused = await rejection(
      api.replaceNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION_NAME,
        namespace: NS,
        plural: 'members',
        name: 'zed',
        body: { ...stored, spec: { ...stored.spec, phone: '+4930123456' } },
      }),
    );
    expect(refused.message).toContain('TooManyAdmins');
  });
});
