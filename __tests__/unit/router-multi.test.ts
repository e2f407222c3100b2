// The composite router: several routing objects read, written and restored as one.
import { describe, it, expect } from '@jest/globals';
import { MultiRouter } from '../../src/router/multi-router.js';
import {
  compareDestinations,
  RouteChangedError,
  type Destination,
  type PinnedRoute,
  type RouteSnapshot,
  type TrafficRouter,
  type WriteGuard,
} from '../../src/router/router.js';

/** One routing object in memory; `failWrite` makes its next weight writes throw. */
class FakeRouter implements TrafficRouter {
  readonly kind = 'VirtualService';
  readonly namespace = 'default';
  version = 1;
  state: Record<string, string> = {};
  pinned?: PinnedRoute;
  writes: Destination[][] = [];
  failWrite?: Error;
  constructor(
    readonly name: string,
    public destinations: Destination[],
    private readonly log: string[],
  ) {}
  async inspect() {
    return { owners: [], warnings: ['no sidecar injection'], ownerRelease: `${this.name}-chart` };
  }
  async getRoutes(): Promise<RouteSnapshot> {
    return {
      route: '#0',
      destinations: structuredClone(this.destinations),
      version: String(this.version),
      state: { ...this.state },
    };
  }
  async setRoutes(ds: Destination[], guard: WriteGuard = {}): Promise<RouteSnapshot> {
    this.log.push(`write ${this.name} ${ds.map((d) => `${d.host}=${d.weight}`).join(',')}`);
    if (this.failWrite) throw this.failWrite;
    if (guard.current && compareDestinations(guard.current, this.destinations) !== undefined)
      throw new RouteChangedError(`${this.name} changed`, structuredClone(this.destinations));
    this.destinations = structuredClone(ds);
    this.writes.push(ds);
    this.version++;
    return this.getRoutes();
  }
  async setPinnedRoute(pin: PinnedRoute) {
    this.pinned = pin;
  }
  async removePinnedRoute() {
    const had = this.pinned !== undefined;
    this.pinned = undefined;
    return had;
  }
  async externalHost() {
    return undefined;
  }
  async references(host: string) {
    return this.destinations.some((d) => d.host === host) ? ['"other"'] : [];
  }
  async setState(s: Record<string, string | null>) {
    for (const [k, v] of Object.entries(s))
      if (v === null) delete this.state[k];
      else this.state[k] = v;
  }
  restoreCommand(ds: Destination[]) {
    return `restore ${this.name} ${ds.map((d) => d.weight).join('/')}`;
  }
  serviceOf(host: string) {
    return { name: host.split('.')[0], namespace: host.split('.')[1] ?? 'default' };
  }
  hostOf(svc: { name: string }) {
    return svc.name;
  }
}

const stable: Destination = { host: 'web-v1', port: 80, weight: 100 };
const split = (w: number): Destination[] => [
  { host: 'web-v1', port: 80, weight: 100 - w },
  { host: 'web-v2', port: 80, weight: w },
];

function setup(second: Destination[] = [stable]) {
  const log: string[] = [];
  const a = new FakeRouter('web-gw', [stable], log);
  const b = new FakeRouter('web-mesh', second, log);
  return { a, b, log, multi: new MultiRouter([a, b]) };
}

