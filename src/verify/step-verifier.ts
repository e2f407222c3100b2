// Verification of one rollout step: probe the gateway (pinned probes that the canary header routes
// to the canary, alternating with unpinned ones on the users' path), let the routing change settle
// (those responses are not judged), judge after every response (stop at once on a conclusive
// failure), judge once more at the end of the bake — and while the evidence is inconclusive keep
// probing up to max-bake — then run the user's verify-command. Also the baseline burst of the
// current stable before anything is installed. Never throws for a failing or unreachable service:
// that is a verdict.

import type { VerifySettings } from '../lib/types.js';
import type { MetricsStepFigures, StepEvidenceFigures, VersionFigures } from '../lib/types.js';
import {
  evaluateStep,
  evidenceFigures,
  StepState,
  type EvaluateOptions,
  type Observation,
  type SplitCheckResult,
  type StepEvaluation,
  type StepPhase,
} from './analysis.js';
import { describeSetupProblem } from './diagnose.js';
import { Prober, type PinOptions, type ProberOptions, type ProbeResult } from './prober.js';
import { runVerifyCommand, type VerifyCommandResult } from './verify-command.js';

export interface StepProgress {
  elapsedMs: number;
  bakeMs: number;
  weight: number;
  total: VersionFigures;
  stable?: VersionFigures;
  canary?: VersionFigures;
  /** Canary share of version-classified responses on the users' path (with canary-match). */
  observedCanaryShare?: number;
  expectedShareRange?: [number, number];
  /** Still settling after the routing change: responses are not judged yet. */
  settling?: boolean;
  /** Past the bake, extended towards max-bake because the evidence is inconclusive. */
  extended?: boolean;
}

/** The rule that judges a step (analysis.ts's evaluateStep; tests pass their own). */
export type StepRule = typeof evaluateStep;

export interface VerifyStepOptions {
  verify: VerifySettings;
  /** Canary weight of the step in percent (100 for the pre-traffic check: pinned probes only). */
  weight: number;
  bakeMs: number;
  /** Longest the step may run while its evidence is inconclusive. Default bakeMs (never extended). */
  maxBakeMs?: number;
  /** Probing during this long after the routing change is not judged. Default 0. */
  settleMs?: number;
  /** Probes pinned to the canary with its header: all of them, or every other one. Default none. */
  pin?: PinOptions;
  /** Run verify-command after the probing passed. Default true. */
  runCommand?: boolean;
  signal?: AbortSignal;
  onProgress?: (snapshot: StepProgress) => void;
  /** Told once when the bake is over and the step extends towards max-bake. */
  onExtend?: (line: string) => void;
  /** Default 5000. */
  progressEveryMs?: number;
  /** Wall clock, epoch ms. Default Date.now. */
  now?: () => number;
  /** Origin (epoch ms) of the samples' t, e.g. the run's start. Default: the step's start. */
  timeOrigin?: number;
  /** Facts for the verify-command's environment. */
  facts?: { canaryRelease: string; stableRelease?: string; namespace: string };
  /** The verify-command's KUBECONFIG (the run's kubeconfig file); default the inherited one. */
  kubeconfigPath?: string;
  /** Every text of the verify-command that reaches the log or a report passes through it. */
  redact?: (text: string) => string;
  /** Time limit of the verify-command. Default: none. */
  commandTimeoutMs?: number;
  evaluate?: EvaluateOptions;
  /** Default evaluateStep (analysis.ts). */
  rule?: StepRule;
  prober?: ProberOptions;
}

export interface StepVerification {
  verdict: 'passed' | 'failed' | 'cancelled';
  /** One sentence. */
  reason: string;
  /** Every judged response (settling ones excluded). */
  total: VersionFigures;
  /** With canary-match: users' responses that came from the stable. */
  stable?: VersionFigures;
  /** Responses known to come from the canary: pinned ones, and with canary-match the users' ones. */
  canary?: VersionFigures;
  /** Canary share of the users' version-classified responses (with canary-match). */
  observedCanaryShare?: number;
  expectedShareRange?: [number, number];
  samples: Array<{ t: number; weight: number; canarySuccess?: number }>;
  startedAt: string; // ISO
  endedAt: string; // ISO
  /** True when the probing stopped before the bake time was over (failure or cancel). */
  stoppedEarly: boolean;
  /** How long past the bake the step ran because the evidence was inconclusive (ms). */
  extendedMs?: number;
  /** Responses received while settling (not judged). */
  settlingResponses?: number;
  /** Per-version evidence behind the verdict (responses, failures, decision, its confidence). */
  evidence?: StepEvidenceFigures;
  /** Set by the metrics signal (metrics/metrics-verifier.ts). */
  metrics?: MetricsStepFigures;
  /** Set when the verify-command ran. */
  command?: VerifyCommandResult;
}

