// The identity store's bars (DESIGN.md §9), on SQLite and PostgreSQL:
//  1. raw bulk insert of the same rows into the same database (multi-row INSERTs,
//     one transaction): (a) every row the apply writes (workspaces, roles,
//     members, invitations, outbox, support grants, audit log and its personal values), read back from
//     the applied store; (b) the 10,000 member rows alone, for reference
//  2. full apply of 10,000 members in 100 workspaces into an empty store
//     (rules, plan, members, invitations, outbox, audit): goal <= 3x (1a)
//  3. re-apply with no changes: zero writes, goal < 1 s
//  4. peak RSS
// PostgreSQL is started with the test harness (or GATEHOUSE_TEST_POSTGRES_URL).
import type { KyselyPlugin } from 'kysely';
import type { GatehouseObject } from '../src/model/kinds.js';
import { getDefaultProfile } from '../src/model/profile.js';
import { emptyObservedStore, plan } from '../src/reconcile/plan.js';
import type { MemberRecord } from '../src/reconcile/records.js';
import { syncToStore } from '../src/sync/sync.js';
import { applyPlan, newMemberRow } from '../src/store/apply.js';
import { insertRows } from '../src/store/bulk.js';
import { newId } from '../src/store/ids.js';
import { openStore, type Store } from '../src/store/store.js';
import { generateDeclaration } from '../test/support/declarations.js';
import { createSchema, postgresUnavailableReason, startPostgres, type PostgresServer } from '../test/support/postgres.js';
import type { Member } from '../src/model/member.js';
import { refOfObject } from '../src/reconcile/plan.js';
import { createObjectIndex } from '../src/rules/index.js';
import { peakRssMiB, percentile, report, timeIt } from './report.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WORKSPACES = 100;
/** Each figure is the median of this many runs on fresh stores (this machine is shared; single runs are noisy). */
const RUNS = Number(process.env.GATEHOUSE_BENCH_RUNS ?? 3);
const MEMBERS_PER_WORKSPACE = 100;
const AT = new Date('2026-06-01T00:00:00.000Z');
const profile = getDefaultProfile();

/** Counts statements, and the writes among them (every result passes here; writes report affected rows). */
function writeCounter(): KyselyPlugin & { writes: number; statements: number } {
  return {
    writes: 0,
    statements: 0,
    transformQuery(args) {
      return args.node;
    },
    async transformResult(args) {
      this.statements += 1;
      if (args.result.numAffectedRows !== undefined) this.writes += 1;
      return args.result;
    },
  };
}

function memberRows(records: MemberRecord[], at: string) {
  return records.map((r) => newMemberRow(r, newId(), at));
}

/** Tables in foreign-key order: what a full apply writes. */
const APPLIED_TABLES = ['workspaces', 'roles', 'role_permissions', 'members', 'invitations', 'invitation_outbox', 'support_grants', 'audit_log', 'audit_head', 'audit_personal'] as const;

/** Every row the applied store holds, table by table, to insert again raw. */
async function rowsOf(store: Store): Promise<Array<[(typeof APPLIED_TABLES)[number], Record<string, unknown>[]]>> {
  return store.read(async (trx) => {
    const out: Array<[(typeof APPLIED_TABLES)[number], Record<string, unknown>[]]> = [];
    for (const table of APPLIED_TABLES) out.push([table, (await trx.selectFrom(table).selectAll().execute()) as Record<string, unknown>[]]);
    return out;
  });
}

/** Raw bulk insert of `tables` into a fresh store, one transaction; tables the fresh store already fills are left out. */
async function rawInsertAll(dsn: string, tables: Array<[(typeof APPLIED_TABLES)[number], Record<string, unknown>[]]>): Promise<{ ms: number; rows: number }> {
  const fresh = await openStore(dsn);
  try {
    const prefilled = await fresh.read(async (trx) => {
      const names = new Set<string>();
      for (const [table] of tables) if ((await trx.selectFrom(table).selectAll().limit(1).execute()).length > 0) names.add(table);
      return names;
    });
    const todo = tables.filter(([table]) => !prefilled.has(table));
    const rows = todo.reduce((n, [, r]) => n + r.length, 0);
    const { ms } = await timeIt(() =>
      fresh.write(async (trx) => {
        for (const [table, r] of todo) await insertRows(trx, table, r);
      }),
    );
    return { ms, rows };
  } finally {
    await fresh.close();
  }
}

