// Seeded simulation of one step, judged by the real rule: shared by the operating-characteristics
// tests and bench/evidence-bench.ts. Pure; not used by the action itself.
import type { VerifySettings } from '../lib/types.js';
import { evaluateStep, pinnedShare, StepState, type Observation, type StepPhase } from './analysis.js';

// Module bindings, not a global lookup per call: under jest's vm context every `Math.` access
// goes through the sandbox's global object, which made the generator ~50x slower there.
const { imul, floor } = Math;

/** mulberry32: a small seeded PRNG so simulations are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = imul(a ^ (a >>> 15), 1 | a);
    t = (t + imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One step: pinned + unpinned probes, judged by the evidence rule. */
export interface EvidenceStep {
  /** successRate, canaryMatch, maxLatencyMs matter; rps is the total probe rate. */
  settings: VerifySettings;
  /** Canary weight in percent. */
  weight: number;
  bakeS: number;
  /** Default 3 x bakeS. */
  maxBakeS?: number;
  /** Share of the probes pinned to the canary. Default pinnedShare(...). */
  pinnedShare?: number;
  /** True success rates, 0..1. Stable default 0.999. */
  canarySuccess: number;
  stableSuccess?: number;
  /** Share of the unpinned failures that carry no version marker (gateway 503, bare error page). */
  unattributedCanaryFailures?: number;
  unattributedStableFailures?: number;
  /** Share of the responses slower than max-latency (slow: 2 x max, else max / 2). */
  canarySlow?: number;
  stableSlow?: number;
  /** Share of the pinned probes answered by the stable (a pin route not applied). */
  misroutedPinned?: number;
  /** Canary share the gateway really applies, percent. Default `weight`. */
  gatewayWeight?: number;
}

export interface EvidenceRun {
  verdict: 'passed' | 'failed';
  /** Phase of the decisive judgment ('running': before the end of the bake). */
  phase: StepPhase;
  /** Seconds into the step. */
  atS: number;
  /** Canary evidence (pinned + attributed) when decided. */
  canaryResponses: number;
  reason: string;
}

/**
 * Probes at a fixed rate (probe i at i / rps seconds, the pinned ones spread evenly), routes the
 * unpinned ones by the gateway weight, and judges like the verifier will: 'running' until the end
 * of the bake, 'bake-end' at its end and after every response of an extension, 'max-bake' last.
 * While running, the step is judged after every failing or slow response and every 20th: the
 * success-rate and latency fail boundaries can only be crossed on such a response (their
 * statistics rise only then), so this is exact for them and keeps long runs fast; the split check
 * is judged at least every 20 responses.
 */
export function simulateEvidenceStep(rnd: () => number, o: EvidenceStep): EvidenceRun {
  const s = o.settings;
  const rps = s.rps;
  const maxBakeS = o.maxBakeS ?? 3 * o.bakeS;
  const pi =
    o.pinnedShare ??
    pinnedShare({ rps, weight: o.weight, maxBakeMs: maxBakeS * 1000, successRate: s.successRate });
  const match = s.canaryMatch !== undefined;
  const max = s.maxLatencyMs;
  const share = (o.gatewayWeight ?? o.weight) / 100;
  const stableSuccess = o.stableSuccess ?? 0.999;
  const st = new StepState({ maxLatencyMs: max });
  const latency = (slowShare: number | undefined): number =>
    max === undefined ? 5 : slowShare && rnd() < slowShare ? 2 * max : max / 2;

  const probe = (i: number): Observation => {
    const pinned = floor((i + 1) * pi) > floor(i * pi);
    if (pinned) {
      if (o.misroutedPinned && rnd() < o.misroutedPinned) {
        const good = rnd() < stableSuccess;
        return {
          version: 'pinned',
          good,
          latencyMs: latency(o.stableSlow),
          ...(match ? { marker: 'stable' } : {}),
        };
      }
      return { version: 'pinned', good: rnd() < o.canarySuccess, latencyMs: latency(o.canarySlow) };
    }
    const isCanary = rnd() < share;
    const good = rnd() < (isCanary ? o.canarySuccess : stableSuccess);
    const lost = isCanary ? o.unattributedCanaryFailures : o.unattributedStableFailures;
    const attributed = match && (good || !lost || rnd() >= lost);
    const version = attributed ? (isCanary ? 'canary' : 'stable') : 'unknown';
    return { version, good, latencyMs: latency(isCanary ? o.canarySlow : o.stableSlow) };
  };
  const run = (phase: StepPhase, i: number): EvidenceRun | undefined => {
    const ev = evaluateStep(st, s, o.weight, phase);
    if (ev.verdict !== 'passed' && ev.verdict !== 'failed') return undefined;
    return {
      verdict: ev.verdict,
      phase,
      atS: i / rps,
      canaryResponses: ev.evidence!.canary.responses,
      reason: ev.reason ?? '',
    };
  };

  const inBake = Math.ceil(o.bakeS * rps); // probes sent at t < bakeS
  const inMax = Math.ceil(maxBakeS * rps);
  let i = 0;
  for (; i < inBake; i++) {
    const r = probe(i);
    st.add(r);
    if (!r.good || (max !== undefined && r.latencyMs > max) || i % 20 === 19) {
      const done = run('running', i + 1);
      if (done) return done;
    }
  }
  const atEnd = run('bake-end', i);
  if (atEnd) return atEnd;
  for (; i < inMax; i++) {
    st.add(probe(i));
    const done = run('bake-end', i + 1);
    if (done) return done;
  }
  return run('max-bake', i)!;
}

/** Nearest-rank quantile of a sample, q in 0..1. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)];
}
