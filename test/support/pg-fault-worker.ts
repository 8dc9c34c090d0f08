// A separate process that holds a PostgreSQL write transaction open while the
// test breaks its connection (pg_terminate_backend, a server stop), so a crash
// of the process ("Unhandled 'error' event") shows as a process that died
// instead of taking the test runner with it.
//
//   tsx test/support/pg-fault-worker.ts DSN
// Protocol, one JSON line each way:
//   -> {"ready":true,"pid":N}      a write transaction is open on backend N; break it, then send a line
//   -> {"failed":"..."}            the transaction failed as it should; restore the server, then send a line
//   -> {"ok":true,"error":"..."}   a new write succeeded afterwards (error: what the broken one said)
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { openStore } from '../../src/store/store.js';
import { errorMessage } from '../../src/util/errors.js';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function main(dsn: string): Promise<void> {
  const store = await openStore(dsn);
  let failure: string | undefined;
  try {
    await store.write(async (trx) => {
      const row = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
      say({ ready: true, pid: row.rows[0]?.pid });
      await lines.next();
      await sql`select 1`.execute(trx);
    });
  } catch (err) {
    failure = errorMessage(err);
  }
  if (failure === undefined) {
    say({ ok: false, error: 'the write transaction survived a broken connection' });
    return;
  }
  say({ failed: failure });
  await lines.next();
  let last: unknown;
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      await store.write(async (trx) => {
        await sql`select 1`.execute(trx);
      });
      say({ ok: true, error: failure });
      await store.close();
      return;
    } catch (err) {
      last = err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  say({ ok: false, error: `no write succeeded after the fault: ${errorMessage(last)}` });
}

main(process.argv[2] as string)
  .catch((err: unknown) => say({ ok: false, error: errorMessage(err) }))
  .finally(() => process.exit());
