// A fake Kubernetes API server for tests: a real HTTP server on 127.0.0.1 that
// the real @kubernetes/client-node talks to. It keeps objects in memory and
// behaves like kube-apiserver where Gatehouse depends on it: one global
// resourceVersion, 409 on stale writes, list + watch from a resourceVersion
// with 410 Gone for history it no longer has, metadata.generation bumped on
// spec changes only, the status subresource, finalizers and deletionTimestamp,
// merge / JSON / server-side-apply patches, selectors, dry-run and
// SubjectAccessReview. Test controls let a test break it on purpose.
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  applyMerge,
  decodeFieldsV1,
  deepEqual,
  deleteAt,
  encodeFieldsV1,
  formatFieldPath,
  isPlainObject,
  jsonPatch,
  JsonPatchError,
  leafPaths,
  mergePatch,
  pathKey,
  pathsOverlap,
  valueAt,
  type FieldPath,
  type Json,
  type JsonObject,
} from './patch.js';
import { apiVersionOf, defaultResources, resourceKey, type FieldCause, type ResourceType } from './resources.js';
import { parseFieldSelector, parseLabelSelector, SelectorError, type Selector } from './selectors.js';
import { ApiStatusError, failureStatus, type StatusBody } from './status.js';

/** What the fake stores: any Kubernetes object. */
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: StoredMeta;
  [field: string]: unknown;
}

export interface StoredMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  managedFields?: ManagedFieldsEntry[];
  [field: string]: unknown;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  contentType?: string;
  watch: boolean;
}

export interface SubjectAccessReviewSpec {
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
  resourceAttributes?: {
    namespace?: string;
    verb?: string;
    group?: string;
    version?: string;
    resource?: string;
    subresource?: string;
    name?: string;
  };
  nonResourceAttributes?: { path?: string; verb?: string };
}

export interface AccessDecision {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
}

/** Answers SubjectAccessReviews; the default allows everything. */
export type Authorizer = (spec: SubjectAccessReviewSpec) => AccessDecision | Promise<AccessDecision>;

export interface AdmissionAttributes {
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  resource: ResourceType;
  subresource?: string;
  namespace?: string;
  name: string;
  object?: StoredObject;
  oldObject?: StoredObject;
  dryRun: boolean;
}

export interface AdmissionVerdict {
  allowed: boolean;
  message?: string;
  code?: number;
}

/** Stands in for validating admission webhooks: called before every write is stored. */
export type AdmissionHook = (attributes: AdmissionAttributes) => AdmissionVerdict | Promise<AdmissionVerdict>;

export interface FakeApiServerOptions {
  /** Resources served; defaults to the Gatehouse kinds plus the built-ins the operator touches. */
  resources?: ResourceType[];
  /** Bearer token clients must send; random by default. */
  token?: string;
  /** Clock for server-set timestamps (creationTimestamp, deletionTimestamp, managedFields). */
  now?: () => Date;
  /** Events kept for watches; older ones are compacted (a watch from before them gets 410). */
  historyLimit?: number;
  /** Validate writes against each resource's schema (the Gatehouse CRD schemas). Default true. */
  validateSchemas?: boolean;
}

interface Injection {
  method: string;
  pattern: RegExp;
  status: number;
  times: number;
  message: string;
}

interface HistoryEvent {
  rv: number;
  resource: ResourceType;
  type: WatchEventType;
  object: StoredObject;
  previous?: StoredObject;
}

interface Watcher {
  resource: ResourceType;
  namespace?: string;
  labels: Selector;
  fields: Selector;
  res: ServerResponse;
  bookmarks: boolean;
  timer?: NodeJS.Timeout;
}

