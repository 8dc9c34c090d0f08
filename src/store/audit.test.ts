import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../reconcile/canonical-json.js';
import { auditHashInput, GENESIS_HASH } from './audit.js';

describe('auditHashInput', () => {
  it.each([
    [{ kind: 'Member', namespace: 'acme', name: 'alice', uid: 'u-1', generation: 3, file: 'a.yaml' }],
    [{ kind: 'Member', name: 'alice' }],
    [undefined],
  ])('is the canonical JSON of the entry without its hash (object %j)', (object) => {
    const entry = {
      seq: 7,
      at: '2026-01-01T00:00:00.000Z',
      actor: 'cli:alice',
      action: 'member.update',
      ...(object !== undefined ? { object } : {}),
      workspaceId: 'acme',
      before: { role: 'viewer', z: [1, { b: 2, a: 1 }] },
      after: { role: 'editor' },
      reason: 'declaration changed (roleId) "quoted" é',
      prevHash: GENESIS_HASH,
    };
    const expected = canonicalJson({ ...entry, object: entry.object ?? null });
    expect(auditHashInput(entry)).toBe(expected);
    expect(auditHashInput(entry, canonicalJson(entry.before), canonicalJson(entry.after))).toBe(expected);
  });
});
