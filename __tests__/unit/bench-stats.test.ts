// The benchmark report's summaries (bench/stats-helper.ts): the figures BENCHMARKS.md quotes.
import { describe, it, expect } from '@jest/globals';
import { median, mmm, pct, table } from '../../bench/stats-helper.js';

describe('bench stats', () => {
  it('median of odd and even counts, unsorted input left as it was', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(pct(xs, 0.95)).toBe(19);
    expect(pct(xs, 1)).toBe(20);
    expect(pct(xs, 0)).toBe(1);
  });

  it('"median (min–max)", a single value when all are equal, a dash for none', () => {
    expect(mmm([3, 1, 2, 10], 1, ' s')).toBe('2.5 s (1.0 s–10.0 s)');
    expect(mmm([0, 0, 0])).toBe('0');
    expect(mmm([])).toBe('–');
  });

  it('markdown table with right-aligned figures by default', () => {
    expect(table(['a', 'b'], [[1, 'x']])).toBe('| a | b |\n|---|---:|\n| 1 | x |');
  });
});
