import { describe, it, expect } from '@jest/globals';
import {
  binomialUpperTail,
  decideSuccess,
  evaluateStep,
  latencyCheck,
  percentile,
  splitCheck,
  sprtRates,
  StepState,
  VersionStats,
} from '../../src/verify/analysis.js';
import type { VerifySettings } from '../../src/lib/types.js';
import { prng, quantile, simulateStep } from '../../src/verify/simulation.js';

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

describe('operating characteristics (seeded simulation)', () => {
  it('a healthy 99.9% version is falsely failed in < 1% of steps (1500 responses each)', () => {
    for (const settings of [base, withMatch]) {
      const rnd = prng(1);
      let failed = 0;
      const runs = 500;
      for (let k = 0; k < runs; k++) {
        if (simulateStep(rnd, { settings, weight: 10, canaryErr: 0.001, stableErr: 0.001, n: 1500 }).failed)
          failed++;
      }
      expect(failed / runs).toBeLessThan(0.01);
    }
  });

  it('early false-fail of a version exactly at the threshold stays near alpha = 1%', () => {
    const rnd = prng(2);
    let early = 0;
    const runs = 2000;
    for (let k = 0; k < runs; k++) {
      const r = simulateStep(rnd, { settings: base, weight: 10, canaryErr: 0.01, stableErr: 0.01, n: 600 });
      if (r.early) early++;
    }
    // Ville bound 1%; 2000 runs -> sd 0.22%
    expect(early / runs).toBeLessThan(0.016);
  });

  it('a canary failing every request at weight 10 is caught quickly (with canary-match)', () => {
    const rnd = prng(3);
    const at: number[] = [];
    for (let k = 0; k < 2000; k++) {
      const r = simulateStep(rnd, { settings: withMatch, weight: 10, canaryErr: 1, stableErr: 0, n: 1500 });
      expect(r.early).toBe(true);
      at.push(r.at);
    }
    // 3 canary responses suffice; at 10% that is ~30 responses, 6 s at 5 rps.
    expect(quantile(at, 0.5)).toBeLessThanOrEqual(40);
    expect(quantile(at, 0.9)).toBeLessThanOrEqual(70);
    expect(quantile(at, 0.99)).toBeLessThanOrEqual(110);
  });

  it('the same canary is caught from the aggregate error rate without canary-match', () => {
    const rnd = prng(4);
    const at: number[] = [];
    for (let k = 0; k < 2000; k++) {
      const r = simulateStep(rnd, { settings: base, weight: 10, canaryErr: 1, stableErr: 0, n: 1500 });
      expect(r.early).toBe(true);
      at.push(r.at);
    }
    // ~37 responses expected (drift 0.124/response to ln 100): ~7.5 s at 5 rps.
    expect(quantile(at, 0.5)).toBeLessThanOrEqual(50);
    expect(quantile(at, 0.9)).toBeLessThanOrEqual(100);
    expect(quantile(at, 0.99)).toBeLessThanOrEqual(160);
  });

  it('a version at 97% (threshold 99%) is failed by the end of a 1500-response step', () => {
    const rnd = prng(5);
    let failed = 0;
    for (let k = 0; k < 200; k++) {
      if (simulateStep(rnd, { settings: base, weight: 50, canaryErr: 0.03, stableErr: 0.03, n: 1500 }).failed)
        failed++;
    }
    expect(failed / 200).toBeGreaterThan(0.99);
  });
});

