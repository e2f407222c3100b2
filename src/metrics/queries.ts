// Pure: the PromQL of the built-in metrics per version, the placeholders of custom queries, and
// the reading of Prometheus answers. No I/O.
//
// The built-ins follow Flagger's (request-success-rate, request-duration) over Istio's standard
// metrics, by destination_workload / destination_workload_namespace, but as COUNTS so the
// evidence rule gets requests and errors, not only a ratio. A count is the version's total now
// minus its total one window ago (0 when no series existed then): unlike sum(increase(...)), whose
// extrapolation to the window's edges invents or drops requests (measured: 73 for 60 served) and
// which cannot see the first value of a series born in the window (a version's first requests, or
// its first 5xx), this is the exact number of requests the mesh counted. A counter reset (a pod
// restart) undercounts. The p95 is histogram_quantile over the buckets' increases, counted alike.
// They read the destination sidecar's series (reporter="destination"); a workload without a
// sidecar has none, and then the gateway's own series (reporter="source") are read instead.
import type { MetricSpec } from '../lib/types.js';

export const BUILTIN_METRICS = ['request-success-rate', 'request-duration'] as const;
export const PLACEHOLDERS = ['namespace', 'canary', 'stable', 'interval'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type Reporter = 'destination' | 'source';

/**
 * Istio's default bucket bounds (ms) of istio_request_duration_milliseconds; the slow count for
 * max-latency is read at the first bound at or above it.
 */
export const ISTIO_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** The placeholders a query uses that are not known ones (for the input error). */
export function unknownPlaceholders(query: string): string[] {
  const out: string[] = [];
  for (const m of query.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g))
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1])) out.push(m[1]);
  return out;
}

/** Replaces `{{ namespace }}`, `{{ canary }}`, `{{ stable }}`, `{{ interval }}`. */
export function renderQuery(query: string, vars: Record<Placeholder, string>): string {
  return query.replace(/\{\{\s*(namespace|canary|stable|interval)\s*\}\}/g, (_, k: Placeholder) => vars[k]);
}

/** A Prometheus range duration from ms, e.g. 30000 -> "30s" (at least 1s). */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

/** PromQL string literal (double quotes, escaped). */
function lit(v: string): string {
  return JSON.stringify(v);
}

export interface VersionQueries {
  requests: string;
  errors: string;
  p95: string;
  /** Responses at or below the first bucket bound >= max-latency (with max-latency). */
  fast?: string;
  /** That bound (ms). */
  fastBoundMs?: number;
}

/** The built-in queries of one workload (a Deployment) as one reporter sees it. */
export function versionQueries(o: {
  workload: string;
  namespace: string;
  window: string;
  reporter: Reporter;
  maxLatencyMs?: number;
}): VersionQueries {
  const sel = (extra = '') =>
    `{reporter=${lit(o.reporter)},destination_workload_namespace=${lit(o.namespace)},destination_workload=${lit(o.workload)}${extra}}`;
  const count = (metric: string, extra = '') =>
    `(sum(${metric}${sel(extra)}) - (sum(${metric}${sel(extra)} offset ${o.window}) or on() vector(0)))`;
  const bucket = `istio_request_duration_milliseconds_bucket${sel()}`;
  const q: VersionQueries = {
    requests: count('istio_requests_total'),
    // No 5xx series at all is zero errors, not missing data: requests decides about "no data".
    errors: `${count('istio_requests_total', ',response_code=~"5.."')} or on() vector(0)`,
    // Per bucket series: the increase since one window ago, or all of it for a series born since.
    p95: `histogram_quantile(0.95, sum by (le) ((${bucket} - ${bucket} offset ${o.window}) or ${bucket}))`,
  };
  if (o.maxLatencyMs !== undefined) {
    const bound = ISTIO_BUCKETS_MS.find((b) => b >= o.maxLatencyMs!);
    if (bound !== undefined) {
      q.fastBoundMs = bound;
      q.fast = `${count('istio_request_duration_milliseconds_bucket', `,le=${lit(String(bound))}`)} or on() vector(0)`;
    }
  }
  return q;
}

/** Sample values of one instant query. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PromResult {
  resultType: string;
  samples: PromSample[];
}

/**
 * Reads the `data` of an /api/v1/query answer: vector and scalar results become samples
 * (values as numbers, NaN kept); anything else is an error.
 */
export function parseQueryData(data: unknown): PromResult {
  const d = data as { resultType?: string; result?: unknown };
  if (!d || typeof d.resultType !== 'string') throw new Error('the answer has no data.resultType');
  if (d.resultType === 'scalar') {
    const v = d.result as [number, string];
    return { resultType: 'scalar', samples: [{ metric: {}, value: Number(v?.[1]) }] };
  }
  if (d.resultType === 'vector') {
    const rows = (Array.isArray(d.result) ? d.result : []) as Array<{
      metric?: Record<string, string>;
      value?: [number, string];
    }>;
    return {
      resultType: 'vector',
      samples: rows.map((r) => ({ metric: r.metric ?? {}, value: Number(r.value?.[1]) })),
    };
  }
  throw new Error(`the query gives a ${d.resultType}, not one value (an instant vector or a scalar)`);
}

/**
 * The one value of a result, or undefined for "no data": an empty vector, NaN or ±Inf (e.g.
 * histogram_quantile over no requests). Several samples are an error: the query must aggregate.
 */
export function singleValue(r: PromResult): number | undefined {
  if (r.samples.length === 0) return undefined;
  if (r.samples.length > 1)
    throw new Error(`the query gives ${r.samples.length} series; aggregate it to one (e.g. with sum(...))`);
  const v = r.samples[0].value;
  return Number.isFinite(v) ? v : undefined;
}

/** A count as a whole number (never below 0: a counter reset can make the difference negative). */
export function asCount(v: number | undefined): number | undefined {
  return v === undefined ? undefined : Math.max(0, Math.round(v));
}

export function isBuiltin(m: MetricSpec, name: (typeof BUILTIN_METRICS)[number]): boolean {
  return m.kind === 'builtin' && m.name === name;
}
