// runDecisionApi as `gatehouse serve` assembles it, over HTTPS with a generated
// CA, on SQLite and PostgreSQL: the API answers over TLS only to a client that
// trusts the CA, a token revoked by another connection is refused, and a
// client certificate signed by the client CA stands in for a token (mTLS).
import 'reflect-metadata';
import { createPrivateKey, webcrypto } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import * as x509 from '@peculiar/x509';
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

/** A client certificate (clientAuth) signed by `ca`, as an application's workload identity would be. */
async function clientCertificate(ca: { cert: string; key: string }, commonName: string): Promise<{ cert: string; key: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(ca.key).export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign']);
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${commonName}`,
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: algorithm,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false)],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(der, 'PRIVATE KEY') };
}

function mtlsCheck(url: string, ca: string, client?: { cert: string; key: string }): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ workspace: 'acme', subject: 'a@acme.example', permission: 'view-dashboard' });
    const req = httpsRequest(`${url}/v1/check`, { method: 'POST', ca, ...(client ?? {}), headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

it('lets in a client certificate the client CA signed (mTLS), and no other, without a token', async () => {
  const { ca, serving } = await createTestCertificates();
  const clientCa = await createTestCertificates();
  const stranger = await createTestCertificates();
  const store = await openStore('sqlite::memory:');
  const api = await runDecisionApi({ store, host: '127.0.0.1', port: 0, logger: silentLogger(), https: { cert: serving.cert, key: serving.key, clientCa: clientCa.ca.cert }, rateLimitPerSecond: 0 });
  try {
    expect(await mtlsCheck(api.url, ca.cert, await clientCertificate(clientCa.ca, 'billing-app'))).toMatchObject({ status: 200, body: { decision: 'deny', reason: 'workspace-unknown' } });
    expect(await mtlsCheck(api.url, ca.cert, await clientCertificate(stranger.ca, 'intruder'))).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated' } } });
    expect(await mtlsCheck(api.url, ca.cert)).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated' } } });
  } finally {
    await api.close();
    await store.close();
  }
});
