import { describe, it, expect } from '@jest/globals';
import {
  binomialUpperTail,
  decideSuccess,
  evaluateStep,
  percentile,
  splitCheck,
  sprtRates,
  StepState,
  VersionStats,
} from '../../src/verify/analysis.js';
import type { VerifySettings } from '../../src/lib/types.js';
import { prng } from '../../src/verify/simulation.js';

const base: VerifySettings = {
  url: 'http://gw',
  headers: {},
  statuses: [[200, 299]],
  rps: 5,
  timeoutMs: 2000,
  successRate: 0.99,
};
const withMatch: VerifySettings = {
  ...base,
  canaryMatch: { kind: 'header', name: 'x-version', value: 'canary' },
};

describe('percentile (nearest rank)', () => {
  it('returns an observed value at rank ceil(p/100*n)', () => {
    const xs = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(xs, 95)).toBe(19);
    expect(percentile(xs, 50)).toBe(10);
    expect(percentile(xs, 100)).toBe(20);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 95)).toBeUndefined();
  });

  it('accepts unsorted input without changing it', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(percentile(xs, 50)).toBe(3);
    expect(percentile(xs, 80)).toBe(4);
    expect(xs).toEqual([5, 1, 4, 2, 3]);
  });
});

describe('VersionStats', () => {
  it('accumulates counts and percentiles', () => {
    const s = new VersionStats(100);
    expect(s.figures()).toEqual({ requests: 0, good: 0, bad: 0 });
    for (let i = 1; i <= 200; i++) s.add(i % 50 !== 0, i);
    expect(s.figures()).toEqual({ requests: 200, good: 196, bad: 4, p50Ms: 100, p95Ms: 190 });
    expect(s.slow).toBe(100);
    expect(s.countAbove(100)).toBe(100);
    expect(s.countAbove(150)).toBe(50);
    s.add(true, 0.5); // unsorted again after an add
    expect(s.percentile(0)).toBe(0.5);
    expect(s.successRate).toBeCloseTo(197 / 201);
  });
});

describe('decideSuccess: early (sequential) rule', () => {
  it('uses H1 = 5x the allowed error rate, capped', () => {
    expect(sprtRates(0.99).e0).toBeCloseTo(0.01);
    expect(sprtRates(0.99).e1).toBeCloseTo(0.05);
    expect(sprtRates(0.5).e1).toBeCloseTo(0.75);
  });

  it('fails a version that fails every request after 3 responses at threshold 99%', () => {
    expect(decideSuccess(0, 1, 0.99)).toBe('continue');
    expect(decideSuccess(0, 2, 0.99)).toBe('continue');
    expect(decideSuccess(0, 3, 0.99)).toBe('fail');
    // at 95% (e0 5%, e1 25%) it takes 3 as well; at 90% (e1 50%) 3
    expect(decideSuccess(0, 3, 0.95)).toBe('fail');
    expect(decideSuccess(0, 5, 0.9)).toBe('fail');
  });

  it('never fails 1 transient error in 100 responses, wherever it falls', () => {
    for (let pos = 1; pos <= 100; pos++) {
      for (let n = 1; n <= 100; n++) {
        const bad = n >= pos ? 1 : 0;
        expect(decideSuccess(n - bad, n, 0.99)).not.toBe('fail');
      }
    }
    expect(decideSuccess(99, 100, 0.99, { final: true })).toBe('pass');
  });

  it('fails an aggregate error rate of 10% at threshold 99% within 50 responses', () => {
    let failedAt = 0;
    for (let n = 1; n <= 100 && !failedAt; n++) {
      const bad = Math.floor(n / 10); // every 10th response bad
      if (decideSuccess(n - bad, n, 0.99) === 'fail') failedAt = n;
    }
    expect(failedAt).toBe(40);
  });

  it('"pass" is only given at the end', () => {
    expect(decideSuccess(1000, 1000, 0.99)).toBe('continue');
    expect(decideSuccess(1000, 1000, 0.99, { final: true })).toBe('pass');
    expect(decideSuccess(0, 0, 0.99, { final: true })).toBe('pass');
  });

  it('handles degenerate thresholds', () => {
    expect(decideSuccess(99, 100, 1)).toBe('fail');
    expect(decideSuccess(100, 100, 1)).toBe('continue');
    expect(decideSuccess(0, 100, 0)).toBe('continue');
  });
});

