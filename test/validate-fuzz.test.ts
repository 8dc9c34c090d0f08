// Malformed input never makes the loader or the rules throw: random YAML,
// truncated and mangled files, and a wrong type in every field of every kind.
// A small seeded generator keeps every run the same and a failure replayable.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { GatehouseObject } from '../src/model/kinds.js';
import { getDefaultProfile } from '../src/model/profile.js';
import { checkDeletion, checkObject, checkObjects, createObjectIndex, type Violation } from '../src/rules/index.js';
import { aMember, anAdmin, aRole, aSupportGrant, aWorkspace, CERT_VALID_2025_TO_2035 } from '../src/rules/testing/builders.js';
import { parseSource } from '../src/source/load.js';
import { validateLoaded } from '../src/source/validate.js';
import { seededPicker, type SeededPicker } from './support/random.js';

const AT = new Date('2026-06-01T00:00:00Z');
const profile = getDefaultProfile();


const KEYS = ['apiVersion', 'kind', 'metadata', 'name', 'namespace', 'spec', 'workspaceRef', 'email', 'role', 'permissions', 'expiresAt', 'duration', 'endsAt', 'startsAt', 'grantee', 'agents', 'scope', 'memberRef', 'sso', 'saml', 'ipAllowlist', 'admins', 'min', 'max', 'supportAccess', 'status', 'items', 'x'];
const STRINGS = ['', ' ', 'gatehouse.dev/v1alpha1', 'gatehouse.dev/v2', 'Workspace', 'Role', 'Member', 'SupportGrant', 'List', 'acme', 'admin', 'viewer', 'a@b.c', '168h', '0s', '-1h', '2026-01-01T00:00:00Z', '2026-02-30T25:61:00Z', '10.0.0.0/8', '::/0', 'https://x', 'http://', '-----BEGIN CERTIFICATE-----', 'ünïcødé', '\u0000', 'a'.repeat(3000)];

/** A random JSON-like value, with a bias towards Gatehouse-shaped keys and values. */
function randomValue(r: SeededPicker, depth: number): unknown {
  const choice = r.int(depth > 3 ? 6 : 9);
  switch (choice) {
    case 0:
      return null;
    case 1:
      return r.next() < 0.5;
    case 2:
      return r.pick([0, -1, 1, 1.5, 1e308, -1e308, 2 ** 53 + 1]);
    case 3:
    case 4:
    case 5:
      return r.pick(STRINGS);
    case 6:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i -= 1) out[r.pick(KEYS)] = randomValue(r, depth + 1);
      return out;
    }
  }
}

/** A document that looks like a Gatehouse object at the top and is random below. */
function randomDocument(r: SeededPicker): unknown {
  const doc: Record<string, unknown> = {
    apiVersion: r.next() < 0.8 ? 'gatehouse.dev/v1alpha1' : randomValue(r, 3),
    kind: r.next() < 0.8 ? r.pick(['Workspace', 'Role', 'Member', 'SupportGrant']) : randomValue(r, 3),
  };
  if (r.next() < 0.9) doc.metadata = r.next() < 0.7 ? { name: r.pick(['a', 'b', 'acme']), namespace: r.pick(['acme', 'x']) } : randomValue(r, 2);
  if (r.next() < 0.9) doc.spec = randomValue(r, 0);
  return doc;
}

function assertWellFormed(violations: Violation[]): void {
  for (const v of violations) {
    expect(typeof v.ruleId).toBe('string');
    expect(['error', 'warning']).toContain(v.severity);
    expect(typeof v.field).toBe('string');
    expect(typeof v.message).toBe('string');
    expect(typeof v.object.name).toBe('string');
  }
}

/** Runs a text through loader + validation and the single-object entry points. */
function validateText(text: string): void {
  const parsed = parseSource('fuzz.yaml', text);
  const report = validateLoaded({ ...parsed, files: ['fuzz.yaml'] }, { at: AT, profile });
  for (const entry of report.violations) {
    expect(entry.line).toBeGreaterThanOrEqual(1);
    expect(entry.column).toBeGreaterThanOrEqual(1);
  }
  const objects = parsed.objects.map((o) => o.object);
  const index = createObjectIndex(objects);
  for (const object of objects.slice(0, 5)) {
    assertWellFormed(checkObject(object, { at: AT, profile, index, operation: 'UPDATE', oldObject: objects[0] }));
    assertWellFormed(checkDeletion(object, { at: AT, profile, index, operation: 'DELETE' }));
  }
}

const exampleTexts = (() => {
  const dirs = ['../examples/acme/', '../examples/invalid/'].map((d) => fileURLToPath(new URL(d, import.meta.url)));
  return dirs.flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(`${dir}${f}`, 'utf8')));
})();

