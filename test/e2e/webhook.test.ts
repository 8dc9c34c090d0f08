// The admission webhook on a real kube-apiserver: `gatehouse run --webhook-url`
// registers it, the API server calls it over TLS for every kind, `kubectl`
// shows its denials and warnings, and the escalation check asks the API
// server's own RBAC through SubjectAccessReviews. The webhook configuration is
// cluster-wide, so this file has an API server of its own.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANGED_BY_ANNOTATION, FIELD_MANAGER, STORE_FINALIZER } from '../../src/model/common.js';
import { ruleInfo } from '../../src/rules/catalog.js';
import { listAudit } from '../../src/store/audit.js';
import { envtestSkipReason, Envtest, findKubectl } from '../support/envtest.js';
import { freePort } from '../support/postgres.js';
import { gatehouseResource, type KubeObject } from '../../src/kube/client.js';
import { E2E, eventually, member, role, runKubectl, workspace, type OperatorProcess } from './support/harness.js';
import type { ClusterTarget } from './support/targets.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const INVALID = join(REPO, 'examples', 'invalid');
const skipReason = envtestSkipReason() ?? (findKubectl() === undefined ? 'no kubectl (run scripts/fetch-tools.sh)' : undefined);
const CONFIG_NAME = 'gatehouse-envtest';
/**
 * What a cluster reports where it differs from `gatehouse validate`: a cluster
 * cannot hold two objects of one name, so the second of a duplicated pair is
 * an update of the first, refused for changing an immutable field.
 */
const IN_A_CLUSTER: Record<string, string[]> = { 'DuplicateObject.yaml': ['ImmutableFieldChanged'] };

