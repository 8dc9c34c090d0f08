// objectStates: false (the CLI) leaves out each object's state and next change,
// and nothing else: the plan, what is written and the violations are the same.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import type { Store } from '../src/store/store.js';
import { ops, snapshot, syncAll } from './support/engine.js';
import { forEachDialect } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
const workspace = aWorkspace({ spec: { invitationLifetime: '24h', admins: { min: 0, max: 1 } } });
const alice = aMember({ name: 'alice' });
// Breaks a rule (its Workspace is not declared): held, reported.
const stray = aMember({ name: 'stray', spec: { workspaceRef: { name: 'nowhere' } } });
const declared = [workspace, alice, stray];

forEachDialect('engine: syncs without object states', (dialect) => {
  let withStates: Store;
  let without: Store;
  beforeEach(async () => {
    [withStates, without] = [await dialect.open(), await dialect.open()];
  });
  afterEach(async () => {
    await withStates.close();
    await without.close();
  });

  it.each([
    ['a plan (dry run)', true],
    ['an apply', false],
  ])('%s gives the same plan, writes and violations, and no states', async (_name, dryRun) => {
    const full = await syncAll(withStates, declared, T0, { dryRun });
    const lean = await syncAll(without, declared, T0, { dryRun, objectStates: false });

    expect(full.states.map((s) => s.ref.name).sort()).toEqual(['acme', 'alice', 'stray']);
    expect(full.nextChangeAtByRef.size).toBeGreaterThan(0);
    expect(lean.states).toEqual([]);
    expect(lean.nextChangeAtByRef.size).toBe(0);

    expect(ops(lean)).toEqual(ops(full));
    expect(ops(lean)).toContain('member.create acme/alice@acme.example');
    expect(lean.applied).toBe(full.applied);
    expect(lean.nextChangeAt).toEqual(full.nextChangeAt);
    expect(lean.violations.map((v) => [v.ruleId, v.object.name])).toEqual(full.violations.map((v) => [v.ruleId, v.object.name]));
    expect(lean.violations.some((v) => v.object.name === 'stray' && v.severity === 'error')).toBe(true);
    expect(await snapshot(without)).toEqual(await snapshot(withStates));
  });
});
