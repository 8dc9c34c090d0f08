// Self-managed webhook certificates: Gatehouse generates a CA and a serving
// certificate, keeps them in one kubernetes.io/tls Secret (so every replica
// serves the same pair and a restart keeps the CA the API server trusts), and
// replaces them before they expire. Replicas race on rotation through the
// Secret's resourceVersion: the loser of a 409 reads the winner's pair.
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';
import type { Cancel, Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import { FIELD_MANAGER } from '../../model/common.js';
import {
  applyRotation,
  checkKeyPair,
  planRotation,
  type ManagedTlsMaterial,
  type RotationPlan,
  type RotationSettings,
} from './certificates.js';
import {
  CertificateListeners,
  sameCertificate,
  type CertificateListener,
  type CertificateSource,
  type ServingCertificate,
} from './certificate-source.js';
import { CA_CERT_FILE, TLS_CERT_FILE, TLS_KEY_FILE } from './certificate-files.js';

/** Key of the CA's private key in the Secret, next to the kubernetes.io/tls keys. */
export const CA_KEY_FILE = 'ca.key';
export const DEFAULT_WEBHOOK_SECRET = 'gatehouse-webhook-tls';
/** Even with nothing due, the Secret is read this often, to notice another replica's or a person's change. */
export const DEFAULT_SECRET_RESYNC_MS = 5 * 60_000;
const MAX_CONFLICT_RETRIES = 5;

/** A write lost a race with another writer (HTTP 409); read again and retry. */
export class SecretConflictError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SecretConflictError';
  }
}

export interface StoredTlsSecret {
  /** undefined when the Secret exists but does not hold a complete set. */
  material: ManagedTlsMaterial | undefined;
  resourceVersion: string;
}

/** Where self-managed material is kept. The Kubernetes implementation is below; tests may bring their own. */
export interface TlsSecretStore {
  readonly description: string;
  /** undefined when the Secret does not exist. */
  read(): Promise<StoredTlsSecret | undefined>;
  /** Creates the Secret; SecretConflictError when it exists already. */
  create(material: ManagedTlsMaterial): Promise<void>;
  /** Replaces the Secret if it is still at `resourceVersion`; SecretConflictError otherwise. */
  replace(material: ManagedTlsMaterial, resourceVersion: string): Promise<void>;
}

function statusCodeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const value = data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

export function secretToMaterial(secret: V1Secret): ManagedTlsMaterial | undefined {
  const cert = decode(secret.data, TLS_CERT_FILE);
  const key = decode(secret.data, TLS_KEY_FILE);
  const caCert = decode(secret.data, CA_CERT_FILE);
  const caKey = decode(secret.data, CA_KEY_FILE);
  if (!cert || !key || !caCert || !caKey) return undefined;
  // ca.crt holds the bundle; the signing CA is its first certificate.
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(caCert)?.[0];
  if (first === undefined) return undefined;
  return { ca: { cert: first + '\n', key: caKey }, caBundle: caCert, serving: { cert, key } };
}

export function materialToSecret(material: ManagedTlsMaterial, name: string, namespace: string, resourceVersion?: string): V1Secret {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name,
      namespace,
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
      labels: { 'app.kubernetes.io/managed-by': 'gatehouse', 'app.kubernetes.io/component': 'webhook' },
      annotations: { 'gatehouse.dev/description': 'Admission webhook CA and serving certificate, generated and rotated by Gatehouse.' },
    },
    data: {
      [TLS_CERT_FILE]: b64(material.serving.cert),
      [TLS_KEY_FILE]: b64(material.serving.key),
      [CA_CERT_FILE]: b64(material.caBundle),
      [CA_KEY_FILE]: b64(material.ca.key),
    },
  };
}

/** Keeps the material in Secret `name` in `namespace` through the real client. */
export function kubernetesTlsSecretStore(kubeConfig: KubeConfig, namespace: string, name: string): TlsSecretStore {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const description = `Secret ${namespace}/${name}`;
  const conflict = (err: unknown, what: string) =>
    statusCodeOf(err) === 409 ? new SecretConflictError(`${description} ${what}`, { cause: err }) : err;
  return {
    description,
    async read() {
      try {
        const secret = await api.readNamespacedSecret({ name, namespace });
        return { material: secretToMaterial(secret), resourceVersion: secret.metadata?.resourceVersion ?? '' };
      } catch (err) {
        if (statusCodeOf(err) === 404) return undefined;
        throw new Error(`cannot read ${description}`, { cause: err });
      }
    },
    async create(material) {
      try {
        await api.createNamespacedSecret({ namespace, body: materialToSecret(material, name, namespace), fieldManager: FIELD_MANAGER });
      } catch (err) {
        throw conflict(err, 'was created by someone else meanwhile');
      }
    },
    async replace(material, resourceVersion) {
      try {
        await api.replaceNamespacedSecret({
          name,
          namespace,
          body: materialToSecret(material, name, namespace, resourceVersion),
          fieldManager: FIELD_MANAGER,
        });
      } catch (err) {
        throw conflict(err, 'was changed by someone else meanwhile');
      }
    },
  };
}

