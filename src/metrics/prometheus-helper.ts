// Prometheus's HTTP API (instant queries) behind a small interface, created by a factory.
//
// Two ways in:
// - http(s)://HOST[:PORT][/PREFIX]: direct, with a bearer token (`prometheus-token`) or basic
//   auth from the URL's user:password (both registered secrets);
// - k8s://NAMESPACE/SERVICE:PORT: through the Kubernetes API's service proxy
//   (/api/v1/namespaces/NS/services/SERVICE:PORT/proxy/…), with `kubectl get --raw`. kubectl
//   rather than an HTTP client built from the kubeconfig: kubectl already authenticates with every
//   kind of kubeconfig the run may get (exec plugins such as aws/gke-gcloud-auth-plugin, client
//   certificates, OIDC, proxies, CA data), and the run already depends on it.
// Retries on 5xx and an unreachable server with a short backoff; every error names the query.
import http from 'node:http';
import https from 'node:https';
import type { IKubectl } from '../kube/kubectl-helper.js';
import { parseQueryData, type PromResult } from './queries.js';

export interface IPrometheus {
  /** Where queries go (no credentials), e.g. "k8s://monitoring/prometheus:9090". */
  readonly where: string;
  /** An instant query at `timeS` (unix seconds; default now). */
  query(promql: string, timeS?: number, signal?: AbortSignal): Promise<PromResult>;
  /** Throws (with Prometheus's reason) when the query does not parse or evaluate. */
  validate(promql: string, signal?: AbortSignal): Promise<void>;
}

/** One HTTP answer, or `status: 0` when the server could not be reached. */
export interface RawAnswer {
  status: number;
  body: string;
  /** Why it failed, when there is no usable body (unreachable, a proxy's error). */
  error?: string;
}

/** GETs an API path such as "/api/v1/query?query=…" from the Prometheus. */
export type Transport = (pathAndQuery: string, signal?: AbortSignal) => Promise<RawAnswer>;

export class PrometheusError extends Error {}

export interface PrometheusOptions {
  url: string;
  token?: string;
  /** For k8s:// URLs. */
  kubectl?: Pick<IKubectl, 'getRaw'>;
  /** Attempts of a query on 5xx / unreachable (default 3). */
  attempts?: number;
  /** Backoff before the n-th retry (default 500 ms, then 1 s, 2 s ...). */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Tests: replaces the transport. */
  transport?: Transport;
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

/** A moment with nothing to evaluate: validation parses and runs the query without load. */
export const HARMLESS_TIME_S = 1;

export const K8S_URL =
  /^k8s:\/\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z]([-a-z0-9]*[a-z0-9])?)(?::([0-9]{1,5}|[a-z][-a-z0-9]*))?\/?$/;

/** The service-proxy path prefix of a k8s:// URL, or undefined when it is not one. */
export function serviceProxyPrefix(url: string): string | undefined {
  const m = K8S_URL.exec(url);
  if (!m) return undefined;
  const id = m[5] ? `${m[3]}:${m[5]}` : m[3];
  return `/api/v1/namespaces/${m[1]}/services/${id}/proxy`;
}

export function createPrometheus(o: PrometheusOptions): IPrometheus {
  const prefix = serviceProxyPrefix(o.url);
  let transport: Transport;
  let where: string;
  if (o.transport) {
    transport = o.transport;
    where = redactUrl(o.url);
  } else if (prefix) {
    if (!o.kubectl) throw new Error('a k8s:// Prometheus needs kubectl');
    transport = kubectlTransport(o.kubectl, prefix);
    where = o.url;
  } else {
    transport = httpTransport(o.url, o.token, o.timeoutMs ?? 10_000);
    where = redactUrl(o.url);
  }
  return new Prometheus(where, transport, o);
}

class Prometheus implements IPrometheus {
  constructor(
    readonly where: string,
    private readonly transport: Transport,
    private readonly o: PrometheusOptions,
  ) {}

  async query(promql: string, timeS?: number, signal?: AbortSignal): Promise<PromResult> {
    const q = new URLSearchParams({ query: promql });
    if (timeS !== undefined) q.set('time', String(timeS));
    const attempts = Math.max(1, this.o.attempts ?? 3);
    const sleep = this.o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    let last = '';
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await sleep((this.o.backoffMs ?? 500) * 2 ** (i - 1));
      if (signal?.aborted) throw new PrometheusError(`query ${promql} was cancelled`);
      const a = await this.transport(`/api/v1/query?${q.toString()}`, signal);
      const answer = readAnswer(a);
      if (answer.ok) {
        try {
          return parseQueryData(answer.data);
        } catch (e) {
          throw new PrometheusError(`Prometheus (${this.where}): query ${promql}: ${(e as Error).message}`);
        }
      }
      last = answer.reason;
      // 4xx is the query's or the credentials' fault: asking again gives the same answer.
      if (a.status >= 400 && a.status < 500) break;
    }
    throw new PrometheusError(`Prometheus (${this.where}): query ${promql} failed: ${last}`);
  }

  async validate(promql: string, signal?: AbortSignal): Promise<void> {
    await this.query(promql, HARMLESS_TIME_S, signal);
  }
}

/** Prometheus's JSON envelope: data on success, else the most telling reason. */
function readAnswer(a: RawAnswer): { ok: true; data: unknown } | { ok: false; reason: string } {
  let doc: { status?: string; data?: unknown; error?: string; errorType?: string } | undefined;
  try {
    doc = JSON.parse(a.body);
  } catch {
    doc = undefined;
  }
  if (a.status >= 200 && a.status < 300 && doc?.status === 'success') return { ok: true, data: doc.data };
  if (doc?.status === 'error')
    return { ok: false, reason: `${doc.errorType ?? 'error'}: ${doc.error ?? ''} (HTTP ${a.status})` };
  const text = a.error ?? (a.body.trim().slice(0, 300) || 'no answer');
  return { ok: false, reason: a.status ? `HTTP ${a.status}: ${text}` : `unreachable: ${text}` };
}

/** The URL without user:password (for messages). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

function httpTransport(url: string, token: string | undefined, timeoutMs: number): Transport {
  const base = new URL(url);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  else if (base.username || base.password)
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`).toString('base64')}`;
  base.username = '';
  base.password = '';
  const root = base.toString().replace(/\/+$/, '');
  const mod = base.protocol === 'https:' ? https : http;
  return (pathAndQuery, signal) =>
    new Promise((resolve) => {
      const req = mod.get(`${root}${pathAndQuery}`, { headers, timeout: timeoutMs, signal }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000}s`)));
      req.on('error', (e: NodeJS.ErrnoException) =>
        resolve({ status: 0, body: '', error: e.code ?? e.message }),
      );
    });
}

// kubectl prints "Error from server (Reason): …" for an API error; the reason gives the status.
const REASON_STATUS: Record<string, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
};

function kubectlTransport(kubectl: Pick<IKubectl, 'getRaw'>, prefix: string): Transport {
  return async (pathAndQuery, signal) => {
    const r = await kubectl.getRaw(`${prefix}${pathAndQuery}`, { signal });
    if (r.ok) return { status: 200, body: r.body };
    const error = r.error ?? 'kubectl failed';
    const m = /Error from server \((\w+)\)/.exec(error);
    const status = m ? (REASON_STATUS[m[1]] ?? 500) : 0;
    // Prometheus's own error JSON, passed on by the proxy, when kubectl showed it.
    return { status, body: r.body, error: `kubectl get --raw: ${error}` };
  };
}
