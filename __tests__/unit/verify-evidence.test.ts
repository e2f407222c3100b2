// The evidence rule of a step (evaluateStep with a phase): observations carry their source, a step
// passes only on sufficient canary evidence, and the error rates hold over the documented grid.
import { describe, it, expect } from '@jest/globals';
import {
  decideCanary,
  designFor,
  evaluateStep,
  finalCutoff,
  latencyEvidence,
  pinnedShare,
  StepState,
  VersionStats,
  type Observation,
  type StepPhase,
} from '../../src/verify/analysis.js';
import type { VerifySettings } from '../../src/lib/types.js';
import { prng, simulateEvidenceStep, type EvidenceStep } from '../../src/verify/simulation.js';

const plain: VerifySettings = {
  url: 'http://gw',
  headers: {},
  statuses: [[200, 299]],
  rps: 5,
  timeoutMs: 2000,
  successRate: 0.99,
};
const withMatch: VerifySettings = {
  ...plain,
  canaryMatch: { kind: 'header', name: 'x-version', value: 'canary' },
};

type Row = [version: Observation['version'], good: boolean, n: number, latencyMs?: number];

function stateWith(rows: Row[], opts: { maxLatencyMs?: number } = {}): StepState {
  const st = new StepState(opts);
  for (const [version, good, n, latencyMs] of rows)
    for (let i = 0; i < n; i++) st.add({ version, good, latencyMs: latencyMs ?? 5 });
  return st;
}

describe('designFor: the two hypotheses and what it takes to tell them apart', () => {
  it('puts H0 0.5 points above the threshold (halfway to 100% above 99.5%) and H1 5 points below', () => {
    const cases: Array<[number, number, number]> = [
      [0.99, 0.995, 0.94],
      [0.95, 0.955, 0.9],
      [0.999, 0.9995, 0.949],
      [1, 1, 0.95],
    ];
    for (const [t, good, worse] of cases) {
      expect(1 - designFor(t).e0).toBeCloseTo(good, 10);
      expect(1 - designFor(t).e1).toBeCloseTo(worse, 10);
    }
  });

  it('knows from how many responses the max-bake binomial test decides within 0.5% / 4%', () => {
    const d = designFor(0.99);
    expect(d.needed).toBe(156);
    // Discreteness: decisive at 133-135 (at most 3 failures), not at 136-155, then for good.
    expect(finalCutoff(d, 134)).toEqual({ maxFailures: 3, decisive: true });
    expect(finalCutoff(d, 140)).toEqual({ maxFailures: 4, decisive: false });
    expect(finalCutoff(d, 156)).toEqual({ maxFailures: 4, decisive: true });
    for (let n = 156; n <= 600; n++) expect(finalCutoff(d, n).decisive).toBe(true);
    expect(designFor(1).needed).toBe(63); // 0.95^63 <= 4%: 63 successes in a row rule out 95%
    expect(designFor(0.95).needed).toBeGreaterThan(designFor(0.99).needed); // 95.5 vs 90 is harder
  });
});

