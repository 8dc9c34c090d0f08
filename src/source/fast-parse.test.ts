import { parse as parseWithYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { fastDocuments } from './fast-parse.js';
import { parseSource, parseWithPositions, type ParsedSource } from './load.js';

const HEAD = 'apiVersion: gatehouse.dev/v1alpha1\nkind: Member\n';
const member = (name: string, spec = '  email: a@acme.example\n') => `${HEAD}metadata:\n  name: ${name}\nspec:\n  workspaceRef:\n    name: acme\n${spec}`;

/** Fields whose position each case checks on every object read. */
const FIELDS = ['', 'kind', 'metadata.name', 'spec', 'spec.email', 'spec.workspaceRef.name', 'spec.displayName', 'spec.nothing', 'items[0].spec'];

/** What a test can compare: the objects, their positions, the problems, the documents skipped. */
function observable(parsed: ParsedSource) {
  return {
    objects: parsed.objects.map((o) => ({ object: o.object, file: o.file, positions: FIELDS.map((f) => o.position(f)) })),
    problems: parsed.problems,
    ignoredDocuments: parsed.ignoredDocuments,
  };
}

const isSpecial = (word: string) => ['<<', 'yes', 'no', 'y', 'n', 'on', 'off', 'Yes', 'No', 'YES', 'NO', 'On', 'Off', 'ON', 'OFF', 'Y', 'N'].includes(word);

describe('the fast way reads a file exactly as the slow way', () => {
  // way: which way parseSource takes, so a case cannot silently stop testing the fast one.
  it.each([
    ['one Member', member('alice'), 'fast'],
    ['multi-document files with empty documents', `---\n---\n${member('alice')}---\n# only a comment\n---\n${member('bob')}---\n`, 'fast'],
    ['a List of Members', `apiVersion: v1\nkind: MemberList\nitems:\n- ${member('alice').replaceAll('\n', '\n  ').trimEnd()}\n`, 'fast'],
    ['documents of other tools', `apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n---\n${member('alice')}`, 'fast'],
    ['the product Profile', 'apiVersion: gatehouse.dev/v1alpha1\nkind: Profile\nmetadata:\n  name: p\n', 'fast'],
    ['timestamp-looking text', member('alice', '  email: a@acme.example\n  displayName: 2026-01-01T00:00:00Z\n  note: 2026-01-01\n'), 'fast'],
    ['numbers, null and booleans of YAML 1.2', member('alice', '  a: 42\n  b: -0x1F\n  c: 0o17\n  d: 017\n  e: 1.5e3\n  f: .inf\n  g: -.Inf\n  h: .nan\n  i: ~\n  j: null\n  k: true\n  l: False\n  m:\n  u: 1_000\n  o: 0b101\n  p: +12\n  q: 12345678901234567890\n'), 'fast'],
    ['quoted, block and folded text', member('alice', '  displayName: "Ada \\u00e9"\n  a: \'it\'\'s\'\n  b: |\n    two\n    lines\n  c: >-\n    folded\n    text\n  d: plain\n    continued\n'), 'fast'],
    ['flow collections', member('alice', '  permissions: [{resource: a, verbs: [get, list]}, b]\n'), 'fast'],
    ['a quoted "yes"', member('alice', '  displayName: "yes"\n'), 'fast'],
    ['a plain yes', member('alice', '  displayName: yes\n'), 'slow'],
    ['a plain Off in a list', member('alice', '  tags: [a, Off]\n'), 'slow'],
    ['merge keys', `${HEAD}metadata:\n  name: alice\n  labels: &team\n    team: growth\n  annotations:\n    <<: *team\nspec:\n  <<: {workspaceRef: {name: acme}}\n  email: a@acme.example\n`, 'slow'],
    ['an inline merge key without an anchor', member('alice', '  <<: {displayName: Ada}\n'), 'slow'],
    ['an anchor without an alias', member('alice', '  displayName: &n Ada\n'), 'slow'],
    ['a tag', member('alice', '  displayName: !!str 42\n'), 'slow'],
    ['a timestamp tag', member('alice', '  expiresAt: !!timestamp 2026-01-01\n'), 'slow'],
    ['a binary tag', member('alice', '  data: !!binary aGk=\n'), 'slow'],
    ['a %YAML directive', `%YAML 1.1\n---\n${member('alice')}`, 'slow'],
    ['a syntax error', `${member('alice')}---\nkind: [unclosed\n`, 'slow'],
    ['a duplicate key', member('alice', '  email: a@acme.example\n  email: b@acme.example\n'), 'slow'],
    ['a document that is not a mapping', `${member('alice')}---\n- a list\n`, 'slow'],
    ['a Member without apiVersion', `kind: Member\nmetadata:\n  name: alice\n`, 'slow'],
    ['an unknown kind', `apiVersion: gatehouse.dev/v1alpha1\nkind: Memberr\nmetadata:\n  name: alice\n`, 'slow'],
    ['an alias bomb', `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n${HEAD}`, 'slow'],
    ['a __proto__ key', member('alice', '  __proto__: {admin: true}\n'), 'fast'],
    ['a byte order mark', `\ufeff${member('alice')}`, 'fast'],
    ['document end markers', `${member('alice')}...\n---\n${member('bob')}...\n`, 'fast'],
    ['comments only', '# nothing here\n# yet\n', 'fast'],
    ['Windows line endings', `${member('alice')}---\n${member('bob')}`.replaceAll('\n', '\r\n'), 'fast'],
    ['tabs and trailing spaces', member('alice', '  displayName: Ada \t\n  note: "a\tb"   \n'), 'fast'],
  ])('%s', (_name, text, way) => {
    const slow = observable(parseWithPositions('m.yaml', text.replace(/^\ufeff/, '')));
    expect(observable(parseSource('m.yaml', text))).toEqual(slow);
    const fast = fastDocuments(text.replace(/^\ufeff/, ''), isSpecial);
    if (way === 'slow') {
      // The fast way either declines the file or, for a problem only the slow way can place, is overruled by parseSource.
      if (fast !== undefined) expect(slow.problems.length).toBeGreaterThan(0);
    } else {
      expect(fast).toBeDefined();
    }
  });
});

describe('fastDocuments', () => {
  it.each([
    '42', '-0x1F', '0x1f', '0o17', '017', '-017', '1.5e3', '1e3', '1E+3', '.5', '5.', '-.5', '+.5', '.inf', '-.Inf', '+.INF', '.NaN', '.nan',
    '~', 'null', 'Null', 'NULL', 'nUll', 'true', 'True', 'TRUE', 'tRue', 'false', '1_000', '0b101', '+12', '+0x1F', '12345678901234567890', '1:20',
    '0.1', '-0', '0', '00', '1.0', '2026-01-01', '2026-01-01T00:00:00Z', '"\\x41\\t"', "'a''b'", 'a # comment', 'a#b', '{}', '[]', '""',
    '|\n  a\n  b\n', '>\n  a\n  b\n\n  c\n', '|+\n  a\n\n', '"multi\n  line"', 'plain\n  folded', '[a, {b: c}, [d]]', '{a: 1, b: [2, 3]}', '{1: a, 2.5: b, true: c}',
    '"\\u263A\\U0001F600"', "'  spaced  '",
  ])('reads %j as the yaml library does', (scalar) => {
    const text = `v: ${scalar}\n`;
    const expected = parseWithYaml(text) as unknown;
    const fast = fastDocuments(text, isSpecial);
    expect(fast).toBeDefined();
    expect(fast).toEqual([expected]);
  });

  it.each([
    ['an alias', 'a: &x 1\nb: *x\n'],
    ['a plain YAML 1.1 boolean', 'a: off\n'],
    ['a merge key', 'a:\n  <<: {b: 1}\n'],
    ['a syntax error', 'a: [\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a tag', 'a: !custom 1\n'],
    ['a non-specific tag', 'a: !\n'],
    ['a list on the line of its key', 'a: - b\n'],
  ])('declines %s, for the yaml library to read', (_name, text) => {
    expect(fastDocuments(text, isSpecial)).toBeUndefined();
  });

  it('keeps quoted YAML 1.1 words, which need no warning', () => {
    expect(fastDocuments('a: "off"\nb: \'yes\'\nc: offline\n', isSpecial)).toEqual([{ a: 'off', b: 'yes', c: 'offline' }]);
  });
});

describe('positions after the fast way', () => {
  it('point at the field as written, found when first asked for', () => {
    const text = `${member('alice')}---\n${member('bob', '  email: b@acme.example\n  displayName: Bob\n')}`;
    expect(fastDocuments(text, isSpecial)).toBeDefined();
    const [alice, bob] = parseSource('m.yaml', text).objects;
    expect(alice?.position('spec.email')).toEqual({ line: 8, column: 3 });
    expect(bob?.position('')).toEqual({ line: 10, column: 1 });
    expect(bob?.position('spec.displayName')).toEqual({ line: 18, column: 3 });
    expect(bob?.position('spec.workspaceRef.name')).toEqual({ line: 16, column: 5 });
    expect(bob?.position('spec.missing')).toEqual({ line: 14, column: 1 });
  });
});
