import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSources, parseFiles, parseFilesWithWorker, parseSource, WORKER_MIN_FILES, type LoadProblem, type ParsedSource, type SourceObject } from './load.js';

const member = (name: string, extra = '') => `apiVersion: gatehouse.dev/v1alpha1
kind: Member
metadata:
  name: ${name}
spec:
  workspaceRef:
    name: acme
  email: ${name}@acme.example
  displayName: ${name}
${extra}`;

describe('parseSource', () => {
  it.each([
    ['a bare word', 'Member\n', 'the string "Member"'],
    ['a number', '42\n', 'the number 42'],
    ['a list', '- a list\n', 'a list'],
    ['a map indented into a word', 'apiVersion gatehouse.dev/v1alpha1\n', 'the string "apiVersion gatehouse.dev/v1alpha1"'],
  ])('refuses a document that is %s, as kubectl apply would', (_name, document, described) => {
    const result = parseSource('m.yaml', `${member('alice')}---\n${document}`);
    expect(result.objects).toHaveLength(1);
    expect(result.problems).toEqual([
      expect.objectContaining({ code: 'NotAMapping', line: 11, column: 1, message: expect.stringContaining(`document 2 is ${described}, not a mapping`) }),
    ]);
  });

  it('expands YAML merge keys as kubectl and Argo CD do', () => {
    const text = `apiVersion: gatehouse.dev/v1alpha1
kind: Member
metadata:
  name: alice
  labels: &team
    team: growth
  annotations:
    <<: *team
    owner: ada
spec:
  <<: {workspaceRef: {name: acme}, role: viewer}
  email: alice@acme.example
  displayName: Alice
`;
    const result = parseSource('m.yaml', text);
    expect(result.problems).toEqual([]);
    const [source] = result.objects;
    expect(source?.object.metadata.annotations).toEqual({ team: 'growth', owner: 'ada' });
    expect(source?.object.spec).toEqual({ workspaceRef: { name: 'acme' }, role: 'viewer', email: 'alice@acme.example', displayName: 'Alice' });
    // A field that came through a merge key points where it is written.
    expect(source?.position('spec.role')).toEqual({ line: 11, column: 36 });
    expect(source?.position('metadata.annotations.team')).toEqual({ line: 6, column: 5 });
  });

  it.each([
    ['No', false],
    ['yes', true],
    ['OFF', false],
    ['on', true],
    ['y', true],
  ])('warns that kubectl reads the unquoted %s as the boolean %s', (word, value) => {
    const result = parseSource('m.yaml', member('alice').replace('displayName: alice', `displayName: ${word}`));
    expect(result.objects).toHaveLength(1);
    expect(result.problems).toEqual([
      {
        code: 'Yaml11Boolean',
        severity: 'warning',
        file: 'm.yaml',
        line: 9,
        column: 16,
        field: 'spec.displayName',
        message: `${word} is text here, but kubectl and Argo CD read it as the boolean ${value} (YAML 1.1); quote it ("${word}") to keep it text`,
      },
    ]);
  });

  it.each([
    ['a quoted word', 'displayName: "No"'],
    ['a longer word', 'displayName: Nope'],
    ['a real boolean', 'displayName: false'],
  ])('does not warn about %s', (_name, line) => {
    const result = parseSource('m.yaml', member('alice').replace('displayName: alice', line));
    expect(result.problems).toEqual([]);
  });

  it('leaves YAML 1.1 words in documents of other tools alone', () => {
    const result = parseSource('m.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {enabled: yes}\n');
    expect(result.problems).toEqual([]);
  });

  it('reads multi-document YAML, defaults the namespace and skips empty documents', () => {
    const text = `${member('alice')}---\n---\n# only a comment\n---\n${member('bob').replace('metadata:\n', 'metadata:\n  namespace: beta\n')}`;
    const result = parseSource('m.yaml', text);
    expect(result.problems).toEqual([]);
    expect(result.objects.map((o) => [o.object.metadata.namespace, o.object.metadata.name])).toEqual([
      ['default', 'alice'],
      ['beta', 'bob'],
    ]);
    expect(result.ignoredDocuments).toBe(0);
  });

  it('ignores documents of other API groups and the product Profile, counting them', () => {
    const text = [
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: acme\n',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n',
      'apiVersion: gatehouse.dev/v1alpha1\nkind: Profile\nmetadata:\n  name: default\n',
      'just: a map without apiVersion\n',
      member('alice'),
    ].join('---\n');
    const result = parseSource('m.yaml', text);
    expect(result.objects).toHaveLength(1);
    expect(result.ignoredDocuments).toBe(4);
    expect(result.problems).toEqual([]);
  });

  it('unwraps List documents and keeps positions inside items', () => {
    const text = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
  - apiVersion: gatehouse.dev/v1alpha1
    kind: Role
    metadata:
      name: analyst
      namespace: acme
    spec:
      workspaceRef: {name: acme}
      displayName: Analyst
      permissions:
        - view-dashboard
        - bogus
`;
    const result = parseSource('list.yaml', text);
    expect(result.objects.map((o) => o.object.kind)).toEqual(['Role']);
    expect(result.ignoredDocuments).toBe(1);
    expect(result.objects[0]?.position('spec.permissions[1]')).toEqual({ line: 16, column: 11 });
  });

  it.each([
    ['apiVersion: gatehouse.dev/v1beta1\nkind: Member\n', 'UnsupportedVersion', 1, 1],
    ['kind: Workspace\nmetadata: {name: x}\n', 'MissingApiVersion', 1, 1],
    ['apiVersion: 3\nkind: Member\n', 'UnsupportedVersion', 1, 1],
    ['metadata: {}\napiVersion: gatehouse.dev/v1alpha1\nkind: Memebr\n', 'UnknownKind', 3, 1],
    ['apiVersion: gatehouse.dev/v1alpha1\nmetadata: {}\n', 'UnknownKind', 1, 1],
    ['a: 1\nb: [1, 2\nc: 3\n', 'YamlSyntax', 3, 1],
    ['a: 1\na: 2\n', 'YamlSyntax', 2, 1],
    ['key: "unterminated\n', 'YamlSyntax', 2, 1],
    ['a: &x [*x, *y]\n', 'YamlSyntax', 1, 1],
  ])('reports %j as %s at %i:%i', (text, code, line, column) => {
    const result = parseSource('bad.yaml', `# comment\n${text}`);
    expect(result.objects).toEqual([]);
    expect(result.problems).toEqual([expect.objectContaining({ code, file: 'bad.yaml', line: line + 1, column })]);
    expect(result.problems[0]?.message).not.toMatch(/\n/);
  });

  it('keeps loading the other documents of a file with one broken document', () => {
    const text = `${member('alice')}---\nkey: [unclosed\n---\n${member('bob')}`;
    const result = parseSource('m.yaml', text);
    expect(result.objects.map((o) => o.object.metadata.name)).toEqual(['alice', 'bob']);
    expect(result.problems.map((p) => p.code)).toEqual(['YamlSyntax']);
  });

  it('ignores a byte order mark', () => {
    expect(parseSource('m.yaml', `\ufeff${member('alice')}`).objects).toHaveLength(1);
  });

  describe('positions', () => {
    const text = `# team
apiVersion: gatehouse.dev/v1alpha1
kind: Member
metadata:
  name: alice
  namespace: acme
spec:
  workspaceRef:
    name: acme
  email: alice@acme.example
  displayName: Alice
  invitation: {resend: 1}
---
apiVersion: gatehouse.dev/v1alpha1
kind: Role
metadata: {name: analyst, namespace: acme}
spec:
  workspaceRef: {name: acme}
  displayName: Analyst
  permissions: [view-dashboard, "bogus"]
`;
    const [alice, role] = parseSource('p.yaml', text).objects as [SourceObject, SourceObject];
    it.each([
      ['', 2, 1],
      ['kind', 3, 1],
      ['metadata.name', 5, 3],
      ['spec.email', 10, 3],
      ['spec.workspaceRef.name', 9, 5],
      ['spec.invitation.resend', 12, 16],
      ['spec.role', 7, 1],
      ['spec.invitation.resend.deeper[3]', 12, 16],
      ['spec.nothing.here', 7, 1],
      ['status.phase', 2, 1],
    ])('field %j of the first document is at %i:%i', (field, line, column) => {
      expect(alice.position(field)).toEqual({ line, column });
    });
    it.each([
      ['metadata.name', 16, 12],
      ['spec.permissions[1]', 20, 33],
      ['spec.permissions[7]', 20, 3],
      ['spec.workspaceRef.name', 18, 18],
    ])('field %j of the second document is at %i:%i', (field, line, column) => {
      expect(role.position(field)).toEqual({ line, column });
    });
  });
});

