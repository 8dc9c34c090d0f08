#!/usr/bin/env node
// The gatehouse command: the compiled CLI (npm run build) run in this very process, so signals
// such as SIGTERM reach the operator directly. No loader and no child process.
import module from 'node:module';

// Keeps V8's compiled code between runs (a no-op where the cache folder cannot be written).
module.enableCompileCache?.();

let cli;
try {
  cli = await import('../dist/bundle/gatehouse.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/bundle/gatehouse.js')) {
    process.stderr.write('gatehouse: the compiled CLI (dist/) is missing; run `npm run build` in this checkout\n');
    process.exit(2);
  }
  throw err;
}
process.exitCode = await cli.main(process.argv.slice(2));
