// Pure: the parts of a Gateway API HTTPRoute that helm-canary reads, which rule it manages, how a
// backendRef is named as a destination host, and what the route's status says.
// See https://gateway-api.sigs.k8s.io/reference/spec/#httproute.
import type { KubeMetadata } from '../../kube/kubectl-helper.js';
import type { Destination, ServiceRef } from '../router.js';

export const HTTP_ROUTE_RESOURCE = 'httproutes.gateway.networking.k8s.io';
export const REFERENCE_GRANT_RESOURCE = 'referencegrants.gateway.networking.k8s.io';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** The rule helm-canary adds to pin probes to the canary (rules[].name, Gateway API >= 1.2). */
export const PINNED_RULE_NAME = 'helm-canary-pinned';
/** The CRD's maxItems of spec.rules. */
export const MAX_RULES = 16;

/** One backendRef; fields we do not change (filters, port, …) pass through. */
export interface BackendRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [k: string]: unknown;
}

export interface HttpRouteMatch {
  path?: { type?: string; value?: string };
  headers?: Array<{ type?: string; name?: string; value?: string }>;
  [k: string]: unknown;
}

export interface HttpRouteRule {
  name?: string;
  matches?: HttpRouteMatch[];
  backendRefs?: BackendRef[];
  [k: string]: unknown;
}

export interface RouteCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export interface HttpRouteObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeMetadata;
  spec?: { parentRefs?: unknown[]; hostnames?: string[]; rules?: HttpRouteRule[]; [k: string]: unknown };
  status?: {
    parents?: Array<{ parentRef?: { name?: string; namespace?: string }; conditions?: RouteCondition[] }>;
  };
  [k: string]: unknown;
}

export function rulesOf(route: HttpRouteObject | undefined): HttpRouteRule[] {
  return Array.isArray(route?.spec?.rules) ? route.spec.rules : [];
}

export const isPinned = (r: HttpRouteRule | undefined): boolean => r?.name === PINNED_RULE_NAME;

/** A core Service reference (group "" and kind Service, the defaults). */
export function isServiceRef(ref: BackendRef | undefined): boolean {
  return (ref?.group ?? '') === '' && (ref?.kind ?? 'Service') === 'Service';
}

/**
 * How a backendRef reads as a destination host: a Service as "name" (the route's namespace) or
 * "name.namespace"; any other kind as "Kind.group/namespace/name", which no Service name can be.
 */
export function hostOfRef(ref: BackendRef, routeNamespace: string): string {
  const name = String(ref?.name ?? '');
  const ns = ref?.namespace ? String(ref.namespace) : routeNamespace;
  if (isServiceRef(ref)) return ns === routeNamespace ? name : `${name}.${ns}`;
  return `${ref.kind ?? 'Service'}.${ref.group ?? ''}/${ns}/${name}`;
}

export function serviceOfHost(host: string, routeNamespace: string): ServiceRef {
  if (host.includes('/')) {
    const [, namespace, name] = host.split('/');
    return { name, namespace };
  }
  const [name, namespace] = host.split('.');
  return { name, namespace: namespace || routeNamespace };
}

export function hostOfService(svc: ServiceRef, routeNamespace: string): string {
  return svc.namespace === routeNamespace ? svc.name : `${svc.name}.${svc.namespace}`;
}

/** A backendRef for a destination host (the fields a Service reference needs). */
export function refOfHost(host: string, routeNamespace: string): BackendRef {
  const svc = serviceOfHost(host, routeNamespace);
  const ref: BackendRef = { name: svc.name };
  if (svc.namespace !== routeNamespace) ref.namespace = svc.namespace;
  return ref;
}

/**
 * Weights are relative (default 1; a lone backend gets everything): read as integer percentages
 * summing to 100 (largest remainder), or all 0 when the rule sends no traffic (the gateway answers 500).
 */
export function readDestinations(route: HttpRouteObject, index: number): Destination[] {
  const refs = rulesOf(route)[index]?.backendRefs ?? [];
  const ns = route?.metadata?.namespace ?? '';
  const raw = refs.map((r) => (typeof r?.weight === 'number' ? Math.max(0, r.weight) : 1));
  const total = raw.reduce((s, w) => s + w, 0);
  const exact = raw.map((w) => (total > 0 ? (w * 100) / total : 0));
  const weights = exact.map(Math.floor);
  let left = total > 0 ? 100 - weights.reduce((s, w) => s + w, 0) : 0;
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac);
  for (const { i } of order) if (left-- > 0) weights[i]++;
  return refs.map((r, i) => {
    const d: Destination = { host: hostOfRef(r, ns), weight: weights[i] };
    if (typeof r?.port === 'number') d.port = r.port;
    return d;
  });
}

/** How messages name a rule: `"name"` or `#index`. */
export function ruleLabel(rule: HttpRouteRule | undefined, index: number): string {
  return rule?.name ? `"${rule.name}"` : `#${index}`;
}

