// One routing object of any traffic API, through IKubectl: read (with a clear not-found), guarded
// JSON patches retried from a fresh read on conflicts, the helm-canary.io/ state annotations, and
// who last wrote its routes. A router composes it with its API's pure reading and patch building.
import {
  FIELD_MANAGER,
  KubeConflictError,
  KubeNotFoundError,
  type IKubectl,
  type JsonPatchOp,
  type KubeMetadata,
} from '../kube/kubectl-helper.js';
import {
  compareDestinations,
  RouteChangedError,
  type Destination,
  type RouteSnapshot,
  type WriteGuard,
} from './router.js';

export const STATE_PREFIX = 'helm-canary.io/';

export interface RoutingObjectOptions {
  /** The input that names the object, for the not-found message. */
  inputName?: string;
  logger?: { info(s: string): void; warning(s: string): void };
  /** Attempts of a guarded write on conflicts (default 5). */
  maxAttempts?: number;
  /** Sleep between attempts; default real timers with 100, 200, 400 ms … (+ jitter). */
  sleep?: (ms: number) => Promise<void>;
}

export interface StoredObject {
  metadata?: KubeMetadata;
  [k: string]: unknown;
}

/** How a router reads and writes its managed route, for RoutingObject.setWeights. */
export interface ManagedRoute<T> {
  /** What a route is called in this API, e.g. "route" (VirtualService) or "rule" (HTTPRoute). */
  part: string;
  locate(obj: T): number;
  snapshot(obj: T, index: number): RouteSnapshot;
  buildWeightPatch(obj: T, index: number, destinations: Destination[]): JsonPatchOp[] | undefined;
  describe(destinations: Destination[]): string;
}

export class RoutingObject<T extends StoredObject> {
  /** The last object read, so a write guarded by its version needs no second read. */
  last?: T;

  constructor(
    private readonly kubectl: IKubectl,
    /** e.g. "httproutes.gateway.networking.k8s.io" */
    readonly resource: string,
    /** e.g. "HTTPRoute" */
    readonly kind: string,
    readonly name: string,
    readonly namespace: string,
    /** The spec field that holds the routes, e.g. "rules". */
    private readonly routesField: string,
    private readonly opts: RoutingObjectOptions = {},
  ) {}

  private get label(): string {
    return `${this.kind} "${this.name}"`;
  }

  async read(): Promise<T> {
    const obj = await this.kubectl.get<T>(this.resource, this.name, this.namespace);
    if (!obj) {
      const input = this.opts.inputName ? `Input '${this.opts.inputName}': ` : '';
      throw new KubeNotFoundError(`${input}${this.label} was not found in namespace "${this.namespace}".`);
    }
    this.last = obj;
    return obj;
  }

  /**
   * The weight write of TrafficRouter.setRoutes, the same for every API: a guarded patch of the
   * managed route's destinations (with `guard.current`, refused with RouteChangedError when the
   * route is not what this run last wrote), then a read-back, since a controller or webhook may
   * have changed or reverted it.
   */
  async setWeights(
    route: ManagedRoute<T>,
    destinations: Destination[],
    guard: WriteGuard,
  ): Promise<RouteSnapshot> {
    await this.guardedPatch('setting weights', guard.version, (obj) => {
      const index = route.locate(obj);
      if (guard.current) {
        const found = route.snapshot(obj, index);
        if (compareDestinations(guard.current, found.destinations) !== undefined)
          throw new RouteChangedError(
            `${this.label}, ${route.part} ${found.route}: the weights are ${route.describe(found.destinations)}, ` +
              `not the ${route.describe(guard.current)} helm-canary last wrote; ` +
              `${found.changedBy ? `they were changed by ${found.changedBy}` : 'someone else changed them'}.`,
            found.destinations,
            found.changedBy,
          );
      }
      return route.buildWeightPatch(obj, index, destinations);
    });
    const fresh = await this.read();
    const back = route.snapshot(fresh, route.locate(fresh));
    const problem = compareDestinations(destinations, back.destinations);
    if (problem)
      throw new Error(
        `${this.label}: after setting the weights the ${route.part} reads ${route.describe(back.destinations)} ` +
          `instead of ${route.describe(destinations)} (${problem}). Something else is changing this ${this.kind}; ` +
          `see the ownership findings.`,
      );
    return back;
  }