interface Route {
  resource: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

type Scope = 'main' | 'status';

const JSON_TYPE = 'application/json';
const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';
const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';
const APPLY_PATCH = 'application/apply-patch+yaml';

function clone<T>(value: T): T {
  return structuredClone(value);
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export class FakeApiServer {
  readonly token: string;
  readonly #resources: ResourceType[];
  readonly #now: () => Date;
  readonly #historyLimit: number;
  readonly #validateSchemas: boolean;
  readonly #objects = new Map<string, Map<string, StoredObject>>();
  #rv = 1;
  #history: HistoryEvent[] = [];
  /** A watch from a resourceVersion below this one has lost history: 410 Gone. */
  #compactedRv = 0;
  readonly #watchers = new Set<Watcher>();
  readonly #injections: Injection[] = [];
  #authorizer: Authorizer = () => ({ allowed: true, reason: 'the fake API server allows everything' });
  #admission: AdmissionHook | undefined;
  #writeChain: Promise<unknown> = Promise.resolve();
  #server: Server | undefined;
  #url = '';
  /** Every request answered, in order. */
  readonly requests: RequestRecord[] = [];

  private constructor(options: FakeApiServerOptions) {
    this.token = options.token ?? randomBytes(16).toString('hex');
    this.#resources = options.resources ?? defaultResources();
    this.#now = options.now ?? (() => new Date());
    this.#historyLimit = options.historyLimit ?? 200_000;
    this.#validateSchemas = options.validateSchemas ?? true;
    for (const resource of this.#resources) this.#objects.set(resourceKey(resource), new Map());
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const fake = new FakeApiServer(options);
    await fake.#listen();
    return fake;
  }

  get url(): string {
    return this.#url;
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  get activeWatches(): number {
    return this.#watchers.size;
  }

  /** A KubeConfig that points the real client at this server with its bearer token. */
  kubeConfig(namespace = 'default'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.#url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake', namespace }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** Writes a kubeconfig file, for tests that start the operator as a process. */
  writeKubeconfig(file: string, namespace = 'default'): void {
    const doc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.#url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace } }],
      'current-context': 'fake',
    };
    writeFileSync(file, stringifyYaml(doc), { mode: 0o600 });
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    for (const watcher of this.#watchers) this.#closeWatcher(watcher, false);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- test controls ----

  /** Forgets the event history: the next watch from an older resourceVersion gets 410 Gone. */
  compactHistory(): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
  }

  /** Closes every watch connection abruptly, as a restarting API server or a broken network does. */
  dropWatches(): void {
    for (const watcher of [...this.#watchers]) this.#closeWatcher(watcher, true);
  }

  /** Sends a BOOKMARK with the current resourceVersion to watches that asked for bookmarks. */
  sendBookmarks(): void {
    for (const watcher of this.#watchers) {
      if (watcher.bookmarks) this.#writeBookmark(watcher);
    }
  }

  /**
   * Makes the next `times` requests whose method matches (or '*') and whose
   * path plus query matches `pattern` fail with `status` and a Status body.
   */
  failNext(method: string, pattern: RegExp, status: number, options: { times?: number; message?: string } = {}): void {
    this.#injections.push({
      method: method.toUpperCase(),
      pattern,
      status,
      times: options.times ?? 1,
      message: options.message ?? `injected failure ${status}`,
    });
  }

  /** Removes failures injected by failNext that have not fired yet. */
  clearFailures(): void {
    this.#injections.length = 0;
  }

  setAuthorizer(authorizer: Authorizer): void {
    this.#authorizer = authorizer;
  }

  setAdmission(hook: AdmissionHook | undefined): void {
    this.#admission = hook;
  }

  /** Requests matching a method (or '*') and a pattern on path plus query. */
  requestCount(method = '*', pattern: RegExp = /.*/): number {
    return this.requests.filter((r) => (method === '*' || r.method === method.toUpperCase()) && pattern.test(requestTarget(r))).length;
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  // ---- direct access for tests and benchmarks (no HTTP, no admission) ----

  /** Creates an object as a POST would, without HTTP; returns what was stored. */
  seed<T extends { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } }>(obj: T): StoredObject {
    const resource = this.#resourceFor(String(obj.apiVersion), String(obj.kind));
    const namespace = resource.namespaced ? (obj.metadata?.namespace ?? 'default') : undefined;
    const created = this.#prepareCreate(resource, namespace, clone(obj) as unknown as JsonObject, 'seed');
    this.#commit(resource, 'ADDED', created);
    return clone(created);
  }

  /** The stored object, or undefined. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): StoredObject | undefined {
    const resource = this.#resourceFor(apiVersion, kind);
    const found = this.#store(resource).get(this.#objectKey(resource, namespace, name));
    return found === undefined ? undefined : clone(found);
  }

  /** How many stored objects of a kind match `predicate` (no copies: cheap on large stores). */
  count(apiVersion: string, kind: string, predicate: (obj: Readonly<StoredObject>) => boolean = () => true): number {
    const resource = this.#resourceFor(apiVersion, kind);
    let n = 0;
    for (const obj of this.#store(resource).values()) if (predicate(obj)) n += 1;
    return n;
  }

  /** Stored objects of a kind, optionally in one namespace. */
  list(apiVersion: string, kind: string, namespace?: string): StoredObject[] {
    const resource = this.#resourceFor(apiVersion, kind);
    return [...this.#store(resource).values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map((o) => clone(o));
  }

  // ---- HTTP ----

  async #listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        const status =
          err instanceof ApiStatusError ? err.body : failureStatus(500, err instanceof Error ? err.message : String(err));
        this.#send(req, res, status.code, status);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address() as AddressInfo;
    this.#server = server;
    this.#url = `http://127.0.0.1:${address.port}`;
  }

  #record(req: IncomingMessage, status: number, watch: boolean): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status,
      ...(req.headers['content-type'] ? { contentType: mediaType(req) } : {}),
      watch,
    });
  }

  #send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
    this.#record(req, status, false);
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = (req.method ?? 'GET').toUpperCase();
    const rawBody = await readBody(req);

    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.#send(req, res, 401, failureStatus(401, 'Unauthorized'));
      return;
    }
    const target = `${url.pathname}${url.search}`;
    const injection = this.#injections.find((i) => (i.method === '*' || i.method === method) && i.pattern.test(target));
    if (injection !== undefined) {
      injection.times -= 1;
      if (injection.times <= 0) this.#injections.splice(this.#injections.indexOf(injection), 1);
      this.#send(req, res, injection.status, failureStatus(injection.status, injection.message));
      return;
    }

    const segments = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    const discovery = this.#discovery(segments);
    if (discovery !== undefined) {
      if (method !== 'GET') throw new ApiStatusError(405, `${method} is not allowed on ${url.pathname}`);
      this.#send(req, res, 200, discovery);
      return;
    }
    if (method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
      await this.#subjectAccessReview(req, res, rawBody);
      return;
    }
    const route = this.#route(segments);
    if (route === undefined) throw new ApiStatusError(404, `the server could not find the requested resource (${method} ${url.pathname})`);
    const query = url.searchParams;

    switch (method) {
      case 'GET':
        if (route.name !== undefined) this.#send(req, res, 200, this.#getObject(route));
        else if (query.get('watch') === 'true' || query.get('watch') === '1') this.#watch(req, res, route, query);
        else this.#send(req, res, 200, this.#listObjects(route, query));
        return;
      case 'POST':
        if (route.name !== undefined || (route.resource.namespaced && route.namespace === undefined)) {
          throw new ApiStatusError(405, `POST is not allowed on ${url.pathname}`);
        }
        await this.#serialized(() => this.#create(req, res, route, query, rawBody));
        return;
      case 'PUT':
        if (route.name === undefined) throw new ApiStatusError(405, `PUT is not allowed on ${url.pathname}`);
        await this.#serialized(() => this.#replace(req, res, route, query, rawBody));
        return;
      case 'PATCH':
        if (route.name === undefined) throw new ApiStatusError(405, `PATCH is not allowed on ${url.pathname}`);
        await this.#serialized(() => this.#patch(req, res, route, query, rawBody));
        return;
      case 'DELETE':
        await this.#serialized(() =>
          route.name === undefined ? this.#deleteCollection(req, res, route, query) : this.#delete(req, res, route, query, rawBody),
        );
        return;
      default:
        throw new ApiStatusError(405, `${method} is not allowed`);
    }
  }

