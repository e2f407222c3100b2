// Several routing objects moved as one (e.g. a gateway VirtualService and a mesh-internal one):
// a TrafficRouter over TrafficRouters, so the rollout loop stays unaware of how many there are.
// Every object must route the same way; writes go in a fixed order (input order), and a failed
// write puts the objects already written back as they were. No traffic API is named here.
import {
  compareDestinations,
  describeDestinations,
  RouteChangedError,
  sameBackend,
  type Destination,
  type Inspection,
  type PinnedRoute,
  type RouteSnapshot,
  type ServiceRef,
  type TrafficRouter,
  type VersionRegistry,
  type WriteGuard,
} from './router.js';

/** Separates the objects' version tokens in the combined one. */
const VERSION_SEPARATOR = ',';

export class MultiRouter implements TrafficRouter {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly objects: Array<{ kind: string; name: string }>;
  /** The destinations every object was last found with or written to (all alike). */
  private known?: Destination[];

  constructor(
    private readonly routers: TrafficRouter[],
    readonly versions?: VersionRegistry,
  ) {
    if (routers.length === 0) throw new Error('MultiRouter needs at least one routing object.');
    this.kind = routers[0].kind;
    this.name = routers.map((r) => r.name).join(', ');
    this.namespace = routers[0].namespace;
    this.objects = routers.map((r) => ({ kind: r.kind, name: r.name }));
  }

  private label(r: TrafficRouter): string {
    return `${r.kind} "${r.name}"`;
  }

  async inspect(): Promise<Inspection> {
    const all = await Promise.all(this.routers.map((r) => r.inspect()));
    const owners = [...new Set(all.flatMap((i) => (i.ownerReleases ?? [i.ownerRelease]).filter(Boolean)))];
    return {
      owners: all.flatMap((i) => i.owners),
      // The same environment warning (e.g. the namespace's sidecar injection) is said once.
      warnings: [...new Set(all.flatMap((i) => i.warnings))],
      ownerRelease: owners[0] as string | undefined,
      ownerReleases: owners as string[],
    };
  }

  /**
   * Reads every object. When they agree, the snapshot is the first one's, with a version token
   * combining all of theirs. When they disagree after this router wrote or read them alike,
   * the snapshot is the one that moved (so a watcher sees the change); before that it is an error
   * naming both objects and what each routes to.
   */
  async getRoutes(): Promise<RouteSnapshot> {
    const snaps = await Promise.all(this.routers.map((r) => r.getRoutes()));
    return this.combine(snaps);
  }

  private combine(snaps: RouteSnapshot[]): RouteSnapshot {
    const first = snaps[0];
    const combined = (s: RouteSnapshot): RouteSnapshot => ({
      route: this.routeLabel(snaps),
      destinations: s.destinations,
      version: snaps.map((x) => x.version).join(VERSION_SEPARATOR),
      state: first.state,
      changedBy: s.changedBy ?? snaps.find((x) => x.changedBy)?.changedBy,
    });
    const odd = snaps.findIndex((s) => !this.alike(first.destinations, s.destinations));
    if (odd < 0) {
      this.known = first.destinations;
      return combined(first);
    }
    if (this.known) {
      const moved = snaps.find((s) => !this.alike(this.known!, s.destinations)) ?? snaps[odd];
      return combined(moved);
    }
    throw new Error(
      `The routing objects do not route alike: ${this.label(this.routers[0])} (route ${first.route}) sends ` +
        `${describeDestinations(first.destinations)}, but ${this.label(this.routers[odd])} (route ${snaps[odd].route}) ` +
        `sends ${describeDestinations(snaps[odd].destinations)}. Every object must route to the same stable ` +
        `Service with the same weights before a rollout; fix them by hand first.`,
    );
  }

  private routeLabel(snaps: RouteSnapshot[]): string {
    return snaps.map((s, i) => `${this.routers[i].name} ${s.route}`).join('; ');
  }

