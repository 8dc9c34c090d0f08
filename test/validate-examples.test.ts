// The examples: examples/acme validates clean; each examples/invalid/RULE.yaml
// yields exactly RULE, at the lines marked "# <- RULE".
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getDefaultProfile } from '../src/model/profile.js';
import { RULES } from '../src/rules/catalog.js';
import { loadSources } from '../src/source/load.js';
import { validateLoaded } from '../src/source/validate.js';

const examples = fileURLToPath(new URL('../examples/', import.meta.url));
const invalidDir = `${examples}invalid/`;
// Time rules in the examples are written to hold at this instant; a fixed one keeps the test from ageing.
const AT = new Date('2026-12-01T00:00:00Z');
const profile = getDefaultProfile();

async function validate(paths: string[]) {
  return validateLoaded(await loadSources(paths), { at: AT, profile });
}

/** Lines (1-based) carrying a "# <- RULE" marker. */
function markedLines(text: string, rule: string): number[] {
  const marker = new RegExp(`# <- ${rule}$`);
  return text.split('\n').flatMap((line, i) => (marker.test(line) ? [i + 1] : []));
}

const invalidFiles = readdirSync(invalidDir).filter((f) => f.endsWith('.yaml')).sort();

describe('examples/acme', () => {
  it('validates with no errors and no warnings', async () => {
    const report = await validate([`${examples}acme`]);
    expect(report.violations).toEqual([]);
    expect(report.summary).toEqual({ errors: 0, warnings: 0, objects: 12, files: 4, ignoredDocuments: 1 });
  });
});

describe('examples/invalid', () => {
  it.each(invalidFiles)('%s yields exactly its rule at the marked lines', async (file) => {
    const rule = file.replace(/\.yaml$/, '');
    const text = readFileSync(`${invalidDir}${file}`, 'utf8');
    const report = await validate([`${invalidDir}${file}`]);
    expect(new Set(report.violations.map((v) => v.ruleId)), JSON.stringify(report.violations, null, 2)).toEqual(new Set([rule]));
    const lines = markedLines(text, rule);
    expect(lines.length).toBeGreaterThan(0);
    expect(report.violations.map((v) => v.line).sort((a, b) => a - b)).toEqual(lines);
    expect(report.violations.every((v) => v.column > 0 && v.file === `${invalidDir}${file}`)).toBe(true);
  });

  it('has a file for every rule that declared state can break', () => {
    // These need an UPDATE or a DELETE, which files cannot express; their tests are in src/rules/admission.test.ts.
    const needsAnOperation = new Set(['ImmutableFieldChanged', 'InvitationResendDecreased', 'RevokedGrantReinstated', 'RoleInUse', 'WorkspaceInUse']);
    const expected = RULES.map((r) => r.id).filter((id) => !needsAnOperation.has(id)).sort();
    expect(invalidFiles.map((f) => f.replace(/\.yaml$/, ''))).toEqual(expected);
  });
});
