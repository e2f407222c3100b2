// TrafficRouter for a Gateway API HTTPRoute (gateway.networking.k8s.io/v1), through IKubectl. Writes
// only the managed rule's backendRefs and the pinned rule (guarded JSON patches), and the
// helm-canary.io/ annotations; matches, filters, timeouts, other rules and parentRefs stay as they are.
import { KubeNotFoundError, type IKubectl } from '../../kube/kubectl-helper.js';
import { findOwners, type RoutingProfile } from '../ownership.js';
import {
  describeDestinations,
  validateDestinations,
  type Destination,
  type Inspection,
  type PinnedRoute,
  type RouteSnapshot,
  type WriteGuard,
  type ServiceRef,
  type TrafficRouter,
} from '../router.js';
import { RoutingObject, stateOf, type RoutingObjectOptions } from '../routing-object.js';
import {
  GATEWAY_GROUP,
  HTTP_ROUTE_RESOURCE,
  hostOfRef,
  hostOfService,
  isPinned,
  isServiceRef,
  locateRule,
  MAX_RULES,
  readDestinations,
  REFERENCE_GRANT_RESOURCE,
  resolveRule,
  ruleLabel,
  rulesOf,
  serviceOfHost,
  statusWarnings,
  type HttpRouteObject,
  type ResolvedRule,
} from './http-route.js';
import { buildPinPatch, buildUnpinPatch, buildWeightPatch } from './patch.js';

export const HTTP_ROUTE_PROFILE: RoutingProfile = {
  kind: 'HTTPRoute',
  group: GATEWAY_GROUP,
  routesField: 'rules',
  argoJqPath: '.spec.rules[].backendRefs',
  argoJqNote: ' (the JSON pointer /spec/rules/*/backendRefs cannot be written without a wildcard)',
  weightsPath: '.spec.rules[].backendRefs',
};

export interface HttpRouteRouterOptions extends RoutingObjectOptions {
  /** Input 'route': the managed rule's name. */
  route?: string;
  /** The host recorded as stable in the object's state, to choose the managed rule on the first read. */
  stableHostOf?: (state: Record<string, string>) => string | undefined;
  /** Used to word Helm ownership findings for the helm major in use. */
  helmMajor?: 3 | 4;
}

interface ReferenceGrantObject {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    from?: Array<{ group?: string; kind?: string; namespace?: string }>;
    to?: Array<{ group?: string; kind?: string; name?: string }>;
  };
}

export class HttpRouteRouter implements TrafficRouter {
  readonly kind = 'HTTPRoute';
  private readonly obj: RoutingObject<HttpRouteObject>;
  /** The rule chosen at the first read. */
  private resolved?: ResolvedRule;

  constructor(
    private readonly kubectl: IKubectl,
    readonly name: string,
    readonly namespace: string,
    private readonly opts: HttpRouteRouterOptions = {},
  ) {
    this.obj = new RoutingObject(kubectl, HTTP_ROUTE_RESOURCE, 'HTTPRoute', name, namespace, 'rules', opts);
  }

  async inspect(): Promise<Inspection> {
    if ((await this.kubectl.namespaceLabels(this.namespace)) === undefined)
      throw new KubeNotFoundError(`Namespace "${this.namespace}" does not exist.`);
    const route = await this.obj.read();
    const warnings = statusWarnings(route);
    const rules = rulesOf(route).filter((r) => !isPinned(r)).length;
    if (rules >= MAX_RULES)
      warnings.push(
        `HTTPRoute "${this.name}" has ${rules} rules, the most Gateway API allows: the rule that pins probes ` +
          `to the canary cannot be added, so a run that verifies stops before any user traffic.`,
      );
    return {
      owners: findOwners(route, HTTP_ROUTE_PROFILE, this.opts.helmMajor),
      warnings,
      ownerRelease: route.metadata?.annotations?.['meta.helm.sh/release-name'] || undefined,
    };
  }

  /** Index in spec.rules of the managed rule; resolved on the first read, then followed. */
  private locate(route: HttpRouteObject): number {
    if (this.resolved) return locateRule(route, this.resolved);
    const stableHostHint = this.opts.stableHostOf?.(stateOf(route));
    this.resolved = resolveRule(route, { route: this.opts.route, stableHostHint });
    return this.resolved.index;
  }

  private snapshot(route: HttpRouteObject, index: number): RouteSnapshot {
    return {
      route: this.resolved?.name ?? `#${index}`,
      destinations: readDestinations(route, index),
      version: String(route?.metadata?.resourceVersion ?? ''),
      state: stateOf(route),
      changedBy: this.obj.lastOtherWriter(route),
    };
  }

  async getRoutes(): Promise<RouteSnapshot> {
    const route = await this.obj.read();
    return this.snapshot(route, this.locate(route));
  }

  async setRoutes(destinations: Destination[], guard: WriteGuard = {}): Promise<RouteSnapshot> {
    validateDestinations(destinations);
    return this.obj.setWeights(
      {
        part: 'rule',
        locate: (o) => this.locate(o),
        snapshot: (o, i) => this.snapshot(o, i),
        buildWeightPatch,
        describe: describeDestinations,
      },
      destinations,
      guard,
    );
  }

