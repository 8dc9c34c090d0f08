// The few Kubernetes API calls Gatehouse makes, over the real
// @kubernetes/client-node. Every resource Gatehouse touches lives in a named
// API group (gatehouse.dev, coordination.k8s.io, events.k8s.io), so the
// generic CustomObjectsApi paths serve them all. Errors come back as
// KubeApiError with the Status code and reason.
import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  ServerConfiguration,
  Watch,
  createConfiguration,
  setHeaderMiddleware,
  setHeaderOptions,
  type RequestContext,
  type SecurityAuthentication,
} from '@kubernetes/client-node';
import { API_GROUP, API_VERSION_NAME, KINDS, type Kind } from '../model/index.js';

export interface ResourceDescriptor {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export function gatehouseResource(kind: Kind): ResourceDescriptor {
  return { group: API_GROUP, version: API_VERSION_NAME, plural: KINDS[kind].plural, kind, namespaced: true };
}

export const LEASE_RESOURCE: ResourceDescriptor = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
};

export const EVENT_RESOURCE: ResourceDescriptor = {
  group: 'events.k8s.io',
  version: 'v1',
  plural: 'events',
  kind: 'Event',
  namespaced: true,
};

/** What every object the client returns has. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
  items: T[];
  resourceVersion: string;
}

/** One page of a list: `continue` is set while more pages follow. */
export interface ObjectListPage<T extends KubeObject = KubeObject> extends ObjectList<T> {
  continue?: string;
}

export interface ListPageOptions {
  /** Most items in the page (the server may send fewer). */
  limit: number;
  /** The token of the previous page. */
  continue?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export type PatchType = 'merge' | 'json' | 'apply';

export interface PatchOptions {
  type: PatchType;
  /** 'status' writes the status subresource. */
  subresource?: 'status';
  fieldManager?: string;
  /** Server-side apply only: take fields other managers own. */
  force?: boolean;
}

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: PatchStrategy.MergePatch,
  json: PatchStrategy.JsonPatch,
  apply: PatchStrategy.ServerSideApply,
};

/** A failed API call: the HTTP code and the Status reason the server sent. */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'KubeApiError';
  }

  static from(err: unknown, what: string): unknown {
    if (!(err instanceof ApiException)) return err;
    let reason = '';
    let message = `HTTP ${err.code}`;
    try {
      const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { reason?: string; message?: string } | undefined;
      reason = body?.reason ?? '';
      if (body?.message) message = body.message;
    } catch {
      // Not a Status body (a proxy's HTML page): keep the code.
    }
    return new KubeApiError(`${what}: ${message}`, err.code as number, reason);
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409;
}

export function isGone(err: unknown): boolean {
  return (err instanceof KubeApiError && err.code === 410) || (err as { statusCode?: number } | null)?.statusCode === 410;
}

function describe(resource: ResourceDescriptor, namespace: string | undefined, name?: string): string {
  const where = namespace !== undefined ? `${namespace}/` : '';
  return `${resource.kind} ${where}${name ?? ''}`.trim();
}

/**
 * Authenticates like the KubeConfig, but reuses one HTTP dispatcher (and so
 * its kept-alive connections). client-node 2.0.1 builds a new undici Agent
 * for every request whenever TLS options are set (a CA, client certificates,
 * or skipping verification), which means a new TCP and TLS connection per
 * call: costly in time and memory for a controller making thousands of calls.
 */
class PooledAuthentication implements SecurityAuthentication {
  #dispatcher: unknown;

  constructor(private readonly kubeConfig: KubeConfig) {}

