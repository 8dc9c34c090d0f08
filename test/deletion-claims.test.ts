// Finding 2, deletions: who deleted an object in the cluster. The validating
// webhook records a deletion claim for each DELETE it admits; the engine names
// that user in the deletion's audit entry, by the uid of the object that owned
// the rows, then forgets the claim. On both stores, with the real engine.
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import { startAdmissionWebhook } from '../src/kube/webhook/server.js';
import { storeDeletionClaimRecorder, type DeletionClaimRecorder } from '../src/kube/webhook/deletion-claim.js';
import { StaticCertificateSource } from '../src/kube/webhook/certificate-source.js';
import { anAdmissionReview, createTestCertificates, httpsJson } from '../src/kube/webhook/testing.js';
import { getDefaultProfile, type GatehouseObject, type ObjectRef } from '../src/model/index.js';
import { createObjectIndex } from '../src/rules/index.js';
import { aMember, aRole, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit } from '../src/store/audit.js';
import {
  DELETION_CLAIM_TTL_MS,
  deletionClaimsFor,
  forgetDeletionClaims,
  recordDeletionClaim,
  type DeletionClaim,
} from '../src/store/deletion-claims.js';
import type { Store } from '../src/store/store.js';
import { ManualClock } from '../src/util/clock.js';
import { profile } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const AT = new Date('2026-06-01T00:00:00.000Z');
const later = (ms: number) => new Date(AT.getTime() + ms);

const withUid = <T extends GatehouseObject>(object: T, uid: string): T => ({ ...object, metadata: { ...object.metadata, uid } });
const refOf = (o: GatehouseObject): ObjectRef => ({ kind: o.kind, namespace: o.metadata.namespace ?? 'default', name: o.metadata.name });
const claimOn = (o: GatehouseObject, user: string, at = AT): DeletionClaim => ({
  uid: o.metadata.uid as string,
  kind: o.kind,
  namespace: o.metadata.namespace ?? 'default',
  name: o.metadata.name,
  user,
  at,
});

