// Pure: the figures Prometheus gave for each version -> the metrics signal's verdict, with the
// decision code of the probes (verify/analysis.ts): decideCanary for the canary's counts in the
// step's phase, decideSuccessDetailed for the stable (no evidence of a problem needed to pass), the
// p95 latency rule on the histogram's slow count, and each custom query against its bounds.
// "No data" is never a pass: missing canary figures are missing evidence (inconclusive, then a
// failure at max-bake), a custom query without a value is inconclusive.
import {
  decideCanary,
  decideSuccessDetailed,
  latencyEvidence,
  pct,
  type StepPhase,
} from '../verify/analysis.js';

/** What the built-in queries gave for one version; undefined fields: no data. */
export interface VersionMetrics {
  /** Requests and 5xx answers in the window (counts). */
  requests?: number;
  errors?: number;
  p95Ms?: number;
  /** Requests slower than the latency bound (requests minus the bucket count at the bound). */
  slow?: number;
  /** The reporter whose series were read. */
  reporter?: 'destination' | 'source';
  /** The queries used (report). */
  queries: string[];
}

export interface CustomMetricValue {
  name: string;
  query: string;
  value?: number;
  min?: number;
  max?: number;
}

export interface MetricsFigures {
  canary?: VersionMetrics;
  stable?: VersionMetrics;
  custom: CustomMetricValue[];
}

export interface MetricsVerdict {
  /** 'extend' only at 'bake-end': the evidence is not sufficient yet. */
  verdict: 'continue' | 'passed' | 'failed' | 'extend';
  reason?: string;
  /** Checks without enough evidence (for the report and the reason at max-bake). */
  inconclusive: string[];
}

export interface MetricsThresholds {
  /** 0..1, from success-rate; set when request-success-rate is a metric. */
  successRate?: number;
  /** ms, from max-latency; set when request-duration is a metric. */
  maxLatencyMs?: number;
}

/** The metrics signal of one step in `phase`. */
export function judgeMetrics(f: MetricsFigures, t: MetricsThresholds, phase: StepPhase): MetricsVerdict {
  const inconclusive: string[] = [];
  const failed = (reason: string): MetricsVerdict => ({ verdict: 'failed', reason, inconclusive });

  if (t.successRate !== undefined) {
    const c = f.canary;
    const total = c?.requests ?? 0;
    const errors = Math.min(total, c?.errors ?? 0);
    const d = decideCanary(total - errors, total, t.successRate, phase);
    if (d.decision === 'fail') {
      if (d.kind === 'insufficient')
        return failed(
          total === 0
            ? `metrics: no data for the canary's requests in Prometheus (query ${c?.queries[0] ?? 'request-success-rate'}): not enough evidence at max-bake`
            : `metrics: the canary's ${total} requests (${errors} errors) are not enough evidence at max-bake (${d.needed} needed)`,
        );
      return failed(
        `metrics: the canary's success rate is ${pct((total - errors) / total)} (${errors} errors of ${total} requests), below ${pct(t.successRate)}`,
      );
    }
    if (d.decision === 'inconclusive')
      inconclusive.push(
        total === 0
          ? "no data for the canary's requests"
          : `the canary's ${total} requests are not enough evidence (${d.needed} needed)`,
      );

    const s = f.stable;
    if (s?.requests) {
      const sErr = Math.min(s.requests, s.errors ?? 0);
      const sd = decideSuccessDetailed(s.requests - sErr, s.requests, t.successRate, {
        final: phase !== 'running',
      });
      if (sd.decision === 'fail')
        return failed(
          `metrics: the stable's success rate is ${pct((s.requests - sErr) / s.requests)} (${sErr} errors of ${s.requests} requests), below ${pct(t.successRate)}`,
        );
    }
  }

  if (t.maxLatencyMs !== undefined) {
    for (const [who, v] of [
      ['canary', f.canary],
      ['stable', f.stable],
    ] as const) {
      if (!v?.requests || v.slow === undefined) continue;
      const slow = Math.min(v.requests, v.slow);
      const n = v.requests;
      const le = latencyEvidence(
        { requests: n, countAbove: () => slow, percentile: () => v.p95Ms },
        t.maxLatencyMs,
        phase,
      );
      if (le.decision === 'fail')
        return failed(
          `metrics: the ${who}'s p95 latency is ${v.p95Ms === undefined ? 'unknown' : `${Math.round(v.p95Ms)} ms`} (${slow} of ${n} requests slower than ${t.maxLatencyMs} ms), above ${t.maxLatencyMs} ms`,
        );
    }
  }

  for (const m of f.custom) {
    if (m.value === undefined) {
      inconclusive.push(`no data for metric "${m.name}"`);
      continue;
    }
    if ((m.min !== undefined && m.value < m.min) || (m.max !== undefined && m.value > m.max)) {
      const bound =
        m.min !== undefined && m.value < m.min ? `below its min ${m.min}` : `above its max ${m.max}`;
      return failed(`metrics: "${m.name}" is ${round(m.value)}, ${bound} (query ${m.query})`);
    }
  }

  if (phase === 'running') return { verdict: 'continue', inconclusive };
  if (inconclusive.length === 0) return { verdict: 'passed', inconclusive };
  if (phase === 'bake-end')
    return { verdict: 'extend', reason: `metrics: ${inconclusive.join('; ')}`, inconclusive };
  return failed(`metrics: not enough evidence at max-bake: ${inconclusive.join('; ')}`);
}

function round(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}
