// Benchmark of the evidence rule (src/verify/analysis.ts, evaluateStep with phases): seeded
// simulation of the first step over the documented grid; prints tables, asserts nothing.
// The unit test (__tests__/unit/verify-evidence.test.ts) checks a subsample of the same grid.
//
// Run: npm run -s build:local && node .build/bench/evidence-bench.js [runs per cell, default 1000]

import type { VerifySettings } from '../src/lib/types.js';
import { designFor, pinnedShare } from '../src/verify/analysis.js';
import { prng, quantile, simulateEvidenceStep, type EvidenceStep } from '../src/verify/simulation.js';

const runs = Number(process.argv[2] ?? 1000);
const bakeS = 60;
const maxBakeS = 3 * bakeS;
const settings = (rps: number, over: Partial<VerifySettings> = {}): VerifySettings => ({
  url: 'http://gw',
  headers: {},
  statuses: [[200, 299]],
  rps,
  timeoutMs: 2000,
  successRate: 0.99,
  canaryMatch: { kind: 'header', name: 'x-version', value: 'canary' },
  ...over,
});

interface Cell {
  failed: number;
  early: number;
  extended: number;
  decidedS: number[];
}

function cell(seed: number, o: EvidenceStep): Cell {
  const rnd = prng(seed);
  const c: Cell = { failed: 0, early: 0, extended: 0, decidedS: [] };
  for (let k = 0; k < runs; k++) {
    const r = simulateEvidenceStep(rnd, o);
    if (r.verdict === 'failed') c.failed++;
    if (r.phase === 'running') c.early++;
    if (r.atS > bakeS + 1e-9) c.extended++;
    c.decidedS.push(r.atS);
  }
  return c;
}

const p = (x: number): string => `${((100 * x) / runs).toFixed(1)}%`;
const secs = (xs: number[]): string => `${Math.round(quantile(xs, 0.5))}/${Math.round(quantile(xs, 0.95))} s`;

function grid(title: string, rates: number[], weights: number[], over: Partial<EvidenceStep> = {}): void {
  console.log(`\n== ${title} (${runs} seeded runs per cell; bake ${bakeS} s, max-bake ${maxBakeS} s) ==`);
  console.log(
    '| rps | weight | pinned | 94%: failed (early) | decided p50/p95 | 99.5%: failed | extended | 99.9%: failed | 100%: failed (early) | extended |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const rps of rates) {
    for (const weight of weights) {
      const s = over.settings ?? settings(rps);
      const base: EvidenceStep = { ...over, settings: { ...s, rps }, weight, bakeS, canarySuccess: 0 };
      const share =
        over.pinnedShare ??
        pinnedShare({ rps, weight, maxBakeMs: maxBakeS * 1000, successRate: s.successRate });
      const seed = rps * 1000 + weight;
      const bad = cell(seed, { ...base, canarySuccess: 0.94 });
      const near = cell(seed + 1, { ...base, canarySuccess: 0.995 });
      const good = cell(seed + 2, { ...base, canarySuccess: 0.999 });
      const perfect = cell(seed + 3, { ...base, canarySuccess: 1 });
      console.log(
        `| ${rps} | ${weight}% | ${(100 * share).toFixed(0)}% | ${p(bad.failed)} (${p(bad.early)}) | ${secs(bad.decidedS)} | ` +
          `${p(near.failed)} | ${p(near.extended)} | ${p(good.failed)} | ${p(perfect.failed)} (${p(perfect.early)}) | ` +
          `${p(perfect.extended)} |`,
      );
    }
  }
}

for (const t of [0.95, 0.99, 0.999, 1]) {
  const d = designFor(t);
  console.log(
    `threshold ${100 * t}%: H0 ${(100 * (1 - d.e0)).toFixed(2)}% vs H1 ${(100 * (1 - d.e1)).toFixed(2)}%, ` +
      `fail at LLR >= ${d.failAt.toFixed(2)}, pass at LLR <= ${d.passAt.toFixed(2)}, binomial test decisive from ${d.needed} responses`,
  );
}

grid(
  'evidence rule, success-rate 99%, canary-match, pinned share from pinnedShare()',
  [1, 2, 5, 20, 100],
  [1, 10, 50],
);
grid('same, without canary-match (canary evidence = pinned only)', [1, 5, 20], [1, 10, 50], {
  settings: settings(1, { canaryMatch: undefined }),
});
grid("same, every canary failure on the users' path without the version marker", [1, 5, 20], [10, 50], {
  unattributedCanaryFailures: 1,
});
grid('pinned share fixed at 1/2 (why pinnedShare() pins more at low rates)', [1, 2], [1, 10, 50], {
  pinnedShare: 0.5,
});

console.log(
  '\n== other thresholds: a canary 5 points below is failed, one 0.5 points above (or halfway to 100%) passes (stable: a quarter of the allowed errors) ==',
);
for (const [t, rates] of [
  [0.95, [5, 20]],
  [0.999, [1, 5, 20]],
  [1, [1, 5, 20]],
] as Array<[number, number[]]>) {
  const d = designFor(t);
  for (const rps of rates) {
    const s = settings(rps, { successRate: t });
    const base: EvidenceStep = {
      settings: s,
      weight: 10,
      bakeS,
      canarySuccess: 0,
      stableSuccess: 1 - (1 - t) / 4,
    };
    const bad = cell(rps * 7 + 1, { ...base, canarySuccess: 1 - d.e1 });
    const ok = cell(rps * 7 + 2, { ...base, canarySuccess: 1 - d.e0 });
    console.log(
      `threshold ${100 * t}%, ${rps} rps, weight 10%: canary ${(100 * (1 - d.e1)).toFixed(1)}% failed ${p(bad.failed)}, ` +
        `canary ${(100 * (1 - d.e0)).toFixed(2)}% failed ${p(ok.failed)} (extended ${p(ok.extended)})`,
    );
  }
}
