// An apply is one transaction: interrupted at any statement, the store is left
// exactly as it was and a re-run converges; two applies racing do not corrupt
// anything; and applying twice changes nothing the second time (also for
// generated declarations).
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { GatehouseObject } from '../src/model/kinds.js';
import { aMember, aRole, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { verifyAuditChain } from '../src/store/audit.js';
import { openStore, type Store } from '../src/store/store.js';
import { generateDeclaration, randomDeclaration } from './support/declarations.js';
import { ops, snapshot, syncAll } from './support/engine.js';
import { raceWorkers } from './support/run-worker.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const HOUR = 3_600_000;
const plus = (iso: string, ms: number) => new Date(new Date(iso).getTime() + ms).toISOString();

class InjectedFailure extends Error {
  constructor(readonly statement: number) {
    super(`injected failure at statement ${statement}`);
    this.name = 'InjectedFailure';
  }
}

/**
 * Counts every statement the store runs (built or precompiled: all results
 * pass through here) and fails the transaction right after the `failAt`-th,
 * as if the process died there. `writes` counts INSERT, UPDATE and DELETE.
 */
class StatementCounter implements KyselyPlugin {
  count = 0;
  writes = 0;
  constructor(private readonly failAt?: number) {}
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.count += 1;
    if (args.result.numAffectedRows !== undefined) this.writes += 1;
    if (this.count === this.failAt) throw new InjectedFailure(this.count);
    return args.result;
  }
}

const before: GatehouseObject[] = [
  aWorkspace({ spec: { invitationLifetime: '24h', admins: { min: 0, max: 2 } } }),
  aRole({ name: 'campaign-analyst' }),
  aRole({ name: 'old-role', spec: { displayName: 'Old role', permissions: ['view-dashboard'] } }),
  aMember({ name: 'alice' }),
  aMember({ name: 'bob', spec: { role: 'campaign-analyst' } }),
  aMember({ name: 'carol', spec: { role: 'editor', expiresAt: plus(T0, 2 * HOUR) } }),
  aMember({ name: 'dave', spec: { deletionPolicy: 'Orphan' } }),
  aMember({ name: 'erin' }),
  aMember({ name: 'gina' }),
  aMember({ name: 'hank' }),
  aMember({ name: 'ivan' }),
  aSupportGrant({ name: 'later', spec: { startsAt: plus(T0, HOUR), duration: '24h' } }),
  aSupportGrant({ name: 'now', spec: { duration: '24h' } }),
  aWorkspace({ name: 'beta', spec: { workspaceId: 'beta' } }),
  aMember({ name: 'zed', spec: { workspaceRef: { name: 'beta' } } }),
];

const after: GatehouseObject[] = [
  aWorkspace({ spec: { invitationLifetime: '24h', admins: { min: 0, max: 2 }, displayName: 'Acme Corporation' } }),
  aRole({ name: 'campaign-analyst', spec: { permissions: ['view-dashboard', 'create-segment', 'campaign-maker'] } }),
  aMember({ name: 'alice', spec: { role: 'manager', invitation: { resend: 1 } } }),
  aMember({ name: 'bob', spec: { role: 'campaign-analyst' } }),
  aMember({ name: 'carol', spec: { role: 'editor', expiresAt: plus(T0, 2 * HOUR) } }),
  aMember({ name: 'gina' }),
  aMember({ name: 'hank' }),
  aMember({ name: 'ivan' }),
  aMember({ name: 'frank', spec: { role: 'admin' } }),
  aSupportGrant({ name: 'later', spec: { startsAt: plus(T0, HOUR), duration: '24h' } }),
  aSupportGrant({ name: 'now', spec: { duration: '24h', revoked: true } }),
  aWorkspace({ name: 'gamma', spec: { workspaceId: 'gamma' } }),
  aMember({ name: 'yan', spec: { workspaceRef: { name: 'gamma' } } }),
];
const T1 = plus(T0, 3 * HOUR);
const allowRemoval = { removalGuard: { maxShare: 0.25, allow: true } };

