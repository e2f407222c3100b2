// Pure routing logic of the gateway stand-in: cluster snapshot + request -> backend decision.
// No I/O here, so every rule can be unit-tested without sockets.

// Loose shapes of the Kubernetes objects we read (only the fields we use).
/* eslint-disable @typescript-eslint/no-explicit-any */
export type KubeObject = {
  metadata?: {
    name?: string;
    namespace?: string;
    creationTimestamp?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: any;
  status?: any;
};

export interface ClusterSnapshot {
  virtualServices: KubeObject[];
  httpRoutes: KubeObject[];
  services: KubeObject[];
  deployments: KubeObject[];
  destinationRules: KubeObject[];
  /** Gateway API Gateways (HTTPRoutes attach to their listeners); none known = every HTTPRoute is served. */
  gateways?: KubeObject[];
}

export const emptySnapshot = (): ClusterSnapshot => ({
  virtualServices: [],
  httpRoutes: [],
  services: [],
  deployments: [],
  destinationRules: [],
  gateways: [],
});

export interface RequestInfo {
  method: string;
  host: string; // lower-case, port stripped
  path: string; // without query string
  query: URLSearchParams;
  headers: Record<string, string>; // lower-case names, joined values
}

/** A weighted destination, already resolved to a Service reference. */
export interface WeightedBackend {
  namespace: string;
  service: string;
  subsetLabels?: Record<string, string>;
  weight: number;
  /** HTTPRoute backendRef filters (applied after the rule's). */
  filters?: unknown[];
  /** A backend the gateway cannot resolve (Gateway API: its share of requests gets 500). */
  invalid?: string;
}

export type RouteDecision =
  | { kind: 'not-found' } // no host / no matching route -> 404
  | { kind: 'direct'; status: number; body: string; source: string }
  | { kind: 'no-backends'; status: number; body: string; source: string }
  | {
      kind: 'backends';
      backends: WeightedBackend[];
      source: string;
      /** The http route (rule) that matched: its name, else "#<index>". */
      route?: string;
      /** HTTPRoute rule filters. */
      filters?: unknown[];
    };

export type UpstreamDecision =
  | { kind: 'no-service' }
  | { kind: 'no-ready'; namespace: string; service: string }
  | { kind: 'deployment'; namespace: string; service: string; deployment: KubeObject };

// ---------------------------------------------------------------------------------------------
// Host matching

export function stripPort(hostHeader: string | undefined): string {
  if (!hostHeader) return '';
  let h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0 && /^\d*$/.test(h.slice(colon + 1))) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * How specifically `pattern` matches `host`: -1 no match, otherwise a score where an exact match
 * beats any wildcard, and a longer wildcard suffix beats a shorter one; "*" scores lowest.
 */
export function hostMatchScore(pattern: string, host: string, namespace?: string): number {
  const p = pattern.trim().toLowerCase();
  if (p === '*') return 0;
  if (p.startsWith('*')) {
    const suffix = p.slice(1); // ".example.com" (or "example.com" for "*example.com")
    return host.endsWith(suffix) && host.length > suffix.length ? 1 + suffix.length : -1;
  }
  if (p === host) return 100000;
  // Istio interprets a short name as <name>.<vs namespace>.svc.cluster.local.
  if (namespace && !p.includes('.')) {
    const full = `${p}.${namespace}.svc.cluster.local`;
    if (host === `${p}.${namespace}` || host === `${p}.${namespace}.svc` || host === full) return 100000;
  }
  return -1;
}

function bestHostScore(patterns: unknown, host: string, namespace?: string): number {
  if (!Array.isArray(patterns)) return -1;
  let best = -1;
  for (const p of patterns)
    if (typeof p === 'string') best = Math.max(best, hostMatchScore(p, host, namespace));
  return best;
}

// ---------------------------------------------------------------------------------------------
// String matching (Istio StringMatch {exact|prefix|regex}; regex is a full match like RE2)

const regexCache = new Map<string, RegExp | null>();
function fullRegex(src: string, flags = ''): RegExp | null {
  const key = `${flags}/${src}`;
  if (!regexCache.has(key)) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(`^(?:${src})$`, flags);
    } catch {
      re = null; // an invalid regex never matches
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(key, re);
  }
  return regexCache.get(key) ?? null;
}

