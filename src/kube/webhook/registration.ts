// The ValidatingWebhookConfiguration that sends Gatehouse's kinds to the
// webhook, and keeping its CA bundle in step with the serving certificate.
// The Helm chart renders the same object as buildValidatingWebhookConfiguration.
import type { KubeConfig, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION_NAME, FIELD_MANAGER } from '../../model/common.js';
import { KIND_NAMES, KINDS } from '../../model/kinds.js';
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';
import type { Cancel, Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { CertificateSource } from './certificate-source.js';

export const DEFAULT_WEBHOOK_CONFIG_NAME = 'gatehouse';
/** The one webhook in the configuration; a webhook name needs three dot-separated parts. */
export const WEBHOOK_NAME = 'validate.gatehouse.dev';
/** One path for all four kinds. */
export const WEBHOOK_PATH = '/validate';
/** Where the mutating webhook (changed-by stamp, identity-store finalizer) answers. */
export const MUTATING_WEBHOOK_PATH = '/mutate';
export const WEBHOOK_TIMEOUT_SECONDS = 5;
export const DEFAULT_REGISTRATION_RESYNC_MS = 60_000;

export class WebhookRegistrationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WebhookRegistrationError';
  }
}

export interface WebhookConfigurationSpec {
  /** metadata.name of the ValidatingWebhookConfiguration. */
  name: string;
  /** In a cluster: the Service in front of the webhook (port 443, path /validate). */
  service?: string;
  /** The Service's namespace (also the operator's). */
  namespace?: string;
  servicePort?: number;
  /** Outside a cluster: the URL the API server calls. */
  url?: string;
  /** PEM bundle of the CAs the API server should trust for the webhook. */
  caBundle?: string;
  /**
   * A username the webhook is not called for: the operator's own service
   * account (system:serviceaccount:NAMESPACE:NAME), so its writes never wait
   * on itself. Leave it out when the operator runs as a person's user.
   */
  excludeUsername?: string;
}

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** The URL the webhook should be registered at: the path defaults to /validate. */
export function webhookUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WebhookRegistrationError(`--webhook-url ${JSON.stringify(url)} is not a URL; use https://HOST:PORT${WEBHOOK_PATH}`);
  }
  if (parsed.protocol !== 'https:') throw new WebhookRegistrationError(`--webhook-url ${url} must use https (the API server calls webhooks over TLS only)`);
  if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '') {
    throw new WebhookRegistrationError(`--webhook-url ${url} must not carry credentials, a query or a fragment`);
  }
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = WEBHOOK_PATH;
  return parsed.toString();
}

/**
 * The ValidatingWebhookConfiguration for Gatehouse: CREATE, UPDATE and DELETE
 * of the four kinds (not their status), failing closed, with a short timeout.
 */
export function buildValidatingWebhookConfiguration(spec: WebhookConfigurationSpec): V1ValidatingWebhookConfiguration {
  if ((spec.service === undefined) === (spec.url === undefined)) {
    throw new WebhookRegistrationError('the webhook configuration needs either a service (in a cluster) or a url (outside), not both');
  }
  if (spec.service !== undefined && spec.namespace === undefined) {
    throw new WebhookRegistrationError(`the webhook configuration for service ${spec.service} needs its namespace`);
  }
  const clientConfig =
    spec.url !== undefined
      ? { url: webhookUrl(spec.url) }
      : { service: { name: spec.service as string, namespace: spec.namespace as string, path: WEBHOOK_PATH, port: spec.servicePort ?? 443 } };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: {
      name: spec.name,
      labels: { 'app.kubernetes.io/name': 'gatehouse', 'app.kubernetes.io/component': 'webhook' },
    },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        admissionReviewVersions: ['v1'],
        clientConfig: {
          ...clientConfig,
          ...(spec.caBundle !== undefined ? { caBundle: Buffer.from(spec.caBundle, 'utf8').toString('base64') } : {}),
        },
        rules: [
          {
            apiGroups: [API_GROUP],
            apiVersions: [API_VERSION_NAME],
            operations: ['CREATE', 'UPDATE', 'DELETE'],
            // The main resources only: status writes (the operator's) never reach the webhook.
            resources: KIND_NAMES.map((kind) => KINDS[kind].plural),
            scope: 'Namespaced',
          },
        ],
        matchPolicy: 'Equivalent',
        failurePolicy: 'Fail',
        // An admitted DELETE records who asked (a deletion claim); a dry run records nothing.
        sideEffects: 'NoneOnDryRun',
        timeoutSeconds: WEBHOOK_TIMEOUT_SECONDS,
        ...(spec.excludeUsername !== undefined
          ? {
              matchConditions: [
                {
                  name: 'exclude-gatehouse-operator',
                  expression: `request.userInfo.username != ${JSON.stringify(spec.excludeUsername)}`,
                },
              ],
            }
          : {}),
      },
    ],
  };
}