describe('MultiRouter', () => {
  it('names every object, merges inspections and combines the version tokens', async () => {
    const { multi } = setup([{ host: 'web-v1.default.svc.cluster.local', port: 80, weight: 100 }]);
    expect(multi.name).toBe('web-gw, web-mesh');
    expect(multi.objects).toEqual([
      { kind: 'VirtualService', name: 'web-gw' },
      { kind: 'VirtualService', name: 'web-mesh' },
    ]);
    const i = await multi.inspect();
    expect(i.warnings).toEqual(['no sidecar injection']);
    expect(i.ownerReleases).toEqual(['web-gw-chart', 'web-mesh-chart']);
    // The same Service written two ways routes alike.
    const snap = await multi.getRoutes();
    expect(snap.version).toBe('1,1');
    expect(snap.destinations).toEqual([stable]);
    expect(snap.route).toBe('web-gw #0; web-mesh #0');
  });

  it('mismatched stables are an error naming both objects and what each routes to', async () => {
    const { multi } = setup([{ host: 'shop-v1', weight: 100 }]);
    await expect(multi.getRoutes()).rejects.toThrow(
      /VirtualService "web-gw".*web-v1:80 100%.*VirtualService "web-mesh".*shop-v1 100%/,
    );
  });

  it('writes every object in input order and records state on each', async () => {
    const { a, b, log, multi } = setup();
    await multi.getRoutes();
    const snap = await multi.setRoutes(split(10), { current: [stable] });
    expect(log).toEqual(['write web-gw web-v1=90,web-v2=10', 'write web-mesh web-v1=90,web-v2=10']);
    expect(snap.destinations).toEqual(split(10));
    await multi.setState({ 'helm-canary.io/status': 'progressing' });
    expect(a.state).toEqual({ 'helm-canary.io/status': 'progressing' });
    expect(b.state).toEqual({ 'helm-canary.io/status': 'progressing' });
    await multi.setPinnedRoute({ header: 'x-canary', value: 'v2', destination: { host: 'web-v2' } });
    expect([a.pinned?.destination.host, b.pinned?.destination.host]).toEqual(['web-v2', 'web-v2']);
    expect(await multi.removePinnedRoute()).toBe(true);
    expect([a.pinned, b.pinned]).toEqual([undefined, undefined]);
    expect(multi.restoreCommand([stable])).toBe('restore web-gw 100 && restore web-mesh 100');
  });

  it('a failed write to the second object restores the first, guarded, and throws', async () => {
    const { a, b, log, multi } = setup();
    await multi.getRoutes();
    b.failWrite = new Error('503 from the API');
    await expect(multi.setRoutes(split(10), { current: [stable] })).rejects.toThrow(
      /VirtualService "web-mesh": 503 from the API\. The objects written before it were restored \(VirtualService "web-gw"\)/,
    );
    expect(log).toEqual([
      'write web-gw web-v1=90,web-v2=10',
      'write web-mesh web-v1=90,web-v2=10',
      'write web-gw web-v1=100',
    ]);
    expect(a.destinations).toEqual([stable]);
    expect(b.destinations).toEqual([stable]);
  });

  it('a restore that fails too is reported with the command that restores it by hand', async () => {
    const { a, b, multi } = setup();
    await multi.getRoutes();
    b.failWrite = new Error('503 from the API');
    // Someone changes the first object between our write and the restore: the guard stops the restore.
    const orig = a.setRoutes.bind(a);
    let n = 0;
    a.setRoutes = async (ds, g) => {
      const r = await orig(ds, g);
      if (++n === 1)
        a.destinations = [
          { host: 'web-v1', port: 80, weight: 50 },
          { host: 'web-v2', port: 80, weight: 50 },
        ];
      return r;
    };
    await expect(multi.setRoutes(split(10), { current: [stable] })).rejects.toThrow(
      /Restoring the objects written before it ALSO failed: VirtualService "web-gw": web-gw changed \(restore it with: restore web-gw 100\)/,
    );
  });

  it('someone changing one object mid-run: the read shows the one that moved, a write yields with RouteChangedError', async () => {
    const { b, multi } = setup();
    await multi.getRoutes();
    await multi.setRoutes(split(10), { current: [stable] });
    b.destinations = [stable];
    const snap = await multi.getRoutes();
    expect(snap.destinations).toEqual([stable]);
    const err = await multi.setRoutes(split(50), { current: split(10) }).catch((e) => e);
    expect(err).toBeInstanceOf(RouteChangedError);
    expect((err as RouteChangedError).found).toEqual([stable]);
    expect(String(err.message)).toMatch(/^VirtualService "web-mesh": web-mesh changed/);
  });

  it('references are named with their object', async () => {
    const { multi } = setup();
    expect(await multi.references('web-v1')).toEqual([
      '"other" of VirtualService "web-gw"',
      '"other" of VirtualService "web-mesh"',
    ]);
  });
});
