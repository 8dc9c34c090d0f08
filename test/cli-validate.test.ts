// `gatehouse validate` as a real process: exit codes 0, 1 and 2, the text and
// JSON formats, and no stack trace for bad input. The finer behaviour of the
// command is tested in process, in test/validate-command.test.ts.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const main = join(root, 'src/cli/main.ts');
const AT = '--at=2026-12-01T00:00:00Z';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function gatehouse(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [tsx, main, ...args], { cwd: root, timeout: 110_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const STACK_TRACE = /^\s+at .+:\d+:\d+\)?$/m;

// Each run starts a Node.js process with the TypeScript loader: slow on a busy CI machine.
describe.concurrent('gatehouse validate (a real process)', { timeout: 120_000 }, () => {
  it('exits 0 on the valid example and prints the summary', async () => {
    const run = await gatehouse('validate', 'examples/acme', AT);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('0 errors, 0 warnings in 12 objects from 4 files (1 document of other kinds ignored)\n');
    expect(run.code).toBe(0);
  });

  it('exits 1 on violations, one FILE:LINE:COL line each, then the summary', async () => {
    const run = await gatehouse('validate', 'examples/invalid/DuplicateEmail.yaml', 'examples/invalid/TooManyAdmins.yaml', AT);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^examples\/invalid\/DuplicateEmail\.yaml:32:3: error DuplicateEmail Member duplicate-email\/ben spec\.email: .*remove the duplicate Member$/);
    expect(lines[1]).toMatch(/^examples\/invalid\/DuplicateEmail\.yaml:44:3: error DuplicateEmail Member duplicate-email\/benjamin spec\.email: /);
    expect(lines[2]).toMatch(/^examples\/invalid\/TooManyAdmins\.yaml:34:3: error TooManyAdmins Member too-many-admins\/bert spec\.role: /);
    expect(lines[3]).toBe('3 errors, 0 warnings in 7 objects from 2 files');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
  });

  it('prints a stable JSON shape with --output json', async () => {
    const run = await gatehouse('validate', '--output', 'json', 'examples/invalid/UnknownPermission.yaml', AT);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(report)).toEqual(['valid', 'summary', 'violations']);
    expect(report.valid).toBe(false);
    expect(report.summary).toEqual({ errors: 1, warnings: 0, objects: 3, files: 1, ignoredDocuments: 0 });
    expect(report.violations).toEqual([
      {
        file: 'examples/invalid/UnknownPermission.yaml',
        line: 35,
        column: 7,
        severity: 'error',
        ruleId: 'UnknownPermission',
        kind: 'Role',
        namespace: 'unknown-permission',
        name: 'analyst',
        field: 'spec.permissions[1]',
        message: '"Create Segment" is not a permission; did you mean "create-segment"?',
      },
    ]);
  });

  it.each([
    [['validate', 'no/such/dir', AT], 'gatehouse: no/such/dir does not exist'],
    [['validate', 'examples/acme', '--at', 'tomorrow'], 'gatehouse: --at "tomorrow" is not an RFC 3339 time'],
    [['validate', 'examples/acme', '--output', 'xml'], "argument 'xml' is invalid"],
    [['validate'], "missing required argument 'paths'"],
  ])('exits 2 on a usage or I/O error, without a stack trace: %j', async (args, message) => {
    const run = await gatehouse(...args);
    expect(run.stderr).toContain(message);
    expect(run.stderr).not.toMatch(STACK_TRACE);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(2);
  });
});
