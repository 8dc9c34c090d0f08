// The operator ends access when it must, with the real engine on a SQLite
// store, the real client against the fake API server and a manual clock:
// - a Member deleted while no operator ran (its finalizer stripped by hand)
//   loses its row when the next operator starts leading and on every resync,
//   audited; deletionPolicy Orphan leaves the row unmanaged;
// - support access switched off revokes the workspace's grants, with status;
// - an email edit that got past admission is held, with status, store unchanged.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gatehouseResource, KubeClient } from '../src/kube/client.js';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import { Operator } from '../src/kube/operator.js';
import { getDefaultProfile } from '../src/model/index.js';
import { listAudit } from '../src/store/audit.js';
import { openStore, type Store } from '../src/store/store.js';
import { ManualClock } from '../src/util/clock.js';
import { silentLogger } from '../src/util/log.js';
import { FakeApiServer } from './support/fake-apiserver/index.js';
import { eventually } from './support/eventually.js';

const API_VERSION = 'gatehouse.dev/v1alpha1';
const NS = 'team-a';

const workspace = { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name: 'acme', namespace: NS }, spec: { workspaceId: 'acme', displayName: 'Acme' } };
const member = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: API_VERSION,
  kind: 'Member',
  metadata: { name, namespace: NS },
  spec: { workspaceRef: { name: 'acme' }, email: `${name}@example.com`, displayName: `Person ${name}`, role: 'viewer', ...spec },
});

let dir: string | undefined;
let fake: FakeApiServer | undefined;
let operator: Operator | undefined;
let store: Store | undefined;

afterEach(async () => {
  await operator?.stop();
  await store?.close();
  await fake?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  operator = store = fake = dir = undefined;
});

/** Polls a condition the operator reaches asynchronously (no timing is asserted). */
const until = (what: string, ok: () => Promise<boolean>) => eventually(ok, what);

/** One in-process operator on the fake API server and a SQLite store, leader at once. */
async function startOperator(clock: ManualClock, resyncPeriodMs = 600_000) {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-revoke-'));
  fake = await FakeApiServer.start({ now: () => clock.now() });
  store = await openStore(join(dir, 'store.db'));
  operator = await Operator.start({
    kubeConfig: fake.kubeConfig(),
    engine: new StoreEngine(store, getDefaultProfile()),
    profile: getDefaultProfile(),
    clock,
    leaderElection: false,
    storePollMs: 0,
    resyncPeriodMs,
    log: silentLogger(),
  });
  await operator.controller.waitForSync(5000);
  return { client: new KubeClient(fake.kubeConfig()), db: store };
}

async function memberRow(db: Store, email: string) {
  return db.db.selectFrom('members').select(['email', 'managed', 'state']).where('email_normalized', '=', email).executeTakeFirst();
}