export function stringMatch(m: any, value: string | undefined, ignoreCase = false): boolean {
  if (m === null || m === undefined || typeof m !== 'object') return true;
  if (Object.keys(m).length === 0) return value !== undefined; // {} = "present"
  if (value === undefined) return false;
  const v = ignoreCase ? value.toLowerCase() : value;
  const c = (s: unknown) => (ignoreCase ? String(s).toLowerCase() : String(s));
  if (m.exact !== undefined) return v === c(m.exact);
  if (m.prefix !== undefined) return v.startsWith(c(m.prefix));
  if (m.regex !== undefined) return fullRegex(String(m.regex), ignoreCase ? 'i' : '')?.test(value) ?? false;
  return true;
}

function istioMatchOne(m: any, req: RequestInfo): boolean {
  if (!m || typeof m !== 'object') return true;
  if (m.uri && !stringMatch(m.uri, req.path, m.ignoreUriCase === true)) return false;
  if (m.method && !stringMatch(m.method, req.method)) return false;
  if (m.authority && !stringMatch(m.authority, req.host)) return false;
  if (m.scheme && !stringMatch(m.scheme, 'http')) return false;
  if (m.headers && typeof m.headers === 'object') {
    for (const [name, sm] of Object.entries(m.headers)) {
      if (!stringMatch(sm, req.headers[name.toLowerCase()])) return false;
    }
  }
  if (m.withoutHeaders && typeof m.withoutHeaders === 'object') {
    for (const [name, sm] of Object.entries(m.withoutHeaders)) {
      if (stringMatch(sm, req.headers[name.toLowerCase()])) return false;
    }
  }
  if (m.queryParams && typeof m.queryParams === 'object') {
    for (const [name, sm] of Object.entries(m.queryParams)) {
      const v = req.query.get(name);
      if (!stringMatch(sm, v === null ? undefined : v)) return false;
    }
  }
  // Matches scoped to the in-mesh "gateway" never apply at the ingress gateway.
  if (Array.isArray(m.gateways) && m.gateways.length > 0 && m.gateways.every((g: unknown) => g === 'mesh'))
    return false;
  return true;
}

export function istioHttpMatches(matchList: unknown, req: RequestInfo): boolean {
  if (!Array.isArray(matchList) || matchList.length === 0) return true;
  return matchList.some((m) => istioMatchOne(m, req));
}

// ---------------------------------------------------------------------------------------------
// Service resolution

/** "svc" | "svc.ns" | "svc.ns.svc" | "svc.ns.svc.cluster.local" -> {namespace, service}. */
export function resolveServiceHost(
  host: string,
  defaultNamespace: string,
): { namespace: string; service: string } {
  const h = host.toLowerCase().replace(/\.$/, '');
  const parts = h.split('.');
  if (parts.length === 1) return { namespace: defaultNamespace, service: parts[0] };
  if (parts.length === 2) return { namespace: parts[1], service: parts[0] };
  if (parts.length >= 3 && parts[2] === 'svc') return { namespace: parts[1], service: parts[0] };
  return { namespace: parts[1], service: parts[0] }; // an external host: will not be found
}

function ns(o: KubeObject): string {
  return o.metadata?.namespace || 'default';
}

function numberOr(v: unknown, d: number): number {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : d;
}

function subsetLabelsFor(snapshot: ClusterSnapshot, namespace: string, service: string, subset: string) {
  for (const dr of snapshot.destinationRules) {
    const host = String(dr.spec?.host ?? '');
    if (!host) continue;
    const r = resolveServiceHost(host, ns(dr));
    if (r.namespace !== namespace || r.service !== service) continue;
    const s = (dr.spec?.subsets ?? []).find((x: any) => x?.name === subset);
    if (s) return (s.labels ?? {}) as Record<string, string>;
  }
  // Unknown subset: Envoy has no such cluster -> no endpoints.
  return { 'standin.helm-canary/unknown-subset': subset };
}

// ---------------------------------------------------------------------------------------------
// Gateway API HTTPRoute: attachment to Gateways, hostnames, matches with Gateway API precedence,
// relative backend weights, header filters. See https://gateway-api.sigs.k8s.io/reference/spec/#httproutespec.

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

function normalisePath(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') || '/' : p;
}

function gatewayPathMatches(path: any, reqPath: string): boolean {
  const type = path?.type ?? 'PathPrefix';
  const value = String(path?.value ?? '/');
  if (type === 'Exact') return reqPath === value;
  if (type === 'RegularExpression') return fullRegex(value)?.test(reqPath) ?? false;
  // PathPrefix: element-wise prefix ("/foo" matches "/foo" and "/foo/bar", not "/foobar").
  const prefix = normalisePath(value);
  if (prefix === '/') return true;
  return reqPath === prefix || reqPath.startsWith(prefix + '/') || normalisePath(reqPath) === prefix;
}

