#!/usr/bin/env node
// The gatehouse command: the compiled CLI (npm run build) run in this very process, so signals
// such as SIGTERM reach the operator directly. No child process.
import { existsSync } from 'node:fs';
import module from 'node:module';

// Keeps V8's compiled code between runs (a no-op where the cache folder cannot be written).
module.enableCompileCache?.();

const compiled = new URL('../dist/bundle/gatehouse.js', import.meta.url);
const sources = new URL('../src/cli/main.ts', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else if (existsSync(sources)) {
  // A checkout that was not built (the package always is): run the sources through tsx, a
  // devDependency, still in this process. `npm run build` makes the fast, compiled command.
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
} else {
  process.stderr.write('gatehouse: the compiled CLI (dist/) is missing; reinstall the package\n');
  process.exit(2);
}
process.exitCode = await cli.main(process.argv.slice(2));
