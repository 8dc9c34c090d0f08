// What the decision policy needs from the store, gathered per workspace and
// kept in memory until the store changes. Only facts are cached, never
// answers: every answer is computed against the clock at request time.
// A change made by anyone drops the cache (see ./changes.ts), and a load that
// raced with a change is not kept.
import type { Kysely } from 'kysely';
import type { AuditObject } from '../store/audit.js';
import { readBoolean, readInteger, readJson, readTime } from '../store/convert.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { compileAllowlist, type GrantFacts, type MemberFacts, type PermissionFacts, type WorkspaceFacts } from './decide.js';

export interface WorkspaceSnapshot {
  facts: WorkspaceFacts;
  /** By normalised email. */
  members: ReadonlyMap<string, MemberFacts>;
  grants: readonly GrantFacts[];
  /** The declared object of each grant, by grant name, for audit entries. */
  grantObjects: ReadonlyMap<string, AuditObject | undefined>;
}

export interface TokenFacts {
  name: string;
  revoked: boolean;
}

const time = (value: unknown): number => Date.parse(readTime(value));

async function loadPermissions(db: Kysely<Database>): Promise<Map<string, PermissionFacts>> {
  const rows = await db.selectFrom('permissions').select(['permission_id', 'access', 'sensitive', 'legacy']).execute();
  return new Map(
    rows.map((r) => [r.permission_id, { access: r.access === 'Read' ? 'Read' : 'Write', sensitive: readBoolean(r.sensitive), legacy: readBoolean(r.legacy) }]),
  );
}

/** Reads one workspace's facts in one consistent snapshot; undefined when the store has no such workspace. */
export async function loadWorkspaceSnapshot(
  store: Store,
  workspaceId: string,
  permissions?: ReadonlyMap<string, PermissionFacts>,
): Promise<WorkspaceSnapshot | undefined> {
  return store.read(async (trx) => {
    const ws = await trx.selectFrom('workspaces').selectAll().where('workspace_id', '=', workspaceId).executeTakeFirst();
    if (ws === undefined) return undefined;
    const rolePermissions = await trx.selectFrom('role_permissions').select(['role_id', 'permission_id']).where('workspace_id', '=', workspaceId).execute();
    const roles = new Map<string, Set<string>>();
    const roleRows = await trx.selectFrom('roles').select('role_id').where('workspace_id', '=', workspaceId).execute();
    for (const r of roleRows) roles.set(r.role_id, new Set());
    for (const rp of rolePermissions) roles.get(rp.role_id)?.add(rp.permission_id);
    const memberRows = await trx
      .selectFrom('members')
      .select(['email_normalized', 'role_id', 'login_type', 'expires_at', 'accepted_at'])
      .where('workspace_id', '=', workspaceId)
      .execute();
    const members = new Map<string, MemberFacts>();
    for (const m of memberRows) {
      members.set(m.email_normalized, {
        email: m.email_normalized,
        roleId: m.role_id,
        loginType: m.login_type === 'SSO' ? 'SSO' : 'Local',
        expiresAt: m.expires_at === null ? undefined : time(m.expires_at),
        accepted: m.accepted_at !== null,
      });
    }
    const grantRows = await trx.selectFrom('support_grants').selectAll().where('workspace_id', '=', workspaceId).execute();
    const grants: GrantFacts[] = [];
    const grantObjects = new Map<string, AuditObject | undefined>();
    for (const g of grantRows) {
      const agents = readJson<string[]>(g.agents);
      grants.push({
        name: g.name,
        agents: g.grantee_type === 'Agents' ? new Set(agents.map((a) => a.trim().toLowerCase())) : undefined,
        scopeMemberEmail: g.scope_type === 'Member' && g.scope_member_email !== null ? g.scope_member_email.trim().toLowerCase() : undefined,
        readWrite: g.access_level === 'ReadWrite',
        startsAt: time(g.starts_at),
        endsAt: time(g.ends_at),
        revoked: g.revoked_at !== null || g.state === 'Revoked',
      });
      grantObjects.set(
        g.name,
        g.source_kind !== null && g.source_name !== null
          ? { kind: g.source_kind, name: g.source_name, ...(g.source_namespace !== null ? { namespace: g.source_namespace } : {}), ...(g.source_uid !== null ? { uid: g.source_uid } : {}) }
          : undefined,
      );
    }
    const facts: WorkspaceFacts = {
      workspaceId,
      twoFactorRequired: ws.two_factor === 'Required',
      ssoEnforced: readBoolean(ws.sso_enforced),
      ipAllowlist: compileAllowlist(readJson<string[]>(ws.ip_allowlist)),
      idleSessionTimeoutMs: readInteger(ws.idle_session_timeout_seconds) * 1000,
      supportAllowReadWrite: readBoolean(ws.support_allow_read_write),
      permissions: permissions ?? (await loadPermissions(trx)),
      roles,
    };
    return { facts, members, grants, grantObjects };
  });
}

