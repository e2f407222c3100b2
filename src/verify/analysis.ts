// Pure statistics for the verification of one rollout step: percentiles, a per-version streaming
// accumulator, the sequential success-rate rule, the latency rule, the traffic-split check and
// evaluateStep() which combines them into one verdict with a one-sentence reason. No I/O.
//
// Error-rate budget (documented here once, tested in __tests__/unit/verify-analysis.test.ts):
// - Early fail on success rate: one-sided Wald SPRT judged after every response, false-fail
//   probability <= alpha (1%) per judged stream for a version exactly AT the threshold, far less for
//   a healthy one (Ville's inequality, see decideSuccess). With canary-match three streams are
//   judged (canary, stable, all responses), so at most ~3% for versions exactly at the threshold.
// - End-of-bake fail on success rate: exact one-sided binomial test at 95% (finalConfidence).
// - Traffic split: |observed - expected| beyond z=4 standard deviations (see splitCheck).
// - Latency: p95 over max-latency with >= 20 samples (see latencyCheck).

import type { VerifySettings } from '../lib/types.js';
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
// Success rate: sequential rule

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

// ---------------------------------------------------------------------------------------------
// Latency

export interface LatencyCheckOptions {
  /** Samples a version needs before its latency is judged at all. Default 20. */
  minSamples?: number;
  /** Planned number of responses of this version in the whole step, for the early "certain" rule. */
  planned?: number;
  final?: boolean;
}

/**
 * p95 latency rule for one version (or for all responses), counting responses slower than max.
 * Nothing is judged below minSamples (20): the first responses of a fresh pod are often slow
 * (connection set-up, JIT warm-up) and say nothing about its steady state.
 * - 'fail' early when already more than 5% of the PLANNED responses of the step were slower than
 *   max: the end-of-bake p95 must then exceed max even if every later response is fast;
 * - 'fail' early when the slow fraction is conclusively above 5% by the same one-sided SPRT as the
 *   success rate (a response "succeeds" when it is not slower than max, threshold 95%, alpha 1%);
 * - at the end, 'fail' when the observed nearest-rank p95 exceeds max; else 'pass'.
 */
export function latencyCheck(
  stats: VersionStats,
  maxMs: number,
  opts: LatencyCheckOptions = {},
): { decision: Decision; p95Ms?: number; slow: number; n: number } {
  const n = stats.requests;
  const slow = stats.countAbove(maxMs);
  const done: Decision = opts.final ? 'pass' : 'continue';
  if (n < (opts.minSamples ?? 20)) return { decision: done, slow, n };
  if (opts.planned !== undefined && slow > 0.05 * opts.planned) return { decision: 'fail', slow, n };
  if (decideSuccess(n - slow, n, 0.95) === 'fail') return { decision: 'fail', slow, n };
  if (!opts.final) return { decision: 'continue', slow, n };
  const p95Ms = stats.percentile(95)!;
  return { decision: p95Ms > maxMs ? 'fail' : 'pass', p95Ms, slow, n };
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
  version: 'canary' | 'stable' | 'unknown';
}

/** Accumulated figures of one step. */
export class StepState {
  readonly total: VersionStats;
  readonly canary: VersionStats;
  readonly stable: VersionStats;
  /**
   * Planned number of responses of the whole step (rps * bake seconds), for the latency rule's
   * "already certain" shortcut. Optional.
   */
  plannedRequests?: number;

  constructor(opts: { maxLatencyMs?: number; plannedRequests?: number } = {}) {
    this.total = new VersionStats(opts.maxLatencyMs);
    this.canary = new VersionStats(opts.maxLatencyMs);
    this.stable = new VersionStats(opts.maxLatencyMs);
    this.plannedRequests = opts.plannedRequests;
  }

  add(o: Observation): void {
    this.total.add(o.good, o.latencyMs);
    if (o.version === 'canary') this.canary.add(o.good, o.latencyMs);
    else if (o.version === 'stable') this.stable.add(o.good, o.latencyMs);
  }
}

export interface StepEvaluation {
  verdict: 'continue' | 'passed' | 'failed';
  reason?: string;
  /** Set when canary-match is configured (the split is measurable). */
  split?: SplitCheckResult;
}

export interface EvaluateOptions {
  decide?: Omit<DecideOptions, 'final'>;
  z?: number;
  split?: SplitCheckOptions;
  /** Split judged before the end only from this many responses on. Default 100 (see below). */
  earlySplitMinTotal?: number;
  latencyMinSamples?: number;
}

/**
 * Combine the rules for one step at canary weight `weight` (percent). Judged in this order; the
 * first failing check gives the reason:
 *  1. success rate of the canary, then of the stable (only with canary-match), then of all
 *     responses (always: it also covers responses that have no version, e.g. timeouts);
 *  2. p95 latency (when max-latency is set): canary, then stable with canary-match, else all responses;
 *  3. traffic split (only with canary-match): at the end from 30 responses on, before the end only
 *     from `earlySplitMinTotal` (100) on, so that the first seconds of a step, while the gateway
 *     may still route by the previous weights, cannot fail it on their own. A wrong split is no
 *     danger to users (errors of whatever receives traffic are caught by 1.), so waiting is cheap.
 * Before the end the verdict is 'failed' or 'continue'; at the end (final) 'failed' or 'passed'.
 */
