import { describe, expect, it } from 'vitest';
import { findCondition, isConditionTrue, setCondition } from './conditions.js';

const t0 = new Date('2026-03-01T10:00:00Z');
const t1 = new Date('2026-03-01T11:00:00Z');

describe('setCondition', () => {
  it('adds a condition stamped with the transition time', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', observedGeneration: 3 }, t0);
    expect(list).toEqual([
      { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', observedGeneration: 3, lastTransitionTime: t0.toISOString() },
    ]);
  });

  it('keeps lastTransitionTime when only reason or message change', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t0);
    const second = setCondition(first, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, t1);
    expect(second[0]?.lastTransitionTime).toBe(t0.toISOString());
    expect(second[0]?.reason).toBe('B');
  });

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t0);
    const second = setCondition(first, { type: 'Ready', status: 'True', reason: 'A', message: 'a' }, t1);
    expect(second[0]?.lastTransitionTime).toBe(t1.toISOString());
  });

  it('replaces by type and leaves other conditions and the input list alone', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'A', message: '' }, t0);
    const withSynced = setCondition(first, { type: 'Synced', status: 'True', reason: 'A', message: '' }, t0);
    const updated = setCondition(withSynced, { type: 'Ready', status: 'False', reason: 'B', message: '' }, t1);
    expect(updated.map((c) => c.type)).toEqual(['Ready', 'Synced']);
    expect(withSynced[0]?.status).toBe('True');
    expect(isConditionTrue(updated, 'Ready')).toBe(false);
    expect(isConditionTrue(updated, 'Synced')).toBe(true);
    expect(findCondition(updated, 'Missing')).toBeUndefined();
  });
});
