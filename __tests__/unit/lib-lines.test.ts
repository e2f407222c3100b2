import { describe, it, expect } from '@jest/globals';
import { splitLines, splitList } from '../../src/lib/lines.js';

describe('splitLines', () => {
  it('trims, drops blank lines, keeps commas', () => {
    expect(splitLines('  a=1,2 \r\n\n b \n   \n')).toEqual(['a=1,2', 'b']);
    expect(splitLines('')).toEqual([]);
    expect(splitLines(undefined)).toEqual([]);
  });
});

describe('splitList', () => {
  it('splits on commas and newlines, keeping empty items', () => {
    expect(splitList('10, 20\n30')).toEqual(['10', '20', '30']);
    expect(splitList('10,,30')).toEqual(['10', '', '30']);
    expect(splitList('   ')).toEqual([]);
  });
});
