// Verification of one rollout step: probe the gateway for the bake time, judge after every
// response (stop at once on a conclusive failure), judge once more at the end, then run the
// user's verify-command. Never throws for a failing or unreachable service: that is a verdict.

import type { VerifySettings } from '../lib/types.js';
import type { VersionFigures } from '../lib/types.js';
import { evaluateStep, StepState, type EvaluateOptions, type StepEvaluation } from './analysis.js';
import { Prober, type ProberOptions, type ProbeResult } from './prober.js';
import { runVerifyCommand, type VerifyCommandResult } from './verify-command.js';

export interface StepProgress {
  elapsedMs: number;
  bakeMs: number;
  weight: number;
  total: VersionFigures;
  stable?: VersionFigures;
  canary?: VersionFigures;
  /** Canary share of version-classified responses (with canary-match). */
  observedCanaryShare?: number;
  expectedShareRange?: [number, number];
}

export interface VerifyStepOptions {
  verify: VerifySettings;
  /** Canary weight of the step in percent. */
  weight: number;
  bakeMs: number;
  signal?: AbortSignal;
  onProgress?: (snapshot: StepProgress) => void;
  /** Default 5000. */
  progressEveryMs?: number;
  /** Wall clock, epoch ms. Default Date.now. */
  now?: () => number;
  /** Origin (epoch ms) of the samples' t, e.g. the run's start. Default: the step's start. */
  timeOrigin?: number;
  /** Facts for the verify-command's environment. */
  facts?: { canaryRelease: string; stableRelease?: string; namespace: string };
  /** Time limit of the verify-command. Default: none. */
  commandTimeoutMs?: number;
  evaluate?: EvaluateOptions;
  prober?: ProberOptions;
}

export interface StepVerification {
  verdict: 'passed' | 'failed' | 'cancelled';
  /** One sentence. */
  reason: string;
  total: VersionFigures;
  stable?: VersionFigures;
  canary?: VersionFigures;
  observedCanaryShare?: number;
  expectedShareRange?: [number, number];
  samples: Array<{ t: number; weight: number; canarySuccess?: number }>;
  startedAt: string; // ISO
  endedAt: string; // ISO
  /** True when the probing stopped before the bake time was over (failure or cancel). */
  stoppedEarly: boolean;
  /** Set when the verify-command ran. */
  command?: VerifyCommandResult;
}