describe('latencyCheck', () => {
  it('judges nothing below 20 samples', () => {
    const s = new VersionStats(100);
    for (let i = 0; i < 19; i++) s.add(true, 1000);
    expect(latencyCheck(s, 100).decision).toBe('continue');
    expect(latencyCheck(s, 100, { final: true }).decision).toBe('pass');
    s.add(true, 1000);
    expect(latencyCheck(s, 100).decision).toBe('fail');
  });

  it('fails early once more than 5% of the planned responses were slow', () => {
    const s = new VersionStats(100);
    for (let i = 0; i < 17; i++) s.add(true, 10);
    for (let i = 0; i < 3; i++) s.add(true, 500);
    // 3 slow of 20 seen: not conclusive by the SPRT alone...
    expect(latencyCheck(s, 100).decision).toBe('continue');
    expect(latencyCheck(s, 100, { planned: 60 }).decision).toBe('continue');
    // ...but with 40 planned responses p95 can no longer end at or below 100 ms
    expect(latencyCheck(s, 100, { planned: 40 }).decision).toBe('fail');
  });

  it('at the end compares the nearest-rank p95 with the maximum', () => {
    const s = new VersionStats(); // no slowMs: counted from the sorted samples
    for (let i = 0; i < 95; i++) s.add(true, 10);
    for (let i = 0; i < 5; i++) s.add(true, 500);
    expect(latencyCheck(s, 100, { final: true })).toMatchObject({ decision: 'pass', p95Ms: 10, slow: 5 });
    s.add(true, 500);
    s.add(true, 500);
    expect(latencyCheck(s, 100, { final: true })).toMatchObject({ decision: 'fail', p95Ms: 500 });
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

describe('evaluateStep', () => {
  function stateWith(
    rows: Array<[version: 'canary' | 'stable' | 'unknown', good: boolean, n: number]>,
  ): StepState {
    const st = new StepState();
    for (const [version, good, n] of rows)
      for (let i = 0; i < n; i++) st.add({ version, good, latencyMs: 5 });
    return st;
  }

  it('names the failing canary in one sentence', () => {
    const st = stateWith([
      ['stable', true, 40],
      ['canary', false, 3],
    ]);
    expect(evaluateStep(st, withMatch, 10, false)).toMatchObject({
      verdict: 'failed',
      reason: 'canary success rate 0.0% (0/3) is conclusively below 99%',
    });
  });

  it('reports the stable when the stable is the one failing', () => {
    const st = stateWith([
      ['canary', true, 10],
      ['stable', false, 3],
    ]);
    expect(evaluateStep(st, withMatch, 10, false).reason).toMatch(/^stable success rate 0\.0% \(0\/3\)/);
  });

  it('without canary-match judges all responses', () => {
    const st = stateWith([
      ['unknown', true, 36],
      ['unknown', false, 4],
    ]);
    expect(evaluateStep(st, base, 10, false).reason).toBe(
      'success rate of all responses 90.0% (36/40) is conclusively below 99%',
    );
  });

  it('with canary-match still catches unattributable failures (timeouts) via all responses', () => {
    const st = stateWith([
      ['stable', true, 36],
      ['unknown', false, 4],
    ]);
    expect(evaluateStep(st, withMatch, 10, false).reason).toMatch(/^success rate of all responses/);
  });

  it('continues, then passes with a summary at the end', () => {
    const st = stateWith([
      ['stable', true, 90],
      ['canary', true, 10],
    ]);
    expect(evaluateStep(st, withMatch, 10, false)).toMatchObject({ verdict: 'continue' });
    const end = evaluateStep(st, withMatch, 10, true);
    expect(end.verdict).toBe('passed');
    expect(end.reason).toMatch(/canary 100\.0% \(10\/10\), stable 100\.0% \(90\/90\) meets 99%/);
    expect(end.reason).toMatch(/canary share 10\.0% within/);
    expect(end.split?.judged).toBe(true);
  });

  it('judges the split early only from 100 responses on, at the end from 30', () => {
    const st = stateWith([['stable', true, 60]]); // weight 50 but no canary responses
    expect(evaluateStep(st, withMatch, 50, false).verdict).toBe('continue');
    expect(evaluateStep(st, withMatch, 50, true)).toMatchObject({
      verdict: 'failed',
      reason: expect.stringMatching(
        /^observed canary share 0\.0% \(0\/60\) is outside the expected .* for weight 50%$/,
      ),
    });
    const st2 = stateWith([['stable', true, 100]]);
    expect(evaluateStep(st2, withMatch, 50, false).verdict).toBe('failed');
  });

  it('applies the latency rule per version', () => {
    const st = new StepState({ maxLatencyMs: 100 });
    for (let i = 0; i < 100; i++) st.add({ version: 'stable', good: true, latencyMs: 10 });
    for (let i = 0; i < 20; i++) st.add({ version: 'canary', good: true, latencyMs: 400 });
    const ev = evaluateStep(st, { ...withMatch, maxLatencyMs: 100 }, 20, false);
    expect(ev.verdict).toBe('failed');
    expect(ev.reason).toMatch(/^canary p95 latency is conclusively above 100 ms: 20 of 20 responses slower$/);
  });
});

describe('evaluateStep pass reason', () => {
  it('mentions per-version p95 when max-latency is set', () => {
    const st = new StepState({ maxLatencyMs: 100 });
    for (let i = 0; i < 40; i++)
      st.add({ version: i % 4 === 0 ? 'canary' : 'stable', good: true, latencyMs: 12 });
    const ev = evaluateStep(st, { ...withMatch, maxLatencyMs: 100 }, 25, true);
    expect(ev.verdict).toBe('passed');
    expect(ev.reason).toBe(
      'success rate canary 100.0% (10/10), stable 100.0% (30/30) meets 99%; p95 canary 12 ms, stable 12 ms within 100 ms; ' +
        'canary share 25.0% within 0.0%–55.6% for weight 25%',
    );
  });
});
