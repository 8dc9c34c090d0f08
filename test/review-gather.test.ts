// The access review gathered from a real store, on SQLite and PostgreSQL:
// logins, acceptances, recorded decisions and support decisions read back
// into the same findings on both.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { acceptInvitation, recordLogin, takeInvitationsToDeliver } from '../src/app/index.js';
import { FactsCache } from '../src/http/facts.js';
import { DecisionService } from '../src/http/service.js';
import { UsageRecorder } from '../src/http/usage.js';
import { gatherReview } from '../src/review/gather.js';
import { reviewAccess } from '../src/review/review.js';
import { aMember, aRole, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import type { Store } from '../src/store/store.js';
import { ManualClock } from '../src/util/clock.js';
import { syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const day = (n: number) => new Date(Date.parse(T0) + n * 86_400_000);

forEachDialect('access review from the store', (dialect) => {
  let store: Store;
  beforeEach(async () => {
    store = await dialect.open();
    await syncAll(
      store,
      [
        aWorkspace({ spec: { admins: { min: 0, max: 1 }, accessReview: { interval: '336h', inactivityThreshold: '168h' } } }),
        aRole({ name: 'segment-builder', spec: { permissions: ['create-segment'] } }),
        aMember({ name: 'alice', spec: { role: 'editor' } }),
        aMember({ name: 'bob', spec: { role: 'editor' } }),
        aMember({ name: 'carol' }),
        aMember({ name: 'kai', spec: { expiresAt: day(2).toISOString() } }),
        aMember({ name: 'noor' }),
        aSupportGrant({ name: 'ticket-5', spec: { duration: '720h' } }),
      ],
      T0,
    );
    for (const i of await takeInvitationsToDeliver(store, 10, { at: new Date(T0) })) {
      if (i.email !== 'noor@acme.example') await acceptInvitation(store, { token: i.token, email: i.email, at: new Date(T0) });
    }
    for (const email of ['alice@acme.example', 'bob@acme.example']) await recordLogin(store, { workspaceId: 'acme', email, at: day(18) });
    const usage = new UsageRecorder(store);
    const service = new DecisionService({ store, facts: new FactsCache(store), clock: new ManualClock(day(10)), usage });
    const ask = { workspace: 'acme', mfa: true, loginMethod: 'local' as const };
    await service.check({ ...ask, subject: 'alice@acme.example', permission: 'create-segment' }, 'test');
    await service.check({ ...ask, subject: 'bob@acme.example', permission: 'view-dashboard' }, 'test');
    await service.check({ ...ask, subject: 'bob@acme.example', permission: 'create-segment' }, 'test');
    await service.check({ ...ask, subject: 'bob@acme.example', permission: 'campaign-maker' }, 'test');
    await service.check({ ...ask, subject: 'agent@vendor.example', subjectType: 'support', permission: 'view-dashboard' }, 'test');
    await usage.close();
  });
  afterEach(async () => {
    await store.close();
  });

  it('finds the same things on either store', async () => {
    const report = reviewAccess(await gatherReview(store.db, { dialect: store.dialect, at: day(20) }), day(20).getTime());
    const [acme] = report.workspaces;
    expect(acme?.inactiveMembers.map((m) => m.email)).toEqual(['carol@acme.example']);
    expect(acme?.invitationsNotAccepted.map((m) => m.email)).toEqual(['noor@acme.example']);
    expect(acme?.expiredStillDeclared.map((m) => [m.email, m.source?.name])).toEqual([['kai@acme.example', 'kai']]);
    expect(acme?.unusedPrivileges).toEqual([
      { email: 'alice@acme.example', role: 'editor', used: ['create-segment'], unused: ['campaign-maker', 'view-dashboard'], suggestedRole: 'segment-builder' },
    ]);
    expect(acme?.supportGrants.map((g) => [g.name, g.state, g.decisions])).toEqual([['ticket-5', 'Active', { allowed: 1, denied: 0 }]]);
    expect(acme?.admins).toMatchObject({ count: 0, overLimit: false });
  });
});
