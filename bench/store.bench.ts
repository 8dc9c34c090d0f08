// The identity store's bars (DESIGN.md §9), on SQLite and PostgreSQL:
//  1. raw bulk insert of 10,000 member rows (multi-row INSERTs, one transaction)
//  2. full apply of 10,000 members in 100 workspaces into an empty store
//     (rules, plan, members, invitations, outbox, audit): goal <= 3x (1)
//  3. re-apply with no changes: zero writes, goal < 1 s
//  4. peak RSS
// PostgreSQL is started with the test harness (or GATEHOUSE_TEST_POSTGRES_URL).
import { randomUUID } from 'node:crypto';
import type { KyselyPlugin } from 'kysely';
import type { GatehouseObject } from '../src/model/kinds.js';
import { getDefaultProfile } from '../src/model/profile.js';
import { emptyObservedStore, plan } from '../src/reconcile/plan.js';
import { memberDigest, type MemberRecord } from '../src/reconcile/records.js';
import { syncToStore } from '../src/reconcile/sync.js';
import { openStore, type Store } from '../src/store/store.js';
import { generateDeclaration } from '../test/support/declarations.js';
import { createSchema, postgresUnavailableReason, startPostgres, type PostgresServer } from '../test/support/postgres.js';
import { peakRssMiB, report, timeIt } from './report.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WORKSPACES = 100;
const MEMBERS_PER_WORKSPACE = 100;
const AT = new Date('2026-06-01T00:00:00.000Z');
const profile = getDefaultProfile();
const ROWS_PER_INSERT = 300;

/** Counts statements that are not reads. */
function writeCounter(): KyselyPlugin & { writes: number; statements: number } {
  return {
    writes: 0,
    statements: 0,
    transformQuery(args) {
      this.statements += 1;
      const kind = args.node.kind;
      if (kind === 'InsertQueryNode' || kind === 'UpdateQueryNode' || kind === 'DeleteQueryNode' || kind === 'MergeQueryNode') this.writes += 1;
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
}

function memberRows(records: MemberRecord[], at: string) {
  return records.map((r) => ({
    member_id: randomUUID(),
    workspace_id: r.workspaceId,
    email: r.email,
    email_normalized: r.emailNormalized,
    display_name: r.displayName,
    phone: r.phone ?? null,
    role_id: r.roleId ?? null,
    login_type: r.loginType,
    expires_at: r.expiresAt ?? null,
    state: r.state,
    accepted_at: null,
    last_login_at: null,
    deletion_policy: r.deletionPolicy,
    managed: true,
    source_kind: r.source?.kind ?? null,
    source_namespace: r.source?.namespace ?? null,
    source_name: r.source?.name ?? null,
    source_uid: null,
    source_generation: null,
    source_file: null,
    written_digest: memberDigest(r),
    created_at: at,
    updated_at: at,
  }));
}

interface Figures {
  raw: number;
  apply: number;
  actions: number;
  reapply: number;
  reapplyWrites: number;
  reapplyStatements: number;
}

async function measure(name: string, newDsn: () => Promise<string>, desired: GatehouseObject[]): Promise<Figures> {
  const declared = plan(desired, emptyObservedStore(), AT, { profile, actor: 'bench', scope: { type: 'all' } });
  const memberRecords = declared.actions.filter((a) => a.target === 'member').map((a) => a.record as MemberRecord);
  const scaffold = { ...declared, actions: declared.actions.filter((a) => a.target !== 'member' && a.target !== 'supportGrant') };

  // (1) raw: the same member rows, multi-row INSERTs in one transaction, into a store holding the workspaces and roles.
  const rawStore = await openStore(await newDsn());
  let raw: number;
  try {
    const { applyPlan } = await import('../src/store/apply.js');
    await rawStore.write((trx) => applyPlan(trx, scaffold, { at: AT, actor: 'bench' }));
    const rows = memberRows(memberRecords, AT.toISOString());
    raw = (
      await timeIt(() =>
        rawStore.write(async (trx) => {
          for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) await trx.insertInto('members').values(rows.slice(i, i + ROWS_PER_INSERT)).execute();
        }),
      )
    ).ms;
  } finally {
    await rawStore.close();
  }

  // (2) full apply into an empty store.
  const store: Store = await openStore(await newDsn());
  try {
    const applied = await timeIt(() => syncToStore(store, desired, { at: AT, actor: 'bench', scope: { type: 'all' }, profile }));
    // (3) the same again: nothing to do, nothing written.
    const counter = writeCounter();
    const again = await timeIt(() => syncToStore(store.withPlugin(counter), desired, { at: AT, actor: 'bench', scope: { type: 'all' }, profile }));
    if (again.value.plan.actions.length !== 0) throw new Error(`${name}: re-apply planned ${again.value.plan.actions.length} actions`);
    return {
      raw,
      apply: applied.ms,
      actions: applied.value.plan.actions.length,
      reapply: again.ms,
      reapplyWrites: counter.writes,
      reapplyStatements: counter.statements,
    };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const desired = generateDeclaration({ workspaces: WORKSPACES, membersPerWorkspace: MEMBERS_PER_WORKSPACE });
  const members = desired.filter((o) => o.kind === 'Member').length;
  process.stdout.write(`${members} members in ${WORKSPACES} workspaces (${desired.length} objects)\n`);

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  let n = 0;
  const results: Array<[string, Figures]> = [];
  try {
    // Warm up the code paths (JIT, schema compilation) on a small declaration first.
    await measure('warm-up', async () => `sqlite:${join(dir, `warm-${++n}.db`)}`, generateDeclaration({ workspaces: 2, membersPerWorkspace: 20 }));
    results.push(['sqlite', await measure('sqlite', async () => `sqlite:${join(dir, `store-${++n}.db`)}`, desired)]);
    const rssAfterSqlite = peakRssMiB();

    let server: PostgresServer | undefined;
    const reason = postgresUnavailableReason();
    if (reason === undefined) {
      server = await startPostgres();
      try {
        const url = server.url;
        results.push(['postgres', await measure('postgres', async () => createSchema(url, `bench_${++n}`), desired)]);
      } finally {
        await server.stop();
      }
    } else {
      process.stdout.write(`PostgreSQL skipped: ${reason}\n`);
    }

    const rows: Array<[string, string | number]> = [];
    for (const [name, f] of results) {
      rows.push([`${name}: raw bulk insert of ${members} member rows (ms)`, f.raw]);
      rows.push([`${name}: full apply into an empty store (ms)`, f.apply]);
      rows.push([`${name}: actions applied`, String(f.actions)]);
      rows.push([`${name}: apply / raw (goal <= 3x)`, `${(f.apply / f.raw).toFixed(2)}x`]);
      rows.push([`${name}: re-apply with no changes (ms, goal < 1000)`, f.reapply]);
      rows.push([`${name}: re-apply writes (goal 0) / statements`, `${f.reapplyWrites} / ${f.reapplyStatements}`]);
    }
    rows.push(['peak RSS after SQLite runs (MiB)', rssAfterSqlite]);
    rows.push(['peak RSS, whole run (MiB)', peakRssMiB()]);
    report(rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