/**
 * A probe response as the analysis takes it. A pinned response is the canary's by construction,
 * whatever the weight; with canary-match its marker still says which version answered (a pinned
 * response from the stable means the pin did not reach the canary, see StepState.misrouted).
 */
export function observationOf(
  r: Pick<ProbeResult, 'good' | 'latencyMs' | 'version' | 'pinned'>,
  canaryMatch = false,
): Observation {
  if (!r.pinned) return { good: r.good, latencyMs: r.latencyMs, version: r.version };
  const o: Observation = { good: r.good, latencyMs: r.latencyMs, version: 'pinned' };
  if (canaryMatch) o.marker = r.version;
  return o;
}

/** The responses of one step: what the rule judges, and the figures the report shows. */
class Evidence {
  readonly state: StepState;

  constructor(
    private readonly verify: VerifySettings,
    private readonly weight: number,
    private readonly rule: StepRule,
    private readonly opts: EvaluateOptions | undefined,
    private readonly pinMode: PinOptions['mode'] | undefined,
  ) {
    this.state = new StepState({ maxLatencyMs: verify.maxLatencyMs });
  }

  add(r: ProbeResult): void {
    this.state.add(observationOf(r, this.verify.canaryMatch !== undefined));
  }

  judge(phase: StepPhase): StepEvaluation {
    return this.rule(this.state, this.verify, this.weight, phase, this.opts);
  }

  /** The users' split for the report (with canary-match); none when every probe is pinned. */
  split(judged: StepEvaluation | undefined): SplitCheckResult | undefined {
    if (!this.verify.canaryMatch || this.pinMode === 'all') return undefined;
    return judged?.split;
  }
}

