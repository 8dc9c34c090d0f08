import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RULES, RuleIds, ruleInfo } from './catalog.js';

const docs = readFileSync(new URL('../../docs/rules.md', import.meta.url), 'utf8');

describe('rule catalog', () => {
  it('has unique CamelCase ids, each its own name in RuleIds', () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect((RuleIds as Record<string, string>)[id]).toBe(id);
      expect(ruleInfo(id)?.id).toBe(id);
    }
    expect(RuleIds.UnknownPermission).toBe('UnknownPermission');
  });

  it('is documented in docs/rules.md, one table row per rule', () => {
    for (const rule of RULES) {
      expect(docs, `docs/rules.md lacks ${rule.id}`).toMatch(new RegExp(`^\\| \`${rule.id}\` \\|`, 'm'));
    }
    const documented = [...docs.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]);
    const known = new Set<string>([...RULES.map((r) => r.id), 'PathNotFound', 'UnreadableFile', 'NoSourceFiles', 'YamlSyntax', 'UnknownKind', 'UnsupportedVersion', 'MissingApiVersion']);
    expect(documented.filter((id) => id !== undefined && !known.has(id))).toEqual([]);
  });
});