describe('loadSources', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-load-'));
    await mkdir(join(dir, 'team', 'nested'), { recursive: true });
    await mkdir(join(dir, '.git'));
    await mkdir(join(dir, 'node_modules', 'x'), { recursive: true });
    await writeFile(join(dir, 'team', 'a.yaml'), member('alice'));
    await writeFile(join(dir, 'team', 'nested', 'b.yml'), member('bob'));
    await writeFile(join(dir, 'team', 'notes.txt'), member('not-read'));
    await writeFile(join(dir, '.git', 'c.yaml'), member('hidden'));
    await writeFile(join(dir, 'node_modules', 'x', 'd.yaml'), member('dependency'));
    await writeFile(join(dir, 'explicit.txt'), member('carol'));
    await mkdir(join(dir, 'empty'));
    // A link back up must not loop.
    await symlink(join(dir, 'team'), join(dir, 'team', 'nested', 'loop'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads *.yaml and *.yml recursively, skipping hidden folders, node_modules and symlink loops', async () => {
    const result = await loadSources([dir]);
    expect(result.problems).toEqual([]);
    expect(result.objects.map((o) => o.object.metadata.name)).toEqual(['alice', 'bob']);
    expect(result.files).toEqual([join(dir, 'team', 'a.yaml'), join(dir, 'team', 'nested', 'b.yml')]);
    expect(result.objects[1]?.file).toBe(join(dir, 'team', 'nested', 'b.yml'));
  });

  it('reads a file named explicitly whatever its extension, and each file once', async () => {
    const result = await loadSources([join(dir, 'explicit.txt'), join(dir, 'team'), join(dir, 'team', 'a.yaml')]);
    expect(result.objects.map((o) => o.object.metadata.name)).toEqual(['carol', 'alice', 'bob']);
  });

  it('returns missing paths and empty folders as problems, not exceptions', async () => {
    const result = await loadSources([join(dir, 'nope'), join(dir, 'empty'), join(dir, 'team', 'a.yaml')]);
    expect(result.problems.map((p) => p.code)).toEqual(['PathNotFound', 'NoSourceFiles']);
    expect(result.objects).toHaveLength(1);
  });
});

