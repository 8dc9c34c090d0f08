// Versioned, forward-only migrations of the identity store. They run when a
// store is opened, in one transaction holding the store's write lock, so two
// processes opening a new store at once do not both create it. A store whose
// schema is newer than this Gatehouse is refused rather than guessed at.
//
// Never edit a migration that was released: add the next one.
import { sql, type CreateTableBuilder, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

export type StoreDialect = 'sqlite' | 'postgres';

/** Column types per dialect; everything else is written once. */
interface ColumnTypes {
  timestamp: 'text' | 'timestamptz';
  boolean: 'integer' | 'boolean';
  json: 'text' | 'jsonb';
  /** JSON kept exactly as written (audit entries): PostgreSQL's json, not the re-encoded jsonb. */
  verbatimJson: 'text' | 'json';
  id: 'text' | 'uuid';
}

function columnTypes(dialect: StoreDialect): ColumnTypes {
  return dialect === 'sqlite'
    ? { timestamp: 'text', boolean: 'integer', json: 'text', verbatimJson: 'text', id: 'text' }
    : { timestamp: 'timestamptz', boolean: 'boolean', json: 'jsonb', verbatimJson: 'json', id: 'uuid' };
}

/**
 * SQLite: store the table in its primary-key B-tree (WITHOUT ROWID), so a row
 * with a text or composite key is written once, not to a rowid table plus a
 * key index. PostgreSQL: unchanged.
 */
function withoutRowid(dialect: StoreDialect) {
  return <T extends CreateTableBuilder<string, string>>(table: T): T =>
    dialect === 'sqlite' ? (table.modifyEnd(sql`without rowid`) as T) : table;
}

export interface StoreMigration {
  version: number;
  name: string;
  up(db: Transaction<Database>, dialect: StoreDialect): Promise<void>;
}

// kysely's schema builder is typed for any table name; the created tables are typed in schema.ts.
type AnyDb = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function withSourceColumns<T extends string, C extends string>(
  table: CreateTableBuilder<T, C>,
  t: ColumnTypes,
): CreateTableBuilder<T, C> {
  return table
    .addColumn('deletion_policy', 'text', (c) => c.notNull())
    .addColumn('managed', t.boolean, (c) => c.notNull())
    .addColumn('source_kind', 'text')
    .addColumn('source_namespace', 'text')
    .addColumn('source_name', 'text')
    .addColumn('source_uid', 'text')
    .addColumn('source_generation', 'integer')
    .addColumn('source_file', 'text')
    .addColumn('written_digest', 'text', (c) => c.notNull())
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('updated_at', t.timestamp, (c) => c.notNull()) as CreateTableBuilder<T, C>;
}

export const MIGRATIONS: readonly StoreMigration[] = [
  {
    version: 1,
    name: 'workspaces-roles-members-support-grants',
    async up(trx, dialect) {
      const db = trx as unknown as AnyDb;
      const t = columnTypes(dialect);
      await db.schema
        .createTable('permissions')
        .addColumn('permission_id', 'text', (c) => c.primaryKey())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('access', 'text', (c) => c.notNull())
        .addColumn('sensitive', t.boolean, (c) => c.notNull())
        .addColumn('administrative', t.boolean, (c) => c.notNull())
        .addColumn('legacy', t.boolean, (c) => c.notNull())
        .$call(withoutRowid(dialect))
        .execute();

      await withSourceColumns(
        db.schema
          .createTable('workspaces')
          .addColumn('workspace_id', 'text', (c) => c.primaryKey())
          .addColumn('display_name', 'text', (c) => c.notNull())
          .addColumn('two_factor', 'text', (c) => c.notNull())
          .addColumn('sso_enforced', t.boolean, (c) => c.notNull())
          .addColumn('saml_idp_entity_id', 'text')
          .addColumn('saml_sso_url', 'text')
          .addColumn('saml_signing_certificate', 'text')
          .addColumn('ip_allowlist', t.json, (c) => c.notNull())
          .addColumn('idle_session_timeout_seconds', 'integer', (c) => c.notNull())
          .addColumn('invitation_lifetime_seconds', 'integer', (c) => c.notNull())
          .addColumn('max_temporary_access_seconds', 'integer')
          .addColumn('admins_min', 'integer', (c) => c.notNull())
          .addColumn('admins_max', 'integer', (c) => c.notNull())
          .addColumn('access_review_interval_seconds', 'integer', (c) => c.notNull())
          .addColumn('inactivity_threshold_seconds', 'integer', (c) => c.notNull())
          .addColumn('support_allowed', t.boolean, (c) => c.notNull())
          .addColumn('support_max_duration_seconds', 'integer', (c) => c.notNull())
          .addColumn('support_allow_read_write', t.boolean, (c) => c.notNull()),
        t,
      ).$call(withoutRowid(dialect)).execute();
      await db.schema.createIndex('workspaces_source').on('workspaces').columns(['source_namespace', 'source_name']).execute();

      await withSourceColumns(
        db.schema
          .createTable('roles')
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.workspace_id').onDelete('cascade'))
          .addColumn('role_id', 'text', (c) => c.notNull())
          .addColumn('display_name', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('builtin', t.boolean, (c) => c.notNull())
          .addColumn('administrative', t.boolean, (c) => c.notNull()),
        t,
      )
        .addPrimaryKeyConstraint('roles_pk', ['workspace_id', 'role_id'])
        .$call(withoutRowid(dialect))
        .execute();

      await db.schema
        .createTable('role_permissions')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('role_id', 'text', (c) => c.notNull())
        .addColumn('permission_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('role_permissions_pk', ['workspace_id', 'role_id', 'permission_id'])
        .addForeignKeyConstraint('role_permissions_role_fk', ['workspace_id', 'role_id'], 'roles', ['workspace_id', 'role_id'], (c) =>
          c.onDelete('cascade'),
        )
        .$call(withoutRowid(dialect))
        .execute();

      await withSourceColumns(
        db.schema
          .createTable('members')
          .addColumn('member_id', t.id, (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.workspace_id').onDelete('cascade'))
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('email_normalized', 'text', (c) => c.notNull())
          .addColumn('display_name', 'text', (c) => c.notNull())
          .addColumn('phone', 'text')
          .addColumn('role_id', 'text')
          .addColumn('login_type', 'text', (c) => c.notNull())
          .addColumn('expires_at', t.timestamp)
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('accepted_at', t.timestamp)
          .addColumn('last_login_at', t.timestamp),
        t,
      )
        .addUniqueConstraint('members_email_unique', ['workspace_id', 'email_normalized'])
        // A role still assigned cannot be deleted (NULL role: legacy member, not checked).
        .addForeignKeyConstraint('members_role_fk', ['workspace_id', 'role_id'], 'roles', ['workspace_id', 'role_id'])
        .$call(withoutRowid(dialect))
        .execute();
      await db.schema.createIndex('members_source').on('members').columns(['source_namespace', 'source_name']).execute();
      await db.schema.createIndex('members_role').on('members').columns(['workspace_id', 'role_id']).execute();

      await withSourceColumns(
        db.schema
          .createTable('support_grants')
          .addColumn('grant_id', t.id, (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.workspace_id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('grantee_type', 'text', (c) => c.notNull())
          .addColumn('agents', t.json, (c) => c.notNull())
          .addColumn('scope_type', 'text', (c) => c.notNull())
          .addColumn('scope_member_email', 'text')
          .addColumn('access_level', 'text', (c) => c.notNull())
          .addColumn('starts_at', t.timestamp, (c) => c.notNull())
          .addColumn('ends_at', t.timestamp, (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('ticket', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('revoked_at', t.timestamp),
        t,
      )
        .addUniqueConstraint('support_grants_name_unique', ['workspace_id', 'name'])
        .$call(withoutRowid(dialect))
        .execute();
      await db.schema.createIndex('support_grants_source').on('support_grants').columns(['source_namespace', 'source_name']).execute();
    },
  },
  {
    version: 2,
    name: 'invitations-and-outbox',
    async up(trx, dialect) {
      const db = trx as unknown as AnyDb;
      const t = columnTypes(dialect);
      await db.schema
        .createTable('invitations')
        .addColumn('invitation_id', t.id, (c) => c.primaryKey())
        .addColumn('member_id', t.id, (c) => c.notNull().unique().references('members.member_id').onDelete('cascade'))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('sender', 'text', (c) => c.notNull())
        .addColumn('sent_at', t.timestamp, (c) => c.notNull())
        .addColumn('expires_at', t.timestamp, (c) => c.notNull())
        .addColumn('responded_at', t.timestamp)
        .addColumn('sent_count', 'integer', (c) => c.notNull())
        .addColumn('resend_requested', 'integer', (c) => c.notNull())
        .addColumn('created_at', t.timestamp, (c) => c.notNull())
        .$call(withoutRowid(dialect))
        .execute();

      await db.schema
        .createTable('invitation_outbox')
        .addColumn('outbox_id', t.id, (c) => c.primaryKey())
        .addColumn('invitation_id', t.id, (c) => c.notNull().references('invitations.invitation_id').onDelete('cascade'))
        // The plaintext token; the row is deleted when the mailer takes it.
        .addColumn('token', 'text', (c) => c.notNull())
        .addColumn('created_at', t.timestamp, (c) => c.notNull())
        .$call(withoutRowid(dialect))
        .execute();
      await db.schema.createIndex('invitation_outbox_invitation').on('invitation_outbox').column('invitation_id').execute();
    },
  },
  {
    version: 3,
    name: 'audit-log',
    async up(trx, dialect) {
      const db = trx as unknown as AnyDb;
      const t = columnTypes(dialect);
      await db.schema
        .createTable('audit_log')
        .addColumn('seq', 'integer', (c) => c.primaryKey())
        .addColumn('at', t.timestamp, (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('object_kind', 'text')
        .addColumn('object_namespace', 'text')
        .addColumn('object_name', 'text')
        .addColumn('object_uid', 'text')
        .addColumn('object_generation', 'integer')
        .addColumn('source_file', 'text')
        .addColumn('workspace_id', 'text')
        .addColumn('before', t.verbatimJson)
        .addColumn('after', t.verbatimJson)
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_workspace').on('audit_log').columns(['workspace_id', 'seq']).execute();
      await db.schema.createIndex('audit_log_object').on('audit_log').columns(['object_namespace', 'object_name', 'seq']).execute();
      await db.schema
        .createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
    },
  },
  {
    version: 4,
    name: 'revocation-cause-and-leadership-fence',
    // Why a grant was revoked: its declaration (spec.revoked), or its Workspace
    // switching support access off. Only the first may not be undone in the
    // spec (RevokedGrantReinstated); null on grants revoked before this version.
    // And the leadership fence: the term of the operator that wrote last, so a
    // deposed leader's write is refused (docs/adr/0009-leadership-fencing.md).
    async up(trx, dialect) {
      const db = trx as unknown as AnyDb;
      const t = columnTypes(dialect);
      await db.schema.alterTable('support_grants').addColumn('revoked_cause', 'text').execute();
      await db.schema
        .createTable('leadership_fence')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('lease_uid', 'text', (c) => c.notNull())
        .addColumn('transitions', 'integer', (c) => c.notNull())
        .addColumn('acquire_time', 'text', (c) => c.notNull())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('updated_at', t.timestamp, (c) => c.notNull())
        .execute();
    },
  },
  {
    version: 5,
    name: 'decision-api',
    async up(trx, dialect) {
      const db = trx as unknown as AnyDb;
      const t = columnTypes(dialect);
      // Bearer tokens of the decision API; only their SHA-256 is kept.
      await db.schema
        .createTable('api_tokens')
        .addColumn('token_id', t.id, (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', t.timestamp, (c) => c.notNull())
        .addColumn('revoked_at', t.timestamp)
        .$call(withoutRowid(dialect))
        .execute();
      // Allowed decisions, counted per member and permission: the access review's evidence of privileges in use.
      await db.schema
        .createTable('permission_usage')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('email_normalized', 'text', (c) => c.notNull())
        .addColumn('permission_id', 'text', (c) => c.notNull())
        .addColumn('allowed_count', 'integer', (c) => c.notNull())
        .addColumn('first_allowed_at', t.timestamp, (c) => c.notNull())
        .addColumn('last_allowed_at', t.timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint('permission_usage_pk', ['workspace_id', 'email_normalized', 'permission_id'])
        .$call(withoutRowid(dialect))
        .execute();
      // SAML assertion ids seen, kept until the assertion itself expires, so a captured response cannot be replayed.
      await db.schema
        .createTable('saml_assertions_seen')
        .addColumn('assertion_id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('expires_at', t.timestamp, (c) => c.notNull())
        .$call(withoutRowid(dialect))
        .execute();
      if (dialect === 'postgres') {
        // The decision API caches what it reads and drops the cache on this notification (SQLite: data_version).
        await sql`create or replace function gatehouse_notify_change() returns trigger language plpgsql as $$
          begin perform pg_notify('gatehouse_store_changed', tg_table_name); return null; end $$`.execute(db);
        for (const table of ['permissions', 'workspaces', 'roles', 'role_permissions', 'members', 'support_grants', 'api_tokens']) {
          await sql`create trigger ${sql.raw(`${table}_changed`)} after insert or update or delete or truncate on ${sql.table(table)}
            for each statement execute function gatehouse_notify_change()`.execute(db);
        }
      }
    },
  },
  {
    version: 6,
    name: 'audit-authentication',
    async up(trx, dialect) {
      const db = trx as unknown as AnyDb;
      // Each entry's key id and HMAC (NULL: written without an audit key, or before this version).
      await db.schema.alterTable('audit_log').addColumn('key_id', 'text').execute();
      await db.schema.alterTable('audit_log').addColumn('mac', 'text').execute();
      // Personal data beside the chain: the entry chains a salted digest, the values can be erased.
      await db.schema.alterTable('audit_log').addColumn('personal_digest', 'text').execute();
      await db.schema
        .createTable('audit_personal')
        .addColumn('seq', 'integer', (c) => c.primaryKey())
        .addColumn('salt', 'text', (c) => c.notNull())
        .addColumn('data', columnTypes(dialect).verbatimJson, (c) => c.notNull())
        .execute();
      if (dialect === 'postgres') {
        // Append-only for every role that does not own the table, whatever it was granted,
        // and for the owner too unless it drops the trigger (docs/security.md: run
        // Gatehouse as a role that does not own the tables to close that gap).
        await sql`
          create or replace function gatehouse_audit_append_only() returns trigger language plpgsql as $$
          begin
            raise exception 'the audit log is append-only: % on audit_log is refused', tg_op
              using errcode = 'insufficient_privilege',
                    hint = 'audit entries are never changed or deleted; redact personal data with gatehouse audit redact';
          end
          $$`.execute(db);
        await sql`create trigger audit_log_append_only before update or delete on audit_log for each row execute function gatehouse_audit_append_only()`.execute(db);
        await sql`create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function gatehouse_audit_append_only()`.execute(db);
        await sql`revoke update, delete, truncate on audit_log from public`.execute(db);
      }
    },
  },
  {
    version: 7,
    name: 'deletion-claims',
    // Who deleted an object in the cluster, as the validating webhook admitted
    // the DELETE: no annotation can be stamped on a delete, so the claim waits
    // here, keyed by the object's uid, until the operator removes its rows and
    // names the user in the audit entry (docs/adr/0014-who-deleted.md).
    async up(trx, dialect) {
      const db = trx as unknown as AnyDb;
      const t = columnTypes(dialect);
      await db.schema
        .createTable('deletion_claims')
        .addColumn('object_uid', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('claimed_at', t.timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint('deletion_claims_pk', ['object_uid', 'username'])
        .$call(withoutRowid(dialect))
        .execute();
      await db.schema.createIndex('deletion_claims_by_object').on('deletion_claims').columns(['kind', 'namespace', 'name']).execute();
      await db.schema.createIndex('deletion_claims_by_time').on('deletion_claims').column('claimed_at').execute();
    },
  },
  {
    version: 8,
    name: 'member-activity-indexes',
    // The operator polls for members the application changed since an instant
    // (accepted_at, last_login_at): indexed, the poll reads those rows, not the table.
    async up(trx) {
      const db = trx as unknown as AnyDb;
      await db.schema.createIndex('members_accepted_at').on('members').column('accepted_at').execute();
      await db.schema.createIndex('members_last_login_at').on('members').column('last_login_at').execute();
    },
  },
  {
    version: 9,
    name: 'sqlite-fact-changes',
    // SQLite's counterpart of migration 5's notifications: a counter that moves with every change
    // to the tables the decision API caches, and only with those. (PRAGMA data_version moved with
    // any commit by another connection, so usage counts and audit entries dropped the cache too.)
    // The list is migration 5's, frozen here as it was when written.
    async up(trx, dialect) {
      if (dialect !== 'sqlite') return;
      const db = trx as unknown as AnyDb;
      await db.schema
        .createTable('fact_changes')
        .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('version', 'integer', (c) => c.notNull())
        .execute();
      await db.insertInto('fact_changes').values({ id: 1, version: 0 }).execute();
      for (const table of ['permissions', 'workspaces', 'roles', 'role_permissions', 'members', 'support_grants', 'api_tokens']) {
        for (const event of ['insert', 'update', 'delete']) {
          await sql`create trigger ${sql.raw(`${table}_${event}_counted`)} after ${sql.raw(event)} on ${sql.table(table)}
            begin update fact_changes set version = version + 1 where id = 1; end`.execute(db);
        }
      }
    },
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.length;

export class SchemaVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaVersionError';
  }
}

/** A store with no Gatehouse schema yet (a reader found nothing to read). */
export class SchemaMissingError extends SchemaVersionError {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaMissingError';
  }
}

/**
 * Checks, without a lock and without writing, that the store's schema is the
 * one this build knows: readers run it instead of migrating, so a SELECT-only
 * role can read and a writer holding the lock does not stall them.
 */
export async function checkSchemaVersion(db: Kysely<Database>): Promise<void> {
  let applied: Array<{ version: number; name: string }>;
  try {
    applied = await appliedVersions(db);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (/does not exist|no such table/i.test(text)) {
      throw new SchemaMissingError('the identity store has no Gatehouse schema yet; run gatehouse apply (or the operator, gatehouse run) to create it');
    }
    throw err;
  }
  verifyApplied(applied);
  if (applied.length < LATEST_SCHEMA_VERSION) {
    throw new SchemaVersionError(
      `the identity store's schema is at version ${applied.at(-1)?.version ?? 0}, older than this Gatehouse needs (${MIGRATIONS.at(-1)?.version}); run gatehouse apply or upgrade the operator (gatehouse run) to migrate it`,
    );
  }
}

/** Refuses applied migrations this build does not know or knows differently. */
function verifyApplied(applied: ReadonlyArray<{ version: number; name: string }>): void {
  for (const [i, row] of applied.entries()) {
    const known = MIGRATIONS[i];
    if (known === undefined) {
      throw new SchemaVersionError(
        `the identity store's schema is at version ${applied.length}, newer than this Gatehouse knows (${LATEST_SCHEMA_VERSION}); upgrade Gatehouse or use another store`,
      );
    }
    if (known.version !== row.version || known.name !== row.name) {
      throw new SchemaVersionError(
        `the identity store's migration ${row.version} is "${row.name}" but this Gatehouse expects ${known.version} "${known.name}"; the store was created by an incompatible build`,
      );
    }
  }
}

/** Creates the bookkeeping table; idempotent and safe to race. */
export async function ensureMigrationsTable(db: Kysely<Database>, dialect: StoreDialect): Promise<void> {
  await (db as unknown as AnyDb).schema
    .createTable('gatehouse_schema_migrations')
    .ifNotExists()
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('applied_at', columnTypes(dialect).timestamp, (c) => c.notNull())
    .execute();
}

/** Versions already applied, in order. */
export async function appliedVersions(db: Kysely<Database>): Promise<Array<{ version: number; name: string }>> {
  const rows = await db.selectFrom('gatehouse_schema_migrations').select(['version', 'name']).orderBy('version').execute();
  return rows.map((r) => ({ version: Number(r.version), name: r.name }));
}

/**
 * Brings the schema up to `target` (default: latest) inside the given write
 * transaction. Returns the versions applied now.
 */
export async function migrate(
  trx: Transaction<Database>,
  dialect: StoreDialect,
  at: Date,
  target: number = LATEST_SCHEMA_VERSION,
): Promise<number[]> {
  const applied = await appliedVersions(trx);
  verifyApplied(applied);
  const done: number[] = [];
  for (const migration of MIGRATIONS.slice(applied.length, target)) {
    await migration.up(trx, dialect);
    await trx
      .insertInto('gatehouse_schema_migrations')
      .values({ version: migration.version, name: migration.name, applied_at: at.toISOString() })
      .execute();
    done.push(migration.version);
  }
  return done;
}
