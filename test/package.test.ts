// The package as a user gets it: `npm pack` (which builds dist/ through `prepack`), then
// `npm install --omit=dev` of the tarball into an empty folder, then the installed command.
// Nothing here runs TypeScript: no loader and no devDependency is installed.
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runValidate } from '../src/cli/commands/validate.js';
import { Envtest, envtestSkipReason } from './support/envtest.js';
import { freePort } from './support/postgres.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const AT = '2026-06-01T00:00:00Z';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let work: string;
let tarball: string;
let project: string;
let installed: string;

/** Runs the installed bin file with this Node.js (the shebang's `node` may be an older one). */
function gatehouse(args: string[], cwd = project): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(installed, 'bin/gatehouse.js'), ...args], {
      cwd,
      env: { ...process.env, GATEHOUSE_STORE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** What `npm pack` reads: the package's own files and what its build needs (never dist/ or tests). */
const PACKED_FROM = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'bin', 'src', 'scripts', 'profiles', 'crds', 'charts'];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'gatehouse-package-'));
  // Packed from a copy, so that its build (prepack) never replaces this checkout's dist/ while
  // other suites run the command from it.
  const checkout = join(work, 'checkout');
  mkdirSync(checkout);
  for (const entry of PACKED_FROM) cpSync(join(root, entry), join(checkout, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'));
  const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', work], { cwd: checkout, maxBuffer: 64 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string }[];
  tarball = join(work, packed!.filename);
  project = join(work, 'project');
  mkdirSync(project);
  await exec('npm', ['init', '-y'], { cwd: project });
  await exec('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', tarball], { cwd: project, maxBuffer: 64 * 1024 * 1024 });
  installed = join(project, 'node_modules/gatehouse');
}, 600_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the compiled CLI, declarations and profiles, and no sources or tests', async () => {
    const { stdout } = await exec('tar', ['-tzf', tarball]);
    const files = stdout.split('\n').filter((f) => f !== '');
    expect(files).toContain('package/bin/gatehouse.js');
    expect(files).toContain('package/dist/bundle/gatehouse.js');
    expect(files).toContain('package/dist/app/index.d.ts');
    expect(files).toContain('package/profiles/default.yaml');
    expect(files).toContain('package/LICENSE');
    expect(files.filter((f) => /^package\/(src|test|bench|scripts)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.test.js') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('ships a bundle V8 can hold at one byte per character, with source maps beside it', () => {
    // One character above U+00FF anywhere in a file (a comment's curly quote) and V8 keeps the
    // whole file's source text at two bytes per character for as long as the process runs.
    const bundle = join(installed, 'dist/bundle');
    const scripts = readdirSync(bundle).filter((f) => f.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(1);
    for (const script of scripts) {
      const text = readFileSync(join(bundle, script), 'utf8');
      expect({ script, wide: text.match(/[^\u0000-\u00ff]/)?.[0] }).toEqual({ script, wide: undefined });
      expect(text).toMatch(new RegExp(`//# sourceMappingURL=${script.replace(/\./g, '\\.')}\\.map\\s*$`));
      expect(existsSync(join(bundle, `${script}.map`))).toBe(true);
    }
  });

  it('installs without devDependencies: no TypeScript loader is present', () => {
    const modules = readdirSync(join(project, 'node_modules'));
    expect(modules).toContain('gatehouse');
    for (const dev of ['tsx', 'typescript', 'vitest', 'esbuild', 'node']) expect(modules).not.toContain(dev);
    expect(existsSync(join(project, 'node_modules/.bin/gatehouse'))).toBe(true);
  });

  it('validate passes the examples and reports exactly what the sources report on the invalid ones', async () => {
    const good = await gatehouse(['validate', join(root, 'examples/acme')]);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^0 errors, 0 warnings in \d+ objects from 4 files/m);

    // The package checks with schema validators compiled at build time; the sources compile
    // them at run time. Both must say the same thing, line for line.
    const invalid = relative(project, join(root, 'examples/invalid'));
    const packaged = await gatehouse(['validate', invalid, '--at', AT, '--output', 'json']);
    expect(packaged.code).toBe(1);
    let fromSources = '';
    const previous = process.cwd();
    process.chdir(project);
    try {
      await runValidate([invalid], { at: AT, output: 'json' }, (text) => (fromSources += text));
    } finally {
      process.chdir(previous);
    }
    expect(JSON.parse(packaged.stdout)).toEqual(JSON.parse(fromSources));
  });

  it('plan, apply and get work against a SQLite store, and a second plan is empty', async () => {
    const store = `sqlite:${join(work, 'store.db')}`;
    const examples = join(root, 'examples/acme');
    const plan = await gatehouse(['plan', examples, '--store', store]);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/Plan: 12 to add, 0 to change, 0 to remove\./);

    const apply = await gatehouse(['apply', examples, '--store', store]);
    expect(apply.code).toBe(0);
    expect(apply.stdout).toMatch(/Applied: 12 added, 0 changed, 0 removed\./);

    const get = await gatehouse(['get', 'members', '--store', store]);
    expect(get.code).toBe(0);
    expect(get.stdout).toContain('dana.whitfield@acme.example');

    const again = await gatehouse(['plan', examples, '--store', store, '--detailed-exitcode']);
    expect(again.code).toBe(0);
  });

  it('answers --version from the compiled CLI', async () => {
    const version = await gatehouse(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe('0.1.0');
  });

  const skip = envtestSkipReason();
  it.skipIf(skip !== undefined)(
    `runs the operator in its own process: SIGTERM to that process stops it with exit code 0 and frees its ports${skip === undefined ? '' : ` (skipped: ${skip})`}`,
    async () => {
      const env = await Envtest.start();
      try {
        const kubeconfig = join(work, 'kubeconfig');
        env.writeKubeconfig(kubeconfig, { namespace: 'default' });
        const probePort = await freePort();
        const child = spawn(
          process.execPath,
          [
            join(installed, 'bin/gatehouse.js'), 'run', '--no-webhook', '--kubeconfig', kubeconfig, '--store', `sqlite:${join(work, 'operator.db')}`,
            '--probe-listen', `127.0.0.1:${probePort}`, '--metrics-listen', `127.0.0.1:${await freePort()}`,
          ],
          { cwd: project, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        const healthz = () => fetch(`http://127.0.0.1:${probePort}/healthz`).then((r) => r.status, () => 0);
        const deadline = Date.now() + 60_000;
        while ((await healthz()) !== 200) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the operator never answered /healthz:\n${stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        // The process we started is the operator itself: no launcher stands between the signal and it.
        child.kill('SIGTERM');
        expect(await exited, stderr).toBe(0);
        expect(await healthz()).toBe(0);
      } finally {
        await env.stop();
      }
    },
    120_000,
  );
});
