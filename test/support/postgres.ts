// A throw-away PostgreSQL server for tests and benchmarks: initdb into a
// temporary folder, start `postgres` on 127.0.0.1 and a free port with
// durability off, stop it with SIGINT. It runs as the `postgres` user when we
// are root (the server refuses root). GATEHOUSE_TEST_POSTGRES_URL, when set,
// names a server to use instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const POSTGRES_URL_ENV = 'GATEHOUSE_TEST_POSTGRES_URL';

export interface PostgresServer {
  /** URL of the `postgres` database as the `postgres` superuser. */
  url: string;
  stop(): Promise<void>;
  /** Stops the server, keeping its data and port (a failover or a restart); only for a server started here. */
  pause?(): Promise<void>;
  /** Starts a paused server again and waits until it accepts connections. */
  resume?(): Promise<void>;
}

/** Why a local server cannot be started here, or undefined when it can. */
export function postgresUnavailableReason(): string | undefined {
  if (process.env[POSTGRES_URL_ENV]) return undefined;
  const bin = findPostgresBinaries();
  if (bin === undefined) {
    return `no PostgreSQL server binaries (pg_config --bindir, /usr/lib/postgresql/*/bin) and ${POSTGRES_URL_ENV} not set`;
  }
  if (isRoot() && !hasUser('postgres')) return 'running as root and there is no postgres user to run the server as';
  return undefined;
}

export function findPostgresBinaries(): string | undefined {
  const candidates: string[] = [];
  const config = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (config.status === 0 && config.stdout.trim() !== '') candidates.push(config.stdout.trim());
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    for (const version of readdirSync(base).sort((a, b) => Number(b) - Number(a))) candidates.push(join(base, version, 'bin'));
  }
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')));
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function hasUser(name: string): boolean {
  return spawnSync('id', ['-u', name]).status === 0;
}

function userIds(name: string): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

/** The command line, run as `postgres` when we are root (setpriv execs, so the PID is the server's). */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (!isRoot()) return [command, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', command, ...args]];
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Starts a server (or returns the one GATEHOUSE_TEST_POSTGRES_URL names). */
export async function startPostgres(): Promise<PostgresServer> {
  const given = process.env[POSTGRES_URL_ENV];
  if (given) return { url: given, stop: async () => {} };
  const reason = postgresUnavailableReason();
  const bin = findPostgresBinaries();
  if (reason !== undefined || bin === undefined) throw new Error(`cannot start PostgreSQL: ${reason ?? 'no binaries'}`);

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
  const data = join(dir, 'data');
  if (isRoot()) {
    const { uid, gid } = userIds('postgres');
    chownSync(dir, uid, gid);
  }
  const [initCmd, initArgs] = asServerUser(join(bin, 'initdb'), [
    '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--encoding=UTF8', '--locale=C',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (exit ${init.status}): ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  const [cmd, args] = asServerUser(join(bin, 'postgres'), [
    '-D', data, '-k', dir, '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
    '-c', 'max_connections=200',
  ]);
  let log = '';
  const launch = () => {
    const started: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    started.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
    });
    const exited = new Promise<void>((resolveExit) => started.once('exit', () => resolveExit()));
    return { child: started, exited };
  };
  let running = launch();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const halt = async () => {
    const { child, exited } = running;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    }
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  const resume = async () => {
    running = launch();
    await waitUntilAccepting(url, running.child, () => log);
  };
  try {
    await waitUntilAccepting(url, running.child, () => log);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop, pause: halt, resume };
}

async function waitUntilAccepting(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with code ${child.exitCode}: ${log()}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s: ${String(err)}\n${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** URL of `url`'s server with another database name. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** URL whose connections use `schema` first on the search path (tables are created there). */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** Creates a database on the server and returns its URL. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  return withDatabase(adminUrl, name);
}

/** Creates a schema in the database `url` names and returns a URL that works inside it. */
export async function createSchema(url: string, schema: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create schema "${schema}"`);
  } finally {
    await client.end();
  }
  return withSearchPath(url, schema);
}

export function currentUserName(): string {
  return userInfo().username;
}
