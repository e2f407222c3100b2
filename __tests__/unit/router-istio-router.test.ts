/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are loose Kubernetes objects */
import { describe, it, expect } from '@jest/globals';
import { IstioRouter } from '../../src/router/istio/istio-router.js';
import { compareDestinations, RouteChangedError } from '../../src/router/router.js';
import {
  KubeConflictError,
  KubeNotFoundError,
  type IKubectl,
  type JsonPatchOp,
} from '../../src/kube/kubectl-helper.js';

const clone = <T>(x: T): T => structuredClone(x);
const isDeepStrictEqual = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function pointer(obj: any, path: string): { parent: any; key: string } {
  const parts = path
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = cur?.[p];
  return { parent: cur, key: parts[parts.length - 1] };
}

/** In-memory IKubectl holding one VirtualService; applies JSON patches like the apiserver. */
class FakeKube implements IKubectl {
  readonly path = '/fake/kubectl';
  readonly version = 'v1.35.2';
  obj: any;
  patches: JsonPatchOp[][] = [];
  annotations: Array<Record<string, string | null>> = [];
  /** Called before each patch is applied: may change the object concurrently. */
  beforePatch?: (n: number) => void;
  /** Called after a successful patch (e.g. a controller reverting it). */
  afterPatch?: () => void;
  rejectAll?: string;
  constructor(obj: any) {
    this.obj = obj;
  }
  bump() {
    this.obj.metadata.resourceVersion = String(Number(this.obj.metadata.resourceVersion) + 1);
  }
  async get<T = any>(_r: string, name: string): Promise<T | undefined> {
    return name === this.obj.metadata.name ? (clone(this.obj) as T) : undefined;
  }
  async list<T = any>(resource: string, ns?: string): Promise<T[]> {
    if (resource.startsWith('serviceentries'))
      return this.serviceEntries.filter((e) => e.metadata.namespace === ns) as T[];
    return [clone(this.obj)];
  }
  /** ServiceEntries in the cluster; `listAllFails` makes the cluster-wide list fail (no RBAC). */
  serviceEntries: any[] = [];
  listAllFails?: Error;
  lists: string[] = [];
  async listAll<T = any>(resource: string): Promise<T[]> {
    this.lists.push(resource);
    if (this.listAllFails) throw this.listAllFails;
    return clone(this.serviceEntries) as T[];
  }
  async patchJson(_r: string, _n: string, ops: JsonPatchOp[]): Promise<any> {
    this.patches.push(clone(ops));
    this.beforePatch?.(this.patches.length);
    if (this.rejectAll) throw new KubeConflictError(this.rejectAll, 'Invalid');
    const next = clone(this.obj);
    for (const op of ops) {
      const { parent, key } = pointer(next, op.path);
      if (op.op === 'test') {
        if (!isDeepStrictEqual(parent?.[key], op.value))
          throw new KubeConflictError('Error from server (Invalid): test failed', 'Invalid');
      } else if (Array.isArray(parent) && op.op === 'add') parent.splice(Number(key), 0, clone(op.value));
      else if (Array.isArray(parent) && op.op === 'remove') parent.splice(Number(key), 1);
      else if (op.op === 'replace' || op.op === 'add') parent[key] = clone(op.value);
      else if (op.op === 'remove') delete parent[key];
    }
    this.obj = next;
    this.bump();
    this.afterPatch?.();
    return clone(this.obj);
  }
  async annotate(_r: string, _n: string, a: Record<string, string | null>): Promise<void> {
    this.annotations.push(a);
    const ann = (this.obj.metadata.annotations ??= {});
    for (const [k, v] of Object.entries(a))
      if (v === null) delete ann[k];
      else ann[k] = v;
    this.bump();
  }
  nsLabels: Record<string, string> | undefined = {};
  /** Namespaces other than the VirtualService's that exist. */
  otherNamespaces = new Set<string>(['payments']);
  async namespaceLabels(ns?: string): Promise<Record<string, string> | undefined> {
    if (ns !== undefined && ns !== 'shop') return this.otherNamespaces.has(ns) ? {} : undefined;
    return this.nsLabels;
  }
  // The router only reads and patches; object writes are not part of its contract.
  async create(): Promise<any> {
    throw new Error('the router does not create objects');
  }
  async replace(): Promise<any> {
    throw new Error('the router does not replace objects');
  }
  async getRaw(): Promise<{ ok: boolean; body: string }> {
    throw new Error('not used');
  }
  async delete(): Promise<boolean> {
    throw new Error('the router does not delete objects');
  }
}

