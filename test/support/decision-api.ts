// A running decision API over a real socket on a fresh store (SQLite or
// PostgreSQL), with a manual clock and a token, for the API, client and fuzz
// tests. A second connection to the same store stands for the other
// processes (the CLI, the operator) whose changes the API must see.
import type { GatehouseObject } from '../../src/model/kinds.js';
import { watchStoreChanges, type ChangeWatcher } from '../../src/http/changes.js';
import { FactsCache } from '../../src/http/facts.js';
import { startDecisionServer, type RunningDecisionServer } from '../../src/http/server.js';
import { DecisionService } from '../../src/http/service.js';
import { createApiToken } from '../../src/http/tokens.js';
import { UsageRecorder } from '../../src/http/usage.js';
import { openStore, type Store } from '../../src/store/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { syncAll } from './engine.js';
import type { DialectCase } from './stores.js';

export interface DecisionApiHarness {
  url: string;
  token: string;
  clock: ManualClock;
  /** The API's own store connection. */
  store: Store;
  /** Another connection to the same store: what another process would change. */
  other: Store;
  usage: UsageRecorder;
  server: RunningDecisionServer;
  /** POST or GET with the token; returns status and parsed body. */
  call(method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): Promise<void>;
}

export async function startDecisionApi(
  dialect: DialectCase,
  declared: readonly GatehouseObject[],
  at: string,
  options: { rateLimitPerSecond?: number; bodyLimit?: number } = {},
): Promise<DecisionApiHarness> {
  const dsn = await dialect.newDsn();
  const other = await openStore(dsn);
  await syncAll(other, declared, at);
  const token = await createApiToken(other, { name: 'test-app', actor: 'cli:test', at: new Date(at) });
  const store = await openStore(dsn);
  const clock = new ManualClock(at);
  const facts = new FactsCache(store);
  const watcher: ChangeWatcher = await watchStoreChanges({ store, dsn, onChange: () => facts.invalidate() });
  const usage = new UsageRecorder(store);
  const service = new DecisionService({ store, facts, clock, usage });
  const server = await startDecisionServer({
    service,
    host: '127.0.0.1',
    port: 0,
    ready: () => watcher.watching,
    rateLimitPerSecond: options.rateLimitPerSecond ?? 0,
    ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
  });
  return {
    url: server.url,
    token,
    clock,
    store,
    other,
    usage,
    server,
    async call(method, path, body, headers = {}) {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (metrics): the text itself.
      }
      return { status: response.status, body: parsed };
    },
    async close() {
      await server.close();
      await usage.close().catch(() => {});
      await watcher.close();
      await store.close();
      await other.close();
    },
  };
}
