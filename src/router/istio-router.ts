// TrafficRouter for an Istio VirtualService, through IKubectl. Writes only the managed route's
// `route` list (guarded JSON patch) and helm-canary.io/ annotations.
import { KubeConflictError, KubeNotFoundError, type IKubectl } from '../kube/kubectl-helper.js';
import { findOwners, type OwnerFinding } from '../rollout/ownership.js';
import { buildWeightPatch, readDestinations, validateDestinations } from './istio-patch.js';
import {
  resolveRoute,
  type Destination,
  type ResolvedRoute,
  type RouteSnapshot,
  type TrafficRouter,
  type VirtualServiceObject,
  type VsHttpRoute,
} from './router.js';

export const VIRTUAL_SERVICE_RESOURCE = 'virtualservices.networking.istio.io';
export const STATE_PREFIX = 'helm-canary.io/';

export interface IstioRouterOptions {
  route?: string;
  stableHostHint?: string;
  logger?: { info(s: string): void; warning(s: string): void };
  /** Used by owners() to word Helm findings for the helm major in use. */
  helmMajor?: 3 | 4;
  /** Attempts of setRoutes on conflicts (default 5). */
  maxAttempts?: number;
  /** Sleep between attempts; default real timers with 100, 200, 400 ms … (+ jitter). */
  sleep?: (ms: number) => Promise<void>;
}

export class IstioRouter implements TrafficRouter {
  readonly kind = 'VirtualService';
  /** The route chosen at the first read: by name when it has one, else by index. */
  private resolved?: ResolvedRoute;

  constructor(
    private readonly kubectl: IKubectl,
    readonly name: string,
    readonly namespace: string,
    private readonly opts: IstioRouterOptions = {},
  ) {}

  private async read(): Promise<VirtualServiceObject> {
    const vs = await this.kubectl.get<VirtualServiceObject>(
      VIRTUAL_SERVICE_RESOURCE,
      this.name,
      this.namespace,
    );
    if (!vs)
      throw new KubeNotFoundError(
        `VirtualService "${this.name}" was not found in namespace "${this.namespace}".`,
      );
    return vs;
  }

  /** Resolves the managed route in this object; later reads follow the same route. */
  private locate(vs: VirtualServiceObject): ResolvedRoute {
    if (!this.resolved) {
      this.resolved = resolveRoute(vs, { route: this.opts.route, stableHostHint: this.opts.stableHostHint });
      return this.resolved;
    }
    const http: VsHttpRoute[] = Array.isArray(vs?.spec?.http) ? vs.spec.http : [];
    if (this.resolved.name) {
      const i = http.findIndex((r) => r?.name === this.resolved!.name);
      if (i < 0)
        throw new Error(
          `VirtualService "${this.name}" no longer has the http route "${this.resolved.name}".`,
        );
      return { index: i, name: this.resolved.name };
    }
    const r = http[this.resolved.index];
    if (!r || r.name || !Array.isArray(r.route) || r.route.length === 0) {
      throw new Error(
        `VirtualService "${this.name}": the unnamed http route #${this.resolved.index} changed shape since it was read; ` +
          `name the route in the chart and set input 'route'.`,
      );
    }
    return this.resolved;
  }

  private snapshot(vs: VirtualServiceObject, at: ResolvedRoute): RouteSnapshot {
    const s: RouteSnapshot = {
      routeIndex: at.index,
      destinations: readDestinations(vs, at.index),
      resourceVersion: String(vs?.metadata?.resourceVersion ?? ''),
      annotations: { ...(vs?.metadata?.annotations ?? {}) },
    };
    if (at.name) s.routeName = at.name;
    return s;
  }

  async getRoutes(): Promise<RouteSnapshot> {
    const vs = await this.read();
    return this.snapshot(vs, this.locate(vs));
  }

  async setRoutes(destinations: Destination[]): Promise<RouteSnapshot> {
    validateDestinations(destinations);
    const max = this.opts.maxAttempts ?? 5;
    let lastConflict: Error | undefined;
    for (let attempt = 1; attempt <= max; attempt++) {
      const vs = await this.read(); // fresh object each attempt: the patch is re-derived from it
      const at = this.locate(vs);
      const ops = buildWeightPatch(vs, at.index, destinations);
      try {
        await this.kubectl.patchJson(VIRTUAL_SERVICE_RESOURCE, this.name, ops, this.namespace);
      } catch (err) {
        if (!(err instanceof KubeConflictError)) throw err;
        lastConflict = err;
        // A 422 on a guarded patch means "a test failed" only if the object really changed; if it
        // is unchanged, the patch itself was rejected (schema or webhook): do not retry.
        const now = await this.read();
        if (
          err.reason === 'Invalid' &&
          String(now?.metadata?.resourceVersion) === String(vs.metadata?.resourceVersion)
        ) {
          throw new Error(`VirtualService "${this.name}": the weight patch was rejected: ${err.message}`);
        }
        this.opts.logger?.info(
          `VirtualService "${this.name}" changed while setting weights (attempt ${attempt}/${max}); re-reading and retrying.`,
        );
        if (attempt < max) await this.backoff(attempt);
        continue;
      }
      // Read back and verify: a controller or webhook may have changed or reverted it.
      const fresh = await this.read();
      const back = this.snapshot(fresh, this.locate(fresh));
      const problem = compareDestinations(destinations, back.destinations);
      if (problem) {
        throw new Error(
          `VirtualService "${this.name}": after setting the weights the route reads ${describe(back.destinations)} ` +
            `instead of ${describe(destinations)} (${problem}). Something else is changing this VirtualService; ` +
            `see the ownership findings.`,
        );
      }
      return back;
    }
    throw new KubeConflictError(
      `VirtualService "${this.name}" kept changing while helm-canary set the weights (${max} attempts); ` +
        `another controller is probably writing it. Last error: ${lastConflict?.message ?? 'conflict'}`,
    );
  }

  async setState(annotations: Record<string, string | null>): Promise<void> {
    const out: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(annotations)) {
      const key = k.includes('/') ? k : STATE_PREFIX + k;
      if (!key.startsWith(STATE_PREFIX)) {
        throw new Error(`setState writes only ${STATE_PREFIX} annotations; refusing "${key}".`);
      }
      out[key] = v;
    }
    if (Object.keys(out).length === 0) return;
    const max = this.opts.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.kubectl.annotate(VIRTUAL_SERVICE_RESOURCE, this.name, out, this.namespace);
        return;
      } catch (err) {
        if (!(err instanceof KubeConflictError) || attempt >= max) throw err;
        await this.backoff(attempt);
      }
    }
  }

  private backoff(attempt: number): Promise<void> {
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise<void>((res) => setTimeout(res, ms)));
    return sleep(100 * 2 ** (attempt - 1) + Math.floor(Math.random() * 50));
  }

  async owners(): Promise<OwnerFinding[]> {
    return findOwners(await this.read(), this.opts.helmMajor);
  }
}

function describe(ds: Destination[]): string {
  return ds.map((d) => `${d.host}${d.subset ? '/' + d.subset : ''} ${d.weight}%`).join(', ') || '(none)';
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