  /**
   * One guarded JSON patch: derived from the object at version `expect` (the last read, when it
   * has that version) or a fresh read; on a conflict re-read, re-derive and retry. `build` returns
   * undefined when there is nothing to change.
   */
  async guardedPatch(
    what: string,
    expect: string | undefined,
    build: (obj: T) => JsonPatchOp[] | undefined,
  ): Promise<void> {
    const max = this.opts.maxAttempts ?? 5;
    let lastConflict: Error | undefined;
    for (let attempt = 1; attempt <= max; attempt++) {
      const cached = attempt === 1 && expect !== undefined && this.last?.metadata?.resourceVersion === expect;
      const obj = cached ? this.last! : await this.read();
      const ops = build(obj);
      if (!ops) return;
      try {
        await this.kubectl.patchJson(this.resource, this.name, ops, this.namespace);
        return;
      } catch (err) {
        if (!(err instanceof KubeConflictError)) throw err;
        lastConflict = err;
        // A 422 on a guarded patch means "a test failed" only if the object really changed; if it
        // is unchanged, the patch itself was rejected (schema or webhook): do not retry.
        const now = await this.read();
        if (
          err.reason === 'Invalid' &&
          String(now?.metadata?.resourceVersion) === String(obj.metadata?.resourceVersion)
        )
          throw new Error(`${this.label}: the patch for ${what} was rejected: ${err.message}`);
        this.opts.logger?.info(
          `${this.label} changed while ${what} (attempt ${attempt}/${max}); re-reading and retrying.`,
        );
        if (attempt < max) await this.backoff(attempt);
      }
    }
    throw new KubeConflictError(
      `${this.label} kept changing while helm-canary was ${what} (${max} attempts); ` +
        `another controller is probably writing it. Last error: ${lastConflict?.message ?? 'conflict'}`,
    );
  }

  /** Writes helm-canary.io/ annotations (keys without a prefix get it); null removes a key. */
  async setState(annotations: Record<string, string | null>): Promise<void> {
    const out: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(annotations)) {
      const key = k.includes('/') ? k : STATE_PREFIX + k;
      if (!key.startsWith(STATE_PREFIX))
        throw new Error(`setState writes only ${STATE_PREFIX} annotations; refusing "${key}".`);
      out[key] = v;
    }
    if (Object.keys(out).length === 0) return;
    const max = this.opts.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.kubectl.annotate(this.resource, this.name, out, this.namespace);
        return;
      } catch (err) {
        if (!(err instanceof KubeConflictError) || attempt >= max) throw err;
        await this.backoff(attempt);
      }
    }
  }

  /** The most recent field manager other than helm-canary that owns the routes field. */
  lastOtherWriter(obj: T): string | undefined {
    const entries = (obj?.metadata?.managedFields ?? []).filter(
      (e) =>
        e?.manager &&
        e.manager !== FIELD_MANAGER &&
        e.fieldsV1?.['f:spec'] &&
        `f:${this.routesField}` in (e.fieldsV1['f:spec'] as object),
    );
    const last = entries.sort((a, b) => String(b.time ?? '').localeCompare(String(a.time ?? '')))[0];
    if (!last) return undefined;
    return `field manager "${last.manager}" (${[last.operation, last.time].filter(Boolean).join(', ')})`;
  }

  private backoff(attempt: number): Promise<void> {
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise<void>((res) => setTimeout(res, ms)));
    return sleep(100 * 2 ** (attempt - 1) + Math.floor(Math.random() * 50));
  }
}

/** The helm-canary.io/* annotations: the state earlier runs recorded. */
export function stateOf(obj: StoredObject | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj?.metadata?.annotations ?? {}))
    if (k.startsWith(STATE_PREFIX)) out[k] = String(v);
  return out;
}
