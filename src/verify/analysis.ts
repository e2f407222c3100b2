// Pure statistics for the verification of one rollout step: percentiles, per-stream streaming
// accumulators, the success-rate, latency and traffic-split rules, and evaluateStep() which
// combines them into one verdict with a one-sentence reason. No I/O.
//
// The rule: a step passes only when the canary's own responses are sufficient evidence that its
// success rate is at least 0.5 points above success-rate rather than 5 points below (decideCanary:
// sequential test, fast guard, binomial test at max-bake; 'extend' while inconclusive, then a fail
// naming the missing evidence), and the users' path, the stable, latency, pinning and the split
// show no evidence of a problem. Error budget, by construction (Ville's inequality + exact
// binomial tails), for the canary: P(fail | success >= threshold + 0.5 pt) <= 0.4% + 0.1% + 0.5% =
// 1% once the canary has the responses the binomial test needs (designFor(...).needed, 156 at
// 99%), and P(pass | success <= threshold - 5 pt) <= 1% + 4% = 5%. Measured: bench/evidence-bench.ts.

import type { StepEvidenceFigures, StreamFigures, VerifySettings } from '../lib/types.js';
import type { VersionFigures } from '../lib/types.js';

// ---------------------------------------------------------------------------------------------
// Percentiles

/**
 * Nearest-rank percentile: the smallest observed value such that at least p% of the samples are
 * <= it, i.e. sorted[ceil(p/100 * n) - 1]. Always one of the observed values (no interpolation),
 * so "p95 <= max" means "at most 5% of the samples are slower than max". Accepts unsorted input
 * (sorts a copy); p in 0..100; p = 0 gives the minimum. Returns undefined for no samples.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  let sorted = values;
  for (let i = 1; i < values.length; i++) {
    if (values[i] < values[i - 1]) {
      sorted = [...values].sort((a, b) => a - b);
      break;
    }
  }
  return nearestRank(sorted, p);
}

function nearestRank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  const q = Math.min(100, Math.max(0, p));
  const rank = Math.max(1, Math.ceil((q / 100) * n - 1e-9));
  return sorted[Math.min(n, rank) - 1];
}

/**
 * Streaming accumulator of one version's responses (or of all responses). O(1) add; latencies
 * are kept (8 bytes each) and sorted lazily when figures() asks for percentiles. When `slowMs` is
 * given, the number of samples slower than it is counted incrementally (for latencyCheck).
 */
export class VersionStats {
  private n = 0;
  private goodCount = 0;
  private slowCount = 0;
  private lat: Float64Array = new Float64Array(64);
  private sortedUpTo = 0; // lat[0..sortedUpTo) is sorted; 0 after any add

  constructor(readonly slowMs?: number) {}

  add(good: boolean, latencyMs: number): void {
    if (this.n === this.lat.length) {
      const bigger = new Float64Array(this.lat.length * 2);
      bigger.set(this.lat);
      this.lat = bigger;
    }
    this.lat[this.n++] = latencyMs;
    this.sortedUpTo = 0;
    if (good) this.goodCount++;
    if (this.slowMs !== undefined && latencyMs > this.slowMs) this.slowCount++;
  }

  get requests(): number {
    return this.n;
  }
  get good(): number {
    return this.goodCount;
  }
  get bad(): number {
    return this.n - this.goodCount;
  }
  /** Samples with latency > slowMs (0 when no slowMs was given). */
  get slow(): number {
    return this.slowCount;
  }
  /** good / requests, undefined without requests. */
  get successRate(): number | undefined {
    return this.n === 0 ? undefined : this.goodCount / this.n;
  }

  /** Nearest-rank percentile of the latencies seen so far (see percentile()). */
  percentile(p: number): number | undefined {
    if (this.n === 0) return undefined;
    return nearestRank(this.sorted(), p);
  }

