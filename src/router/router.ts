// The traffic router abstraction ("read and set the weights"), one implementation per traffic
// API, like Flagger's routers. Only Istio's VirtualService is implemented (istio-router.ts).
import type { KubeMetadata } from '../kube/kubectl-helper.js';
import type { OwnerFinding } from '../rollout/ownership.js';

export type { OwnerFinding };

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
  route?: VsRouteDestination[];
  [k: string]: unknown;
}

/** The parts of an Istio VirtualService that helm-canary reads. */
export interface VirtualServiceObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeMetadata;
  spec?: { hosts?: string[]; http?: VsHttpRoute[]; [k: string]: unknown };
  [k: string]: unknown;
}

/** A Service host as written in the route (e.g. "foolish-penguin-sample"), optionally a port. */
export interface Backend {
  host: string;
  port?: number;
}

export interface Destination extends Backend {
  /** Integer percent 0..100; the destinations of one route sum to 100. */
  weight: number;
  subset?: string;
}

export interface RouteSnapshot {
  routeIndex: number;
  routeName?: string;
  destinations: Destination[];
  resourceVersion: string;
  annotations: Record<string, string>;
}

export interface TrafficRouter {
  /** "VirtualService" */
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  /** Reads the managed route. */
  getRoutes(): Promise<RouteSnapshot>;
  /**
   * Replaces the managed route's destinations (weights must be integers summing to 100). Changes
   * nothing else; guarded by a resourceVersion test, retried on conflicts from a fresh read, and
   * verified by reading back. Returns the read-back snapshot.
   */
  setRoutes(destinations: Destination[]): Promise<RouteSnapshot>;
  /** Records state annotations (keys without a prefix get `helm-canary.io/`); null removes. */
  setState(annotations: Record<string, string | null>): Promise<void>;
  /** Who else manages the resource, and what that means for the weights. */
  owners(): Promise<OwnerFinding[]>;
}

export interface ResolvedRoute {
  index: number;
  name?: string;
}

function hostsOf(route: VsHttpRoute | undefined): string[] {
  return Array.isArray(route?.route) ? route.route.map((r) => String(r?.destination?.host ?? '')) : [];
}

/** "foo" matches "foo", "foo.ns", "foo.ns.svc.cluster.local" (and the other way round). */
export function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  return a.startsWith(b + '.') || b.startsWith(a + '.');
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
 * Which http route of a VirtualService helm-canary manages: the one named `route`; else the one
 * whose destinations include `stableHostHint`; else the only route; else an error listing them.
 * Pure.
 */
export function resolveRoute(
  vs: VirtualServiceObject,
  opts: { route?: string; stableHostHint?: string },
): ResolvedRoute {
  const vsName = vs?.metadata?.name ?? '(unnamed)';
  const http: VsHttpRoute[] = Array.isArray(vs?.spec?.http) ? vs.spec.http : [];
  if (http.length === 0) {
    throw new Error(
      `VirtualService "${vsName}" has no http routes (spec.http is empty); helm-canary manages the weights of an http route.`,
    );
  }
  const result = (index: number): ResolvedRoute => {
    const route = http[index];
    if (!Array.isArray(route?.route) || route.route.length === 0) {
      throw new Error(
        `Route ${route?.name ? `"${route.name}"` : `#${index}`} of VirtualService "${vsName}" has no destinations ` +
          `(a redirect or direct response?); choose a route that forwards to a Service.`,
      );
    }
    return route.name ? { index, name: String(route.name) } : { index };
  };
  if (opts.route) {
    const i = http.findIndex((r) => r?.name === opts.route);
    if (i < 0) {
      throw new Error(
        `Input 'route': VirtualService "${vsName}" has no http route named "${opts.route}". Its routes: ${describeRoutes(http)}.`,
      );
    }
    return result(i);
  }
  if (opts.stableHostHint) {
    const hint = opts.stableHostHint;
    const matches = http
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => hostsOf(r).some((h) => sameHost(h, hint)));
    if (matches.length === 1) return result(matches[0].i);
    if (matches.length > 1) {
      throw new Error(
        `VirtualService "${vsName}" has ${matches.length} http routes that send traffic to "${hint}"; ` +
          `set input 'route' to the name of the one to manage (name the route in the chart if it has none). ` +
          `Its routes: ${describeRoutes(http)}.`,
      );
    }
  }
  if (http.length === 1) return result(0);
  // Istio's convention: the catch-all route (no match conditions) is the app's default route; the
  // others (header canaries, admin paths, ...) are left alone.
  const catchAll = http
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => !Array.isArray(r?.match) || r.match.length === 0);
  if (catchAll.length === 1 && Array.isArray(catchAll[0].r?.route) && catchAll[0].r.route.length > 0) {
    return result(catchAll[0].i);
  }
  throw new Error(
    `VirtualService "${vsName}" has ${http.length} http routes; set input 'route' to the name of the one to manage ` +
      `(name the route in the chart if it has none). Its routes: ${describeRoutes(http)}.`,
  );
}