  getName(): string {
    return 'gatehouse-pooled-kubeconfig';
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // Headers (tokens, exec plugins, refreshed credentials) are applied afresh on every request.
    await this.kubeConfig.applySecurityAuthentication(context);
    const created = context.getDispatcher();
    if (created === undefined) return;
    this.#dispatcher ??= created;
    if (created !== this.#dispatcher) context.setDispatcher(this.#dispatcher as typeof created);
  }
}

/**
 * How long one API call (not a watch) may take before it is abandoned. A call
 * that hangs must not hold anything up: a lease renewal stuck in flight would
 * otherwise keep a deposed leader believing it leads.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

function makeCustomObjectsApi(kubeConfig: KubeConfig, requestTimeoutMs: number): CustomObjectsApi {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the Kubernetes configuration names no current cluster');
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: new PooledAuthentication(kubeConfig) },
    middleware: [setHeaderMiddleware('User-Agent', 'gatehouse-operator')],
    promiseMiddleware: [
      {
        pre: async (context: RequestContext) => {
          context.setSignal(AbortSignal.timeout(requestTimeoutMs));
          return context;
        },
        post: async (response) => response,
      },
    ],
  });
  return new CustomObjectsApi(configuration);
}

export type WriteVerb = 'create' | 'update' | 'patch' | 'delete';

export interface KubeClientOptions {
  /** How long one API call may take before it is aborted (default DEFAULT_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** Called once per write request sent (create, update, patch, delete), whatever its outcome: the operator counts its API writes. */
  onWrite?: (verb: WriteVerb, resource: ResourceDescriptor, subresource?: string) => void;
}

export class KubeClient {
  readonly #api: CustomObjectsApi;
  readonly #watch: Watch;
  readonly #onWrite: KubeClientOptions['onWrite'];

  constructor(
    readonly kubeConfig: KubeConfig,
    options: KubeClientOptions = {},
  ) {
    this.#api = makeCustomObjectsApi(kubeConfig, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    this.#watch = new Watch(kubeConfig);
    this.#onWrite = options.onWrite;
  }

  /** The URL path of a resource's collection (one namespace, or all with undefined). */
  static collectionPath(resource: ResourceDescriptor, namespace?: string): string {
    const base = resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
    return namespace !== undefined && resource.namespaced
      ? `${base}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`
      : `${base}/${resource.plural}`;
  }

  async list<T extends KubeObject>(resource: ResourceDescriptor, namespace?: string): Promise<ObjectList<T>> {
    const { items, resourceVersion } = await this.#list<T>(resource, namespace, {});
    return { items, resourceVersion };
  }

  /**
   * One page of a list. Pages after the first come from the same snapshot
   * (the first page's resourceVersion); an expired token is a 410.
   */
  listPage<T extends KubeObject>(resource: ResourceDescriptor, namespace: string | undefined, options: ListPageOptions): Promise<ObjectListPage<T>> {
    return this.#list<T>(resource, namespace, { limit: options.limit, ...(options.continue ? { _continue: options.continue } : {}) });
  }

