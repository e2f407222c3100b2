import { describe, it, expect } from '@jest/globals';
import { parseDuration } from '../../src/lib/duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5m', 90_000],
    ['0.5s', 500],
    ['0', 0],
    ['0s', 0],
    [' 2m ', 120_000],
  ])('%s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', 'is empty'],
    ['30', 'has no unit'],
    ['1.5', 'has no unit'],
    ['-5s', 'is negative'],
    ['5x', 'is not a duration'],
    ['5 m', 'is not a duration'],
    ['m5', 'is not a duration'],
    ['1d', 'is not a duration'],
    ['5M', 'is not a duration'],
    ['1m30', 'is not a duration'],
  ])('rejects %j (%s)', (text, problem) => {
    expect(() => parseDuration(text)).toThrow(problem);
  });
});
