import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import {
  applyRotation,
  BACKDATE_MS,
  checkKeyPair,
  createCertificateAuthority,
  describeCertificate,
  isIssuedBy,
  issueServingCertificate,
  planRotation,
  rotationDueAt,
  servingHosts,
  splitPemCertificates,
  type ManagedTlsMaterial,
  type RotationSettings,
} from './certificates.js';

const DAY = 24 * 3_600_000;
const T0 = new Date('2026-03-01T00:00:00Z');
const after = (ms: number) => new Date(T0.getTime() + ms);
const settings: RotationSettings = {
  hosts: servingHosts({ service: { name: 'gatehouse-webhook', namespace: 'gatehouse-system' } }),
  caValidityMs: 30 * DAY,
  servingValidityMs: 3 * DAY,
};

async function fresh(at = T0): Promise<ManagedTlsMaterial> {
  return applyRotation(undefined, planRotation(undefined, at, settings), at, settings);
}

describe('certificate generation', () => {
  it('makes a CA that may sign only end-entity certificates, ECDSA P-256 with SHA-256', async () => {
    const ca = await createCertificateAuthority({ commonName: 'Test CA', at: T0, validityMs: 10 * DAY });
    const cert = new X509Certificate(ca.cert);
    expect(cert.ca).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails).toMatchObject({ namedCurve: 'prime256v1' });
    expect(new Date(cert.validFrom).getTime()).toBe(T0.getTime() - BACKDATE_MS);
    expect(new Date(cert.validTo).getTime()).toBe(T0.getTime() + 10 * DAY);
    expect(new x509.X509Certificate(ca.cert).signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
    expect(new x509.X509Certificate(ca.cert).getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, pathLength: 0 });
    expect(checkKeyPair(ca, 'the CA').isCa).toBe(true);
  });

  it('issues a serving certificate for the Service names and loopback, signed by the CA, for server auth only', async () => {
    const ca = await createCertificateAuthority({ commonName: 'Test CA', at: T0 });
    const serving = await issueServingCertificate({ ca, hosts: settings.hosts, at: T0, validityMs: 3 * DAY });
    const info = checkKeyPair(serving, 'the serving certificate');
    expect(info.isCa).toBe(false);
    expect(info.hosts).toEqual([
      'gatehouse-webhook.gatehouse-system.svc',
      'gatehouse-webhook.gatehouse-system.svc.cluster.local',
      'gatehouse-webhook.gatehouse-system',
      'gatehouse-webhook',
      'localhost',
      '127.0.0.1',
      '::1',
    ]);
    expect(isIssuedBy(serving.cert, ca.cert)).toBe(true);
    const cert = new X509Certificate(serving.cert);
    expect(cert.checkHost('gatehouse-webhook.gatehouse-system.svc')).toBe('gatehouse-webhook.gatehouse-system.svc');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('evil.example')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('never issues a serving certificate that outlives its CA', async () => {
    const ca = await createCertificateAuthority({ commonName: 'Test CA', at: T0, validityMs: 2 * DAY });
    const serving = await issueServingCertificate({ ca, hosts: ['localhost'], at: T0, validityMs: 90 * DAY });
    expect(describeCertificate(serving.cert).notAfter.getTime()).toBe(T0.getTime() + 2 * DAY);
  });

  it('rejects a key that does not belong to the certificate', async () => {
    const a = await createCertificateAuthority({ commonName: 'A', at: T0 });
    const b = await createCertificateAuthority({ commonName: 'B', at: T0 });
    expect(() => checkKeyPair({ cert: a.cert, key: b.key }, 'the pair')).toThrow('the pair: the private key does not belong to the certificate');
    expect(() => checkKeyPair({ cert: 'nonsense', key: a.key }, 'the pair')).toThrow('no PEM certificate found');
  });

  it('adds the webhook URL\'s host to the names', () => {
    expect(servingHosts({ url: 'https://host.docker.internal:9443/validate' })).toEqual(['host.docker.internal', 'localhost', '127.0.0.1', '::1']);
    expect(servingHosts({ url: 'https://[::1]:9443/validate' })).toEqual(['::1', 'localhost', '127.0.0.1']);
  });
});

describe('rotation plan', () => {
  it('creates everything when nothing is stored', () => {
    expect(planRotation(undefined, T0, settings)).toMatchObject({ replaceCa: 'Missing', replaceServing: 'Missing' });
  });

  it('replaces nothing while both are young, and names when to look next', async () => {
    const material = await fresh();
    const plan = planRotation(material, after(DAY), settings);
    expect(plan.replaceCa).toBeUndefined();
    expect(plan.replaceServing).toBeUndefined();
    // The serving certificate is due first: 2/3 of 3 days (plus the backdating).
    expect(plan.nextCheckAt).toEqual(rotationDueAt(describeCertificate(material.serving.cert)));
    expect(plan.nextCheckAt.getTime()).toBeGreaterThan(after(1.9 * DAY).getTime());
    expect(plan.nextCheckAt.getTime()).toBeLessThan(after(2 * DAY).getTime());
  });

  it('replaces the serving certificate after 2/3 of its life, keeping the CA', async () => {
    const material = await fresh();
    const plan = planRotation(material, after(2 * DAY), settings);
    expect(plan).toMatchObject({ replaceServing: 'ServingRotationDue' });
    expect(plan.replaceCa).toBeUndefined();
    const next = await applyRotation(material, plan, after(2 * DAY), settings);
    expect(next.ca).toEqual(material.ca);
    expect(next.caBundle).toBe(material.caBundle);
    expect(next.serving.cert).not.toBe(material.serving.cert);
    expect(isIssuedBy(next.serving.cert, material.ca.cert)).toBe(true);
    expect(planRotation(next, after(2 * DAY), settings).replaceServing).toBeUndefined();
  });

  it('reissues the serving certificate when the names it must cover change', async () => {
    const material = await fresh();
    const plan = planRotation(material, after(DAY), { ...settings, hosts: [...settings.hosts, 'gatehouse.example.com'] });
    expect(plan.replaceServing).toBe('HostsChanged');
  });

  it('rotates the CA after 2/3 of its life, trusting the old one until it expires', async () => {
    const material = await fresh();
    const at = after(21 * DAY);
    const plan = planRotation(material, at, settings);
    expect(plan.replaceCa).toBe('CaRotationDue');
    const next = await applyRotation(material, plan, at, settings);
    const bundle = splitPemCertificates(next.caBundle);
    expect(bundle).toHaveLength(2);
    expect(bundle[0]?.trim()).toBe(next.ca.cert.trim());
    expect(bundle[1]?.trim()).toBe(material.ca.cert.trim());
    // Issued in the same pass, the serving certificate comes from the outgoing CA,
    // which the API server already trusts.
    expect(isIssuedBy(next.serving.cert, material.ca.cert)).toBe(true);
    // The next serving rotation uses the new CA, and the old one leaves the bundle once expired.
    const later = after(31 * DAY);
    const plan2 = planRotation(next, later, settings);
    expect(plan2.replaceServing).toBe('IssuerNotTrusted');
    const third = await applyRotation(next, plan2, later, settings);
    expect(isIssuedBy(third.serving.cert, next.ca.cert)).toBe(true);
    expect(splitPemCertificates(third.caBundle)).toHaveLength(1);
  });

  it('starts over when the stored material is unreadable or the CA expired', async () => {
    const material = await fresh();
    expect(planRotation({ ...material, ca: { ...material.ca, key: 'garbage' } }, T0, settings).replaceCa).toBe('Unreadable');
    expect(planRotation(material, after(31 * DAY), settings).replaceCa).toBe('Unreadable');
    const next = await applyRotation(material, planRotation(material, after(31 * DAY), settings), after(31 * DAY), settings);
    expect(splitPemCertificates(next.caBundle)).toHaveLength(1);
    expect(isIssuedBy(next.serving.cert, next.ca.cert)).toBe(true);
  });
});
