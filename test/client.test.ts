// The typed client (gatehouse/client) against the real server over a real socket.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { acceptInvitation, takeInvitationsToDeliver } from '../src/app/index.js';
import { GatehouseApiError, GatehouseClient } from '../src/client/index.js';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { startDecisionApi, type DecisionApiHarness } from './support/decision-api.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const declared = [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' }), aMember({ name: 'bob' })];
const request = { workspace: 'acme', subject: 'alice@acme.example', permission: 'view-dashboard', mfa: true, loginMethod: 'local' as const };

forEachDialect('GatehouseClient', (dialect) => {
  let api: DecisionApiHarness;
  beforeEach(async () => {
    api = await startDecisionApi(dialect, declared, T0);
    const [alice] = (await takeInvitationsToDeliver(api.other, 10, { at: new Date(T0) })).filter((i) => i.email === 'alice@acme.example');
    await acceptInvitation(api.other, { token: alice?.token as string, email: 'alice@acme.example', at: new Date(T0) });
  });
  afterEach(async () => {
    await api.close();
  });

  it('checks, logs in and searches with types from the server\'s schemas', async () => {
    const client = new GatehouseClient({ baseUrl: api.url, token: api.token });
    expect(await client.check(request)).toMatchObject({ decision: 'allow', reason: 'role-grants-permission' });
    expect(await client.check({ ...request, permission: 'create-segment' })).toMatchObject({ decision: 'deny', reason: 'role-lacks-permission' });
    expect(await client.recordLogin({ workspace: 'acme', email: 'alice@acme.example', loginMethod: 'local', mfa: false })).toMatchObject({ decision: 'deny', reason: '2fa-required', recorded: false });
    expect(await client.recordLogin({ workspace: 'acme', email: 'alice@acme.example', loginMethod: 'local', mfa: true })).toMatchObject({ recorded: true });
    expect((await client.members('acme', 'bob')).map((m) => m.email)).toEqual(['bob@acme.example']);
    expect(await client.pendingInvitations()).toEqual([]);
  });

  it('raises refusals with their code', async () => {
    const client = new GatehouseClient({ baseUrl: api.url, token: 'ghd_wrong' });
    await expect(client.check(request)).rejects.toMatchObject({ name: 'GatehouseApiError', status: 401, code: 'unauthenticated' });
    const good = new GatehouseClient({ baseUrl: api.url, token: api.token });
    await expect(good.members('nowhere')).rejects.toBeInstanceOf(GatehouseApiError);
    await expect(good.acceptInvitation({ token: 'nope', email: 'x@acme.example' })).rejects.toMatchObject({ status: 404, code: 'invitation-not-found' });
    const down = new GatehouseClient({ baseUrl: 'http://127.0.0.1:1', token: api.token });
    await expect(down.check(request)).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('keeps a cached answer no longer than its validUntil', async () => {
    let calls = 0;
    let now = Date.now();
    const client = new GatehouseClient({
      baseUrl: api.url,
      token: api.token,
      cache: true,
      now: () => now,
      fetch: (input, init) => {
        calls += 1;
        return fetch(input, init);
      },
    });
    api.clock.set(new Date(now));
    const first = await client.check(request);
    expect(await client.check({ ...request })).toEqual(first);
    expect(calls).toBe(1);
    now = Date.parse(first.validUntil);
    api.clock.set(new Date(now));
    await client.check(request);
    expect(calls).toBe(2);
  });
});

it('is exported as gatehouse/client', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports?: Record<string, unknown> };
  expect(pkg.exports?.['./client']).toMatchObject({ types: './dist/client/index.d.ts', default: './dist/client/index.js' });
});
