// Istio's standard request metrics as the gateway stand-in's routed requests produce them:
// `istio_requests_total` (counter) and `istio_request_duration_milliseconds` (histogram), in the
// Prometheus text exposition format. Pure apart from the counters it accumulates.
//
// Every request is reported by the gateway itself (reporter="source", the ingress gateway is the
// client), and again as the destination workload's sidecar reports it (reporter="destination")
// when that workload has one: as with Istio, a workload without a sidecar has only the gateway's
// series. Label names follow https://istio.io/latest/docs/reference/config/metrics/.
import type { KubeObject } from './routing.js';

/**
 * Istio's default bucket bounds (ms) for its duration histograms (the `sidecar.istio.io/
 * statsHistogramBuckets` annotation's documented default).
 */
export const ISTIO_DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
] as const;

const GATEWAY_WORKLOAD = 'istio-ingressgateway';
const GATEWAY_NAMESPACE = 'istio-system';
const GATEWAY_PRINCIPAL = `spiffe://cluster.local/ns/${GATEWAY_NAMESPACE}/sa/istio-ingressgateway-service-account`;

/** One answered request, as the gateway saw it. */
export interface RoutedRequest {
  /** The Service the route chose (namespace/name), undefined for a request no route matched. */
  namespace?: string;
  service?: string;
  /** The Deployment that answered; undefined when no pod was ready (503 no healthy upstream). */
  deployment?: KubeObject;
  /** Labels of the destination's namespace (for the sidecar decision). */
  namespaceLabels?: Record<string, string>;
  code: number;
  durationMs: number;
  /** Envoy's response flags: "-" for none, "UH" no healthy upstream, "NR" no route. */
  flags?: string;
}

/**
 * Whether the pods of `deployment` carry an Istio sidecar: the pod's `sidecar.istio.io/inject`
 * label (or the older annotation) decides when set, else the namespace's `istio-injection=enabled`
 * or `istio.io/rev` label (Istio's injection webhook rules, simplified: no revision tags).
 */
export function hasSidecar(
  deployment: KubeObject | undefined,
  namespaceLabels: Record<string, string> = {},
): boolean {
  const tpl = (deployment?.spec?.template?.metadata ?? {}) as {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  const pod = tpl.labels?.['sidecar.istio.io/inject'] ?? tpl.annotations?.['sidecar.istio.io/inject'];
  if (pod !== undefined) return pod === 'true';
  if (namespaceLabels['istio-injection'] !== undefined)
    return namespaceLabels['istio-injection'] === 'enabled';
  return namespaceLabels['istio.io/rev'] !== undefined;
}

/** The label set of one request as `reporter` reports it (Istio's standard labels). */
export function requestLabels(r: RoutedRequest, reporter: 'source' | 'destination'): Record<string, string> {
  const podLabels = (r.deployment?.spec?.template?.metadata?.labels ?? {}) as Record<string, string>;
  const workload = r.deployment?.metadata?.name ?? 'unknown';
  const ns = r.deployment ? (r.namespace ?? 'unknown') : 'unknown';
  const app = podLabels.app ?? podLabels['app.kubernetes.io/name'] ?? 'unknown';
  const version = podLabels.version ?? podLabels['app.kubernetes.io/version'] ?? 'unknown';
  const sidecar = hasSidecar(r.deployment, r.namespaceLabels);
  const svc = r.service && r.namespace ? `${r.service}.${r.namespace}.svc.cluster.local` : 'unknown';
  return {
    reporter,
    source_workload: GATEWAY_WORKLOAD,
    source_workload_namespace: GATEWAY_NAMESPACE,
    source_principal: GATEWAY_PRINCIPAL,
    source_app: GATEWAY_WORKLOAD,
    source_version: 'unknown',
    source_canonical_service: GATEWAY_WORKLOAD,
    source_canonical_revision: 'latest',
    source_cluster: 'Kubernetes',
    destination_workload: workload,
    destination_workload_namespace: ns,
    destination_principal: sidecar && r.deployment ? `spiffe://cluster.local/ns/${ns}/sa/default` : 'unknown',
    destination_app: app,
    destination_version: version,
    destination_service: svc,
    destination_service_name: r.service ?? 'unknown',
    destination_service_namespace: r.namespace ?? 'unknown',
    destination_canonical_service:
      podLabels['service.istio.io/canonical-name'] ?? (app !== 'unknown' ? app : workload),
    destination_canonical_revision:
      podLabels['service.istio.io/canonical-revision'] ?? (version !== 'unknown' ? version : 'latest'),
    destination_cluster: 'Kubernetes',
    request_protocol: 'http',
    response_code: String(r.code),
    grpc_response_status: '',
    response_flags: r.flags ?? '-',
    // The gateway's own view does not know the peer's policy; a sidecar sees the mesh's mTLS.
    connection_security_policy: reporter === 'destination' ? 'mutual_tls' : 'unknown',
  };
}

interface Series {
  labels: string;
  count: number;
  sum: number;
  buckets: number[];
}

/** The accumulated series; `render()` is what `/metrics` answers. */
export class IstioMetrics {
  private readonly series = new Map<string, Series>();

  record(r: RoutedRequest): void {
    this.add(requestLabels(r, 'source'), r.durationMs);
    // Only a pod that answered has a sidecar to report it.
    if (r.deployment && hasSidecar(r.deployment, r.namespaceLabels))
      this.add(requestLabels(r, 'destination'), r.durationMs);
  }

  /** Requests recorded for `reporter` (tests, debugging). */
  total(filter: Record<string, string> = {}): number {
    let n = 0;
    for (const s of this.series.values()) {
      const ok = Object.entries(filter).every(([k, v]) => s.labels.includes(`${k}="${escapeLabel(v)}"`));
      if (ok) n += s.count;
    }
    return n;
  }

  render(): string {
    const out: string[] = [
      '# HELP istio_requests_total Total requests.',
      '# TYPE istio_requests_total counter',
    ];
    for (const s of this.series.values()) out.push(`istio_requests_total{${s.labels}} ${s.count}`);
    out.push(
      '# HELP istio_request_duration_milliseconds Request duration in milliseconds.',
      '# TYPE istio_request_duration_milliseconds histogram',
    );
    for (const s of this.series.values()) {
      let cumulative = 0;
      ISTIO_DURATION_BUCKETS_MS.forEach((le, i) => {
        cumulative += s.buckets[i];
        out.push(`istio_request_duration_milliseconds_bucket{${s.labels},le="${le}"} ${cumulative}`);
      });
      out.push(`istio_request_duration_milliseconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
      out.push(`istio_request_duration_milliseconds_sum{${s.labels}} ${s.sum}`);
      out.push(`istio_request_duration_milliseconds_count{${s.labels}} ${s.count}`);
    }
    return `${out.join('\n')}\n`;
  }

  private add(labels: Record<string, string>, ms: number): void {
    const text = Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',');
    let s = this.series.get(text);
    if (!s) {
      s = { labels: text, count: 0, sum: 0, buckets: ISTIO_DURATION_BUCKETS_MS.map(() => 0) };
      this.series.set(text, s);
    }
    s.count++;
    s.sum += ms;
    const i = ISTIO_DURATION_BUCKETS_MS.findIndex((le) => ms <= le);
    if (i >= 0) s.buckets[i]++;
  }
}

/** Label values in the exposition format: backslash, double quote and newline escaped. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
