// gatehouse token, check and serve as real processes against a SQLite file:
// a token printed once and refused once revoked, exit 0 or 3 with the reason,
// support decisions audited, the server answering over a real socket.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { acceptInvitation, takeInvitationsToDeliver } from '../src/app/index.js';
import { aMember, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { listAudit } from '../src/store/audit.js';
import { openStore } from '../src/store/store.js';
import { syncAll } from './support/engine.js';

const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [tsx, main, ...args], { env: { ...process.env, GATEHOUSE_STORE: '' }, stdio: 'pipe' });
}

function gatehouse(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = start(args);
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const T0 = '2026-06-01T00:00:00.000Z';
let dir: string;
let store: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-decisions-'));
  store = join(dir, 'store.db');
  const db = await openStore(store);
  await syncAll(db, [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' }), aSupportGrant({ name: 'ticket-9' })], T0);
  for (const i of await takeInvitationsToDeliver(db, 10, { at: new Date(T0) })) await acceptInvitation(db, { token: i.token, email: i.email, at: new Date(T0) });
  await db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gatehouse check', () => {
  const base = ['check', '--store', () => store, '--workspace', 'acme', '--subject', 'alice@acme.example', '--mfa', '--at', '2026-06-01T01:00:00Z'];
  const args = (...more: string[]) => [...base.map((a) => (typeof a === 'function' ? a() : a)), ...more];

  it('exits 0 on allow and 3 on deny, printing the reason', async () => {
    const allowed = await gatehouse(args('--permission', 'view-dashboard'));
    expect(allowed).toMatchObject({ code: 0 });
    expect(allowed.stdout).toMatch(/^allow role-grants-permission \(valid until 2026-06-01T01:00:01.000Z\)/);
    const denied = await gatehouse(args('--permission', 'create-segment', '-o', 'json'));
    expect(denied.code).toBe(3);
    expect(JSON.parse(denied.stdout)).toMatchObject({ decision: 'deny', reason: 'role-lacks-permission' });
    const bad = await gatehouse(args('--permission', 'view-dashboard', '--idle', 'soon'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--idle "soon"');
  });

  it('audits a support decision made from the shell', async () => {
    const run = await gatehouse(args('--permission', 'view-dashboard', '--support').map((a) => (a === 'alice@acme.example' ? 'agent@vendor.example' : a)));
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('support-grant-allows');
    const db = await openStore(store);
    try {
      const entries = (await listAudit(db.db)).filter((e) => e.action.startsWith('support.'));
      expect(entries.at(-1)).toMatchObject({ actor: 'support:agent@vendor.example', object: { kind: 'SupportGrant', name: 'ticket-9' } });
    } finally {
      await db.close();
    }
  });
});

describe('gatehouse token and serve', () => {
  it('refuses serve flags that do not fit together, naming them', async () => {
    const mtls = await gatehouse(['serve', '--store', store, '--listen', '127.0.0.1:0', '--client-ca', 'ca.pem']);
    expect(mtls.code).toBe(2);
    expect(mtls.stderr).toContain('--client-ca needs --tls-cert and --tls-key');
    const url = await gatehouse(['serve', '--store', store, '--listen', '127.0.0.1:0', '--public-url', 'ftp://x']);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('--public-url "ftp://x"');
  });

  it('serves decisions to a created token and refuses it once revoked', async () => {
    const created = await gatehouse(['token', 'create', 'billing-app', '--store', store]);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^ghd_[A-Za-z0-9_-]{43}$/);
    expect((await gatehouse(['token', 'create', 'billing-app', '--store', store])).stderr).toContain('exists');
    const listed = await gatehouse(['token', 'list', '--store', store, '-o', 'json']);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: 'billing-app' })]);
    expect(listed.stdout).not.toContain(token);

    const server = start(['serve', '--store', store, '--listen', '127.0.0.1:0', '--rate-limit', '0']);
    server.stdin.end();
    try {
      let logs = '';
      server.stderr.on('data', (c: Buffer) => (logs += c.toString()));
      server.stdout.on('data', (c: Buffer) => (logs += c.toString()));
      const url = await vi.waitFor(
        () => {
          const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(logs);
          if (match?.[1] === undefined) throw new Error(`not serving yet: ${logs}`);
          return match[1];
        },
        { timeout: 20_000, interval: 100 },
      );
      const ask = () =>
        fetch(`${url}/v1/check`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ workspace: 'acme', subject: 'alice@acme.example', permission: 'view-dashboard', mfa: true, loginMethod: 'local' }),
        });
      const first = await ask();
      expect(first.status).toBe(200);
      expect(await first.json()).toMatchObject({ decision: 'allow' });
      expect((await gatehouse(['token', 'revoke', 'billing-app', '--store', store])).code).toBe(0);
      await vi.waitFor(async () => expect((await ask()).status).toBe(401), { timeout: 5000, interval: 50 });
      expect(logs).not.toContain(token);
      const exited = new Promise<number | null>((resolve) => server.on('close', resolve));
      server.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      server.kill('SIGKILL');
    }
  });
});