export function evaluateStep(
  state: StepState,
  settings: VerifySettings,
  weight: number,
  final: boolean,
  opts: EvaluateOptions = {},
): StepEvaluation {
  const perVersion = settings.canaryMatch !== undefined;
  const threshold = settings.successRate;
  const streams: Array<{ name: string; stats: VersionStats; share: number }> = perVersion
    ? [
        { name: 'canary', stats: state.canary, share: weight / 100 },
        { name: 'stable', stats: state.stable, share: 1 - weight / 100 },
        { name: 'all responses', stats: state.total, share: 1 },
      ]
    : [{ name: 'all responses', stats: state.total, share: 1 }];

  for (const s of streams) {
    const r = decideSuccessDetailed(s.stats.good, s.stats.requests, threshold, { ...opts.decide, final });
    if (r.decision === 'fail') {
      const subject = s.name === 'all responses' ? 'success rate of all responses' : `${s.name} success rate`;
      const rate = `${pct(s.stats.good / s.stats.requests)} (${s.stats.good}/${s.stats.requests})`;
      const how =
        r.kind === 'final'
          ? `is below ${pct(threshold, true)} (${pct(opts.decide?.finalConfidence ?? 0.95, true)} confidence)`
          : `is conclusively below ${pct(threshold, true)}`;
      return { verdict: 'failed', reason: `${subject} ${rate} ${how}`, split: splitOf() };
    }
  }

  if (settings.maxLatencyMs !== undefined) {
    const max = settings.maxLatencyMs;
    // With canary-match only per version: a slow canary is then named as such (responses without a
    // version are timeouts, which the success rate already counts as bad).
    for (const s of perVersion ? streams.slice(0, 2) : streams) {
      const planned = state.plannedRequests !== undefined ? state.plannedRequests * s.share : undefined;
      const r = latencyCheck(s.stats, max, { final, planned, minSamples: opts.latencyMinSamples });
      if (r.decision === 'fail') {
        const subject = s.name === 'all responses' ? 'p95 latency of all responses' : `${s.name} p95 latency`;
        const reason =
          r.p95Ms !== undefined
            ? `${subject} ${fmtMs(r.p95Ms)} exceeds ${fmtMs(max)} (${r.slow} of ${r.n} responses slower)`
            : `${subject} is conclusively above ${fmtMs(max)}: ${r.slow} of ${r.n} responses slower`;
        return { verdict: 'failed', reason, split: splitOf() };
      }
    }
  }

  const split = splitOf();
  if (split && !split.ok) {
    const n = state.canary.requests + state.stable.requests;
    const judgeNow = final || n >= (opts.earlySplitMinTotal ?? 100);
    if (judgeNow) {
      return {
        verdict: 'failed',
        reason:
          `observed canary share ${pct(split.observed)} (${state.canary.requests}/${n}) is outside the ` +
          `expected ${pct(split.low)}–${pct(split.high)} for weight ${weight}%`,
        split,
      };
    }
  }

  if (!final) return { verdict: 'continue', split };
  return { verdict: 'passed', reason: passReason(state, settings, weight, streams, split), split };

  function splitOf(): SplitCheckResult | undefined {
    if (!perVersion) return undefined;
    const n = state.canary.requests + state.stable.requests;
    return splitCheck(state.canary.requests, n, weight / 100, opts.z ?? 4, opts.split);
  }
}

function passReason(
  state: StepState,
  settings: VerifySettings,
  weight: number,
  streams: Array<{ name: string; stats: VersionStats }>,
  split: SplitCheckResult | undefined,
): string {
  if (state.total.requests === 0) return 'no probe responses were received during the bake';
  const shown = streams.length > 1 ? streams.slice(0, 2) : streams;
  const parts = shown.map((s) =>
    s.stats.requests === 0
      ? `${s.name}: no responses`
      : `${s.name} ${pct(s.stats.good / s.stats.requests)} (${s.stats.good}/${s.stats.requests})`,
  );
  let text = `success rate ${parts.join(', ')} meets ${pct(settings.successRate, true)}`;
  if (settings.maxLatencyMs !== undefined) {
    const p95s = shown
      .filter((s) => s.stats.requests > 0)
      .map((s) => `${shown.length > 1 ? `${s.name} ` : ''}${fmtMs(s.stats.percentile(95)!)}`);
    if (p95s.length) text += `; p95 ${p95s.join(', ')} within ${fmtMs(settings.maxLatencyMs)}`;
  }
  if (split) {
    text += split.judged
      ? `; canary share ${pct(split.observed)} within ${pct(split.low)}–${pct(split.high)} for weight ${weight}%`
      : `; canary share ${pct(split.observed)} not judged (too few responses)`;
  }
  return text;
}

/** 0.987 -> "98.7%"; compact (for thresholds): 0.99 -> "99%", 0.995 -> "99.5%". */
export function pct(x: number, compact = false): string {
  const v = x * 100;
  if (compact) return `${Number.parseFloat(v.toFixed(2))}%`;
  return `${v.toFixed(1)}%`;
}

function fmtMs(ms: number): string {
  return ms >= 10 ? `${Math.round(ms)} ms` : `${Number.parseFloat(ms.toFixed(1))} ms`;
}
