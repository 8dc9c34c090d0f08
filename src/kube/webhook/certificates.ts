// Certificates for the admission webhook's HTTPS server: a CA and a serving
// certificate generated with WebCrypto (ECDSA P-256, SHA-256), and the pure
// decisions about when each must be replaced. Reading and writing them (files,
// a Secret) lives in certificate-files.ts and certificate-secret.ts.
// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Lifetimes of self-managed certificates. The CA lives long because every
 * change of it has to reach the API server through the webhook configuration;
 * the serving certificate lives short because replacing it costs nothing.
 */
export const DEFAULT_CA_VALIDITY_MS = 5 * 365 * DAY_MS;
export const DEFAULT_SERVING_VALIDITY_MS = 90 * DAY_MS;
/** A certificate is replaced once this share of its lifetime has passed. */
export const ROTATE_AFTER_FRACTION = 2 / 3;
/** notBefore is set this far in the past, so clocks running a little behind still accept it. */
export const BACKDATE_MS = 5 * 60_000;

/** A certificate and its private key, both PEM. */
export interface KeyPairPem {
  cert: string;
  key: string;
}

export class CertificateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CertificateError';
  }
}

type CryptoKey = webcrypto.CryptoKey;

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  // Accepts PKCS#8 and SEC1 ("EC PRIVATE KEY") PEM: node reads both, WebCrypto wants PKCS#8.
  let der: Buffer;
  try {
    der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  } catch (err) {
    throw new CertificateError('the CA private key is not a readable PEM private key', { cause: err });
  }
  try {
    return await webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
  } catch (err) {
    throw new CertificateError('the CA private key is not an ECDSA P-256 key', { cause: err });
  }
}

function validity(notBefore: Date, validityMs: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(notBefore.getTime() - BACKDATE_MS), notAfter: new Date(notBefore.getTime() + validityMs) };
}

