// Pure: the parts of an Istio VirtualService that helm-canary reads, and which of its http routes
// it manages. See https://istio.io/latest/docs/reference/config/networking/virtual-service/.
import type { KubeMetadata } from '../../kube/kubectl-helper.js';

export const VIRTUAL_SERVICE_RESOURCE = 'virtualservices.networking.istio.io';

/** The http route helm-canary puts in front of the managed one to pin probes to the canary. */
export const PINNED_ROUTE_NAME = 'helm-canary-pinned';

/** One entry of an http route's `route` list; fields we do not know (headers, …) pass through. */
export interface VsRouteDestination {
  destination?: {
    host?: string;
    subset?: string;
    port?: { number?: number; [k: string]: unknown };
    [k: string]: unknown;
  };
  weight?: number;
  [k: string]: unknown;
}

export interface VsHttpRoute {
  name?: string;
  match?: Array<Record<string, unknown>>;
  route?: VsRouteDestination[];
  [k: string]: unknown;
}

export interface VirtualServiceObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeMetadata;
  spec?: { hosts?: string[]; http?: VsHttpRoute[]; [k: string]: unknown };
  [k: string]: unknown;
}

/**
 * The managed route as chosen at the first read: by name when it has one; an unnamed route by its
 * position among the routes that are not helm-canary's pinned route (so inserting or removing the
 * pinned route in front of it does not lose it).
 */
export interface ResolvedRoute {
  name?: string;
  /** Position among the non-pinned http routes. */
  position: number;
}

export function httpRoutes(vs: VirtualServiceObject | undefined): VsHttpRoute[] {
  return Array.isArray(vs?.spec?.http) ? vs.spec.http : [];
}

export const isPinned = (r: VsHttpRoute | undefined): boolean => r?.name === PINNED_ROUTE_NAME;

function hostsOf(route: VsHttpRoute | undefined): string[] {
  return Array.isArray(route?.route) ? route.route.map((r) => String(r?.destination?.host ?? '')) : [];
}

/** "foo" matches "foo", "foo.ns", "foo.ns.svc.cluster.local" (and the other way round). */
export function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  return a.startsWith(b + '.') || b.startsWith(a + '.');
}

/** How messages name a route: `"name"` or `#index`. */
export function routeLabel(route: VsHttpRoute | undefined, index: number): string {
  return route?.name ? `"${route.name}"` : `#${index}`;
}

function describeRoutes(http: VsHttpRoute[]): string {
  return http
    .map(
      (r, i) =>
        `${r?.name ? `"${r.name}"` : `#${i} (unnamed)`} -> ${hostsOf(r).join(', ') || '(no destinations)'}`,
    )
    .join('; ');
}

/**
 * Which http route helm-canary manages: the one named `route`; else the one whose destinations
 * include `stableHostHint`; else the only route; else the one catch-all route; else an error
 * listing them. The pinned route is never a candidate. Returns its index in spec.http.
 */
export function resolveRoute(
  vs: VirtualServiceObject,
  opts: { route?: string; stableHostHint?: string },
): { index: number; name?: string } {
  const vsName = vs?.metadata?.name ?? '(unnamed)';
  const all = httpRoutes(vs);
  const candidates = all.map((r, i) => ({ r, i })).filter(({ r }) => !isPinned(r));
  const http = candidates.map(({ r }) => r);
  if (http.length === 0) {
    throw new Error(
      `VirtualService "${vsName}" has no http routes (spec.http is empty); helm-canary manages the weights of an http route.`,
    );
  }
  const result = (index: number): { index: number; name?: string } => {
    const route = all[index];
    if (!Array.isArray(route?.route) || route.route.length === 0) {
      throw new Error(
        `Route ${route?.name ? `"${route.name}"` : `#${index}`} of VirtualService "${vsName}" has no destinations ` +
          `(a redirect or direct response?); choose a route that forwards to a Service.`,
      );
    }
    return route.name ? { index, name: String(route.name) } : { index };
  };
  if (opts.route) {
    const c = candidates.find(({ r }) => r?.name === opts.route);
    if (!c) {
      throw new Error(
        `Input 'route': VirtualService "${vsName}" has no http route named "${opts.route}". Its routes: ${describeRoutes(all)}.`,
      );
    }
    return result(c.i);
  }
  if (opts.stableHostHint) {
    const hint = opts.stableHostHint;
    const matches = candidates.filter(({ r }) => hostsOf(r).some((h) => sameHost(h, hint)));
    if (matches.length === 1) return result(matches[0].i);
    if (matches.length > 1) {
      throw new Error(
        `VirtualService "${vsName}" has ${matches.length} http routes that send traffic to "${hint}"; ` +
          `set input 'route' to the name of the one to manage (name the route in the chart if it has none). ` +
          `Its routes: ${describeRoutes(all)}.`,
      );
    }
  }
  if (http.length === 1) return result(candidates[0].i);
  // Istio's convention: the catch-all route (no match conditions) is the app's default route; the
  // others (header canaries, admin paths, ...) are left alone.
  const catchAll = candidates.filter(({ r }) => !Array.isArray(r?.match) || r.match.length === 0);
  if (catchAll.length === 1 && Array.isArray(catchAll[0].r?.route) && catchAll[0].r.route.length > 0) {
    return result(catchAll[0].i);
  }
  throw new Error(
    `VirtualService "${vsName}" has ${http.length} http routes; set input 'route' to the name of the one to manage ` +
      `(name the route in the chart if it has none). Its routes: ${describeRoutes(all)}.`,
  );
}

/** Position of spec.http[index] among the non-pinned routes. */
export function positionOf(vs: VirtualServiceObject, index: number): number {
  return httpRoutes(vs)
    .slice(0, index)
    .filter((r) => !isPinned(r)).length;
}

/** Index in spec.http of a route resolved earlier, in a fresh read of the object; throws when it is gone. */
export function locateRoute(vs: VirtualServiceObject, at: ResolvedRoute): number {
  const vsName = vs?.metadata?.name ?? '(unnamed)';
  const http = httpRoutes(vs);
  if (at.name) {
    const i = http.findIndex((r) => r?.name === at.name);
    if (i < 0) throw new Error(`VirtualService "${vsName}" no longer has the http route "${at.name}".`);
    return i;
  }
  let seen = -1;
  const i = http.findIndex((r) => !isPinned(r) && ++seen === at.position);
  const r = http[i];
  if (i < 0 || r.name || !Array.isArray(r.route) || r.route.length === 0) {
    throw new Error(
      `VirtualService "${vsName}": the unnamed http route #${at.position} changed shape since it was read; ` +
        `name the route in the chart and set input 'route'.`,
    );
  }
  return i;
}
