import { describe, it, expect } from '@jest/globals';
import { parseStatusRanges, statusAccepted } from '../../src/lib/statuses.js';

describe('parseStatusRanges', () => {
  it('parses codes, ranges and classes', () => {
    expect(parseStatusRanges('200-399')).toEqual([[200, 399]]);
    expect(parseStatusRanges('200, 204,300 - 399')).toEqual([
      [200, 200],
      [204, 204],
      [300, 399],
    ]);
    expect(parseStatusRanges('2xx,304')).toEqual([
      [200, 299],
      [304, 304],
    ]);
  });

  it.each([
    ['', 'is empty'],
    ['200,,300', 'has an empty item'],
    ['99', 'has "99" which is not a status code'],
    ['600', 'has 600 which is outside 100-599'],
    ['200-700', 'has 700 which is outside 100-599'],
    ['399-200', 'whose low end is above its high end'],
    ['ok', 'has "ok" which is not a status code'],
    ['200-', 'has "200-" which is not a status code'],
    ['6xx', 'has "6xx" which is not a status code'],
  ])('rejects %j', (text, problem) => {
    expect(() => parseStatusRanges(text)).toThrow(problem);
  });
});

describe('statusAccepted', () => {
  const ranges = parseStatusRanges('200,204,300-399');
  it.each([
    [200, true],
    [204, true],
    [300, true],
    [399, true],
    [201, false],
    [400, false],
    [503, false],
  ])('%d -> %s', (code, ok) => {
    expect(statusAccepted(code, ranges)).toBe(ok);
  });
});
