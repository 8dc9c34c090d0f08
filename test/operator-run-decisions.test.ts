// `gatehouse run --decisions-listen`: the decision API served beside the operator, on its store.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { runOperatorCommand } from '../src/cli/commands/run.js';
import { createApiToken } from '../src/http/tokens.js';
import { openStore } from '../src/store/store.js';
import { FakeApiServer } from './support/fake-apiserver/index.js';
import { freePort } from './support/postgres.js';
import { runOptions } from './support/run-options.js';

let dir: string | undefined;
let fake: FakeApiServer | undefined;
afterEach(async () => {
  await fake?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('serves the decision API beside the operator and stops it on SIGTERM', async () => {
  fake = await FakeApiServer.start();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-run-decisions-'));
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  fake.writeKubeconfig(kubeconfig);
  const storePath = `sqlite:${join(dir, 'store.db')}`;
  const seed = await openStore(storePath);
  const token = await createApiToken(seed, { name: 'app', actor: 'cli:test', at: new Date() });
  await seed.close();
  const port = await freePort();
  const signals = new EventEmitter();
  const running = runOperatorCommand(
    runOptions({
      workers: '2',
      leaderElect: false,
      kubeconfig,
      store: storePath,
      decisionsListen: `127.0.0.1:${port}`,
      decisionsRateLimit: '0',
    }),
    signals,
  );
  const url = `http://127.0.0.1:${port}`;
  await vi.waitFor(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), { timeout: 15_000, interval: 50 });
  const body = JSON.stringify({ workspace: 'acme', subject: 'alice@acme.example', permission: 'view-dashboard' });
  const headers = { 'content-type': 'application/json' };
  expect((await fetch(`${url}/v1/check`, { method: 'POST', headers, body })).status).toBe(401);
  const answer = await fetch(`${url}/v1/check`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${token}` }, body });
  expect(await answer.json()).toMatchObject({ decision: 'deny', reason: 'workspace-unknown' });
  signals.emit('SIGTERM', 'SIGTERM');
  await running;
  await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  signals.removeAllListeners();
});
