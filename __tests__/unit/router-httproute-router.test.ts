/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are loose Kubernetes objects */
import { describe, it, expect } from '@jest/globals';
import { HttpRouteRouter } from '../../src/router/gateway-api/httproute-router.js';
import { PINNED_RULE_NAME } from '../../src/router/gateway-api/http-route.js';
import { createRouter } from '../../src/router/factory.js';
import { RouteChangedError } from '../../src/router/router.js';
import {
  KubeConflictError,
  KubeNotFoundError,
  type IKubectl,
  type JsonPatchOp,
} from '../../src/kube/kubectl-helper.js';

const clone = <T>(x: T): T => structuredClone(x);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function pointer(obj: any, path: string): { parent: any; key: string } {
  const parts = path.split('/').slice(1);
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = cur?.[p];
  return { parent: cur, key: parts[parts.length - 1] };
}

/** In-memory IKubectl holding HTTPRoutes (the first is the router's) and ReferenceGrants; JSON patches as the apiserver. */
class FakeKube implements IKubectl {
  readonly path = '/fake/kubectl';
  readonly version = 'v1.35.2';
  patches: JsonPatchOp[][] = [];
  annotations: Array<Record<string, string | null>> = [];
  others: any[] = [];
  grants: any[] = [];
  beforePatch?: (n: number) => void;
  afterPatch?: () => void;
  rejectAll?: string;
  constructor(public obj: any) {}
  bump() {
    this.obj.metadata.resourceVersion = String(Number(this.obj.metadata.resourceVersion) + 1);
  }
  async get<T = any>(_r: string, name: string): Promise<T | undefined> {
    return name === this.obj.metadata.name ? (clone(this.obj) as T) : undefined;
  }
  async list<T = any>(resource: string, ns?: string): Promise<T[]> {
    if (resource.startsWith('referencegrants'))
      return clone(this.grants.filter((g) => g.metadata.namespace === ns)) as T[];
    return clone([this.obj, ...this.others]) as T[];
  }
  async listAll<T = any>(): Promise<T[]> {
    return [];
  }
  async patchJson(_r: string, _n: string, ops: JsonPatchOp[]): Promise<any> {
    this.patches.push(clone(ops));
    this.beforePatch?.(this.patches.length);
    if (this.rejectAll) throw new KubeConflictError(this.rejectAll, 'Invalid');
    const next = clone(this.obj);
    for (const op of ops) {
      const { parent, key } = pointer(next, op.path);
      if (op.op === 'test') {
        if (!same(parent?.[key], op.value))
          throw new KubeConflictError('Error from server (Invalid): test failed', 'Invalid');
      } else if (Array.isArray(parent) && op.op === 'add')
        parent.splice(key === '-' ? parent.length : Number(key), 0, clone(op.value));
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
  async namespaceLabels(ns?: string): Promise<Record<string, string> | undefined> {
    return ns === 'shop' || ns === 'pay' ? {} : undefined;
  }
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

function httpRoute(): any {
  return {
    metadata: {
      name: 'web',
      namespace: 'shop',
      resourceVersion: '100',
      annotations: { 'meta.helm.sh/release-name': 'gateway', 'meta.helm.sh/release-namespace': 'shop' },
      managedFields: [{ manager: 'helm', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:rules': {} } } }],
    },
    spec: {
      parentRefs: [{ name: 'public' }],
      rules: [
        {
          name: 'admin',
          matches: [{ path: { value: '/admin' } }],
          backendRefs: [{ name: 'admin', port: 80 }],
        },
        {
          name: 'primary',
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x', value: '1' }] } },
          ],
          timeouts: { request: '5s' },
          backendRefs: [{ name: 'shop-v1-web', port: 80, weight: 1 }],
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
const pin = { header: 'x-canary', value: 'shop-v2', destination: { host: 'shop-v2-web', port: 80 } };

describe('HttpRouteRouter', () => {
  it('the factory creates it for http-route; getRoutes reads the managed rule', async () => {
    const k = new FakeKube(httpRoute());
    const r = createRouter({
      kubectl: k,
      namespace: 'shop',
      virtualService: '',
      httpRoute: 'web',
      route: 'primary',
    });
    expect(r).toBeInstanceOf(HttpRouteRouter);
    expect(r.kind).toBe('HTTPRoute');
    expect(await r.getRoutes()).toEqual({
      route: 'primary',
      destinations: [{ host: 'shop-v1-web', port: 80, weight: 100 }],
      version: '100',
      state: {},
      changedBy: 'field manager "helm" (Apply)',
    });
  });

  it('setRoutes changes only the managed rule backendRefs, guarded, and reads back', async () => {
    const k = new FakeKube(httpRoute());
    const before = clone(k.obj);
    const r = new HttpRouteRouter(k, 'web', 'shop', { stableHostOf: () => 'shop-v1-web', sleep: noSleep });
    const snap = await r.setRoutes(want);
    expect(snap.destinations).toEqual(want);
    expect(k.patches[0][0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '100' });
    const after = clone(k.obj);
    expect(after.spec.rules[1].backendRefs).toEqual([
      { name: 'shop-v1-web', port: 80, weight: 75 },
      { name: 'shop-v2-web', port: 80, weight: 25 },
    ]);
    after.spec.rules[1].backendRefs = before.spec.rules[1].backendRefs;
    delete after.metadata.resourceVersion;
    delete before.metadata.resourceVersion;
    expect(after).toEqual(before);
  });

  it('retries from a fresh read when the route changes concurrently, elsewhere', async () => {
    const k = new FakeKube(httpRoute());
    k.beforePatch = (n) => {
      if (n === 1) {
        k.obj.spec.rules[0].timeouts = { request: '1s' };
        k.bump();
      }
    };
    const logs: string[] = [];
    const r = new HttpRouteRouter(k, 'web', 'shop', {
      route: 'primary',
      sleep: noSleep,
      logger: { info: (s) => logs.push(s), warning: () => undefined },
    });
    await r.setRoutes(want);
    expect(k.patches).toHaveLength(2);
    expect(k.obj.spec.rules[0].timeouts).toEqual({ request: '1s' });
    expect(logs[0]).toMatch(/HTTPRoute "web" changed while setting weights \(attempt 1\/5\)/);
  });

  it('throws RouteChangedError when the weights are not what it last wrote, writing nothing', async () => {
    const k = new FakeKube(httpRoute());
    const r = new HttpRouteRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    await r.setRoutes(want);
    k.obj.spec.rules[1].backendRefs[1].weight = 50;
    k.obj.metadata.managedFields.push({
      manager: 'kubectl-patch',
      operation: 'Update',
      time: '2026-01-01T00:00:00Z',
      fieldsV1: { 'f:spec': { 'f:rules': {} } },
    });
    k.bump();
    const n = k.patches.length;
    const err = await r
      .setRoutes([{ host: 'shop-v2-web', port: 80, weight: 100 }], { current: want })
      .catch((e) => e);
    expect(err).toBeInstanceOf(RouteChangedError);
    expect(err.message).toMatch(/rule primary: the weights are shop-v1-web:80 60%, shop-v2-web:80 40%/);
    expect(err.message).toMatch(/changed by field manager "kubectl-patch"/);
    expect(k.patches).toHaveLength(n);
  });

  it('a rejected patch (unchanged object) is not retried; a reverted write fails the read-back', async () => {
    const k = new FakeKube(httpRoute());
    k.rejectAll = 'spec.rules[1].backendRefs[0].weight: Invalid value';
    const r = new HttpRouteRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    await expect(r.setRoutes(want)).rejects.toThrow(/the patch for setting weights was rejected/);
    expect(k.patches).toHaveLength(1);
    const k2 = new FakeKube(httpRoute());
    k2.afterPatch = () => (k2.obj.spec.rules[1].backendRefs = httpRoute().spec.rules[1].backendRefs);
    const r2 = new HttpRouteRouter(k2, 'web', 'shop', { route: 'primary', sleep: noSleep });
    await expect(r2.setRoutes(want)).rejects.toThrow(
      /after setting the weights the rule reads shop-v1-web:80 100%/,
    );
  });

  it('keeps following an unnamed rule while the pinned rule comes and goes', async () => {
    const obj = httpRoute();
    obj.spec.rules = [{ backendRefs: [{ name: 'shop-v1-web', port: 80 }] }];
    const k = new FakeKube(obj);
    const r = new HttpRouteRouter(k, 'web', 'shop', { sleep: noSleep });
    expect((await r.getRoutes()).route).toBe('#0');
    await r.setPinnedRoute(pin);
    expect(k.obj.spec.rules.map((x: any) => x.name)).toEqual([undefined, PINNED_RULE_NAME]);
    // The pinned rule leaves the weights alone and is not the managed rule.
    expect((await r.setRoutes(want)).destinations).toEqual(want);
    await r.setPinnedRoute(pin); // replaced, not added twice
    expect(k.obj.spec.rules).toHaveLength(2);
    expect(await r.removePinnedRoute()).toBe(true);
    expect(await r.removePinnedRoute()).toBe(false);
    expect(k.obj.spec.rules).toHaveLength(1);
    expect(k.obj.spec.rules[0].backendRefs).toEqual([
      { name: 'shop-v1-web', port: 80, weight: 75 },
      { name: 'shop-v2-web', port: 80, weight: 25 },
    ]);
  });

  it('inspect: ownership findings, status warnings, the rule limit; not found names the input', async () => {
    const obj = httpRoute();
    obj.status = {
      parents: [
        {
          parentRef: { name: 'public' },
          conditions: [{ type: 'Accepted', status: 'False', reason: 'NoMatchingParent' }],
        },
      ],
    };
    const k = new FakeKube(obj);
    const i = await new HttpRouteRouter(k, 'web', 'shop', { helmMajor: 4 }).inspect();
    expect(i.ownerRelease).toBe('gateway');
    expect(i.owners[0]).toMatchObject({ manager: 'helm' });
    expect(i.owners[0].consequence).toMatch(/field conflict on \.spec\.rules/);
    expect(i.warnings).toEqual([
      expect.stringMatching(/parent public reports Accepted=False \(NoMatchingParent\)/),
    ]);
    while (k.obj.spec.rules.length < 16) k.obj.spec.rules.push({ backendRefs: [{ name: 'x', port: 1 }] });
    const full = await new HttpRouteRouter(k, 'web', 'shop').inspect();
    expect(full.warnings.join('\n')).toMatch(/has 16 rules, the most Gateway API allows/);
    const missing = createRouter({ kubectl: k, namespace: 'shop', virtualService: '', httpRoute: 'nope' });
    await expect(missing.getRoutes()).rejects.toThrow(
      new KubeNotFoundError(`Input 'http-route': HTTPRoute "nope" was not found in namespace "shop".`),
    );
    await expect(new HttpRouteRouter(k, 'web', 'gone').inspect()).rejects.toThrow(
      /Namespace "gone" does not exist/,
    );
  });

  it('externalHost: other kinds, and Services of other namespaces without a ReferenceGrant', async () => {
    const k = new FakeKube(httpRoute());
    const r = new HttpRouteRouter(k, 'web', 'shop');
    expect(await r.externalHost('shop-v1-web')).toBeUndefined();
    expect(await r.externalHost('ServiceImport.multicluster.x-k8s.io/shop/web')).toMatch(
      /not a core Service/,
    );
    expect(await r.externalHost('api.pay')).toMatch(
      /Service "api" in namespace "pay", which no ReferenceGrant/,
    );
    k.grants.push({
      metadata: { name: 'g', namespace: 'pay' },
      spec: {
        from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'shop' }],
        to: [{ group: '', kind: 'Service', name: 'api' }],
      },
    });
    expect(await r.externalHost('api.pay')).toBeUndefined();
    expect(await r.externalHost('other.pay')).toMatch(/no ReferenceGrant/);
  });

  it('references: other rules and other HTTPRoutes of the namespace that reference the Service', async () => {
    const obj = httpRoute();
    obj.spec.rules[0].backendRefs.push({ name: 'shop-v1-web', port: 80 });
    const k = new FakeKube(obj);
    k.others.push({
      metadata: { name: 'internal', namespace: 'shop' },
      spec: { rules: [{ backendRefs: [{ name: 'other' }] }, { backendRefs: [{ name: 'shop-v1-web' }] }] },
    });
    const r = new HttpRouteRouter(k, 'web', 'shop', { route: 'primary', sleep: noSleep });
    await r.setPinnedRoute({ ...pin, destination: { host: 'shop-v1-web', port: 80 } });
    expect(await r.references('shop-v1-web')).toEqual(['rule "admin"', 'rule #1 of HTTPRoute "internal"']);
    expect(await r.references('nobody')).toEqual([]);
  });

  it('setState writes helm-canary.io/ annotations only; restoreCommand patches the rule', async () => {
    const k = new FakeKube(httpRoute());
    const r = new HttpRouteRouter(k, 'web', 'shop', { route: 'primary' });
    await r.setState({ status: 'promoted', 'helm-canary.io/x': null });
    expect(k.annotations).toEqual([{ 'helm-canary.io/status': 'promoted', 'helm-canary.io/x': null }]);
    await expect(r.setState({ 'other.io/x': 'y' })).rejects.toThrow(/refusing "other.io\/x"/);
    await r.getRoutes();
    expect(r.restoreCommand([{ host: 'shop-v1-web', port: 80, weight: 100 }])).toBe(
      `kubectl -n shop patch httproutes.gateway.networking.k8s.io web --type=json -p ` +
        `'[{"op":"replace","path":"/spec/rules/1/backendRefs","value":[{"name":"shop-v1-web","port":80,"weight":100}]}]'`,
    );
    expect(r.hostOf({ name: 'a', namespace: 'pay' })).toBe('a.pay');
    expect(r.serviceOf('a')).toEqual({ name: 'a', namespace: 'shop' });
  });
});
