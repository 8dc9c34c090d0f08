// The Helm chart, rendered by the pinned helm binary: lint, both certificate
// modes, the operator's flags, the webhook configuration, RBAC equal to the
// generated definition, the settings the chart refuses, and the plain
// manifests in deploy/ rendered from it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DEPLOY_WORKLOAD_FILE, findHelm, helmTemplate, renderDeployWorkload, splitHelmOutput } from '../src/crd/deploy-manifests.js';
import { buildCustomResourceDefinitions } from '../src/crd/generate.js';
import { CHART_DIRECTORY } from '../src/crd/files.js';
import {
  buildOperatorRbac,
  checkLeastPrivilege,
  operatorUserName,
  WEBHOOK_CONFIGURATION_NAME,
  WEBHOOK_SERVICE,
  type KubernetesObject,
  type WebhookCertificateMode,
} from '../src/crd/rbac.js';
import { buildValidatingWebhookConfiguration } from '../src/kube/webhook/registration.js';
import { registerWebhookFlags } from '../src/kube/webhook/flags.js';
import { buildProgram } from '../src/cli/main.js';
import { Command } from 'commander';
import { KINDS, KIND_NAMES } from '../src/model/kinds.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const chart = join(root, CHART_DIRECTORY);
const helm = findHelm(root);
const kubectl = helm === undefined ? undefined : join(root, '.tools', 'bin', 'kubectl');
const NAMESPACE = 'gatehouse-test';

/** The flags of `gatehouse run` the chart may use (the operator's command line). */
const RUN_FLAGS = new Set([
  '--store', '--namespace', '--workers', '--heap-growth', '--leader-elect', '--no-leader-elect', '--lease-namespace', '--probe-listen',
  '--metrics-listen', '--webhook-listen', '--webhook-cert-dir', '--webhook-self-signed', '--webhook-secret',
  '--webhook-service', '--webhook-config-name', '--webhook-client-ca', '--no-webhook', '--log-level',
]);

interface Rendered {
  objects: KubernetesObject[];
  find(kind: string, name?: string): any;
  all(kind: string): any[];
}