  /** Number of samples with latency > ms (O(1) for ms === slowMs, else O(log n) after a sort). */
  countAbove(ms: number): number {
    if (ms === this.slowMs) return this.slowCount;
    const s = this.sorted();
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] > ms) hi = mid;
      else lo = mid + 1;
    }
    return s.length - lo;
  }

  private sorted(): Float64Array {
    const view = this.lat.subarray(0, this.n);
    if (this.sortedUpTo !== this.n) {
      view.sort();
      this.sortedUpTo = this.n;
    }
    return view;
  }

  figures(): VersionFigures {
    const f: VersionFigures = { requests: this.n, good: this.goodCount, bad: this.n - this.goodCount };
    if (this.n > 0) {
      f.p50Ms = round1(this.percentile(50)!);
      f.p95Ms = round1(this.percentile(95)!);
    }
    return f;
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

// ---------------------------------------------------------------------------------------------
// Success rate: one-sided rule (the stable and the users' path)

export interface DecideOptions {
  /**
   * Bound on the probability of a false 'fail' for a version whose true success rate is at (or
   * above) the threshold, for the early (sequential) rule. Default 0.01 (99% confidence).
   */
  alpha?: number;
  /**
   * The "clearly worse" alternative of the SPRT: its error rate is worseFactor times the allowed
   * one, capped halfway between the allowed error rate and 100%. Default 5 (threshold 99% -> 95%).
   */
  worseFactor?: number;
  /** End of the bake: also run the fixed-sample test below and answer 'pass' when not failing. */
  final?: boolean;
  /** Confidence of the end-of-bake exact binomial test. Default 0.95. */
  finalConfidence?: number;
}

export type Decision = 'pass' | 'fail' | 'continue';

/** Why decideSuccess() said 'fail' (for the reason sentence). */
export type FailKind = 'sequential' | 'final';

/**
 * Is the true success rate of a version below `threshold` (0..1)?
 *
 * Early rule (judged after every response): one-sided Wald SPRT on the error rate, testing
 *   H0: error rate e0 = 1 - threshold   against   H1: error rate e1 = min(k*e0, (1+e0)/2), k = 5.
 * The log-likelihood ratio depends only on the counts, so the rule is stateless:
 *   LLR = bad * ln(e1/e0) + good * ln((1-e1)/(1-e0)),   'fail' once LLR >= ln(1/alpha).
 * There is deliberately no lower ("accept H0") boundary: the step's bake time is the minimum, so
 * 'pass' is only given at the end. Without a lower boundary the likelihood ratio is a non-negative
 * martingale under H0, and Ville's inequality bounds the probability that it EVER reaches 1/alpha
 * by alpha, however often it is looked at: a version exactly at the threshold is falsely failed
 * with probability <= 1% (alpha = 0.01), a better one with (much) smaller probability.
 *
 * Threshold 99% (e0 = 1%, e1 = 5%): each bad response adds ln 5 = 1.609, each good one subtracts
 * 0.041, the boundary is ln 100 = 4.605. So 3 consecutive bad responses fail a version at the
 * start (a 100%-failing canary: 3 canary responses), and an error rate of 10% (a dead canary at
 * weight 10 seen without canary-match) drifts up by 0.124 per response: ~37 responses expected.
 * One transient error in 100 responses gives LLR = 1.609 - 99*0.041 < 0: never a fail. The rule
 * is indifferent at an error rate of ~2.5%; slower-burning versions are left to the end rule.
 *
 * End rule (final = true): exact one-sided binomial test: 'fail' when the observed rate is below
 * the threshold and P(X >= bad | n, e0) < 1 - finalConfidence, i.e. the shortfall is not
 * explainable by chance at 95% confidence; otherwise 'pass'. Examples at threshold 99%: 1 bad of
 * 15 passes, 2 of 15 fail; 3 of 100 pass, 4 of 100 fail; 2% bad over 1500 fails.
 *
 * Degenerate thresholds: >= 1 fails on any bad response; <= 0 never fails.
 */
export function decideSuccess(
  good: number,
  total: number,
  threshold: number,
  opts: DecideOptions = {},
): Decision {
  return decideSuccessDetailed(good, total, threshold, opts).decision;
}

export function decideSuccessDetailed(
  good: number,
  total: number,
  threshold: number,
  opts: DecideOptions = {},
): { decision: Decision; kind?: FailKind; llr?: number; pValue?: number } {
  const bad = total - good;
  const done: Decision = opts.final ? 'pass' : 'continue';
  if (total <= 0 || bad <= 0 || threshold <= 0) return { decision: done };
  if (threshold >= 1) return { decision: 'fail', kind: 'sequential' };

  const { e0, e1 } = sprtRates(threshold, opts.worseFactor);
  const alpha = opts.alpha ?? 0.01;
  const llr = bad * Math.log(e1 / e0) + good * Math.log((1 - e1) / (1 - e0));
  if (llr >= Math.log(1 / alpha)) return { decision: 'fail', kind: 'sequential', llr };
  if (!opts.final) return { decision: 'continue', llr };

  if (good / total >= threshold) return { decision: 'pass', llr };
  const pValue = binomialUpperTail(total, bad, e0);
  if (pValue < 1 - (opts.finalConfidence ?? 0.95)) return { decision: 'fail', kind: 'final', llr, pValue };
  return { decision: 'pass', llr, pValue };
}

/** The SPRT's two error rates for a success-rate threshold (exported for tests and the bench). */
export function sprtRates(threshold: number, worseFactor = 5): { e0: number; e1: number } {
  const e0 = 1 - threshold;
  return { e0, e1: Math.min(worseFactor * e0, (1 + e0) / 2) };
}

/** P(X >= k) for X ~ Binomial(n, p), summed from k upward in log space (no underflow). */
export function binomialUpperTail(n: number, k: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  // log C(n, k) = sum_{i=1..k} ln((n-k+i)/i)
  let logC = 0;
  for (let i = 1; i <= k; i++) logC += Math.log((n - k + i) / i);
  let logTerm = logC + k * Math.log(p) + (n - k) * Math.log(1 - p);
  const logRatio = Math.log(p / (1 - p));
  let sum = 0;
  for (let j = k; j <= n; j++) {
    const term = Math.exp(logTerm);
    sum += term;
    if (j > n * p && term < sum * 1e-16) break;
    logTerm += Math.log((n - j) / (j + 1)) + logRatio;
  }
  return Math.min(1, sum);
}

/** P(X <= c) for X ~ Binomial(n, p), summed from c downward in log space (no underflow). */
export function binomialLowerTail(n: number, c: number, p: number): number {
  if (c < 0) return 0;
  if (c >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  let logC = 0;
  for (let i = 1; i <= c; i++) logC += Math.log((n - c + i) / i);
  let logTerm = logC + c * Math.log(p) + (n - c) * Math.log(1 - p);
  const logRatio = Math.log((1 - p) / p);
  let sum = 0;
  for (let j = c; j >= 0; j--) {
    const term = Math.exp(logTerm);
    sum += term;
    if (j < n * p && term < sum * 1e-16) break;
    // pmf(j-1) / pmf(j) = j / (n - j + 1) * (1-p)/p
    logTerm += Math.log(j / (n - j + 1)) + logRatio;
  }
  return Math.min(1, sum);
}

// ---------------------------------------------------------------------------------------------
// Canary evidence: is the canary good enough, or clearly worse?

/**
 * When a step is judged. 'running': before the end of the bake (only failures are decided);
 * 'bake-end': the bake time is over — at its end and after every response of an extension (a
 * pass needs sufficient evidence, else 'extend'); 'max-bake': the last judgment (3 x the bake),
 * where missing evidence is a failure.
 */
export type StepPhase = 'running' | 'bake-end' | 'max-bake';

export interface EvidenceOptions {
  /** H0 ("good enough") lies this far above the threshold (success-rate units). Default 0.005. */
  h0Margin?: number;
  /** H1 ("clearly worse") lies this far below the threshold. Default 0.05. */
  h1Margin?: number;
  /** Bound on P(sequential fail) for a canary at H0 or better (Ville). Default 0.004. */
  alphaSequential?: number;
  /** Bound on P(guard fail) for a canary at the threshold or better (Ville). Default 0.001. */
  alphaGuard?: number;
  /** Bound on P(max-bake binomial test fails) for a canary at H0 or better. Default 0.005. */
  alphaFinal?: number;
  /** Bound on P(sequential pass) for a canary at H1 or worse (Ville). Default 0.01. */
  betaSequential?: number;
  /** Bound on P(max-bake binomial test passes) for a canary at H1 or worse. Default 0.04. */
  betaFinal?: number;
}

/** The canary test for one threshold (see designFor). Error rates e are 1 - success rate. */
export interface EvidenceDesign {
  threshold: number;
  /** Error rate of H0 ("good enough") and H1 ("clearly worse"). */
  e0: number;
  e1: number;
  /** ln(P1/P0) added by a failure (+Infinity when e0 = 0) and by a success (< 0). */
  llrBad: number;
  llrGood: number;
  /** Sequential boundaries: fail at LLR >= failAt (any time), pass at LLR <= passAt (from bake end). */
  failAt: number;
  passAt: number;
  /** Fast guard: one-sided SPRT of e = 1 - threshold against e = (1 + that) / 2. */
  guardBad: number;
  guardGood: number;
  guardAt: number;
  alphaFinal: number;
  betaFinal: number;
  /** Responses from which the max-bake binomial test decides within both bounds. */
  needed: number;
}

const designs = new Map<string | number, EvidenceDesign>();

/**
 * The canary evidence test for success-rate `threshold` (0..1).
 *
 * Hypotheses on the canary's error rate e: H0 "good enough" e0 = max(et - 0.005, et / 2) and H1
 * "clearly worse" e1 = min(et + 0.05, (1 + et) / 2), with et = 1 - threshold: at 99% they are
 * 99.5% vs 94%, at 95% 95.5% vs 90%, at 99.9% 99.95% vs 94.9% (H0 halfway to 100% once the
 * threshold is above 99.5%), at 100% "no failure" vs 95%.
 *
 * LLR = failures * ln(e1/e0) + successes * ln((1-e1)/(1-e0)) depends only on the counts, so the
 * judgment is stateless and may be repeated after every response:
 * - fail as soon as LLR >= ln(1/alphaSequential): under H0 (or better) the likelihood ratio is a
 *   non-negative supermartingale, and by Ville's inequality it EVER reaches 1/alpha with
 *   probability <= alpha, however often it is looked at;
 * - pass (only from the end of the bake on) when LLR <= ln(betaSequential): likewise 1/LR under
 *   H1 (or worse), so P(a clearly worse canary is ever passed this way) <= betaSequential;
 * - guard: the old fast rule, a one-sided SPRT of "at the threshold" against "fails half its
 *   requests or more", alphaGuard 0.1%: a canary failing every request is failed after 2 responses
 *   at 99% (3 at 95%), where the main test, built for a 5-point gap, would wait longer;
 * - at max-bake, when neither boundary was reached: exact binomial test, pass iff failures <= c
 *   with c the smallest count such that P(more | H0) <= alphaFinal; it decides only when then
 *   P(at most c | H1) <= betaFinal too, i.e. from `needed` responses on (156 at 99%). Fewer:
 *   the evidence is insufficient and the step fails saying so.
 * The bounds add up: P(fail | H0) <= 1%, P(pass | H1) <= 5% (union bound; simulated: ~0.5%, ~4%).
 */
export function designFor(threshold: number, opts: EvidenceOptions = {}): EvidenceDesign {
  // Cached: judged after every response. The common no-options case skips building a key.
  let none = true;
  for (const _ in opts) none = false;
  const key = none ? threshold : JSON.stringify([threshold, opts]);
  const cached = designs.get(key);
  if (cached) return cached;
  const t = Math.min(1, Math.max(0, threshold));
  const et = 1 - t;
  const e0 = Math.max(et - (opts.h0Margin ?? 0.005), et / 2);
  const e1 = Math.min(et + (opts.h1Margin ?? 0.05), (1 + et) / 2);
  const g1 = (1 + et) / 2;
  const d: EvidenceDesign = {
    threshold: t,
    e0,
    e1,
    llrBad: Math.log(e1 / e0),
    llrGood: Math.log((1 - e1) / (1 - e0)),
    failAt: Math.log(1 / (opts.alphaSequential ?? 0.004)),
    passAt: Math.log(opts.betaSequential ?? 0.01),
    guardBad: Math.log(g1 / et),
    guardGood: Math.log((1 - g1) / (1 - et)),
    guardAt: Math.log(1 / (opts.alphaGuard ?? 0.001)),
    alphaFinal: opts.alphaFinal ?? 0.005,
    betaFinal: opts.betaFinal ?? 0.04,
    needed: 0,
  };
  d.needed = t > 0 ? neededResponses(d) : 0;
  designs.set(key, d);
  return d;
}

/** failures * perBad + successes * perGood, with 0 * Infinity = 0. */
function llrOf(n: number, failures: number, perBad: number, perGood: number): number {
  return (failures > 0 ? failures * perBad : 0) + (n - failures) * perGood;
}

/**
 * The max-bake binomial test at n responses: the most failures that pass (smallest c with
 * P(X > c | n, e0) <= alphaFinal), and whether it is decisive (P(X <= c | n, e1) <= betaFinal).
 */
export function finalCutoff(d: EvidenceDesign, n: number): { maxFailures: number; decisive: boolean } {
  if (n <= 0) return { maxFailures: 0, decisive: false };
  const p = d.e0;
  let c = Math.floor(n * p);
  // tail = P(X >= c + 1), lowered one probability mass at a time (one log-space start, no rescans).
  let tail = binomialUpperTail(n, c + 1, p);
  if (tail > d.alphaFinal) {
    let logC = 0;
    for (let i = 1; i <= c + 1; i++) logC += Math.log((n - c - 1 + i) / i);
    let pmf = Math.exp(logC + (c + 1) * Math.log(p) + (n - c - 1) * Math.log(1 - p)); // P(X = c + 1)
    while (c < n && tail > d.alphaFinal) {
      tail -= pmf;
      c++;
      pmf *= ((n - c) / (c + 1)) * (p / (1 - p));
    }
  }
  return { maxFailures: c, decisive: binomialLowerTail(n, c, d.e1) <= d.betaFinal };
}

/**
 * Smallest n from which the binomial test stays decisive. Discreteness makes decisiveness
 * non-monotone just above the first decisive n (at 99%: decisive at 133-135, not at 136-155), so
 * the answer is one past the last non-decisive n below twice the first decisive one.
 */
function neededResponses(d: EvidenceDesign): number {
  let first = 1;
  while (!finalCutoff(d, first).decisive && first < 1e6) first++;
  let last = first - 1;
  for (let n = first + 1; n <= 2 * first + 50; n++) if (!finalCutoff(d, n).decisive) last = n;
  return last + 1;
}

const neededByFailures = new WeakMap<EvidenceDesign, number[]>();

/** Responses needed to pass with `failures` failures, assuming no more (for the advice; cached). */
function neededWith(d: EvidenceDesign, failures: number): number {
  let memo = neededByFailures.get(d);
  if (!memo) neededByFailures.set(d, (memo = []));
  if (memo[failures] !== undefined) return memo[failures];
  let n = d.needed;
  while (finalCutoff(d, n).maxFailures < failures && n < 100 * d.needed) n += Math.max(1, n >> 6);
  return (memo[failures] = n);
}

export interface CanaryDecision {
  /** 'inconclusive': neither hypothesis is supported yet (the step extends, or fails at max-bake). */
  decision: 'pass' | 'fail' | 'continue' | 'inconclusive';
  /** What decided: the sequential test, the fast guard, the max-bake binomial test, missing evidence. */
  kind?: 'sequential' | 'guard' | 'final' | 'insufficient';
  llr: number;
  /** Responses the evidence needs (for the advice when inconclusive). */
  needed: number;
  /** Max-bake binomial test: the most failures that pass at this n. */
  maxFailures?: number;
}

/** The canary's verdict from its evidence (good of total responses) in `phase`; see designFor. */
export function decideCanary(
  good: number,
  total: number,
  threshold: number,
  phase: StepPhase,
  opts: EvidenceOptions = {},
): CanaryDecision {
  const d = designFor(threshold, opts);
  const bad = total - good;
  if (d.threshold <= 0) return { decision: phase === 'running' ? 'continue' : 'pass', llr: 0, needed: 0 };
  const llr = llrOf(total, bad, d.llrBad, d.llrGood);
  const needed = d.needed;
  if (llrOf(total, bad, d.guardBad, d.guardGood) >= d.guardAt)
    return { decision: 'fail', kind: 'guard', llr, needed };
  if (llr >= d.failAt) return { decision: 'fail', kind: 'sequential', llr, needed };
  if (phase === 'running') return { decision: 'continue', llr, needed };
  if (llr <= d.passAt) return { decision: 'pass', kind: 'sequential', llr, needed };
  // Undecided: how many responses would let these failures pass (only computed here: it scans).
  const short = bad > 0 ? neededWith(d, bad) : needed;
  if (phase === 'bake-end') return { decision: 'inconclusive', llr, needed: short };
  const cut = finalCutoff(d, total);
  if (!cut.decisive) return { decision: 'fail', kind: 'insufficient', llr, needed: short };
  return {
    decision: bad <= cut.maxFailures ? 'pass' : 'fail',
    kind: 'final',
    llr,
    needed,
    maxFailures: cut.maxFailures,
  };
}

/**
 * Share of the probes to pin to the canary so that its evidence can arrive within max-bake.
 * Half by default (the other half is the users' path and the split check); more when the rate is
 * too low for half to bring ~1.1 x `needed` canary responses (pinned + the unpinned ones routed to
 * it at `weight`) within max-bake; at most 90% so that the users' path is still probed. At the
 * defaults (99%, 60 s bake, 180 s max-bake) half suffices from ~1.9 rps on; at 1 rps: 90%.
 */
export function pinnedShare(
  o: { rps: number; weight: number; maxBakeMs: number; successRate: number },
  opts: EvidenceOptions = {},
): number {
  const w = Math.min(1, Math.max(0, o.weight / 100));
  if (w >= 1 || o.rps <= 0 || o.maxBakeMs <= 0) return 0.5;
  const perSecond = (1.1 * designFor(o.successRate, opts).needed) / (o.maxBakeMs / 1000);
  const share = (perSecond / o.rps - w) / (1 - w);
  return Math.min(0.9, Math.max(0.5, share));
}

// ---------------------------------------------------------------------------------------------
// Latency

/** What the latency rule reads of a stream (a VersionStats, or counts from a histogram). */
export type LatencySource = Pick<VersionStats, 'requests' | 'countAbove' | 'percentile'>;

export interface LatencyEvidenceOptions {
  /** Samples a stream needs before its latency is judged at all. Default 20. */
  minSamples?: number;
  /** Bound on P(fail) for a stream whose true p95 is within max. Default 0.01. */
  alpha?: number;
}

export interface LatencyEvidence {
  decision: Decision;
  kind?: FailKind;
  /** Responses slower than max, of n. */
  slow: number;
  n: number;
  /** False below minSamples: too few responses to say anything about the p95. */
  judged: boolean;
  /** Observed nearest-rank p95 (descriptive only: it is not the test). */
  p95Ms?: number;
  /** P(X >= slow | n, 5%): how likely this many slow responses are with the p95 exactly at max. */
  pValue?: number;
}

/**
 * The p95 as evidence: "p95 <= max" means "at most 5% of the responses are slower than max", so
 * the count of slow responses is tested against 5%. An observed p95 is not evidence by itself: the
 * nearest-rank p95 of 3 responses is their maximum (one slow response in 3 "exceeds" it, which
 * happens with 14% probability at exactly 5% slow), that of 20 responses their 19th (2 slow of
 * 20: 26%). So:
 * - nothing is judged below minSamples (20): the first responses of a fresh pod are often slow;
 * - 'fail' at any time when the slow fraction is conclusively above 5% by the one-sided SPRT of
 *   decideSuccess (5% slow against 25%, Ville bound alpha 1%): a canary whose responses are all
 *   slow is failed at its 20th response;
 * - from the end of the bake on, 'fail' when P(X >= slow | n, 5%) < alpha (exact binomial test,
 *   99% confidence): e.g. 2 slow of 20 pass (p 26%), 5 of 20 fail (p 0.3%), 9 of 100 pass, 12 fail;
 * - otherwise 'pass' ('continue' while running).
 */
export function latencyEvidence(
  stats: LatencySource,
  maxMs: number,
  phase: StepPhase,
  opts: LatencyEvidenceOptions = {},
): LatencyEvidence {
  const n = stats.requests;
  const slow = stats.countAbove(maxMs);
  const alpha = opts.alpha ?? 0.01;
  const p95Ms = stats.percentile(95);
  const done: Decision = phase === 'running' ? 'continue' : 'pass';
  if (n < (opts.minSamples ?? 20)) return { decision: done, slow, n, judged: false, p95Ms };
  if (decideSuccess(n - slow, n, 0.95, { alpha }) === 'fail')
    return { decision: 'fail', kind: 'sequential', slow, n, judged: true, p95Ms };
  if (phase === 'running') return { decision: 'continue', slow, n, judged: true, p95Ms };
  const pValue = binomialUpperTail(n, slow, 0.05);
  const decision = slow > 0.05 * n && pValue < alpha ? 'fail' : 'pass';
  return { decision, kind: decision === 'fail' ? 'final' : undefined, slow, n, judged: true, p95Ms, pValue };
}

// ---------------------------------------------------------------------------------------------
// Traffic split

export interface SplitCheckResult {
  /** Observed canary share 0..1 (0 without responses). */
  observed: number;
  /** Tolerance interval for the share, 0..1. */
  low: number;
  high: number;
  /** False only when judged and outside [low, high]. */
  ok: boolean;
  /** False while total < minTotal: too few responses to judge (the caller treats it as 'continue'). */
  judged: boolean;
}

export interface SplitCheckOptions {
  /** Responses needed before the split is judged. Default 30. */
  minTotal?: number;
  /**
   * Absolute slack added to the half-width (share units). Default 0.02: a few responses routed by
   * the old weights while the gateway picks up the new ones must not fail weights 1 or 100,
   * where the binomial standard deviation is (nearly) zero.
   */
  slack?: number;
}

/**
 * Is the observed canary share consistent with the weight? Under honest weighted routing the
 * canary count is Binomial(total, expectedShare); the tolerance is the normal approximation
 *   total*p ± (z*sqrt(total*p*(1-p)) + 0.5)  (+ slack*total),   divided by total, clamped to 0..1,
 * with the +0.5 continuity correction. z = 4 keeps the per-look false alarm at ~6e-5 and, even when
 * looked at after every response of a long step, below ~0.5% (boundary-crossing estimate
 * ~2*z*phi(z)*ln(N/30)). Not judged below minTotal (30) responses, where the approximation is poor.
 * Examples: weight 50, 100 responses: [0.275, 0.725]; 0 canary responses fail, 50 pass.
 */
export function splitCheck(
  canaryCount: number,
  total: number,
  expectedShare: number,
  z = 4,
  opts: SplitCheckOptions = {},
): SplitCheckResult {
  const p = Math.min(1, Math.max(0, expectedShare));
  const minTotal = opts.minTotal ?? 30;
  const slack = opts.slack ?? 0.02;
  if (total <= 0) return { observed: 0, low: 0, high: 1, ok: true, judged: false };
  const observed = canaryCount / total;
  const half = (z * Math.sqrt(total * p * (1 - p)) + 0.5) / total + slack;
  const low = Math.max(0, p - half);
  const high = Math.min(1, p + half);
  const judged = total >= minTotal;
  return { observed, low, high, ok: !judged || (observed >= low && observed <= high), judged };
}

// ---------------------------------------------------------------------------------------------
// One step

/** A probe response as the analysis sees it (the prober's ProbeResult is compatible). */
export interface Observation {
  good: boolean;
  latencyMs: number;
  /**
   * Where the response comes from:
   * - 'pinned': a probe carrying the pin header, routed to the canary by construction, so canary
   *   evidence whatever the weight (and whether or not it carries a version marker);
   * - 'canary' / 'stable': an unpinned probe (the users' path) attributed by canary-match;
   * - 'unknown': an unpinned probe that cannot be attributed (no canary-match, a timeout, a gateway
   *   503 or an error page without the marker). Judged in the users'-path aggregate only: never
   *   counted as the stable's, neither its failures nor its successes.
   */
  version: 'pinned' | 'canary' | 'stable' | 'unknown';
  /**
   * Pinned probes with canary-match: the version the response says it came from. 'stable' means
   * the pin did not reach the canary: such a response is no canary evidence (see
   * StepState.misrouted).
   */
  marker?: 'canary' | 'stable' | 'unknown';
}

/** Accumulated figures of one step, per stream. */
export class StepState {
  /** Every response (reports). */
  readonly total: VersionStats;
  /** Canary evidence: pinned responses + unpinned responses attributed to the canary. */
  readonly canary: VersionStats;
  /** Unpinned responses attributed to the stable (never an unattributed one). */
  readonly stable: VersionStats;
  /** The users' path: every unpinned response, attributed or not. */
  readonly users: VersionStats;
  /** Parts of the above, for the evidence's composition and the split check. */
  readonly pinned: VersionStats;
  readonly attributedCanary: VersionStats;
  readonly unattributed: VersionStats;
  /** Pinned responses whose marker says 'stable': the pin did not reach the canary. */
  misrouted = 0;
  constructor(opts: { maxLatencyMs?: number } = {}) {
    const stats = (): VersionStats => new VersionStats(opts.maxLatencyMs);
    this.total = stats();
    this.canary = stats();
    this.stable = stats();
    this.users = stats();
    this.pinned = stats();
    this.attributedCanary = stats();
    this.unattributed = stats();
  }

  add(o: Observation): void {
    this.total.add(o.good, o.latencyMs);
    if (o.version === 'pinned') {
      if (o.marker === 'stable') {
        this.misrouted++;
        return;
      }
      this.pinned.add(o.good, o.latencyMs);
      this.canary.add(o.good, o.latencyMs);
      return;
    }
    this.users.add(o.good, o.latencyMs);
    if (o.version === 'canary') {
      this.attributedCanary.add(o.good, o.latencyMs);
      this.canary.add(o.good, o.latencyMs);
    } else if (o.version === 'stable') this.stable.add(o.good, o.latencyMs);
    else this.unattributed.add(o.good, o.latencyMs);
  }
}

/** The figures behind one stream's decision. */
export interface StreamEvidence {
  responses: number;
  failures: number;
  decision: 'pass' | 'fail' | 'continue' | 'inconclusive';
  /** ln of the likelihood ratio of the stream's sequential test (> 0 favours "worse"). */
  llr?: number;
  /** p-value of the binomial test, when it ran (from the end of the bake on). */
  pValue?: number;
}

export interface CanaryEvidence extends StreamEvidence {
  kind?: CanaryDecision['kind'];
  /** Composition of `responses`. */
  pinned: number;
  attributed: number;
  /**
   * False when the unpinned responses attributed to the canary were left out of its evidence:
   * the users' path had unattributed failures, which may be canary failures without the marker,
   * so the attributed ones may be the survivors (biased towards success).
   */
  attributedUsed: boolean;
  /** The two hypotheses as success rates, e.g. 0.995 and 0.94. */
  goodEnough: number;
  clearlyWorse: number;
  /** Sequential boundaries on llr. */
  failAt: number;
  passAt: number;
  /** Responses the evidence needs (binomial test). */
  needed: number;
  maxFailures?: number;
}

export interface StepEvidence {
  canary: CanaryEvidence;
  /** With canary-match. */
  stable?: StreamEvidence;
  users: StreamEvidence & { unattributed: number; unattributedFailures: number };
}

export interface StepEvaluation {
  /** 'extend' only in phase 'bake-end': the canary's evidence is not sufficient yet. */
  verdict: 'continue' | 'passed' | 'failed' | 'extend';
  reason?: string;
  /** Set when canary-match is configured (the split is measurable). */
  split?: SplitCheckResult;
  /** Evidence rule only. */
  evidence?: StepEvidence;
}

export interface EvaluateOptions {
  /** One-sided rule of the stable and the users' path. */
  decide?: Omit<DecideOptions, 'final'>;
  /** Canary evidence test (evidence rule). */
  evidence?: EvidenceOptions;
  z?: number;
  split?: SplitCheckOptions;
  /** Split (and pinning) judged before the end only from this many responses on. Default 100. */
  earlySplitMinTotal?: number;
  latencyMinSamples?: number;
  /** Evidence rule: Ville / binomial bound of the latency rule. Default 0.01. */
  latencyAlpha?: number;
}

/**
 * Judge one step at canary weight `weight` (percent).
 *
 * Judged in this order, the first failing check gives the reason:
 *  1. canary success rate (decideCanary on pinned + attributed canary responses; pinned only when
 *     the users' path has unattributed failures, see CanaryEvidence.attributedUsed): conclusive
 *     failures at any time;
 *  2. stable (with canary-match) and users' path success rate: one-sided rule of decideSuccess
 *     (sequential at any time, binomial at 99% confidence from the end of the bake on): they must
 *     not be conclusively below success-rate, but need no amount of evidence to pass;
 *  3. p95 latency (with max-latency) of the canary, then of the stable (canary-match) or else of
 *     the users' path (latencyEvidence);
 *  4. pinning (pinned responses answered by the stable) and the split of the unpinned attributed
 *     responses (canary-match) by splitCheck, before the end of the bake only from
 *     `earlySplitMinTotal` (100) responses on;
 *  5. the canary's decision: 'running' -> 'continue'; 'pass' -> 'passed'; inconclusive ->
 *     'extend' at 'bake-end', 'failed' at 'max-bake' naming the missing evidence.
 */
export function evaluateStep(
  state: StepState,
  settings: VerifySettings,
  weight: number,
  phase: StepPhase,
  opts: EvaluateOptions = {},
): StepEvaluation {
  return evaluateEvidence(state, settings, weight, phase, opts);
}

function evaluateEvidence(
  state: StepState,
  settings: VerifySettings,
  weight: number,
  phase: StepPhase,
  opts: EvaluateOptions,
): StepEvaluation {
  const perVersion = settings.canaryMatch !== undefined;
  const threshold = settings.successRate;
  const ending = phase !== 'running';
  const d = designFor(threshold, opts.evidence);

  // 1. Canary. Attributed canary responses are left out once the users' path shows unattributed
  // failures: those may be canary failures that lost the marker, leaving the successes attributed.
  const attributedUsed = state.unattributed.bad === 0;
  const cGood = state.pinned.good + (attributedUsed ? state.attributedCanary.good : 0);
  const cTotal = state.pinned.requests + (attributedUsed ? state.attributedCanary.requests : 0);
  const cd = decideCanary(cGood, cTotal, threshold, phase, opts.evidence);
  // Plain assignments, no spreads: this runs after every response (and in every simulated one).
  const canary: CanaryEvidence = {
    responses: cTotal,
    failures: cTotal - cGood,
    decision: cd.decision,
    kind: cd.kind,
    llr: cd.llr,
    pinned: state.pinned.requests,
    attributed: state.attributedCanary.requests,
    attributedUsed,
    goodEnough: 1 - d.e0,
    clearlyWorse: 1 - d.e1,
    failAt: d.failAt,
    passAt: d.passAt,
    needed: cd.needed,
  };
  if (cd.maxFailures !== undefined) canary.maxFailures = cd.maxFailures;

  // 2. Stable and users' path: no evidence needed to pass, only none of a problem. 99% (not 95%) at the end: 1 failure in 5 responses is no evidence against a 99% stable.
  const decide: DecideOptions = { finalConfidence: 0.99, ...opts.decide, final: ending };
  const oneSided = (s: VersionStats): { ev: StreamEvidence; kind?: FailKind } => {
    const r = decideSuccessDetailed(s.good, s.requests, threshold, decide);
    const ev: StreamEvidence = { responses: s.requests, failures: s.bad, decision: r.decision };
    if (r.llr !== undefined) ev.llr = r.llr;
    if (r.pValue !== undefined) ev.pValue = r.pValue;
    return { ev, kind: r.kind };
  };
  const st = perVersion ? oneSided(state.stable) : undefined;
  const us = oneSided(state.users);
  const stable = st?.ev;
  const users = Object.assign(us.ev, {
    unattributed: state.unattributed.requests,
    unattributedFailures: state.unattributed.bad,
  });
  const evidence: StepEvidence = { canary, users };
  if (stable) evidence.stable = stable;
  const split = perVersion ? unpinnedSplit(state, weight, opts) : undefined;
  const out = (verdict: StepEvaluation['verdict'], reason?: string): StepEvaluation => {
    const e: StepEvaluation = { verdict, evidence };
    if (reason !== undefined) e.reason = reason;
    if (split) e.split = split;
    return e;
  };

  if (cd.decision === 'fail' && cd.kind !== 'insufficient')
    return out('failed', canaryFailReason(canary, threshold, cd));
  const oneSidedFail = (subject: string, s: VersionStats, kind: FailKind | undefined, note = ''): string => {
    const how =
      kind === 'final'
        ? `is below ${pct(threshold, true)} (${pct(decide.finalConfidence!, true)} confidence)`
        : `is conclusively below ${pct(threshold, true)}`;
    return `${subject} ${pct(s.good / s.requests)} (${s.good}/${s.requests}${note}) ${how}`;
  };
  if (stable?.decision === 'fail')
    return out('failed', oneSidedFail('stable success rate', state.stable, st!.kind));
  if (users.decision === 'fail') {
    const u = state.unattributed.bad;
    const note = u > 0 ? `; ${u} of the failures without a version` : '';
    return out('failed', oneSidedFail("success rate of the users' path", state.users, us.kind, note));
  }

  // 3. Latency.
  if (settings.maxLatencyMs !== undefined) {
    const max = settings.maxLatencyMs;
    const streams: Array<[string, VersionStats]> = [
      ['canary', state.canary],
      perVersion ? ['stable', state.stable] : ["users' path", state.users],
    ];
    for (const [name, stats] of streams) {
      const r = latencyEvidence(stats, max, phase, {
        minSamples: opts.latencyMinSamples,
        alpha: opts.latencyAlpha,
      });
      if (r.decision === 'fail') {
        const conf = pct(1 - (opts.latencyAlpha ?? 0.01), true);
        const reason =
          r.kind === 'final'
            ? `${name} p95 latency ${fmtMs(r.p95Ms!)} exceeds ${fmtMs(max)}: ${r.slow} of ${r.n} responses slower ` +
              `(more than 5% with ${conf} confidence)`
            : `${name} p95 latency is conclusively above ${fmtMs(max)}: ${r.slow} of ${r.n} responses slower`;
        return out('failed', reason);
      }
    }
  }

  // 4. Pinning and split: a wrong route is no danger to users (their errors are judged above),
  // so the early judgment waits for earlySplitMinTotal responses.
  const judgeFrom = (n: number): boolean => ending || n >= (opts.earlySplitMinTotal ?? 100);
  const pinnedAll = state.pinned.requests + state.misrouted;
  const pin = splitCheck(state.misrouted, pinnedAll, 0, opts.z ?? 4, opts.split);
  if (!pin.ok && judgeFrom(pinnedAll))
    return out(
      'failed',
      `pinned probes do not reach the canary: ${state.misrouted} of ${pinnedAll} were answered by the stable`,
    );
  if (split && !split.ok) {
    const n = state.attributedCanary.requests + state.stable.requests;
    if (judgeFrom(n))
      return out(
        'failed',
        `the gateway does not apply the weights: canary share ${pct(split.observed)} ` +
          `(${state.attributedCanary.requests}/${n} attributed unpinned responses) is outside the expected ` +
          `${pct(split.low)}–${pct(split.high)} for weight ${weight}%`,
      );
  }

  // 5. The canary's evidence decides.
  if (cd.decision === 'fail') return out('failed', `${missingEvidence(canary)}; ${advice(settings)}`);
  if (cd.decision === 'continue') return out('continue');
  if (cd.decision === 'inconclusive')
    return out('extend', `${missingEvidence(canary, 'yet ')}; extending the bake`);
  return out('passed', evidencePassReason(state, settings, weight, evidence, split));
}

/**
 * The evidence of a step as reports show it, with the confidence of each decision: 1 - the bound
 * on the probability that it is wrong. Canary: a sequential pass is wrong with probability <=
 * exp(llr) (Ville, under "clearly worse"), a sequential or guard fail <= exp(-llr) (under "good
 * enough" / "at the threshold"), a binomial pass <= P(X <= failures | clearly worse), a binomial
 * fail <= P(X >= failures | good enough). Stable and users' path: only a fail rests on a test.
 * Computed once per report, not per response.
 */
export function evidenceFigures(
  e: StepEvidence,
  threshold: number,
  opts: EvidenceOptions = {},
): StepEvidenceFigures {
  const c = e.canary;
  const d = designFor(threshold, opts);
  const canary: StepEvidenceFigures['canary'] = {
    responses: c.responses,
    failures: c.failures,
    decision: c.decision,
    pinned: c.pinned,
    attributed: c.attributedUsed ? c.attributed : 0,
    needed: c.needed,
  };
  let wrong: number | undefined;
  if (c.kind === 'guard') wrong = Math.exp(-llrOf(c.responses, c.failures, d.guardBad, d.guardGood));
  else if (c.kind === 'sequential') wrong = Math.exp(c.decision === 'pass' ? c.llr! : -c.llr!);
  else if (c.kind === 'final')
    wrong =
      c.decision === 'pass'
        ? binomialLowerTail(c.responses, c.failures, d.e1)
        : binomialUpperTail(c.responses, c.failures, d.e0);
  if (c.kind) canary.test = c.kind === 'final' ? 'binomial' : c.kind;
  if (wrong !== undefined) canary.confidence = clamp01(1 - wrong);
  const oneSided = (s: StreamEvidence): StreamFigures => {
    const f: StreamFigures = { responses: s.responses, failures: s.failures, decision: s.decision };
    if (s.decision !== 'fail') return f;
    if (s.pValue !== undefined) {
      f.test = 'binomial';
      f.confidence = clamp01(1 - s.pValue);
    } else if (s.llr !== undefined) {
      f.test = 'sequential';
      f.confidence = clamp01(1 - Math.exp(-s.llr));
    }
    return f;
  };
  const out: StepEvidenceFigures = {
    canary,
    users: { ...oneSided(e.users), unattributed: e.users.unattributed },
  };
  if (e.stable) out.stable = oneSided(e.stable);
  return out;
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/** Canary share among the unpinned responses attributed to a version. */
function unpinnedSplit(state: StepState, weight: number, opts: EvaluateOptions): SplitCheckResult {
  const n = state.attributedCanary.requests + state.stable.requests;
  return splitCheck(state.attributedCanary.requests, n, weight / 100, opts.z ?? 4, opts.split);
}

function canaryFailReason(c: CanaryEvidence, threshold: number, cd: CanaryDecision): string {
  const rate = `${pct(1 - c.failures / c.responses)} (${c.responses - c.failures}/${c.responses})`;
  if (threshold >= 1) return `canary success rate ${rate}: success-rate 100% allows no failure`;
  if (cd.kind === 'final')
    return (
      `canary success rate ${rate} is below ${pct(threshold, true)}: ${c.failures} failures where a ` +
      `${pct(c.goodEnough, true)} canary has at most ${cd.maxFailures} (binomial test at max-bake)`
    );
  const from = c.pinned === c.responses ? ' (pinned probes)' : '';
  return `canary success rate ${rate}${from} is conclusively below ${pct(threshold, true)}`;
}

function missingEvidence(c: CanaryEvidence, yet = ''): string {
  const failures = `${c.failures} failure${c.failures === 1 ? '' : 's'}`;
  const left = c.attributedUsed ? '' : ` (pinned only: unattributed failures on the users' path)`;
  const head = `canary: ${c.responses} responses${left}, ${failures} — `;
  const tell = `${pct(c.goodEnough, true)} from ${pct(c.clearlyWorse, true)}`;
  // Enough responses for the max-bake binomial test, but the sequential test is not decided yet.
  if (c.responses >= c.needed)
    return `${head}between the two, not decided ${yet}by the sequential test (${tell})`;
  return `${head}not enough ${yet}to tell ${tell} (needs about ${c.needed})`;
}

function advice(settings: VerifySettings): string {
  return settings.canaryMatch
    ? 'raise verify-rps or the bake time (interval, or the step\'s "weight@time")'
    : 'raise verify-rps or the bake time (interval, or the step\'s "weight@time"), or set canary-match';
}

function evidencePassReason(
  state: StepState,
  settings: VerifySettings,
  weight: number,
  e: StepEvidence,
  split: SplitCheckResult | undefined,
): string {
  const c = e.canary;
  const how =
    c.kind === 'final'
      ? `binomial test: ${c.failures} of at most ${c.maxFailures} failures`
      : c.responses > 0
        ? 'sequential test'
        : 'success-rate 0%';
  const parts = [
    `canary ${rateOf(c, `${c.pinned} pinned${c.attributedUsed ? '' : ' only'}`)}: evidence for ` +
      `${pct(c.goodEnough, true)} over ${pct(c.clearlyWorse, true)} (${how})`,
  ];
  const others = [`users' path ${rateOf(e.users)}`];
  if (e.stable) others.push(`stable ${rateOf(e.stable)}`);
  parts.push(`${others.join(', ')} meet ${pct(settings.successRate, true)}`);
  if (settings.maxLatencyMs !== undefined) {
    const max = settings.maxLatencyMs;
    const shown: Array<[string, VersionStats]> = [
      ['canary', state.canary],
      e.stable ? ['stable', state.stable] : ["users' path", state.users],
    ];
    const p95s = shown
      .filter(([, s]) => s.requests > 0)
      .map(([name, s]) => {
        const p95 = s.percentile(95)!;
        // An observed p95 above max that the test did not find conclusive is shown as such.
        const note = p95 > max ? ` (${s.countAbove(max)} of ${s.requests} slower: not conclusive)` : '';
        return `${name} ${fmtMs(p95)}${note}`;
      });
    if (p95s.length) parts.push(`p95 ${p95s.join(', ')} within ${fmtMs(max)}`);
  }
  if (split)
    parts.push(
      split.judged
        ? `canary share ${pct(split.observed)} within ${pct(split.low)}–${pct(split.high)} for weight ${weight}%`
        : `canary share ${pct(split.observed)} not judged (too few responses)`,
    );
  return parts.join('; ');
}

function rateOf(s: StreamEvidence, note?: string): string {
  if (s.responses === 0) return 'no responses';
  return `${pct(1 - s.failures / s.responses)} (${s.responses - s.failures}/${s.responses}${note ? `, ${note}` : ''})`;
}

export function pct(x: number, compact = false): string {
  const v = x * 100;
  if (compact) return `${Number.parseFloat(v.toFixed(2))}%`;
  return `${v.toFixed(1)}%`;
}

function fmtMs(ms: number): string {
  return ms >= 10 ? `${Math.round(ms)} ms` : `${Number.parseFloat(ms.toFixed(1))} ms`;
}
