/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are loose Kubernetes objects */
// Subset mode: the DestinationRule registry (preflight checks, guarded subset add/remove) and its
// pure patches, against an in-memory kubectl.
import { describe, it, expect } from '@jest/globals';
import { SubsetRegistry } from '../../src/router/istio/subset-registry.js';
import {
  buildAddSubsetPatch,
  buildRemoveSubsetPatch,
  subsetLike,
} from '../../src/router/istio/destination-rule.js';
import { KubeConflictError, type IKubectl, type JsonPatchOp } from '../../src/kube/kubectl-helper.js';

const clone = <T>(x: T): T => structuredClone(x);

function apply(obj: any, ops: JsonPatchOp[]): any {
  const next = clone(obj);
  for (const op of ops) {
    const parts = op.path.split('/').slice(1);
    let cur = next;
    for (const p of parts.slice(0, -1)) cur = cur[p];
    const key = parts[parts.length - 1];
    if (op.op === 'test') {
      if (JSON.stringify(cur[key]) !== JSON.stringify(op.value))
        throw new KubeConflictError('test failed', 'Invalid');
    } else if (op.op === 'add' && Array.isArray(cur))
      cur.splice(key === '-' ? cur.length : Number(key), 0, clone(op.value));
    else if (op.op === 'remove' && Array.isArray(cur)) cur.splice(Number(key), 1);
    else if (op.op === 'add' || op.op === 'replace') cur[key] = clone(op.value);
  }
  next.metadata.resourceVersion = String(Number(next.metadata.resourceVersion) + 1);
  return next;
}

class FakeKube implements Partial<IKubectl> {
  readonly path = '/fake';
  readonly version = 'v1.35.2';
  patches: JsonPatchOp[][] = [];
  /** Changes the DestinationRule before the next patch lands (someone else writing it). */
  concurrent?: () => void;
  pods = [{ metadata: { name: 'p1', labels: { app: 'web', 'app.kubernetes.io/instance': 'web-v1' } } }];
  dr: any = {
    metadata: { name: 'web', namespace: 'default', resourceVersion: '7' },
    spec: {
      host: 'web.default.svc.cluster.local',
      trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } },
      subsets: [
        {
          name: 'web-v1',
          labels: { 'app.kubernetes.io/instance': 'web-v1' },
          trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } },
        },
      ],
    },
  };
  svc: any = { metadata: { name: 'web' }, spec: { selector: { app: 'web' } } };
  async get(resource: string, name: string): Promise<any> {
    if (resource === 'services') return name === 'web' ? clone(this.svc) : undefined;
    return name === this.dr?.metadata.name ? clone(this.dr) : undefined;
  }
  selectors: string[] = [];
  async list(_r: string, _ns?: string, selector?: string): Promise<any[]> {
    this.selectors.push(selector ?? '');
    const want = Object.fromEntries((selector ?? '').split(',').map((kv) => kv.split('=')));
    return this.pods.filter((p: any) => Object.entries(want).every(([k, v]) => p.metadata.labels[k] === v));
  }
  async patchJson(_r: string, _n: string, ops: JsonPatchOp[]): Promise<any> {
    this.patches.push(clone(ops));
    if (this.concurrent) {
      this.concurrent();
      this.concurrent = undefined;
    }
    this.dr = apply(this.dr, ops);
    return clone(this.dr);
  }
}

const stable = { host: 'web', port: 80, subset: 'web-v1', weight: 100 };
const make = (k: FakeKube, label = 'app.kubernetes.io/instance') =>
  new SubsetRegistry(k as unknown as IKubectl, 'web', 'default', { label, sleep: async () => undefined });