describe('malformed input never throws', () => {
  it('random documents', () => {
    const r = seededPicker(1);
    for (let i = 0; i < 300; i += 1) {
      const docs = Array.from({ length: 1 + r.int(4) }, () => randomDocument(r));
      const text = docs.map((d) => stringify(d)).join('---\n');
      expect(() => validateText(text), `seed 1, case ${i}:\n${text.slice(0, 2000)}`).not.toThrow();
    }
  });

  it('random objects handed straight to the rules', () => {
    const r = seededPicker(2);
    for (let i = 0; i < 300; i += 1) {
      const objects = Array.from({ length: 1 + r.int(6) }, () => randomDocument(r)) as GatehouseObject[];
      expect(() => assertWellFormed(checkObjects(objects, { at: AT, profile })), `seed 2, case ${i}`).not.toThrow();
      const index = createObjectIndex(objects);
      for (const object of objects) {
        expect(() => checkObject(object, { at: AT, profile, index, operation: 'CREATE' })).not.toThrow();
        expect(() => checkDeletion(object, { at: AT, profile, index })).not.toThrow();
      }
    }
  });

  it('truncated and mangled example files', () => {
    const r = seededPicker(3);
    const junk = ['\t', ':', '- ', '"', "'", '{', '}', '[', ']', '&a ', '*a', '!!binary ', '%', '\n', '  ', '#', '|', '>', '?', '\u00ff', '\ufeff'];
    for (let i = 0; i < 400; i += 1) {
      let text = r.pick(exampleTexts);
      const mode = r.int(4);
      if (mode === 0) text = text.slice(0, r.int(text.length));
      else if (mode === 1) {
        for (let k = 1 + r.int(5); k > 0; k -= 1) {
          const at = r.int(text.length);
          text = text.slice(0, at) + r.pick(junk) + text.slice(at + r.int(3));
        }
      } else if (mode === 2) {
        const lines = text.split('\n');
        const at = r.int(lines.length);
        lines.splice(at, r.int(3), ...(r.next() < 0.5 ? [lines[r.int(lines.length)] ?? ''] : []));
        text = lines.join('\n');
      } else {
        text = text.replace(/^( +)/gm, (spaces) => (r.next() < 0.1 ? spaces.slice(1) : spaces));
      }
      expect(() => validateText(text), `seed 3, case ${i}:\n${text.slice(0, 2000)}`).not.toThrow();
    }
  });

  it('self-referencing anchors and alias bombs', () => {
    const texts = [
      'apiVersion: gatehouse.dev/v1alpha1\nkind: Member\nmetadata: &m {name: a, self: *m}\nspec: &s {workspaceRef: *s, email: *s, role: [*s]}\n',
      'apiVersion: gatehouse.dev/v1alpha1\nkind: Role\nmetadata: {name: a}\nspec:\n  permissions: &p [x, *p]\n',
      `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${'*a, '.repeat(10)}*a]\nc: &c [${'*b, '.repeat(10)}*b]\nd: [${'*c, '.repeat(10)}*c]\n`,
    ];
    for (const text of texts) expect(() => validateText(text)).not.toThrow();
  });

  describe('a wrong type in every field', () => {
    const valid: GatehouseObject[] = [
      aWorkspace({
        spec: {
          ipAllowlist: ['10.0.0.0/8'],
          sso: { enforced: false, saml: { idpEntityId: 'x', ssoUrl: 'https://idp.example/sso', signingCertificate: CERT_VALID_2025_TO_2035 } },
          admins: { min: 1, max: 1 },
          accessReview: { interval: '336h', inactivityThreshold: '720h' },
          maxTemporaryAccess: '720h',
        },
      }),
      anAdmin(),
      aRole(),
      aMember({ spec: { role: 'campaign-analyst', expiresAt: '2026-07-01T00:00:00Z', invitation: { resend: 1 }, loginType: 'Local', phone: '+4930123456' } }),
      aSupportGrant({ spec: { grantee: { type: 'Agents', agents: ['a@vendor.example'] }, scope: { type: 'Member', memberRef: { name: 'alice' } }, startsAt: '2026-06-02T00:00:00Z' } }),
    ];
    const WRONG: unknown[] = [null, 0, -1, 1.5, true, '', 'x', [], [1], {}, { a: {} }, '2026-02-30T00:00:00Z', 'a'.repeat(5000)];

    /** Every path to a value in an object, as lists of keys. */
    function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
      if (value === null || typeof value !== 'object') return [prefix];
      const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
      return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
    }
    function replaced(object: GatehouseObject, path: Array<string | number>, wrong: unknown): GatehouseObject {
      if (path.length === 0) return wrong as GatehouseObject;
      const copy = structuredClone(object) as unknown as Record<string | number, unknown>;
      let node = copy;
      for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
      node[path[path.length - 1] as string | number] = wrong;
      return copy as unknown as GatehouseObject;
    }

    it.each(valid.map((o) => [o.kind, o] as const))('%s', (_kind, object) => {
      expect(checkObjects(valid, { at: AT, profile })).toEqual([]);
      let runs = 0;
      for (const path of paths(object)) {
        for (const wrong of WRONG) {
          const broken = replaced(object, path, wrong);
          const objects = valid.map((o) => (o === object ? broken : o));
          const where = `${object.kind} ${path.join('.')} = ${JSON.stringify(wrong)?.slice(0, 40)}`;
          expect(() => assertWellFormed(checkObjects(objects, { at: AT, profile })), where).not.toThrow();
          const index = createObjectIndex(valid);
          expect(() => checkObject(broken, { at: AT, profile, index, operation: 'UPDATE', oldObject: object }), where).not.toThrow();
          expect(() => checkObject(object, { at: AT, profile, index: createObjectIndex(objects), operation: 'UPDATE', oldObject: broken }), where).not.toThrow();
          expect(() => checkDeletion(broken, { at: AT, profile, index }), where).not.toThrow();
          if (runs++ % 7 === 0) expect(() => validateText(objects.map((o) => stringify(o)).join('---\n')), where).not.toThrow();
        }
      }
      expect(runs).toBeGreaterThan(50);
    });
  });
});
