// "Read and set the weights": the one interface the rollout loop uses to move traffic, in the
// spirit of Flagger's pkg/router (Reconcile/SetRoutes/GetRoutes/Finalize). Nothing here knows a
// traffic API: each implementation (Istio VirtualService in ./istio/, Gateway API HTTPRoute in ./gateway-api/)
// sits in its own folder behind it.
import type { OwnerFinding } from './ownership.js';

export type { OwnerFinding };

/** A backend of the managed route: the Service as the routing object names it, and its weight. */
export interface Destination {
  /** As written in the route, e.g. "foolish-penguin-sample" or "svc.ns.svc.cluster.local". */
  host: string;
  port?: number;
  subset?: string;
  /** Integer percent 0..100; the destinations of one route sum to 100. */
  weight: number;
}

export interface ServiceRef {
  name: string;
  namespace: string;
}

export interface RouteSnapshot {
  /** How messages name the managed route: its name, or "#<index>" when it has none. */
  route: string;
  destinations: Destination[];
  /** Version token of the routing object at this read (its resourceVersion). */
  version: string;
  /** State recorded on the object by earlier runs (the helm-canary.io/* annotations). */
  state: Record<string, string>;
  /** The last writer of the routes other than helm-canary (field manager and time), if known. */
  changedBy?: string;
}

/** What a weight write must find before it writes: the version it read, the route it last wrote. */
export interface WriteGuard {
  /** Version token of the read the write is derived from. */
  version?: string;
  /** The managed route must still have exactly these destinations, else RouteChangedError. */
  current?: Destination[];
}

/** The managed route is not what this run last wrote: someone else changed it. */
export class RouteChangedError extends Error {
  constructor(
    message: string,
    readonly found: Destination[],
    readonly changedBy?: string,
  ) {
    super(message);
    this.name = 'RouteChangedError';
  }
}

/** What the first read of the routing object found besides its routes. */
export interface Inspection {
  /** Who else manages the object, and what that means for the weights. */
  owners: OwnerFinding[];
  /** Problems of the object's environment worth a warning (e.g. no sidecar injection). */
  warnings: string[];
  /** Helm release that renders the object itself: uninstalling it would delete the route. */
  ownerRelease?: string;
  /** With several routing objects: every Helm release that renders one of them. */
  ownerReleases?: string[];
}

/**
 * Versions as entries of a registry behind one shared Service, e.g. Istio DestinationRule
 * subsets: every version keeps the Service's name, and the route's destinations name an entry.
 */
export interface VersionRegistry {
  /** e.g. "DestinationRule" */
  readonly kind: string;
  readonly name: string;
  /**
   * Reads only, before anything changes: the registry exists, belongs to the shared Service of
   * `stable`, and the stable's entry selects the stable release's pods. Returns the shared Service
   * and the stable release (from the entry's labels).
   */
  check(stable: Destination): Promise<{ service: ServiceRef; stableRelease?: string }>;
  /** The destination of `release` behind the same Service as `stable` (weight left to the caller). */
  destinationOf(release: string, stable: Destination): Omit<Destination, 'weight'>;
  /** Adds the entry of `release` (other fields copied from the entry of `like`), guarded; a no-op when it is there. */
  add(release: string, like: Destination): Promise<void>;
  /** Removes the entry a destination names, guarded; true when it removed something. */
  remove(d: Pick<Destination, 'host' | 'subset'>): Promise<boolean>;
}

/** A route in front of the managed one that sends requests carrying `header: value` to `destination`. */
export interface PinnedRoute {
  header: string;
  value: string;
  destination: Omit<Destination, 'weight'>;
}

