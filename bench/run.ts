// npm run bench: runs every bench/*.bench.ts in its own process (so peak memory
// is its own), one after the other, and prints their reports.
// npm run bench -- NAME runs the ones whose file name contains NAME.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const filter = process.argv[2];
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filter === undefined || f.includes(filter))
  .sort();
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
let failed = 0;
for (const file of files) {
  process.stdout.write(`\n## ${file}\n`);
  const result = spawnSync(process.execPath, ['--expose-gc', tsx, `${dir}${file}`], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed += 1;
    process.stdout.write(`${file} failed with exit code ${result.status}\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
