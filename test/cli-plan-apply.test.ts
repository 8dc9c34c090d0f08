// gatehouse plan, apply, get and audit as real processes against a temporary
// SQLite file: output, exit codes, --detailed-exitcode, refusals.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { GatehouseObject } from '../src/model/kinds.js';
import { aMember, aRole, aWorkspace } from '../src/rules/testing/builders.js';
import { WORKER_MIN_FILES } from '../src/source/load.js';
import { openStore } from '../src/store/store.js';
import { gatehouse } from './support/cli.js';

const AT = '2026-06-01T00:00:00Z';
let dir: string;
let store: string;

function writeDeclaration(folder: string, objects: GatehouseObject[]): string {
  const path = join(dir, folder);
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'acme.yaml'), objects.map((o) => stringify(o)).join('---\n'));
  return path;
}

const workspace = aWorkspace({ spec: { admins: { min: 0, max: 1 } } });
const people = ['alice', 'bob', 'carol', 'dave'].map((name) => aMember({ name }));
let full: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
  store = join(dir, 'store.db');
  full = writeDeclaration('full', [workspace, aRole(), ...people]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gatehouse plan and apply', () => {
  it('plans against a store that does not exist yet without creating it', async () => {
    const run = await gatehouse(['plan', full, '--store', store, '--at', AT, '--detailed-exitcode']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('Member acme/alice (');
    expect(run.stdout).toContain('+ create member acme/alice@acme.example: declared and not in the identity store');
    expect(run.stdout).toMatch(/Plan: 6 to add, 0 to change, 0 to remove\.\n$/);
    expect(existsSync(store)).toBe(false);
  });

  it('applies, prints what it did, and then plans nothing (exit 0 with --detailed-exitcode)', async () => {
    const applied = await gatehouse(['apply', full, '--store', store, '--at', AT]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/Applied: 6 added, 0 changed, 0 removed\.\n$/);
    const again = await gatehouse(['plan', full, '--store', store, '--at', AT, '--detailed-exitcode', '--output', 'json']);
    expect(again.code).toBe(0);
    const json = JSON.parse(again.stdout) as { summary: unknown; actions: unknown[]; applied: boolean };
    expect(json).toMatchObject({ applied: false, summary: { add: 0, change: 0, remove: 0 }, actions: [] });
  });

  it('shows changes with their fields, and takes the store from GATEHOUSE_STORE', async () => {
    const changed = writeDeclaration('changed', [workspace, aRole(), aMember({ name: 'alice', spec: { role: 'editor' } }), ...people.slice(1)]);
    const run = await gatehouse(['plan', changed, '--at', AT, '--detailed-exitcode'], { GATEHOUSE_STORE: `sqlite:${store}` });
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('~ update member acme/alice@acme.example: declaration changed (roleId)');
    expect(run.stdout).toContain('roleId: "viewer" -> "editor"');
    expect(run.stdout).toContain('Plan: 0 to add, 1 to change, 0 to remove.');
  });

  it('refuses on any rule error, printing it like validate, and changes nothing', async () => {
    const bad = writeDeclaration('bad', [workspace, aRole(), aMember({ name: 'alice', spec: { role: 'no-such-role' } }), ...people.slice(1)]);
    const runs = await Promise.all(['plan', 'apply'].map((command) => gatehouse([command, bad, '--store', store, '--at', AT])));
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/acme\.yaml:\d+:\d+: error RoleNotFound Member acme\/alice spec\.role: /);
      expect(run.stderr).toContain('nothing was changed');
    }
  });

  it('refuses to remove more than a quarter of a workspace\'s members unless --allow-mass-removal', async () => {
    const half = writeDeclaration('half', [workspace, aRole(), ...people.slice(0, 2)]);
    const refused = await gatehouse(['apply', half, '--store', store, '--at', AT]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refusing to remove 2 of the 4 members of workspace acme');
    const allowed = await gatehouse(['apply', half, '--store', store, '--at', AT, '--allow-mass-removal']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain('- delete member acme/carol@acme.example');
    expect(allowed.stdout).toContain('Applied: 0 added, 0 changed, 2 removed.');
  });

  it('gives usage errors exit code 2', async () => {
    const [at, scheme] = await Promise.all([
      gatehouse(['plan', full, '--store', store, '--at', 'yesterday']),
      gatehouse(['plan', full, '--store', 'mysql://db/x']),
    ]);
    expect(at.code).toBe(2);
    expect(at.stderr).toContain('--at "yesterday" is not an RFC 3339 time');
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain('unknown store');
  });
});