describe('decideCanary', () => {
  it('never passes while running; passes from the bake end once the LLR reaches the pass boundary', () => {
    expect(decideCanary(1000, 1000, 0.99, 'running').decision).toBe('continue');
    // ln(0.01) / ln(0.94/0.995) = 80.9: 81 successes in a row
    expect(decideCanary(80, 80, 0.99, 'bake-end').decision).toBe('inconclusive');
    expect(decideCanary(81, 81, 0.99, 'bake-end')).toMatchObject({ decision: 'pass', kind: 'sequential' });
    // each failure costs ~44 more successes
    expect(decideCanary(124, 125, 0.99, 'bake-end').decision).toBe('inconclusive');
    expect(decideCanary(125, 126, 0.99, 'bake-end').decision).toBe('pass');
  });

  it('at max-bake lets the binomial test decide when the canary has enough responses, else fails', () => {
    expect(decideCanary(156, 160, 0.99, 'max-bake')).toMatchObject({
      decision: 'pass',
      kind: 'final',
      maxFailures: 4,
    });
    expect(decideCanary(155, 160, 0.99, 'max-bake')).toMatchObject({ decision: 'fail', kind: 'final' });
    expect(decideCanary(119, 120, 0.99, 'max-bake')).toMatchObject({
      decision: 'fail',
      kind: 'insufficient',
    });
    expect(decideCanary(119, 120, 0.99, 'bake-end').decision).toBe('inconclusive');
  });

  it('catches a canary failing every request within 5 responses at any usual threshold', () => {
    const firstFail = (t: number): number => {
      for (let n = 1; n <= 50; n++) if (decideCanary(0, n, t, 'running').decision === 'fail') return n;
      return Infinity;
    };
    expect(firstFail(0.99)).toBe(2);
    expect(firstFail(0.999)).toBe(2);
    expect(firstFail(0.95)).toBe(3);
    expect(firstFail(0.9)).toBe(5);
    expect(firstFail(1)).toBe(1);
  });

  it('does not fail one transient failure in a healthy canary, wherever it falls', () => {
    for (let pos = 1; pos <= 300; pos++)
      for (const n of [pos, pos + 1, pos + 50, 300])
        expect(decideCanary(n - 1, n, 0.99, 'running').decision).not.toBe('fail');
  });

  it('at threshold 100 any failure fails and 90 successes in a row pass', () => {
    expect(decideCanary(999, 1000, 1, 'running')).toMatchObject({ decision: 'fail' });
    expect(decideCanary(89, 89, 1, 'bake-end').decision).toBe('inconclusive');
    expect(decideCanary(90, 90, 1, 'bake-end').decision).toBe('pass');
    expect(decideCanary(63, 63, 1, 'max-bake')).toMatchObject({ decision: 'pass', kind: 'final' });
    expect(decideCanary(62, 62, 1, 'max-bake')).toMatchObject({ decision: 'fail', kind: 'insufficient' });
  });
});

describe('StepState: observations carry their source', () => {
  it("counts pinned + attributed canary as canary evidence, unpinned ones as the users' path", () => {
    const st = stateWith([
      ['pinned', true, 10],
      ['pinned', false, 1],
      ['canary', true, 4],
      ['stable', true, 30],
      ['stable', false, 1],
      ['unknown', false, 2],
      ['unknown', true, 3],
    ]);
    expect(st.canary.figures()).toMatchObject({ requests: 15, bad: 1 });
    expect(st.pinned.requests).toBe(11);
    expect(st.attributedCanary.requests).toBe(4);
    expect(st.stable.figures()).toMatchObject({ requests: 31, bad: 1 }); // no unattributed response
    expect(st.users.figures()).toMatchObject({ requests: 40, bad: 3 }); // every unpinned one
    expect(st.unattributed.figures()).toMatchObject({ requests: 5, bad: 2 });
    expect(st.total.requests).toBe(51);
  });

  it('keeps a pinned response answered by the stable out of the canary evidence', () => {
    const st = new StepState();
    st.add({ version: 'pinned', marker: 'stable', good: true, latencyMs: 5 });
    st.add({ version: 'pinned', marker: 'canary', good: true, latencyMs: 5 });
    st.add({ version: 'pinned', marker: 'unknown', good: false, latencyMs: 5 }); // e.g. a 503: canary's
    expect(st.misrouted).toBe(1);
    expect(st.canary.figures()).toMatchObject({ requests: 2, bad: 1 });
    expect(st.users.requests).toBe(0);
  });
});

