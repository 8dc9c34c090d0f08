// Serving certificates from files (a mounted cert-manager or Helm Secret):
// the webhook starts from them and swaps in a new pair when the files change,
// without a restart and without dropping the old pair for a half-written one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getDefaultProfile } from '../src/model/index.js';
import { createObjectIndex } from '../src/rules/index.js';
import { ManualClock } from '../src/util/clock.js';
import { errorMessage } from '../src/util/errors.js';
import { DirectoryCertificateSource } from '../src/kube/webhook/certificate-files.js';
import { describeCertificate, issueServingCertificate, type KeyPairPem } from '../src/kube/webhook/certificates.js';
import { startAdmissionWebhook, type AdmissionWebhook } from '../src/kube/webhook/server.js';
import { createTestCertificates, httpsJson } from '../src/kube/webhook/testing.js';

/** The certificate a fresh TLS connection is served, by fingerprint. */
function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

function writePair(dir: string, pair: KeyPairPem, ca?: string): void {
  writeFileSync(join(dir, 'tls.crt'), pair.cert);
  writeFileSync(join(dir, 'tls.key'), pair.key);
  if (ca !== undefined) writeFileSync(join(dir, 'ca.crt'), ca);
}

let dir: string;
let ca: KeyPairPem;
let first: KeyPairPem;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-webhook-certs-'));
  ({ ca, serving: first } = await createTestCertificates());
  writePair(dir, first, ca.cert);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('certificates from a directory', () => {
  it('refuses to start without a usable pair, saying what the directory must hold', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'gatehouse-webhook-empty-'));
    try {
      await expect(DirectoryCertificateSource.open({ dir: empty })).rejects.toThrow(/must hold tls\.crt and tls\.key/);
      writePair(empty, { cert: first.cert, key: ca.key });
      await expect(DirectoryCertificateSource.open({ dir: empty })).rejects.toThrow(/private key does not belong to the certificate/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('reads ca.crt as the bundle to register', async () => {
    const source = await DirectoryCertificateSource.open({ dir });
    try {
      expect(source.current().caBundle).toBe(ca.cert);
      expect(source.current().cert).toBe(first.cert);
    } finally {
      await source.close();
    }
  });

  it('keeps the old pair while the files hold a half-written one, then takes the complete new pair', async () => {
    const clock = new ManualClock(new Date());
    const source = await DirectoryCertificateSource.open({ dir, clock, checkIntervalMs: 30_000, watch: false });
    try {
      const next = await issueServingCertificate({ ca, hosts: ['localhost', '127.0.0.1'], at: new Date() });
      writeFileSync(join(dir, 'tls.crt'), next.cert);
      expect(await source.reload()).toBe(false);
      expect(source.current().cert).toBe(first.cert);
      writeFileSync(join(dir, 'tls.key'), next.key);
      // Without file events (watch off here), the periodic check finds it.
      expect(source.current().cert).toBe(first.cert);
      const changed = new Promise((resolve) => source.onChange(resolve));
      clock.advance(30_000);
      await changed;
      expect(source.current().cert).toBe(next.cert);
    } finally {
      await source.close();
    }
  });
});

describe('the webhook serving from a directory', () => {
  let webhook: AdmissionWebhook;

  afterEach(async () => {
    await webhook?.close();
  });

  it('swaps its TLS context when the files change: new connections get the new certificate, no restart', async () => {
    webhook = await startAdmissionWebhook({
      listen: '127.0.0.1:0',
      tls: { certDir: dir },
      index: createObjectIndex([]),
      profile: getDefaultProfile(),
      authorizer: { review: async () => ({ allowed: true }) },
    });
    expect(await servedFingerprint(webhook.port, ca.cert)).toBe(describeCertificate(first.cert).fingerprint256);

    // As kubelet does for a mounted Secret that cert-manager renewed.
    const renewed = await issueServingCertificate({ ca, hosts: ['localhost', '127.0.0.1'], at: new Date() });
    writePair(dir, renewed);
    await expect.poll(() => webhook.certificate().cert, { timeout: 5_000 }).toBe(renewed.cert);
    expect(await servedFingerprint(webhook.port, ca.cert)).toBe(describeCertificate(renewed.cert).fingerprint256);
    expect((await httpsJson(`${webhook.url}/healthz`, { ca: ca.cert })).status).toBe(200);
    expect(webhook.ready()).toBe(true);
  });
});

describe('starting the webhook', () => {
  it('says which address it cannot listen on, and leaves nothing running', async () => {
    const first = await startAdmissionWebhook({
      listen: '127.0.0.1:0',
      tls: { certDir: dir },
      index: createObjectIndex([]),
      profile: getDefaultProfile(),
      authorizer: { review: async () => ({ allowed: true }) },
    });
    try {
      const taken = `127.0.0.1:${first.port}`;
      const error = await startAdmissionWebhook({
        listen: taken,
        tls: { certDir: dir },
        index: createObjectIndex([]),
        profile: getDefaultProfile(),
        authorizer: { review: async () => ({ allowed: true }) },
      }).catch((err: unknown) => err);
      expect(errorMessage(error)).toMatch(new RegExp(`cannot listen on ${taken}; choose another --webhook-listen: .*EADDRINUSE`));
    } finally {
      await first.close();
    }
  });

  it('needs a way to ask the API server for the escalation check', async () => {
    await expect(
      startAdmissionWebhook({ listen: '127.0.0.1:0', tls: { certDir: dir }, index: createObjectIndex([]), profile: getDefaultProfile() }),
    ).rejects.toThrow('the escalation check asks the API server: pass a kubeConfig (or an authorizer)');
  });
});
