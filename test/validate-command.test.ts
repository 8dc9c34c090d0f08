// The validate command in process (the real-process checks are in
// test/cli-validate.test.ts): --at, --profile, warnings, usage errors.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAt, runValidate, type ValidateOptions } from '../src/cli/commands/validate.js';
import { UsageError } from '../src/util/errors.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const acme = join(root, 'examples/acme');
const invalid = (rule: string) => join(root, `examples/invalid/${rule}.yaml`);
const AT = '2026-12-01T00:00:00Z';

async function validate(paths: string[], options: ValidateOptions = { at: AT }) {
  let out = '';
  const code = await runValidate(paths, options, (text) => {
    out += text;
  });
  return { code, out };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-validate-'));
  // A product whose catalog also has "publish-article".
  const profile = (await readFile(join(root, 'profiles/default.yaml'), 'utf8')).replace(
    'permissions:\n',
    'permissions:\n  - id: publish-article\n    displayName: Publish Article\n    description: Publish articles.\n    access: Write\n',
  );
  await writeFile(join(dir, 'profile.yaml'), profile);
  await writeFile(join(dir, 'broken-profile.yaml'), 'apiVersion: gatehouse.dev/v1alpha1\nkind: Profile\nmetadata: {name: x}\npermissions: []\n');
  await writeFile(
    join(dir, 'news.yaml'),
    `apiVersion: gatehouse.dev/v1alpha1
kind: Workspace
metadata: {name: news, namespace: news}
spec:
  workspaceId: news
  displayName: News
  admins: {min: 0, max: 1}
---
apiVersion: gatehouse.dev/v1alpha1
kind: Role
metadata: {name: publisher, namespace: news}
spec:
  workspaceRef: {name: news}
  displayName: Publisher
  permissions: [view-dashboard, publish-article]
`,
  );
  await mkdir(join(dir, 'empty'));
  await writeFile(join(dir, 'broken.yaml'), 'apiVersion: gatehouse.dev/v1alpha1\nkind: Member\nspec: [unclosed\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runValidate', () => {
  it('returns 0 with warnings only, and prints them', async () => {
    const { code, out } = await validate([invalid('TwoFactorOptional')]);
    expect(out).toMatch(/TwoFactorOptional\.yaml:11:3: warning TwoFactorOptional Workspace two-factor-optional\/two-factor-optional spec\.twoFactor: .+\n/);
    expect(out).toMatch(/\n0 errors, 1 warning in 2 objects from 1 file\n$/);
    expect(code).toBe(0);
  });

  it.each<[string, ValidateOptions, number, string | undefined]>([
    ['no limit', {}, 0, undefined],
    ['--max-warnings 1', { maxWarnings: '1' }, 0, undefined],
    ['--max-warnings 0', { maxWarnings: '0' }, 1, '1 warning, more than the 0 that --max-warnings allows'],
    ['--strict', { strict: true }, 1, '1 warning, more than the 0 that --strict allows'],
  ])('with warnings only and %s, returns %#', async (_name, limit, expected, line) => {
    const { code, out } = await validate([invalid('TwoFactorOptional')], { at: AT, ...limit });
    expect(code).toBe(expected);
    if (line === undefined) expect(out).not.toContain('more than');
    else expect(out.trimEnd().split('\n').at(-1)).toBe(line);
  });

  it('counts a YAML 1.1 boolean as a warning that --strict fails on', async () => {
    await writeFile(join(dir, 'yes-no.yaml'), (await readFile(invalid('TwoFactorOptional'), 'utf8')).replace(/twoFactor: Optional.*/, 'twoFactor: Required').replace(/displayName: .*/, 'displayName: No'));
    const lenient = await validate([join(dir, 'yes-no.yaml')]);
    expect(lenient.out).toMatch(/yes-no\.yaml:\d+:\d+: warning Yaml11Boolean spec\.displayName: No is text here, but kubectl and Argo CD read it as the boolean false/);
    expect(lenient.code).toBe(0);
    expect((await validate([join(dir, 'yes-no.yaml')], { at: AT, strict: true })).code).toBe(1);
  });

  it('passes examples/gitops: merge keys expanded, kustomize and Argo CD files ignored, --strict clean', async () => {
    const { code, out } = await validate([join(root, 'examples/gitops')], { at: AT, strict: true });
    expect(out).toBe('0 errors, 0 warnings in 4 objects from 5 files (3 documents of other kinds ignored)\n');
    expect(code).toBe(0);
  });

  it('refuses a --max-warnings that is not a whole number', async () => {
    await expect(validate([acme], { at: AT, maxWarnings: 'none' })).rejects.toThrow('--max-warnings "none" is not a whole number');
  });

  it('reports YAML syntax errors with their position and returns 1', async () => {
    const { code, out } = await validate([join(dir, 'broken.yaml')], { at: AT, output: 'json' });
    const report = JSON.parse(out) as { violations: unknown[] };
    expect(report.violations).toEqual([
      expect.objectContaining({ file: join(dir, 'broken.yaml'), line: 4, column: 1, ruleId: 'YamlSyntax', kind: null, namespace: null, name: null, field: '' }),
    ]);
    expect(code).toBe(1);
  });

  it('evaluates time rules at --at', async () => {
    const before = await validate([acme], { at: '2027-06-30T16:59:59Z' });
    expect(before.out).toMatch(/^0 errors, 0 warnings/);
    const after = await validate([acme], { at: '2027-06-30T19:00:00+02:00' });
    expect(after.out).toMatch(/20-members\.yaml:\d+:\d+: warning TemporaryAccessInPast Member acme\/kai-contractor spec\.expiresAt: /);
    expect(after.code).toBe(0);
  });

  it('uses another product profile with --profile', async () => {
    const withDefault = await validate([join(dir, 'news.yaml')]);
    expect(withDefault.out).toContain('error UnknownPermission Role news/publisher spec.permissions[1]');
    expect(withDefault.code).toBe(1);
    const withProfile = await validate([join(dir, 'news.yaml')], { at: AT, profile: join(dir, 'profile.yaml') });
    expect(withProfile.out).toBe('0 errors, 0 warnings in 2 objects from 1 file\n');
    expect(withProfile.code).toBe(0);
  });

  it.each<[{ paths: string[]; profile?: string }, string]>([
    [{ paths: ['no/such/dir'] }, 'no/such/dir does not exist'],
    [{ paths: ['EMPTY'] }, 'no *.yaml or *.yml files under'],
    [{ paths: [acme], profile: 'no/such/profile.yaml' }, '--profile: invalid product profile no/such/profile.yaml'],
    [{ paths: [acme], profile: 'BROKEN' }, 'permissions: must NOT have fewer than 1 items'],
  ])('throws a UsageError (exit code 2) for %j', async ({ paths, profile }, message) => {
    const options: ValidateOptions = { at: AT, ...(profile ? { profile: profile === 'BROKEN' ? join(dir, 'broken-profile.yaml') : profile } : {}) };
    const run = validate(paths.map((p) => (p === 'EMPTY' ? join(dir, 'empty') : p)), options);
    await expect(run).rejects.toBeInstanceOf(UsageError);
    await expect(run).rejects.toThrow(message);
  });
});

describe('parseAt', () => {
  it.each(['2026-12-01T00:00:00Z', '2026-12-01t00:00:00z', '2026-12-01T01:00:00+01:00', '2026-12-01T00:00:00.123Z', '2028-02-29T00:00:00Z'])('accepts %s', (text) => {
    expect(Number.isNaN(parseAt(text).getTime())).toBe(false);
  });
  it('reads the offset', () => {
    expect(parseAt('2026-12-01T01:00:00+01:00').toISOString()).toBe('2026-12-01T00:00:00.000Z');
  });
  it.each(['tomorrow', '2026-12-01', '2026-12-01T00:00:00', '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', '2027-02-29T00:00:00Z', '1764547200'])('rejects %s', (text) => {
    expect(() => parseAt(text)).toThrow(UsageError);
  });
});