describe('evaluateStep with phases', () => {
  it("never blames the stable for unattributed failures: the users' path carries them", () => {
    const st = stateWith([
      ['pinned', true, 200],
      ['stable', true, 100],
      ['unknown', false, 10],
    ]);
    const ev = evaluateStep(st, withMatch, 10, 'running');
    expect(ev.verdict).toBe('failed');
    expect(ev.reason).toBe(
      "success rate of the users' path 90.9% (100/110; 10 of the failures without a version) is conclusively below 99%",
    );
    expect(ev.evidence?.stable).toMatchObject({ responses: 100, failures: 0, decision: 'continue' });
    expect(ev.evidence?.users).toMatchObject({
      unattributed: 10,
      unattributedFailures: 10,
      decision: 'fail',
    });
  });

  it('never credits the stable with unattributed successes either', () => {
    const rows: Row[] = [
      ['pinned', true, 200],
      ['stable', true, 3],
      ['stable', false, 2],
      ['unknown', true, 500],
    ];
    const ev = evaluateStep(stateWith(rows), withMatch, 10, 'bake-end');
    // 2 failures of 5 stable responses: P(>= 2 | 99%) = 0.1%; credited with the 500 it would be 2 of 505
    expect(ev).toMatchObject({
      verdict: 'failed',
      reason: 'stable success rate 60.0% (3/5) is below 99% (99% confidence)',
    });
    expect(ev.evidence?.users).toMatchObject({ responses: 505, failures: 2, decision: 'pass' });
  });

  it('leaves attributed canary responses out of the evidence once unattributed failures appear', () => {
    const rows: Row[] = [
      ['pinned', true, 60],
      ['canary', true, 40],
      ['stable', true, 300],
    ];
    const clean = evaluateStep(stateWith(rows), withMatch, 10, 'bake-end');
    expect(clean.verdict).toBe('passed');
    expect(clean.evidence?.canary).toMatchObject({ responses: 100, attributedUsed: true });
    // The same, plus one unattributed failure: maybe a canary failure without the marker, so the
    // 40 attributed canary successes may be its survivors. 60 pinned alone are not enough yet.
    const suspect = evaluateStep(stateWith([...rows, ['unknown', false, 1]]), withMatch, 10, 'bake-end');
    expect(suspect.evidence?.canary).toMatchObject({
      responses: 60,
      pinned: 60,
      attributed: 40,
      attributedUsed: false,
    });
    expect(suspect.verdict).toBe('extend');
    expect(suspect.reason).toMatch(
      /^canary: 60 responses \(pinned only: unattributed failures on the users' path\)/,
    );
  });

  it('inconclusive evidence extends the bake, then fails naming what is missing and what to raise', () => {
    const st = stateWith([
      ['pinned', true, 40],
      ['pinned', false, 1],
      ['stable', true, 40],
    ]);
    expect(evaluateStep(st, withMatch, 10, 'running').verdict).toBe('continue');
    expect(evaluateStep(st, withMatch, 10, 'bake-end')).toMatchObject({
      verdict: 'extend',
      reason:
        'canary: 41 responses, 1 failure — not enough yet to tell 99.5% from 94% (needs about 156); extending the bake',
    });
    const last = evaluateStep(st, withMatch, 10, 'max-bake');
    expect(last.verdict).toBe('failed');
    expect(last.reason).toBe(
      'canary: 41 responses, 1 failure — not enough to tell 99.5% from 94% (needs about 156); ' +
        'raise verify-rps or the bake time (interval, or the step\'s "weight@time")',
    );
    expect(last.evidence?.canary).toMatchObject({
      responses: 41,
      failures: 1,
      decision: 'fail',
      kind: 'insufficient',
    });
    // More failures: more responses are needed before they can be told from 94%.
    const worse = stateWith([
      ['pinned', true, 135],
      ['pinned', false, 5],
    ]);
    expect(evaluateStep(worse, plain, 10, 'max-bake').reason).toMatch(
      /5 failures — not enough .*needs about 2\d\d\); .*or set canary-match$/,
    );
  });

  it('passes on sufficient evidence with a summary of every stream', () => {
    const st = stateWith([
      ['pinned', true, 100],
      ['canary', true, 10],
      ['stable', true, 90],
    ]);
    const ev = evaluateStep(st, withMatch, 10, 'bake-end');
    expect(ev.verdict).toBe('passed');
    expect(ev.reason).toBe(
      "canary 100.0% (110/110, 100 pinned): evidence for 99.5% over 94% (sequential test); users' path 100.0% (100/100), " +
        'stable 100.0% (90/90) meet 99%; canary share 10.0% within 0.0%–24.5% for weight 10%',
    );
    expect(ev.evidence?.canary.llr).toBeLessThanOrEqual(ev.evidence!.canary.passAt);
  });

  it('catches a canary failing every request within 5 pinned responses, at any weight', () => {
    for (const t of [0.9, 0.95, 0.99, 0.999, 1]) {
      const st = new StepState();
      for (let i = 0; i < 50; i++) st.add({ version: 'stable', good: true, latencyMs: 5 });
      let n = 0;
      while (
        evaluateStep(st, { ...withMatch, successRate: t }, 1, 'running').verdict !== 'failed' &&
        n < 20
      ) {
        st.add({ version: 'pinned', good: false, latencyMs: 5 });
        n++;
      }
      expect(n).toBeLessThanOrEqual(5);
      expect(evaluateStep(st, { ...withMatch, successRate: t }, 1, 'running').reason).toMatch(
        /^canary success rate 0\.0%/,
      );
    }
  });

  it("at threshold 100 fails on one failure, pinned or on the users' path", () => {
    const s100 = { ...withMatch, successRate: 1 };
    const pinnedFail = stateWith([
      ['pinned', true, 500],
      ['pinned', false, 1],
    ]);
    expect(evaluateStep(pinnedFail, s100, 10, 'running').reason).toBe(
      'canary success rate 99.8% (500/501): success-rate 100% allows no failure',
    );
    const usersFail = stateWith([
      ['pinned', true, 500],
      ['unknown', false, 1],
    ]);
    expect(evaluateStep(usersFail, s100, 10, 'running').reason).toMatch(/^success rate of the users' path/);
    expect(evaluateStep(stateWith([['pinned', true, 90]]), s100, 10, 'bake-end').verdict).toBe('passed');
  });

  it('fails the split with "the gateway does not apply the weights", on unpinned responses only', () => {
    // 200 pinned responses would make the canary share 52% if they were counted.
    const honest = stateWith([
      ['pinned', true, 200],
      ['canary', true, 20],
      ['stable', true, 180],
    ]);
    expect(evaluateStep(honest, withMatch, 10, 'bake-end').split).toMatchObject({ ok: true, observed: 0.1 });
    const ignored = stateWith([
      ['pinned', true, 200],
      ['stable', true, 120],
    ]);
    expect(evaluateStep(ignored, withMatch, 50, 'running')).toMatchObject({
      verdict: 'failed',
      reason:
        'the gateway does not apply the weights: canary share 0.0% (0/120 attributed unpinned responses) ' +
        'is outside the expected 29.3%–70.7% for weight 50%',
    });
    // Early only from 100 attributed responses on: the first seconds may still follow the old weights.
    const young = stateWith([
      ['pinned', true, 200],
      ['stable', true, 60],
    ]);
    expect(evaluateStep(young, withMatch, 50, 'running').verdict).toBe('continue');
    expect(evaluateStep(young, withMatch, 50, 'bake-end').reason).toMatch(
      /^the gateway does not apply the weights/,
    );
  });

  it('fails when the pinned probes reach the stable', () => {
    const st = new StepState();
    for (let i = 0; i < 100; i++)
      st.add({ version: 'pinned', marker: i % 3 === 0 ? 'stable' : 'canary', good: true, latencyMs: 5 });
    expect(evaluateStep(st, withMatch, 10, 'running').reason).toBe(
      'pinned probes do not reach the canary: 34 of 100 were answered by the stable',
    );
  });
});

describe('latency as evidence', () => {
  const slowOf = (slow: number, n: number): VersionStats => {
    const s = new VersionStats(100);
    for (let i = 0; i < n; i++) s.add(true, i < slow ? 500 : 10);
    return s;
  };

  it('does not judge a p95 from a few responses, even when they are all slow', () => {
    expect(latencyEvidence(slowOf(3, 3), 100, 'bake-end')).toMatchObject({
      decision: 'pass',
      judged: false,
      p95Ms: 500,
    });
    expect(latencyEvidence(slowOf(19, 19), 100, 'running')).toMatchObject({
      decision: 'continue',
      judged: false,
    });
    expect(latencyEvidence(slowOf(20, 20), 100, 'running')).toMatchObject({
      decision: 'fail',
      kind: 'sequential',
    });
  });

  it('tests the count of slow responses against 5%, not the observed p95', () => {
    // 2 slow of 20: the nearest-rank p95 is 500 ms, but 5% slow gives 2 or more in 26% of samples.
    expect(latencyEvidence(slowOf(2, 20), 100, 'bake-end')).toMatchObject({ decision: 'pass', p95Ms: 500 });
    expect(latencyEvidence(slowOf(4, 20), 100, 'bake-end').decision).toBe('pass'); // p 1.6%
    expect(latencyEvidence(slowOf(5, 20), 100, 'bake-end')).toMatchObject({
      decision: 'fail',
      kind: 'final',
    }); // p 0.3%
    expect(latencyEvidence(slowOf(11, 100), 100, 'bake-end').decision).toBe('pass');
    expect(latencyEvidence(slowOf(12, 100), 100, 'bake-end').decision).toBe('fail');
    expect(latencyEvidence(slowOf(12, 100), 100, 'running').decision).toBe('continue'); // binomial from bake end
  });

  it('judges it per version and says when an observed p95 over max was not conclusive', () => {
    const s = { ...withMatch, maxLatencyMs: 100 };
    const rows: Row[] = [
      ['pinned', true, 95, 10],
      ['pinned', true, 5, 500],
      ['stable', true, 100, 10],
      ['canary', true, 11, 10],
    ];
    const ok = evaluateStep(stateWith(rows, { maxLatencyMs: 100 }), s, 10, 'bake-end');
    expect(ok.verdict).toBe('passed');
    expect(ok.reason).toMatch(/; p95 canary 10 ms, stable 10 ms within 100 ms;/);
    const slow = stateWith([...rows, ['pinned', true, 10, 500]], { maxLatencyMs: 100 });
    expect(evaluateStep(slow, s, 10, 'bake-end').reason).toBe(
      'canary p95 latency 500 ms exceeds 100 ms: 15 of 121 responses slower (more than 5% with 99% confidence)',
    );
    const few = stateWith(
      [
        ['pinned', true, 100, 10],
        ['stable', true, 3, 500],
        ['canary', true, 10, 10],
      ],
      { maxLatencyMs: 100 },
    );
    const fewEv = evaluateStep(few, s, 10, 'bake-end');
    expect(fewEv.verdict).toBe('passed');
    expect(fewEv.reason).toMatch(/stable 500 ms \(3 of 3 slower: not conclusive\) within 100 ms/);
  });
});

describe('pinnedShare', () => {
  it('pins half the probes unless the rate is too low for the canary evidence to arrive by max-bake', () => {
    const at = (rps: number, weight: number) =>
      pinnedShare({ rps, weight, maxBakeMs: 180000, successRate: 0.99 });
    expect(at(5, 10)).toBe(0.5);
    expect(at(2, 1)).toBe(0.5); // 1.1 x 156 = 172 <= 2 x 180 x 50.5%
    expect(at(1, 1)).toBe(0.9); // would need 95%: capped, the users' path keeps 10%
    expect(at(1.5, 10)).toBeGreaterThan(0.5);
    expect(at(1.5, 10)).toBeLessThan(0.9);
  });
});

// Operating characteristics at the defaults: success-rate 99%, bake 60 s, max-bake 180 s, canary-match,
// stable at 99.9%, pinned share from pinnedShare(). A subsample of bench/evidence-bench.ts (full grid).
describe('operating characteristics (seeded simulation of the first step)', () => {
  const step = (rps: number, weight: number, canarySuccess: number): EvidenceStep => ({
    settings: { ...withMatch, rps },
    weight,
    bakeS: 60,
    canarySuccess,
  });
  const simulate = (seed: number, runs: number, o: EvidenceStep) => {
    const rnd = prng(seed);
    const failedIn: Record<StepPhase, number> = { running: 0, 'bake-end': 0, 'max-bake': 0 };
    let insufficient = 0;
    for (let k = 0; k < runs; k++) {
      const r = simulateEvidenceStep(rnd, o);
      if (r.verdict === 'failed') failedIn[r.phase]++;
      if (/not enough to tell/.test(r.reason)) insufficient++;
    }
    const failed = failedIn.running + failedIn['bake-end'] + failedIn['max-bake'];
    return { failed: failed / runs, early: failedIn.running / runs, insufficient: insufficient / runs };
  };
  const rates = [1, 5, 20, 100];
  const weights = [1, 10, 50];

  it('fails a canary 5 points below success-rate (94%) at the first step in >= 95% of runs', () => {
    const missed: unknown[] = [];
    for (const rps of rates)
      for (const weight of weights) {
        const r = simulate(rps * 100 + weight, 400, step(rps, weight, 0.94));
        if (r.failed < 0.95) missed.push({ rps, weight, detected: r.failed });
      }
    expect(missed).toEqual([]);
  });

  it('passes a canary 0.5 points above success-rate (99.5%) in >= 99% of runs', () => {
    const failing: unknown[] = [];
    let failed = 0;
    let runs = 0;
    for (const rps of rates)
      for (const weight of weights) {
        const r = simulate(rps * 100 + weight + 7, 1000, step(rps, weight, 0.995));
        if (r.failed > 0.01) failing.push({ rps, weight, failed: r.failed });
        failed += r.failed * 1000;
        runs += 1000;
      }
    expect(failing).toEqual([]);
    // Over all 12 000 runs: the design's ~0.5% (union bound 1%).
    expect(failed / runs).toBeLessThan(0.007);
  });

  it('passes a healthy canary (99.9%, 100%) essentially always and never fails it early', () => {
    const failing: unknown[] = [];
    // (100 rps: in the bench; its LLR only falls faster than at 20 rps.)
    for (const success of [0.999, 1])
      for (const rps of [1, 5, 20])
        for (const weight of weights) {
          const r = simulate(rps * 100 + weight + 13, 1000, step(rps, weight, success));
          if (r.failed > 0.001 || r.early > 0) failing.push({ success, rps, weight, ...r });
        }
    expect(failing).toEqual([]);
  });

  it('pinning half the probes at 1 rps cannot pass a 99.5% canary reliably (why pinnedShare pins more)', () => {
    // 90 pinned responses by max-bake, fewer than the 156 that tell 99.5% from 94%.
    const half = simulate(5, 400, { ...step(1, 10, 0.995), pinnedShare: 0.5 });
    expect(half.failed).toBeGreaterThan(0.2);
    expect(half.insufficient).toBeGreaterThan(0.2);
    const adapted = simulate(5, 400, step(1, 10, 0.995));
    expect(adapted.insufficient).toBe(0);
  });

  it('still detects the 94% canary when its failures lose the version marker (survivor bias)', () => {
    for (const rps of [2, 5]) {
      const r = simulate(rps + 31, 400, { ...step(rps, 50, 0.94), unattributedCanaryFailures: 1 });
      expect(r.failed).toBeGreaterThanOrEqual(0.95);
    }
  });
});
