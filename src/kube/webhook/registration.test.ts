import { describe, expect, it } from 'vitest';
import {
  buildValidatingWebhookConfiguration,
  ensureWebhookConfiguration,
  injectCaBundle,
  isContainedIn,
  serviceAccountUsername,
  webhookUrl,
  WebhookRegistrationError,
  type WebhookConfigurationClient,
} from './registration.js';
import type { V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';

const PEM = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';

describe('buildValidatingWebhookConfiguration', () => {
  it('sends the four kinds\' CREATE, UPDATE and DELETE (not status) to the Service, failing closed within 5 s', () => {
    const vwc = buildValidatingWebhookConfiguration({
      name: 'gatehouse',
      service: 'gatehouse-webhook',
      namespace: 'gatehouse-system',
      caBundle: PEM,
      excludeUsername: serviceAccountUsername('gatehouse-system', 'gatehouse'),
    });
    expect(vwc).toEqual({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'gatehouse', labels: { 'app.kubernetes.io/name': 'gatehouse', 'app.kubernetes.io/component': 'webhook' } },
      webhooks: [
        {
          name: 'validate.gatehouse.dev',
          admissionReviewVersions: ['v1'],
          clientConfig: {
            service: { name: 'gatehouse-webhook', namespace: 'gatehouse-system', path: '/validate', port: 443 },
            caBundle: Buffer.from(PEM).toString('base64'),
          },
          rules: [
            {
              apiGroups: ['gatehouse.dev'],
              apiVersions: ['v1alpha1'],
              operations: ['CREATE', 'UPDATE', 'DELETE'],
              resources: ['workspaces', 'roles', 'members', 'supportgrants'],
              scope: 'Namespaced',
            },
          ],
          matchPolicy: 'Equivalent',
          failurePolicy: 'Fail',
          sideEffects: 'NoneOnDryRun',
          timeoutSeconds: 5,
          matchConditions: [
            { name: 'exclude-gatehouse-operator', expression: 'request.userInfo.username != "system:serviceaccount:gatehouse-system:gatehouse"' },
          ],
        },
      ],
    });
  });

  it('points at a URL in development, with /validate as the default path', () => {
    const vwc = buildValidatingWebhookConfiguration({ name: 'gatehouse', url: 'https://127.0.0.1:9443' });
    expect(vwc.webhooks?.[0]?.clientConfig).toEqual({ url: 'https://127.0.0.1:9443/validate' });
    expect(vwc.webhooks?.[0]?.matchConditions).toBeUndefined();
  });

  it.each([
    [{ name: 'g' }, /either a service .* or a url/],
    [{ name: 'g', service: 's', url: 'https://x' }, /either a service .* or a url/],
    [{ name: 'g', service: 's' }, /needs its namespace/],
    [{ name: 'g', url: 'http://x/validate' }, /must use https/],
    [{ name: 'g', url: 'https://user:pw@x/validate' }, /must not carry credentials/],
  ])('refuses %j', (spec, message) => {
    expect(() => buildValidatingWebhookConfiguration(spec)).toThrow(WebhookRegistrationError);
    expect(() => buildValidatingWebhookConfiguration(spec)).toThrow(message);
  });

  it('keeps an explicit path', () => {
    expect(webhookUrl('https://gatehouse.example.com:8443/hooks/validate')).toBe('https://gatehouse.example.com:8443/hooks/validate');
  });
});

/** A configuration store in memory that adds defaults the way the API server does. */
function memoryClient(initial?: V1ValidatingWebhookConfiguration) {
  let stored = initial;
  const writes: string[] = [];
  const client: WebhookConfigurationClient = {
    async read() {
      return stored === undefined ? undefined : structuredClone(stored);
    },
    async create(body) {
      writes.push('create');
      stored = withDefaults(body);
    },
    async replace(body) {
      writes.push('replace');
      stored = withDefaults(body);
    },
  };
  return { client, writes, get: () => stored };
}

function withDefaults(body: V1ValidatingWebhookConfiguration): V1ValidatingWebhookConfiguration {
  return {
    ...structuredClone(body),
    webhooks: (body.webhooks ?? []).map((w) => ({ namespaceSelector: {}, objectSelector: {}, ...structuredClone(w) })),
  };
}

describe('keeping the configuration', () => {
  it('creates it, then leaves it alone while it matches (API server defaults do not count as changes)', async () => {
    const { client, writes } = memoryClient();
    const desired = buildValidatingWebhookConfiguration({ name: 'gatehouse', url: 'https://127.0.0.1:9443/validate', caBundle: PEM });
    expect(await ensureWebhookConfiguration(client, desired)).toBe('created');
    expect(await ensureWebhookConfiguration(client, desired)).toBe('unchanged');
    expect(await ensureWebhookConfiguration(client, buildValidatingWebhookConfiguration({ name: 'gatehouse', url: 'https://127.0.0.1:9444/validate', caBundle: PEM }))).toBe('updated');
    expect(writes).toEqual(['create', 'replace']);
  });

  it('injects a CA bundle only when it differs, keeping everything else', async () => {
    const helm = buildValidatingWebhookConfiguration({ name: 'gatehouse', service: 'gatehouse-webhook', namespace: 'gatehouse-system' });
    const { client, writes, get } = memoryClient(helm);
    expect(await injectCaBundle(client, 'gatehouse', PEM)).toBe('updated');
    expect(await injectCaBundle(client, 'gatehouse', PEM)).toBe('unchanged');
    expect(writes).toEqual(['replace']);
    expect(get()?.webhooks?.[0]?.clientConfig).toEqual({ ...helm.webhooks?.[0]?.clientConfig, caBundle: Buffer.from(PEM).toString('base64') });
    expect(await injectCaBundle(memoryClient().client, 'gatehouse', PEM)).toBe('missing');
  });

  it('retries a write that lost a race (409)', async () => {
    const { client, writes } = memoryClient(buildValidatingWebhookConfiguration({ name: 'gatehouse', service: 's', namespace: 'n' }));
    let conflicts = 1;
    const racing: WebhookConfigurationClient = {
      ...client,
      async replace(body) {
        if (conflicts-- > 0) throw Object.assign(new Error('Conflict'), { code: 409 });
        await client.replace(body);
      },
    };
    expect(await injectCaBundle(racing, 'gatehouse', PEM)).toBe('updated');
    expect(writes).toEqual(['replace']);
  });

  it('compares desired fields only', () => {
    expect(isContainedIn({ a: 1, b: [{ c: 2 }] }, { a: 1, b: [{ c: 2, d: 3 }], e: 4 })).toBe(true);
    expect(isContainedIn({ a: 1, b: [{ c: 2 }] }, { a: 1, b: [{ c: 2 }, { c: 3 }] })).toBe(false);
    expect(isContainedIn({ a: 1 }, { a: 2 })).toBe(false);
  });
});