function render(values: unknown = {}, flags: string[] = []): Rendered {
  const output = helmTemplate(helm as string, chart, { namespace: NAMESPACE, releaseName: 'gatehouse', values, flags });
  const objects = parseAllDocuments(output)
    .map((doc) => doc.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
  const all = (kind: string) => objects.filter((o) => o.kind === kind);
  return {
    objects,
    all,
    find: (kind, name) => all(kind).find((o) => name === undefined || o.metadata.name === name),
  };
}

function renderError(values: unknown): string {
  try {
    render(values);
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

const container = (r: Rendered) => r.find('Deployment', 'gatehouse').spec.template.spec.containers[0];
const args = (r: Rendered): string[] => container(r).args;
const flagNames = (r: Rendered) => args(r).slice(1).map((a) => a.split('=')[0] as string);

/** Long option names of a commander command. */
const optionNames = (command: Command) => new Set(command.options.map((o) => o.long).filter((l): l is string => l !== undefined));
/** `gatehouse run`, once it is registered in the CLI. */
const runCommand = (await buildProgram(['run'])).commands.find((c) => c.name() === 'run');

const title = helm === undefined ? 'Helm chart (skipped: helm not installed: run scripts/fetch-tools.sh)' : 'Helm chart';

describe.skipIf(helm === undefined)(title, () => {
  describe('helm lint', () => {
    it.each([
      ['default values', []],
      ['cert-manager certificates', ['--set', 'webhook.certificate.mode=certManager']],
      ['SQLite, one replica', ['--set', 'replicaCount=1', '--set', 'store.secretName=']],
      ['webhook disabled, two namespaces', ['--set', 'webhook.enabled=false', '--set', 'watchNamespaces={team-a,team-b}']],
    ])('passes with %s', (_name, flags) => {
      const result = spawnSync(helm as string, ['lint', '--strict', chart, ...flags], { encoding: 'utf8' });
      expect(result.status, result.stdout + result.stderr).toBe(0);
    });
  });

  describe.each(['self', 'certManager'] as const)('certificate mode %s', (mode: WebhookCertificateMode) => {
    // Rendered once per mode, when the tests run (never while a skipped suite is collected).
    let rendered: Rendered;
    beforeAll(() => {
      rendered = render({ webhook: { certificate: { mode } } });
    });

    it('runs `gatehouse run` with only the flags it accepts', () => {
      const list = args(rendered);
      expect(list[0]).toBe('run');
      const unknown = flagNames(rendered).filter((f) => !RUN_FLAGS.has(f));
      expect(unknown, `flags gatehouse run does not have: ${unknown.join(', ')}`).toEqual([]);
      for (const flag of ['--store', '--workers', '--heap-growth', '--leader-elect', '--lease-namespace', '--probe-listen', '--metrics-listen', '--webhook-listen', '--log-level']) {
        expect(flagNames(rendered), flag).toContain(flag);
      }
      expect(list).toContain(`--lease-namespace=${NAMESPACE}`);
      expect(list).toContain('--probe-listen=:8081');
      expect(list).toContain('--metrics-listen=:8080');
      expect(list).toContain('--webhook-listen=:9443');
      if (mode === 'self') {
        expect(list).toEqual(expect.arrayContaining(['--webhook-self-signed', '--webhook-secret=gatehouse-webhook-tls', '--webhook-service=gatehouse-webhook', '--webhook-config-name=gatehouse']));
        expect(flagNames(rendered)).not.toContain('--webhook-cert-dir');
      } else {
        expect(list).toContain('--webhook-cert-dir=/etc/gatehouse/webhook-tls');
        expect(flagNames(rendered)).not.toContain('--webhook-self-signed');
      }
    });

    it('two replicas with leader election, the store DSN from a Secret and never inline', () => {
      const deployment = rendered.find('Deployment', 'gatehouse');
      expect(deployment.spec.replicas).toBe(2);
      expect(args(rendered)).toContain('--store=$(GATEHOUSE_STORE)');
      expect(container(rendered).env).toContainEqual({
        name: 'GATEHOUSE_STORE',
        valueFrom: { secretKeyRef: { name: 'gatehouse-store', key: 'dsn' } },
      });
      expect(rendered.find('PodDisruptionBudget', 'gatehouse')?.spec.minAvailable).toBe(1);
      expect(rendered.find('PersistentVolumeClaim')).toBeUndefined();
    });

    it('a locked-down pod: non-root, read-only root, no capabilities, RuntimeDefault seccomp, probes on 8081', () => {
      const pod = rendered.find('Deployment', 'gatehouse').spec.template.spec;
      const c = container(rendered);
      expect(pod.serviceAccountName).toBe('gatehouse');
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      const probesPort = c.ports.find((p: { name: string }) => p.name === 'probes');
      expect(probesPort.containerPort).toBe(8081);
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'probes' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'probes' });
    });

    it('Services: webhook 443 -> 9443 and metrics 8080', () => {
      const webhook = rendered.find('Service', 'gatehouse-webhook');
      expect(webhook.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
      expect(container(rendered).ports).toContainEqual({ name: 'webhook', containerPort: 9443, protocol: 'TCP' });
      expect(rendered.find('Service', 'gatehouse-metrics').spec.ports).toEqual([{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
      const selector = rendered.find('Deployment', 'gatehouse').spec.template.metadata.labels;
      expect(selector).toMatchObject(webhook.spec.selector);
    });

    it('the ValidatingWebhookConfiguration: the four kinds, not status, Fail, 5 s, and never the operator itself', () => {
      const vwc = rendered.find('ValidatingWebhookConfiguration', 'gatehouse');
      expect(vwc.webhooks).toHaveLength(1);
      const webhook = vwc.webhooks[0];
      expect(webhook).toMatchObject({
        admissionReviewVersions: ['v1'],
        sideEffects: 'NoneOnDryRun',
        failurePolicy: 'Fail',
        timeoutSeconds: 5,
        clientConfig: { service: { name: 'gatehouse-webhook', namespace: NAMESPACE, port: 443 } },
      });
      expect(webhook.rules).toEqual([
        {
          apiGroups: ['gatehouse.dev'],
          apiVersions: ['v1alpha1'],
          operations: ['CREATE', 'UPDATE', 'DELETE'],
          resources: KIND_NAMES.map((k) => KINDS[k].plural),
          scope: 'Namespaced',
        },
      ]);
      expect(JSON.stringify(webhook.rules)).not.toContain('/status');
      expect(webhook.matchConditions).toHaveLength(1);
      expect(webhook.matchConditions[0].expression).toBe(`request.userInfo.username != "system:serviceaccount:${NAMESPACE}:gatehouse"`);
      // The same webhook the operator registers itself in development (src/kube/webhook/registration.ts).
      const fromCode = buildValidatingWebhookConfiguration({
        name: WEBHOOK_CONFIGURATION_NAME,
        service: WEBHOOK_SERVICE,
        namespace: NAMESPACE,
        excludeUsername: operatorUserName(NAMESPACE),
      });
      expect(vwc.webhooks).toEqual(fromCode.webhooks);
      const injection = vwc.metadata.annotations?.['cert-manager.io/inject-ca-from'];
      expect(injection).toBe(mode === 'certManager' ? `${NAMESPACE}/gatehouse-webhook` : undefined);
    });

    it('RBAC equal to the generated definition for this mode, without wildcards', () => {
      const rbacKinds = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
      // Helm orders objects by kind; compare them as a set.
      const key = (o: KubernetesObject) => `${o.kind}/${o.metadata.name}`;
      const sorted = (list: KubernetesObject[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
      const rbac = rendered.objects.filter((o) => rbacKinds.has(o.kind));
      expect(sorted(rbac)).toEqual(sorted(buildOperatorRbac({ namespace: NAMESPACE, webhookCertificate: mode })));
      expect(checkLeastPrivilege(rbac)).toEqual([]);
      expect(JSON.stringify(rbac)).not.toContain('*');
    });

    it(mode === 'certManager' ? 'a Certificate and self-signed Issuer, mounted as the webhook certificate' : 'no cert-manager objects and no mounted certificate', () => {
      const certificate = rendered.find('Certificate', 'gatehouse-webhook');
      const volumes = rendered.find('Deployment', 'gatehouse').spec.template.spec.volumes;
      if (mode === 'certManager') {
        expect(certificate.spec).toMatchObject({
          secretName: 'gatehouse-webhook-tls',
          dnsNames: [`gatehouse-webhook.${NAMESPACE}.svc`, `gatehouse-webhook.${NAMESPACE}.svc.cluster.local`],
          issuerRef: { name: 'gatehouse-selfsigned', kind: 'Issuer' },
        });
        expect(rendered.find('Issuer', 'gatehouse-selfsigned').spec).toEqual({ selfSigned: {} });
        expect(volumes).toContainEqual({ name: 'webhook-tls', secret: { secretName: 'gatehouse-webhook-tls' } });
        expect(container(rendered).volumeMounts).toContainEqual({ name: 'webhook-tls', mountPath: '/etc/gatehouse/webhook-tls', readOnly: true });
      } else {
        expect(certificate).toBeUndefined();
        expect(rendered.find('Issuer')).toBeUndefined();
        expect(volumes.map((v: { name: string }) => v.name)).not.toContain('webhook-tls');
      }
    });
  });

  it('cert-manager with an existing ClusterIssuer creates no Issuer of its own', () => {
    const rendered = render({ webhook: { certificate: { mode: 'certManager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } } });
    expect(rendered.find('Issuer')).toBeUndefined();
    expect(rendered.find('Certificate', 'gatehouse-webhook').spec.issuerRef).toEqual({ name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });

  it('SQLite: one replica, a kept PersistentVolumeClaim, Recreate, the DSN inline', () => {
    const rendered = render({ replicaCount: 1, store: { secretName: '' } });
    const deployment = rendered.find('Deployment', 'gatehouse');
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(args(rendered)).toContain('--store=sqlite:/var/lib/gatehouse/gatehouse.db');
    expect(container(rendered).env.map((e: { name: string }) => e.name)).not.toContain('GATEHOUSE_STORE');
    expect(container(rendered).volumeMounts).toContainEqual({ name: 'store', mountPath: '/var/lib/gatehouse' });
    const pvc = rendered.find('PersistentVolumeClaim', 'gatehouse-store');
    expect(pvc.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    expect(rendered.find('PodDisruptionBudget')).toBeUndefined();
  });

  it('webhook disabled: no webhook configuration, Service, flags or certificate roles', () => {
    const rendered = render({ webhook: { enabled: false } });
    expect(rendered.find('ValidatingWebhookConfiguration')).toBeUndefined();
    expect(rendered.find('Service', 'gatehouse-webhook')).toBeUndefined();
    expect(flagNames(rendered).filter((f) => f.startsWith('--webhook'))).toEqual([]);
    expect(args(rendered)).toContain('--no-webhook');
    expect(rendered.find('ClusterRole', 'gatehouse-webhook-certificates')).toBeUndefined();
  });

  it('webhook.clientCA mounts the CA ConfigMap and makes the webhook require the API server\'s client certificate', () => {
    expect(flagNames(render())).not.toContain('--webhook-client-ca');
    const rendered = render({ webhook: { clientCA: { configMapName: 'apiserver-client-ca' } } });
    expect(args(rendered)).toContain('--webhook-client-ca=/etc/gatehouse/webhook-client-ca/ca.crt');
    const pod = rendered.find('Deployment', 'gatehouse').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'webhook-client-ca', configMap: { name: 'apiserver-client-ca' } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'webhook-client-ca', mountPath: '/etc/gatehouse/webhook-client-ca', readOnly: true });
  });

  it('watched namespaces get RoleBindings for the Gatehouse kinds instead of a ClusterRoleBinding, as the generated definition says', () => {
    const rendered = render({ watchNamespaces: ['team-a', NAMESPACE] });
    const rbacKinds = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    const key = (o: KubernetesObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const sorted = (list: KubernetesObject[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
    const rbac = rendered.objects.filter((o) => rbacKinds.has(o.kind));
    expect(sorted(rbac)).toEqual(sorted(buildOperatorRbac({ namespace: NAMESPACE, webhookCertificate: 'self', watchNamespaces: ['team-a', NAMESPACE] })));
    expect(rendered.find('ClusterRoleBinding', 'gatehouse-operator')).toBeUndefined();
    expect(rbac.filter((o) => o.kind === 'RoleBinding' && o.metadata.name === 'gatehouse-operator-watch').map((o) => o.metadata.namespace).sort()).toEqual(
      [NAMESPACE, 'team-a'].sort(),
    );
  });

  it('watched namespaces become --namespace flags and the webhook\'s namespaceSelector', () => {
    const rendered = render({ watchNamespaces: ['team-a', 'team-b'] });
    expect(args(rendered)).toEqual(expect.arrayContaining(['--namespace=team-a', '--namespace=team-b']));
    expect(rendered.find('ValidatingWebhookConfiguration').webhooks[0].namespaceSelector).toEqual({
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-a', 'team-b'] }],
    });
  });

  it('every webhook flag the chart passes is one the webhook registers on gatehouse run', () => {
    const known = optionNames(registerWebhookFlags(new Command('run')));
    for (const values of [{}, { webhook: { certificate: { mode: 'certManager' } } }, { webhook: { enabled: false } }]) {
      const used = flagNames(render(values)).filter((f) => f.startsWith('--webhook') || f === '--no-webhook');
      expect(used.filter((f) => !known.has(f)), JSON.stringify(values)).toEqual([]);
    }
  });

  it.skipIf(runCommand === undefined)(
    runCommand === undefined ? 'every flag is one gatehouse run accepts (skipped: gatehouse run is not registered in the CLI yet)' : 'every flag is one gatehouse run accepts',
    () => {
      const known = optionNames(runCommand as Command);
      for (const values of [{}, { webhook: { certificate: { mode: 'certManager' } } }, { webhook: { enabled: false }, leaderElection: { enabled: false }, watchNamespaces: ['a'] }]) {
        const used = flagNames(render(values));
        expect(used.filter((f) => !known.has(f)), JSON.stringify(values)).toEqual([]);
      }
    },
  );

  it.each([
    [{}, '--max-semi-space-size=2', '--heap-growth=25'],
    [{ nodeOptions: '', heapGrowth: 0 }, undefined, '--heap-growth=0'],
    [{ nodeOptions: '--max-semi-space-size=8', heapGrowth: 50 }, '--max-semi-space-size=8', '--heap-growth=50'],
  ])('memory settings %j: NODE_OPTIONS %s and %s', (values, nodeOptions, heapGrowth) => {
    const rendered = render(values);
    const container = rendered.find('Deployment', 'gatehouse').spec.template.spec.containers[0];
    const env = (container.env as Array<{ name: string; value?: string }>).find((e) => e.name === 'NODE_OPTIONS');
    expect(env?.value).toBe(nodeOptions);
    expect(args(rendered)).toContain(heapGrowth);
  });

  it('--no-leader-elect when leader election is off', () => {
    expect(args(render({ leaderElection: { enabled: false } }))).toContain('--no-leader-elect');
  });

  it('a NetworkPolicy admitting the webhook and, when asked, metrics scrapers', () => {
    const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    const policy = render({ networkPolicy: { enabled: true, metricsFrom: from } }).find('NetworkPolicy', 'gatehouse');
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toEqual([
      { ports: [{ port: 'webhook', protocol: 'TCP' }] },
      { from, ports: [{ port: 'metrics', protocol: 'TCP' }] },
    ]);
    expect(render({ networkPolicy: { enabled: false } }).find('NetworkPolicy')).toBeUndefined();
  });

  it('finding 10: a narrow NetworkPolicy by default: the webhook port only, from webhookFrom when given', () => {
    const policy = render().find('NetworkPolicy', 'gatehouse');
    expect(policy.spec.ingress).toEqual([{ ports: [{ port: 'webhook', protocol: 'TCP' }] }]);
    const controlPlane = [{ ipBlock: { cidr: '10.0.0.0/24' } }];
    const narrowed = render({ networkPolicy: { webhookFrom: controlPlane } }).find('NetworkPolicy', 'gatehouse');
    expect(narrowed.spec.ingress).toEqual([{ from: controlPlane, ports: [{ port: 'webhook', protocol: 'TCP' }] }]);
  });

  it.each([
    ['SQLite with two replicas', { store: { secretName: '' } }, /SQLite is one file on one volume.*replicaCount=1/],
    ['a PostgreSQL DSN inline', { replicaCount: 1, store: { secretName: '', dsn: 'postgres://u:secret@db/gatehouse' } }, /put it into a Secret/],
    ['no store at all', { replicaCount: 1, store: { secretName: '', dsn: '' } }, /set store.secretName/],
    ['an SQLite file off the volume', { replicaCount: 1, store: { secretName: '', dsn: 'sqlite:/tmp/gatehouse.db' } }, /must name a file under store.persistence.mountPath/],
    ['an unknown certificate mode', { webhook: { certificate: { mode: 'vault' } } }, /mode/],
    ['a misspelt value', { replicas: 3 }, /replicas/],
  ])('refuses %s with the fix', (_name, values, message) => {
    expect(renderError(values)).toMatch(message);
  });

  it('installs the same CRDs as crds/', () => {
    const output = helmTemplate(helm as string, chart, { namespace: NAMESPACE, flags: ['--include-crds'] });
    const crds = parseAllDocuments(output)
      .map((d) => d.toJS() as KubernetesObject | null)
      .filter((o): o is KubernetesObject => o?.kind === 'CustomResourceDefinition');
    const byName = (a: { metadata: { name: string } }, b: { metadata: { name: string } }) => a.metadata.name.localeCompare(b.metadata.name);
    expect(crds.sort(byName)).toEqual([...buildCustomResourceDefinitions()].sort(byName));
  });

  it(`${DEPLOY_WORKLOAD_FILE} is the chart rendered for the plain install`, () => {
    const onDisk = readFileSync(join(root, DEPLOY_WORKLOAD_FILE), 'utf8');
    expect(onDisk, `${DEPLOY_WORKLOAD_FILE} is stale: run npm run generate`).toBe(renderDeployWorkload(helm as string, root));
    const sources = splitHelmOutput(onDisk).map((d) => d.source);
    expect(sources.some((s) => s.endsWith('rbac.yaml'))).toBe(false);
    expect(onDisk).not.toMatch(/managed-by: Helm|helm\.sh\/chart/);
  });

  it('kubectl reads crds/ and deploy/ as Kubernetes objects (offline, through kustomize)', () => {
    // `kubectl apply --dry-run=client` needs an API server for discovery even with --validate=false;
    // kustomize parses and checks object identity offline.
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kustomize-'));
    try {
      cpSync(join(root, 'crds'), join(dir, 'crds'), { recursive: true });
      cpSync(join(root, 'deploy'), join(dir, 'deploy'), { recursive: true });
      const files = [
        ...readdirSync(join(dir, 'crds')).map((f) => `crds/${f}`),
        ...readdirSync(join(dir, 'deploy')).filter((f) => f.endsWith('.yaml')).map((f) => `deploy/${f}`),
      ];
      writeFileSync(join(dir, 'kustomization.yaml'), `resources:\n${files.map((f) => `  - ${f}`).join('\n')}\n`);
      const result = spawnSync(kubectl as string, ['kustomize', dir], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      const kinds = parseAllDocuments(result.stdout).map((d) => (d.toJS() as KubernetesObject).kind);
      expect(kinds.filter((k) => k === 'CustomResourceDefinition')).toHaveLength(4);
      expect(kinds).toEqual(expect.arrayContaining(['Namespace', 'ServiceAccount', 'ClusterRole', 'Deployment', 'ValidatingWebhookConfiguration']));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