describe('objects deleted while no operator watched', () => {
  it.each([
    ['Delete', 'member.delete', undefined],
    ['Orphan', 'member.forget', 'Orphan'],
  ])('deletionPolicy %s: the next leader finds the row without its object (%s), audited', async (_policy, action, deletionPolicy) => {
    const clock = new ManualClock('2027-01-01T00:00:00.000Z');
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-gone-'));
    const dsn = join(dir, 'store.db');
    fake = await FakeApiServer.start({ now: () => clock.now() });
    const client = new KubeClient(fake.kubeConfig());
    const start = async () => {
      store = await openStore(dsn);
      const engine = new StoreEngine(store, getDefaultProfile());
      operator = await Operator.start({
        kubeConfig: fake!.kubeConfig(),
        engine,
        profile: getDefaultProfile(),
        clock,
        leaderElection: false,
        workers: 2,
        storePollMs: 0,
        resyncPeriodMs: 600_000,
        log: silentLogger(),
      });
      await operator.controller.waitForSync(5000);
      return store;
    };

    let db = await start();
    await client.create(gatehouseResource('Workspace'), NS, workspace);
    await client.create(gatehouseResource('Member'), NS, member('ann', deletionPolicy ? { deletionPolicy } : {}));
    await client.create(gatehouseResource('Member'), NS, member('bob'));
    await until('both members are in the store', async () => (await memberRow(db, 'ann@example.com')) !== undefined && (await memberRow(db, 'bob@example.com')) !== undefined);
    await until('ann has her finalizer', async () => (fake!.get(API_VERSION, 'Member', NS, 'ann')?.metadata.finalizers ?? []).length > 0);
    await operator!.stop();
    operator = undefined;
    await store!.close();
    store = undefined;

    // While no operator runs: strip the finalizer and delete the object.
    await client.patch(gatehouseResource('Member'), NS, 'ann', { metadata: { finalizers: null } }, { type: 'merge' });
    await client.delete(gatehouseResource('Member'), NS, 'ann');
    expect(fake.get(API_VERSION, 'Member', NS, 'ann')).toBeUndefined();

    db = await start();
    if (deletionPolicy === 'Orphan') {
      await until('ann\'s row is unmanaged', async () => (await memberRow(db, 'ann@example.com'))?.managed === 0);
    } else {
      await until('ann\'s row is gone', async () => (await memberRow(db, 'ann@example.com')) === undefined);
    }
    expect(await memberRow(db, 'bob@example.com')).toMatchObject({ managed: 1 });
    const audit = await listAudit(db.db, {});
    const entry = audit.find((e) => e.action === action);
    expect(entry).toMatchObject({ actor: 'operator', object: { kind: 'Member', namespace: NS, name: 'ann' } });
    expect(entry?.reason).toContain('is no longer declared');
  });

  it('on each resync too: a row whose object vanished after the leader started is found', async () => {
    const clock = new ManualClock('2027-01-01T00:00:00.000Z');
    const { client, db } = await startOperator(clock, 60_000);
    await client.create(gatehouseResource('Workspace'), NS, workspace);
    await client.create(gatehouseResource('Member'), NS, member('bob'));
    await until('bob is in the store', async () => (await memberRow(db, 'bob@example.com')) !== undefined);
    // A row the store says belongs to a Member that the cluster never had
    // (its deletion event lost): the informer cache cannot tell, the store can.
    await db.db.updateTable('members').set({ source_name: 'carl' }).where('email_normalized', '=', 'bob@example.com').execute();
    const bob = await db.db.selectFrom('members').selectAll().where('email_normalized', '=', 'bob@example.com').executeTakeFirstOrThrow();
    const carl = { ...bob, member_id: '00000000-0000-4000-8000-00000000ca71', email: 'carl@example.com', email_normalized: 'carl@example.com' };
    await db.db.insertInto('members').values(carl as never).execute();
    await db.db.updateTable('members').set({ source_name: 'bob' }).where('email_normalized', '=', 'bob@example.com').execute();
    clock.advance(60_000);
    await until('carl\'s row is gone after the resync', async () => (await memberRow(db, 'carl@example.com')) === undefined);
    expect(await memberRow(db, 'bob@example.com')).toMatchObject({ managed: 1 });
  });
});

