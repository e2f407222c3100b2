// The metrics signal in a step's verdict: wraps the step's VerifyFn (probes, verify-command) and
// judges Prometheus's figures every `metrics-interval` beside it. A step fails as soon as either
// signal conclusively fails (the other is stopped), and passes only when both pass: the metrics
// need sufficient evidence from the bake's end on (extended up to max-bake while inconclusive,
// like the probes). The baseline and the pre-traffic check are the probes' alone.
import type { MetricsSettings, MetricsStepFigures } from '../lib/types.js';
import type { VerifyFn, VerifyRequest } from '../verify/verifier.js';
import type { StepPhase } from '../verify/analysis.js';
import {
  judgeMetrics,
  type MetricsFigures,
  type MetricsThresholds,
  type VersionMetrics,
} from './metrics-analysis.js';
import { collectMetrics, type MetricsTargets } from './metrics-helper.js';
import type { IPrometheus } from './prometheus-helper.js';

export interface MetricsVerifierOptions {
  prom: IPrometheus;
  metrics: MetricsSettings;
  thresholds: MetricsThresholds;
  maxLatencyMs?: number;
  /** The workloads of this run (known after preflight rendered the chart). */
  targets: () => MetricsTargets | undefined;
  now?: () => number;
}

type Verification = Awaited<ReturnType<VerifyFn>>;

/** One line of the figures, for progress and the reason. */
export function describeFigures(f: MetricsFigures): string {
  const v = (who: string, m?: VersionMetrics) =>
    !m
      ? []
      : m.requests === undefined
        ? [`${who} no data`]
        : [
            `${who} ${m.requests} requests, ${m.errors ?? 0} errors${m.p95Ms !== undefined ? `, p95 ${Math.round(m.p95Ms)} ms` : ''}${m.reporter === 'source' ? ' (gateway series: no sidecar)' : ''}`,
          ];
  const custom = f.custom.map((c) => `${c.name} ${c.value === undefined ? 'no data' : String(c.value)}`);
  return [...v('canary', f.canary), ...v('stable', f.stable), ...custom].join('; ');
}

/** The figures as the report keeps them. */
export function reportFigures(f: MetricsFigures, verdict: MetricsStepFigures['verdict']): MetricsStepFigures {
  const version = (m?: VersionMetrics) =>
    m && {
      requests: m.requests,
      errors: m.errors,
      p95Ms: m.p95Ms,
      reporter: m.reporter,
      query: m.queries[0] ?? '',
    };
  return {
    ...(f.canary ? { canary: version(f.canary) } : {}),
    ...(f.stable ? { stable: version(f.stable) } : {}),
    custom: f.custom.map((c) => ({ ...c })),
    verdict,
  };
}

export function withMetrics(inner: VerifyFn, o: MetricsVerifierOptions): VerifyFn {
  const now = o.now ?? Date.now;
  return async (r: VerifyRequest) => {
    if (r.phase === 'baseline' || r.phase === 'precheck') return inner(r);
    const targets = o.targets();
    if (!targets) return inner(r);
    const start = now();
    const maxBakeMs = Math.max(r.bakeMs, r.maxBakeMs ?? r.bakeMs);
    const stopInner = new AbortController();
    const onAbort = () => stopInner.abort(r.signal.reason);
    r.signal.addEventListener('abort', onAbort, { once: true });
    let innerResult: Verification | undefined;
    const innerDone = inner({ ...r, signal: stopInner.signal }).then((v) => (innerResult = v));
    let wake: (() => void) | undefined;
    void innerDone.finally(() => wake?.());
    const wait = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.max(0, ms));
        function done() {
          clearTimeout(t);
          r.signal.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        }
        wake = done;
        r.signal.addEventListener('abort', done, { once: true });
      });
    const finish = async (v: Verification): Promise<Verification> => {
      r.signal.removeEventListener('abort', onAbort);
      return last && !v.metrics ? { ...v, metrics: last } : v;
    };
    let last: MetricsStepFigures | undefined;
    const failWith = async (reason: string): Promise<Verification> => {
      stopInner.abort(new Error(reason));
      const base = await innerDone.catch(() => undefined);
      return finish({
        ...(base ?? { total: { requests: 0, good: 0, bad: 0 } }),
        verdict: 'failed',
        reason,
        ...(last ? { metrics: last } : {}),
      });
    };

    // Judged every metrics-interval, at the end of the bake and at max-bake.
    let nextAt = start + o.metrics.intervalMs;
    let bakeJudged = false;
    for (;;) {
      if (innerResult && innerResult.verdict !== 'passed') return finish(innerResult);
      if (r.signal.aborted) {
        await innerDone.catch(() => undefined);
        return finish(
          innerResult ?? {
            verdict: 'cancelled',
            reason: 'verification was cancelled',
            total: { requests: 0, good: 0, bad: 0 },
          },
        );
      }
      const due = Math.min(nextAt, bakeJudged ? Infinity : start + r.bakeMs, start + maxBakeMs);
      if (now() < due) {
        await wait(due - now());
        continue;
      }
      const at = now() - start;
      const phase: StepPhase = at < r.bakeMs ? 'running' : at < maxBakeMs ? 'bake-end' : 'max-bake';
      if (phase !== 'running') bakeJudged = true;
      nextAt = now() + o.metrics.intervalMs;
      let figures: MetricsFigures;
      try {
        figures = await collectMetrics(o.prom, o.metrics, targets, {
          // The evidence of this step: everything since its routing change.
          windowMs: Math.max(1000, at),
          maxLatencyMs: o.maxLatencyMs,
          signal: r.signal,
        });
      } catch (e) {
        if (r.signal.aborted) continue;
        return failWith(`metrics: ${(e as Error).message}`);
      }
      const v = judgeMetrics(figures, o.thresholds, phase);
      last = reportFigures(
        figures,
        v.verdict === 'failed' ? 'failed' : v.verdict === 'passed' ? 'passed' : 'inconclusive',
      );
      r.progress(
        `metrics (${phase}): ${describeFigures(figures)}${v.verdict === 'extend' ? ` — ${v.reason}` : ''}`,
      );
      if (v.verdict === 'failed') return failWith(`${v.reason} [${describeFigures(figures)}]`);
      if (v.verdict === 'passed') {
        const probes = await innerDone;
        if (probes.verdict !== 'passed') return finish(probes);
        return finish({ ...probes, reason: `${probes.reason}; metrics passed: ${describeFigures(figures)}` });
      }
    }
  };
}
