// The cluster as the operator sees it: one informer per Gatehouse kind, with
// indexes by workspace, role and email. It is also the rules' ObjectIndex for
// the admission webhook: lookups are map reads, never API calls.
import type { GatehouseObject, Kind, ObjectOfKind } from '../model/index.js';
import { KIND_NAMES, normalizeEmail } from '../model/index.js';
import { LiveIndex } from '../rules/live-index.js';
import type { ObjectIndex, WorkspaceScopedKind } from '../rules/types.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { gatehouseResource, type KubeClient, type KubeObject } from './client.js';
import { Informer, type InformerEvent } from './informer.js';
import { StringPool, compactObject } from './projection.js';
import type { BackoffOptions } from './workqueue.js';

export type CachedObject = GatehouseObject & KubeObject;

export type CacheHandler = (kind: Kind, event: InformerEvent<CachedObject>) => void;

export interface ClusterCacheOptions {
  client: KubeClient;
  namespaces?: readonly string[];
  /** Clock for reconnect backoff (the system clock unless a test says otherwise). */
  clock?: Clock;
  backoff?: BackoffOptions;
  log?: Logger;
  /** Items per list page (default DEFAULT_LIST_PAGE_SIZE). */
  listPageSize?: number;
}

const BY_WORKSPACE = 'workspace';
const BY_ROLE = 'role';
const BY_EMAIL = 'email';
const BY_WORKSPACE_ID = 'workspaceId';

function workspaceRefOf(object: CachedObject): string | undefined {
  const ref = (object.spec as { workspaceRef?: { name?: unknown } } | undefined)?.workspaceRef?.name;
  return typeof ref === 'string' ? ref : undefined;
}

export function workspaceKey(namespace: string, workspace: string): string {
  return `${namespace}/${workspace}`;
}

export function isTerminating(object: { metadata: { deletionTimestamp?: string } }): boolean {
  return object.metadata.deletionTimestamp !== undefined && object.metadata.deletionTimestamp !== null;
}

export class ClusterCache implements ObjectIndex {
  readonly informers: Record<Kind, Informer<CachedObject>>;
  /** Strings shared by every cached object (namespaces, roles, condition reasons). */
  readonly strings = new StringPool();
  /**
   * The rules' index over the objects not being deleted, kept in step with
   * every change to the informers' stores (writes observed included), so a
   * reconcile reads a workspace's members by email or role without copying
   * or scanning the workspace.
   */
  readonly #live = new LiveIndex();

  constructor(options: ClusterCacheOptions) {
    const make = (kind: Kind) =>
      new Informer<CachedObject>({
        client: options.client,
        resource: gatehouseResource(kind),
        transform: (object) => compactObject(object, this.strings),
        ...(options.listPageSize !== undefined ? { pageSize: options.listPageSize } : {}),
        ...(options.namespaces ? { namespaces: options.namespaces } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.backoff ? { backoff: options.backoff } : {}),
        ...(options.log ? { log: options.log } : {}),
      });
    this.informers = Object.fromEntries(KIND_NAMES.map((kind) => [kind, make(kind)])) as Record<Kind, Informer<CachedObject>>;
    for (const kind of KIND_NAMES) {
      this.informers[kind].onStore((next, previous) => {
        if (next !== undefined && !isTerminating(next)) this.#live.put(next);
        else if (previous !== undefined) this.#live.delete(previous);
      });
    }
    const byWorkspace = (o: CachedObject) => {
      const ws = workspaceRefOf(o);
      return ws === undefined ? [] : [workspaceKey(o.metadata.namespace ?? '', ws)];
    };
    for (const kind of ['Role', 'Member', 'SupportGrant'] as const) this.informers[kind].addIndex(BY_WORKSPACE, byWorkspace);
    this.informers.Member.addIndex(BY_ROLE, (o) => {
      const ws = workspaceRefOf(o);
      const role = (o.spec as { role?: unknown }).role;
      return ws === undefined || typeof role !== 'string' ? [] : [`${workspaceKey(o.metadata.namespace ?? '', ws)}/${role}`];
    });
    this.informers.Member.addIndex(BY_EMAIL, (o) => {
      const ws = workspaceRefOf(o);
      const email = (o.spec as { email?: unknown }).email;
      return ws === undefined || typeof email !== 'string' ? [] : [`${workspaceKey(o.metadata.namespace ?? '', ws)}/${normalizeEmail(email)}`];
    });
    this.informers.Workspace.addIndex(BY_WORKSPACE_ID, (o) => {
      const id = (o.spec as { workspaceId?: unknown }).workspaceId;
      return typeof id === 'string' ? [id] : [];
    });
  }

