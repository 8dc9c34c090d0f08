// Finding 1: the operator exports a signed checkpoint of the audit log's head
// outside the store on every sync that writes: a log line and a Kubernetes
// Event (reason AuditCheckpoint), each of which `audit --verify --checkpoint`
// accepts against the store.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { KubeClient, gatehouseResource } from '../src/kube/client.js';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import { Operator } from '../src/kube/operator.js';
import { getDefaultProfile } from '../src/model/index.js';
import { verifyAuditChain } from '../src/store/audit.js';
import { parseAuditKeyring, parseCheckpoint } from '../src/store/audit-key.js';
import { openStore } from '../src/store/store.js';
import { createLogger } from '../src/util/log.js';
import { FakeApiServer } from './support/fake-apiserver/index.js';

const API_VERSION = 'gatehouse.dev/v1alpha1';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it('finding 1: the operator logs and records an Event with a checkpoint that verifies against the store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-checkpoint-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const keys = parseAuditKeyring(`k1 ${randomBytes(32).toString('base64')}`, 'test');
  const store = await openStore(`sqlite:${join(dir, 'store.db')}`, { auditKeys: keys });
  const lines: string[] = [];
  const log = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  });
  const fake = await FakeApiServer.start();
  cleanups.push(() => fake.stop());
  const operator = await Operator.start({
    kubeConfig: fake.kubeConfig(),
    engine: new StoreEngine(store, getDefaultProfile()),
    profile: getDefaultProfile(),
    leaderElection: false,
    workers: 2,
    log,
  });
  cleanups.push(() => operator.stop());
  const client = new KubeClient(fake.kubeConfig());
  await client.create(gatehouseResource('Workspace'), 'team-a', {
    apiVersion: API_VERSION,
    kind: 'Workspace',
    metadata: { name: 'acme', namespace: 'team-a' },
    spec: { workspaceId: 'acme', displayName: 'Acme', admins: { min: 0, max: 1 } },
  });
  await client.create(gatehouseResource('Member'), 'team-a', {
    apiVersion: API_VERSION,
    kind: 'Member',
    metadata: { name: 'alice', namespace: 'team-a' },
    spec: { workspaceRef: { name: 'acme' }, email: 'alice@example.com', displayName: 'Alice', role: 'viewer' },
  });
  const events = () =>
    fake
      .list('events.k8s.io/v1', 'Event')
      .map((e) => e as unknown as { reason: string; note: string })
      .filter((e) => e.reason === 'AuditCheckpoint');
  const deadline = Date.now() + 15_000;
  while (events().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const recorded = events().map((e) => parseCheckpoint(e.note, 'event note'));
  expect(recorded.length).toBeGreaterThanOrEqual(2);
  const logged = lines.filter((l) => l.includes('"msg":"audit checkpoint"')).map((l) => JSON.parse(l) as { auditCheckpoint: unknown });
  expect(logged.length).toBeGreaterThanOrEqual(recorded.length);
  for (const checkpoint of [...recorded, ...logged.map((l) => parseCheckpoint(JSON.stringify(l.auditCheckpoint), 'log line'))]) {
    expect(await verifyAuditChain(store.db, { keys, checkpoint })).toMatchObject({ ok: true, authenticated: true });
  }
});
