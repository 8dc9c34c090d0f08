// The decision API over a real socket, on SQLite and PostgreSQL: tokens kept
// hashed and revocable, answers against the clock at request time, support
// decisions audited, changes by other processes seen, the application calls
// (invitations, logins, member search) and refusals with stable codes.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { acceptInvitation, takeInvitationsToDeliver } from '../src/app/index.js';
import { openApiDocument } from '../src/http/api.js';
import { API_VERSION } from '../src/http/server.js';
import { hashApiToken, revokeApiToken } from '../src/http/tokens.js';
import { aMember, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit, verifyAuditChain } from '../src/store/audit.js';
import { startDecisionApi, type DecisionApiHarness } from './support/decision-api.js';
import { syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const at = (hours: number) => new Date(Date.parse(T0) + hours * 3_600_000);

const workspace = aWorkspace({ spec: { admins: { min: 0, max: 1 }, ipAllowlist: ['203.0.113.0/24'], idleSessionTimeout: '12h' } });
const declared = [
  workspace,
  aMember({ name: 'alice' }),
  aMember({ name: 'bob', spec: { role: 'editor' } }),
  aMember({ name: 'kai', spec: { expiresAt: at(10).toISOString() } }),
  aMember({ name: 'noor' }),
  aSupportGrant({ name: 'ticket-1', spec: { duration: '48h' } }),
];

const check = (over: Record<string, unknown> = {}) => ({
  workspace: 'acme',
  subject: 'alice@acme.example',
  permission: 'view-dashboard',
  ip: '203.0.113.7',
  loginMethod: 'local',
  mfa: true,
  idleSeconds: 30,
  ...over,
});

forEachDialect('decision API', (dialect) => {
  let api: DecisionApiHarness;
  beforeEach(async () => {
    api = await startDecisionApi(dialect, declared, T0);
    const invitations = await takeInvitationsToDeliver(api.other, 10, { at: at(0) });
    for (const i of invitations.filter((i) => i.email !== 'noor@acme.example')) {
      await acceptInvitation(api.other, { token: i.token, email: i.email, at: at(0) });
    }
  });
  afterEach(async () => {
    await api.close();
  });

  it('answers a check with a decision, a reason and validUntil', async () => {
    const allowed = await api.call('POST', '/v1/check', check());
    expect(allowed).toMatchObject({ status: 200, body: { decision: 'allow', reason: 'role-grants-permission' } });
    expect(Date.parse(allowed.body.validUntil)).toBeGreaterThan(api.clock.now().getTime());
    expect((await api.call('POST', '/v1/check', check({ permission: 'create-segment' }))).body).toMatchObject({ decision: 'deny', reason: 'role-lacks-permission' });
    expect((await api.call('POST', '/v1/check', check({ subject: 'bob@acme.example', permission: 'create-segment' }))).body.decision).toBe('allow');
    expect((await api.call('POST', '/v1/check', check({ mfa: false }))).body.reason).toBe('2fa-required');
    expect((await api.call('POST', '/v1/check', check({ ip: '192.0.2.1' }))).body.reason).toBe('ip-not-allowed');
    expect((await api.call('POST', '/v1/check', check({ idleSeconds: 12 * 3600 }))).body.reason).toBe('idle-timeout');
    expect((await api.call('POST', '/v1/check', check({ subject: 'noor@acme.example' }))).body.reason).toBe('not-yet-accepted');
    expect((await api.call('POST', '/v1/check', check({ workspace: 'nowhere' }))).body.reason).toBe('workspace-unknown');
    expect((await api.call('POST', '/v1/check', check({ subject: 'mallory@acme.example' }))).body.reason).toBe('subject-unknown');
  });

  it('ends temporary access at its end time by the clock, with nothing re-applied', async () => {
    const before = await api.call('POST', '/v1/check', check({ subject: 'kai@acme.example' }));
    expect(before.body.decision).toBe('allow');
    api.clock.set(new Date(at(10).getTime() - 1));
    expect((await api.call('POST', '/v1/check', check({ subject: 'kai@acme.example' }))).body).toMatchObject({ decision: 'allow', validUntil: at(10).toISOString() });
    api.clock.set(at(10));
    expect((await api.call('POST', '/v1/check', check({ subject: 'kai@acme.example' }))).body).toMatchObject({ decision: 'deny', reason: 'expired' });
  });

  it('writes every support decision, allowed or not, to the audit log', async () => {
    const support = check({ subject: 'Agent@Vendor.example', subjectType: 'support' });
    expect((await api.call('POST', '/v1/check', support)).body).toMatchObject({ decision: 'allow', reason: 'support-grant-allows', grant: 'ticket-1' });
    expect((await api.call('POST', '/v1/check', { ...support, permission: 'create-segment' })).body).toMatchObject({ decision: 'deny', reason: 'support-read-only' });
    api.clock.set(at(48));
    expect((await api.call('POST', '/v1/check', support)).body).toMatchObject({ decision: 'deny', reason: 'expired' });
    const entries = (await listAudit(api.store.db, { workspaceId: 'acme' })).filter((e) => e.action.startsWith('support.'));
    expect(entries.map((e) => [e.actor, (e.after as { decision: string }).decision, (e.after as { reason: string }).reason])).toEqual([
      ['support:agent@vendor.example', 'allow', 'support-grant-allows'],
      ['support:agent@vendor.example', 'deny', 'support-read-only'],
      ['support:agent@vendor.example', 'deny', 'expired'],
    ]);
    expect(entries[0]?.object).toMatchObject({ kind: 'SupportGrant', name: 'ticket-1' });
    expect(entries[0]?.reason).toContain('api:test-app');
    expect((await verifyAuditChain(api.store.db)).ok).toBe(true);
  });

  it('sees a change made by another process without being restarted', async () => {
    expect((await api.call('POST', '/v1/check', check({ permission: 'create-segment' }))).body.decision).toBe('deny');
    await syncAll(api.other, declared.map((o) => (o.metadata.name === 'alice' && o.kind === 'Member' ? aMember({ name: 'alice', spec: { role: 'editor' } }) : o)), at(0));
    await vi.waitFor(async () => {
      expect((await api.call('POST', '/v1/check', check({ permission: 'create-segment' }))).body.decision).toBe('allow');
    }, { timeout: 5000, interval: 50 });
  });

  it('refuses a missing, unknown or revoked token with a code, and keeps only token hashes', async () => {
    expect(await api.call('POST', '/v1/check', check(), { authorization: '' })).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated' } } });
    expect(await api.call('POST', '/v1/check', check(), { authorization: 'Bearer ghd_nope' })).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated' } } });
    const rows = await api.store.db.selectFrom('api_tokens').selectAll().execute();
    expect(rows.map((r) => r.token_hash)).toEqual([hashApiToken(api.token)]);
    expect(JSON.stringify(rows)).not.toContain(api.token);
    await revokeApiToken(api.other, { name: 'test-app', actor: 'cli:test', at: at(1) });
    await vi.waitFor(async () => {
      expect(await api.call('POST', '/v1/check', check())).toMatchObject({ status: 401, body: { error: { code: 'token-revoked' } } });
    }, { timeout: 5000, interval: 50 });
  });

  it('hands out pending invitations once and accepts one only with the invited email', async () => {
    await syncAll(api.other, [...declared, aMember({ name: 'zoe' })], at(1));
    const pending = await api.call('GET', '/v1/invitations/pending?limit=10');
    expect(pending.status).toBe(200);
    expect(pending.body.invitations.map((i: { email: string }) => i.email)).toEqual(['zoe@acme.example']);
    expect((await api.call('GET', '/v1/invitations/pending')).body.invitations).toEqual([]);
    const token = pending.body.invitations[0].token as string;
    expect(await api.call('POST', '/v1/invitations/accept', { token, email: 'mallory@acme.example' })).toMatchObject({ status: 403, body: { error: { code: 'invitation-email-mismatch' } } });
    expect(await api.call('POST', '/v1/invitations/accept', { token, email: 'ZOE@acme.example' })).toMatchObject({ status: 200, body: { workspace: 'acme', role: 'viewer' } });
    expect(await api.call('POST', '/v1/invitations/accept', { token, email: 'zoe@acme.example' })).toMatchObject({ status: 409, body: { error: { code: 'invitation-already-accepted' } } });
    // Accepted through the API: its own cache sees it at once.
    expect((await api.call('POST', '/v1/check', check({ subject: 'zoe@acme.example' }))).body.decision).toBe('allow');
  });

  it('records an allowed login and refuses one the policy forbids', async () => {
    const login = { workspace: 'acme', email: 'alice@acme.example', loginMethod: 'local', mfa: true, ip: '203.0.113.9' };
    expect(await api.call('POST', '/v1/logins', { ...login, mfa: false })).toMatchObject({ status: 403, body: { reason: '2fa-required', recorded: false } });
    expect(await api.call('POST', '/v1/logins', { ...login, ip: '192.0.2.1' })).toMatchObject({ status: 403, body: { reason: 'ip-not-allowed' } });
    api.clock.set(at(2));
    expect(await api.call('POST', '/v1/logins', login)).toMatchObject({ status: 200, body: { decision: 'allow', recorded: true } });
    const members = await api.call('GET', '/v1/workspaces/acme/members?search=ALI');
    expect(members.body.members).toEqual([expect.objectContaining({ email: 'alice@acme.example', lastLoginAt: at(2).toISOString(), role: 'viewer' })]);
    expect(await api.call('POST', '/v1/logins', { ...login, workspace: 'nowhere' })).toMatchObject({ status: 404, body: { error: { code: 'workspace-unknown' } } });
    expect(await api.call('POST', '/v1/logins', { ...login, email: 'mallory@acme.example' })).toMatchObject({ status: 404, body: { error: { code: 'subject-unknown' } } });
    expect(await api.call('GET', '/v1/workspaces/nowhere/members')).toMatchObject({ status: 404, body: { error: { code: 'workspace-unknown' } } });
  });

  it('refuses bad input with a 4xx and a code, never a stack trace', async () => {
    const cases: Array<[string, unknown, Record<string, string>, number, string]> = [
      ['malformed JSON', '{"workspace": ', {}, 400, 'malformed-json'],
      ['an unknown field', { ...check(), admin: true }, {}, 400, 'invalid-request'],
      ['a missing field', { workspace: 'acme', subject: 'alice@acme.example' }, {}, 400, 'invalid-request'],
      ['a wrong type', check({ mfa: 'yes' }), {}, 400, 'invalid-request'],
      ['an oversized body', { ...check(), subject: 'x'.repeat(64 * 1024) }, {}, 413, 'body-too-large'],
      ['another media type', 'workspace=acme', { 'content-type': 'application/x-www-form-urlencoded' }, 415, 'unsupported-media-type'],
      ['a prototype key', '{"__proto__": {"admin": true}}', {}, 400, 'malformed-json'],
    ];
    for (const [name, body, headers, status, code] of cases) {
      const response = await api.call('POST', '/v1/check', body, headers);
      expect({ name, status: response.status, code: response.body?.error?.code }).toEqual({ name, status, code });
      expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
    }
    expect((await api.call('POST', '/v1/check', { ...check(), admin: true })).body.error.message).toContain('"admin"');
    expect(await api.call('GET', '/v1/nothing')).toMatchObject({ status: 404, body: { error: { code: 'not-found' } } });
  });

  it('serves health, readiness, metrics and the checked-in OpenAPI document', async () => {
    expect((await api.call('GET', '/healthz')).status).toBe(200);
    expect((await api.call('GET', '/readyz')).status).toBe(200);
    await api.call('POST', '/v1/check', check());
    const metrics = await api.call('GET', '/metrics');
    expect(metrics.body).toContain('gatehouse_decisions_total{decision="allow",reason="role-grants-permission"} 1');
    const served = await api.call('GET', '/openapi.json');
    const checkedIn = JSON.parse(readFileSync(new URL('../docs/openapi.json', import.meta.url), 'utf8')) as unknown;
    expect(served.body).toEqual(checkedIn);
    expect(checkedIn).toEqual(openApiDocument(API_VERSION));
  });
});

forEachDialect('decision API rate limit', (dialect) => {
  it('answers 429 with a code once a client goes over its rate', async () => {
    const api = await startDecisionApi(dialect, declared, T0, { rateLimitPerSecond: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i += 1) statuses.push((await api.call('POST', '/v1/check', check())).status);
      expect(statuses).toContain(429);
      const limited = await api.call('POST', '/v1/check', check());
      if (limited.status === 429) expect(limited.body.error.code).toBe('rate-limited');
      // Headers: Retry-After and the X-RateLimit-* set on a refusal only, none on an answer under the rate.
      const ask = () => fetch(`${api.url}/v1/check`, { method: 'POST', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' }, body: JSON.stringify(check()) });
      const refused = await ask();
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(refused.headers.get('x-ratelimit-limit')).toBe('3');
      vi.useFakeTimers({ now: Date.now() + 2000, toFake: ['Date'] });
      try {
        const answered = await ask();
        expect(answered.status).toBe(200);
        expect(answered.headers.get('x-ratelimit-limit')).toBeNull();
        expect(answered.headers.get('x-ratelimit-remaining')).toBeNull();
      } finally {
        vi.useRealTimers();
      }
    } finally {
      await api.close();
    }
  });
});
