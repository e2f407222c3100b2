// TrafficRouter for an Istio VirtualService, through IKubectl. Writes only the managed route's
// `route` list and the pinned route in front of it (guarded JSON patches), and the
// helm-canary.io/ annotations.
import { KubeNotFoundError, type IKubectl } from '../../kube/kubectl-helper.js';
import { findOwners, type RoutingProfile } from '../ownership.js';
import { RoutingObject, STATE_PREFIX, stateOf } from '../routing-object.js';
import {
  validateDestinations,
  type Destination,
  type Inspection,
  type PinnedRoute,
  type RouteSnapshot,
  type WriteGuard,
  type ServiceRef,
  type TrafficRouter,
  type VersionRegistry,
} from '../router.js';
import { hostForms, hostOfService, isServiceForm, sameService, serviceOfHost } from './hosts.js';
import { buildPinPatch, buildUnpinPatch, buildWeightPatch, readDestinations } from './patch.js';
import {
  httpRoutes,
  isPinned,
  locateRoute,
  positionOf,
  resolveRoute,
  routeLabel,
  VIRTUAL_SERVICE_RESOURCE,
  type ResolvedRoute,
  type VirtualServiceObject,
} from './virtual-service.js';

export { VIRTUAL_SERVICE_RESOURCE };
export const SERVICE_ENTRY_RESOURCE = 'serviceentries.networking.istio.io';
export { STATE_PREFIX };

export const VIRTUAL_SERVICE_PROFILE: RoutingProfile = {
  kind: 'VirtualService',
  group: 'networking.istio.io',
  routesField: 'http',
  argoJqPath: '.spec.http[].route',
  argoJqNote: ' (the JSON pointer /spec/http/*/route cannot be written without a wildcard)',
};

export interface IstioRouterOptions {
  /** Input 'route': the managed route's name. */
  route?: string;
  /** The input that names the VirtualService, for the not-found message. */
  inputName?: string;
  /** The host recorded as stable in the object's state, to choose the managed route on the first read. */
  stableHostOf?: (state: Record<string, string>) => string | undefined;
  logger?: { info(s: string): void; warning(s: string): void };
  /** Used to word Helm ownership findings for the helm major in use. */
  helmMajor?: 3 | 4;
  /** Attempts of a guarded write on conflicts (default 5). */
  maxAttempts?: number;
  /** Sleep between attempts; default real timers with 100, 200, 400 ms … (+ jitter). */
  sleep?: (ms: number) => Promise<void>;
  /** Subset mode: the DestinationRule whose subsets are the versions. */
  versions?: VersionRegistry;
}

export class IstioRouter implements TrafficRouter {
  readonly kind = 'VirtualService';
  /** The route chosen at the first read. */
  private resolved?: ResolvedRoute;
  private readonly obj: RoutingObject<VirtualServiceObject>;
  readonly versions?: VersionRegistry;

  constructor(
    private readonly kubectl: IKubectl,
    readonly name: string,
    readonly namespace: string,
    private readonly opts: IstioRouterOptions = {},
  ) {
    this.versions = opts.versions;
    this.obj = new RoutingObject(
      kubectl,
      VIRTUAL_SERVICE_RESOURCE,
      'VirtualService',
      name,
      namespace,
      'http',
      opts,
    );
  }

  private read(): Promise<VirtualServiceObject> {
    return this.obj.read();
  }

  async inspect(): Promise<Inspection> {
    const labels = await this.kubectl.namespaceLabels(this.namespace);
    if (labels === undefined) throw new KubeNotFoundError(`Namespace "${this.namespace}" does not exist.`);
    const warnings: string[] = [];
    if (labels['istio-injection'] !== 'enabled' && !labels['istio.io/rev']) {
      warnings.push(
        `Namespace "${this.namespace}" has neither the label istio-injection=enabled nor istio.io/rev: ` +
          `pods there get no Istio sidecar, so mesh-internal traffic is not split (the ingress gateway still is).`,
      );
    }
    const vs = await this.read();
    return {
      owners: findOwners(vs, VIRTUAL_SERVICE_PROFILE, this.opts.helmMajor),
      warnings,
      ownerRelease: vs.metadata?.annotations?.['meta.helm.sh/release-name'] || undefined,
    };
  }

  /** Index in spec.http of the managed route; resolved on the first read, then followed. */
  private locate(vs: VirtualServiceObject): number {
    if (this.resolved) return locateRoute(vs, this.resolved);
    const stableHostHint = this.opts.stableHostOf?.(stateOf(vs));
    const r = resolveRoute(vs, { route: this.opts.route, stableHostHint });
    this.resolved = { name: r.name, position: positionOf(vs, r.index) };
    return r.index;
  }

  private snapshot(vs: VirtualServiceObject, index: number): RouteSnapshot {
    return {
      route: this.resolved?.name ?? `#${this.resolved?.position ?? index}`,
      destinations: readDestinations(vs, index),
      version: String(vs?.metadata?.resourceVersion ?? ''),
      state: stateOf(vs),
      changedBy: this.obj.lastOtherWriter(vs),
    };
  }

  async getRoutes(): Promise<RouteSnapshot> {
    const vs = await this.read();
    return this.snapshot(vs, this.locate(vs));
  }