interface Figures {
  /** Raw bulk insert of every row the apply writes. */
  rawAll: number;
  rawAllRows: number;
  raw: number;
  apply: number;
  rawRuns: number[];
  applyRuns: number[];
  actions: number;
  reapply: number;
  reapplyWrites: number;
  reapplyStatements: number;
  /** One changed Member synced alone (the operator's path), median and p99 over SCOPED_SAMPLES. */
  scopedMedian: number;
  scopedP99: number;
}

const SCOPED_SAMPLES = 100;

async function measureOnce(name: string, newDsn: () => Promise<string>, desired: GatehouseObject[]): Promise<Omit<Figures, 'rawRuns' | 'applyRuns'>> {
  const declared = plan(desired, emptyObservedStore(), AT, { profile, actor: 'bench', scope: { type: 'all' } });
  const memberRecords = declared.actions.filter((a) => a.target === 'member').map((a) => a.record as MemberRecord);
  const scaffold = { ...declared, actions: declared.actions.filter((a) => a.target !== 'member' && a.target !== 'supportGrant') };

  // (1) raw: the same member rows, multi-row INSERTs (the store's own bulk insert) in one
  // transaction, into a store that already holds the workspaces and roles they refer to.
  const rawStore = await openStore(await newDsn());
  let raw: number;
  try {
    await rawStore.write((trx) => applyPlan(trx, scaffold, { at: AT, actor: 'bench' }));
    const rows = memberRows(memberRecords, AT.toISOString());
    raw = (await timeIt(() => rawStore.write((trx) => insertRows(trx, 'members', rows)))).ms;
  } finally {
    await rawStore.close();
  }

  // (2) full apply into an empty store.
  const store: Store = await openStore(await newDsn());
  try {
    const applied = await timeIt(() => syncToStore(store, desired, { at: AT, actor: 'bench', scope: { type: 'all' }, profile }));
    // (1a) raw: the very rows the apply wrote, inserted again into a fresh store.
    const rawAll = await rawInsertAll(await newDsn(), await rowsOf(store));
    // (3) the same again: nothing to do, nothing written.
    const counter = writeCounter();
    const again = await timeIt(() => syncToStore(store.withPlugin(counter), desired, { at: AT, actor: 'bench', scope: { type: 'all' }, profile }));
    if (again.value.plan.actions.length !== 0) throw new Error(`${name}: re-apply planned ${again.value.plan.actions.length} actions`);

    // (5) the operator's path: one Member changed, synced alone, the rest as context.
    const index = createObjectIndex(desired);
    const members = desired.filter((o): o is Member => o.kind === 'Member');
    const scoped: number[] = [];
    for (let i = 0; i < SCOPED_SAMPLES; i += 1) {
      const target = members[(i * 97) % members.length] as Member;
      const changed: Member = { ...target, spec: { ...target.spec, phone: `+4930${String(200000 + i)}` } };
      const declared = desired.map((o) => (o === target ? changed : o));
      const one = await timeIt(() =>
        syncToStore(store, declared, { at: AT, actor: 'bench', scope: { type: 'objects', refs: [refOfObject(changed)] }, profile, index }),
      );
      if (one.value.plan.actions.length !== 1) throw new Error(`${name}: scoped sync planned ${one.value.plan.actions.length} actions`);
      scoped.push(one.ms);
    }
    return {
      scopedMedian: percentile(scoped, 50),
      scopedP99: percentile(scoped, 99),
      raw,
      rawAll: rawAll.ms,
      rawAllRows: rawAll.rows,
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

/** Peak RSS of a process that does nothing but one full apply of the declaration (own process: own peak). */
function singleApplyPeakRss(dsn: string): number {
  const tsx = createRequire(import.meta.url).resolve('tsx/cli');
  const result = spawnSync(process.execPath, [tsx, fileURLToPath(import.meta.url), '--single-apply', dsn], { encoding: 'utf8' });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return (JSON.parse(line) as { peakRssMiB: number }).peakRssMiB;
  } catch {
    throw new Error(`single apply failed: ${result.stdout}\n${result.stderr}`);
  }
}

async function singleApply(dsn: string): Promise<void> {
  const desired = generateDeclaration({ workspaces: WORKSPACES, membersPerWorkspace: MEMBERS_PER_WORKSPACE });
  const store = await openStore(dsn);
  try {
    const result = await syncToStore(store, desired, { at: AT, actor: 'bench', scope: { type: 'all' }, profile });
    process.stdout.write(`${JSON.stringify({ actions: result.plan.actions.length, peakRssMiB: peakRssMiB() })}\n`);
  } finally {
    await store.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function measure(name: string, newDsn: () => Promise<string>, desired: GatehouseObject[], runs = RUNS): Promise<Figures> {
  const all: Array<Omit<Figures, 'rawRuns' | 'applyRuns'>> = [];
  for (let i = 0; i < runs; i += 1) {
    global.gc?.();
    all.push(await measureOnce(name, newDsn, desired));
  }
  const rawRuns = all.map((f) => f.raw);
  const applyRuns = all.map((f) => f.apply);
  const last = all[all.length - 1] as Omit<Figures, 'rawRuns' | 'applyRuns'>;
  return {
    ...last,
    raw: median(rawRuns),
    rawAll: median(all.map((f) => f.rawAll)),
    apply: median(applyRuns),
    reapply: median(all.map((f) => f.reapply)),
    rawRuns,
    applyRuns,
  };
}

async function main(): Promise<void> {
  const desired = generateDeclaration({ workspaces: WORKSPACES, membersPerWorkspace: MEMBERS_PER_WORKSPACE });
  const members = desired.filter((o) => o.kind === 'Member').length;
  process.stdout.write(`${members} members in ${WORKSPACES} workspaces (${desired.length} objects), median of ${RUNS} runs\n`);

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  let n = 0;
  const results: Array<[string, Figures]> = [];
  try {
    // Warm up the code paths (JIT, schema compilation) on a small declaration first.
    await measure('warm-up', async () => `sqlite:${join(dir, `warm-${++n}.db`)}`, generateDeclaration({ workspaces: 2, membersPerWorkspace: 20 }), 1);
    results.push(['sqlite', await measure('sqlite', async () => `sqlite:${join(dir, `store-${++n}.db`)}`, desired)]);
    const rssSqlite = singleApplyPeakRss(`sqlite:${join(dir, `rss-${++n}.db`)}`);
    let rssPostgres: number | undefined;

    let server: PostgresServer | undefined;
    const reason = postgresUnavailableReason();
    if (reason === undefined) {
      server = await startPostgres();
      try {
        const url = server.url;
        results.push(['postgres', await measure('postgres', async () => createSchema(url, `bench_${++n}`), desired)]);
        rssPostgres = singleApplyPeakRss(await createSchema(url, `bench_${++n}`));
      } finally {
        await server.stop();
      }
    } else {
      process.stdout.write(`PostgreSQL skipped: ${reason}\n`);
    }

    const rows: Array<[string, string | number]> = [];
    for (const [name, f] of results) {
      rows.push([`${name}: raw bulk insert of every row the apply writes, ${f.rawAllRows} rows (ms, median)`, f.rawAll]);
      rows.push([`${name}: raw bulk insert of the ${members} member rows alone (ms, median)`, f.raw]);
      rows.push([`${name}: full apply into an empty store (ms, median)`, f.apply]);
      rows.push([`${name}: runs raw members / apply (ms)`, `${f.rawRuns.map((v) => v.toFixed(0)).join(', ')} / ${f.applyRuns.map((v) => v.toFixed(0)).join(', ')}`]);
      rows.push([`${name}: actions applied`, String(f.actions)]);
      rows.push([`${name}: apply / raw insert of the same rows (goal <= 3x)`, `${(f.apply / f.rawAll).toFixed(2)}x`]);
      rows.push([`${name}: apply / raw insert of member rows alone`, `${(f.apply / f.raw).toFixed(2)}x`]);
      rows.push([`${name}: re-apply with no changes (ms, goal < 1000)`, f.reapply]);
      rows.push([`${name}: re-apply writes (goal 0) / statements`, `${f.reapplyWrites} / ${f.reapplyStatements}`]);
      rows.push([`${name}: one changed Member synced alone, median / p99 (ms)`, `${f.scopedMedian.toFixed(1)} / ${f.scopedP99.toFixed(1)}`]);
    }
    rows.push(['sqlite: peak RSS of a process doing one 10,000-member apply (MiB)', rssSqlite]);
    if (rssPostgres !== undefined) rows.push(['postgres: peak RSS of a process doing one 10,000-member apply (MiB)', rssPostgres]);
    rows.push(['peak RSS of this benchmark process, all runs (MiB)', peakRssMiB()]);
    report(rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const single = process.argv.indexOf('--single-apply');
if (single >= 0) await singleApply(process.argv[single + 1] as string);
else await main();
