// A separate process that opens a store or applies a generated declaration to
// it, so tests can race real processes against one store (SQLite's locking is
// between connections of different processes; node:sqlite blocks its thread).
//
//   tsx test/support/store-worker.ts open DSN
//   tsx test/support/store-worker.ts apply DSN WORKSPACES MEMBERS AT
// With GATEHOUSE_WORKER_BARRIER=1 it prints {"ready":true} when set up and
// waits for a line on stdin before it starts, so racing processes start together.
import { getDefaultProfile } from '../../src/model/profile.js';
import { syncToStore } from '../../src/sync/sync.js';
import { openStore } from '../../src/store/store.js';
import { errorMessage } from '../../src/util/errors.js';
import { generateDeclaration } from './declarations.js';

async function barrier(): Promise<void> {
  if (process.env.GATEHOUSE_WORKER_BARRIER !== '1') return;
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  await new Promise<void>((resolve) => {
    process.stdin.once('data', () => resolve());
  });
  process.stdin.pause();
}

async function main(argv: string[]): Promise<void> {
  const [command, dsn, ...rest] = argv;
  if (command === 'open') {
    await barrier();
    const store = await openStore(dsn);
    await store.close();
    process.stdout.write(JSON.stringify({ ok: true }) + '\n');
    return;
  }
  if (command === 'apply') {
    const [workspaces, members, at] = rest;
    const desired = generateDeclaration({ workspaces: Number(workspaces), membersPerWorkspace: Number(members) });
    const store = await openStore(dsn);
    try {
      await barrier();
      const result = await syncToStore(store, desired, {
        at: new Date(at as string),
        actor: `worker:${process.pid}`,
        scope: { type: 'all' },
        profile: getDefaultProfile(),
      });
      process.stdout.write(JSON.stringify({ ok: true, actions: result.plan.actions.length }) + '\n');
    } finally {
      await store.close();
    }
    return;
  }
  throw new Error(`unknown command ${command}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ ok: false, error: errorMessage(err) }) + '\n');
  process.exitCode = 1;
});