forEachDialect('deletion claims', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
  });
  afterEach(async () => {
    await store.close();
  });

  describe('the repository', () => {
    const alice = withUid(aMember({ name: 'alice' }), 'uid-alice');
    const bob = withUid(aMember({ name: 'bob' }), 'uid-bob');

    it('keeps one claim per object uid and user, refreshed when claimed again, found by the object', async () => {
      await store.write(async (trx) => {
        await recordDeletionClaim(trx, claimOn(alice, 'sam'));
        await recordDeletionClaim(trx, claimOn(alice, 'sam', later(60_000)));
        await recordDeletionClaim(trx, claimOn(alice, 'kim'));
        await recordDeletionClaim(trx, claimOn(bob, 'sam'));
      });
      const found = await deletionClaimsFor(store.db, [refOf(alice)], later(60_000));
      expect(found.map((c) => [c.uid, c.user, c.at.toISOString()]).sort()).toEqual([
        ['uid-alice', 'kim', AT.toISOString()],
        ['uid-alice', 'sam', later(60_000).toISOString()],
      ]);
      expect(found[0]).toMatchObject({ kind: 'Member', namespace: 'acme', name: 'alice' });
      expect(await deletionClaimsFor(store.db, [], AT)).toEqual([]);
    });

    it('a claim expires after its time, on the clock given, and is pruned with the consumed ones', async () => {
      await store.write(async (trx) => {
        await recordDeletionClaim(trx, claimOn(alice, 'sam'));
        await recordDeletionClaim(trx, claimOn(bob, 'sam', later(1_000)));
      });
      expect(await deletionClaimsFor(store.db, [refOf(alice)], later(DELETION_CLAIM_TTL_MS - 1))).toHaveLength(1);
      expect(await deletionClaimsFor(store.db, [refOf(alice)], later(DELETION_CLAIM_TTL_MS))).toHaveLength(0);
      // Consuming bob's prunes alice's, expired by then; bob's was consumed.
      expect(await store.write((trx) => forgetDeletionClaims(trx, ['uid-bob'], later(DELETION_CLAIM_TTL_MS)))).toBe(2);
      expect(await store.db.selectFrom('deletion_claims').selectAll().execute()).toEqual([]);
    });
  });

  describe('the audit entry of a deletion', () => {
    const ws = withUid(aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), 'uid-ws');
    const alice = withUid(aMember({ name: 'alice' }), 'uid-alice');
    let engine: StoreEngine;

    beforeEach(async () => {
      engine = new StoreEngine(store, profile);
      await engine.sync([ws, alice], { type: 'objects', refs: [refOf(ws), refOf(alice)] }, AT);
    });

    async function entry(action: string, name: string) {
      return (await listAudit(store.db)).find((e) => e.action === action && e.object?.name === name);
    }

    it('names the Kubernetes user whose DELETE was admitted, and forgets the claim', async () => {
      await recordDeletionClaim(store.db, claimOn(alice, 'system:serviceaccount:acme:limited', later(1_000)));
      const result = await engine.sync([ws], { type: 'objects', refs: [refOf(alice)] }, later(2_000));
      expect(result.states[0]?.inStore).toBe(false);
      expect(await entry('member.delete', 'alice')).toMatchObject({ actor: 'k8s:system:serviceaccount:acme:limited', object: { uid: 'uid-alice' } });
      expect(await store.db.selectFrom('deletion_claims').selectAll().execute()).toEqual([]);
    });

    it('names the operator without a claim, with an expired one, or with a claim on another object of the same name', async () => {
      const cases: Array<[string, DeletionClaim | undefined, Date]> = [
        ['none', undefined, later(1_000)],
        ['expired', claimOn(alice, 'sam'), later(DELETION_CLAIM_TTL_MS + 1)],
        ['older namesake', { ...claimOn(alice, 'sam'), uid: 'uid-an-older-alice' }, later(1_000)],
      ];
      for (const [name, claim, at] of cases) {
        const fresh = await dialect.open();
        try {
          const e = new StoreEngine(fresh, profile);
          await e.sync([ws, alice], { type: 'objects', refs: [refOf(ws), refOf(alice)] }, AT);
          if (claim !== undefined) await recordDeletionClaim(fresh.db, claim);
          await e.sync([ws], { type: 'objects', refs: [refOf(alice)] }, at);
          const deleted = (await listAudit(fresh.db)).find((x) => x.action === 'member.delete');
          expect(deleted?.actor, name).toBe('operator');
        } finally {
          await fresh.close();
        }
      }
    });

    it('a Role held because it is still assigned keeps its claim, and names its deleter once removed', async () => {
      const analyst = withUid(aRole({ name: 'analyst', spec: { permissions: ['view-dashboard'] } }), 'uid-analyst');
      const ana = withUid(aMember({ name: 'ana', spec: { role: 'analyst' } }), 'uid-ana');
      await engine.sync([ws, alice, analyst, ana], { type: 'objects', refs: [refOf(analyst), refOf(ana)] }, AT);
      await recordDeletionClaim(store.db, claimOn(analyst, 'kim', later(1_000)));
      const held = await engine.sync([ws, alice, ana], { type: 'objects', refs: [refOf(analyst)] }, later(2_000));
      expect(held.states[0]?.inStore).toBe(true);
      expect(await deletionClaimsFor(store.db, [refOf(analyst)], later(2_000))).toHaveLength(1);
      // ana leaves (no claim: the operator), then the Role can go: kim is named.
      await engine.sync([ws, alice], { type: 'objects', refs: [refOf(ana)] }, later(3_000));
      await engine.sync([ws, alice], { type: 'objects', refs: [refOf(analyst)] }, later(4_000));
      expect((await entry('member.delete', 'ana'))?.actor).toBe('operator');
      expect((await entry('role.delete', 'analyst'))?.actor).toBe('k8s:kim');
    });

    it('a Workspace deleted with its members: the one entry, with the cascade, names the Workspace deleter', async () => {
      await recordDeletionClaim(store.db, claimOn(ws, 'kim', later(1_000)));
      await engine.sync([alice], { type: 'objects', refs: [refOf(ws)] }, later(2_000));
      const deleted = await entry('workspace.delete', ws.metadata.name);
      expect(deleted).toMatchObject({ actor: 'k8s:kim', after: { removedWith: { members: 1 } } });
      expect((await listAudit(store.db)).filter((e) => e.action === 'member.delete')).toEqual([]);
    });
  });

  describe('the webhook with the claim store unavailable', () => {
    /** The validating webhook over real HTTPS, recording claims with `recorder`; every escalation check allowed. */
    async function withWebhook(
      recorder: DeletionClaimRecorder,
      fn: (post: (name: string, dryRun?: boolean) => Promise<boolean>) => Promise<void>,
      registry = new Registry(),
    ) {
      const { ca, serving } = await createTestCertificates();
      const webhook = await startAdmissionWebhook({
        listen: '127.0.0.1:0',
        tls: { source: new StaticCertificateSource(serving) },
        index: createObjectIndex([aWorkspace()]),
        profile: getDefaultProfile(),
        clock: new ManualClock(AT),
        authorizer: { review: async () => ({ allowed: true }) },
        deletionClaims: recorder,
        registry,
      });
      try {
        await fn(async (name, dryRun = false) => {
          const review = anAdmissionReview({ operation: 'DELETE', object: withUid(aMember({ name }), `uid-${name}`), now: AT, dryRun });
          const res = await httpsJson(`${webhook.url}/validate`, { ca: ca.cert, body: review });
          expect(res.status).toBe(200);
          return (res.json as { response: { allowed: boolean } }).response.allowed;
        });
      } finally {
        await webhook.close();
      }
    }

    it('still admits the DELETE (a revocation is never refused for a record), and records nothing', async () => {
      const broken = await dialect.open();
      await broken.close();
      const registry = new Registry();
      await withWebhook(
        storeDeletionClaimRecorder(broken),
        async (post) => {
          expect(await post('alice')).toBe(true);
        },
        registry,
      );
      // Counted, so a missed attribution can be alerted on.
      expect(await registry.getSingleMetricAsString('gatehouse_webhook_deletion_claims_total')).toContain('gatehouse_webhook_deletion_claims_total{result="failed"} 1');
      // A store that is not ready (schema not migrated yet) is the same.
      const notReady = storeDeletionClaimRecorder(store, {
        check() {
          throw new Error('the identity store is not migrated yet');
        },
      });
      await withWebhook(notReady, async (post) => {
        expect(await post('alice')).toBe(true);
      });
      expect(await store.db.selectFrom('deletion_claims').selectAll().execute()).toEqual([]);
    });

    it('with the store there, an admitted DELETE is recorded and a dry run is not', async () => {
      const registry = new Registry();
      await withWebhook(
        storeDeletionClaimRecorder(store),
        async (post) => {
          expect(await post('dry', true)).toBe(true);
          expect(await post('real')).toBe(true);
        },
        registry,
      );
      expect(await registry.getSingleMetricAsString('gatehouse_webhook_deletion_claims_total')).toMatch(/\{result="recorded"\} 1\n?$/);
      const rows = await store.db.selectFrom('deletion_claims').select(['object_uid', 'username', 'name']).execute();
      expect(rows).toEqual([{ object_uid: 'uid-real', username: 'jane@acme.example', name: 'real' }]);
    });
  });
});