export interface TrafficRouter {
  /** e.g. "VirtualService" */
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  /** Reads only: the object exists, who else manages it, warnings about its environment. */
  inspect(): Promise<Inspection>;
  /** Reads the managed route (chosen on the first read, then followed). */
  getRoutes(): Promise<RouteSnapshot>;
  /**
   * Replaces the managed route's destinations (integers summing to 100) and nothing else; guarded
   * by the object's version (`guard.version`, else a fresh read), retried from a fresh read on
   * conflicts, verified by reading back. With `guard.current`, every attempt first checks that
   * the route still has those destinations and throws RouteChangedError when it does not.
   */
  setRoutes(destinations: Destination[], guard?: WriteGuard): Promise<RouteSnapshot>;
  /** Adds (or replaces) the header-matched route in front of the managed route; a copy of it otherwise. */
  setPinnedRoute(pin: PinnedRoute): Promise<void>;
  /** Removes the pinned route if there is one; true when it removed something. */
  removePinnedRoute(): Promise<boolean>;
  /**
   * Why destination `host` is not a Service of the cluster, or undefined when it names one (which
   * may or may not exist): e.g. it is an external host, or an entry of the traffic API's own
   * registry declares it. A route to such a host has something live behind it that no rollout
   * may replace unverified.
   */
  externalHost(host: string): Promise<string | undefined>;
  /** Routes other than the managed one (and the pinned one) that still send traffic to `host`
   *  (to its entry `subset`, when given). */
  references(host: string, subset?: string): Promise<string[]>;
  /** Records state (keys without a prefix get `helm-canary.io/`); null removes a key. */
  setState(state: Record<string, string | null>): Promise<void>;
  /** The command a person runs to set the managed route to `destinations` by hand. */
  restoreCommand(destinations: Destination[]): string;
  /** The Service a destination host names. */
  serviceOf(host: string): ServiceRef;
  /** How a destination names the Service `svc`. */
  hostOf(svc: ServiceRef): string;
  /** Subset mode: versions are entries of this registry behind one shared Service. */
  readonly versions?: VersionRegistry;
  /** With several routing objects: each one's kind and name, in the order they are written. */
  readonly objects?: Array<{ kind: string; name: string }>;
}

/** Same Service and same entry (subset): the same backend. */
export function sameBackend(
  router: Pick<TrafficRouter, 'serviceOf'>,
  a: Pick<Destination, 'host' | 'subset'>,
  b: Pick<Destination, 'host' | 'subset'>,
): boolean {
  return sameService(router, a.host, b.host) && (a.subset ?? '') === (b.subset ?? '');
}

/** The inverse of destinationKey: "host" or "host/subset" (hosts never hold a '/'). */
export function parseDestinationKey(key: string): { host: string; subset?: string } {
  const i = key.indexOf('/');
  return i < 0 ? { host: key } : { host: key.slice(0, i), subset: key.slice(i + 1) };
}

/** Two destination hosts name the same Service. */
export function sameService(router: Pick<TrafficRouter, 'serviceOf'>, a: string, b: string): boolean {
  const x = router.serviceOf(a);
  const y = router.serviceOf(b);
  return x.name === y.name && x.namespace === y.namespace;
}

/** Throws unless the destinations are a non-empty list of distinct backends with integer weights
 *  0..100 summing to exactly 100: every implementation writes only such lists. */
export function validateDestinations(destinations: Destination[]): void {
  if (!Array.isArray(destinations) || destinations.length === 0) {
    throw new Error('A route needs at least one destination.');
  }
  const seen = new Set<string>();
  let sum = 0;
  for (const d of destinations) {
    if (!d || typeof d.host !== 'string' || d.host.trim() === '') {
      throw new Error(`Every destination needs a host; got ${JSON.stringify(d)}.`);
    }
    if (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > 100) {
      throw new Error(
        `Destination "${d.host}": weight must be an integer from 0 to 100, got ${String(d.weight)}.`,
      );
    }
    if (d.port !== undefined && (!Number.isInteger(d.port) || d.port < 1 || d.port > 65535)) {
      throw new Error(
        `Destination "${d.host}": port must be an integer from 1 to 65535, got ${String(d.port)}.`,
      );
    }
    const key = destinationKey(d);
    if (seen.has(key)) throw new Error(`Destination "${key}" is listed twice.`);
    seen.add(key);
    sum += d.weight;
  }
  if (sum !== 100) {
    throw new Error(
      `Destination weights must sum to 100, got ${sum} (${destinations.map((d) => `${d.host} ${d.weight}`).join(', ')}).`,
    );
  }
}

export function destinationKey(d: { host: string; subset?: string }): string {
  return d.subset ? `${d.host}/${d.subset}` : d.host;
}

export function describeDestinations(ds: Destination[]): string {
  if (ds.length === 0) return '(no destinations)';
  return ds
    .map((d) => `${d.host}${d.port ? ':' + d.port : ''}${d.subset ? '/' + d.subset : ''} ${d.weight}%`)
    .join(', ');
}

/** undefined when `got` is what `want` asked for (same order, host, subset, weight; port when asked). */
export function compareDestinations(want: Destination[], got: Destination[]): string | undefined {
  if (want.length !== got.length) return `${got.length} destinations instead of ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    const g = got[i];
    if (w.host !== g.host || (w.subset ?? '') !== (g.subset ?? ''))
      return `destination ${i + 1} is ${g.host}`;
    if (w.weight !== g.weight) return `${g.host} has weight ${g.weight}`;
    if (w.port !== undefined && w.port !== g.port) return `${g.host} has port ${g.port ?? '(none)'}`;
  }
  return undefined;
}