  onChange(handler: CacheHandler): void {
    for (const kind of KIND_NAMES) this.informers[kind].on((event) => handler(kind, event));
  }

  start(): void {
    for (const kind of KIND_NAMES) this.informers[kind].start();
  }

  async stop(): Promise<void> {
    await Promise.all(KIND_NAMES.map((kind) => this.informers[kind].stop()));
  }

  get hasSynced(): boolean {
    return KIND_NAMES.every((kind) => this.informers[kind].hasSynced);
  }

  async waitForSync(timeoutMs?: number): Promise<void> {
    await Promise.all(KIND_NAMES.map((kind) => this.informers[kind].waitForSync(timeoutMs)));
  }

  get size(): number {
    return KIND_NAMES.reduce((n, kind) => n + this.informers[kind].size, 0);
  }

  // ---- ObjectIndex ----

  list<K extends Kind>(kind: K, namespace?: string): readonly ObjectOfKind<K>[] {
    return this.informers[kind].list(namespace) as unknown as ObjectOfKind<K>[];
  }

  get<K extends Kind>(kind: K, namespace: string, name: string): ObjectOfKind<K> | undefined {
    return this.informers[kind].get(namespace, name) as unknown as ObjectOfKind<K> | undefined;
  }

  listInWorkspace<K extends WorkspaceScopedKind>(kind: K, namespace: string, workspace: string): readonly ObjectOfKind<K>[] {
    return this.informers[kind].byIndex(BY_WORKSPACE, workspaceKey(namespace, workspace)) as unknown as ObjectOfKind<K>[];
  }

  // ---- lookups for the controller ----

  membersWithRole(namespace: string, workspace: string, role: string): CachedObject[] {
    return this.informers.Member.byIndex(BY_ROLE, `${workspaceKey(namespace, workspace)}/${role}`);
  }

  membersWithEmail(namespace: string, workspace: string, email: string): CachedObject[] {
    return this.informers.Member.byIndex(BY_EMAIL, `${workspaceKey(namespace, workspace)}/${normalizeEmail(email)}`);
  }

  workspacesWithId(workspaceId: string): CachedObject[] {
    return this.informers.Workspace.byIndex(BY_WORKSPACE_ID, workspaceId);
  }

  /** Everything in a workspace: its Roles, Members and SupportGrants. */
  inWorkspace(namespace: string, workspace: string): CachedObject[] {
    return (['Role', 'Member', 'SupportGrant'] as const).flatMap((kind) => this.informers[kind].byIndex(BY_WORKSPACE, workspaceKey(namespace, workspace)));
  }

  /**
   * What the engine needs to judge one object: every Workspace (ids are unique
   * cluster-wide) and everything in the object's workspace. Objects being
   * deleted are left out: to the engine they are gone.
   */
  contextFor(namespace: string, workspace: string | undefined): GatehouseObject[] {
    const objects: CachedObject[] = this.informers.Workspace.list();
    if (workspace !== undefined) objects.push(...this.inWorkspace(namespace, workspace));
    return objects.filter((o) => !isTerminating(o));
  }

  /**
   * The cache without objects being deleted, as the rules' ObjectIndex for the
   * engine: to the rules an object on its way out is already gone. Long-lived
   * and updated in place: read it within one synchronous check.
   */
  live(): LiveIndex {
    return this.#live;
  }

  /** Every object not being deleted. */
  snapshot(): GatehouseObject[] {
    return KIND_NAMES.flatMap((kind) => this.informers[kind].list()).filter((o) => !isTerminating(o));
  }

  /** The workspace an object belongs to (its own name for a Workspace). */
  static workspaceOf(object: CachedObject): string | undefined {
    return object.kind === 'Workspace' ? object.metadata.name : workspaceRefOf(object);
  }
}