function gatewayValueMatches(m: any, v: string | undefined): boolean {
  if (v === undefined) return false;
  if ((m?.type ?? 'Exact') === 'RegularExpression') return fullRegex(String(m.value))?.test(v) ?? false;
  return v === String(m?.value);
}

export function gatewayMatchOne(m: any, req: RequestInfo): boolean {
  if (!gatewayPathMatches(m?.path, req.path)) return false;
  if (m?.method && String(m.method).toUpperCase() !== req.method) return false;
  for (const h of Array.isArray(m?.headers) ? m.headers : []) {
    if (!gatewayValueMatches(h, req.headers[String(h?.name).toLowerCase()])) return false;
  }
  for (const q of Array.isArray(m?.queryParams) ? m.queryParams : []) {
    const v = req.query.get(String(q?.name));
    if (!gatewayValueMatches(q, v === null ? undefined : v)) return false;
  }
  return true;
}

/** Gateway API precedence of one match: Exact path, longest prefix, method, most headers, most query params. */
export function gatewayMatchRank(m: any): number[] {
  const type = m?.path?.type ?? 'PathPrefix';
  return [
    type === 'Exact' ? 2 : type === 'PathPrefix' ? 1 : 0,
    type === 'PathPrefix' ? normalisePath(String(m?.path?.value ?? '/')).length : 0,
    m?.method ? 1 : 0,
    Array.isArray(m?.headers) ? m.headers.length : 0,
    Array.isArray(m?.queryParams) ? m.queryParams.length : 0,
  ];
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return b[i] - a[i];
  return 0;
}

/**
 * The hostnames (undefined = any) of the Gateway listeners `route` is attached to, or null when it
 * is attached to none. With no Gateway in the cluster at all every route is served (lenient, as a VS
 * without `gateways`). A parentRef names a Gateway (group/kind defaults), in the route's namespace
 * unless it says otherwise, optionally one listener (sectionName) or port; the listener must allow
 * the route (allowedRoutes.namespaces.from: Same (default) or All; Selector is treated as All;
 * allowedRoutes.kinds, when set, must list HTTPRoute).
 */