describe('decideSuccess: end rule (exact binomial test at 95%)', () => {
  it('tolerates shortfalls explainable by chance and fails clear ones', () => {
    const f = (good: number, n: number) => decideSuccess(good, n, 0.99, { final: true });
    expect(f(14, 15)).toBe('pass'); // 1 bad of 15: P(>=1 | 1%) = 14%
    expect(f(13, 15)).toBe('fail'); // 2 bad of 15: P = 1%
    expect(f(97, 100)).toBe('pass');
    expect(f(96, 100)).toBe('fail');
    expect(f(1470, 1500)).toBe('fail'); // 98% over 1500
  });

  it('binomialUpperTail matches closed forms', () => {
    const n = 100;
    const p = 0.01;
    const p0 = (1 - p) ** n;
    const p1 = n * p * (1 - p) ** (n - 1);
    expect(binomialUpperTail(n, 2, p)).toBeCloseTo(1 - p0 - p1, 12);
    expect(binomialUpperTail(n, 0, p)).toBe(1);
    expect(binomialUpperTail(n, 101, p)).toBe(0);
    expect(binomialUpperTail(10, 10, 0.5)).toBeCloseTo(1 / 1024, 15);
    // large n: no underflow
    expect(binomialUpperTail(100000, 1100, 0.01)).toBeGreaterThan(0.0005);
    expect(binomialUpperTail(100000, 1100, 0.01)).toBeLessThan(0.002);
  });
});

describe('splitCheck', () => {
  it('fails a gateway that ignores the weights and passes an honest split', () => {
    expect(splitCheck(0, 100, 0.5)).toMatchObject({ ok: false, judged: true, observed: 0 });
    const honest = splitCheck(50, 100, 0.5);
    expect(honest).toMatchObject({ ok: true, judged: true, observed: 0.5 });
    expect(honest.low).toBeCloseTo(0.275);
    expect(honest.high).toBeCloseTo(0.725);
    expect(splitCheck(100, 100, 0.5).ok).toBe(false);
  });

  it('does not judge below 30 responses', () => {
    expect(splitCheck(0, 29, 0.5)).toMatchObject({ ok: true, judged: false });
    expect(splitCheck(0, 30, 0.5)).toMatchObject({ ok: false, judged: true });
  });

  it('tolerates a stray response at weight 100 and 1, not many', () => {
    expect(splitCheck(99, 100, 1).ok).toBe(true);
    expect(splitCheck(90, 100, 1).ok).toBe(false);
    expect(splitCheck(2, 100, 0.01).ok).toBe(true);
    expect(splitCheck(20, 100, 0.01).ok).toBe(false);
  });

  it('honest weighted routing is (practically) never flagged, even judged after every response', () => {
    const rnd = prng(6);
    let flagged = 0;
    for (let k = 0; k < 300; k++) {
      for (const w of [10, 50]) {
        let c = 0;
        for (let n = 1; n <= 1000; n++) {
          if (rnd() < w / 100) c++;
          if (!splitCheck(c, n, w / 100).ok) {
            flagged++;
            break;
          }
        }
      }
    }
    expect(flagged / 600).toBeLessThan(0.01);
  });
});

describe('evaluateStep: which stream a failure is blamed on', () => {
  function stateWith(
    rows: Array<[version: 'pinned' | 'canary' | 'stable' | 'unknown', good: boolean, n: number]>,
  ): StepState {
    const st = new StepState();
    for (const [version, good, n] of rows)
      for (let i = 0; i < n; i++) st.add({ version, good, latencyMs: 5 });
    return st;
  }

  it('names the failing canary in one sentence', () => {
    const st = stateWith([
      ['stable', true, 40],
      ['pinned', false, 3],
    ]);
    expect(evaluateStep(st, withMatch, 10, 'running')).toMatchObject({
      verdict: 'failed',
      reason: 'canary success rate 0.0% (0/3) (pinned probes) is conclusively below 99%',
    });
  });

  it('names the stable when the stable is the one failing', () => {
    const st = stateWith([
      ['pinned', true, 10],
      ['stable', false, 3],
    ]);
    expect(evaluateStep(st, withMatch, 10, 'running').reason).toMatch(/^stable success rate 0\.0% \(0\/3\)/);
  });

  it("without canary-match judges every unpinned response as the users' path", () => {
    const st = stateWith([
      ['pinned', true, 40],
      ['unknown', true, 36],
      ['unknown', false, 4],
    ]);
    expect(evaluateStep(st, base, 10, 'running').reason).toBe(
      "success rate of the users' path 90.0% (36/40; 4 of the failures without a version) is conclusively below 99%",
    );
  });
});
