// A watch that outlives an etcd compaction, on a real kube-apiserver: the
// operator loses its connection, the cluster moves on and etcd compacts the
// history it would resume from, so the API server answers 410 Gone; the
// operator relists and reconciles what it missed. The API server runs with its
// watch cache off and compaction every second (envtest README), on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, gatehouseResource } from '../../src/kube/client.js';
import { envtestSkipReason, Envtest } from '../support/envtest.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { E2E, eventually, member, sleep, workspace } from './support/harness.js';

const skipReason = envtestSkipReason();
const NS = 'compaction';

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? 'watch through an etcd compaction (envtest)' : `watch through an etcd compaction (skipped: ${skipReason})`,
  () => {
    let env: Envtest;
    let proxy: TcpProxy;
    let e: E2E;

    beforeAll(async () => {
      env = await Envtest.start({ apiServerFlags: ['--watch-cache=false', '--etcd-compaction-interval=1s'] });
      proxy = await TcpProxy.start(Number(new URL(env.url).port));
      // The operator talks through the proxy; the test writes straight to the API server.
      e = await E2E.start(
        {
          name: 'envtest behind a proxy',
          envtest: env,
          kubeConfig: () => env.kubeConfig(undefined, proxy.url),
          writeKubeconfig: (file) => env.writeKubeconfig(file),
          createNamespace: (name) => env.createNamespace(name),
          stop: async () => {},
        },
        [NS],
      );
    }, 120_000);

    afterAll(async () => {
      await e?.stop();
      await proxy?.stop();
      await env?.stop();
    });

    it('relists after 410 Gone and reconciles the objects it did not see', async () => {
      const direct = new KubeClient(env.kubeConfig());
      const { operator } = await e.startOperator({ namespaces: [NS] });
      await direct.create(gatehouseResource('Workspace'), NS, workspace('acme', {}, NS));
      await eventually(async () => (await e.status('Workspace', 'acme', NS)).phase === 'Ready', 'the Workspace reconciled');
      const relistsBefore = operator.controller.cache.informers.Member.stats.relists;

      proxy.cut();
      await direct.create(gatehouseResource('Member'), NS, member('alice', {}, NS));
      // Writes move etcd's revision on; the API server compacts every second behind them.
      for (let i = 0; i < 8; i += 1) {
        await direct.patch(gatehouseResource('Workspace'), NS, 'acme', { metadata: { labels: { round: String(i) } } }, { type: 'merge' });
        await sleep(500);
      }
      proxy.letThrough();

      await eventually(async () => (await e.status('Member', 'alice', NS)).phase === 'Invited', 'alice reconciled after the relist', 30_000);
      expect(operator.controller.cache.informers.Member.stats.relists, 'the Member watch got 410 Gone and relisted').toBeGreaterThan(relistsBefore);
      expect((await e.memberRows()).map((r) => r.email)).toEqual(['alice@example.com']);
    }, 90_000);
  },
);