describe('loadSources stays inside the folders given and refuses huge files', () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'gatehouse-load-limits-'));
    await mkdir(join(base, 'repo'));
    await mkdir(join(base, 'elsewhere'));
    await writeFile(join(base, 'repo', 'a.yaml'), member('alice'));
    await writeFile(join(base, 'elsewhere', 'secret.yaml'), member('outsider'));
    await symlink(join(base, 'elsewhere', 'secret.yaml'), join(base, 'repo', 'linked.yaml'));
    await symlink(join(base, 'elsewhere'), join(base, 'repo', 'linked-dir'));
    await writeFile(join(base, 'repo-big.yaml'), `${member('big')}\n# ${'x'.repeat(2048)}\n`);
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('refuses links out of the folder, naming them and the flag', async () => {
    const result = await loadSources([join(base, 'repo')]);
    expect(result.objects.map((o) => o.object.metadata.name)).toEqual(['alice']);
    expect(result.problems.map((p) => [p.code, p.file])).toEqual([
      ['UnreadableFile', join(base, 'repo', 'linked-dir')],
      ['UnreadableFile', join(base, 'repo', 'linked.yaml')],
    ]);
    expect(result.problems[0]?.message).toMatch(/outside .*--follow-symlinks/);
  });

  it('follows them when told', async () => {
    const result = await loadSources([join(base, 'repo')], { followSymlinks: true });
    expect(result.problems).toEqual([]);
    expect(result.objects.map((o) => o.object.metadata.name).sort()).toEqual(['alice', 'outsider']);
  });

  it('refuses a file over the size limit without reading it', async () => {
    const result = await loadSources([join(base, 'repo-big.yaml')], { maxFileBytes: 1024 });
    expect(result.objects).toEqual([]);
    expect(result.problems[0]?.message).toMatch(/more than the 1024 a source file may be; split it/);
  });
});

describe('loadSources reads files ahead of parsing and keeps file order', () => {
  let base: string;
  const FILES = 20;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'gatehouse-load-order-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it.each([
    ['the first', [0]],
    ['one in the middle and the last', [9, FILES - 1]],
    ['several in a row, past the files read ahead', [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]],
  ])('objects and problems come in file order when %s file is refused', async (name, refused) => {
    const dir = join(base, name.replace(/\W+/g, '-'));
    await mkdir(dir);
    for (let i = 0; i < FILES; i += 1) {
      const id = `m${String(i).padStart(2, '0')}`;
      // A refused file is over the size limit (odd) or broken YAML (even).
      const text = !refused.includes(i) ? member(id) : i % 2 === 1 ? `${member(id)}\n# ${'x'.repeat(2048)}\n` : `${member(id)}  bad: [\n`;
      await writeFile(join(dir, `${id}.yaml`), text);
    }
    const result = await loadSources([dir], { maxFileBytes: 1024 });
    const expected = [...Array(FILES).keys()].filter((i) => !refused.includes(i)).map((i) => `m${String(i).padStart(2, '0')}`);
    expect(result.objects.map((o) => o.object.metadata.name)).toEqual(expected);
    expect(result.objects.map((o) => o.file)).toEqual(expected.map((id) => join(dir, `${id}.yaml`)));
    expect(result.problems.map((p) => [p.file, p.code])).toEqual(
      refused.map((i) => [join(dir, `m${String(i).padStart(2, '0')}.yaml`), i % 2 === 1 ? 'UnreadableFile' : 'YamlSyntax']),
    );
    expect(result.files).toHaveLength(FILES);
  });
});