export async function verifyStep(opts: VerifyStepOptions): Promise<StepVerification> {
  const now = opts.now ?? Date.now;
  const { verify, weight, bakeMs, signal } = opts;
  const startedMs = now();
  const origin = opts.timeOrigin ?? startedMs;
  const perVersion = verify.canaryMatch !== undefined;
  const state = new StepState({
    maxLatencyMs: verify.maxLatencyMs,
    plannedRequests: (verify.rps * bakeMs) / 1000,
  });
  const samples: StepVerification['samples'] = [];

  const sample = (): void => {
    samples.push({
      t: Math.round((now() - origin) / 100) / 10,
      weight,
      ...(perVersion && state.canary.requests > 0 ? { canarySuccess: state.canary.successRate } : {}),
    });
  };
  const result = (
    verdict: StepVerification['verdict'],
    reason: string,
    stoppedEarly: boolean,
    ev?: StepEvaluation,
  ): StepVerification => {
    const r: StepVerification = {
      verdict,
      reason,
      total: state.total.figures(),
      samples,
      startedAt: new Date(startedMs).toISOString(),
      endedAt: new Date(now()).toISOString(),
      stoppedEarly,
    };
    if (perVersion) {
      r.stable = state.stable.figures();
      r.canary = state.canary.figures();
      const split = ev?.split;
      if (split) {
        r.observedCanaryShare = split.observed;
        r.expectedShareRange = [split.low, split.high];
      }
    }
    return r;
  };

  if (signal?.aborted) return result('cancelled', 'verification was cancelled before it started', true);

  // No URL: just wait the bake time.
  if (!verify.url) {
    const completed = await sleep(bakeMs, signal);
    if (!completed)
      return result('cancelled', `verification was cancelled after ${secs(now() - startedMs)}`, true);
    return withCommand(
      result('passed', 'no HTTP verification was configured (no verify url); waited the bake time', false),
    );
  }

  let failure: StepEvaluation | undefined;
  let wake!: () => void;
  const woken = new Promise<void>((resolve) => (wake = resolve));
  let prober: Prober;
  try {
    prober = new Prober(
      verify,
      (r: ProbeResult) => {
        state.add(r);
        if (failure) return;
        const ev = evaluateStep(state, verify, weight, false, opts.evaluate);
        if (ev.verdict === 'failed') {
          failure = ev;
          wake();
        }
      },
      opts.prober,
    );
  } catch (err) {
    return result('failed', `cannot probe: ${(err as Error).message}`, true);
  }

  const onAbort = (): void => wake();
  signal?.addEventListener('abort', onAbort, { once: true });
  const bakeTimer = setTimeout(wake, bakeMs);
  const progressTimer = setInterval(() => {
    sample();
    if (opts.onProgress) {
      const ev = perVersion ? evaluateStep(state, verify, weight, false, opts.evaluate) : undefined;
      const snap: StepProgress = {
        elapsedMs: now() - startedMs,
        bakeMs,
        weight,
        total: state.total.figures(),
      };
      if (perVersion) {
        snap.stable = state.stable.figures();
        snap.canary = state.canary.figures();
        if (ev?.split) {
          snap.observedCanaryShare = ev.split.observed;
          snap.expectedShareRange = [ev.split.low, ev.split.high];
        }
      }
      try {
        opts.onProgress(snap);
      } catch {
        // Progress is informational; a failing logger must not change the verdict.
      }
    }
  }, opts.progressEveryMs ?? 5000);

  try {
    prober.start();
    await woken;
    const early = failure !== undefined || signal?.aborted === true;
    if (early) {
      await prober.stop({ abort: true });
    } else {
      // Bake time over: let the requests in flight finish (each bounded by the timeout), unless
      // cancelled meanwhile.
      const drained = prober.stop();
      const onAbortDrain = (): void => void prober.stop({ abort: true });
      signal?.addEventListener('abort', onAbortDrain, { once: true });
      await drained;
      signal?.removeEventListener('abort', onAbortDrain);
    }
  } finally {
    clearTimeout(bakeTimer);
    clearInterval(progressTimer);
    signal?.removeEventListener('abort', onAbort);
  }
  sample();

  if (signal?.aborted && !failure) {
    return result('cancelled', `verification was cancelled after ${secs(now() - startedMs)}`, true);
  }
  if (failure) {
    const elapsed = now() - startedMs;
    const early = elapsed < bakeMs;
    return result(
      'failed',
      `${failure.reason}${early ? ` (after ${secs(elapsed)} of the ${secs(bakeMs)} bake)` : ''}`,
      early,
      failure,
    );
  }
  const final = evaluateStep(state, verify, weight, true, opts.evaluate);
  if (final.verdict === 'failed') return result('failed', final.reason!, false, final);
  return withCommand(result('passed', final.reason!, false, final));

  async function withCommand(passed: StepVerification): Promise<StepVerification> {
    if (!verify.command) return passed;
    const facts = opts.facts;
    const cmd = await runVerifyCommand(
      verify.command,
      {
        CANARY_WEIGHT: String(weight),
        CANARY_RELEASE: facts?.canaryRelease ?? '',
        STABLE_RELEASE: facts?.stableRelease ?? '',
        NAMESPACE: facts?.namespace ?? '',
      },
      opts.commandTimeoutMs,
      signal,
    );
    passed.command = cmd;
    passed.endedAt = new Date(now()).toISOString();
    if (cmd.cancelled) {
      passed.verdict = 'cancelled';
      passed.reason = 'verify-command was stopped: the run was cancelled';
      return passed;
    }
    if (cmd.exitCode === 0) {
      passed.reason = `${passed.reason}; verify-command succeeded`;
      return passed;
    }
    const last = cmd.outputTail.split('\n').pop()?.trim();
    passed.verdict = 'failed';
    passed.reason = cmd.timedOut
      ? `verify-command timed out after ${secs(opts.commandTimeoutMs ?? 0)}`
      : `verify-command exited with code ${cmd.exitCode}${last ? `: ${truncate(last, 200)}` : ''}`;
    return passed;
  }
}

/** Resolves true after ms, false as soon as the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function secs(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${Number.parseFloat(s.toFixed(1))} s`;
  if (s < 120) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  return r ? `${m} min ${r} s` : `${m} min`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/**
 * One progress line for the log, e.g.
 * `12 s of 60 s at weight 10%: canary 6/6 good (100.0%), stable 54/54 good (100.0%), canary share
 * 10.0% (expected 0.0%–30.2%), p95 23 ms`. Contains figures only (never header values).
 */
export function describeProgress(p: StepProgress): string {
  const fig = (name: string, f: VersionFigures): string =>
    f.requests === 0
      ? `${name} no responses`
      : `${name} ${f.good}/${f.requests} good (${((100 * f.good) / f.requests).toFixed(1)}%)`;
  const parts =
    p.canary && p.stable ? [fig('canary', p.canary), fig('stable', p.stable)] : [fig('all', p.total)];
  if (p.observedCanaryShare !== undefined && p.expectedShareRange) {
    const [lo, hi] = p.expectedShareRange;
    parts.push(
      `canary share ${(100 * p.observedCanaryShare).toFixed(1)}% (expected ${(100 * lo).toFixed(1)}%–${(100 * hi).toFixed(1)}%)`,
    );
  }
  if (p.total.p95Ms !== undefined) parts.push(`p95 ${Math.round(p.total.p95Ms)} ms`);
  return `${secs(p.elapsedMs)} of ${secs(p.bakeMs)} at weight ${p.weight}%: ${parts.join(', ')}`;
}