export function attachedHostnames(
  route: KubeObject,
  gateways: KubeObject[],
): Array<string | undefined> | null {
  if (gateways.length === 0) return [undefined];
  const out: Array<string | undefined> = [];
  for (const p of Array.isArray(route.spec?.parentRefs) ? route.spec.parentRefs : []) {
    if ((p?.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (p?.kind ?? 'Gateway') !== 'Gateway') continue;
    const gwNs = p?.namespace ?? ns(route);
    const gw = gateways.find((g) => ns(g) === gwNs && g.metadata?.name === p?.name);
    for (const l of Array.isArray(gw?.spec?.listeners) ? gw.spec.listeners : []) {
      if (p?.sectionName && l?.name !== p.sectionName) continue;
      if (p?.port !== undefined && Number(l?.port) !== Number(p.port)) continue;
      if (!['HTTP', 'HTTPS'].includes(String(l?.protocol ?? 'HTTP'))) continue;
      const from = l?.allowedRoutes?.namespaces?.from ?? 'Same';
      if (from === 'Same' && gwNs !== ns(route)) continue;
      const kinds = l?.allowedRoutes?.kinds;
      if (Array.isArray(kinds) && kinds.length > 0 && !kinds.some((k: any) => k?.kind === 'HTTPRoute'))
        continue;
      out.push(l?.hostname ? String(l.hostname) : undefined);
    }
  }
  return out.length > 0 ? out : null;
}

/** How specifically the route's hostnames (within its listeners') match `host`; -1 none. */
function httpRouteHostScore(route: KubeObject, host: string, gateways: KubeObject[]): number {
  const listeners = attachedHostnames(route, gateways);
  if (!listeners) return -1;
  const hostnames: string[] = Array.isArray(route.spec?.hostnames) ? route.spec.hostnames : [];
  let best = -1;
  for (const l of listeners) {
    if (l !== undefined && hostMatchScore(l, host) < 0) continue;
    const own =
      hostnames.length > 0 ? bestHostScore(hostnames, host) : l !== undefined ? hostMatchScore(l, host) : 0;
    best = Math.max(best, own);
  }
  return best;
}

interface HttpRouteHit {
  route: KubeObject;
  rule: any;
  order: number;
  match: any;
  score: number;
}

/** Every (route, rule, match) that matches the request, best first by Gateway API precedence. */
export function httpRouteHits(
  routes: KubeObject[],
  gateways: KubeObject[],
  req: RequestInfo,
): HttpRouteHit[] {
  const hits: HttpRouteHit[] = [];
  for (const route of routes) {
    const score = httpRouteHostScore(route, req.host, gateways);
    if (score < 0) continue;
    (Array.isArray(route.spec?.rules) ? route.spec.rules : []).forEach((rule: any, order: number) => {
      const matches = Array.isArray(rule?.matches) && rule.matches.length ? rule.matches : [{}];
      for (const match of matches)
        if (gatewayMatchOne(match, req)) hits.push({ route, rule, order, match, score });
    });
  }
  return hits.sort(
    (a, b) =>
      b.score - a.score ||
      compareRanks(gatewayMatchRank(a.match), gatewayMatchRank(b.match)) ||
      byAge(a.route, b.route) ||
      a.order - b.order,
  );
}

function decideHttpRoute(hit: HttpRouteHit): RouteDecision {
  const { route, rule, order } = hit;
  const source = `HTTPRoute ${ns(route)}/${route.metadata?.name}`;
  const refs: any[] = Array.isArray(rule?.backendRefs) ? rule.backendRefs : [];
  const backends: WeightedBackend[] = refs.map((r) => {
    const service = (r?.kind ?? 'Service') === 'Service' && (r?.group ?? '') === '';
    return {
      namespace: String(r?.namespace ?? ns(route)),
      service: String(r?.name ?? ''),
      weight: Math.max(0, numberOr(r?.weight, 1)),
      ...(Array.isArray(r?.filters) && r.filters.length ? { filters: r.filters } : {}),
      ...(service ? {} : { invalid: `backendRef kind ${r?.group ?? ''}/${r?.kind} is not supported` }),
    };
  });
  // Gateway API: no backends, or all weights 0 -> 500.
  if (backends.every((b) => b.weight <= 0))
    return { kind: 'no-backends', status: 500, body: 'no backends', source };
  const filters = Array.isArray(rule?.filters) ? rule.filters : [];
  return {
    kind: 'backends',
    backends,
    source,
    route: typeof rule?.name === 'string' && rule.name ? rule.name : `#${order}`,
    ...(filters.length ? { filters } : {}),
  };
}

/** RequestHeaderModifier: the headers the backend gets (names lower-cased). */
export function modifyRequestHeaders(
  filters: unknown[] | undefined,
  headers: Record<string, string>,
): Record<string, string> {
  const out = { ...headers };
  for (const f of (filters ?? []) as any[]) {
    if (f?.type !== 'RequestHeaderModifier') continue;
    const m = f.requestHeaderModifier ?? {};
    for (const h of m.set ?? []) out[String(h.name).toLowerCase()] = String(h.value);
    for (const h of m.add ?? []) {
      const k = String(h.name).toLowerCase();
      out[k] = out[k] === undefined ? String(h.value) : `${out[k]},${h.value}`;
    }
    for (const name of m.remove ?? []) delete out[String(name).toLowerCase()];
  }
  return out;
}

/** ResponseHeaderModifier applied to the answer's headers. */
export function modifyResponseHeaders(
  filters: unknown[] | undefined,
  headers: Array<[string, string]>,
): Array<[string, string]> {
  let out = [...headers];
  for (const f of (filters ?? []) as any[]) {
    if (f?.type !== 'ResponseHeaderModifier') continue;
    const m = f.responseHeaderModifier ?? {};
    const drop = (name: string) => (out = out.filter(([k]) => k.toLowerCase() !== name.toLowerCase()));
    for (const h of m.set ?? []) {
      drop(String(h.name));
      out.push([String(h.name), String(h.value)]);
    }
    for (const h of m.add ?? []) out.push([String(h.name), String(h.value)]);
    for (const name of m.remove ?? []) drop(String(name));
  }
  return out;
}

/**
 * The answer's headers for a request that went through `filters`: the http-echo backend does not
 * echo requests, so the stand-in shows each request header a RequestHeaderModifier set, added or
 * removed as `x-standin-request-<name>` (value "" when removed), then applies ResponseHeaderModifier.
 */
export function filteredHeaders(
  filters: unknown[] | undefined,
  request: Record<string, string>,
  headers: Array<[string, string]>,
): Array<[string, string]> {
  if (!filters || filters.length === 0) return headers;
  const after = modifyRequestHeaders(filters, request);
  const changed = [...new Set([...Object.keys(after), ...Object.keys(request)])]
    .filter((k) => after[k] !== request[k])
    .map((k): [string, string] => [`x-standin-request-${k}`, after[k] ?? '']);
  return modifyResponseHeaders(filters, [...headers, ...changed]);
}

// ---------------------------------------------------------------------------------------------
// The decision

interface Candidate {
  kind: 'vs';
  obj: KubeObject;
  score: number;
}

function byAge(a: KubeObject, b: KubeObject): number {
  const ta = Date.parse(a.metadata?.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata?.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  return `${ns(a)}/${a.metadata?.name}`.localeCompare(`${ns(b)}/${b.metadata?.name}`);
}

function isMeshOnly(vs: KubeObject): boolean {
  const gws = vs.spec?.gateways;
  // Only when explicitly bound to the mesh alone; a VS without `gateways` is served (lenient).
  return Array.isArray(gws) && gws.length > 0 && gws.every((g: unknown) => g === 'mesh');
}

function decideVirtualService(
  vs: KubeObject,
  req: RequestInfo,
  snapshot: ClusterSnapshot,
): RouteDecision | null {
  const source = `VirtualService ${ns(vs)}/${vs.metadata?.name}`;
  const http = Array.isArray(vs.spec?.http) ? vs.spec.http : [];
  for (const [index, entry] of http.entries()) {
    if (!istioHttpMatches(entry?.match, req)) continue;
    const routeName = typeof entry?.name === 'string' && entry.name ? entry.name : `#${index}`;
    if (entry?.directResponse) {
      const dr = entry.directResponse;
      const body = dr.body?.string ?? (dr.body?.bytes ? Buffer.from(dr.body.bytes, 'base64').toString() : '');
      return { kind: 'direct', status: numberOr(dr.status, 200), body, source };
    }
    const route = Array.isArray(entry?.route) ? entry.route : [];
    if (route.length === 0) return { kind: 'no-backends', status: 503, body: 'no healthy upstream', source };
    const backends: WeightedBackend[] = route.map((r: any) => {
      const ref = resolveServiceHost(String(r?.destination?.host ?? ''), ns(vs));
      const weight =
        route.length === 1 && r?.weight === undefined ? 100 : Math.max(0, numberOr(r?.weight, 0));
      const subset = r?.destination?.subset;
      return {
        ...ref,
        weight,
        ...(subset
          ? { subsetLabels: subsetLabelsFor(snapshot, ref.namespace, ref.service, String(subset)) }
          : {}),
      };
    });
    return { kind: 'backends', backends, source, route: routeName };
  }
  return null;
}

/** Which route (if any) handles this request: by host specificity (VS before HTTPRoutes on ties),
 *  then the first VS whose http route matches, or the best HTTPRoute match. */
export function decideRoute(snapshot: ClusterSnapshot, req: RequestInfo): RouteDecision {
  const candidates: Candidate[] = [];
  for (const vs of snapshot.virtualServices) {
    if (isMeshOnly(vs)) continue;
    const score = bestHostScore(vs.spec?.hosts, req.host, ns(vs));
    if (score >= 0) candidates.push({ kind: 'vs', obj: vs, score });
  }
  const hits = httpRouteHits(snapshot.httpRoutes, snapshot.gateways ?? [], req);
  candidates.sort((a, b) => b.score - a.score || byAge(a.obj, b.obj));
  for (const c of candidates) {
    if (hits.length > 0 && hits[0].score > c.score) return decideHttpRoute(hits[0]);
    const d = decideVirtualService(c.obj, req, snapshot);
    if (d) return d;
  }
  if (hits.length > 0) return decideHttpRoute(hits[0]);
  return meshInternal(snapshot, req.host) ?? { kind: 'not-found' };
}

/**
 * A call inside the mesh to "<svc>.<ns>.svc[.cluster.local]" that no route claims reaches the
 * Service's pods directly (every pod its selector matches, whatever subset it is in), as a
 * sidecar does without a VirtualService for that host.
 */
function meshInternal(snapshot: ClusterSnapshot, host: string): RouteDecision | undefined {
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?$/.exec(host);
  if (!m) return undefined;
  const [, service, namespace] = m;
  if (!snapshot.services.some((x) => ns(x) === namespace && x.metadata?.name === service)) return undefined;
  return {
    kind: 'backends',
    backends: [{ namespace, service, weight: 100 }],
    source: `Service ${namespace}/${service} (mesh-internal)`,
  };
}

/** Weighted random choice; null when every weight is 0. */
export function pickWeighted<T extends { weight: number }>(items: T[], random: () => number): T | null {
  const total = items.reduce((s, i) => s + (i.weight > 0 ? i.weight : 0), 0);
  if (total <= 0) return null;
  const positive = items.filter((i) => i.weight > 0);
  if (positive.length === 1) return positive[0]; // no random draw: keeps injected sequences predictable
  let x = random() * total;
  for (const i of items) {
    if (i.weight <= 0) continue;
    if (x < i.weight) return i;
    x -= i.weight;
  }
  // Floating point edge (random() close to 1): the last positive item.
  return [...items].reverse().find((i) => i.weight > 0) ?? null;
}

export function isReady(d: KubeObject): boolean {
  return numberOr(d.status?.readyReplicas, 0) >= 1 || numberOr(d.status?.availableReplicas, 0) >= 1;
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Service -> one ready Deployment behind it (weighted by its ready replica count). */
export function pickUpstream(
  snapshot: ClusterSnapshot,
  b: WeightedBackend,
  random: () => number,
): UpstreamDecision {
  const svc = snapshot.services.find((s) => ns(s) === b.namespace && s.metadata?.name === b.service);
  if (!svc) return { kind: 'no-service' };
  const selector = svc.spec?.selector as Record<string, string> | undefined;
  if (!selector || Object.keys(selector).length === 0)
    return { kind: 'no-ready', namespace: b.namespace, service: b.service };
  const ready = snapshot.deployments
    .filter((d) => ns(d) === b.namespace)
    .filter((d) => {
      const labels = d.spec?.template?.metadata?.labels;
      return labelsMatch(selector, labels) && (!b.subsetLabels || labelsMatch(b.subsetLabels, labels));
    })
    .filter(isReady)
    .map((d) => ({
      d,
      weight: Math.max(1, numberOr(d.status?.readyReplicas, 0), numberOr(d.status?.availableReplicas, 0)),
    }));
  const chosen = pickWeighted(ready, random);
  if (!chosen) return { kind: 'no-ready', namespace: b.namespace, service: b.service };
  return { kind: 'deployment', namespace: b.namespace, service: b.service, deployment: chosen.d };
}

// ---------------------------------------------------------------------------------------------
// The http-echo behaviour of a Deployment

export interface EchoBehaviour {
  status: number;
  body: string;
  headers: Array<[string, string]>;
  errorRate: number;
  latencyMs: number;
}

export const ANNOTATION_PREFIX = 'standin.helm-canary/';

/** Go flag syntax: -name=value, --name=value, -name value. */
function flagValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = String(args[i]);
    for (const dash of ['-', '--']) {
      if (a.startsWith(`${dash}${name}=`)) return a.slice(dash.length + name.length + 1);
      if (a === `${dash}${name}` && i + 1 < args.length) return String(args[i + 1]);
    }
  }
  return undefined;
}

export function parseHeaderList(s: string | undefined): Array<[string, string]> {
  if (!s) return [];
  const out: Array<[string, string]> = [];
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq >= 0 ? part.slice(0, eq) : part).trim();
    if (!name || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) continue;
    out.push([name, eq >= 0 ? part.slice(eq + 1).trim() : '']);
  }
  return out;
}

export function echoBehaviour(d: KubeObject): EchoBehaviour {
  const container = d.spec?.template?.spec?.containers?.[0] ?? {};
  const args: string[] = Array.isArray(container.args) ? container.args.map(String) : [];
  const env: any[] = Array.isArray(container.env) ? container.env : [];
  const text = flagValue(args, 'text') ?? env.find((e) => e?.name === 'ECHO_TEXT')?.value ?? '';
  const status = Math.trunc(numberOr(flagValue(args, 'status-code'), 200));
  const ann = { ...(d.spec?.template?.metadata?.annotations ?? {}), ...(d.metadata?.annotations ?? {}) };
  const errorRate = Math.min(1, Math.max(0, numberOr(ann[`${ANNOTATION_PREFIX}error-rate`], 0)));
  const latencyMs = Math.max(0, numberOr(ann[`${ANNOTATION_PREFIX}latency-ms`], 0));
  return {
    status: status >= 100 && status <= 999 ? status : 200,
    body: `${text}\n`,
    headers: parseHeaderList(ann[`${ANNOTATION_PREFIX}response-headers`]),
    errorRate,
    latencyMs,
  };
}