  /** Same backends (by Service, so "svc" and "svc.ns.svc.cluster.local" agree) with the same weights. */
  private alike(a: Destination[], b: Destination[]): boolean {
    return a.length === b.length && a.every((d, i) => sameBackend(this, d, b[i]) && d.weight === b[i].weight);
  }

  /**
   * Writes every object in order, each guarded. When the write to one fails, the objects already
   * written get back what they had (guarded by what this call wrote), then the error is thrown.
   */
  async setRoutes(destinations: Destination[], guard: WriteGuard = {}): Promise<RouteSnapshot> {
    const versions = guard.version?.split(VERSION_SEPARATOR);
    const written: Array<{ router: TrafficRouter; before: Destination[]; after: Destination[] }> = [];
    const snaps: RouteSnapshot[] = [];
    for (const [i, router] of this.routers.entries()) {
      try {
        const before = guard.current ?? (await router.getRoutes()).destinations;
        const snap = await router.setRoutes(destinations, {
          current: guard.current,
          version: versions?.length === this.routers.length ? versions[i] : undefined,
        });
        written.push({ router, before, after: snap.destinations });
        snaps.push(snap);
      } catch (err) {
        const restored = await this.restore(written);
        const note =
          written.length === 0
            ? ''
            : restored.length === 0
              ? ` The objects written before it were restored (${written.map((w) => this.label(w.router)).join(', ')}).`
              : ` Restoring the objects written before it ALSO failed: ${restored.join('; ')}.`;
        const m = (err instanceof Error ? err.message : String(err)).trim();
        const text = `${this.label(router)}: ${note && !/[.!?]$/.test(m) ? `${m}.` : m}${note}`;
        if (err instanceof RouteChangedError) throw new RouteChangedError(text, err.found, err.changedBy);
        throw new Error(text, { cause: err });
      }
    }
    return this.combine(snaps);
  }

  /** Puts the written objects back (last first), each guarded; returns what failed. */
  private async restore(
    written: Array<{ router: TrafficRouter; before: Destination[]; after: Destination[] }>,
  ): Promise<string[]> {
    const failed: string[] = [];
    for (const w of [...written].reverse()) {
      if (compareDestinations(w.before, w.after) === undefined) continue;
      try {
        await w.router.setRoutes(w.before, { current: w.after });
      } catch (e) {
        failed.push(
          `${this.label(w.router)}: ${e instanceof Error ? e.message : String(e)} (restore it with: ` +
            `${w.router.restoreCommand(w.before)})`,
        );
      }
    }
    return failed;
  }

  async setPinnedRoute(pin: PinnedRoute): Promise<void> {
    for (const r of this.routers) await r.setPinnedRoute(pin);
  }

  /** Tries every object; throws the first failure after trying all. */
  async removePinnedRoute(): Promise<boolean> {
    let removed = false;
    let first: unknown;
    for (const r of this.routers) {
      try {
        removed = (await r.removePinnedRoute()) || removed;
      } catch (e) {
        first ??= e;
      }
    }
    if (first) throw first;
    return removed;
  }

  externalHost(host: string): Promise<string | undefined> {
    return this.routers[0].externalHost(host);
  }

  async references(host: string, subset?: string): Promise<string[]> {
    const all = await Promise.all(this.routers.map((r) => r.references(host, subset)));
    return all.flatMap((refs, i) => refs.map((ref) => `${ref} of ${this.label(this.routers[i])}`));
  }

  /** Records the state on every object, so a later run finds it whichever object it reads first. */
  async setState(state: Record<string, string | null>): Promise<void> {
    for (const r of this.routers) await r.setState(state);
  }

  /** One command per object, joined so that one line restores them all. */
  restoreCommand(destinations: Destination[]): string {
    return this.routers.map((r) => r.restoreCommand(destinations)).join(' && ');
  }

  serviceOf(host: string): ServiceRef {
    return this.routers[0].serviceOf(host);
  }

  hostOf(svc: ServiceRef): string {
    return this.routers[0].hostOf(svc);
  }
}
