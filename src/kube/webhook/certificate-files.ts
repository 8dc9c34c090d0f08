// Serving certificate from files: tls.crt and tls.key (and ca.crt if present)
// in one directory, as a mounted kubernetes.io/tls Secret lays them out
// (cert-manager, Helm). The files are read again when the directory changes
// (kubelet swaps a mounted Secret's files at once through a symlink) and on a
// periodic check, for filesystems whose events do not arrive.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';
import type { Cancel, Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import { CertificateError, checkKeyPair } from './certificates.js';
import {
  CertificateListeners,
  sameCertificate,
  type CertificateListener,
  type CertificateSource,
  type ServingCertificate,
} from './certificate-source.js';

export const TLS_CERT_FILE = 'tls.crt';
export const TLS_KEY_FILE = 'tls.key';
export const CA_CERT_FILE = 'ca.crt';
export const DEFAULT_FILE_CHECK_INTERVAL_MS = 60_000;

export interface DirectoryCertificateOptions {
  dir: string;
  clock?: Clock;
  /** How often the files are read again even without a change event. */
  checkIntervalMs?: number;
  /** Watch the directory for changes (default true); the periodic check runs either way. */
  watch?: boolean;
  logger?: Logger;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readCertificateDirectory(dir: string): Promise<ServingCertificate> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(join(dir, TLS_CERT_FILE), 'utf8'), readFile(join(dir, TLS_KEY_FILE), 'utf8')]);
  } catch (err) {
    throw new CertificateError(
      `cannot read the webhook certificate from ${dir}: it must hold ${TLS_CERT_FILE} and ${TLS_KEY_FILE} (mount a kubernetes.io/tls Secret there)`,
      { cause: err },
    );
  }
  const caBundle = await readOptional(join(dir, CA_CERT_FILE));
  const info = checkKeyPair({ cert, key }, `the webhook certificate in ${dir}`);
  return { cert, key, info, ...(caBundle !== undefined && caBundle.trim() !== '' ? { caBundle } : {}) };
}

export class DirectoryCertificateSource implements CertificateSource {
  readonly dir: string;
  #certificate: ServingCertificate;
  #listeners = new CertificateListeners();
  #clock: Clock;
  #logger: Logger;
  #checkIntervalMs: number;
  #watcher: FSWatcher | undefined;
  #cancelTimer: Cancel | undefined;
  #reloading: Promise<boolean> | undefined;
  #again = false;
  #closed = false;

  private constructor(dir: string, certificate: ServingCertificate, options: DirectoryCertificateOptions) {
    this.dir = dir;
    this.#certificate = certificate;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger();
    this.#checkIntervalMs = options.checkIntervalMs ?? DEFAULT_FILE_CHECK_INTERVAL_MS;
  }

  /** Reads the directory (failing if it holds no usable key pair) and starts watching it. */
  static async open(options: DirectoryCertificateOptions): Promise<DirectoryCertificateSource> {
    const source = new DirectoryCertificateSource(options.dir, await readCertificateDirectory(options.dir), options);
    if (options.watch !== false) source.#startWatching();
    source.#armTimer();
    return source;
  }

  current(): ServingCertificate {
    return this.#certificate;
  }

  onChange(listener: CertificateListener): () => void {
    return this.#listeners.add(listener);
  }

  /**
   * Reads the files again; returns whether the key pair changed. A half-written
   * pair (new certificate, old key) is ignored: the old one keeps serving until
   * the next event or check finds a matching pair.
   */
  reload(): Promise<boolean> {
    if (this.#reloading) {
      this.#again = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      let changed = false;
      do {
        this.#again = false;
        changed = (await this.#readOnce()) || changed;
      } while (this.#again && !this.#closed);
      return changed;
    })().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #readOnce(): Promise<boolean> {
    let next: ServingCertificate;
    try {
      next = await readCertificateDirectory(this.dir);
    } catch (err) {
      this.#logger.warn({ dir: this.dir, err: errorMessage(err) }, 'webhook certificate files not usable; still serving the previous certificate');
      return false;
    }
    if (this.#closed || sameCertificate(this.#certificate, next)) return false;
    this.#certificate = next;
    this.#logger.info(
      { dir: this.dir, notAfter: next.info.notAfter.toISOString(), fingerprint: next.info.fingerprint256 },
      'webhook certificate reloaded from files',
    );
    this.#listeners.notify(next);
    return true;
  }

  #startWatching(): void {
    try {
      this.#watcher = watch(this.dir, { persistent: false }, () => void this.reload());
      this.#watcher.on('error', (err) => {
        this.#logger.warn({ dir: this.dir, err: errorMessage(err) }, 'cannot watch the webhook certificate directory; relying on the periodic check');
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (err) {
      this.#logger.warn({ dir: this.dir, err: errorMessage(err) }, 'cannot watch the webhook certificate directory; relying on the periodic check');
    }
  }

  #armTimer(): void {
    if (this.#closed) return;
    this.#cancelTimer = this.#clock.schedule(this.#checkIntervalMs, () => {
      void this.reload().finally(() => this.#armTimer());
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    this.#cancelTimer?.();
    this.#listeners.clear();
    await this.#reloading;
  }
}
