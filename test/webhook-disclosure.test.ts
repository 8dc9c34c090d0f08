// Finding 10: the webhook answers only whom it should and tells them only what
// they sent. Denials do not name other Members or their emails; with
// --webhook-client-ca only a client with a certificate from that CA (the API
// server) gets past the TLS handshake.
import { request as httpsRequest } from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { getDefaultProfile } from '../src/model/index.js';
import { createObjectIndex } from '../src/rules/index.js';
import { anAdmin, aMember, aWorkspace } from '../src/rules/testing/builders.js';
import type { AdmissionReviewResponse } from '../src/kube/webhook/admission.js';
import { StaticCertificateSource } from '../src/kube/webhook/certificate-source.js';
import { createCertificateAuthority, issueServingCertificate, type KeyPairPem } from '../src/kube/webhook/certificates.js';
import { startAdmissionWebhook, type AdmissionWebhook } from '../src/kube/webhook/server.js';
import { anAdmissionReview, createTestCertificates, httpsJson } from '../src/kube/webhook/testing.js';
import { ManualClock } from '../src/util/clock.js';

let webhook: AdmissionWebhook | undefined;
afterEach(async () => {
  await webhook?.close();
  webhook = undefined;
});

const workspace = aWorkspace({ spec: { admins: { min: 0, max: 1 } } });
const alice = aMember({ name: 'alice-smith', spec: { email: 'alice.smith@acme.example' } });
const carolSpec = anAdmin({ name: 'carol-jones', spec: { email: 'carol.jones@acme.example' } });
const carol = { ...carolSpec, metadata: { ...carolSpec.metadata, creationTimestamp: '2026-01-01T00:00:00Z' } };

async function start(extra: { clientCa?: string } = {}): Promise<{ ca: KeyPairPem }> {
  const { ca, serving } = await createTestCertificates();
  webhook = await startAdmissionWebhook({
    listen: '127.0.0.1:0',
    tls: { source: new StaticCertificateSource(serving) },
    index: createObjectIndex([workspace, alice, carol]),
    profile: getDefaultProfile(),
    clock: new ManualClock('2026-06-01T00:00:00Z'),
    authorizer: { review: async () => ({ allowed: true }) },
    ...extra,
  });
  return { ca };
}

describe('finding 10: denials name only what the requester sent', () => {
  it.each([
    ['a duplicate email', aMember({ name: 'mallory', spec: { email: 'alice.smith@acme.example' } }), 'DuplicateEmail', /alice-smith/],
    ['one admin too many', anAdmin({ name: 'mallory', spec: { email: 'mallory@acme.example' } }), 'TooManyAdmins', /carol-jones|carol\.jones/],
  ])('%s', async (_title, object, rule, hidden) => {
    const { ca } = await start();
    const res = await httpsJson(`${webhook?.url}/validate`, { ca: ca.cert, body: anAdmissionReview({ operation: 'CREATE', object }) });
    const response = (res.json as AdmissionReviewResponse).response;
    expect(response.allowed).toBe(false);
    expect(response.status?.details?.causes?.map((c) => c.reason)).toContain(rule);
    expect(JSON.stringify(response)).not.toMatch(hidden);
    expect(response.status?.message).toMatch(/another Member/);
  });
});

describe('finding 10: --webhook-client-ca', () => {
  it('refuses a client without a certificate from the CA and answers one with it', async () => {
    const clientCa = await createCertificateAuthority({ commonName: 'API server client CA', at: new Date() });
    const client = await issueServingCertificate({ ca: clientCa, hosts: ['kube-apiserver'], at: new Date(), usage: 'clientAuth' });
    const stranger = await issueServingCertificate({ ca: await createCertificateAuthority({ commonName: 'other', at: new Date() }), hosts: ['x'], at: new Date(), usage: 'clientAuth' });
    const { ca } = await start({ clientCa: clientCa.cert });
    const body = JSON.stringify(anAdmissionReview({ operation: 'CREATE', object: aMember({ name: 'dave' }) }));
    const post = (cert?: KeyPairPem) =>
      new Promise<number>((resolve, reject) => {
        const req = httpsRequest(`${webhook?.url}/validate`, {
          method: 'POST',
          ca: ca.cert,
          ...(cert !== undefined ? { cert: cert.cert, key: cert.key } : {}),
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(body);
      });
    await expect(post()).rejects.toThrow(/certificate|socket hang up|ECONNRESET|alert/i);
    await expect(post(stranger)).rejects.toThrow(/certificate|socket hang up|ECONNRESET|alert|unknown ca/i);
    expect(await post(client)).toBe(200);
  });
});