/**
 * The mutating webhook that stamps gatehouse.dev/changed-by (docs/security.md)
 * and puts the identity-store finalizer on new objects (docs/operator.md). The
 * name stays as first installed, so upgrades replace rather than duplicate it.
 */
export const MUTATING_WEBHOOK_NAME = 'changed-by.gatehouse.dev';

/**
 * The MutatingWebhookConfiguration that stamps who changed an object and adds
 * the identity-store finalizer on create, as the Helm chart declares it:
 * CREATE and UPDATE of the four kinds, at /mutate beside /validate, failing
 * open (the stamp is a record, not a gate, and the validating webhook refuses
 * a forged one; a missed finalizer costs the reconciler one patch).
 */
export function buildMutatingWebhookConfiguration(spec: WebhookConfigurationSpec): V1ValidatingWebhookConfiguration {
  const validating = buildValidatingWebhookConfiguration(spec);
  const [hook] = validating.webhooks ?? [];
  if (hook === undefined) throw new WebhookRegistrationError('the validating webhook configuration has no webhook');
  const clientConfig =
    hook.clientConfig.url !== undefined
      ? { ...hook.clientConfig, url: new URL(MUTATING_WEBHOOK_PATH, hook.clientConfig.url).toString() }
      : { ...hook.clientConfig, service: { ...hook.clientConfig.service, path: MUTATING_WEBHOOK_PATH } as NonNullable<typeof hook.clientConfig.service> };
  return {
    ...validating,
    kind: 'MutatingWebhookConfiguration',
    webhooks: [
      {
        ...hook,
        name: MUTATING_WEBHOOK_NAME,
        clientConfig,
        rules: (hook.rules ?? []).map((rule) => ({ ...rule, operations: ['CREATE', 'UPDATE'] })),
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        reinvocationPolicy: 'Never',
      } as NonNullable<V1ValidatingWebhookConfiguration['webhooks']>[number],
    ],
  };
}

function statusCodeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export type RegistrationResult = 'created' | 'updated' | 'unchanged' | 'missing';

/** The webhook configuration API, as registration needs it. */
export interface WebhookConfigurationClient {
  read(name: string): Promise<V1ValidatingWebhookConfiguration | undefined>;
  create(body: V1ValidatingWebhookConfiguration): Promise<void>;
  replace(body: V1ValidatingWebhookConfiguration): Promise<void>;
}