function vs(): any {
  return {
    metadata: {
      name: 'web',
      namespace: 'shop',
      resourceVersion: '100',
      annotations: { 'meta.helm.sh/release-name': 'gateway', 'meta.helm.sh/release-namespace': 'shop' },
      managedFields: [{ manager: 'helm', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:http': {} } } }],
    },
    spec: {
      hosts: ['shop.example.com'],
      http: [
        { name: 'admin', route: [{ destination: { host: 'admin' } }] },
        {
          name: 'primary',
          route: [{ destination: { host: 'shop-v1-web', port: { number: 80 } }, weight: 100 }],
        },
      ],
    },
  };
}

const noSleep = async () => undefined;
const want = [
  { host: 'shop-v1-web', port: 80, weight: 75 },
  { host: 'shop-v2-web', port: 80, weight: 25 },
];

describe('IstioRouter', () => {
  it('getRoutes reads the managed route', async () => {
    const k = new FakeKube(vs());
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary' });
    expect(r.kind).toBe('VirtualService');
    expect(await r.getRoutes()).toEqual({
      route: 'primary',
      destinations: [{ host: 'shop-v1-web', port: 80, weight: 100 }],
      version: '100',
      state: {},
      changedBy: 'field manager "helm" (Apply)',
    });
  });

  it('getRoutes: missing VirtualService is a clear error', async () => {
    const r = new IstioRouter(new FakeKube(vs()), 'nope', 'shop', {});
    await expect(r.getRoutes()).rejects.toThrow(/VirtualService "nope" was not found in namespace "shop"/);
  });

  it('setRoutes patches only the route and returns the read-back', async () => {
    const k = new FakeKube(vs());
    const r = new IstioRouter(k, 'web', 'shop', { stableHostOf: () => 'shop-v1-web', sleep: noSleep });
    const snap = await r.setRoutes(want);
    expect(snap.destinations).toEqual(want);
    expect(snap.version).toBe('101');
    expect(k.patches).toHaveLength(1);
    const expected = vs();
    expected.spec.http[1].route = [
      { destination: { host: 'shop-v1-web', port: { number: 80 } }, weight: 75 },
      { destination: { host: 'shop-v2-web', port: { number: 80 } }, weight: 25 },
    ];
    expected.metadata.resourceVersion = '101';
    expect(k.obj).toEqual(expected);
  });

  it('rejects weights that do not sum to 100 before touching the cluster', async () => {
    const k = new FakeKube(vs());
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary' });
    await expect(r.setRoutes([{ host: 'a', weight: 50 }])).rejects.toThrow(/sum to 100/);
    expect(k.patches).toHaveLength(0);
  });

  it('on a concurrent change re-reads, re-derives the patch and keeps the other change', async () => {
    const k = new FakeKube(vs());
    const infos: string[] = [];
    const r = new IstioRouter(k, 'web', 'shop', {
      route: 'primary',
      sleep: noSleep,
      logger: { info: (s) => infos.push(s), warning: (s) => infos.push(s) },
    });
    k.beforePatch = (n) => {
      if (n === 1) {
        // someone inserts a route before ours and edits hosts
        k.obj.spec.http.unshift({ name: 'canary-header', route: [{ destination: { host: 'x' } }] });
        k.obj.spec.hosts.push('www.example.com');
        k.bump();
      }
    };
    const snap = await r.setRoutes(want);
    expect(k.patches).toHaveLength(2);
    expect(k.patches[1][0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '101' });
    expect(k.patches[1][2].path).toBe('/spec/http/2/route'); // found by name at its new index
    expect(snap.route).toBe('primary');
    expect(k.obj.spec.hosts).toEqual(['shop.example.com', 'www.example.com']);
    expect(k.obj.spec.http[0].name).toBe('canary-header');
    expect(infos.join('\n')).toMatch(/changed while setting weights \(attempt 1\/5\)/);
  });

  it('gives up after 5 conflicts with a KubeConflictError', async () => {
    const k = new FakeKube(vs());
    const sleeps: number[] = [];
    const r = new IstioRouter(k, 'web', 'shop', {
      route: 'primary',
      sleep: async (ms) => void sleeps.push(ms),
    });
    k.beforePatch = () => k.bump();
    await expect(r.setRoutes(want)).rejects.toThrow(KubeConflictError);
    expect(k.patches).toHaveLength(5);
    expect(sleeps).toHaveLength(4);
    expect(sleeps[0]).toBeGreaterThanOrEqual(100);
    expect(sleeps[3]).toBeGreaterThanOrEqual(800);
  });

  it('a 422 on an unchanged object is a rejected patch, not a conflict: no retry', async () => {
    const k = new FakeKube(vs());
    k.rejectAll = 'Error from server (Invalid): spec.http[1].route[0].weight: Invalid value';
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    const e = (await r.setRoutes(want).catch((x: unknown) => x)) as Error;
    expect(e).not.toBeInstanceOf(KubeConflictError);
    expect(e.message).toMatch(/patch for setting weights was rejected.*Invalid value/);
    expect(k.patches).toHaveLength(1);
  });

  it('detects a revert right after the patch (read-back verification)', async () => {
    const k = new FakeKube(vs());
    k.afterPatch = () => {
      k.obj.spec.http[1].route = vs().spec.http[1].route;
      k.bump();
    };
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    await expect(r.setRoutes(want)).rejects.toThrow(
      /reads shop-v1-web 100% instead of shop-v1-web 75%, shop-v2-web 25%/,
    );
  });

  it('an unnamed route stays the one first resolved; a reshaped route is an error', async () => {
    const v = vs();
    delete v.spec.http[1].name;
    const k = new FakeKube(v);
    const r = new IstioRouter(k, 'web', 'shop', { stableHostOf: () => 'shop-v1-web', sleep: noSleep });
    expect((await r.getRoutes()).route).toBe('#1');
    const snap = await r.setRoutes(want);
    expect(snap.route).toBe('#1');
    expect(k.patches[0][1]).toEqual({ op: 'test', path: '/spec/http/1/route', value: v.spec.http[1].route });
    // later the hint host is gone (promotion): still the same route
    const snap2 = await r.setRoutes([{ host: 'shop-v2-web', port: 80, weight: 100 }]);
    expect(snap2.route).toBe('#1');
    k.obj.spec.http.splice(1, 1);
    k.bump();
    await expect(r.getRoutes()).rejects.toThrow(/changed shape/);
  });

  it('setState prefixes bare keys, keeps prefixed ones, refuses foreign ones', async () => {
    const k = new FakeKube(vs());
    const r = new IstioRouter(k, 'web', 'shop', {});
    await r.setState({
      status: 'progressing',
      'helm-canary.io/canary-weight': '25',
      'helm-canary.io/run-url': null,
    });
    expect(k.annotations[0]).toEqual({
      'helm-canary.io/status': 'progressing',
      'helm-canary.io/canary-weight': '25',
      'helm-canary.io/run-url': null,
    });
    await expect(r.setState({ 'meta.helm.sh/release-name': 'x' })).rejects.toThrow(/refusing/);
    expect(k.annotations).toHaveLength(1);
  });

  it('inspect() reports the Helm 4 server-side owner, the release that renders it, no sidecar', async () => {
    const r = new IstioRouter(new FakeKube(vs()), 'web', 'shop', { helmMajor: 4 });
    const i = await r.inspect();
    expect(i.owners).toHaveLength(1);
    expect(i.owners[0]).toMatchObject({ manager: 'helm', severity: 'warning' });
    expect(i.owners[0].consequence).toMatch(/will fail with a field conflict on .spec.http/);
    expect(i.ownerRelease).toBe('gateway');
    expect(i.warnings.join('\n')).toMatch(/Namespace "shop" has neither the label istio-injection=enabled/);
  });

  it('inspect(): an injected namespace gives no warning; a missing namespace or object is an error', async () => {
    const k = new FakeKube(vs());
    k.nsLabels = { 'istio.io/rev': 'canary' };
    expect((await new IstioRouter(k, 'web', 'shop').inspect()).warnings).toEqual([]);
    const named = new IstioRouter(k, 'nope', 'shop', { inputName: 'virtual-service' });
    await expect(named.inspect()).rejects.toThrow(
      /^Input 'virtual-service': VirtualService "nope" was not found in namespace "shop"\.$/,
    );
    k.nsLabels = undefined;
    await expect(new IstioRouter(k, 'web', 'shop').inspect()).rejects.toThrow(
      /Namespace "shop" does not exist/,
    );
  });

  it('setRoutes(…, version) derives the patch from the last read without reading again', async () => {
    const k = new FakeKube(vs());
    let gets = 0;
    const get = k.get.bind(k);
    k.get = (async (...a: Parameters<typeof get>) => (gets++, get(...a))) as typeof k.get;
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    const snap = await r.getRoutes();
    gets = 0;
    await r.setRoutes(want, { version: snap.version });
    expect(gets).toBe(1); // only the read-back
    expect(k.patches[0][0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '100' });
    // a token older than the last read is not trusted: the patch is derived from a fresh read
    gets = 0;
    await r.setRoutes([{ host: 'shop-v2-web', port: 80, weight: 100 }], { version: '100' });
    expect(gets).toBe(2);
    expect(k.patches).toHaveLength(2);
    expect(k.patches[1][0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '101' });
    expect(k.obj.spec.http[1].route).toEqual([
      { destination: { host: 'shop-v2-web', port: { number: 80 } }, weight: 100 },
    ]);
  });

  it('references() names the other routes that still send traffic to a Service, in any host form', async () => {
    const v = vs();
    v.spec.http.push({ route: [{ destination: { host: 'shop-v1-web.shop.svc.cluster.local' } }] });
    v.spec.http.push({ name: 'other-ns', route: [{ destination: { host: 'shop-v1-web.other' } }] });
    const r = new IstioRouter(new FakeKube(v), 'web', 'shop', { route: 'primary' });
    expect(await r.references('shop-v1-web')).toEqual(['#2']);
    expect(await r.references('admin')).toEqual(['"admin"']);
    expect(await r.references('shop-v2-web')).toEqual([]);
  });

  it('maps hosts to Services relative to its namespace', () => {
    const r = new IstioRouter(new FakeKube(vs()), 'web', 'shop');
    expect(r.serviceOf('a')).toEqual({ name: 'a', namespace: 'shop' });
    expect(r.serviceOf('a.b.svc.cluster.local')).toEqual({ name: 'a', namespace: 'b' });
    expect(r.hostOf({ name: 'a', namespace: 'shop' })).toBe('a');
    expect(r.hostOf({ name: 'a', namespace: 'b' })).toBe('a.b.svc.cluster.local');
  });
});

describe('IstioRouter pinned route', () => {
  const pin = { header: 'X-Canary', value: 'shop-v2', destination: { host: 'shop-v2-web', port: 80 } };

  it('puts a copy of the managed route with the header match in front of it, and removes it', async () => {
    const v = vs();
    v.spec.http[1].match = [
      { uri: { prefix: '/' } },
      { uri: { prefix: '/api' }, headers: { a: { exact: 'b' } } },
    ];
    v.spec.http[1].timeout = '3s';
    v.spec.http[1].retries = { attempts: 2 };
    const k = new FakeKube(v);
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    await r.setPinnedRoute(pin);
    expect(k.obj.spec.http.map((x: any) => x.name)).toEqual(['admin', 'helm-canary-pinned', 'primary']);
    expect(k.obj.spec.http[1]).toEqual({
      name: 'helm-canary-pinned',
      match: [
        { uri: { prefix: '/' }, headers: { 'x-canary': { exact: 'shop-v2' } } },
        { uri: { prefix: '/api' }, headers: { a: { exact: 'b' }, 'x-canary': { exact: 'shop-v2' } } },
      ],
      timeout: '3s',
      retries: { attempts: 2 },
      route: [{ destination: { host: 'shop-v2-web', port: { number: 80 } }, weight: 100 }],
    });
    expect(k.obj.spec.http[2]).toEqual(v.spec.http[1]); // the users' route is untouched
    // the managed route is still found, and weights go to it, not to the pinned one
    const snap = await r.setRoutes(want);
    expect(snap.route).toBe('primary');
    expect(k.obj.spec.http[1].route).toHaveLength(1);
    // setting it again replaces it (no second copy)
    await r.setPinnedRoute({ ...pin, value: 'shop-v3' });
    expect(k.obj.spec.http.filter((x: any) => x.name === 'helm-canary-pinned')).toHaveLength(1);
    expect(k.obj.spec.http[1].match[0].headers['x-canary']).toEqual({ exact: 'shop-v3' });
    expect(await r.references('shop-v2-web')).toEqual([]); // the pinned route is not a user route
    expect(await r.removePinnedRoute()).toBe(true);
    expect(k.obj.spec.http.map((x: any) => x.name)).toEqual(['admin', 'primary']);
    expect(await r.removePinnedRoute()).toBe(false);
  });

  it('an unnamed managed route without matches gets a header-only match; it is still followed after', async () => {
    const v = vs();
    delete v.spec.http[1].name;
    const k = new FakeKube(v);
    const r = new IstioRouter(k, 'web', 'shop', { stableHostOf: () => 'shop-v1-web', sleep: noSleep });
    await r.getRoutes();
    await r.setPinnedRoute(pin);
    expect(k.obj.spec.http[1].match).toEqual([{ headers: { 'x-canary': { exact: 'shop-v2' } } }]);
    const snap = await r.setRoutes(want);
    expect(snap.route).toBe('#1');
    expect(k.obj.spec.http[2].route.map((d: any) => d.weight)).toEqual([75, 25]);
    await r.removePinnedRoute();
    expect((await r.getRoutes()).destinations.map((d) => d.weight)).toEqual([75, 25]);
  });

  it('the pin is re-derived when the object changes concurrently', async () => {
    const k = new FakeKube(vs());
    k.beforePatch = (n) => {
      if (n === 1) {
        k.obj.spec.http.unshift({ name: 'new-first', route: [{ destination: { host: 'x' } }] });
        k.bump();
      }
    };
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    await r.setPinnedRoute(pin);
    expect(k.obj.spec.http.map((x: any) => x.name)).toEqual([
      'new-first',
      'admin',
      'helm-canary-pinned',
      'primary',
    ]);
  });
});

describe('compareDestinations', () => {
  it('checks count, order, host, subset, weight and asked ports', () => {
    expect(compareDestinations(want, want)).toBeUndefined();
    expect(compareDestinations(want, want.slice(0, 1))).toMatch(/1 destinations instead of 2/);
    expect(
      compareDestinations([{ host: 'a', weight: 100 }], [{ host: 'a', port: 80, weight: 100 }]),
    ).toBeUndefined();
    expect(
      compareDestinations([{ host: 'a', port: 81, weight: 100 }], [{ host: 'a', port: 80, weight: 100 }]),
    ).toMatch(/port 80/);
    expect(compareDestinations([{ host: 'a', weight: 100 }], [{ host: 'a', weight: 90 }])).toMatch(
      /weight 90/,
    );
  });
});

describe('IstioRouter transient conflicts', () => {
  it('retries a plain 409 even when the object did not change, and retries state annotations', async () => {
    const k = new FakeKube(vs());
    let failPatch = 1;
    const patch = k.patchJson.bind(k);
    k.patchJson = async (...a: Parameters<typeof k.patchJson>) => {
      if (failPatch-- > 0) throw new KubeConflictError('Error from server (Conflict): etcd busy');
      return patch(...a);
    };
    let failAnnotate = 2;
    const annotate = k.annotate.bind(k);
    k.annotate = async (...a: Parameters<typeof k.annotate>) => {
      if (failAnnotate-- > 0) throw new KubeConflictError('Error from server (Conflict): busy');
      return annotate(...a);
    };
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    const snap = await r.setRoutes(want);
    expect(snap.destinations.map((d) => d.weight)).toEqual(want.map((d) => d.weight));
    await r.setState({ status: 'progressing' });
    expect(failAnnotate).toBe(-1);
  });
});

describe('IstioRouter write guard (nobody is overwritten)', () => {
  it('refuses to write when the route is not what the run last wrote, naming who changed it', async () => {
    const v = vs();
    v.metadata.managedFields.push({
      manager: 'kubectl-patch',
      operation: 'Update',
      time: '2026-12-01T10:00:00Z',
      fieldsV1: { 'f:spec': { 'f:http': {} } },
    });
    const k = new FakeKube(v);
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    const e = (await r.setRoutes(want, { current: want }).catch((x: unknown) => x)) as RouteChangedError;
    expect(e).toBeInstanceOf(RouteChangedError);
    expect(e.found).toEqual([{ host: 'shop-v1-web', port: 80, weight: 100 }]);
    expect(e.changedBy).toBe('field manager "kubectl-patch" (Update, 2026-12-01T10:00:00Z)');
    expect(e.message).toMatch(
      /weights are shop-v1-web 100%, not the shop-v1-web 75%, shop-v2-web 25% helm-canary last wrote/,
    );
    expect(k.patches).toHaveLength(0);
  });

  it('a change that lands between the check and the write is caught on the retry, not overwritten', async () => {
    const k = new FakeKube(vs());
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    const current = [{ host: 'shop-v1-web', port: 80, weight: 100 }];
    k.beforePatch = (n) => {
      if (n === 1) {
        k.obj.spec.http[1].route[0].weight = 100;
        k.obj.spec.http[1].route.push({ destination: { host: 'hotfix' }, weight: 0 });
        k.bump();
      }
    };
    await expect(r.setRoutes(want, { current })).rejects.toBeInstanceOf(RouteChangedError);
    expect(k.patches).toHaveLength(1); // the first (stale) patch was refused by the server
    expect(k.obj.spec.http[1].route.map((d: any) => d.destination.host)).toEqual(['shop-v1-web', 'hotfix']);
  });

  it('writes when the route is what the run last wrote', async () => {
    const k = new FakeKube(vs());
    const r = new IstioRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    const snap = await r.setRoutes(want, { current: [{ host: 'shop-v1-web', port: 80, weight: 100 }] });
    expect(snap.destinations).toEqual(want);
  });
});

describe('IstioRouter.externalHost', () => {
  const router = (k: FakeKube) => new IstioRouter(k, 'web', 'shop', { sleep: noSleep });
  const entry = (ns: string, name: string, hosts: string[]) => ({
    metadata: { namespace: ns, name },
    spec: { hosts },
  });

  it('a Service name in any of its forms is not external (whether or not the Service exists)', async () => {
    const r = router(new FakeKube(vs()));
    for (const h of [
      'nothing-here',
      'nothing-here.shop',
      'nothing-here.shop.svc',
      'nothing-here.shop.svc.cluster.local',
      'api.payments',
      'web.other.svc.cluster.local',
    ])
      expect([h, await r.externalHost(h)]).toEqual([h, undefined]);
  });

  it('a host not written as a Service is external', async () => {
    const r = router(new FakeKube(vs()));
    expect(await r.externalHost('api.example.com')).toMatch(
      /"api\.example\.com" is not written as a Service of the cluster/,
    );
    expect(await r.externalHost('web.shop.svc.corp.local')).toMatch(/is not written as a Service/);
  });

  it('"name.ns" whose namespace does not exist reads as a domain: external', async () => {
    const r = router(new FakeKube(vs()));
    expect(await r.externalHost('example.com')).toMatch(
      /names no namespace of the cluster \("com" does not exist\)/,
    );
  });

  it('a Service-form host that a ServiceEntry declares is external, found cluster-wide', async () => {
    const k = new FakeKube(vs());
    k.serviceEntries = [
      entry('mesh', 'legacy', ['legacy.payments']),
      entry('shop', 'cache', ['cache.shop.svc.cluster.local']),
    ];
    const r = router(k);
    expect(await r.externalHost('legacy.payments')).toMatch(/declared by ServiceEntry "mesh\/legacy"/);
    // the short name is the same host as its FQDN in the VirtualService's namespace
    expect(await r.externalHost('cache')).toMatch(/declared by ServiceEntry "shop\/cache"/);
    expect(await r.externalHost('other')).toBeUndefined();
    expect(k.lists).toContain('serviceentries.networking.istio.io');
  });

  it('without cluster-wide list RBAC the namespaces concerned are searched; no CRD: nothing declares it', async () => {
    const k = new FakeKube(vs());
    k.serviceEntries = [entry('payments', 'legacy', ['legacy.payments']), entry('mesh', 'x', ['cache'])];
    k.listAllFails = new Error('Error from server (Forbidden): serviceentries is forbidden');
    const r = router(k);
    expect(await r.externalHost('legacy.payments')).toMatch(/ServiceEntry "payments\/legacy"/);
    expect(await r.externalHost('cache')).toBeUndefined(); // only the namespaces it can see
    k.listAllFails = new KubeNotFoundError('the server doesn\'t have a resource type "serviceentries"');
    expect(await router(k).externalHost('legacy.payments')).toBeUndefined();
  });
});