  async #list<T extends KubeObject>(resource: ResourceDescriptor, namespace: string | undefined, paging: { limit?: number; _continue?: string }): Promise<ObjectListPage<T>> {
    try {
      const common = { group: resource.group, version: resource.version, ...paging };
      const list = (namespace !== undefined && resource.namespaced
        ? await this.#api.listNamespacedCustomObject({ ...common, namespace, plural: resource.plural })
        : resource.namespaced
          ? await this.#api.listCustomObjectForAllNamespaces({ ...common, resourcePlural: resource.plural })
          : await this.#api.listClusterCustomObject({ ...common, plural: resource.plural })) as {
        items?: T[];
        metadata?: { resourceVersion?: string; continue?: string };
      };
      return {
        items: list.items ?? [],
        resourceVersion: list.metadata?.resourceVersion ?? '',
        ...(list.metadata?.continue ? { continue: list.metadata.continue } : {}),
      };
    } catch (err) {
      throw KubeApiError.from(err, `cannot list ${resource.plural}${namespace ? ` in ${namespace}` : ''}`);
    }
  }

  /**
   * Watches a collection from a resourceVersion. `onDone` is called once, with
   * the error that ended the watch or null when the server closed it.
   */
  watch(
    resource: ResourceDescriptor,
    namespace: string | undefined,
    resourceVersion: string,
    onEvent: (type: WatchEventType, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController> {
    const query: Record<string, string | boolean> = { allowWatchBookmarks: true };
    if (resourceVersion !== '') query.resourceVersion = resourceVersion;
    return this.#watch.watch(
      KubeClient.collectionPath(resource, namespace),
      query,
      (type, object) => onEvent(type as WatchEventType, object),
      (err: unknown) => onDone(err ?? null),
    );
  }

  async get<T extends KubeObject>(resource: ResourceDescriptor, namespace: string | undefined, name: string): Promise<T> {
    try {
      const common = { group: resource.group, version: resource.version, plural: resource.plural, name };
      return (namespace !== undefined && resource.namespaced
        ? await this.#api.getNamespacedCustomObject({ ...common, namespace })
        : await this.#api.getClusterCustomObject(common)) as T;
    } catch (err) {
      throw KubeApiError.from(err, `cannot read ${describe(resource, namespace, name)}`);
    }
  }

  async create<T extends KubeObject>(resource: ResourceDescriptor, namespace: string | undefined, body: unknown, fieldManager?: string): Promise<T> {
    this.#onWrite?.('create', resource);
    try {
      const common = { group: resource.group, version: resource.version, plural: resource.plural, body, ...(fieldManager ? { fieldManager } : {}) };
      return (namespace !== undefined && resource.namespaced
        ? await this.#api.createNamespacedCustomObject({ ...common, namespace })
        : await this.#api.createClusterCustomObject(common)) as T;
    } catch (err) {
      // The name is in the body: without it a failure would read "cannot create Lease ns/".
      const name = (body as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
      throw KubeApiError.from(err, `cannot create ${describe(resource, namespace, typeof name === 'string' ? name : undefined)}`);
    }
  }

  async replace<T extends KubeObject>(resource: ResourceDescriptor, namespace: string | undefined, name: string, body: unknown, fieldManager?: string): Promise<T> {
    this.#onWrite?.('update', resource);
    try {
      const common = { group: resource.group, version: resource.version, plural: resource.plural, name, body, ...(fieldManager ? { fieldManager } : {}) };
      return (namespace !== undefined && resource.namespaced
        ? await this.#api.replaceNamespacedCustomObject({ ...common, namespace })
        : await this.#api.replaceClusterCustomObject(common)) as T;
    } catch (err) {
      throw KubeApiError.from(err, `cannot update ${describe(resource, namespace, name)}`);
    }
  }

  async patch<T extends KubeObject>(
    resource: ResourceDescriptor,
    namespace: string | undefined,
    name: string,
    body: unknown,
    options: PatchOptions,
  ): Promise<T> {
    this.#onWrite?.('patch', resource, options.subresource);
    const headers = setHeaderOptions('Content-Type', PATCH_CONTENT_TYPE[options.type]);
    const common = {
      group: resource.group,
      version: resource.version,
      plural: resource.plural,
      name,
      body,
      ...(options.fieldManager ? { fieldManager: options.fieldManager } : {}),
      ...(options.force !== undefined ? { force: options.force } : {}),
    };
    try {
      if (namespace !== undefined && resource.namespaced) {
        return (options.subresource === 'status'
          ? await this.#api.patchNamespacedCustomObjectStatus({ ...common, namespace }, headers)
          : await this.#api.patchNamespacedCustomObject({ ...common, namespace }, headers)) as T;
      }
      return (options.subresource === 'status'
        ? await this.#api.patchClusterCustomObjectStatus(common, headers)
        : await this.#api.patchClusterCustomObject(common, headers)) as T;
    } catch (err) {
      const target = options.subresource ? `the ${options.subresource} of ${describe(resource, namespace, name)}` : describe(resource, namespace, name);
      throw KubeApiError.from(err, `cannot patch ${target}`);
    }
  }

  async delete(resource: ResourceDescriptor, namespace: string | undefined, name: string): Promise<void> {
    this.#onWrite?.('delete', resource);
    try {
      const common = { group: resource.group, version: resource.version, plural: resource.plural, name };
      if (namespace !== undefined && resource.namespaced) await this.#api.deleteNamespacedCustomObject({ ...common, namespace });
      else await this.#api.deleteClusterCustomObject(common);
    } catch (err) {
      throw KubeApiError.from(err, `cannot delete ${describe(resource, namespace, name)}`);
    }
  }
}

/**
 * The KubeConfig to use: a file when given; else in-cluster when
 * KUBERNETES_SERVICE_HOST is set; else the default (KUBECONFIG, ~/.kube/config).
 */
export function loadKubeConfig(file?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined && file !== '') kc.loadFromFile(file);
  else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
