// runDecisionApi as `gatehouse serve` assembles it, over HTTPS with a generated
// CA, on SQLite and PostgreSQL: the API answers over TLS only to a client that
// trusts the CA, and a token revoked by another connection is refused.
import { afterEach, expect, it, vi } from 'vitest';
import { runDecisionApi, type RunningDecisionApi } from '../src/http/index.js';
import { createApiToken, revokeApiToken } from '../src/http/tokens.js';
import { createTestCertificates, httpsJson } from '../src/kube/webhook/testing.js';
import { openStore, type Store } from '../src/store/store.js';
import { silentLogger } from '../src/util/log.js';
import { forEachDialect } from './support/stores.js';

forEachDialect('decision API over TLS', (dialect) => {
  let api: RunningDecisionApi | undefined;
  const stores: Store[] = [];
  afterEach(async () => {
    await api?.close();
    for (const s of stores.splice(0)) await s.close();
  });

  it('serves over HTTPS and refuses a revoked token within a second', async () => {
    const { ca, serving } = await createTestCertificates();
    const dsn = await dialect.newDsn();
    const store = await openStore(dsn);
    const other = await openStore(dsn);
    stores.push(store, other);
    const token = await createApiToken(other, { name: 'tls-app', actor: 'cli:test', at: new Date() });
    api = await runDecisionApi({ store, dsn, host: '127.0.0.1', port: 0, logger: silentLogger(), https: { cert: serving.cert, key: serving.key }, rateLimitPerSecond: 0 });
    expect(api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const check = () =>
      httpsJson(`${api?.url}/v1/check`, { ca: ca.cert, body: { workspace: 'acme', subject: 'a@acme.example', permission: 'view-dashboard' }, headers: { authorization: `Bearer ${token}` } });
    expect(await check()).toMatchObject({ status: 200, json: { decision: 'deny', reason: 'workspace-unknown' } });
    const stranger = await createTestCertificates();
    await expect(httpsJson(`${api.url}/healthz`, { ca: stranger.ca.cert })).rejects.toThrow(/self-signed|certificate/i);
    expect((await httpsJson(`${api.url}/readyz`, { ca: ca.cert })).status).toBe(200);
    await revokeApiToken(other, { name: 'tls-app', actor: 'cli:test', at: new Date() });
    await vi.waitFor(async () => expect(await check()).toMatchObject({ status: 401, json: { error: { code: 'token-revoked' } } }), { timeout: 5000, interval: 50 });
  });
});
