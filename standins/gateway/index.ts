// Istio ingress gateway stand-in: routes HTTP requests by the VirtualServices / HTTPRoutes it reads
// (by polling) from any Kubernetes API base URL, and answers like the hashicorp/http-echo
// container of the chosen Deployment. See docs in standins/gateway/README.md.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { IstioMetrics, type RoutedRequest } from './metrics.js';
import {
  type ClusterSnapshot,
  type KubeObject,
  type RequestInfo,
  decideRoute,
  echoBehaviour,
  emptySnapshot,
  filteredHeaders,
  pickUpstream,
  pickWeighted,
  stripPort,
} from './routing.js';

export interface GatewayOptions {
  /** Base URL of a Kubernetes API (e.g. the kube-api stand-in), http:// or https://. */
  kubeApiUrl: string;
  /** Listen port on 127.0.0.1; 0 / unset = random. */
  port?: number;
  /** Poll interval for cluster state, default 100 ms. */
  pollMs?: number;
  /** Random source in [0, 1) for weighted choice and injected errors (default Math.random). */
  random?: () => number;
}

export interface GatewayStats {
  /** Requests routed to a Service, keyed "<namespace>/<service>" (includes 503/500 answers). */
  routed: Record<string, number>;
  /** Requests routed per Deployment, keyed "<namespace>/<deployment>". */
  deployments: Record<string, number>;
  /**
   * Requests routed to a Service per matched http route, keyed "<route> <namespace>/<service>"
   * (route: its name, else "#<index>"), e.g. "helm-canary-pinned default/app-v2": which requests
   * reached a version through helm-canary's pinned route and which through the users' routes.
   */
  byRoute: Record<string, number>;
  /** Requests routed to a backend per Host header (port stripped). */
  byHost: Record<string, number>;
  /** 404 answers (no host / no matching route). */
  notFound: number;
  /** 503 `no healthy upstream` answers. */
  noHealthyUpstream: number;
  /** 500 `injected error` answers. */
  injectedErrors: number;
  /** Successful polls of the Kubernetes API, and failed ones. */
  polls: number;
  pollErrors: number;
  /**
   * Every answer of a Deployment with status >= 500 (injected or its own), in order, at most the
   * last 10,000: when (epoch ms) a version first failed and through which route, e.g. for "stable
   * within 2 s of the first failure".
   */
  failures: Array<{ at: number; route: string; backend: string; status: number }>;
}

// Each list is read from the first path that is not 404 (older API versions are fallbacks for a
// Kubernetes API that serves a CRD only at the version it was written with). All 404 -> empty.
const LISTS: Array<[keyof ClusterSnapshot, string[]]> = [
  [
    'virtualServices',
    [
      '/apis/networking.istio.io/v1/virtualservices',
      '/apis/networking.istio.io/v1beta1/virtualservices',
      '/apis/networking.istio.io/v1alpha3/virtualservices',
    ],
  ],
  [
    'httpRoutes',
    ['/apis/gateway.networking.k8s.io/v1/httproutes', '/apis/gateway.networking.k8s.io/v1beta1/httproutes'],
  ],
  ['gateways', ['/apis/gateway.networking.k8s.io/v1/gateways']],
  ['services', ['/api/v1/services']],
  ['deployments', ['/apis/apps/v1/deployments']],
  [
    'destinationRules',
    [
      '/apis/networking.istio.io/v1/destinationrules',
      '/apis/networking.istio.io/v1beta1/destinationrules',
      '/apis/networking.istio.io/v1alpha3/destinationrules',
    ],
  ],
];

class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

export class GatewayServer {
  readonly url: string;
  readonly port: number;
  /** Istio's standard metrics of the routed requests; served at `metricsUrl`. */
  readonly metrics = new IstioMetrics();
  /** `http://127.0.0.1:<port>/metrics` (a port of its own, like Envoy's merged-metrics port 15090). */
  metricsUrl = '';
  private metricsServer?: http.Server;
  /** Labels of every namespace (which workloads have a sidecar), polled with the snapshot. */
  private namespaceLabels = new Map<string, Record<string, string>>();
  readonly stats: GatewayStats = {
    routed: {},
    deployments: {},
    byRoute: {},
    byHost: {},
    notFound: 0,
    noHealthyUpstream: 0,
    injectedErrors: 0,
    polls: 0,
    pollErrors: 0,
    failures: [],
  };