forEachDialect('engine transactions', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('applies every kind of change in one go (the scenario the failure test interrupts)', async () => {
    await syncAll(store, before, T0);
    const result = await syncAll(store, after, T1, allowRemoval);
    expect(ops(result)).toEqual([
      'workspace.update acme',
      'workspace.create gamma',
      'role.create gamma/admin',
      'role.create gamma/manager',
      'role.create gamma/editor',
      'role.create gamma/viewer',
      'role.update acme/campaign-analyst',
      'member.update acme/alice@acme.example',
      'member.resend-invitation acme/alice@acme.example',
      'member.expire acme/carol@acme.example',
      'member.create acme/frank@acme.example',
      'member.create gamma/yan@acme.example',
      'supportGrant.activate acme/later',
      'supportGrant.revoke acme/now',
      'member.forget acme/dave@acme.example',
      'member.delete acme/erin@acme.example',
      'role.delete acme/old-role',
      'workspace.delete beta',
    ]);
    expect(ops(await syncAll(store, after, T1, allowRemoval))).toEqual([]);
  });

  it('leaves the store exactly as it was when any statement of an apply fails, and a re-run converges', async () => {
    await syncAll(store, before, T0);
    const untouched = await snapshot(store, { withIds: true });

    const counter = new StatementCounter();
    const reference = await dialect.open();
    try {
      await syncAll(reference, before, T0);
      await syncAll(reference.withPlugin(counter), after, T1, allowRemoval);
      const expected = await snapshot(reference);
      const statements = counter.count;
      expect(statements).toBeGreaterThan(20);

      for (let k = 1; k <= statements; k += 1) {
        const failing = store.withPlugin(new StatementCounter(k));
        await expect(syncAll(failing, after, T1, allowRemoval), `statement ${k}`).rejects.toBeInstanceOf(InjectedFailure);
        expect(await snapshot(store, { withIds: true }), `store changed after a failure at statement ${k} of ${statements}`).toEqual(untouched);
      }
      const rerun = await syncAll(store, after, T1, allowRemoval);
      expect(rerun.applied).toBe(true);
      expect(await snapshot(store)).toEqual(expected);
      expect(ops(await syncAll(store, after, T1, allowRemoval))).toEqual([]);
      expect((await verifyAuditChain(store.db)).ok).toBe(true);
    } finally {
      await reference.close();
    }
  });

  it('applying twice changes nothing the second time: zero writes', async () => {
    await syncAll(store, generateDeclaration({ workspaces: 3, membersPerWorkspace: 10 }), T0);
    const first = new StatementCounter();
    await syncAll(store.withPlugin(first), generateDeclaration({ workspaces: 3, membersPerWorkspace: 11 }), T0);
    expect(first.writes).toBeGreaterThanOrEqual(4); // member, invitation, outbox and audit rows: bulk inserts are seen

    const counter = new StatementCounter();
    const second = await syncAll(store.withPlugin(counter), generateDeclaration({ workspaces: 3, membersPerWorkspace: 11 }), T0);
    expect(second.plan.actions).toEqual([]);
    expect(second.applied).toBe(false);
    expect(counter.writes).toBe(0);
    expect(counter.count).toBeGreaterThan(0);
  });

  it('plans nothing after applying generated declarations (property, 25 seeds)', async () => {
    for (let seed = 1; seed <= 25; seed += 1) {
      // A fresh store per seed: one seed's declaration is not an edit of the previous one
      // (that would lower resend counters and rename members, which the rules refuse).
      const fresh = await dialect.open();
      try {
        const at = new Date(plus(T0, seed * HOUR));
        const desired = randomDeclaration(seed, at);
        const first = await syncAll(fresh, desired, at, allowRemoval);
        expect(first.violations.filter((v) => v.severity === 'error'), `seed ${seed} declares something invalid`).toEqual([]);
        const second = await syncAll(fresh, desired, at, allowRemoval);
        expect(ops(second), `seed ${seed}: the second apply planned changes`).toEqual([]);
        expect((await verifyAuditChain(fresh.db)).ok).toBe(true);
      } finally {
        await fresh.close();
      }
    }
  });

  it('two processes applying at once both succeed, write everything once and keep the audit chain whole', async () => {
    const dsn = await dialect.newDsn();
    (await openStore(dsn)).close();
    const answers = await raceWorkers([
      ['apply', dsn, '4', '25', T0],
      ['apply', dsn, '4', '25', T0],
    ]);
    expect(answers.map((a) => a.error ?? 'ok')).toEqual(['ok', 'ok']);
    const actions = answers.map((a) => a.actions ?? -1).sort((a, b) => a - b);
    // One of them did everything; the other, queued behind its lock, found nothing to do.
    expect(actions[0]).toBe(0);
    expect(actions[1]).toBeGreaterThan(100);

    const raced = await openStore(dsn);
    const single = await dialect.open();
    try {
      await syncAll(single, generateDeclaration({ workspaces: 4, membersPerWorkspace: 25 }), T0);
      const a = (await snapshot(raced)) as Record<string, unknown>;
      const b = (await snapshot(single)) as Record<string, unknown>;
      // The actor (worker pid) differs: compare everything but who sent the invitations.
      const strip = (s: Record<string, unknown>) =>
        JSON.parse(JSON.stringify(s).replace(/"sender":"[^"]*"/g, '"sender":"x"').replace(/"source_file":[^,}]*/g, '"source_file":null'));
      expect(strip(a)).toEqual(strip(b));
      expect(await verifyAuditChain(raced.db)).toMatchObject({ ok: true, entries: actions[1] });
    } finally {
      await raced.close();
      await single.close();
    }
  });
});