  /** Writes run one after another so an awaited admission hook sees a stable store. */
  #serialized(fn: () => Promise<void>): Promise<void> {
    const run = this.#writeChain.then(fn, fn);
    this.#writeChain = run.catch(() => undefined);
    return run;
  }

  #discovery(segments: string[]): unknown {
    const [root, a, b] = segments;
    if (segments.length === 1 && root === 'version') {
      return { major: '1', minor: '33', gitVersion: 'v1.33.0-fake', platform: 'linux/amd64' };
    }
    if (segments.length === 1 && root === 'healthz') return 'ok';
    if (root === 'api' && segments.length === 1) return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
    if (root === 'apis' && segments.length === 1) {
      const groups = new Map<string, Set<string>>();
      for (const r of this.#resources) {
        if (r.group === '') continue;
        if (!groups.has(r.group)) groups.set(r.group, new Set());
        groups.get(r.group)?.add(r.version);
      }
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => {
          const list = [...versions].map((version) => ({ groupVersion: `${name}/${version}`, version }));
          return { name, versions: list, preferredVersion: list[0] };
        }),
      };
    }
    const resourceList = (group: string, version: string) => {
      const resources = this.#resources.filter((r) => r.group === group && r.version === version);
      if (resources.length === 0) return undefined;
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: group === '' ? version : `${group}/${version}`,
        resources: resources.flatMap((r) => [
          {
            name: r.plural,
            singularName: r.singular,
            namespaced: r.namespaced,
            kind: r.kind,
            verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
            ...(r.shortNames ? { shortNames: r.shortNames } : {}),
          },
          ...(r.hasStatusSubresource
            ? [{ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] }]
            : []),
        ]),
      };
    };
    if (root === 'api' && segments.length === 2 && a !== undefined) return resourceList('', a);
    if (root === 'apis' && segments.length === 3 && a !== undefined && b !== undefined) return resourceList(a, b);
    return undefined;
  }

  #route(segments: string[]): Route | undefined {
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 3) {
      group = '';
      version = segments[1] as string;
      rest = segments.slice(2);
    } else if (segments[0] === 'apis' && segments.length >= 4) {
      group = segments[1] as string;
      version = segments[2] as string;
      rest = segments.slice(3);
    } else return undefined;
    const find = (plural: string | undefined) =>
      this.#resources.find((r) => r.group === group && r.version === version && r.plural === plural);
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const resource = find(rest[2]);
      if (resource?.namespaced) {
        if (rest.length > 5) return undefined;
        const route: Route = { resource, namespace: rest[1] as string };
        if (rest[3] !== undefined) route.name = rest[3];
        if (rest[4] !== undefined) route.subresource = rest[4];
        return this.#checkSubresource(route);
      }
    }
    const resource = find(rest[0]);
    if (resource === undefined || rest.length > 3) return undefined;
    // A namespaced resource has no cluster-wide path for one object.
    if (resource.namespaced && rest.length > 1) return undefined;
    const route: Route = { resource };
    if (rest[1] !== undefined) route.name = rest[1];
    if (rest[2] !== undefined) route.subresource = rest[2];
    return this.#checkSubresource(route);
  }

  #checkSubresource(route: Route): Route | undefined {
    if (route.subresource === undefined) return route;
    return route.subresource === 'status' && route.resource.hasStatusSubresource ? route : undefined;
  }

  #resourceFor(apiVersion: string, kind: string): ResourceType {
    const resource = this.#resources.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
    if (resource === undefined) throw new Error(`the fake API server does not serve ${apiVersion} ${kind}`);
    return resource;
  }

  #store(resource: ResourceType): Map<string, StoredObject> {
    return this.#objects.get(resourceKey(resource)) as Map<string, StoredObject>;
  }

  #objectKey(resource: ResourceType, namespace: string | undefined, name: string): string {
    return resource.namespaced ? `${namespace ?? ''}/${name}` : name;
  }

  #notFound(resource: ResourceType, name: string): ApiStatusError {
    const qualified = resourceKey(resource);
    return new ApiStatusError(404, `${qualified} "${name}" not found`, 'NotFound', {
      name,
      ...(resource.group ? { group: resource.group } : {}),
      kind: resource.plural,
    });
  }

  #conflict(resource: ResourceType, name: string): ApiStatusError {
    return new ApiStatusError(
      409,
      `Operation cannot be fulfilled on ${resourceKey(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      'Conflict',
      { name, ...(resource.group ? { group: resource.group } : {}), kind: resource.plural },
    );
  }

  #invalid(resource: ResourceType, name: string, causes: FieldCause[]): ApiStatusError {
    const summary = causes.map((c) => `${c.field || '<root>'}: ${c.message}`).join(', ');
    return new ApiStatusError(422, `${resource.kind}${resource.group ? `.${resource.group}` : ''} "${name}" is invalid: ${summary}`, 'Invalid', {
      name,
      ...(resource.group ? { group: resource.group } : {}),
      kind: resource.kind,
      causes,
    });
  }

  #existing(route: Route): StoredObject {
    const name = route.name as string;
    const found = this.#store(route.resource).get(this.#objectKey(route.resource, route.namespace, name));
    if (found === undefined) throw this.#notFound(route.resource, name);
    return found;
  }

  #getObject(route: Route): StoredObject {
    return this.#existing(route);
  }

  #selectors(query: URLSearchParams): { labels: Selector; fields: Selector } {
    try {
      return {
        labels: parseLabelSelector(query.get('labelSelector') ?? undefined),
        fields: parseFieldSelector(query.get('fieldSelector') ?? undefined),
      };
    } catch (err) {
      if (err instanceof SelectorError) throw new ApiStatusError(400, err.message);
      throw err;
    }
  }

  #listObjects(route: Route, query: URLSearchParams): unknown {
    const { labels, fields } = this.#selectors(query);
    let items = [...this.#store(route.resource).values()]
      .filter((o) => route.namespace === undefined || o.metadata.namespace === route.namespace)
      .filter((o) => labels(o) && fields(o))
      .sort((x, y) => compareKeys(x, y));
    // Pagination: the continue token is the position in the sorted list.
    const listMeta: Record<string, unknown> = { resourceVersion: String(this.#rv) };
    const continueToken = query.get('continue');
    let start = 0;
    if (continueToken) {
      try {
        const decoded = JSON.parse(Buffer.from(continueToken, 'base64url').toString('utf8')) as { start: number; rv: string };
        start = decoded.start;
        listMeta.resourceVersion = decoded.rv;
      } catch {
        throw new ApiStatusError(400, 'invalid continue token');
      }
    }
    const limit = Number(query.get('limit') ?? '0');
    if (start > 0 || limit > 0) {
      const end = limit > 0 ? start + limit : items.length;
      if (end < items.length) {
        listMeta.continue = Buffer.from(JSON.stringify({ start: end, rv: listMeta.resourceVersion })).toString('base64url');
        listMeta.remainingItemCount = items.length - end;
      }
      items = items.slice(start, end);
    }
    return {
      apiVersion: apiVersionOf(route.resource),
      kind: route.resource.listKind,
      metadata: listMeta,
      // Built-in lists leave kind and apiVersion off their items, as the real server does.
      items: route.resource.custom ? items : items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
    };
  }

  // ---- watch ----

  #watch(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams): void {
    const { labels, fields } = this.#selectors(query);
    const rvParam = query.get('resourceVersion') ?? '';
    const fromRv = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (fromRv !== undefined && !Number.isInteger(fromRv)) throw new ApiStatusError(400, `invalid resourceVersion "${rvParam}"`);
    this.#record(req, 200, true);
    res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const watcher: Watcher = {
      resource: route.resource,
      ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
      labels,
      fields,
      res,
      bookmarks: query.get('allowWatchBookmarks') === 'true',
    };
    if (fromRv !== undefined && fromRv < this.#compactedRv) {
      // What kube-apiserver sends when etcd has compacted the requested revision.
      const status = failureStatus(410, `too old resource version: ${fromRv} (${this.#compactedRv})`, 'Expired');
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    if (fromRv === undefined) {
      // No resourceVersion: synthetic ADDED events for the current state, then changes.
      const current = [...this.#store(route.resource).values()]
        .filter((o) => this.#matches(watcher, o))
        .sort((x, y) => Number(x.metadata.resourceVersion) - Number(y.metadata.resourceVersion));
      for (const obj of current) res.write(`${JSON.stringify({ type: 'ADDED', object: obj })}\n`);
    } else {
      for (const event of this.#historyAfter(fromRv)) this.#deliver(watcher, event);
    }
    this.#watchers.add(watcher);
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) {
      watcher.timer = setTimeout(() => {
        if (watcher.bookmarks) this.#writeBookmark(watcher);
        this.#closeWatcher(watcher, false);
      }, timeoutSeconds * 1000);
      watcher.timer.unref();
    }
    req.on('close', () => this.#closeWatcher(watcher, false));
    res.on('error', () => this.#closeWatcher(watcher, false));
  }

  #historyAfter(rv: number): HistoryEvent[] {
    // History is ordered by rv; find the first event after rv by binary search.
    let lo = 0;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#history[mid] as HistoryEvent).rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.#history.slice(lo);
  }

  #matches(watcher: Watcher, obj: StoredObject): boolean {
    if (watcher.namespace !== undefined && obj.metadata.namespace !== watcher.namespace) return false;
    return watcher.labels(obj) && watcher.fields(obj);
  }

  #deliver(watcher: Watcher, event: HistoryEvent): void {
    if (event.resource !== watcher.resource) return;
    const now = this.#matches(watcher, event.object);
    const before = event.previous !== undefined && this.#matches(watcher, event.previous);
    let type: WatchEventType | undefined;
    if (event.type === 'MODIFIED') {
      // An object moving into or out of a selector is an ADDED or DELETED for that watch.
      if (now && before) type = 'MODIFIED';
      else if (now) type = 'ADDED';
      else if (before) type = 'DELETED';
    } else if (now) type = event.type;
    if (type === undefined) return;
    watcher.res.write(`${JSON.stringify({ type, object: event.object })}\n`);
  }

  #writeBookmark(watcher: Watcher): void {
    const object = {
      apiVersion: apiVersionOf(watcher.resource),
      kind: watcher.resource.kind,
      metadata: { resourceVersion: String(this.#rv) },
    };
    watcher.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
  }

  #closeWatcher(watcher: Watcher, abrupt: boolean): void {
    this.#watchers.delete(watcher);
    if (watcher.timer) clearTimeout(watcher.timer);
    if (abrupt) watcher.res.socket?.destroy();
    else if (!watcher.res.writableEnded) watcher.res.end();
  }

  // ---- writes ----

  #commit(resource: ResourceType, type: WatchEventType, object: StoredObject, previous?: StoredObject): StoredObject {
    this.#rv += 1;
    object.metadata.resourceVersion = String(this.#rv);
    const store = this.#store(resource);
    const key = this.#objectKey(resource, object.metadata.namespace, object.metadata.name);
    if (type === 'DELETED') store.delete(key);
    else store.set(key, object);
    const event: HistoryEvent = { rv: this.#rv, resource, type, object, ...(previous ? { previous } : {}) };
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.splice(0, Math.ceil(this.#historyLimit / 2));
      this.#compactedRv = (dropped[dropped.length - 1] as HistoryEvent).rv;
    }
    for (const watcher of this.#watchers) this.#deliver(watcher, event);
    return object;
  }

  async #admit(attributes: AdmissionAttributes): Promise<void> {
    if (this.#admission === undefined) return;
    const verdict = await this.#admission(attributes);
    if (!verdict.allowed) {
      const code = verdict.code ?? 403;
      const message = `admission webhook denied the request: ${verdict.message ?? 'denied'}`;
      throw new ApiStatusError(code, message);
    }
  }

  #validate(resource: ResourceType, obj: StoredObject): void {
    if (!this.#validateSchemas || resource.validate === undefined) return;
    const causes = resource.validate(obj);
    if (causes.length > 0) throw this.#invalid(resource, obj.metadata.name, causes);
  }

  #manager(req: IncomingMessage | undefined, query: URLSearchParams | undefined): string {
    const fromQuery = query?.get('fieldManager');
    if (fromQuery) return fromQuery;
    const userAgent = req?.headers['user-agent'];
    return userAgent ? (userAgent.split('/')[0] ?? 'unknown') : 'unknown';
  }

  #prepareCreate(resource: ResourceType, namespace: string | undefined, body: JsonObject, manager: string, applied = false): StoredObject {
    if (!isPlainObject(body)) throw new ApiStatusError(400, 'the request body must be a JSON object');
    const apiVersion = apiVersionOf(resource);
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersion) {
      throw new ApiStatusError(400, `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersion})`);
    }
    if (body.kind !== undefined && body.kind !== resource.kind) {
      throw new ApiStatusError(400, `the kind in the data (${String(body.kind)}) does not match the expected kind (${resource.kind})`);
    }
    const meta = (isPlainObject(body.metadata) ? { ...body.metadata } : {}) as Record<string, unknown>;
    if (resource.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== namespace) {
        throw new ApiStatusError(400, 'the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace;
    } else delete meta.namespace;
    if (typeof meta.name !== 'string' || meta.name === '') {
      if (typeof meta.generateName === 'string' && meta.generateName !== '') {
        meta.name = `${meta.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
      } else {
        throw this.#invalid(resource, '', [{ reason: 'FieldValueRequired', message: 'name or generateName is required', field: 'metadata.name' }]);
      }
    }
    const name = meta.name as string;
    if (this.#store(resource).has(this.#objectKey(resource, namespace, name))) {
      throw new ApiStatusError(409, `${resourceKey(resource)} "${name}" already exists`, 'AlreadyExists', {
        name,
        ...(resource.group ? { group: resource.group } : {}),
        kind: resource.plural,
      });
    }
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    const now = this.#now().toISOString();
    const created = {
      ...body,
      apiVersion,
      kind: resource.kind,
      metadata: { ...meta, uid: randomUUID(), generation: 1, creationTimestamp: now, resourceVersion: '' },
    } as StoredObject;
    if (resource.hasStatusSubresource) delete created.status;
    resource.applyDefaults?.(created);
    const paths = this.#trackedPaths(resource, created, 'main');
    if (paths.length > 0) {
      created.metadata.managedFields = [this.#managedEntry(resource, manager, applied ? 'Apply' : 'Update', paths, 'main')];
    }
    this.#validate(resource, created);
    return created;
  }

  async #create(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams, rawBody: string): Promise<void> {
    if (!mediaType(req).includes('json') && !mediaType(req).includes('yaml')) {
      throw new ApiStatusError(415, `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
    }
    const body = parseBody(req, rawBody) as JsonObject;
    const created = this.#prepareCreate(route.resource, route.namespace, body, this.#manager(req, query));
    const dryRun = isDryRun(query);
    await this.#admit({
      operation: 'CREATE',
      resource: route.resource,
      ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
      name: created.metadata.name,
      object: clone(created),
      dryRun,
    });
    if (!dryRun) this.#commit(route.resource, 'ADDED', created);
    this.#send(req, res, 201, created);
  }

  async #replace(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams, rawBody: string): Promise<void> {
    const existing = this.#existing(route);
    const body = parseBody(req, rawBody);
    if (!isPlainObject(body)) throw new ApiStatusError(400, 'the request body must be a JSON object');
    const meta = isPlainObject(body.metadata) ? body.metadata : {};
    if (meta.name !== undefined && meta.name !== route.name) {
      throw new ApiStatusError(400, `the name of the object (${String(meta.name)}) does not match the name on the URL (${route.name})`);
    }
    if (route.resource.namespaced && meta.namespace !== undefined && meta.namespace !== route.namespace) {
      throw new ApiStatusError(400, 'the namespace of the provided object does not match the namespace sent on the request');
    }
    const rv = meta.resourceVersion;
    if (rv === undefined || rv === '') {
      throw this.#invalid(route.resource, existing.metadata.name, [
        { reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update', field: 'metadata.resourceVersion' },
      ]);
    }
    if (rv !== existing.metadata.resourceVersion) throw this.#conflict(route.resource, existing.metadata.name);
    const scope: Scope = route.subresource === 'status' ? 'status' : 'main';
    await this.#finishUpdate(req, res, route, query, existing, body as unknown as StoredObject, scope, this.#manager(req, query));
  }

  async #patch(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams, rawBody: string): Promise<void> {
    const type = mediaType(req);
    const scope: Scope = route.subresource === 'status' ? 'status' : 'main';
    const manager = this.#manager(req, query);
    if (type === APPLY_PATCH) {
      await this.#apply(req, res, route, query, rawBody, scope);
      return;
    }
    if (query.has('force')) throw new ApiStatusError(422, 'force is only allowed for apply patches (application/apply-patch+yaml)');
    const existing = this.#existing(route);
    let patched: Json;
    const body = parseJson(rawBody);
    switch (type) {
      case MERGE_PATCH:
        patched = mergePatch(existing as unknown as Json, body);
        break;
      case STRATEGIC_PATCH:
        if (route.resource.custom) {
          throw new ApiStatusError(
            415,
            `the body of the request was in an unknown format - accepted media types include: ${JSON_PATCH}, ${MERGE_PATCH}, ${APPLY_PATCH}`,
          );
        }
        patched = mergePatch(existing as unknown as Json, body);
        break;
      case JSON_PATCH:
        try {
          patched = jsonPatch(existing as unknown as Json, body);
        } catch (err) {
          if (err instanceof JsonPatchError) throw new ApiStatusError(422, `the server rejected our request due to an error in our request: ${err.message}`);
          throw err;
        }
        break;
      default:
        throw new ApiStatusError(415, `the body of the request was in an unknown format - accepted media types include: ${JSON_PATCH}, ${MERGE_PATCH}, ${APPLY_PATCH}`);
    }
    if (!isPlainObject(patched)) throw new ApiStatusError(422, 'the patched object is not an object');
    const meta = isPlainObject(patched.metadata) ? patched.metadata : {};
    // A resourceVersion in a patch is a precondition.
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== existing.metadata.resourceVersion) {
      throw this.#conflict(route.resource, existing.metadata.name);
    }
    if (meta.name !== existing.metadata.name) throw new ApiStatusError(400, 'metadata.name cannot be changed by a patch');
    await this.#finishUpdate(req, res, route, query, existing, patched as unknown as StoredObject, scope, manager);
  }

  /** Server-side apply, approximated: field ownership per manager, conflicts, removal of fields no longer applied. */
  async #apply(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams, rawBody: string, scope: Scope): Promise<void> {
    const manager = query.get('fieldManager');
    if (!manager) throw new ApiStatusError(400, 'PATCH with application/apply-patch+yaml requires the fieldManager query parameter');
    const force = query.get('force') === 'true';
    const applied = parseJsonOrYaml(rawBody);
    if (!isPlainObject(applied)) throw new ApiStatusError(400, 'the applied configuration must be an object');
    const resource = route.resource;
    if (applied.apiVersion !== apiVersionOf(resource) || applied.kind !== resource.kind) {
      throw new ApiStatusError(400, `the applied configuration must set apiVersion ${apiVersionOf(resource)} and kind ${resource.kind}`);
    }
    const appliedMeta = isPlainObject(applied.metadata) ? applied.metadata : {};
    if (appliedMeta.name !== route.name) throw new ApiStatusError(400, 'metadata.name in the applied configuration must match the URL');
    const key = this.#objectKey(resource, route.namespace, route.name as string);
    const existing = this.#store(resource).get(key);
    const dryRun = isDryRun(query);
    if (existing === undefined) {
      if (scope === 'status') throw this.#notFound(resource, route.name as string);
      const created = this.#prepareCreate(resource, route.namespace, clone(applied), manager, true);
      await this.#admit({
        operation: 'CREATE',
        resource,
        ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
        name: created.metadata.name,
        object: clone(created),
        dryRun,
      });
      if (!dryRun) this.#commit(resource, 'ADDED', created);
      this.#send(req, res, 201, created);
      return;
    }
    if (appliedMeta.resourceVersion !== undefined && appliedMeta.resourceVersion !== existing.metadata.resourceVersion) {
      throw this.#conflict(resource, existing.metadata.name);
    }
    const scoped = this.#scopedContent(resource, applied, scope);
    const appliedPaths = leafPaths(scoped);
    const subresource = scope === 'status' ? 'status' : undefined;
    let entries = clone(existing.metadata.managedFields ?? []);
    const conflicts: Array<{ manager: string; path: FieldPath }> = [];
    for (const entry of entries) {
      if (entry.manager === manager) continue;
      for (const owned of decodeFieldsV1(entry.fieldsV1)) {
        for (const path of appliedPaths) {
          if (pathsOverlap(owned, path) && !deepEqual(valueAt(existing as unknown as Json, path), valueAt(scoped, path))) {
            conflicts.push({ manager: entry.manager, path });
          }
        }
      }
    }
    if (conflicts.length > 0 && !force) {
      const lines = conflicts.map((c) => `conflict with "${c.manager}": ${formatFieldPath(c.path)}`);
      throw new ApiStatusError(
        409,
        `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ${lines.join('\n')}`,
        'Conflict',
        {
          name: existing.metadata.name,
          ...(resource.group ? { group: resource.group } : {}),
          kind: resource.kind,
          causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: formatFieldPath(c.path) })),
        },
      );
    }
    if (force) {
      // Forcing takes the conflicting fields away from their other owners.
      for (const entry of entries) {
        if (entry.manager === manager) continue;
        const kept = decodeFieldsV1(entry.fieldsV1).filter((owned) => !conflicts.some((c) => c.manager === entry.manager && pathsOverlap(owned, c.path)));
        entry.fieldsV1 = encodeFieldsV1(kept);
      }
    }
    let next = clone(existing) as unknown as Json;
    const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply' && e.subresource === subresource);
    const appliedKeys = new Set(appliedPaths.map(pathKey));
    for (const previous of mine ? decodeFieldsV1(mine.fieldsV1) : []) {
      if (appliedKeys.has(pathKey(previous))) continue;
      const ownedByOthers = entries.some(
        (e) => e !== mine && decodeFieldsV1(e.fieldsV1).some((owned) => pathsOverlap(owned, previous)),
      );
      if (!ownedByOthers) deleteAt(next, previous);
    }
    next = applyMerge(next, scoped);
    entries = entries.filter((e) => e !== mine);
    entries.push(this.#managedEntry(resource, manager, 'Apply', appliedPaths, scope));
    const candidate = next as unknown as StoredObject;
    candidate.metadata.managedFields = entries.filter((e) => decodeFieldsV1(e.fieldsV1).length > 0);
    await this.#finishUpdate(req, res, route, query, existing, candidate, scope, manager, true);
  }

  /** The part of an object a write in this scope may change, for ownership and apply. */
  #scopedContent(resource: ResourceType, obj: JsonObject, scope: Scope): JsonObject {
    if (scope === 'status') return isPlainObject(obj.status) ? { status: obj.status } : {};
    const { apiVersion: _a, kind: _k, metadata, status, ...rest } = obj;
    const content: JsonObject = { ...rest };
    if (!resource.hasStatusSubresource && status !== undefined) content.status = status;
    if (isPlainObject(metadata)) {
      const meta: JsonObject = {};
      if (isPlainObject(metadata.labels)) meta.labels = metadata.labels;
      if (isPlainObject(metadata.annotations)) meta.annotations = metadata.annotations;
      if (Object.keys(meta).length > 0) content.metadata = meta;
    }
    return content;
  }

  #trackedPaths(resource: ResourceType, obj: StoredObject, scope: Scope): FieldPath[] {
    return leafPaths(this.#scopedContent(resource, obj as unknown as JsonObject, scope));
  }

  #managedEntry(resource: ResourceType, manager: string, operation: 'Apply' | 'Update', paths: FieldPath[], scope: Scope): ManagedFieldsEntry {
    return {
      manager,
      operation,
      apiVersion: apiVersionOf(resource),
      time: this.#now().toISOString(),
      fieldsType: 'FieldsV1',
      fieldsV1: encodeFieldsV1(paths),
      ...(scope === 'status' ? { subresource: 'status' } : {}),
    };
  }

  /** Records an Update's ownership: the manager takes the fields it changed from everyone else. */
  #updateOwnership(resource: ResourceType, existing: StoredObject, next: StoredObject, manager: string, scope: Scope): ManagedFieldsEntry[] {
    const before = this.#trackedPaths(resource, existing, scope);
    const after = this.#trackedPaths(resource, next, scope);
    const changed = after.filter((p) => !deepEqual(valueAt(existing as unknown as Json, p), valueAt(next as unknown as Json, p)));
    const removed = before.filter((p) => valueAt(next as unknown as Json, p) === undefined);
    const touched = [...changed, ...removed];
    let entries = clone(existing.metadata.managedFields ?? []);
    if (touched.length === 0) return entries;
    const subresource = scope === 'status' ? 'status' : undefined;
    for (const entry of entries) {
      const kept = decodeFieldsV1(entry.fieldsV1).filter((owned) => !touched.some((t) => pathsOverlap(owned, t)) || (entry.manager === manager && entry.operation === 'Update' && entry.subresource === subresource));
      entry.fieldsV1 = encodeFieldsV1(kept.filter((p) => valueAt(next as unknown as Json, p) !== undefined));
    }
    const mine = entries.find((e) => e.manager === manager && e.operation === 'Update' && e.subresource === subresource);
    const owned = [...(mine ? decodeFieldsV1(mine.fieldsV1) : []), ...changed];
    const unique = [...new Map(owned.map((p) => [pathKey(p), p])).values()];
    entries = entries.filter((e) => e !== mine);
    entries.push(this.#managedEntry(resource, manager, 'Update', unique, scope));
    return entries.filter((e) => decodeFieldsV1(e.fieldsV1).length > 0);
  }

  async #finishUpdate(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    query: URLSearchParams,
    existing: StoredObject,
    candidate: StoredObject,
    scope: Scope,
    manager: string,
    ownershipDone = false,
  ): Promise<void> {
    const resource = route.resource;
    let next: StoredObject;
    if (scope === 'status') {
      // The status subresource changes status and nothing else.
      next = clone(existing);
      if (candidate.status === undefined) delete next.status;
      else next.status = clone(candidate.status);
      if (ownershipDone) next.metadata.managedFields = candidate.metadata.managedFields ?? [];
    } else {
      const meta = isPlainObject(candidate.metadata) ? candidate.metadata : ({} as StoredMeta);
      next = {
        ...clone(candidate),
        apiVersion: existing.apiVersion,
        kind: existing.kind,
        metadata: {
          ...clone(meta),
          // Server-managed metadata cannot be changed by a client.
          name: existing.metadata.name,
          ...(existing.metadata.namespace !== undefined ? { namespace: existing.metadata.namespace } : {}),
          uid: existing.metadata.uid,
          creationTimestamp: existing.metadata.creationTimestamp,
          generation: existing.metadata.generation,
          resourceVersion: existing.metadata.resourceVersion,
        },
      };
      if (!resource.namespaced) delete next.metadata.namespace;
      if (existing.metadata.deletionTimestamp !== undefined) {
        next.metadata.deletionTimestamp = existing.metadata.deletionTimestamp;
        next.metadata.deletionGracePeriodSeconds = existing.metadata.deletionGracePeriodSeconds ?? 0;
      } else {
        delete next.metadata.deletionTimestamp;
        delete next.metadata.deletionGracePeriodSeconds;
      }
      if (!ownershipDone) next.metadata.managedFields = clone(existing.metadata.managedFields ?? []);
      if (resource.hasStatusSubresource) {
        // The main resource ignores status.
        if (existing.status === undefined) delete next.status;
        else next.status = clone(existing.status);
      }
      if (existing.metadata.deletionTimestamp !== undefined) {
        const before = new Set(existing.metadata.finalizers ?? []);
        const added = (next.metadata.finalizers ?? []).filter((f) => !before.has(f));
        if (added.length > 0) {
          throw new ApiStatusError(
            422,
            `${resource.kind} "${existing.metadata.name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
            'Invalid',
            { name: existing.metadata.name, kind: resource.kind, causes: [{ reason: 'FieldValueForbidden', message: 'no new finalizers can be added if the object is being deleted', field: 'metadata.finalizers' }] },
          );
        }
      }
      resource.applyDefaults?.(next);
      if (specChanged(resource, existing, next)) next.metadata.generation = existing.metadata.generation + 1;
    }
    if (!ownershipDone) next.metadata.managedFields = this.#updateOwnership(resource, existing, next, manager, scope);
    if ((next.metadata.managedFields ?? []).length === 0) delete next.metadata.managedFields;
    this.#validate(resource, next);

    const dryRun = isDryRun(query);
    // An update that changes nothing is not written: no new resourceVersion, no event.
    if (sameObject(existing, next)) {
      this.#send(req, res, 200, existing);
      return;
    }
    await this.#admit({
      operation: 'UPDATE',
      resource,
      ...(scope === 'status' ? { subresource: 'status' } : {}),
      ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
      name: existing.metadata.name,
      object: clone(next),
      oldObject: clone(existing),
      dryRun,
    });
    if (dryRun) {
      this.#send(req, res, 200, next);
      return;
    }
    if (next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0) {
      // The last finalizer is gone: the object is deleted, watchers see DELETED.
      delete next.metadata.finalizers;
      this.#commit(resource, 'DELETED', next, existing);
      this.#send(req, res, 200, next);
      return;
    }
    this.#commit(resource, 'MODIFIED', next, existing);
    this.#send(req, res, 200, next);
  }

  async #delete(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams, rawBody: string): Promise<void> {
    if (route.subresource !== undefined) throw new ApiStatusError(405, 'DELETE is not allowed on a subresource');
    const existing = this.#existing(route);
    const options = rawBody.trim() === '' ? {} : parseJson(rawBody);
    const preconditions = isPlainObject(options) && isPlainObject(options.preconditions) ? options.preconditions : {};
    if (preconditions.uid !== undefined && preconditions.uid !== existing.metadata.uid) {
      throw new ApiStatusError(409, `Precondition failed: UID in precondition: ${String(preconditions.uid)}, UID in object meta: ${existing.metadata.uid}`, 'Conflict');
    }
    if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== existing.metadata.resourceVersion) {
      throw new ApiStatusError(
        409,
        `Precondition failed: ResourceVersion in precondition: ${String(preconditions.resourceVersion)}, ResourceVersion in object meta: ${existing.metadata.resourceVersion}`,
        'Conflict',
      );
    }
    const dryRun = isDryRun(query);
    await this.#admit({
      operation: 'DELETE',
      resource: route.resource,
      ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
      name: existing.metadata.name,
      oldObject: clone(existing),
      dryRun,
    });
    this.#deleteObject(route.resource, existing, dryRun, (status, body) => this.#send(req, res, status, body));
  }

  #deleteObject(resource: ResourceType, existing: StoredObject, dryRun: boolean, reply?: (status: number, body: unknown) => void): void {
    if ((existing.metadata.finalizers ?? []).length > 0) {
      // Finalizers hold the object: it is marked for deletion and stays until they are removed.
      if (existing.metadata.deletionTimestamp !== undefined) {
        reply?.(202, existing);
        return;
      }
      const marked = clone(existing);
      marked.metadata.deletionTimestamp = this.#now().toISOString();
      marked.metadata.deletionGracePeriodSeconds = 0;
      if (!dryRun) this.#commit(resource, 'MODIFIED', marked, existing);
      reply?.(202, marked);
      return;
    }
    const gone = clone(existing);
    if (!dryRun) this.#commit(resource, 'DELETED', gone, existing);
    reply?.(200, gone);
  }

  async #deleteCollection(req: IncomingMessage, res: ServerResponse, route: Route, query: URLSearchParams): Promise<void> {
    const { labels, fields } = this.#selectors(query);
    const dryRun = isDryRun(query);
    const matching = [...this.#store(route.resource).values()]
      .filter((o) => route.namespace === undefined || o.metadata.namespace === route.namespace)
      .filter((o) => labels(o) && fields(o));
    for (const obj of matching) {
      await this.#admit({
        operation: 'DELETE',
        resource: route.resource,
        ...(obj.metadata.namespace !== undefined ? { namespace: obj.metadata.namespace } : {}),
        name: obj.metadata.name,
        oldObject: clone(obj),
        dryRun,
      });
      this.#deleteObject(route.resource, obj, dryRun);
    }
    this.#send(req, res, 200, { apiVersion: apiVersionOf(route.resource), kind: route.resource.listKind, metadata: { resourceVersion: String(this.#rv) }, items: matching });
  }

  async #subjectAccessReview(req: IncomingMessage, res: ServerResponse, rawBody: string): Promise<void> {
    const body = parseJson(rawBody);
    if (!isPlainObject(body) || !isPlainObject(body.spec)) throw new ApiStatusError(400, 'a SubjectAccessReview needs a spec');
    const spec = body.spec as unknown as SubjectAccessReviewSpec;
    if (spec.resourceAttributes === undefined && spec.nonResourceAttributes === undefined) {
      throw new ApiStatusError(422, 'SubjectAccessReview spec: exactly one of nonResourceAttributes or resourceAttributes must be specified');
    }
    if (!spec.user && (spec.groups ?? []).length === 0) {
      throw new ApiStatusError(422, 'SubjectAccessReview spec: at least one of user or group must be specified');
    }
    const decision = await this.#authorizer(spec);
    this.#send(req, res, 201, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      metadata: { creationTimestamp: null },
      spec,
      status: {
        allowed: decision.allowed,
        ...(decision.denied ? { denied: true } : {}),
        ...(decision.reason ? { reason: decision.reason } : {}),
      },
    });
  }
}

function requestTarget(record: RequestRecord): string {
  const query = new URLSearchParams(record.query).toString();
  return query === '' ? record.path : `${record.path}?${query}`;
}

function compareKeys(x: StoredObject, y: StoredObject): number {
  const a = `${x.metadata.namespace ?? ''}/${x.metadata.name}`;
  const b = `${y.metadata.namespace ?? ''}/${y.metadata.name}`;
  return a < b ? -1 : a > b ? 1 : 0;
}

function isDryRun(query: URLSearchParams): boolean {
  const value = query.get('dryRun');
  if (value === null) return false;
  if (value !== 'All') throw new ApiStatusError(400, `unsupported dry run value "${value}": the only accepted value is "All"`);
  return true;
}

/** Everything but metadata (and status where status is a subresource) is "spec" for metadata.generation. */
function specChanged(resource: ResourceType, before: StoredObject, after: StoredObject): boolean {
  const strip = (obj: StoredObject) => {
    const { metadata: _m, ...rest } = obj;
    if (resource.hasStatusSubresource) delete rest.status;
    return rest;
  };
  return !deepEqual(strip(before), strip(after));
}

function sameObject(before: StoredObject, after: StoredObject): boolean {
  const normalise = (obj: StoredObject) => ({
    ...obj,
    metadata: {
      ...obj.metadata,
      resourceVersion: '',
      managedFields: (obj.metadata.managedFields ?? []).map(({ time: _t, ...entry }) => entry),
    },
  });
  return deepEqual(normalise(before), normalise(after));
}

function parseJson(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new ApiStatusError(400, `the request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parseBody(req: IncomingMessage, text: string): Json {
  return mediaType(req).includes('yaml') ? parseJsonOrYaml(text) : parseJson(text);
}

function parseJsonOrYaml(text: string): Json {
  try {
    return parseYaml(text) as Json;
  } catch (err) {
    throw new ApiStatusError(400, `the request body is not valid JSON or YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export type { StatusBody };