export interface SelfManagedCertificateOptions extends RotationSettings {
  store: TlsSecretStore;
  clock?: Clock;
  logger?: Logger;
  resyncIntervalMs?: number;
}

function servingCertificateOf(material: ManagedTlsMaterial): ServingCertificate {
  return {
    cert: material.serving.cert,
    key: material.serving.key,
    caBundle: material.caBundle,
    info: checkKeyPair(material.serving, 'the webhook serving certificate'),
  };
}

export class SelfManagedCertificateSource implements CertificateSource {
  #options: SelfManagedCertificateOptions;
  #clock: Clock;
  #logger: Logger;
  #certificate: ServingCertificate | undefined;
  #listeners = new CertificateListeners();
  #cancelTimer: Cancel | undefined;
  #syncing: Promise<boolean> | undefined;
  #lastError: unknown;
  #closed = false;

  private constructor(options: SelfManagedCertificateOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger();
  }

  /** Reads (or creates) the Secret, rotating what is due, and keeps doing so on schedule. */
  static async open(options: SelfManagedCertificateOptions): Promise<SelfManagedCertificateSource> {
    const source = new SelfManagedCertificateSource(options);
    await source.sync();
    if (source.#certificate === undefined) {
      throw new Error(`cannot set up the webhook certificate in ${options.store.description}: ${errorMessage(source.#lastError)}`);
    }
    return source;
  }

  current(): ServingCertificate {
    if (this.#certificate === undefined) throw new Error('the webhook certificate is not loaded yet');
    return this.#certificate;
  }

  onChange(listener: CertificateListener): () => void {
    return this.#listeners.add(listener);
  }

  /** The last failure to read or write the Secret, if the latest sync failed. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** Waits for a sync in progress (started by the clock) to finish. */
  async whenIdle(): Promise<void> {
    await this.#syncing;
  }

  /**
   * Reads the Secret, replaces what is due and writes it back; returns whether
   * the serving certificate or CA bundle changed. Failures are kept in
   * lastError and retried on the next check; the current pair keeps serving.
   */
  sync(): Promise<boolean> {
    this.#syncing ??= this.#syncOnce().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #syncOnce(): Promise<boolean> {
    this.#cancelTimer?.();
    let nextCheckAt = new Date(this.#clock.now().getTime() + 60_000);
    let changed = false;
    try {
      const material = await this.#readRotateWrite();
      nextCheckAt = planRotation(material, this.#clock.now(), this.#options).nextCheckAt;
      const next = servingCertificateOf(material);
      if (!this.#closed && !sameCertificate(this.#certificate, next)) {
        this.#certificate = next;
        changed = true;
        this.#listeners.notify(next);
      }
      this.#lastError = undefined;
    } catch (err) {
      this.#lastError = err;
      this.#logger.error({ secret: this.#options.store.description, err: errorMessage(err) }, 'cannot update the webhook certificate; retrying in a minute');
    }
    this.#arm(nextCheckAt);
    return changed;
  }

  async #readRotateWrite(): Promise<ManagedTlsMaterial> {
    const { store } = this.#options;
    for (let attempt = 1; ; attempt++) {
      const stored = await store.read();
      const at = this.#clock.now();
      const plan: RotationPlan = planRotation(stored?.material, at, this.#options);
      if (stored?.material !== undefined && plan.replaceCa === undefined && plan.replaceServing === undefined) return stored.material;
      const material = await applyRotation(stored?.material, plan, at, this.#options);
      try {
        if (stored === undefined) await store.create(material);
        else await store.replace(material, stored.resourceVersion);
      } catch (err) {
        // Another replica rotated first: adopt its pair on the next pass.
        if (err instanceof SecretConflictError && attempt < MAX_CONFLICT_RETRIES) continue;
        throw err;
      }
      this.#logger.info(
        {
          secret: store.description,
          ...(plan.replaceCa ? { caReplaced: plan.replaceCa } : {}),
          ...(plan.replaceServing ? { servingReplaced: plan.replaceServing } : {}),
        },
        'webhook certificate written',
      );
      return material;
    }
  }

  #arm(nextCheckAt: Date): void {
    if (this.#closed) return;
    const now = this.#clock.now().getTime();
    const resync = this.#options.resyncIntervalMs ?? DEFAULT_SECRET_RESYNC_MS;
    const wait = Math.max(0, Math.min(nextCheckAt.getTime() - now, resync));
    this.#cancelTimer = this.#clock.schedule(wait, () => void this.sync());
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelTimer?.();
    this.#listeners.clear();
    await this.#syncing;
  }
}