describe('SubsetRegistry: preflight', () => {
  it('finds the shared Service and the stable release from the stable subset, checking its pods', async () => {
    const k = new FakeKube();
    expect(await make(k).check(stable)).toEqual({
      service: { name: 'web', namespace: 'default' },
      stableRelease: 'web-v1',
    });
    // Service selector AND subset labels.
    expect(k.selectors).toEqual(['app=web,app.kubernetes.io/instance=web-v1']);
  });

  it('says what is wrong: missing rule, other host, no subset, unknown subset, no label, no pods', async () => {
    const k = new FakeKube();
    const r = make(k);
    k.dr.spec.host = 'shop.default.svc.cluster.local';
    await expect(r.check(stable)).rejects.toThrow(/is for host "shop.default.svc.cluster.local".*"web"/);
    k.dr.spec.host = 'web';
    await expect(r.check({ host: 'web', weight: 100 })).rejects.toThrow(/must name a subset.*web-v1/);
    await expect(r.check({ ...stable, subset: 'v0' })).rejects.toThrow(/has no subset "v0".*subsets: web-v1/);
    await expect(make(k, 'version').check(stable)).rejects.toThrow(/has no label "version"/);
    k.pods = [];
    await expect(r.check(stable)).rejects.toThrow(/selects no pods of Service "web"/);
    k.dr = undefined;
    await expect(r.check(stable)).rejects.toThrow(
      /Input 'destination-rule': DestinationRule "web" was not found/,
    );
  });

  it('the canary destination keeps the shared host and the stable port, on its own subset', () => {
    expect(make(new FakeKube()).destinationOf('web-v2', stable)).toEqual({
      host: 'web',
      port: 80,
      subset: 'web-v2',
    });
  });
});

describe('SubsetRegistry: writes', () => {
  it('adds the canary subset like the stable one (its trafficPolicy), guarded, once', async () => {
    const k = new FakeKube();
    await make(k).add('web-v2', stable);
    expect(k.dr.spec.subsets[1]).toEqual({
      name: 'web-v2',
      labels: { 'app.kubernetes.io/instance': 'web-v2' },
      trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } },
    });
    expect(k.patches[0][0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '7' });
    // The rule's own fields are untouched; a second add writes nothing.
    expect(k.dr.spec.trafficPolicy).toEqual({ tls: { mode: 'ISTIO_MUTUAL' } });
    await make(k).add('web-v2', stable);
    expect(k.patches).toHaveLength(1);
  });

  it('someone writing the rule meanwhile: re-read and retried, their change kept', async () => {
    const k = new FakeKube();
    k.concurrent = () => {
      k.dr.spec.subsets.push({ name: 'debug', labels: { debug: 'true' } });
      k.dr.metadata.resourceVersion = '8';
    };
    await make(k).add('web-v2', stable);
    expect(k.patches).toHaveLength(2);
    expect(k.dr.spec.subsets.map((s: any) => s.name)).toEqual(['web-v1', 'debug', 'web-v2']);
  });

  it('a subset of that name selecting other pods is an error, not overwritten', async () => {
    const k = new FakeKube();
    k.dr.spec.subsets.push({ name: 'web-v2', labels: { version: 'x' } });
    await expect(make(k).add('web-v2', stable)).rejects.toThrow(/already has a subset "web-v2"/);
    expect(k.patches).toHaveLength(0);
  });

  it('removes a subset by name (tested in the patch), and says when there was none', async () => {
    const k = new FakeKube();
    await make(k).add('web-v2', stable);
    expect(await make(k).remove({ host: 'web', subset: 'web-v1' })).toBe(true);
    expect(k.patches[1]).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '8' },
      { op: 'test', path: '/spec/subsets/0/name', value: 'web-v1' },
      { op: 'remove', path: '/spec/subsets/0' },
    ]);
    expect(k.dr.spec.subsets.map((s: any) => s.name)).toEqual(['web-v2']);
    expect(await make(k).remove({ host: 'web', subset: 'web-v1' })).toBe(false);
    expect(await make(k).remove({ host: 'web' })).toBe(false);
  });
});

describe('destination-rule patches (pure)', () => {
  it('adds spec.subsets when the rule has none', () => {
    const dr = { metadata: { resourceVersion: '1' }, spec: { host: 'web' } };
    expect(buildAddSubsetPatch(dr, subsetLike(undefined, 'a', { v: 'a' }))).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '1' },
      { op: 'add', path: '/spec/subsets', value: [{ name: 'a', labels: { v: 'a' } }] },
    ]);
    expect(buildRemoveSubsetPatch(dr, 'a')).toBeUndefined();
  });
});
