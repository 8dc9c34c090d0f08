// Writes to a SQLite file from a worker thread with its own connection.
// node:sqlite is synchronous: on the main thread, a write holds up every
// request while SQLite updates pages and, now and then, checkpoints the WAL
// back into the file (measured on the decision API: a few milliseconds per
// commit). Work that may lag a little, such as the permission usage counts,
// goes here instead, so the event loop never waits on the disk for it.
// WAL lets this connection write while the main one reads; writers take
// turns on SQLite's lock (BEGIN IMMEDIATE, waiting up to the busy timeout).
// The thread runs at the lowest CPU priority: on a busy core its batches
// take the time the decisions leave over, instead of half the core (a first
// flush of 16,700 usage rows, at even shares, made answers up to 570 ms late
// with `serve` on one core at 12,900 checks/s; ADR 16). A main-thread write
// that waits for the thread's lock sleeps meanwhile, so the thread then has
// the core and the wait is not drawn out.
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../util/errors.js';
import { SQLITE_BUSY_TIMEOUT_MS } from './sqlite.js';

/** The thread's name (as the OS shows it, e.g. in /proc/PID/task/TID/comm). */
export const SQLITE_WRITER_THREAD_NAME = 'sqlite-writer';
/** The worker thread's nice value: the lowest priority, below the event loop's decisions. */
export const SQLITE_WRITER_NICENESS = 19;

/**
 * One statement and the rows to run it with, in one transaction. The rows' values come one after
 * another in one flat array, `width` to a row: the main thread builds no array per row, and the
 * thread copies one array per batch. Columns listed in `instants` hold an instant as epoch
 * milliseconds, written as RFC 3339 text by the worker (formatting is work the event loop is spared).
 */
export interface SqliteBatch {
  sql: string;
  width: number;
  values: ReadonlyArray<string | number | null>;
  instants?: readonly number[];
}

// Plain CommonJS evaluated by the worker: nothing to bundle or resolve, only node:sqlite.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
// Linux gives each thread its own nice value: this one's, by its thread id. Elsewhere it stays as it is.
try {
  const threadId = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  require('node:os').setPriority(threadId, workerData.niceness);
} catch {}
const db = new DatabaseSync(workerData.file, { timeout: workerData.busyTimeoutMs });
db.exec('PRAGMA synchronous = NORMAL');
const statements = new Map();
parentPort.on('message', ({ id, sql, width, values, instants }) => {
  try {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    db.exec('BEGIN IMMEDIATE');
    try {
      for (let at = 0; at < values.length; at += width) {
        const row = values.slice(at, at + width);
        for (const column of instants) row[column] = new Date(row[column]).toISOString();
        statement.run(...row);
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    parentPort.postMessage({ id });
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
`;

interface Waiting {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class SqliteWriteWorker {
  #worker: Worker | undefined;
  #waiting = new Map<number, Waiting>();
  #nextId = 0;

  constructor(readonly file: string) {}

  /**
   * Starts the thread now rather than at the first write: a worker's start-up (tens of
   * milliseconds of CPU, before it can lower its priority) then falls at the caller's start-up,
   * not in the middle of serving.
   */
  start(): void {
    this.#started();
  }

  /** Runs the batch in one transaction on the worker's connection; rejects (nothing written) if any row fails. */
  run(batch: SqliteBatch): Promise<void> {
    const worker = this.#started();
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, sql: batch.sql, width: batch.width, values: batch.values, instants: batch.instants ?? [] });
    });
  }

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: SQLITE_WRITER_THREAD_NAME,
      workerData: { file: this.file, busyTimeoutMs: SQLITE_BUSY_TIMEOUT_MS, niceness: SQLITE_WRITER_NICENESS },
      // It holds one batch at a time: a small heap, so the thread adds little to the process's memory.
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
    });
    // Never what keeps the process alive: whoever needs a write awaits it, and close() ends the thread.
    worker.unref();
    worker.on('message', (message: { id: number; error?: string }) => {
      const waiting = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      if (message.error === undefined) waiting?.resolve();
      else waiting?.reject(new Error(`SQLite write to ${this.file} failed: ${message.error}`));
    });
    const fail = (err: Error) => {
      // A thread that died (the file could not be opened, say) fails what waits; the next write starts a new one.
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiting of this.#waiting.values()) waiting.reject(new Error(`SQLite writer for ${this.file} stopped: ${errorMessage(err)}`));
      this.#waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  /** Ends the thread; call it after every write awaited has settled. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }
}