/** The rule ids an examples/invalid file marks with `# <- RuleId`. */
function markedRules(text: string): string[] {
  return [...new Set([...text.matchAll(/# <- ([A-Za-z]+)/g)].map((m) => m[1] as string))];
}

function namespacesOf(text: string): string[] {
  return [
    ...new Set(
      parseAllDocuments(text)
        .map((doc) => (doc.toJS() as KubernetesObject | null)?.metadata?.namespace)
        .filter((ns): ns is string => typeof ns === 'string'),
    ),
  ];
}

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? 'admission webhook on a real kube-apiserver (envtest)' : `admission webhook on a real kube-apiserver (skipped: ${skipReason})`,
  () => {
    let env: Envtest;
    let e: E2E;
    let proc: OperatorProcess;
    let kubeconfig: string;
    const kubectl = findKubectl() as string;

    beforeAll(async () => {
      env = await Envtest.start();
      const target: ClusterTarget = {
        name: 'envtest',
        envtest: env,
        kubeConfig: () => env.kubeConfig(),
        writeKubeconfig: (file) => env.writeKubeconfig(file),
        createNamespace: (name) => env.createNamespace(name),
        stop: () => env.stop(),
      };
      e = await E2E.start(target, ['acme']);
      kubeconfig = join(e.dir, 'admin.kubeconfig');
      env.writeKubeconfig(kubeconfig);
      const port = await freePort();
      proc = e.startProcess([
        '--webhook-url', `https://127.0.0.1:${port}`,
        '--webhook-listen', `127.0.0.1:${port}`,
        '--webhook-config-name', CONFIG_NAME,
        '--lease-namespace', 'gatehouse-system',
        '--probe-listen', '', '--metrics-listen', '',
      ]);
      await proc.waitForLog('admission webhook serving', 30_000);
      // The API server picks the configuration up through its own watch: wait until a write is judged.
      await eventually(
        async () => (await runKubectl(kubectl, kubeconfig, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify(role('probe', ['fly-rockets'], {}, 'acme')))).stderr.includes('UnknownPermission'),
        'the API server to call the webhook',
        30_000,
      );
    }, 120_000);

    afterAll(async () => {
      await e?.stop();
      await env?.stop();
    });

    it('registers itself for all four kinds with its own CA bundle, failing closed', async () => {
      const config = await e.client.get<KubeObject & { webhooks: Array<Record<string, unknown>> }>(
        { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'validatingwebhookconfigurations', kind: 'ValidatingWebhookConfiguration', namespaced: false },
        undefined,
        CONFIG_NAME,
      );
      const [hook] = config.webhooks as Array<{ failurePolicy: string; clientConfig: { url: string; caBundle: string }; rules: Array<{ resources: string[]; operations: string[] }> }>;
      expect(hook?.failurePolicy).toBe('Fail');
      expect(hook?.clientConfig.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/validate$/);
      expect(Buffer.from(hook?.clientConfig.caBundle ?? '', 'base64').toString()).toContain('BEGIN CERTIFICATE');
      const resources = new Set(hook?.rules.flatMap((r) => r.resources));
      for (const plural of ['workspaces', 'roles', 'members', 'supportgrants']) expect(resources, plural).toContain(plural);
      expect(new Set(hook?.rules.flatMap((r) => r.operations))).toEqual(new Set(['CREATE', 'UPDATE', 'DELETE']));
    });

    // Every deliberately invalid example, applied as `kubectl apply -f FILE` would in a pipeline.
    const examples = readdirSync(INVALID).filter((f) => f.endsWith('.yaml')).sort();
    it.each(examples)('kubectl apply -f examples/invalid/%s: refused with the rule (or warned about it)', async (file) => {
      const text = readFileSync(join(INVALID, file), 'utf8');
      for (const ns of namespacesOf(text)) await env.createNamespace(ns);
      const rules = IN_A_CLUSTER[file] ?? markedRules(text);
      expect(rules.length, 'the file marks its rule').toBeGreaterThan(0);
      const result = await runKubectl(kubectl, kubeconfig, ['apply', '-f', join(INVALID, file)]);
      const named = rules.every((id) => new RegExp(`\\b${id}\\b`).test(result.stderr));
      // The API server's own schema and CEL checks come first and name the field instead of a rule.
      const bySchema = /strict decoding error|spec[\w.[\]]*: (Invalid value|Required value|Unsupported value|Forbidden|Too long|Duplicate value)/.test(result.stderr);
      if (rules.some((id) => ruleInfo(id)?.severity === 'error')) {
        expect(result.code, result.stderr).not.toBe(0);
        expect(named || bySchema, result.stderr).toBe(true);
      } else if (result.code === 0) {
        for (const id of rules) expect(result.stderr, `kubectl prints the admission warning ${id}`).toMatch(new RegExp(`Warning: ${id}\\b`));
      } else {
        // A warning in validate that admission refuses outright (an end time already past).
        expect(named, result.stderr).toBe(true);
      }
    });

    it('admits a Workspace with its Roles and Members applied in one stream (kubectl apply of a folder)', async () => {
      // kubectl sends them one after another within milliseconds, and the webhook's cache follows a
      // watch: a Member can arrive before the cache has its Workspace. On a quiet machine the watch
      // usually wins; the read-through that covers the other case is tested in handler.test.ts.
      await env.createNamespace('one-go');
      const objects = [
        workspace('acme', {}, 'one-go'),
        role('analyst', ['view-dashboard'], {}, 'one-go'),
        ...Array.from({ length: 5 }, (_, i) => member(`person-${i}`, { role: i % 2 === 0 ? 'analyst' : 'viewer' }, 'one-go')),
      ];
      const result = await runKubectl(kubectl, kubeconfig, ['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n---\n'));
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.match(/created/g)?.length).toBe(objects.length);
    });

    it('lists every violation of one object in one denial', async () => {
      const bad = member('many', { role: 'nope', expiresAt: '2001-01-01T00:00:00Z', loginType: 'Local' }, 'acme');
      await runKubectl(kubectl, kubeconfig, ['apply', '-f', '-'], JSON.stringify(workspace('acme', {}, 'acme')));
      const result = await runKubectl(kubectl, kubeconfig, ['apply', '-f', '-'], JSON.stringify(bad));
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('RoleNotFound');
      expect(result.stderr).toContain('TemporaryAccessInPast');
    });

    it('refuses deleting a Role that is still assigned, and allows it once nobody has it', async () => {
      const objects = [workspace('acme', {}, 'acme'), role('analyst', ['view-dashboard'], {}, 'acme'), member('ana', { role: 'analyst' }, 'acme')];
      for (const object of objects) {
        const applied = await runKubectl(kubectl, kubeconfig, ['apply', '-f', '-'], JSON.stringify(object));
        expect(applied.code, applied.stderr).toBe(0);
      }
      await eventually(async () => (await runKubectl(kubectl, kubeconfig, ['delete', 'role.gatehouse.dev', 'analyst', '-n', 'acme', '--dry-run=server'])).code !== 0, 'the webhook to see the Member');
      const refused = await runKubectl(kubectl, kubeconfig, ['delete', 'role.gatehouse.dev', 'analyst', '-n', 'acme']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/RoleInUse|assigned/);
      expect((await runKubectl(kubectl, kubeconfig, ['delete', 'member', 'ana', '-n', 'acme', '--wait=false'])).code).toBe(0);
      await eventually(async () => (await e.get('Member', 'ana', 'acme')) === undefined, 'ana gone (finalizer removed by the operator)');
      await eventually(async () => (await runKubectl(kubectl, kubeconfig, ['delete', 'role.gatehouse.dev', 'analyst', '-n', 'acme'])).code === 0, 'the Role deleted once unassigned');
    });

    it('answers a server-side dry run exactly like the real request, and stores nothing either way', async () => {
      await env.createNamespace('dry');
      await runKubectl(kubectl, kubeconfig, ['apply', '-f', '-'], JSON.stringify(workspace('acme', {}, 'dry')));
      const bad = await runKubectl(kubectl, kubeconfig, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify(member('ghost', { role: 'ghost' }, 'dry')));
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain('RoleNotFound');
      const good = await runKubectl(kubectl, kubeconfig, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify(member('fine', {}, 'dry')));
      expect(good.code, good.stderr).toBe(0);
      expect(good.stdout).toContain('(server dry run)');
      for (const name of ['ghost', 'fine']) expect(await e.get('Member', name, 'dry'), name).toBeUndefined();
    });

    it('a Member gets the finalizer at creation, so the operator writes it once: its status', async () => {
      await runKubectl(kubectl, kubeconfig, ['apply', '-f', '-'], JSON.stringify(workspace('acme', {}, 'acme')));
      // Every change to the Member after its creation, as the API server records it.
      const seen: Array<{ type: string; object: KubeObject & { status?: { phase?: string } } }> = [];
      const list = await e.client.listPage(gatehouseResource('Member'), 'acme', { limit: 1 });
      const watch = await e.client.watch(gatehouseResource('Member'), 'acme', list.resourceVersion, (type, object) => {
        if ((object as KubeObject).metadata?.name === 'fin') seen.push({ type, object: object as KubeObject });
      }, () => undefined);
      try {
        const created = await runKubectl(kubectl, kubeconfig, ['create', '-o', 'json', '-f', '-'], JSON.stringify(member('fin', {}, 'acme')));
        expect(created.code, created.stderr).toBe(0);
        expect((JSON.parse(created.stdout) as KubeObject).metadata.finalizers).toEqual([STORE_FINALIZER]);
        await eventually(() => seen.some((event) => event.object.status?.phase === 'Invited'), 'fin Invited');
        const firstStatus = seen.findIndex((event) => event.object.status !== undefined);
        // Created, then the status: no finalizer patch in between.
        expect(seen.slice(0, firstStatus + 1).map((event) => event.type)).toEqual(['ADDED', 'MODIFIED']);
        const stored = await e.client.get<KubeObject>(gatehouseResource('Member'), 'acme', 'fin');
        const managedFields = (stored.metadata.managedFields ?? []) as Array<{ manager?: string; subresource?: string }>;
        const operatorFields = managedFields.filter((entry) => entry.manager === FIELD_MANAGER);
        expect(operatorFields.map((entry) => entry.subresource)).toEqual(['status']);
      } finally {
        watch.abort();
      }
    });

    describe('escalation check through real SubjectAccessReviews', () => {
      const read = (file: string) =>
        parseAllDocuments(readFileSync(join(REPO, 'deploy', 'examples', file), 'utf8'))
          .map((doc) => doc.toJS() as KubernetesObject | null)
          .filter((o): o is KubernetesObject => o !== null && o.kind === 'ClusterRole');

      let limited: string;
      let gitops: string;
      beforeAll(async () => {
        // The shipped example ClusterRoles, bound to two ServiceAccounts.
        await env.createAll([...read('clusterrole-workspace-admin.yaml'), ...read('clusterrole-gitops.yaml')]);
        const binding = (name: string, clusterRole: string, sa: string) => ({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name, namespace: 'acme' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: 'acme' }],
        });
        await env.createAll([binding('limited', 'gatehouse-workspace-admin', 'limited'), binding('gitops', 'gatehouse-gitops', 'gitops')]);
        limited = join(e.dir, 'limited.kubeconfig');
        gitops = join(e.dir, 'gitops.kubeconfig');
        env.writeKubeconfig(limited, { token: await env.tokenFor('acme', 'limited'), namespace: 'acme' });
        env.writeKubeconfig(gitops, { token: await env.tokenFor('acme', 'gitops'), namespace: 'acme' });
        await runKubectl(kubectl, kubeconfig, ['apply', '-f', '-'], JSON.stringify(workspace('acme', { admins: { max: 5 } }, 'acme')));
      });

      it('a ServiceAccount that may write Members but not assign admin cannot create an admin', async () => {
        const result = await runKubectl(kubectl, limited, ['create', '-f', '-'], JSON.stringify(member('eve', { role: 'admin' }, 'acme')));
        expect(result.code).not.toBe(0);
        expect(result.stderr).toContain('assign');
        expect(result.stderr).toContain('admin');
      });

      it('the same ServiceAccount may give a role it is allowed to assign', async () => {
        const result = await runKubectl(kubectl, limited, ['create', '-f', '-'], JSON.stringify(member('ed', { role: 'editor' }, 'acme')));
        expect(result.code, result.stderr).toBe(0);
      });

      it('a ServiceAccount with assign on every role may create an admin', async () => {
        const result = await runKubectl(kubectl, gitops, ['create', '-f', '-'], JSON.stringify(member('ada', { role: 'admin' }, 'acme')));
        expect(result.code, result.stderr).toBe(0);
      });

      it('the mutating webhook stamps who made each change, and nobody may stamp someone else', async () => {
        // Registered by --webhook-url beside the validating one, so the audit log can name the person.
        expect((await e.get('Member', 'ed', 'acme'))?.metadata.annotations?.[CHANGED_BY_ANNOTATION]).toBe('system:serviceaccount:acme:limited');
        expect((await e.get('Member', 'ada', 'acme'))?.metadata.annotations?.[CHANGED_BY_ANNOTATION]).toBe('system:serviceaccount:acme:gitops');
        const forged = member('mallory', { role: 'viewer' }, 'acme') as ReturnType<typeof member> & { metadata: { annotations?: Record<string, string> } };
        forged.metadata.annotations = { [CHANGED_BY_ANNOTATION]: 'someone-else@acme.example' };
        const result = await runKubectl(kubectl, limited, ['create', '-f', '-'], JSON.stringify(forged));
        // The mutating webhook overwrites the claim with the real user; the object records who really sent it.
        if (result.code === 0) {
          expect((await e.get('Member', 'mallory', 'acme'))?.metadata.annotations?.[CHANGED_BY_ANNOTATION]).toBe('system:serviceaccount:acme:limited');
        } else {
          expect(result.stderr).toContain('ForgedChangedBy');
        }
      });

      it('the audit entry of a deletion names who deleted it, and a server-side dry-run delete records nothing', async () => {
        // Nothing can be stamped on a DELETE: the validating webhook records a deletion claim instead.
        const created = await runKubectl(kubectl, limited, ['create', '-f', '-'], JSON.stringify(member('leaver', { role: 'editor' }, 'acme')));
        expect(created.code, created.stderr).toBe(0);
        const entries = async (action: string) => (await listAudit(e.store.db)).filter((x) => x.action === action && x.object?.name === 'leaver');
        await eventually(async () => (await entries('member.create')).length === 1, 'leaver in the identity store');
        const uid = (await e.get('Member', 'leaver', 'acme'))?.metadata.uid as string;
        const claims = () => e.store.db.selectFrom('deletion_claims').select(['username']).where('object_uid', '=', uid).execute();

        const dry = await runKubectl(kubectl, limited, ['delete', 'member', 'leaver', '--dry-run=server']);
        expect(dry.code, dry.stderr).toBe(0);
        expect(await claims()).toEqual([]);
        expect(await e.get('Member', 'leaver', 'acme')).toBeDefined();

        const deleted = await runKubectl(kubectl, limited, ['delete', 'member', 'leaver', '--wait=false']);
        expect(deleted.code, deleted.stderr).toBe(0);
        await eventually(async () => (await e.get('Member', 'leaver', 'acme')) === undefined, 'leaver gone (store cleaned up, finalizer removed)');
        await eventually(async () => (await entries('member.delete')).length === 1, 'the deletion audited');
        expect((await entries('member.delete'))[0]).toMatchObject({ actor: 'k8s:system:serviceaccount:acme:limited', object: { uid } });
        // The claim was consumed once the deletion was recorded.
        expect(await claims()).toEqual([]);
      });
    });
  },
);
