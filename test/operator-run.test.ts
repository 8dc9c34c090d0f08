// `gatehouse run`: flags, and a run in this process stopped by a signal.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { runOperatorCommand } from '../src/cli/commands/run.js';
import { FakeApiServer } from './support/fake-apiserver/index.js';
import { freePort } from './support/postgres.js';
import { runOptions } from './support/run-options.js';

const defaults = runOptions();

describe('gatehouse run', () => {
  let dir: string | undefined;
  let fake: FakeApiServer | undefined;
  afterEach(async () => {
    await fake?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    vi.restoreAllMocks();
  });

  it.each([
    [['--workers', '0'], '--workers'],
    [['--heap-growth', '2.5'], '--heap-growth'],
    [['--resync-period', 'soon'], '--resync-period'],
    [['--probe-listen', 'nowhere'], '--probe-listen'],
    [['--log-level', 'loud'], '--log-level'],
    [['--retry-period', '20s'], '--retry-period'],
    [['--webhook'], '--webhook-cert-dir'],
    [['--webhook-cert-dir', '/tmp', '--webhook-self-signed'], '--webhook-self-signed'],
  ])('refuses %j with exit code 2, naming the flag', async (args, flag) => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['run', ...args])).toBe(2);
    expect(String(stderr.mock.calls.at(-1)?.[0])).toContain(flag);
  });

  it('runs against a cluster and stops gracefully on SIGTERM', async () => {
    fake = await FakeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-run-'));
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    fake.writeKubeconfig(kubeconfig);
    const signals = new EventEmitter();
    const running = runOperatorCommand(
      { ...defaults, kubeconfig, store: `sqlite:${join(dir, 'store.db')}`, namespace: ['team-a'], leaseNamespace: 'ops' },
      signals,
    );
    const deadline = Date.now() + 10_000;
    while (fake.get('coordination.k8s.io/v1', 'Lease', 'ops', 'gatehouse-operator') === undefined) {
      if (Date.now() > deadline) throw new Error('no lease taken');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    signals.emit('SIGTERM', 'SIGTERM');
    await running;
    const lease = fake.get('coordination.k8s.io/v1', 'Lease', 'ops', 'gatehouse-operator')?.spec as { holderIdentity?: string };
    expect(lease.holderIdentity).toBeUndefined();
    expect(signals.listenerCount('SIGTERM')).toBe(1);
    signals.removeAllListeners();
  });

  it('serves the admission webhook and registers it with its own CA bundle when given --webhook-url', async () => {
    fake = await FakeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-run-'));
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    fake.writeKubeconfig(kubeconfig);
    const port = await freePort();
    const signals = new EventEmitter();
    const running = runOperatorCommand(
      {
        ...defaults,
        kubeconfig,
        store: `sqlite:${join(dir, 'store.db')}`,
        leaderElect: false,
        webhook: true,
        webhookListen: `127.0.0.1:${port}`,
        webhookUrl: `https://127.0.0.1:${port}/validate`,
      },
      signals,
    );
    const deadline = Date.now() + 15_000;
    let registered: { webhooks?: Array<{ clientConfig?: { url?: string; caBundle?: string } }> } | undefined;
    while ((registered = fake.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, 'gatehouse') as typeof registered) === undefined) {
      if (Date.now() > deadline) throw new Error('the webhook configuration was not registered');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const clientConfig = registered?.webhooks?.[0]?.clientConfig;
    expect(clientConfig?.url).toBe(`https://127.0.0.1:${port}/validate`);
    // The changed-by stamp is registered beside it, at /mutate, with the same CA.
    let mutating: typeof registered;
    while ((mutating = fake.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'gatehouse') as typeof registered) === undefined) {
      if (Date.now() > deadline) throw new Error('the mutating webhook configuration was not registered');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(mutating?.webhooks?.[0]?.clientConfig?.url).toBe(`https://127.0.0.1:${port}/mutate`);
    expect(mutating?.webhooks?.[0]?.clientConfig?.caBundle).toBe(clientConfig?.caBundle);
    expect(Buffer.from(clientConfig?.caBundle ?? '', 'base64').toString()).toContain('BEGIN CERTIFICATE');
    signals.emit('SIGTERM', 'SIGTERM');
    await running;
    signals.removeAllListeners();
  });
});
