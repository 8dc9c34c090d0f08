// Where the webhook's serving certificate comes from. The server asks a source
// for the current key pair and swaps its TLS context when the source reports a
// new one; it does not care whether files or a Secret are behind it.
import { checkKeyPair, type CertificateInfo, type KeyPairPem } from './certificates.js';

export interface ServingCertificate extends KeyPairPem {
  /** PEM bundle of the CAs a client should trust for this certificate, when known. */
  caBundle?: string;
  info: CertificateInfo;
}

export type CertificateListener = (certificate: ServingCertificate) => void;

export interface CertificateSource {
  /** The key pair to serve with now. */
  current(): ServingCertificate;
  /** Calls `listener` whenever the key pair or CA bundle changes; returns a function that stops it. */
  onChange(listener: CertificateListener): () => void;
  close(): Promise<void>;
}

/** Keeps a source's listeners and tells them about a change. */
export class CertificateListeners {
  #listeners = new Set<CertificateListener>();

  add(listener: CertificateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  notify(certificate: ServingCertificate): void {
    for (const listener of this.#listeners) listener(certificate);
  }

  clear(): void {
    this.#listeners.clear();
  }
}

export function sameCertificate(a: ServingCertificate | undefined, b: ServingCertificate): boolean {
  return a !== undefined && a.cert === b.cert && a.key === b.key && a.caBundle === b.caBundle;
}

/** A fixed key pair (tests, or a caller that manages certificates itself). */
export class StaticCertificateSource implements CertificateSource {
  #certificate: ServingCertificate;
  #listeners = new CertificateListeners();

  constructor(pair: KeyPairPem & { caBundle?: string }) {
    this.#certificate = { ...pair, info: checkKeyPair(pair, 'the webhook serving certificate') };
  }

  current(): ServingCertificate {
    return this.#certificate;
  }

  onChange(listener: CertificateListener): () => void {
    return this.#listeners.add(listener);
  }

  /** Replaces the key pair, as a rotation would. */
  replace(pair: KeyPairPem & { caBundle?: string }): void {
    this.#certificate = { ...pair, info: checkKeyPair(pair, 'the webhook serving certificate') };
    this.#listeners.notify(this.#certificate);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