describe('a worker thread parses files alongside the main one', () => {
  let base: string;
  let files: string[];
  const MAX_BYTES = 2048;
  // Files of every way: fast, declined (slow), broken, refused, empty, other tools', values that
  // only a faithful copy between threads keeps (NaN, -0, infinities, a __proto__ key).
  const kinds = [
    (i: number) => member(`m${i}`),
    (i: number) => member(`m${i}`, '  displayName: yes\n'),
    (i: number) => `${member(`m${i}`)}---\nkind: [unclosed\n`,
    (i: number) => `${member(`m${i}`)}\n# ${'x'.repeat(MAX_BYTES)}\n`,
    () => '',
    (i: number) => `\ufeffapiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n---\n${member(`m${i}`, '  a: .nan\n  b: -0\n  c: -.inf\n  __proto__: {admin: true}\n')}`,
    (i: number) => `apiVersion: v1\nkind: MemberList\nitems:\n- ${member(`m${i}`).replaceAll('\n', '\n  ').trimEnd()}\n`,
  ];
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'gatehouse-load-worker-'));
    files = [];
    for (let i = 0; i < WORKER_MIN_FILES + 5; i += 1) {
      const file = join(base, `f${String(i).padStart(3, '0')}.yaml`);
      await writeFile(file, (kinds[i % kinds.length] as (i: number) => string)(i));
      files.push(file);
    }
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const FIELDS = ['', 'metadata.name', 'spec.email', 'spec.displayName', 'items[0].spec'];
  const observable = (parsed: ParsedSource | LoadProblem) =>
    'objects' in parsed
      ? { ...parsed, objects: parsed.objects.map((o) => ({ object: o.object, file: o.file, positions: FIELDS.map((f) => o.position(f)) })) }
      : parsed;
  const collect = async (parsed: AsyncIterable<ParsedSource | LoadProblem>) => {
    const out = [];
    for await (const file of parsed) out.push(observable(file));
    return out;
  };

  it.each([
    ['the worker alone', { mainThreadParses: false }, 'all'],
    ['both threads', {}, 'any'],
    ['a worker that fails to start, leaving every file to the main thread', { worker: new URL('./no-such-worker.js', import.meta.url) }, 'none'],
  ] as const)('%s: every file as the main thread alone reads it, in order', async (_name, options, byWorker) => {
    const expected = await collect(parseFiles(files, MAX_BYTES));
    expect(expected.filter((f) => 'code' in f).map((f) => 'code' in f && f.code)).toContain('UnreadableFile');
    const stats = { byWorker: 0 };
    const actual = await collect(parseFilesWithWorker(files, MAX_BYTES, { ...options, stats }));
    expect(actual).toEqual(expected);
    const nan = actual.flatMap((f) => ('objects' in f ? f.objects : [])).find((o) => 'a' in (o.object.spec as object));
    expect(Object.is((nan?.object.spec as { b?: unknown }).b, -0)).toBe(true);
    if (byWorker === 'all') expect(stats.byWorker).toBe(files.length);
    if (byWorker === 'none') expect(stats.byWorker).toBe(0);
  });

  it.each([
    ['a folder this large', () => base, 1],
    ['a single file', () => files[0] as string, 0],
  ])('loadSources of %s runs other work meanwhile only when a worker parses', async (_name, path, calls) => {
    let called = 0;
    const result = await loadSources([path()], {
      maxFileBytes: MAX_BYTES,
      meanwhile: async () => {
        called += 1;
      },
    });
    expect(called).toBe(calls);
    expect(result.files.length).toBeGreaterThan(0);
  });

  it('loadSources of a folder this large reads it as parseSource reads each file', async () => {
    const result = await loadSources([base], { maxFileBytes: MAX_BYTES });
    expect(result.files).toEqual(files);
    const expected = await collect(parseFiles(files, MAX_BYTES));
    const parsed = expected.filter((f): f is Exclude<typeof f, LoadProblem> => 'objects' in f);
    expect(result.objects.map((o) => ({ object: o.object, file: o.file, positions: FIELDS.map((f) => o.position(f)) }))).toEqual(parsed.flatMap((f) => f.objects));
    expect(result.problems).toEqual(expected.flatMap((f) => ('objects' in f ? f.problems : [f])));
    expect(result.ignoredDocuments).toBe(parsed.reduce((n, f) => n + f.ignoredDocuments, 0));
  });
});
