// The adopter's path, as real processes on a fresh SQLite file per case:
// `gatehouse apply` on day 1, an edit, then plan/apply/validate --store later.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { GatehouseObject } from '../src/model/kinds.js';
import { aMember, anAdmin, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { gatehouse } from './support/cli.js';

let dir: string;
let store: string;
let folder: string;
const write = (objects: GatehouseObject[]) => {
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'acme.yaml'), objects.map((o) => stringify(o)).join('---\n'));
};
const DAY1 = '2027-01-01T00:00:00Z';
const DAY2 = '2027-01-02T00:00:00Z';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-revocation-'));
  store = join(dir, 'store.db');
  folder = join(dir, 'decl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('gatehouse plan and apply against what the store holds', () => {
  it('case 1: switching support access off plans and applies the revocation of the grant', async () => {
    const grant = aSupportGrant({ name: 'ticket-1', spec: { duration: undefined, endsAt: '2027-01-25T00:00:00Z' } });
    write([aWorkspace({ spec: { supportAccess: { allowed: true } } }), anAdmin(), grant]);
    expect((await gatehouse(['apply', folder, '--store', store, '--at', DAY1])).code).toBe(0);
    write([aWorkspace({ spec: { supportAccess: { allowed: false } } }), anAdmin(), grant]);
    const plan = await gatehouse(['plan', folder, '--store', store, '--at', DAY2]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('revoke support grant acme/ticket-1: Workspace acme/acme switched vendor support access off');
    expect(plan.stderr).toContain('warning SupportAccessNotAllowed');
    const apply = await gatehouse(['apply', folder, '--store', store, '--at', DAY2]);
    expect(apply.code).toBe(0);
    const get = await gatehouse(['get', 'supportgrants', '--store', store, '--at', DAY2]);
    expect(get.stdout).toMatch(/ticket-1\s.*Revoked/);
  });

  it('case 3: an email edit is refused at its FILE:LINE:COL, never planned as drift', async () => {
    write([aWorkspace(), anAdmin(), aMember({ name: 'alice' })]);
    expect((await gatehouse(['apply', folder, '--store', store, '--at', DAY1])).code).toBe(0);
    write([aWorkspace(), anAdmin(), aMember({ name: 'alice', spec: { email: 'alice.new@acme.example' } })]);
    for (const command of ['plan', 'apply']) {
      const run = await gatehouse([command, folder, '--store', store, '--at', DAY2]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/acme\.yaml:\d+:\d+: error ImmutableFieldChanged Member acme\/alice spec\.email: .*delete this Member/);
      expect(run.stdout).not.toContain('drift');
      expect(run.stderr).toContain('nothing was changed');
    }
    const validate = await gatehouse(['validate', folder, '--store', store, '--at', DAY2]);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toContain('error ImmutableFieldChanged Member acme/alice spec.email');
    expect((await gatehouse(['validate', folder, '--at', DAY2])).code).toBe(0);
  });

  it('case 8: an unreadable time is a rule violation at its position, not a crash', async () => {
    write([aWorkspace(), anAdmin(), aMember({ name: 'alice', spec: { expiresAt: '2027-06-30T23:59:60Z' } })]);
    for (const command of ['validate', 'plan', 'apply']) {
      const run = await gatehouse([command, folder, ...(command === 'validate' ? [] : ['--store', store]), '--at', DAY1]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/acme\.yaml:\d+:\d+: error SchemaInvalid Member acme\/alice spec\.expiresAt: is not an RFC 3339 time/);
      expect(run.stderr).not.toContain('Invalid time value');
    }
  });

  it('a new object that ended before it was applied is named in the plan', async () => {
    write([aWorkspace(), anAdmin(), aMember({ name: 'alice', spec: { expiresAt: '2026-06-30T00:00:00Z' } })]);
    const plan = await gatehouse(['plan', folder, '--store', store, '--at', DAY1]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('Not written: Member acme/alice: its access ended at 2026-06-30T00:00:00.000Z');
    expect(plan.stderr).toContain('temporary access ended at 2026-06-30T00:00:00Z (now 2027-01-01T00:00:00.000Z)');
  });
});