describe('the reconciler with no webhook in front', () => {
  const status = (kind: string, name: string) =>
    (fake?.get(API_VERSION, kind, NS, name)?.status ?? {}) as { phase?: string; conditions?: Array<{ type: string; status: string; reason: string; message: string }> };

  it('case 1: switching support access off revokes the grant at once; status says why', async () => {
    const clock = new ManualClock('2027-01-01T00:00:00.000Z');
    const { client, db } = await startOperator(clock);
    const on = { ...workspace, spec: { ...workspace.spec, supportAccess: { allowed: true } } };
    await client.create(gatehouseResource('Workspace'), NS, on);
    await client.create(gatehouseResource('SupportGrant'), NS, {
      apiVersion: API_VERSION,
      kind: 'SupportGrant',
      metadata: { name: 'ticket-1', namespace: NS },
      spec: { workspaceRef: { name: 'acme' }, grantee: { type: 'SupportTeam' }, scope: { type: 'Workspace' }, duration: '168h', reason: 'Export totals differ.' },
    });
    await until('the grant is Active', async () => status('SupportGrant', 'ticket-1').phase === 'Active');
    await client.patch(gatehouseResource('Workspace'), NS, 'acme', { spec: { supportAccess: { allowed: false } } }, { type: 'merge' });
    await until('the grant is Revoked', async () => status('SupportGrant', 'ticket-1').phase === 'Revoked');
    const ready = status('SupportGrant', 'ticket-1').conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'SupportAccessOff' });
    expect(ready?.message).toContain('switched vendor support access off');
    expect(await db.db.selectFrom('support_grants').select(['state', 'revoked_cause']).executeTakeFirst()).toEqual({ state: 'Revoked', revoked_cause: 'SupportAccessOff' });
  });

  it('case 3: an email edit that got past admission is held; the store keeps the old row', async () => {
    const clock = new ManualClock('2027-01-01T00:00:00.000Z');
    const { client, db } = await startOperator(clock);
    await client.create(gatehouseResource('Workspace'), NS, workspace);
    await client.create(gatehouseResource('Member'), NS, member('ann'));
    await until('ann is Invited', async () => status('Member', 'ann').phase === 'Invited');
    await client.patch(gatehouseResource('Member'), NS, 'ann', { spec: { email: 'ann.new@example.com' } }, { type: 'merge' });
    await until('ann is held', async () => status('Member', 'ann').conditions?.some((c) => c.type === 'RulesSatisfied' && c.reason === 'ImmutableFieldChanged') === true);
    expect(status('Member', 'ann').conditions?.find((c) => c.type === 'Synced')).toMatchObject({ status: 'False', reason: 'ImmutableFieldChanged' });
    expect(await memberRow(db, 'ann@example.com')).toMatchObject({ managed: 1 });
    expect(await memberRow(db, 'ann.new@example.com')).toBeUndefined();
  });
});

describe('a deposed leader cannot write (case 6)', () => {
  it('once a newer term has written to the store, the old leader\'s reconciles fail and write nothing', async () => {
    const clock = new ManualClock('2027-01-01T00:00:00.000Z');
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-fence-'));
    fake = await FakeApiServer.start({ now: () => clock.now() });
    const client = new KubeClient(fake.kubeConfig());
    const dsn = join(dir, 'store.db');
    store = await openStore(dsn);
    const db = store;
    operator = await Operator.start({
      kubeConfig: fake.kubeConfig(),
      engine: new StoreEngine(store, getDefaultProfile()),
      profile: getDefaultProfile(),
      clock,
      leaderElection: { namespace: 'gatehouse-system', identity: 'a' },
      storePollMs: 0,
      resyncPeriodMs: 600_000,
      log: silentLogger(),
    });
    await until('a leads', async () => operator?.isLeader === true);
    await client.create(gatehouseResource('Workspace'), NS, workspace);
    await client.create(gatehouseResource('Member'), NS, member('ann'));
    await until('ann is in the store', async () => (await memberRow(db, 'ann@example.com')) !== undefined);
    const fence = await db.db.selectFrom('leadership_fence').selectAll().executeTakeFirstOrThrow();
    expect(fence).toMatchObject({ name: 'gatehouse-system/gatehouse-operator', holder: 'a' });

    // Another replica took over (as a hung renewal would let it) and wrote with its newer term.
    const other = await openStore(dsn);
    try {
      const successor = new StoreEngine(other, getDefaultProfile());
      successor.setLeadership({
        lease: fence.name,
        leaseUid: fence.lease_uid,
        transitions: Number(fence.transitions) + 1,
        acquireTime: '2027-01-01T00:00:20.000000Z',
        holder: 'b',
      });
      await successor.sync([], { type: 'objects', refs: [] }, clock.now());
    } finally {
      await other.close();
    }
    await client.create(gatehouseResource('Member'), NS, member('bob'));
    await until('bob\'s reconcile is refused', async () =>
      ((fake?.get(API_VERSION, 'Member', NS, 'bob')?.status as { conditions?: Array<{ type: string; message: string }> } | undefined)?.conditions ?? []).some(
        (c) => c.type === 'Synced' && c.message.includes('is over'),
      ),
    );
    expect(await memberRow(db, 'bob@example.com')).toBeUndefined();
  });
});

