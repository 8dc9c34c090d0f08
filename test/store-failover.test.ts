// Finding 4: a PostgreSQL connection lost in the middle of a transaction
// (pg_terminate_backend, the server stopped and started again) fails that
// transaction and nothing else: the process stays up and the next write works.
// `gatehouse run` starts while the database is down and gets ready when it is back.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runOperatorCommand } from '../src/cli/commands/run.js';
import { sql } from 'kysely';
import { openStore, POSTGRES_TIMEOUTS } from '../src/store/store.js';
import { FakeApiServer } from './support/fake-apiserver/index.js';
import { createDatabase, createSchema, freePort, startPostgres, type PostgresServer } from './support/postgres.js';
import { runOptions } from './support/run-options.js';

const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const worker = fileURLToPath(new URL('./support/pg-fault-worker.ts', import.meta.url));
const available = inject('postgres');
const skip = available.url === undefined ? `skipped: ${available.skipReason ?? 'no PostgreSQL server'}` : undefined;

interface Talk {
  child: ChildProcess;
  next(): Promise<Record<string, unknown>>;
  send(): void;
  exit: Promise<{ code: number | null; stderr: string }>;
}

function startWorker(dsn: string): Talk {
  const child = spawn(process.execPath, [tsx, worker, dsn], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  const out = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return {
    child,
    exit,
    async next() {
      const line = await out.next();
      if (line.done) {
        const e = await exit;
        throw new Error(`the worker process died instead of answering (exit ${e.code}): ${e.stderr.slice(-600)}`);
      }
      return JSON.parse(line.value) as Record<string, unknown>;
    },
    send() {
      child.stdin?.write('go\n');
    },
  };
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describe.skipIf(skip !== undefined)(`PostgreSQL connection loss${skip !== undefined ? ` ${skip}` : ''}`, () => {
  it('finding 4: pg_terminate_backend mid-transaction fails that write; the process stays up and writes again', async () => {
    const admin = available.url as string;
    const dsn = await createSchema(await createDatabase(admin, `failover_${process.pid}_${Date.now().toString(36)}`), 'store');
    const talk = startWorker(dsn);
    const ready = await talk.next();
    expect(ready).toMatchObject({ ready: true });
    await adminQuery(admin, `select pg_terminate_backend(${Number(ready.pid)})`);
    talk.send();
    const failed = await talk.next();
    // How the loss shows depends on timing (57P01 "terminating connection", a reset socket): any error will do.
    expect(String(failed.failed)).toMatch(/terminat|connection|ECONNRESET|EPIPE|closed/i);
    talk.send();
    expect(await talk.next()).toMatchObject({ ok: true });
    expect((await talk.exit).code).toBe(0);
  });

  it('finding 4: connections carry statement, lock and idle-in-transaction timeouts', async () => {
    const admin = available.url as string;
    const dsn = await createSchema(await createDatabase(admin, `timeouts_${process.pid}_${Date.now().toString(36)}`), 'store');
    const store = await openStore(dsn);
    try {
      const show = async (name: string) => (await sql.raw<Record<string, string>>(`show ${name}`).execute(store.db)).rows[0]?.[name];
      expect(await show('statement_timeout')).toBe(`${POSTGRES_TIMEOUTS.statementTimeoutMillis / 60_000}min`);
      expect(await show('lock_timeout')).toBe(`${POSTGRES_TIMEOUTS.lockTimeoutMillis / 60_000}min`);
      expect(await show('idle_in_transaction_session_timeout')).toBe(`${POSTGRES_TIMEOUTS.idleInTransactionTimeoutMillis / 60_000}min`);
    } finally {
      await store.close();
    }
  });

  describe('a server of its own, restarted', () => {
    let server: PostgresServer;
    beforeAll(async () => {
      server = await startPostgres();
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });

    it('finding 4: a server restart mid-transaction fails that write; the next write after it is back succeeds', async () => {
      const talk = startWorker(server.url);
      expect(await talk.next()).toMatchObject({ ready: true });
      await server.pause?.();
      talk.send();
      expect(String((await talk.next()).failed)).toMatch(/terminat|connection|ECONNRESET|EPIPE|closed|shut/i);
      await server.resume?.();
      talk.send();
      expect(await talk.next()).toMatchObject({ ok: true });
      expect((await talk.exit).code).toBe(0);
    });

    it('finding 4: gatehouse run starts while the database is down and becomes ready when it is back', async () => {
      const fake = await FakeApiServer.start();
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-run-pg-'));
      const kubeconfig = join(dir, 'kubeconfig.yaml');
      fake.writeKubeconfig(kubeconfig);
      const probePort = await freePort();
      const signals = new EventEmitter();
      await server.pause?.();
      const options = runOptions({ workers: '2', leaderElect: false, probeListen: `127.0.0.1:${probePort}`, kubeconfig, store: server.url });
      const running = runOperatorCommand(options, signals);
      let stopped = false;
      running.finally(() => (stopped = true)).catch(() => undefined);
      try {
        const readyz = async () => {
          try {
            const res = await fetch(`http://127.0.0.1:${probePort}/readyz`);
            return { status: res.status, body: await res.text() };
          } catch {
            return { status: 0, body: 'not listening' };
          }
        };
        let answer = await readyz();
        for (let i = 0; i < 200 && answer.status === 0; i += 1) {
          if (stopped) break;
          await new Promise((r) => setTimeout(r, 50));
          answer = await readyz();
        }
        expect(stopped, 'gatehouse run exited while the database was down').toBe(false);
        expect(answer.status).toBe(503);
        expect(answer.body).toMatch(/\[-\] store failed: identity store .* is not ready/);
        await server.resume?.();
        for (let i = 0; i < 400 && answer.status !== 200; i += 1) {
          await new Promise((r) => setTimeout(r, 50));
          answer = await readyz();
        }
        expect(answer).toMatchObject({ status: 200 });
        const store = await openStore(server.url, { migrate: 'check' });
        await store.close();
      } finally {
        signals.emit('SIGTERM', 'SIGTERM');
        await running.catch(() => undefined);
        signals.removeAllListeners();
        await fake.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('finding 8: with the store down, the pod serving the webhook stays ready', async () => {
      const fake = await FakeApiServer.start();
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-run-pg-'));
      const kubeconfig = join(dir, 'kubeconfig.yaml');
      fake.writeKubeconfig(kubeconfig);
      const [probePort, webhookPort] = [await freePort(), await freePort()];
      const signals = new EventEmitter();
      await server.pause?.();
      const running = runOperatorCommand(
        runOptions({
          workers: '2',
          leaderElect: false,
          probeListen: `127.0.0.1:${probePort}`,
          kubeconfig,
          store: server.url,
          webhook: true,
          webhookListen: `127.0.0.1:${webhookPort}`,
          webhookUrl: `https://127.0.0.1:${webhookPort}/validate`,
        }),
        signals,
      );
      let stopped = false;
      running.finally(() => (stopped = true)).catch(() => undefined);
      try {
        let answer = { status: 0, body: '' };
        for (let i = 0; i < 400 && answer.status !== 200 && !stopped; i += 1) {
          await new Promise((r) => setTimeout(r, 50));
          try {
            const res = await fetch(`http://127.0.0.1:${probePort}/readyz`);
            answer = { status: res.status, body: await res.text() };
          } catch {
            // not listening yet
          }
        }
        expect(stopped, 'gatehouse run exited while the database was down').toBe(false);
        expect(answer.status).toBe(200);
        expect(answer.body).toMatch(/\[\+\] webhook ok/);
        expect(answer.body).toMatch(/\[~\] store failed \(not counted\): identity store .* is not ready/);
      } finally {
        signals.emit('SIGTERM', 'SIGTERM');
        await running.catch(() => undefined);
        signals.removeAllListeners();
        await fake.stop();
        rmSync(dir, { recursive: true, force: true });
        await server.resume?.();
      }
    });
  });
});
