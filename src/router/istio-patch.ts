// Pure: a VirtualService + the wanted destinations of one http route -> a guarded JSON patch that
// replaces only that route's `route` list. No I/O.
import type { JsonPatchOp } from '../kube/kubectl-helper.js';
import type { Destination, VirtualServiceObject, VsHttpRoute, VsRouteDestination } from './router.js';

/** Throws unless the destinations are a non-empty list of distinct hosts with integer weights
 *  0..100 summing to exactly 100. */
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
    const key = destKey(d);
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

function destKey(d: { host: string; subset?: string }): string {
  return d.subset ? `${d.host}/${d.subset}` : d.host;
}

function httpRoute(vs: VirtualServiceObject, routeIndex: number): VsHttpRoute {
  const http = vs?.spec?.http;
  if (!Array.isArray(http) || routeIndex < 0 || routeIndex >= http.length || !Number.isInteger(routeIndex)) {
    throw new Error(`VirtualService "${vs?.metadata?.name ?? '?'}" has no http route #${routeIndex}.`);
  }
  return http[routeIndex];
}

/** The destinations of http route `routeIndex` as written (a lone destination without a weight
 *  gets 100, as Istio treats it; otherwise a missing weight reads as 0). */
export function readDestinations(vs: VirtualServiceObject, routeIndex: number): Destination[] {
  const route = httpRoute(vs, routeIndex);
  const list: VsRouteDestination[] = Array.isArray(route?.route) ? route.route : [];
  return list.map((r) => {
    const d: Destination = {
      host: String(r?.destination?.host ?? ''),
      weight: typeof r?.weight === 'number' ? r.weight : list.length === 1 ? 100 : 0,
    };
    const port = r?.destination?.port?.number;
    if (typeof port === 'number') d.port = port;
    if (r?.destination?.subset) d.subset = String(r.destination.subset);
    return d;
  });
}

/**
 * [test resourceVersion, test the route's name (or, for an unnamed route, its current route
 * list), replace /spec/http/{i}/route]. A destination whose host(+subset) already exists keeps
 * every other field it had (headers, port name, …) and gets the new weight (and port, if given).
 */
export function buildWeightPatch(
  vs: VirtualServiceObject,
  routeIndex: number,
  destinations: Destination[],
): JsonPatchOp[] {
  validateDestinations(destinations);
  const resourceVersion = vs?.metadata?.resourceVersion;
  if (typeof resourceVersion !== 'string' || resourceVersion === '') {
    throw new Error(
      'The VirtualService has no metadata.resourceVersion; read it from the cluster before patching.',
    );
  }
  const route = httpRoute(vs, routeIndex);
  const current: VsRouteDestination[] = Array.isArray(route?.route) ? route.route : [];
  if (current.length === 0) {
    throw new Error(
      `Route #${routeIndex} has no destinations (a redirect or direct response?); it cannot be weighted.`,
    );
  }
  const existing = new Map<string, VsRouteDestination>();
  for (const r of current) {
    const host = r?.destination?.host;
    if (typeof host !== 'string') continue;
    const key = destKey({ host, subset: r.destination?.subset });
    if (!existing.has(key)) existing.set(key, r);
  }
  const next = destinations.map((d): VsRouteDestination => {
    const old = existing.get(destKey(d));
    const entry: VsRouteDestination = old ? structuredClone(old) : { destination: { host: d.host } };
    const destination = entry.destination ?? { host: d.host };
    entry.destination = destination;
    if (d.subset) destination.subset = d.subset;
    if (d.port !== undefined) destination.port = { ...(destination.port ?? {}), number: d.port };
    entry.weight = d.weight;
    return entry;
  });
  const base = `/spec/http/${routeIndex}`;
  const ops: JsonPatchOp[] = [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }];
  if (typeof route.name === 'string' && route.name !== '')
    ops.push({ op: 'test', path: `${base}/name`, value: route.name });
  else ops.push({ op: 'test', path: `${base}/route`, value: current });
  ops.push({ op: 'replace', path: `${base}/route`, value: next });
  return ops;
}
