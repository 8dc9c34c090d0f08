// The identity store: one interface over SQLite and PostgreSQL, its schema and
// migrations, the audit log, and the plan executor. docs/store-schema.md
// describes the tables for application developers.
export {
  DEFAULT_SQLITE_PATH,
  POSTGRES_WRITE_LOCK_KEY,
  STORE_ENV,
  StoreError,
  migrateStore,
  openStore,
  parseStoreDsn,
  redactDsn,
  storeDsnFrom,
  type OpenStoreOptions,
  type Store,
  type StoreAddress,
  type StoreDialect,
} from './store.js';
export { LATEST_SCHEMA_VERSION, MIGRATIONS, SchemaVersionError, type StoreMigration } from './migrations.js';
export {
  GENESIS_HASH,
  appendAudit,
  auditHash,
  listAudit,
  verifyAuditChain,
  type AuditEntry,
  type AuditEntryInput,
  type AuditObject,
  type AuditQuery,
  type AuditVerification,
} from './audit.js';
export { applyPlan, hashInvitationToken, type ApplyContext, type ApplyResult } from './apply.js';
export { loadCounts, loadObserved, type ObservedSelection } from './observed.js';
export { checkLeadershipFence, FencedError, type LeadershipToken } from './fence.js';
export type { Database } from './schema.js';