describe('gatehouse get and audit', () => {
  it('lists members with phases, searches by name or email, and prints JSON', async () => {
    const table = await gatehouse(['get', 'members', '--store', store, '--at', AT]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^WORKSPACE\s+EMAIL\s+NAME\s+ROLE\s+LOGIN\s+PHASE\s+INVITATION/);
    expect(table.stdout).toMatch(/acme\s+alice@acme\.example\s+Person alice\s+viewer\s+Local\s+Invited\s+Waiting/);
    // A week later the invitations have expired; --at shows that without the engine running.
    const [search, workspaces] = await Promise.all([
      gatehouse(['get', 'members', '--store', store, '--search', 'BOB', '--workspace', 'acme', '--at', '2027-01-01T00:00:00Z', '-o', 'json']),
      gatehouse(['get', 'workspaces', '--store', store]),
    ]);
    const rows = JSON.parse(search.stdout) as Array<{ email: string; phase: string }>;
    expect(rows.map((r) => [r.email, r.phase])).toEqual([['bob@acme.example', 'Expired']]);
    expect(workspaces.stdout).toMatch(/acme\s+Workspace acme\s+Required\s+Off\s+2\s+0/);
  });

  it('refuses an unknown resource (2) and a store that does not exist (1)', async () => {
    const [pods, missing] = await Promise.all([
      gatehouse(['get', 'pods', '--store', store]),
      gatehouse(['get', 'members', '--store', join(dir, 'nope.db')]),
    ]);
    expect(pods.code).toBe(2);
    expect(pods.stderr).toContain('unknown resource "pods"');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('there is no identity store at');
    expect(existsSync(join(dir, 'nope.db'))).toBe(false);
  });

  it('lists the audit log with the CLI user as actor, and verifies it', async () => {
    const [log, verified] = await Promise.all([
      gatehouse(['audit', '--store', store, '--workspace', 'acme', '-o', 'json']),
      gatehouse(['audit', '--verify', '--store', store]),
    ]);
    const entries = JSON.parse(log.stdout) as Array<{ actor: string; action: string; object?: { file?: string } }>;
    expect(entries.length).toBeGreaterThan(5);
    expect(entries.every((e) => e.actor === `cli:${userInfo().username}`)).toBe(true);
    expect(entries.find((e) => e.action === 'member.create')?.object?.file).toMatch(/acme\.yaml$/);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^Audit log intact: \d+ entries/);
  });

  it('--verify exits 1 and names the entry that was tampered with', async () => {
    const db = await openStore(`sqlite:${store}`);
    await db.db.updateTable('audit_log').set({ actor: 'nobody' }).where('seq', '=', 3).execute();
    await db.close();
    const run = await gatehouse(['audit', '--verify', '--store', store]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('Audit log broken at entry 3: audit entry 3 was changed: its content no longer matches its hash\n');
  });
});

describe('gatehouse apply of a folder of many files (a worker thread parses while the store is read)', () => {
  const MEMBERS = WORKER_MIN_FILES + 10;
  const names = Array.from({ length: MEMBERS }, (_, i) => `m${String(i).padStart(3, '0')}`);
  let many: string;
  let manyStore: string;
  const writeMany = (role: (name: string) => string, broken?: string) => {
    rmSync(many, { recursive: true, force: true });
    mkdirSync(many, { recursive: true });
    writeFileSync(join(many, 'acme.yaml'), stringify(aWorkspace({ spec: { admins: { min: 0, max: 1 } } })));
    for (const name of names) writeFileSync(join(many, `${name}.yaml`), name === broken ? 'kind: [unclosed\n' : stringify(aMember({ name, spec: { role: role(name) } })));
  };
  const apply = async () => {
    const run = await gatehouse(['apply', many, '--store', manyStore, '--at', AT, '-o', 'json']);
    return { ...run, json: run.code === 0 ? (JSON.parse(run.stdout) as { summary: unknown; actions: Array<{ op: string; key: string }> }) : undefined };
  };
  beforeAll(() => {
    many = join(dir, 'many');
    manyStore = join(dir, 'many.db');
  });

  it('applies, re-applies as a no-op, then applies one changed file', async () => {
    writeMany(() => 'viewer');
    const first = await apply();
    expect(first.stderr).toBe('');
    expect(first.json?.summary).toEqual({ add: MEMBERS + 1, change: 0, remove: 0 });
    const again = await apply();
    expect(again.json).toMatchObject({ summary: { add: 0, change: 0, remove: 0 }, actions: [] });
    writeMany((name) => (name === 'm042' ? 'editor' : 'viewer'));
    const changed = await apply();
    expect(changed.json?.actions.map((a) => `${a.op} ${a.key}`)).toEqual(['update acme/m042@acme.example']);
  });

  it('refuses a broken file among them, changing nothing', async () => {
    const entries = async () => (await openStore(`sqlite:${manyStore}`, { migrate: 'check' }).then(async (s) => {
      try {
        return (await s.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
      } finally {
        await s.close();
      }
    }));
    const before = await entries();
    writeMany(() => 'admin', 'm007');
    const run = await apply();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('m007.yaml');
    expect(run.stderr).toContain('nothing was changed');
    expect(await entries()).toBe(before);
  });
});
