// docs/cli.md is the commands' own help; this fails when a command, option or
// description changed and `npm run docs:cli` was not run.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cliReference } from '../src/cli/reference.js';

const file = fileURLToPath(new URL('../docs/cli.md', import.meta.url));

describe('docs/cli.md', () => {
  it('is what the commands say about themselves (run `npm run docs:cli` after changing a command)', async () => {
    const generated = await cliReference();
    expect(readFileSync(file, 'utf8')).toBe(generated);
  });

  it('has a section for every command, with its options', async () => {
    const text = await cliReference();
    for (const name of ['validate', 'plan', 'apply', 'get', 'audit', 'run', 'import']) expect(text).toContain(`## gatehouse ${name}\n`);
    expect(text).toContain('--max-warnings <n>');
    expect(text).toContain('--out <dir>');
  });
});
