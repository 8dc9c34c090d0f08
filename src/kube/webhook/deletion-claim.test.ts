import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { aMember, aRole } from '../../rules/testing/builders.js';
import type { DeletionClaim } from '../../store/deletion-claims.js';
import { ManualClock } from '../../util/clock.js';
import { createLogger } from '../../util/log.js';
import { parseAdmissionReview, type AdmissionRequest } from './admission.js';
import { deletionClaimOf, recordDeletionClaimBounded, type DeletionClaimRecorder } from './deletion-claim.js';
import { anAdmissionReview, type ReviewFixture } from './testing.js';

const AT = new Date('2026-06-01T12:00:00.000Z');
const ALLOWED = { uid: 'r', allowed: true };
const DENIED = { uid: 'r', allowed: false };
const withUid = <T extends { metadata: object }>(object: T, extra: Record<string, unknown> = {}): T => ({ ...object, metadata: { ...object.metadata, uid: 'uid-1', ...extra } });

function request(fixture: Partial<ReviewFixture> = {}): AdmissionRequest {
  return parseAdmissionReview(anAdmissionReview({ operation: 'DELETE', object: withUid(aMember({ name: 'alice' })), now: AT, ...fixture }));
}

describe('deletionClaimOf', () => {
  it('claims an admitted DELETE for the requesting user, by uid', () => {
    expect(deletionClaimOf(request(), ALLOWED, AT)).toEqual({
      uid: 'uid-1',
      kind: 'Member',
      namespace: 'acme',
      name: 'alice',
      user: 'jane@acme.example',
      at: AT,
    });
    expect(deletionClaimOf(request({ object: withUid(aRole()) }), ALLOWED, AT)?.kind).toBe('Role');
  });

  const none: Array<[string, AdmissionRequest, typeof ALLOWED]> = [
    ['a refused DELETE', request(), DENIED],
    ['a server-side dry run', request({ dryRun: true }), ALLOWED],
    ['a CREATE', request({ operation: 'CREATE' }), ALLOWED],
    ['an UPDATE', request({ operation: 'UPDATE', oldObject: withUid(aMember({ name: 'alice' })) }), ALLOWED],
    ['a DELETE of an object already being deleted', request({ object: withUid(aMember({ name: 'alice' }), { deletionTimestamp: '2026-06-01T11:00:00Z' }) }), ALLOWED],
    ['an object without a uid', request({ object: aMember({ name: 'alice' }) }), ALLOWED],
    ['an anonymous request', request({ user: {} }), ALLOWED],
    ['a subresource', request({ subResource: 'status' }), ALLOWED],
    ['another API group', { ...request(), kind: { group: 'apps', version: 'v1', kind: 'Member' } }, ALLOWED],
  ];
  it.each(none)('claims nothing for %s', (_name, req, response) => {
    expect(deletionClaimOf(req, response, AT)).toBeUndefined();
  });
});

describe('recordDeletionClaimBounded', () => {
  const claim: DeletionClaim = { uid: 'uid-1', kind: 'Member', namespace: 'acme', name: 'alice', user: 'jane@acme.example', at: AT };
  function capture() {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return { lines, logger: createLogger({ level: 'debug', destination }) };
  }

  it('records the claim', async () => {
    const seen: DeletionClaim[] = [];
    const { logger } = capture();
    const outcome = await recordDeletionClaimBounded({ record: async (c) => void seen.push(c) }, claim, { clock: new ManualClock(AT), logger });
    expect(outcome).toBe('recorded');
    expect(seen).toEqual([claim]);
  });

  it('a store that fails is logged by object, never by user, and does not throw', async () => {
    const { lines, logger } = capture();
    const recorder: DeletionClaimRecorder = { record: () => Promise.reject(new Error('connection refused')) };
    expect(await recordDeletionClaimBounded(recorder, claim, { clock: new ManualClock(AT), logger })).toBe('failed');
    const text = lines.join('');
    expect(text).toContain('deletion claim not recorded');
    expect(text).toContain('connection refused');
    expect(text).toContain('alice');
    expect(text).not.toContain('jane@acme.example');
  });

  it('a store that hangs is given up on once the timeout passes on the clock', async () => {
    const clock = new ManualClock(AT);
    const { lines, logger } = capture();
    const pending = recordDeletionClaimBounded({ record: () => new Promise<void>(() => {}) }, claim, { clock, logger, timeoutMs: 1_000 });
    let settled = false;
    void pending.then(() => (settled = true));
    clock.advance(999);
    await Promise.resolve();
    expect(settled).toBe(false);
    clock.advance(1);
    expect(await pending).toBe('timed-out');
    expect(lines.join('')).toContain('not recorded in time');
  });
});
