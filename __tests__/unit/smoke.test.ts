import { describe, it, expect } from '@jest/globals';
describe('smoke', () => { it('adds', () => { expect(1 + 1).toBe(2); }); });
