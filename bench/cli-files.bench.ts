// `gatehouse validate DIR` and `gatehouse apply DIR --store sqlite:…` of the
// same declarations as the operator benches (bench/declarations.ts), written
// as a folder of YAML (one file per Workspace with its Members), at 10,000 and
// 100,000 Members (Workspaces of 100). Each command is its own process, run
// as the container runs it (bench/processes.ts): wall time and peak RSS.
//   - goal: 100,000 costs at most 12x what 10,000 costs (time and memory);
//   - a no-op re-apply at the largest size (nothing changed): under 5 s, and
//     zero writes: no audit entry added, no row's updated_at moved, and the
//     command's own summary says nothing to do.
// GATEHOUSE_BENCH_CLI_MEMBERS (default "10000,100000") sets the sizes; the
// ratio compares the last to the first. When the no-op misses its goal (or with
// GATEHOUSE_BENCH_CLI_PROFILE=1), it runs once more under node --cpu-prof and
// prints where each thread's time went (bench/cpu-profile-summary.ts).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { summarizeCpuProfile } from './cpu-profile-summary.js';
import { buildDeclarations, writeDeclarationFiles } from './declarations.js';
import { CLI_BUILD, loadAverage, prepareGatehouse, runMeasured, type MeasuredRun } from './processes.js';
import { report } from './report.js';

const MEMBERS_PER_WORKSPACE = 100;
const SIZES = (process.env.GATEHOUSE_BENCH_CLI_MEMBERS ?? '10000,100000').split(',').map(Number);
const RATIO_GOAL = 12;
const NOOP_GOAL_SECONDS = 5;
const PROFILE_NOOP = process.env.GATEHOUSE_BENCH_CLI_PROFILE === '1';
// Only the bench's own settings reach the commands.
const ENV = { GATEHOUSE_STORE: '', GATEHOUSE_AUDIT_KEY: '', GATEHOUSE_AUDIT_KEY_FILE: '' };

type Row = [string, string | number];

function mustSucceed(what: string, run: MeasuredRun): MeasuredRun {
  if (run.code !== 0) throw new Error(`${what} exited with ${run.code}:\n${run.stderr.slice(0, 2000)}`);
  return run;
}

/** What a no-op must leave alone: audit entries, and the newest updated_at of each table. */
function storeWrites(file: string): { audit: number; updated: string } {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const audit = (db.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n;
    const updated = ['workspaces', 'roles', 'members', 'support_grants']
      .map((table) => (db.prepare(`SELECT coalesce(max(updated_at), '') AS t FROM ${table}`).get() as { t: string }).t)
      .join(' ');
    return { audit, updated };
  } catch (err) {
    throw new Error(`cannot read the store ${file}: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

interface SizeResult {
  members: number;
  validate: MeasuredRun;
  apply: MeasuredRun;
  store: string;
}

async function measure(members: number, root: string): Promise<SizeResult> {
  const dir = join(root, `declarations-${members}`);
  writeDeclarationFiles(buildDeclarations({ workspaces: Math.ceil(members / MEMBERS_PER_WORKSPACE), membersPerWorkspace: MEMBERS_PER_WORKSPACE }), dir);
  const store = join(root, `store-${members}.db`);
  const validate = mustSucceed(`gatehouse validate (${members})`, await runMeasured(['validate', dir], ENV));
  const apply = mustSucceed(`gatehouse apply (${members})`, await runMeasured(['apply', dir, '--store', `sqlite:${store}`], ENV));
  return { members, validate, apply, store };
}

async function main(): Promise<void> {
  prepareGatehouse();
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-bench-cli-'));
  try {
    const results: SizeResult[] = [];
    const rows: Row[] = [['gatehouse', CLI_BUILD]];
    for (const members of SIZES) {
      const result = await measure(members, root);
      results.push(result);
      rows.push(
        [`${members} Members: load average (1, 5, 15 min)`, loadAverage()],
        [`${members} Members: validate, s`, result.validate.seconds],
        [`${members} Members: validate peak RSS, MiB`, result.validate.peakRssMiB],
        [`${members} Members: apply to an empty store, s`, result.apply.seconds],
        [`${members} Members: apply peak RSS, MiB`, result.apply.peakRssMiB],
      );
    }
    const small = results[0] as SizeResult;
    const large = results.at(-1) as SizeResult;
    if (large !== small) {
      const ratio = (what: string, a: number, b: number): Row => [`${what} ${large.members}/${small.members} (goal <= ${RATIO_GOAL}x): ${b / a <= RATIO_GOAL ? 'met' : 'NOT met'}`, b / a];
      rows.push(
        ratio('validate time', small.validate.seconds, large.validate.seconds),
        ratio('validate peak RSS', small.validate.peakRssMiB, large.validate.peakRssMiB),
        ratio('apply time', small.apply.seconds, large.apply.seconds),
        ratio('apply peak RSS', small.apply.peakRssMiB, large.apply.peakRssMiB),
      );
    }

    // Apply again, nothing changed.
    const before = storeWrites(large.store);
    const dir = join(root, `declarations-${large.members}`);
    const again = mustSucceed('gatehouse apply (no-op)', await runMeasured(['apply', dir, '--store', `sqlite:${large.store}`, '-o', 'json'], ENV));
    const after = storeWrites(large.store);
    const summary = JSON.parse(again.stdout) as { actions: unknown[]; summary: unknown };
    const writes = after.audit - before.audit + (after.updated === before.updated ? 0 : 1) + summary.actions.length;
    rows.push(
      [`no-op re-apply of ${large.members} Members, s (goal < ${NOOP_GOAL_SECONDS}): ${again.seconds < NOOP_GOAL_SECONDS ? 'met' : 'NOT met'}`, again.seconds],
      ['no-op re-apply peak RSS, MiB', again.peakRssMiB],
      [`no-op re-apply writes (goal 0): ${writes === 0 ? 'met' : 'NOT met'}`, `${after.audit - before.audit} audit entries, updated_at ${after.updated === before.updated ? 'unchanged' : 'moved'}, ${summary.actions.length} actions`],
    );
    report(rows);

    if (PROFILE_NOOP || again.seconds >= NOOP_GOAL_SECONDS) {
      // Once more under the profiler (slower than the run above), to show where the time goes.
      const profiles = join(root, 'cpu-profiles');
      const profiled = mustSucceed(
        'gatehouse apply (no-op, profiled)',
        await runMeasured(['apply', dir, '--store', `sqlite:${large.store}`, '-o', 'json'], { ...ENV, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profiles}` }),
      );
      process.stdout.write(`\nthe no-op re-apply under node --cpu-prof: ${profiled.seconds.toFixed(2)} s; each thread's profile:\n`);
      for (const file of readdirSync(profiles).sort()) {
        process.stdout.write(`\n${file}\n${summarizeCpuProfile(JSON.parse(readFileSync(join(profiles, file), 'utf8')), 15)}\n`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