  private snapshot: ClusterSnapshot = emptySnapshot();
  private appliedSeq = 0;
  private nextSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly pending = new Set<NodeJS.Timeout>();
  private readonly agent: http.Agent;
  private readonly random: () => number;
  private readonly pollMs: number;
  private readonly kubeBase: URL;

  private constructor(
    private readonly server: http.Server,
    opts: GatewayOptions,
  ) {
    const addr = server.address() as AddressInfo;
    this.port = addr.port;
    this.url = `http://127.0.0.1:${addr.port}`;
    this.random = opts.random ?? Math.random;
    this.pollMs = Math.max(10, opts.pollMs ?? 100);
    this.kubeBase = new URL(opts.kubeApiUrl.replace(/\/+$/, '') + '/');
    this.agent =
      this.kubeBase.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: false })
        : new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  static async start(o: GatewayOptions): Promise<GatewayServer> {
    const server = http.createServer();
    server.keepAliveTimeout = 30_000;
    server.headersTimeout = 35_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const gw = new GatewayServer(server, o);
    server.on('request', (req, res) => gw.handle(req, res));
    // Malformed requests / resets: answer 400 if possible, never crash.
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    await gw.serveMetrics();
    await gw.refresh();
    gw.schedule();
    return gw;
  }

  /** Current snapshot of cluster state (read-only view, for debugging / tests). */
  get cluster(): Readonly<ClusterSnapshot> {
    return this.snapshot;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    const closed = [this.server, this.metricsServer].map(
      (srv) => new Promise<void>((resolve) => (srv ? srv.close(() => resolve()) : resolve())),
    );
    this.server.closeAllConnections();
    this.metricsServer?.closeAllConnections();
    await Promise.all(closed);
    this.agent.destroy();
  }

  private async serveMetrics(): Promise<void> {
    const srv = http.createServer((req, res) => {
      req.resume();
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== '/metrics' && path !== '/stats/prometheus') {
        res.writeHead(404).end();
        return;
      }
      const body = this.metrics.render();
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve());
    });
    this.metricsServer = srv;
    this.metricsUrl = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/metrics`;
  }

  /** Poll the Kubernetes API now; resolves once this poll's result is applied (or failed). */
  async refresh(): Promise<void> {
    const seq = ++this.nextSeq;
    // Namespaces only feed the metrics' sidecar decision: a failed poll keeps the last ones.
    const namespaces = this.list('/api/v1/namespaces').catch(() => undefined);
    const results = await Promise.all(
      LISTS.map(async ([key, paths]) => {
        for (const path of paths) {
          try {
            return [key, await this.list(path)] as const;
          } catch (e) {
            if (e instanceof HttpStatusError && e.status === 404) continue;
            return [key, undefined] as const; // keep the previous value of this list
          }
        }
        return [key, [] as KubeObject[]] as const;
      }),
    );
    if (this.stopped) return;
    if (results.every(([, v]) => v === undefined)) this.stats.pollErrors++;
    else this.stats.polls++;
    if (seq < this.appliedSeq) return; // a newer poll already landed
    this.appliedSeq = seq;
    const next = { ...this.snapshot };
    for (const [key, v] of results) if (v) next[key] = v;
    this.snapshot = next;
    const ns = await namespaces;
    if (ns) this.namespaceLabels = new Map(ns.map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.refresh().finally(() => this.schedule());
    }, this.pollMs);
    this.timer.unref?.();
  }

  private list(path: string): Promise<KubeObject[]> {
    const url = new URL(path.slice(1), this.kubeBase);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.get(
        url,
        { agent: this.agent, headers: { accept: 'application/json' }, timeout: 2000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) return reject(new HttpStatusError(status));
            try {
              const doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
              resolve(Array.isArray(doc?.items) ? doc.items : []);
            } catch (e) {
              reject(e);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }

  private count(map: Record<string, number>, key: string): void {
    map[key] = (map[key] ?? 0) + 1;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.on('error', () => undefined); // client went away mid-write
    req.on('error', () => undefined);
    req.resume(); // drain any body so keep-alive works

    const started = performance.now();
    let routed: Omit<RoutedRequest, 'code' | 'durationMs'> | undefined;
    const send = (status: number, body: string, headers: Array<[string, string]> = []) => {
      if (res.destroyed || res.writableEnded || res.headersSent) return;
      if (routed) this.metrics.record({ ...routed, code: status, durationMs: performance.now() - started });
      const buf = Buffer.from(body, 'utf8');
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      for (const [k, v] of headers) {
        try {
          res.setHeader(k, v);
        } catch {
          // an invalid header value from an annotation: skip it
        }
      }
      res.setHeader('content-length', buf.length);
      res.writeHead(status);
      res.end(req.method === 'HEAD' ? undefined : buf);
    };

    let info: RequestInfo;
    try {
      const u = new URL(req.url ?? '/', 'http://gateway.local');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
      }
      info = {
        method: (req.method ?? 'GET').toUpperCase(),
        host: stripPort(req.headers.host),
        path: u.pathname,
        query: u.searchParams,
        headers,
      };
    } catch {
      return send(400, 'bad request');
    }

    const decision = decideRoute(this.snapshot, info);
    if (decision.kind === 'not-found') {
      this.stats.notFound++;
      routed = { flags: 'NR' };
      return send(404, '');
    }
    if (decision.kind === 'direct') return send(decision.status, decision.body);
    if (decision.kind === 'no-backends') {
      if (decision.status === 503) this.stats.noHealthyUpstream++;
      return send(decision.status, decision.body);
    }

    const backend = pickWeighted(decision.backends, this.random);
    if (!backend) return send(500, 'all route weights are 0');
    const key = `${backend.namespace}/${backend.service}`;
    this.count(this.stats.routed, key);
    this.count(this.stats.byRoute, `${decision.route ?? '(rule)'} ${key}`);
    this.count(this.stats.byHost, info.host);
    if (backend.invalid) return send(500, backend.invalid);
    const filters = [...(decision.filters ?? []), ...(backend.filters ?? [])];
    const upstream = pickUpstream(this.snapshot, backend, this.random);
    const baseHeaders: Array<[string, string]> = [['x-standin-backend', key]];
    routed = {
      namespace: backend.namespace,
      service: backend.service,
      namespaceLabels: this.namespaceLabels.get(backend.namespace),
      flags: upstream.kind === 'deployment' ? '-' : 'UH',
      deployment: upstream.kind === 'deployment' ? upstream.deployment : undefined,
    };
    if (upstream.kind !== 'deployment') {
      this.stats.noHealthyUpstream++;
      return send(503, 'no healthy upstream', baseHeaders);
    }
    const depName = upstream.deployment.metadata?.name ?? '';
    this.count(this.stats.deployments, `${upstream.namespace}/${depName}`);
    const echo = echoBehaviour(upstream.deployment);
    const headers = filteredHeaders(filters, info.headers, [
      ...baseHeaders,
      ['x-standin-deployment', depName],
      ...echo.headers,
    ]);
    const fail = echo.errorRate > 0 && this.random() < echo.errorRate;
    const answer = () => {
      const status = fail ? 500 : echo.status;
      if (status >= 500) {
        const f = this.stats.failures;
        f.push({ at: Date.now(), route: decision.route ?? '(rule)', backend: key, status });
        if (f.length > 10_000) f.splice(0, f.length - 10_000);
      }
      if (fail) {
        this.stats.injectedErrors++;
        send(500, 'injected error', headers);
      } else {
        send(echo.status, echo.body, headers);
      }
    };
    if (echo.latencyMs <= 0) return answer();
    const t = setTimeout(() => {
      this.pending.delete(t);
      answer();
    }, echo.latencyMs);
    this.pending.add(t);
    // Client gave up (timeout / abort): drop the pending answer, nothing to write.
    res.on('close', () => {
      if (this.pending.delete(t)) clearTimeout(t);
    });
  }
}

export { decideRoute, echoBehaviour, pickWeighted, stripPort } from './routing.js';