function describeRules(route: HttpRouteObject): string {
  const ns = route?.metadata?.namespace ?? '';
  return rulesOf(route)
    .map(
      (r, i) =>
        `${ruleLabel(r, i)} -> ${(r.backendRefs ?? []).map((b) => hostOfRef(b, ns)).join(', ') || '(no backends)'}`,
    )
    .join('; ');
}

/** The managed rule as chosen at the first read: by name, else by its index (the pinned rule is
 *  always appended last, so it never moves another rule). */
export interface ResolvedRule {
  name?: string;
  index: number;
}

/**
 * Which rule helm-canary manages: the one named `route`; else the one whose backendRefs include
 * `stableHostHint`'s Service; else the only rule, or the only rule with backendRefs (the pinned
 * rule never counts).
 */
export function resolveRule(
  route: HttpRouteObject,
  opts: { route?: string; stableHostHint?: string },
): ResolvedRule {
  const name = route?.metadata?.name ?? '(unnamed)';
  const ns = route?.metadata?.namespace ?? '';
  const candidates = rulesOf(route)
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => !isPinned(r));
  const result = (i: number): ResolvedRule => {
    const rule = rulesOf(route)[i];
    if (!Array.isArray(rule?.backendRefs) || rule.backendRefs.length === 0)
      throw new Error(
        `Rule ${ruleLabel(rule, i)} of HTTPRoute "${name}" has no backendRefs (a redirect?); choose a rule that forwards to a Service.`,
      );
    return rule.name ? { name: rule.name, index: i } : { index: i };
  };
  if (candidates.length === 0)
    throw new Error(`HTTPRoute "${name}" has no rules; helm-canary manages the backend weights of a rule.`);
  if (opts.route) {
    const c = candidates.find(({ r }) => r.name === opts.route);
    if (!c)
      throw new Error(
        `Input 'route': HTTPRoute "${name}" has no rule named "${opts.route}" (rule names need Gateway API 1.2 or later). Its rules: ${describeRules(route)}.`,
      );
    return result(c.i);
  }
  if (opts.stableHostHint) {
    const want = serviceOfHost(opts.stableHostHint, ns);
    const hits = candidates.filter(({ r }) =>
      (r.backendRefs ?? []).some((b) => {
        const s = serviceOfHost(hostOfRef(b, ns), ns);
        return isServiceRef(b) && s.name === want.name && s.namespace === want.namespace;
      }),
    );
    if (hits.length === 1) return result(hits[0].i);
    if (hits.length > 1)
      throw new Error(
        `HTTPRoute "${name}" has ${hits.length} rules that send traffic to "${opts.stableHostHint}"; set input 'route' ` +
          `to the name of the one to manage (name the rule in the chart). Its rules: ${describeRules(route)}.`,
      );
  }
  if (candidates.length === 1) return result(candidates[0].i);
  // Rules without backends (redirects) have no weights: the only rule that forwards is the one.
  const forwarding = candidates.filter(({ r }) => Array.isArray(r.backendRefs) && r.backendRefs.length > 0);
  if (forwarding.length === 1) return result(forwarding[0].i);
  throw new Error(
    `HTTPRoute "${name}" has ${candidates.length} rules; set input 'route' to the name of the one to manage ` +
      `(name the rule in the chart: rules[].name, Gateway API 1.2 or later). Its rules: ${describeRules(route)}.`,
  );
}

/** Index of a rule resolved earlier in a fresh read; throws when it is gone or changed shape. */
export function locateRule(route: HttpRouteObject, at: ResolvedRule): number {
  const name = route?.metadata?.name ?? '(unnamed)';
  const rules = rulesOf(route);
  if (at.name) {
    const i = rules.findIndex((r) => r?.name === at.name);
    if (i < 0) throw new Error(`HTTPRoute "${name}" no longer has the rule "${at.name}".`);
    return i;
  }
  const r = rules[at.index];
  if (!r || r.name || isPinned(r) || !Array.isArray(r.backendRefs) || r.backendRefs.length === 0)
    throw new Error(
      `HTTPRoute "${name}": the unnamed rule #${at.index} changed shape since it was read; ` +
        `name the rule in the chart and set input 'route'.`,
    );
  return at.index;
}

/** Warnings from status.parents[].conditions: a parent that has not Accepted the route, or refs it cannot resolve. */
export function statusWarnings(route: HttpRouteObject): string[] {
  const name = route?.metadata?.name ?? '(unnamed)';
  const out: string[] = [];
  for (const p of route?.status?.parents ?? []) {
    const parent =
      [p?.parentRef?.namespace, p?.parentRef?.name].filter(Boolean).join('/') || '(unnamed parent)';
    for (const type of ['Accepted', 'ResolvedRefs']) {
      const c = (p?.conditions ?? []).find((x) => x?.type === type);
      if (c && c.status !== 'True')
        out.push(
          `HTTPRoute "${name}": parent ${parent} reports ${type}=${c.status ?? '?'}` +
            `${c.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ''})` : ''}; ` +
            (type === 'Accepted'
              ? 'that Gateway does not serve this route, so the weights helm-canary sets do not reach users through it.'
              : 'the gateway answers 500 for backends it cannot resolve.'),
        );
    }
  }
  return out;
}
