// Seeded simulation of one step under the sequential rule: shared by the operating-characteristics
// tests and bench/prober-bench.ts. Pure; not used by the action itself.
import type { VerifySettings } from '../lib/types.js';
import { evaluateStep, StepState } from './analysis.js';

/** mulberry32: a small seeded PRNG so simulations are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimulatedStep {
  settings: VerifySettings;
  /** Canary weight in percent. */
  weight: number;
  /** Error rates of each version, 0..1. */
  canaryErr: number;
  stableErr: number;
  /** Responses in the step. */
  n: number;
}

/** Weighted routing, judging after every response, then the final judging. */
export function simulateStep(
  rnd: () => number,
  o: SimulatedStep,
): { failed: boolean; early: boolean; at: number; reason?: string } {
  const st = new StepState({ plannedRequests: o.n });
  const match = o.settings.canaryMatch !== undefined;
  for (let i = 1; i <= o.n; i++) {
    const isCanary = rnd() < o.weight / 100;
    const bad = rnd() < (isCanary ? o.canaryErr : o.stableErr);
    st.add({ good: !bad, latencyMs: 5, version: match ? (isCanary ? 'canary' : 'stable') : 'unknown' });
    const ev = evaluateStep(st, o.settings, o.weight, false);
    if (ev.verdict === 'failed') return { failed: true, early: true, at: i, reason: ev.reason };
  }
  const ev = evaluateStep(st, o.settings, o.weight, true);
  return { failed: ev.verdict === 'failed', early: false, at: o.n, reason: ev.reason };
}

/** Nearest-rank quantile of a sample, q in 0..1. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)];
}
