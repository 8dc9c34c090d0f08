// Finding 2: changes made in the cluster are recorded under the Kubernetes
// user who made them (the changed-by annotation the webhooks guard) and the
// object's generation, not as a faceless "operator".
import { afterEach, beforeEach, expect, it } from 'vitest';
import { StoreEngine } from '../src/kube/controller/engine-adapter.js';
import { CHANGED_BY_ANNOTATION } from '../src/model/common.js';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit } from '../src/store/audit.js';
import type { Store } from '../src/store/store.js';
import { profile } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const AT = new Date('2026-06-01T00:00:00.000Z');

forEachDialect('audit actor from the cluster', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('finding 2: records the user who changed each object and its generation', async () => {
    const ws = aWorkspace({ spec: { admins: { min: 0, max: 1 } } });
    const alice = aMember({ name: 'alice' });
    const stampedAlice = { ...alice, metadata: { ...alice.metadata, generation: 3, uid: 'uid-alice', annotations: { [CHANGED_BY_ANNOTATION]: 'jane@acme.example' } } };
    const bob = aMember({ name: 'bob' });
    const engine = new StoreEngine(store, profile);
    await engine.sync([ws, stampedAlice, bob], { type: 'all' }, AT);
    const log = await listAudit(store.db);
    expect(log.find((e) => e.action === 'member.create' && e.object?.name === 'alice')).toMatchObject({
      actor: 'k8s:jane@acme.example',
      object: { generation: 3, uid: 'uid-alice' },
    });
    // Without the annotation (objects from before the webhook stamped them) the operator is named.
    expect(log.find((e) => e.action === 'member.create' && e.object?.name === 'bob')?.actor).toBe('operator');
  });
});