  async setRoutes(destinations: Destination[], guard: WriteGuard = {}): Promise<RouteSnapshot> {
    validateDestinations(destinations);
    return this.obj.setWeights(
      {
        part: 'route',
        locate: (o) => this.locate(o),
        snapshot: (o, i) => this.snapshot(o, i),
        buildWeightPatch,
        describe: weights,
      },
      destinations,
      guard,
    );
  }

  async setPinnedRoute(pin: PinnedRoute): Promise<void> {
    await this.obj.guardedPatch('adding the pinned route', undefined, (vs) =>
      buildPinPatch(vs, this.locate(vs), pin),
    );
  }

  async removePinnedRoute(): Promise<boolean> {
    let removed = false;
    await this.obj.guardedPatch('removing the pinned route', undefined, (vs) => {
      const ops = buildUnpinPatch(vs);
      removed = ops !== undefined;
      return ops;
    });
    return removed;
  }

  async externalHost(host: string): Promise<string | undefined> {
    if (!isServiceForm(host))
      return (
        `"${host}" is not written as a Service of the cluster (name, name.namespace or ` +
        `name.namespace.svc[.cluster.local]): Istio sends it to an external host (a ServiceEntry or passthrough)`
      );
    const h = host.toLowerCase().replace(/\.$/, '');
    const svc = serviceOfHost(h, this.namespace);
    // "name.ns" reads like a domain too ("example.com"): a Service name only if the namespace exists.
    const twoLabels = h.split('.').length === 2;
    if (
      twoLabels &&
      svc.namespace !== this.namespace &&
      (await this.kubectl.namespaceLabels(svc.namespace)) === undefined
    )
      return `"${host}" names no namespace of the cluster ("${svc.namespace}" does not exist), so Istio sends it to an external host`;
    const forms = new Set([host.toLowerCase(), ...hostForms(svc, this.namespace)]);
    const entry = (await this.serviceEntries(svc.namespace)).find((se) =>
      (se?.spec?.hosts ?? []).some((h) => forms.has(String(h).toLowerCase())),
    );
    if (entry)
      return `"${host}" is declared by ServiceEntry "${entry.metadata?.namespace}/${entry.metadata?.name}" (a service outside the Service registry)`;
    return undefined;
  }

  /** Every ServiceEntry (cluster-wide; without that RBAC those of the namespaces concerned). */
  private async serviceEntries(hostNamespace: string): Promise<ServiceEntryObject[]> {
    try {
      return await this.kubectl.listAll<ServiceEntryObject>(SERVICE_ENTRY_RESOURCE);
    } catch (err) {
      // No ServiceEntry CRD at all: nothing can declare the host.
      if (err instanceof KubeNotFoundError) return [];
      const namespaces = [...new Set([this.namespace, hostNamespace])];
      const lists = await Promise.all(
        namespaces.map((ns) => this.kubectl.list<ServiceEntryObject>(SERVICE_ENTRY_RESOURCE, ns)),
      );
      return lists.flat();
    }
  }

  async references(host: string, subset?: string): Promise<string[]> {
    const vs = await this.read();
    const managed = this.locate(vs);
    return httpRoutes(vs)
      .map((r, i) => ({ r, i }))
      .filter(
        ({ r, i }) =>
          i !== managed &&
          !isPinned(r) &&
          (r.route ?? []).some(
            (d) =>
              d.destination?.host &&
              sameService(d.destination.host, host, this.namespace) &&
              (subset === undefined || d.destination.subset === subset),
          ),
      )
      .map(({ r, i }) => routeLabel(r, i));
  }

  setState(annotations: Record<string, string | null>): Promise<void> {
    return this.obj.setState(annotations);
  }

  restoreCommand(destinations: Destination[]): string {
    const route = destinations.map((d) => {
      const destination: Record<string, unknown> = { host: d.host };
      if (d.subset) destination.subset = d.subset;
      if (d.port) destination.port = { number: d.port };
      return { destination, weight: d.weight };
    });
    let index: number | string =
      `<index of route ${this.resolved?.name ?? `#${this.resolved?.position ?? 0}`}>`;
    if (this.obj.last && this.resolved) {
      try {
        index = locateRoute(this.obj.last, this.resolved);
      } catch {
        // the route is gone from the last read: the placeholder says which one to edit
      }
    }
    const patch = JSON.stringify([{ op: 'replace', path: `/spec/http/${index}/route`, value: route }]);
    return `kubectl -n ${this.namespace} patch ${VIRTUAL_SERVICE_RESOURCE} ${this.name} --type=json -p '${patch}'`;
  }

  serviceOf(host: string): ServiceRef {
    return serviceOfHost(host, this.namespace);
  }

  hostOf(svc: ServiceRef): string {
    return hostOfService(svc, this.namespace);
  }
}

interface ServiceEntryObject {
  metadata?: { name?: string; namespace?: string };
  spec?: { hosts?: unknown[] };
}

function weights(ds: Destination[]): string {
  return ds.map((d) => `${d.host}${d.subset ? '/' + d.subset : ''} ${d.weight}%`).join(', ') || '(none)';
}