  async setPinnedRoute(pin: PinnedRoute): Promise<void> {
    await this.obj.guardedPatch('adding the pinned rule', undefined, (route) =>
      buildPinPatch(route, this.locate(route), pin),
    );
  }

  async removePinnedRoute(): Promise<boolean> {
    let removed = false;
    await this.obj.guardedPatch('removing the pinned rule', undefined, (route) => {
      const ops = buildUnpinPatch(route);
      removed = ops !== undefined;
      return ops;
    });
    return removed;
  }

  /**
   * A backendRef that is not a core Service (another group/kind, e.g. a ServiceImport) has
   * something behind it helm-canary cannot see. A Service in another namespace counts only when a
   * ReferenceGrant there lets this namespace's HTTPRoutes reference it: without one the gateway
   * refuses the reference (ResolvedRefs=False, RefNotPermitted), so it is not a Service the run
   * could treat as "nothing deployed yet" either.
   */
  async externalHost(host: string): Promise<string | undefined> {
    if (host.includes('/'))
      return `backendRef "${host}", which is not a core Service (group "" and kind Service) but another kind of backend`;
    const svc = serviceOfHost(host, this.namespace);
    if (svc.namespace === this.namespace) return undefined;
    let grants: ReferenceGrantObject[] = [];
    try {
      grants = await this.kubectl.list<ReferenceGrantObject>(REFERENCE_GRANT_RESOURCE, svc.namespace);
    } catch (err) {
      if (!(err instanceof KubeNotFoundError)) throw err;
    }
    const allowed = grants.some(
      (g) =>
        (g.spec?.from ?? []).some(
          (f) => f?.group === GATEWAY_GROUP && f?.kind === 'HTTPRoute' && f?.namespace === this.namespace,
        ) &&
        (g.spec?.to ?? []).some(
          (t) => (t?.group ?? '') === '' && t?.kind === 'Service' && (!t?.name || t.name === svc.name),
        ),
    );
    if (allowed) return undefined;
    return (
      `Service "${svc.name}" in namespace "${svc.namespace}", which no ReferenceGrant there lets HTTPRoutes of ` +
      `namespace "${this.namespace}" reference (the gateway refuses the reference)`
    );
  }

  /** Other rules of this HTTPRoute, and other HTTPRoutes of the namespace, that reference the Service of `host`. */
  async references(host: string): Promise<string[]> {
    const route = await this.obj.read();
    const managed = this.locate(route);
    const svc = serviceOfHost(host, this.namespace);
    const refersTo = (r: { backendRefs?: unknown }, ns: string): boolean =>
      (Array.isArray(r.backendRefs) ? r.backendRefs : []).some((b) => {
        const s = serviceOfHost(hostOfRef(b, ns), ns);
        return isServiceRef(b) && s.name === svc.name && s.namespace === svc.namespace;
      });
    const here = rulesOf(route)
      .map((r, i) => ({ r, i }))
      .filter(({ r, i }) => i !== managed && !isPinned(r) && refersTo(r, this.namespace))
      .map(({ r, i }) => `rule ${ruleLabel(r, i)}`);
    const others = (await this.kubectl.list<HttpRouteObject>(HTTP_ROUTE_RESOURCE, this.namespace))
      .filter((o) => o?.metadata?.name !== this.name)
      .flatMap((o) =>
        rulesOf(o)
          .map((r, i) => ({ r, i }))
          .filter(({ r }) => !isPinned(r) && refersTo(r, o.metadata?.namespace ?? this.namespace))
          .map(({ r, i }) => `rule ${ruleLabel(r, i)} of HTTPRoute "${o.metadata?.name}"`),
      );
    return [...here, ...others];
  }

  setState(state: Record<string, string | null>): Promise<void> {
    return this.obj.setState(state);
  }

  restoreCommand(destinations: Destination[]): string {
    const refs = destinations.map((d) => {
      const svc = serviceOfHost(d.host, this.namespace);
      return {
        name: svc.name,
        ...(svc.namespace !== this.namespace ? { namespace: svc.namespace } : {}),
        ...(d.port ? { port: d.port } : {}),
        weight: d.weight,
      };
    });
    let index: number | string = `<index of rule ${this.resolved?.name ?? `#${this.resolved?.index ?? 0}`}>`;
    if (this.obj.last && this.resolved) {
      try {
        index = locateRule(this.obj.last, this.resolved);
      } catch {
        // the rule is gone from the last read: the placeholder says which one to edit
      }
    }
    const patch = JSON.stringify([{ op: 'replace', path: `/spec/rules/${index}/backendRefs`, value: refs }]);
    return `kubectl -n ${this.namespace} patch ${HTTP_ROUTE_RESOURCE} ${this.name} --type=json -p '${patch}'`;
  }

  serviceOf(host: string): ServiceRef {
    return serviceOfHost(host, this.namespace);
  }

  hostOf(svc: ServiceRef): string {
    return hostOfService(svc, this.namespace);
  }
}
