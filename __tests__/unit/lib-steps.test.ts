import { describe, it, expect } from '@jest/globals';
import { parseSteps } from '../../src/lib/steps.js';

describe('parseSteps', () => {
  it('uses the default bake time', () => {
    expect(parseSteps('10,25,50,100', 60_000)).toEqual([
      { weight: 10, bakeMs: 60_000 },
      { weight: 25, bakeMs: 60_000 },
      { weight: 50, bakeMs: 60_000 },
      { weight: 100, bakeMs: 60_000 },
    ]);
  });

  it('takes per-step bake times', () => {
    expect(parseSteps('10@2m, 50@5m ,100', 1000)).toEqual([
      { weight: 10, bakeMs: 120_000 },
      { weight: 50, bakeMs: 300_000 },
      { weight: 100, bakeMs: 1000 },
    ]);
  });

  it('accepts a single step, % signs, newlines and zero bake', () => {
    expect(parseSteps('100', 5)).toEqual([{ weight: 100, bakeMs: 5 }]);
    expect(parseSteps('20%\n100%@0', 5)).toEqual([
      { weight: 20, bakeMs: 5 },
      { weight: 100, bakeMs: 0 },
    ]);
  });

  it.each([
    ['', 'is empty'],
    ['10,5,100', 'is not strictly ascending (5 after 10)'],
    ['10,10,100', 'is not strictly ascending (10 after 10)'],
    ['10,50', 'ends at 50, not 100'],
    ['0,100', 'has 0 which is outside 1-100'],
    ['10,101', 'has 101 which is outside 1-100'],
    ['12.5,100', 'has 12.5 which is not a whole percentage'],
    ['ten,100', 'has "ten" which is not a percentage'],
    ['-10,100', 'has "-10" which is not a percentage'],
    ['10,,100', 'has an empty item'],
    ['10@2x,100', 'has bake time "2x" in "10@2x" which is not a duration'],
    ['10@30,100', 'has bake time "30" in "10@30" which has no unit'],
  ])('rejects %j', (text, problem) => {
    expect(() => parseSteps(text, 1000)).toThrow(problem);
  });
});