/** Creates a self-signed CA that signs serving certificates and nothing else (path length 0). */
export async function createCertificateAuthority(options: {
  commonName: string;
  at: Date;
  validityMs?: number;
}): Promise<KeyPairPem> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [options.commonName] }, { O: ['Gatehouse'] }],
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    ...validity(options.at, options.validityMs ?? DEFAULT_CA_VALIDITY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

/** Issues a TLS server certificate for `hosts` (DNS names and IP addresses) signed by `ca`. */
export async function issueServingCertificate(options: {
  ca: KeyPairPem;
  hosts: readonly string[];
  at: Date;
  validityMs?: number;
  /** clientAuth: a certificate a client presents (the API server's, in tests of --webhook-client-ca). */
  usage?: 'serverAuth' | 'clientAuth';
}): Promise<KeyPairPem> {
  if (options.hosts.length === 0) throw new CertificateError('a serving certificate needs at least one DNS name or IP address');
  const caCert = new x509.X509Certificate(options.ca.cert);
  const caKey = await importSigningKey(options.ca.key);
  const keys = await generateKeys();
  const first = options.hosts[0] as string;
  // A certificate outliving its issuer would fail verification before its own rotation point.
  const servingValidity = validity(options.at, options.validityMs ?? DEFAULT_SERVING_VALIDITY_MS);
  if (servingValidity.notAfter > caCert.notAfter) servingValidity.notAfter = caCert.notAfter;
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [first.length <= 64 ? first : 'gatehouse-webhook'] }],
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    ...servingValidity,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([options.usage === 'clientAuth' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        options.hosts.map((host) => ({ type: isIP(host) ? ('ip' as const) : ('dns' as const), value: host })),
        false,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

/** What Gatehouse needs to know about one certificate. */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  /** DNS names and IP addresses from subjectAltName. */
  hosts: string[];
  fingerprint256: string;
}

function parseCertificate(pem: string, what: string): NodeX509Certificate {
  try {
    return new NodeX509Certificate(pem);
  } catch (err) {
    throw new CertificateError(`${what} is not a readable PEM certificate`, { cause: err });
  }
}

/** IPv6 addresses in their short form (node prints ::1 as 0:0:0:0:0:0:0:1), other hosts as they are. */
export function canonicalHost(host: string): string {
  return isIP(host) === 6 ? new URL(`http://[${host}]/`).hostname.slice(1, -1) : host;
}

/** The PEM blocks of a bundle, in order. */
export function splitPemCertificates(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export function describeCertificate(pem: string, what = 'the certificate'): CertificateInfo {
  const cert = parseCertificate(pem, what);
  const hosts = (cert.subjectAltName ?? '')
    .split(', ')
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
    .filter((host): host is string => host !== undefined)
    .map(canonicalHost);
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    isCa: cert.ca,
    hosts,
    fingerprint256: cert.fingerprint256,
  };
}

/**
 * Checks that `pair` can serve TLS: the key matches the certificate. Returns
 * the certificate's description; throws CertificateError naming the problem.
 */
export function checkKeyPair(pair: KeyPairPem, what: string): CertificateInfo {
  const first = splitPemCertificates(pair.cert)[0];
  if (first === undefined) throw new CertificateError(`${what}: no PEM certificate found`);
  const cert = parseCertificate(first, what);
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (err) {
    throw new CertificateError(`${what}: the private key is not a readable PEM private key`, { cause: err });
  }
  if (!cert.checkPrivateKey(key)) throw new CertificateError(`${what}: the private key does not belong to the certificate`);
  return describeCertificate(first, what);
}

/** Whether `cert` was signed by `caCert`. */
export function isIssuedBy(certPem: string, caCertPem: string): boolean {
  const cert = parseCertificate(certPem, 'the certificate');
  const ca = parseCertificate(caCertPem, 'the CA certificate');
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** When a certificate should be replaced: after ROTATE_AFTER_FRACTION of its lifetime. */
export function rotationDueAt(info: Pick<CertificateInfo, 'notBefore' | 'notAfter'>): Date {
  const lifetime = info.notAfter.getTime() - info.notBefore.getTime();
  return new Date(info.notBefore.getTime() + lifetime * ROTATE_AFTER_FRACTION);
}

/**
 * The DNS names and addresses a serving certificate must cover: the Service's
 * names in the cluster and, for development, the host of the webhook URL and
 * the loopback names.
 */
export function servingHosts(options: { service?: { name: string; namespace: string }; url?: string }): string[] {
  const hosts: string[] = [];
  if (options.service) {
    const { name, namespace } = options.service;
    hosts.push(`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`, `${name}.${namespace}`, name);
  }
  if (options.url !== undefined) {
    const host = new URL(options.url).hostname.replace(/^\[(.*)\]$/, '$1');
    if (host !== '') hosts.push(host);
  }
  hosts.push('localhost', '127.0.0.1', '::1');
  return [...new Set(hosts)];
}

/**
 * Self-managed TLS material as persisted: the CA that signs now (with its
 * key), the CAs still trusted (the bundle the API server gets), and the
 * serving key pair.
 */
export interface ManagedTlsMaterial {
  ca: KeyPairPem;
  /** PEM bundle of every CA the API server should trust: the current CA first, then older ones still valid. */
  caBundle: string;
  serving: KeyPairPem;
}

export interface RotationSettings {
  hosts: readonly string[];
  caValidityMs?: number;
  servingValidityMs?: number;
  caCommonName?: string;
}

export type RotationReason =
  | 'Missing'
  | 'Unreadable'
  | 'CaRotationDue'
  | 'ServingRotationDue'
  | 'HostsChanged'
  | 'IssuerNotTrusted';

export interface RotationPlan {
  /** What has to be replaced, and why; empty when nothing does. */
  replaceCa?: RotationReason;
  replaceServing?: RotationReason;
  /** When the material should next be looked at, whatever happens now. */
  nextCheckAt: Date;
}

/**
 * Decides what to replace in `material` at `at`. Pure, so rotation is
 * tested by moving a clock. A CA past its rotation point is replaced, but
 * the old one stays in the bundle until it expires, and the serving
 * certificate it signed keeps serving until its own rotation point: the
 * API server has by then long had the new bundle.
 */
export function planRotation(material: ManagedTlsMaterial | undefined, at: Date, settings: RotationSettings): RotationPlan {
  const now = at.getTime();
  const retryAt = new Date(now + 60_000);
  if (material === undefined) return { replaceCa: 'Missing', replaceServing: 'Missing', nextCheckAt: retryAt };
  let ca: CertificateInfo;
  let serving: CertificateInfo;
  try {
    ca = checkKeyPair(material.ca, 'the webhook CA');
    serving = checkKeyPair(material.serving, 'the webhook serving certificate');
  } catch {
    return { replaceCa: 'Unreadable', replaceServing: 'Unreadable', nextCheckAt: retryAt };
  }
  if (!ca.isCa || ca.notAfter.getTime() <= now) return { replaceCa: 'Unreadable', replaceServing: 'Unreadable', nextCheckAt: retryAt };
  const plan: RotationPlan = { nextCheckAt: retryAt };
  const caDue = rotationDueAt(ca).getTime();
  if (now >= caDue) plan.replaceCa = 'CaRotationDue';

  const trusted = splitPemCertificates(material.caBundle).filter((pem) => {
    try {
      return describeCertificate(pem).notAfter.getTime() > now && isIssuedBy(material.serving.cert, pem);
    } catch {
      return false;
    }
  });
  const servingDue = rotationDueAt(serving).getTime();
  if (trusted.length === 0) plan.replaceServing = 'IssuerNotTrusted';
  else if (now >= servingDue || serving.notAfter.getTime() <= now) plan.replaceServing = 'ServingRotationDue';
  else if (settings.hosts.some((host) => !serving.hosts.includes(canonicalHost(host)))) plan.replaceServing = 'HostsChanged';

  const next = Math.min(plan.replaceCa ? Number.POSITIVE_INFINITY : caDue, plan.replaceServing ? Number.POSITIVE_INFINITY : servingDue);
  plan.nextCheckAt = new Date(Number.isFinite(next) ? next : now);
  return plan;
}

/** Carries out `plan`: new CA and/or serving certificate; returns the material to persist. */
export async function applyRotation(
  material: ManagedTlsMaterial | undefined,
  plan: RotationPlan,
  at: Date,
  settings: RotationSettings,
): Promise<ManagedTlsMaterial> {
  if (material !== undefined && plan.replaceCa === undefined && plan.replaceServing === undefined) return material;
  const commonName = settings.caCommonName ?? 'Gatehouse webhook CA';
  let ca = material?.ca;
  let bundle: string[] = material ? splitPemCertificates(material.caBundle) : [];
  if (ca === undefined || plan.replaceCa !== undefined) {
    ca = await createCertificateAuthority({ commonName, at, ...(settings.caValidityMs ? { validityMs: settings.caValidityMs } : {}) });
    // Unreadable material is replaced outright; a CA due for rotation stays trusted until it expires.
    bundle = plan.replaceCa === 'CaRotationDue' ? [ca.cert, ...bundle] : [ca.cert];
  }
  // Keep only CAs that are still valid; the current one always first.
  const now = at.getTime();
  bundle = bundle.filter((pem, i) => {
    try {
      return i === 0 || describeCertificate(pem).notAfter.getTime() > now;
    } catch {
      return false;
    }
  });
  // A serving certificate issued in the same pass as a CA rotation is signed
  // by the outgoing CA (still valid for a third of its life): the API server
  // may not have the new bundle yet. The next rotation uses the new CA.
  const signer = plan.replaceCa === 'CaRotationDue' && material !== undefined ? material.ca : ca;
  const serving =
    material === undefined || plan.replaceServing !== undefined || plan.replaceCa === 'Unreadable'
      ? await issueServingCertificate({
          ca: signer,
          hosts: settings.hosts,
          at,
          ...(settings.servingValidityMs ? { validityMs: settings.servingValidityMs } : {}),
        })
      : material.serving;
  return { ca, caBundle: bundle.map((pem) => pem.trim()).join('\n') + '\n', serving };
}
