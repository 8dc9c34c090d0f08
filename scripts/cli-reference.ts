// npm run docs:cli: writes docs/cli.md from the commands' help (src/cli/reference.ts).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cliReference } from '../src/cli/reference.js';

const file = fileURLToPath(new URL('../docs/cli.md', import.meta.url));
writeFileSync(file, await cliReference());
process.stdout.write(`wrote ${file}\n`);
