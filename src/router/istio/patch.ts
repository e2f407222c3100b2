// Pure: a VirtualService + what to change -> a guarded JSON patch that touches only that: the
// managed route's `route` list, or the pinned route in front of it. No I/O.
import type { JsonPatchOp } from '../../kube/kubectl-helper.js';
import { destinationKey, validateDestinations, type Destination, type PinnedRoute } from '../router.js';
import {
  httpRoutes,
  isPinned,
  PINNED_ROUTE_NAME,
  type VirtualServiceObject,
  type VsHttpRoute,
  type VsRouteDestination,
} from './virtual-service.js';

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
  const versionTest = testVersion(vs);
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
    const key = destinationKey({ host, subset: r.destination?.subset });
    if (!existing.has(key)) existing.set(key, r);
  }
  const next = destinations.map((d): VsRouteDestination => {
    const old = existing.get(destinationKey(d));
    const entry: VsRouteDestination = old ? structuredClone(old) : { destination: { host: d.host } };
    const destination = entry.destination ?? { host: d.host };
    entry.destination = destination;
    if (d.subset) destination.subset = d.subset;
    if (d.port !== undefined) destination.port = { ...(destination.port ?? {}), number: d.port };
    entry.weight = d.weight;
    return entry;
  });
  const base = `/spec/http/${routeIndex}`;
  const ops: JsonPatchOp[] = [versionTest];
  if (typeof route.name === 'string' && route.name !== '')
    ops.push({ op: 'test', path: `${base}/name`, value: route.name });
  else ops.push({ op: 'test', path: `${base}/route`, value: current });
  ops.push({ op: 'replace', path: `${base}/route`, value: next });
  return ops;
}

function testVersion(vs: VirtualServiceObject): JsonPatchOp {
  const resourceVersion = vs?.metadata?.resourceVersion;
  if (typeof resourceVersion !== 'string' || resourceVersion === '') {
    throw new Error(
      'The VirtualService has no metadata.resourceVersion; read it from the cluster before patching.',
    );
  }
  return { op: 'test', path: '/metadata/resourceVersion', value: resourceVersion };
}

/**
 * The pinned route: a copy of the managed route (every field: rewrite, timeout, retries, headers,
 * fault, mirror…, so a pinned probe takes the users' path) whose every match also requires
 * `header: exact value`, routing 100% to the pinned destination. Istio evaluates http routes in
 * order, so in front of the managed route it takes exactly the marked requests.
 */
export function pinnedRoute(managed: VsHttpRoute, pin: PinnedRoute): VsHttpRoute {
  const copy = structuredClone(managed);
  const header = { [pin.header.toLowerCase()]: { exact: pin.value } };
  const matches = Array.isArray(copy.match) && copy.match.length > 0 ? copy.match : [{}];
  copy.match = matches.map((m) => {
    const headers = m.headers && typeof m.headers === 'object' ? (m.headers as Record<string, unknown>) : {};
    return { ...m, headers: { ...headers, ...header } };
  });
  copy.name = PINNED_ROUTE_NAME;
  const destination: VsRouteDestination['destination'] = { host: pin.destination.host };
  if (pin.destination.subset) destination.subset = pin.destination.subset;
  if (pin.destination.port !== undefined) destination.port = { number: pin.destination.port };
  // Keep per-destination extras (headers manipulation) of the managed route's first destination.
  const first = Array.isArray(managed.route) ? managed.route[0] : undefined;
  const extras = first
    ? Object.fromEntries(Object.entries(first).filter(([k]) => k !== 'destination' && k !== 'weight'))
    : {};
  copy.route = [{ ...structuredClone(extras), destination, weight: 100 }];
  return copy;
}

/** Puts the pinned route right in front of http route `managedIndex` (replacing an existing one). */
export function buildPinPatch(
  vs: VirtualServiceObject,
  managedIndex: number,
  pin: PinnedRoute,
): JsonPatchOp[] {
  const http = httpRoutes(vs);
  const managed = httpRoute(vs, managedIndex);
  const ops: JsonPatchOp[] = [testVersion(vs)];
  const value = pinnedRoute(managed, pin);
  const existing = http.findIndex(isPinned);
  if (existing >= 0) {
    ops.push({ op: 'test', path: `/spec/http/${existing}/name`, value: PINNED_ROUTE_NAME });
    ops.push({ op: 'remove', path: `/spec/http/${existing}` });
  }
  const at = existing >= 0 && existing < managedIndex ? managedIndex - 1 : managedIndex;
  ops.push({ op: 'add', path: `/spec/http/${at}`, value });
  return ops;
}

/** Removes the pinned route; undefined when there is none. */
export function buildUnpinPatch(vs: VirtualServiceObject): JsonPatchOp[] | undefined {
  const i = httpRoutes(vs).findIndex(isPinned);
  if (i < 0) return undefined;
  return [
    testVersion(vs),
    { op: 'test', path: `/spec/http/${i}/name`, value: PINNED_ROUTE_NAME },
    { op: 'remove', path: `/spec/http/${i}` },
  ];
}