export async function loadTokens(db: Kysely<Database>): Promise<Map<string, TokenFacts>> {
  const rows = await db.selectFrom('api_tokens').select(['token_hash', 'name', 'revoked_at']).execute();
  return new Map(rows.map((r) => [r.token_hash, { name: r.name, revoked: r.revoked_at !== null }]));
}

/**
 * The facts cache. `invalidate()` is called on every store change; while
 * changes cannot be watched (`cacheable` false) every request reads the store.
 */
export class FactsCache {
  #workspaces = new Map<string, Promise<WorkspaceSnapshot | undefined>>();
  /** The loads that finished in the current generation, readable without a turn of the event loop. */
  #loaded = new Map<string, WorkspaceSnapshot | null>();
  #loadedTokens: Map<string, TokenFacts> | undefined;
  #permissions: Promise<Map<string, PermissionFacts>> | undefined;
  #tokens: Promise<Map<string, TokenFacts>> | undefined;
  #generation = 0;
  cacheable = true;

  constructor(private readonly store: Store) {}

  /** Drops everything cached; loads under way are not kept. */
  invalidate(): void {
    this.#generation += 1;
    this.#workspaces.clear();
    this.#loaded.clear();
    this.#permissions = undefined;
    this.#tokens = undefined;
    this.#loadedTokens = undefined;
  }

  /**
   * A workspace's facts when they are already in memory: the snapshot, null for a workspace the
   * store does not have, undefined when it must be loaded (`workspace()`).
   */
  peekWorkspace(workspaceId: string): WorkspaceSnapshot | null | undefined {
    return this.cacheable ? this.#loaded.get(workspaceId) : undefined;
  }

  /** The tokens when already in memory; undefined when they must be loaded (`tokens()`). */
  peekTokens(): ReadonlyMap<string, TokenFacts> | undefined {
    return this.cacheable ? this.#loadedTokens : undefined;
  }

  get generation(): number {
    return this.#generation;
  }

  async workspace(workspaceId: string): Promise<WorkspaceSnapshot | undefined> {
    const cached = this.cacheable ? this.#workspaces.get(workspaceId) : undefined;
    if (cached !== undefined) return cached;
    const generation = this.#generation;
    const loading = (async () => loadWorkspaceSnapshot(this.store, workspaceId, await this.#permissionsOf(generation)))();
    if (this.cacheable) {
      this.#workspaces.set(workspaceId, loading);
      loading.then(
        (snapshot) => {
          if (this.#generation !== generation) {
            if (this.#workspaces.get(workspaceId) === loading) this.#workspaces.delete(workspaceId);
          } else if (this.cacheable) this.#loaded.set(workspaceId, snapshot ?? null);
        },
        () => {
          if (this.#workspaces.get(workspaceId) === loading) this.#workspaces.delete(workspaceId);
        },
      );
    }
    return loading;
  }

  async #permissionsOf(generation: number): Promise<Map<string, PermissionFacts>> {
    if (!this.cacheable || generation !== this.#generation) return loadPermissions(this.store.db);
    this.#permissions ??= loadPermissions(this.store.db);
    const loading = this.#permissions;
    loading.catch(() => {
      if (this.#permissions === loading) this.#permissions = undefined;
    });
    return loading;
  }

  async tokens(): Promise<Map<string, TokenFacts>> {
    if (!this.cacheable) return loadTokens(this.store.db);
    const existing = this.#tokens;
    if (existing !== undefined) return existing;
    const generation = this.#generation;
    const loading = loadTokens(this.store.db);
    this.#tokens = loading;
    loading.then(
      (tokens) => {
        // A load that raced with a change (a revocation) is not kept.
        if (this.#generation !== generation) {
          if (this.#tokens === loading) this.#tokens = undefined;
        } else if (this.cacheable && this.#tokens === loading) this.#loadedTokens = tokens;
      },
      () => {
        if (this.#tokens === loading) this.#tokens = undefined;
      },
    );
    return loading;
  }
}