export function kubernetesWebhookConfigurationClient(kubeConfig: KubeConfig): WebhookConfigurationClient {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  return {
    async read(name) {
      try {
        return await api.readValidatingWebhookConfiguration({ name });
      } catch (err) {
        if (statusCodeOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(body) {
      await api.createValidatingWebhookConfiguration({ body, fieldManager: FIELD_MANAGER });
    },
    async replace(body) {
      await api.replaceValidatingWebhookConfiguration({ name: body.metadata?.name ?? '', body, fieldManager: FIELD_MANAGER });
    },
  };
}

/**
 * The same API for the MutatingWebhookConfiguration that stamps
 * gatehouse.dev/changed-by: registration touches only metadata and each
 * webhook's clientConfig, which both kinds share.
 */
export function kubernetesMutatingWebhookConfigurationClient(kubeConfig: KubeConfig): WebhookConfigurationClient {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  return {
    async read(name) {
      try {
        return (await api.readMutatingWebhookConfiguration({ name })) as unknown as V1ValidatingWebhookConfiguration;
      } catch (err) {
        if (statusCodeOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(body) {
      await api.createMutatingWebhookConfiguration({ body: body as never, fieldManager: FIELD_MANAGER });
    },
    async replace(body) {
      await api.replaceMutatingWebhookConfiguration({ name: body.metadata?.name ?? '', body: body as never, fieldManager: FIELD_MANAGER });
    },
  };
}

const MAX_CONFLICT_RETRIES = 5;

/**
 * Whether every field of `desired` has the same value in `actual`, lists item
 * by item with the same length. The API server adds defaults (selectors,
 * port, scope); they do not count as a difference.
 */
export function isContainedIn(desired: unknown, actual: unknown): boolean {
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && desired.length === actual.length && desired.every((item, i) => isContainedIn(item, actual[i]));
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false;
    return Object.entries(desired).every(
      ([key, value]) => value === undefined || isContainedIn(value, (actual as Record<string, unknown>)[key]),
    );
  }
  return desired === actual;
}

async function retryOnConflict(fn: () => Promise<RegistrationResult>): Promise<RegistrationResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (statusCodeOf(err) !== 409 || attempt >= MAX_CONFLICT_RETRIES) throw err;
    }
  }
}

/**
 * Development mode: creates the configuration, or brings an existing one's
 * webhooks to `desired` (keeping its metadata), writing only when different.
 */
export async function ensureWebhookConfiguration(
  client: WebhookConfigurationClient,
  desired: V1ValidatingWebhookConfiguration,
): Promise<RegistrationResult> {
  const name = desired.metadata?.name ?? '';
  return retryOnConflict(async () => {
    const current = await client.read(name);
    if (current === undefined) {
      try {
        await client.create(desired);
        return 'created';
      } catch (err) {
        // Created by someone else meanwhile: update it on the next pass.
        if (statusCodeOf(err) === 409) throw Object.assign(new Error('created concurrently'), { code: 409 });
        throw err;
      }
    }
    if (isContainedIn(desired.webhooks ?? [], current.webhooks ?? [])) return 'unchanged';
    await client.replace({
      ...current,
      metadata: { ...current.metadata, labels: { ...current.metadata?.labels, ...desired.metadata?.labels } },
      webhooks: desired.webhooks ?? [],
    });
    return 'updated';
  });
}

/**
 * In a cluster: sets `caBundle` on every webhook of configuration `name` (made
 * by the Helm chart) that does not have it already. 'missing' when the
 * configuration does not exist (yet).
 */
export async function injectCaBundle(client: WebhookConfigurationClient, name: string, caBundle: string): Promise<RegistrationResult> {
  const encoded = Buffer.from(caBundle, 'utf8').toString('base64');
  return retryOnConflict(async () => {
    const current = await client.read(name);
    if (current === undefined) return 'missing';
    const webhooks = current.webhooks ?? [];
    if (webhooks.every((webhook) => webhook.clientConfig.caBundle === encoded)) return 'unchanged';
    await client.replace({
      ...current,
      webhooks: webhooks.map((webhook) => ({ ...webhook, clientConfig: { ...webhook.clientConfig, caBundle: encoded } })),
    });
    return 'updated';
  });
}

export interface WebhookRegistrarOptions {
  client: WebhookConfigurationClient;
  source: CertificateSource;
  /** Register the whole configuration (development, --webhook-url) or only inject the CA bundle (in a cluster). */
  mode: { register: WebhookConfigurationSpec } | { injectInto: string };
  /** Which configuration `register` builds: the validating one (default) or the changed-by mutating one. */
  build?: (spec: WebhookConfigurationSpec) => V1ValidatingWebhookConfiguration;
  clock?: Clock;
  logger?: Logger;
  /** How often the configuration is checked again, to repair a Helm upgrade or a person's edit. */
  resyncIntervalMs?: number;
}

/**
 * Keeps the webhook configuration in step with the certificate source: on
 * every certificate change and on a periodic check. Failures are logged and
 * retried; they never stop the webhook from serving.
 */
export class WebhookRegistrar {
  #options: WebhookRegistrarOptions;
  #clock: Clock;
  #logger: Logger;
  #cancelTimer: Cancel | undefined;
  #stopListening: () => void = () => {};
  #running: Promise<RegistrationResult | undefined> | undefined;
  #again = false;
  #closed = false;
  /** The result of the last attempt; undefined before the first. */
  lastResult: RegistrationResult | undefined;
  lastError: unknown;

  constructor(options: WebhookRegistrarOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger();
  }

  /** Registers (or injects) once, then follows certificate changes. Resolves after the first attempt. */
  async start(): Promise<RegistrationResult | undefined> {
    this.#stopListening = this.#options.source.onChange(() => void this.sync());
    return this.sync();
  }

  /** One attempt now (joined with one in progress, then repeated once if asked again meanwhile). */
  sync(): Promise<RegistrationResult | undefined> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      let result: RegistrationResult | undefined;
      do {
        this.#again = false;
        result = await this.#syncOnce();
      } while (this.#again && !this.#closed);
      return result;
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #syncOnce(): Promise<RegistrationResult | undefined> {
    this.#cancelTimer?.();
    const { client, source, mode } = this.#options;
    const kind = this.#options.build === buildMutatingWebhookConfiguration ? 'MutatingWebhookConfiguration' : 'ValidatingWebhookConfiguration';
    const caBundle = source.current().caBundle ?? source.current().cert;
    let result: RegistrationResult | undefined;
    try {
      if ('register' in mode) {
        const build = this.#options.build ?? buildValidatingWebhookConfiguration;
        result = await ensureWebhookConfiguration(client, build({ ...mode.register, caBundle }));
      } else {
        result = await injectCaBundle(client, mode.injectInto, caBundle);
      }
      this.lastError = undefined;
      const name = 'register' in mode ? mode.register.name : mode.injectInto;
      if (result === 'missing') {
        this.#logger.warn({ webhookConfiguration: name }, `${kind} not found; its CA bundle will be set once it exists (install it with the Helm chart)`);
      } else if (result !== 'unchanged') {
        this.#logger.info({ webhookConfiguration: name, result }, `${kind} updated`);
      }
    } catch (err) {
      this.lastError = err;
      this.#logger.error({ err: errorMessage(err) }, `cannot update the ${kind}; retrying`);
    }
    this.lastResult = result;
    if (!this.#closed) {
      this.#cancelTimer = this.#clock.schedule(this.#options.resyncIntervalMs ?? DEFAULT_REGISTRATION_RESYNC_MS, () => void this.sync());
    }
    return result;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopListening();
    this.#cancelTimer?.();
    await this.#running;
  }
}
