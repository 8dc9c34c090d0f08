// gatehouse review as a real process on a store written by gatehouse apply:
// what the review finds from logins, recorded decisions and support decisions,
// with the file and line of what to delete from Git, in JSON and markdown.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { acceptInvitation, recordLogin, takeInvitationsToDeliver } from '../src/app/index.js';
import { FactsCache } from '../src/http/facts.js';
import { DecisionService } from '../src/http/service.js';
import { UsageRecorder } from '../src/http/usage.js';
import { aMember, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { openStore } from '../src/store/store.js';
import { ManualClock } from '../src/util/clock.js';
import { grantEvidenceDigest } from '../src/review/grant-evidence.js';
import { gatehouse } from './support/cli.js';

const T0 = '2026-06-01T00:00:00.000Z';
const day = (n: number) => new Date(Date.parse(T0) + n * 86_400_000);
let dir: string;
let store: string;
let declarations: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-review-'));
  store = join(dir, 'store.db');
  declarations = join(dir, 'acme');
  mkdirSync(declarations);
  writeFileSync(join(declarations, '00-workspace.yaml'), stringify(aWorkspace({ spec: { admins: { min: 0, max: 1 }, accessReview: { interval: '336h', inactivityThreshold: '168h' } } })));
  writeFileSync(
    join(declarations, '20-members.yaml'),
    [
      aMember({ name: 'alice' }),
      aMember({ name: 'bob', spec: { role: 'editor' } }),
      aMember({ name: 'kai', spec: { expiresAt: day(3).toISOString() } }),
      aMember({ name: 'noor' }),
    ]
      .map((o) => stringify(o))
      .join('---\n'),
  );
  writeFileSync(join(declarations, '30-support.yaml'), stringify(aSupportGrant({ name: 'ticket-7', spec: { duration: '720h' } })));
  const applied = await gatehouse(['apply', declarations, '--store', store, '--at', T0]);
  expect(applied.code, applied.stderr).toBe(0);

  const db = await openStore(store);
  for (const i of await takeInvitationsToDeliver(db, 10, { at: new Date(T0) })) {
    if (i.email !== 'noor@acme.example') await acceptInvitation(db, { token: i.token, email: i.email, at: new Date(T0) });
  }
  await recordLogin(db, { workspaceId: 'acme', email: 'alice@acme.example', at: new Date(T0) });
  await recordLogin(db, { workspaceId: 'acme', email: 'bob@acme.example', at: day(15) });
  const usage = new UsageRecorder(db);
  const service = new DecisionService({ store: db, facts: new FactsCache(db), clock: new ManualClock(day(10)), usage });
  const ask = { workspace: 'acme', mfa: true, loginMethod: 'local' as const };
  expect((await service.check({ ...ask, subject: 'bob@acme.example', permission: 'view-dashboard' }, 'test')).decision).toBe('allow');
  expect((await service.check({ ...ask, subject: 'agent@vendor.example', subjectType: 'support', permission: 'view-dashboard' }, 'test')).decision).toBe('allow');
  expect((await service.check({ ...ask, subject: 'agent@vendor.example', subjectType: 'support', permission: 'create-segment' }, 'test')).decision).toBe('deny');
  await usage.close();
  await db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('finds inactive members, pending invitations, ended access with its file and line, unused privileges and support activity', async () => {
  const run = await gatehouse(['review', '--store', store, '--at', day(20).toISOString(), '-o', 'json']);
  expect(run.code, run.stderr).toBe(0);
  const report = JSON.parse(run.stdout);
  expect(report.apiVersion).toBe('gatehouse.dev/review/v1');
  const [acme] = report.workspaces;
  expect(acme.inactiveMembers.map((m: { email: string }) => m.email)).toEqual(['alice@acme.example']);
  expect(acme.invitationsNotAccepted).toEqual([expect.objectContaining({ email: 'noor@acme.example', expired: true })]);
  expect(acme.expiredStillDeclared).toEqual([
    {
      email: 'kai@acme.example',
      expiredAt: day(3).toISOString(),
      source: expect.objectContaining({ kind: 'Member', name: 'kai', file: join(declarations, '20-members.yaml'), line: expect.any(Number), expiresAtLine: expect.any(Number) }),
    },
  ]);
  const lines = readFileSync(join(declarations, '20-members.yaml'), 'utf8').split('\n');
  const expiresAtLine = lines.findIndex((l) => l.includes('expiresAt:')) + 1;
  const documentLine = lines.slice(0, expiresAtLine).lastIndexOf('---') + 2;
  expect(acme.expiredStillDeclared[0].source).toMatchObject({ line: documentLine, expiresAtLine });
  expect(acme.unusedPrivileges).toEqual([{ email: 'bob@acme.example', role: 'editor', used: ['view-dashboard'], unused: ['campaign-maker', 'create-segment'], suggestedRole: 'viewer' }]);
  expect(acme.supportGrants).toEqual([expect.objectContaining({ name: 'ticket-7', state: 'Active', decisions: { allowed: 1, denied: 1 } })]);
});

it('writes markdown fit for a pull-request comment, and refuses an unknown workspace', async () => {
  const run = await gatehouse(['review', '--store', store, '--at', day(20).toISOString(), '--workspace', 'acme', '-o', 'markdown']);
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('## Access review at 2026-06-21T00:00:00.000Z');
  expect(run.stdout).toContain('| bob@acme.example | editor | campaign-maker, create-segment | viewer |');
  expect(run.stdout).toMatch(/20-members\.yaml:\d+ \(expiresAt on line \d+\): delete Member acme\/kai/);
  const table = await gatehouse(['review', '--store', store, '--at', day(20).toISOString()]);
  expect(table.stdout).toContain('Access ended but still declared');
  const unknown = await gatehouse(['review', '--store', store, '--workspace', 'nowhere']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('no workspace nowhere');
});

it('prints the evidence of a support grant: its life and every action under it, with a digest', async () => {
  const run = await gatehouse(['audit', '--grant', 'ticket-7', '--store', store, '-o', 'json']);
  expect(run.code, run.stderr).toBe(0);
  const evidence = JSON.parse(run.stdout);
  expect(evidence.grant).toEqual({ namespace: 'acme', name: 'ticket-7', workspaceId: 'acme' });
  const actions = evidence.entries.map((e: { action: string }) => e.action);
  expect(actions[0]).toMatch(/^supportgrant\./);
  expect(actions.filter((a: string) => a.startsWith('support.'))).toEqual(['support.allow', 'support.deny']);
  expect(evidence.decisions).toEqual({ allowed: 1, denied: 1 });
  expect(evidence.digest).toBe(grantEvidenceDigest(evidence.entries));
  const table = await gatehouse(['audit', '--grant', 'ticket-7', '--store', store]);
  expect(table.stdout).toContain(`Digest: sha256:${evidence.digest}`);
  expect(table.stdout).toContain('support:agent@vendor.example');
  const unknown = await gatehouse(['audit', '--grant', 'ticket-0', '--store', store]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('no entries about SupportGrant ticket-0');
});
