import { describe, expect, it } from 'vitest';
import { DurationFormatError, formatDuration, parseDuration, tryParseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['24h', 86_400_000],
    ['90m', 5_400_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['45s', 45_000],
    ['250ms', 250],
    ['168h', 604_800_000],
    ['0s', 0],
  ])('%s is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', '7d', '1w', 'h', '10', '1h 30m', '-1h', '1hh', 'abc'])('rejects %j', (input) => {
    expect(() => parseDuration(input)).toThrow(DurationFormatError);
    expect(tryParseDuration(input)).toBeUndefined();
  });

  it('names the bad input and the expected format', () => {
    expect(() => parseDuration('7d')).toThrow(/"7d" is not a duration; write it like 24h/);
  });
});

describe('formatDuration', () => {
  it.each([
    [604_800_000, '7d'],
    [129_600_000, '36h'],
    [5_400_000, '90m'],
    [45_000, '45s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
