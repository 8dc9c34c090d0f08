// Gatehouse as a user meets it in a real cluster (envtest): the CRDs' CEL
// rules enforced by the API server itself, the examples applied with kubectl
// and read back through the printer columns, and `gatehouse run` started the
// way the README shows.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeClient, LEASE_RESOURCE, type KubeObject } from '../../src/kube/client.js';
import { systemClock } from '../../src/util/clock.js';
import { envtestSkipReason, Envtest, findKubectl } from '../support/envtest.js';
import { E2E, eventually, member, runKubectl, supportGrant, workspace } from './support/harness.js';
import type { ClusterTarget } from './support/targets.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const skipReason = envtestSkipReason() ?? (findKubectl() === undefined ? 'no kubectl (run scripts/fetch-tools.sh)' : undefined);

function targetFor(env: Envtest): ClusterTarget {
  return {
    name: 'envtest',
    envtest: env,
    kubeConfig: () => env.kubeConfig(),
    writeKubeconfig: (file) => env.writeKubeconfig(file),
    createNamespace: (name) => env.createNamespace(name),
    stop: async () => {},
  };
}

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? 'Gatehouse in a real cluster (envtest)' : `Gatehouse in a real cluster (skipped: ${skipReason})`,
  () => {
    const kubectl = findKubectl() as string;
    let env: Envtest;
    let e: E2E;
    let kubeconfig: string;
    let seq = 0;
    let ns: string;
    const k = (args: string[], input?: string) => runKubectl(kubectl, kubeconfig, args, input);
    const apply = async (object: unknown) => {
      const result = await k(['apply', '-f', '-'], JSON.stringify(object));
      expect(result.code, result.stderr).toBe(0);
    };

    beforeAll(async () => {
      env = await Envtest.start();
    }, 120_000);
    afterAll(async () => {
      await env?.stop();
    });
    beforeEach(async () => {
      seq += 1;
      ns = `cluster-${seq}`;
      e = await E2E.start(targetFor(env), [ns]);
      kubeconfig = join(e.dir, 'admin.kubeconfig');
      env.writeKubeconfig(kubeconfig);
    });
    afterEach(async () => {
      await e?.stop();
    });

    describe('CEL rules in the CRDs, enforced by the API server with no webhook', () => {
      // Each refusal names the field (fieldPath), the kind of problem (reason) and what to do (messageExpression).
      it.each([
        {
          rule: 'a Member\'s email is immutable',
          create: () => member('alice', {}, ns),
          patch: ['member', 'alice', { spec: { email: 'alicia@example.com' } }],
          expected: /spec\.email: Forbidden: email is immutable \(it was alice@example\.com\): delete this Member and declare a new one/,
        },
        {
          rule: 'a Member stays in its Workspace',
          create: () => member('bob', {}, ns),
          patch: ['member', 'bob', { spec: { workspaceRef: { name: 'other' } } }],
          expected: /spec\.workspaceRef\.name: Forbidden: workspaceRef\.name is immutable \(it was acme\): declare a new Member in workspace other instead/,
        },
        {
          rule: 'a Workspace keeps its id',
          create: () => workspace('acme', {}, ns),
          patch: ['workspace', 'acme', { spec: { workspaceId: 'renamed' } }],
          expected: /spec\.workspaceId: Forbidden: workspaceId is immutable \(it was cluster-\d+-acme\)/,
        },
        {
          rule: 'a SupportGrant ends after it starts',
          create: () => supportGrant('window', { duration: undefined, startsAt: '2027-01-10T00:00:00Z', endsAt: '2027-01-11T00:00:00Z' }, ns),
          patch: ['supportgrant', 'window', { spec: { endsAt: '2027-01-09T00:00:00Z' } }],
          expected: /spec\.endsAt: Invalid value: .*endsAt must be after startsAt/,
        },
        {
          rule: 'a SupportGrant lasts a year at most',
          create: () => supportGrant('long', {}, ns),
          patch: ['supportgrant', 'long', { spec: { duration: '9000h' } }],
          expected: /spec\.duration: Invalid value: .*duration 9000h is longer than a year \(8784h\)/,
        },
      ])('$rule', async ({ create, patch, expected }) => {
        await apply(create());
        const [kind, name, body] = patch as [string, string, unknown];
        const result = await k(['patch', kind, name, '-n', ns, '--type', 'merge', '-p', JSON.stringify(body)]);
        expect(result.code).not.toBe(0);
        expect(result.stderr).toMatch(expected);
      });
    });

    it('kubectl applies the example workspace; every printer column reads well, future expiries included', async () => {
      const applied = await k(['apply', '-f', join(REPO, 'examples', 'acme')]);
      expect(applied.code, applied.stderr).toBe(0);
      await e.startOperator({ namespaces: ['acme'], clock: systemClock });
      const waited = await k(['wait', '--for=condition=Ready', 'members,workspaces,roles,supportgrants', '--all', '-n', 'acme', '--timeout=40s']);
      expect(waited.code, `${waited.stderr}\n${(await k(['get', 'workspaces,roles,members,supportgrants', '-n', 'acme', '-o', 'yaml'])).stdout}`).toBe(0);

      const members = await k(['get', 'members', '-n', 'acme']);
      expect(members.code, members.stderr).toBe(0);
      const [header, ...rows] = members.stdout.trim().split('\n');
      expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'WORKSPACE', 'EMAIL', 'ROLE', 'PHASE', 'EXPIRES', 'READY', 'AGE']);
      expect(rows.find((row) => row.startsWith('kai-contractor '))).toContain('2027-06-30T17:00:00Z');
      expect(rows.every((row) => /\sInvited\s/.test(row)), members.stdout).toBe(true);

      const grants = await k(['get', 'supportgrants', '-n', 'acme']);
      expect(grants.stdout).toMatch(/ticket-48213\s.*\sActive\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\s+True\s/);

      for (const output of [members, grants, await k(['get', 'workspaces,roles', '-n', 'acme']), await k(['get', 'members', '-n', 'acme', '-o', 'wide'])]) {
        expect(output.code, output.stderr).toBe(0);
        expect(output.stdout).not.toContain('<invalid>');
      }

      // Events a person reads with kubectl describe: a cold start's routine
      // first statuses come as one summary per workspace, on the Workspace.
      type Events = { items: Array<{ regarding?: { kind?: string; name?: string; uid?: string }; reason?: string; note?: string; reportingController?: string }> };
      let events: Events = { items: [] };
      const summary = () => events.items.find((ev) => ev.regarding?.kind === 'Workspace' && ev.regarding.name === 'marketing' && ev.reason === 'Invited');
      await eventually(async () => {
        events = JSON.parse((await k(['get', 'events.events.k8s.io', '-n', 'acme', '-o', 'json'])).stdout) as Events;
        return summary() !== undefined;
      }, 'the Invited summary on Workspace marketing', 30_000);
      expect(summary()?.note).toMatch(/^\d+ Members? Invited: /);
      expect(summary()?.regarding?.uid).toBeTruthy();
      expect(events.items.filter((ev) => ev.regarding?.kind === 'Member' && ev.reason === 'Invited')).toEqual([]);
      expect(events.items.every((ev) => (ev.reason ?? '') !== '')).toBe(true);
    });

    describe('gatehouse run out of a cluster', () => {
      it('runs the README\'s example command exactly as written: it leads, reconciles and stops on a signal', async () => {
        const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
        const line = readme.split('\n').find((l) => l.startsWith('npx gatehouse run '));
        expect(line, 'the README shows how to run the operator').toBeDefined();
        const command = (line as string).replace(/\s+#.*$/, '');
        // A user's machine: ~/.kube/config whose context has a namespace, and nothing else set up.
        const home = join(e.dir, 'home');
        mkdirSync(join(home, '.kube'), { recursive: true });
        env.writeKubeconfig(join(home, '.kube', 'config'), { namespace: ns });
        const child = spawn('bash', ['-c', command], {
          cwd: REPO,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { PATH: `${join(REPO, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`, HOME: home, GATEHOUSE_STORE: `sqlite:${e.storePath}` },
        });
        let output = '';
        child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        try {
          await apply(workspace('acme', {}, ns));
          await apply(member('alice', {}, ns));
          await eventually(async () => (await e.status('Member', 'alice', ns)).phase === 'Invited', `alice Invited by the README's command; its output:\n${output}`, 60_000);
          expect(output).toContain(`"lease":"${ns}/gatehouse-operator"`);
          expect(output).toContain('admission webhook off');
        } finally {
          // SIGTERM to the operator process itself, as the kubelet sends it; the launchers above it follow.
          const operatorPid = spawnSync('pgrep', ['-g', String(child.pid), '-f', '(cli/main\\.ts|bin/gatehouse(\\.js)?) run'], { encoding: 'utf8' }).stdout.trim().split('\n').at(-1);
          if (operatorPid) process.kill(Number(operatorPid), 'SIGTERM');
          else process.kill(-(child.pid as number), 'SIGTERM');
        }
        await exited;
        expect(output).toContain('operator stopped');
        const lease = await e.client.get<KubeObject & { spec?: { holderIdentity?: string } }>(LEASE_RESOURCE, ns, 'gatehouse-operator');
        expect(lease.spec?.holderIdentity ?? '', 'the lease is released on the way out').toBe('');
      }, 120_000);

      it('names the Lease in full when it cannot be created (it once read "gatehouse-system/")', async () => {
        const client = new KubeClient(env.kubeConfig());
        await expect(client.create(LEASE_RESOURCE, 'nowhere', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'gatehouse-operator' } })).rejects.toThrow(
          /cannot create Lease nowhere\/gatehouse-operator: namespaces "nowhere" not found/,
        );
      });

      it.each([
        { given: ['--lease-namespace', 'nowhere'], context: undefined, named: 'nowhere' },
        { given: [], context: 'not-created', named: 'not-created' },
      ])('refuses a Lease namespace that does not exist, naming --lease-namespace (flags $given, context namespace $context)', async ({ given, context, named }) => {
        const file = join(e.dir, 'user.kubeconfig');
        env.writeKubeconfig(file, context !== undefined ? { namespace: context } : {});
        const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'run', '--kubeconfig', file, '--store', `sqlite:${e.storePath}`, '--probe-listen', '', '--metrics-listen', '', ...given], {
          cwd: REPO,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, POD_NAMESPACE: '' },
        });
        let stderr = '';
        child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
        expect(code, stderr).toBe(2);
        expect(stderr).toContain(`"${named}" does not exist`);
        expect(stderr).toContain('--lease-namespace');
      });
    });
  },
);