export async function verifyStep(opts: VerifyStepOptions): Promise<StepVerification> {
  const now = opts.now ?? Date.now;
  const { verify, weight, bakeMs, signal } = opts;
  const settleMs = Math.max(0, opts.settleMs ?? 0);
  const maxBakeMs = Math.max(bakeMs, opts.maxBakeMs ?? bakeMs);
  const rule = opts.rule ?? evaluateStep;
  const startedMs = now();
  const origin = opts.timeOrigin ?? startedMs;
  const perVersion = verify.canaryMatch !== undefined;
  const ev = new Evidence(verify, weight, rule, opts.evaluate, opts.pin?.mode);
  const st = ev.state;
  const samples: StepVerification['samples'] = [];
  let settling = settleMs > 0;
  let settlingResponses = 0;
  let judgingFrom = settling ? startedMs + settleMs : startedMs;
  let extending = false;
  const knowsCanary = (): boolean => perVersion || opts.pin !== undefined;

  const sample = (): void => {
    samples.push({
      t: Math.round((now() - origin) / 100) / 10,
      weight,
      ...(knowsCanary() && st.canary.requests > 0 ? { canarySuccess: st.canary.successRate } : {}),
    });
  };
  const result = (
    verdict: StepVerification['verdict'],
    reason: string,
    stoppedEarly: boolean,
    judged?: StepEvaluation,
  ): StepVerification => {
    const r: StepVerification = {
      verdict,
      reason,
      total: st.total.figures(),
      samples,
      startedAt: new Date(startedMs).toISOString(),
      endedAt: new Date(now()).toISOString(),
      stoppedEarly,
    };
    if (knowsCanary()) r.canary = st.canary.figures();
    if (judged?.evidence)
      r.evidence = evidenceFigures(judged.evidence, verify.successRate, opts.evaluate?.evidence);
    if (perVersion) {
      r.stable = st.stable.figures();
      const split = ev.split(judged);
      if (split) {
        r.observedCanaryShare = split.observed;
        r.expectedShareRange = [split.low, split.high];
      }
    }
    if (settleMs > 0) r.settlingResponses = settlingResponses;
    if (extending) r.extendedMs = Math.max(0, now() - judgingFrom - bakeMs);
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

  // A step planned with no bake time ("100@0s") is not judged: there is no evidence to gather.
  if (bakeMs <= 0)
    return withCommand(result('passed', 'no bake time at this weight (0 s): not verified here', false));

  let decided: StepEvaluation | undefined;
  let poke: (() => void) | undefined;
  let prober: Prober;
  try {
    prober = new Prober(
      verify,
      (r: ProbeResult) => {
        if (settling) {
          settlingResponses++;
          return;
        }
        ev.add(r);
        if (decided) return;
        // Before the end only a conclusive failure stops a step; past the bake a pass does too.
        const e = ev.judge(extending ? 'bake-end' : 'running');
        if (e.verdict === 'failed' || e.verdict === 'passed') {
          decided = e;
          poke?.();
        }
      },
      { ...opts.prober, pin: opts.pin },
    );
  } catch (err) {
    return result('failed', `cannot probe: ${(err as Error).message}`, true);
  }

  /** Resolves after ms, or at once on a decision or an abort. */
  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (ms <= 0 || decided || signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(t);
        poke = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      poke = done;
    });
  const onAbort = (): void => poke?.();
  signal?.addEventListener('abort', onAbort, { once: true });
  const progressTimer = setInterval(() => {
    sample();
    if (!opts.onProgress) return;
    const judged = perVersion && !settling ? ev.judge('running') : undefined;
    const snap: StepProgress = {
      elapsedMs: now() - judgingFrom,
      bakeMs,
      weight,
      total: st.total.figures(),
    };
    if (settling) snap.settling = true;
    if (extending) snap.extended = true;
    if (knowsCanary()) snap.canary = st.canary.figures();
    if (perVersion) {
      snap.stable = st.stable.figures();
      const split = ev.split(judged);
      if (split) {
        snap.observedCanaryShare = split.observed;
        snap.expectedShareRange = [split.low, split.high];
      }
    }
    try {
      opts.onProgress(snap);
    } catch {
      // Progress is informational; a failing logger must not change the verdict.
    }
  }, opts.progressEveryMs ?? 5000);

  try {
    prober.start();
    if (settling) {
      await wait(settleMs);
      settling = false;
      judgingFrom = now();
    }
    await wait(bakeMs);
    if (!decided && !signal?.aborted) {
      const atBake = ev.judge('bake-end');
      if (atBake.verdict !== 'extend') decided = atBake;
      else if (maxBakeMs > bakeMs) {
        extending = true;
        opts.onExtend?.(
          `The evidence is inconclusive at the end of the ${secs(bakeMs)} bake; probing on for up to ${secs(maxBakeMs - bakeMs)} more (max-bake ${secs(maxBakeMs)}).`,
        );
        await wait(maxBakeMs - bakeMs);
      }
    }
    if (decided || signal?.aborted) {
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
    clearInterval(progressTimer);
    signal?.removeEventListener('abort', onAbort);
    poke = undefined;
  }
  sample();

  if (signal?.aborted && !decided) {
    return result('cancelled', `verification was cancelled after ${secs(now() - startedMs)}`, true);
  }
  const elapsed = now() - judgingFrom;
  if (decided?.verdict === 'failed') {
    const early = elapsed < bakeMs;
    return result(
      'failed',
      `${decided.reason}${early ? ` (after ${secs(elapsed)} of the ${secs(bakeMs)} bake)` : ''}`,
      early,
      decided,
    );
  }
  // Neither decided at the end of the bake nor during the extension: the last judgment.
  const final = decided ?? ev.judge('max-bake');
  const extendedBy = extending
    ? ` (decided ${secs(Math.max(0, elapsed - bakeMs))} past the ${secs(bakeMs)} bake)`
    : '';
  if (final.verdict === 'failed') return result('failed', `${final.reason!}${extendedBy}`, false, final);
  if (final.verdict !== 'passed')
    return result(
      'failed',
      `the evidence was still inconclusive after ${secs(elapsed)} (max-bake ${secs(maxBakeMs)})${final.reason ? `: ${final.reason}` : ''}`,
      false,
      final,
    );
  return withCommand(result('passed', `${final.reason!}${extendedBy}`, false, final));

  async function withCommand(passed: StepVerification): Promise<StepVerification> {
    if (!verify.command || opts.runCommand === false) return passed;
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
      { kubeconfigPath: opts.kubeconfigPath, redact: opts.redact },
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

export interface BaselineOptions {
  verify: VerifySettings;
  /**
   * Nothing is live behind the route yet (a first deployment): any HTTP answer will do; only a
   * transport problem (DNS, refused, TLS, timeout) fails.
   */
  reachabilityOnly?: boolean;
  signal?: AbortSignal;
  rule?: StepRule;
  evaluate?: EvaluateOptions;
  prober?: ProberOptions;
  now?: () => number;
}

export interface BaselineVerification {
  verdict: 'passed' | 'failed' | 'cancelled';
  /** One sentence; for a failure what is wrong with the setup and the remedy. */
  reason: string;
  total: VersionFigures;
  startedAt: string;
  endedAt: string;
}

/** How many probes the baseline sends: five seconds' worth at verify-rps, at most 20. */
export function baselineCount(rps: number): number {
  return Math.min(20, Math.max(1, Math.ceil(rps * 5)));
}

/**
 * The baseline before anything is installed: a short burst of unpinned probes (users' path, the
 * current stable) at verify-rps, judged by the same criteria (stops at a conclusive failure). A
 * failure names the cause from Node's error codes and the responses (DNS, refused, TLS, timeout,
 * status, body) with its remedy. With canary-match, a stable response carrying the canary's
 * marker is a failure too: canary-match could not tell the versions apart.
 */
export async function verifyBaseline(opts: BaselineOptions): Promise<BaselineVerification> {
  const now = opts.now ?? Date.now;
  const { verify, signal } = opts;
  const rule = opts.rule ?? evaluateStep;
  const startedMs = now();
  const n = baselineCount(verify.rps);
  const state = new StepState({ maxLatencyMs: verify.maxLatencyMs });
  const results: ProbeResult[] = [];
  const end = (verdict: BaselineVerification['verdict'], reason: string): BaselineVerification => ({
    verdict,
    reason,
    total: state.total.figures(),
    startedAt: new Date(startedMs).toISOString(),
    endedAt: new Date(now()).toISOString(),
  });
  if (!verify.url) return end('passed', 'no verify-url: nothing to probe');
  if (signal?.aborted) return end('cancelled', 'the baseline check was cancelled');

  let failed: StepEvaluation | undefined;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  // An answer of nothing live (503 no healthy upstream) is an answer: the gateway was reached.
  const answered = (r: ProbeResult): ProbeResult =>
    opts.reachabilityOnly && r.status !== undefined ? { ...r, good: true, failure: undefined } : r;
  let prober: Prober;
  try {
    prober = new Prober(
      verify,
      (raw) => {
        if (results.length >= n || failed) return;
        const r = answered(raw);
        results.push(r);
        // Nothing is installed yet: every response is the users' path, whatever its marker says.
        state.add(observationOf({ ...r, version: 'unknown' }));
        const e = rule(state, verify, 0, 'running', opts.evaluate);
        if (e.verdict === 'failed') failed = e;
        if (failed || results.length >= n) done();
      },
      opts.prober,
    );
  } catch (err) {
    return end('failed', `cannot probe: ${(err as Error).message}`);
  }
  const onAbort = (): void => done();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    prober.start();
    await finished;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await prober.stop({ abort: true });
  }
  if (signal?.aborted) return end('cancelled', 'the baseline check was cancelled');
  const facts = {
    url: verify.url,
    host: verify.host,
    timeoutMs: verify.timeoutMs,
    ca: verify.ca !== undefined,
  };
  // There is no canary yet: only the users' path (the stable) is judged, as at the end of a bake
  // (the canary's missing evidence makes that 'extend', which is no failure here).
  const verdict = failed ?? rule(state, verify, 0, 'bake-end', opts.evaluate);
  if (verdict.verdict === 'failed')
    return end(
      'failed',
      results.some((r) => !r.good)
        ? describeSetupProblem(results, facts)
        : `the current stable does not meet the criteria: ${verdict.reason ?? 'no reason given'}`,
    );
  const marked = results.filter((r) => r.version === 'canary').length;
  if (opts.reachabilityOnly) {
    const statuses = [...new Set(results.map((r) => r.status))].join(', ');
    return end('passed', `verify-url answers (HTTP ${statuses}); nothing is live behind the route yet`);
  }
  if (marked > 0 && verify.canaryMatch) {
    const m = verify.canaryMatch;
    const what = m.kind === 'header' ? `header:${m.name}=${m.value}` : `body:${m.pattern.source}`;
    return end(
      'failed',
      `canary-match (${what}) matches ${marked} of ${results.length} responses of the current stable, so it cannot tell the new release from the stable: use a marker only the new version sends`,
    );
  }
  const f = state.total.figures();
  return end(
    'passed',
    `the current stable answered ${f.good}/${f.requests} probes as the criteria ask${f.p95Ms !== undefined ? ` (p95 ${Math.round(f.p95Ms)} ms)` : ''}`,
  );
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
  if (p.settling) return `settling after the routing change at weight ${p.weight}%: responses not judged yet`;
  const parts =
    p.canary && p.stable
      ? [fig('canary', p.canary), fig('stable', p.stable)]
      : p.canary
        ? [fig('all', p.total), fig('canary', p.canary)]
        : [fig('all', p.total)];
  if (p.observedCanaryShare !== undefined && p.expectedShareRange) {
    const [lo, hi] = p.expectedShareRange;
    parts.push(
      `canary share ${(100 * p.observedCanaryShare).toFixed(1)}% (expected ${(100 * lo).toFixed(1)}%–${(100 * hi).toFixed(1)}%)`,
    );
  }
  if (p.total.p95Ms !== undefined) parts.push(`p95 ${Math.round(p.total.p95Ms)} ms`);
  const extended = p.extended ? ' (extended: evidence inconclusive)' : '';
  return `${secs(p.elapsedMs)} of ${secs(p.bakeMs)}${extended} at weight ${p.weight}%: ${parts.join(', ')}`;
}
