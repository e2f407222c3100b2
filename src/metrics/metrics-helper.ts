// The metrics signal's I/O: runs the configured queries against Prometheus (IPrometheus) — each
// built-in per version, reading the sidecar's series and else the gateway's — and validates every
// query before install. The verdict is metrics-analysis.ts's (pure).
import { parseAllDocuments } from 'yaml';
import type { MetricsSettings } from '../lib/types.js';
import type { MetricsFigures, MetricsThresholds, VersionMetrics } from './metrics-analysis.js';
import type { IPrometheus } from './prometheus-helper.js';
import {
  asCount,
  isBuiltin,
  promDuration,
  renderQuery,
  singleValue,
  versionQueries,
  type Reporter,
} from './queries.js';

export interface MetricsTargets {
  namespace: string;
  /** Workload (Deployment) names. */
  canary: string;
  stable?: string;
}

/** The thresholds the configured built-ins use. */
export function thresholdsFor(
  m: MetricsSettings,
  successRate: number,
  maxLatencyMs?: number,
): MetricsThresholds {
  return {
    successRate: m.metrics.some((x) => isBuiltin(x, 'request-success-rate')) ? successRate : undefined,
    maxLatencyMs: m.metrics.some((x) => isBuiltin(x, 'request-duration')) ? maxLatencyMs : undefined,
  };
}

/** Every query of the configuration, rendered for `t` (preflight validates these). */
export function allQueries(m: MetricsSettings, t: MetricsTargets, maxLatencyMs?: number): string[] {
  const window = promDuration(m.intervalMs);
  const out: string[] = [];
  const builtins = m.metrics.some((x) => x.kind === 'builtin');
  if (builtins) {
    const q = versionQueries({
      workload: t.canary,
      namespace: t.namespace,
      window,
      reporter: 'destination',
      maxLatencyMs,
    });
    out.push(q.requests, q.errors, q.p95, ...(q.fast ? [q.fast] : []));
  }
  for (const x of m.metrics) if (x.kind === 'custom') out.push(renderQuery(x.query, varsOf(t, window)));
  return out;
}

function varsOf(t: MetricsTargets, window: string) {
  return { namespace: t.namespace, canary: t.canary, stable: t.stable ?? '', interval: window };
}

/** Validates every query (before install); throws naming the first bad one. */
export async function validateMetrics(
  prom: IPrometheus,
  m: MetricsSettings,
  t: MetricsTargets,
  maxLatencyMs?: number,
  signal?: AbortSignal,
): Promise<void> {
  for (const q of allQueries(m, t, maxLatencyMs)) await prom.validate(q, signal);
}

/** The figures of one judgment: the built-ins per version over `windowMs`, the custom values. */
export async function collectMetrics(
  prom: IPrometheus,
  m: MetricsSettings,
  t: MetricsTargets,
  o: { windowMs: number; maxLatencyMs?: number; signal?: AbortSignal; timeS?: number },
): Promise<MetricsFigures> {
  const window = promDuration(o.windowMs);
  const builtins = m.metrics.some((x) => x.kind === 'builtin');
  const version = async (workload: string): Promise<VersionMetrics> => {
    let last: VersionMetrics = { queries: [] };
    // The sidecar's view first; a workload without a sidecar has only the gateway's series.
    for (const reporter of ['destination', 'source'] as Reporter[]) {
      const q = versionQueries({
        workload,
        namespace: t.namespace,
        window,
        reporter,
        maxLatencyMs: o.maxLatencyMs,
      });
      const value = async (promql: string) => singleValue(await prom.query(promql, o.timeS, o.signal));
      const requests = asCount(await value(q.requests));
      last = { reporter, queries: [q.requests, q.errors, q.p95], requests };
      if (requests === undefined) continue;
      last.errors = asCount(await value(q.errors));
      last.p95Ms = await value(q.p95);
      if (q.fast) {
        last.queries.push(q.fast);
        const fast = asCount(await value(q.fast));
        if (fast !== undefined) last.slow = Math.max(0, requests - fast);
      }
      return last;
    }
    return last;
  };
  const figures: MetricsFigures = { custom: [] };
  if (builtins) {
    figures.canary = await version(t.canary);
    if (t.stable) figures.stable = await version(t.stable);
  }
  for (const x of m.metrics) {
    if (x.kind !== 'custom') continue;
    const query = renderQuery(x.query, varsOf(t, window));
    const value = singleValue(await prom.query(query, o.timeS, o.signal));
    figures.custom.push({ name: x.name, query, value, min: x.min, max: x.max });
  }
  return figures;
}

/** Names of the Deployments in a rendered manifest (the canary's workloads), in order. */
export function deploymentNames(manifest: string): string[] {
  const out: string[] = [];
  for (const doc of parseAllDocuments(manifest)) {
    const o = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
    if (o?.kind === 'Deployment' && o.metadata?.name) out.push(o.metadata.name);
  }
  return out;
}

/**
 * The preflight check of the metrics: every query validated against Prometheus before install,
 * for the canary's workload as the chart renders it. Throws naming the query and Prometheus's reason.
 */
export function metricsPreflight(
  prom: IPrometheus,
  m: MetricsSettings,
  o: {
    namespace: string;
    maxLatencyMs?: number;
    log: (line: string) => void;
    /** The stable release's manifest (its workload's name); undefined when it cannot be read. */
    manifestOf?: (release: string) => Promise<string | undefined>;
    /** Told the workloads the steps judge. */
    onTargets?: (t: MetricsTargets) => void;
  },
): (c: {
  canaryRelease: string;
  stableRelease?: string;
  manifest: string;
  signal: AbortSignal;
}) => Promise<void> {
  return async (c) => {
    const canary = deploymentNames(c.manifest)[0] ?? c.canaryRelease;
    const stableManifest = c.stableRelease && o.manifestOf ? await o.manifestOf(c.stableRelease) : undefined;
    const stable = stableManifest ? deploymentNames(stableManifest)[0] : undefined;
    const t = { namespace: o.namespace, canary, stable };
    const n = allQueries(m, t, o.maxLatencyMs).length;
    try {
      await validateMetrics(prom, m, t, o.maxLatencyMs, c.signal);
    } catch (e) {
      throw new Error(`The metrics cannot be queried, so nothing was installed: ${(e as Error).message}`);
    }
    o.onTargets?.(t);
    o.log(
      `Metrics: ${n} queries validated against Prometheus (${prom.where}); canary workload ${canary}${stable ? `, stable workload ${stable}` : ''}.`,
    );
  };
}
