// Starts one PostgreSQL server for the whole test run (each test file makes
// its own database on it) and tells the test files where it is, or why there
// is none: the PostgreSQL variants then report themselves skipped with that reason.
// Also starts the two processes whose memory-reducer collections the test of
// src/cli/memory-reducer.ts reads (test/support/memory-reducer-watch.ts), so their
// 100 s wait runs beside the other suites instead of after them.
import type { TestProject } from 'vitest/node';
import { errorMessage } from '../../src/util/errors.js';
import { startMemoryReducerWatch, type MemoryReducerWatch } from './memory-reducer-watch.js';
import { POSTGRES_URL_ENV, postgresUnavailableReason, startPostgres } from './postgres.js';

export interface PostgresForTests {
  url?: string;
  skipReason?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresForTests;
    memoryReducerWatch: MemoryReducerWatch;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const memoryReducer = startMemoryReducerWatch();
  project.provide('memoryReducerWatch', memoryReducer.watch);
  const stopPostgres = await setupPostgres(project);
  return async () => {
    memoryReducer.stop();
    await stopPostgres?.();
  };
}

async function setupPostgres(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env[POSTGRES_URL_ENV];
  if (given) {
    project.provide('postgres', { url: given });
    return undefined;
  }
  const reason = postgresUnavailableReason();
  if (reason !== undefined) {
    project.provide('postgres', { skipReason: reason });
    return undefined;
  }
  try {
    const server = await startPostgres();
    project.provide('postgres', { url: server.url });
    return () => server.stop();
  } catch (err) {
    project.provide('postgres', { skipReason: `PostgreSQL did not start: ${errorMessage(err)}` });
    return undefined;
  }
}
