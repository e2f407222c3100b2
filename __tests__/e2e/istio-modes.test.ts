// E2E: Istio subset mode (one shared Service, a DestinationRule subset per version) and several
// VirtualServices moved together: dist/index.js against the stand-ins with the real helm + kubectl.
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { World, CHARTS, TOOLS } from '../../standins/world.js';

let w: World;
beforeEach(async () => {
  w = await World.start();
});
afterEach(async () => {
  await w.stop();
});

const shared = path.join(CHARTS, 'sample-shared');
const SHARED_HOST = 'sample.default.svc.cluster.local';

/** The stable release sample-v1 (app chart without a Service) and the mesh chart's shared Service,
 *  DestinationRule "sample" (subset sample-v1) and VirtualService "sample-vs". */
async function subsetWorld(meshVirtualService = false): Promise<void> {
  await w.must(
    w.helm(
      'install',
      'sample-v1',
      shared,
      '-f',
      w.sampleValues('v1', 'hello world v1'),
      '--wait',
      '--timeout',
      '60s',
    ),
  );
  const args = ['install', 'mesh', path.join(CHARTS, 'sample-mesh'), '--wait', '--timeout', '60s'];
  if (meshVirtualService) args.push('--set', 'meshVirtualService=true');
  await w.must(w.helm(...args));
  await w.gateway.refresh();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- stored objects, read as the tests need
const dr = (): any => w.kube.getObject('networking.istio.io/v1', 'DestinationRule', 'default', 'sample');
const subsets = (): string[] => (dr()?.spec?.subsets ?? []).map((s: { name: string }) => s.name);
/** "host/subset=weight,..." of the managed route of a VirtualService. */
function subsetWeights(name: string): string {
  const route = w.vs(name)?.spec?.http?.[w.routeIndex(name)]?.route ?? [];
  return route
    .map(
      (d: { destination: { host: string; subset?: string }; weight?: number }) =>
        `${d.destination.host}/${d.destination.subset ?? ''}=${d.weight ?? 100}`,
    )
    .join(',');
}

/** Calls the shared Service by its cluster name (no VirtualService claims it) while `run` runs. */
async function callingShared<T>(
  run: Promise<T>,
): Promise<{ result: T; codes: number[]; bodies: Set<string> }> {
  const codes: number[] = [];
  const bodies = new Set<string>();
  let done = false;
  const result = run.finally(() => (done = true));
  // Bounded: one call at a time until the run ends, at most 2,000 calls.
  while (!done && codes.length < 2000) {
    const r = await w.request(SHARED_HOST);
    codes.push(r.status);
    bodies.add(r.body.trim());
    await new Promise((res) => setTimeout(res, 20));
  }
  return { result: await result, codes, bodies };
}

const subsetInputs = () => ({
  chart: shared,
  release: 'sample',
  'virtual-service': 'sample-vs',
  'destination-rule': 'sample',
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  'verify-rps': '100',
  precheck: '1s',
  settle: '300ms',
  drain: '1s',
});

describe(`Istio subset mode (${TOOLS})`, () => {
  it('promote: the shared Service answers the new version, the old subset and release are gone, in-cluster calls never fail', async () => {
    await subsetWorld();
    expect((await w.request(SHARED_HOST)).body).toBe('hello world v1\n');
    const {
      result: r,
      codes,
      bodies,
    } = await callingShared(
      w.runAction({
        ...subsetInputs(),
        version: 'v2',
        'values-files': w.sampleValues('v2', 'hello world v2'),
        steps: '50@2s,100@1s',
      }),
    );
    expect(r.stderr).toBe('');
    expect(r.outputs.status).toBe('promoted');
    expect(r.code).toBe(0);
    expect(subsetWeights('sample-vs')).toBe('sample/sample-v2=100');
    expect(subsets()).toEqual(['sample-v2']);
    // The new subset copied the stable one's policy; the rule's own fields are untouched.
    expect(dr().spec.subsets[0]).toEqual({
      name: 'sample-v2',
      labels: { 'app.kubernetes.io/instance': 'sample-v2' },
      trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } },
    });
    expect(dr().spec.trafficPolicy).toEqual({ connectionPool: { http: { http1MaxPendingRequests: 100 } } });
    expect((await w.helm('status', 'sample-v1')).code).not.toBe(0);
    expect((await w.helm('status', 'mesh')).code).toBe(0);
    await w.gateway.refresh();
    expect((await w.request(SHARED_HOST)).body).toBe('hello world v2\n');
    expect((await w.request('127.0.0.1.xip.io')).body).toBe('hello world v2\n');
    // Every in-cluster call during the run answered, first from v1, later from v2.
    expect(codes.length).toBeGreaterThan(10);
    expect(codes.filter((c) => c !== 200)).toEqual([]);
    expect(bodies).toEqual(new Set(['hello world v1', 'hello world v2']));
    const ann = w.vs('sample-vs').metadata.annotations;
    expect(ann['helm-canary.io/stable-release']).toBe('sample-v2');
    expect(ann['helm-canary.io/stable-host']).toBe('sample/sample-v2');
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));
    expect(report.routing.versions).toEqual({ kind: 'DestinationRule', name: 'sample' });
    expect(r.summary).toContain('**DestinationRule:** `sample`');
  });

  it('rollback: the failing canary subset is removed after the weights are back, stable 100', async () => {
    await subsetWorld();
    const r = await w.runAction({
      ...subsetInputs(),
      version: 'v2',
      'values-files': w.sampleValues('v2', 'hello world v2', { 'standin.helm-canary/error-rate': '1' }),
      precheck: '0s',
      steps: '20@3s,100@1s',
    });
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.code).not.toBe(0);
    expect(subsetWeights('sample-vs')).toBe('sample/sample-v1=100');
    expect(subsets()).toEqual(['sample-v1']);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect((await w.helm('status', 'sample-v1')).code).toBe(0);
    // The subset went after the weights were restored: its removal is the last DestinationRule write.
    const writes = w.kube
      .writes()
      .filter((x) => /virtualservices\/sample-vs|destinationrules\/sample/.test(x.path));
    const lastDr = writes
      .map((x) => x.path)
      .lastIndexOf('/apis/networking.istio.io/v1/namespaces/default/destinationrules/sample');
    const lastWeights = writes.findLastIndex(
      (x) => /virtualservices/.test(x.path) && /"route"/.test(x.body ?? ''),
    );
    expect(lastDr).toBeGreaterThan(lastWeights);
  });

  it('a canary chart that renders its own copy of the shared Service is an error before install', async () => {
    await subsetWorld();
    const before = JSON.stringify(dr().spec);
    w.kube.clearRequests();
    const r = await w.runAction({
      ...subsetInputs(),
      version: 'v2',
      set: 'sharedService=true',
      steps: '100@1s',
    });
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toMatch(/would render Service "sample", the shared Service of subset mode/);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(JSON.stringify(dr().spec)).toBe(before);
    expect(w.kube.writes().filter((x) => !/leases|secrets/.test(x.path))).toEqual([]);
  });
});

describe(`several VirtualServices (${TOOLS})`, () => {
  const multiInputs = () => ({
    chart: path.join(CHARTS, 'sample'),
    release: 'sample',
    'virtual-service': 'exciting-lemur-vs\nmesh-lemur-vs',
    'verify-url': `${w.gateway.url}/`,
    // Each object's host is probed (pinned and users' probes each take them in turn).
    'verify-host': '127.0.0.1.xip.io\nmesh.127.0.0.1.xip.io',
    'verify-rps': '100',
    precheck: '0s',
    settle: '300ms',
    drain: '1s',
  });
  async function twoObjects(routes = [{ service: 'foolish-penguin-sample', weight: 100 }]): Promise<void> {
    await w.tutorial();
    const gw = path.join(w.dir, 'mesh.values.yaml');
    fs.writeFileSync(gw, JSON.stringify({ host: 'mesh.127.0.0.1.xip.io', routes }));
    await w.must(w.helm('install', 'mesh-lemur', path.join(CHARTS, 'sample-gateway'), '-f', gw, '--wait'));
    await w.gateway.refresh();
  }

  it('are promoted together, then a failing version is rolled back on both', async () => {
    await twoObjects();
    const hostsBefore = { ...w.gateway.stats.byHost };
    const r = await w.runAction({
      ...multiInputs(),
      version: 'v2',
      'values-files': w.sampleValues('v2', 'hello world v2'),
      steps: '50@2s,100@1s',
    });
    expect(r.outputs.status).toBe('promoted');
    // Verification covered both hosts, about equally.
    const probed = (h: string) => (w.gateway.stats.byHost[h] ?? 0) - (hostsBefore[h] ?? 0);
    expect(probed('127.0.0.1.xip.io')).toBeGreaterThan(50);
    expect(probed('mesh.127.0.0.1.xip.io')).toBeGreaterThan(50);
    expect(Math.abs(probed('127.0.0.1.xip.io') - probed('mesh.127.0.0.1.xip.io'))).toBeLessThan(30);
    expect(w.weights('exciting-lemur-vs')).toBe('sample-v2=100');
    expect(w.weights('mesh-lemur-vs')).toBe('sample-v2=100');
    for (const name of ['exciting-lemur-vs', 'mesh-lemur-vs'])
      expect(w.vs(name).metadata.annotations['helm-canary.io/status']).toBe('promoted');
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));
    expect(report.routing.objects).toEqual([
      { kind: 'VirtualService', name: 'exciting-lemur-vs' },
      { kind: 'VirtualService', name: 'mesh-lemur-vs' },
    ]);
    expect(r.summary).toContain('**VirtualServices:** `exciting-lemur-vs`, `mesh-lemur-vs`');
    // One lease per object, taken for the run (and released at its end).
    const leaseWrites = w.kube
      .writes()
      .filter((x) => /\/leases/.test(x.path))
      .map((x) => `${x.path} ${x.body ?? ''}`)
      .join('\n');
    for (const name of ['helm-canary-exciting-lemur-vs', 'helm-canary-mesh-lemur-vs'])
      expect(leaseWrites).toContain(name);

    const bad = await w.runAction({
      ...multiInputs(),
      version: 'v3',
      'values-files': w.sampleValues('v3', 'hello world v3', { 'standin.helm-canary/error-rate': '1' }),
      steps: '30@3s,100@1s',
    });
    expect(bad.outputs.status).toBe('rolled-back');
    expect(w.weights('exciting-lemur-vs')).toBe('sample-v2=100');
    expect(w.weights('mesh-lemur-vs')).toBe('sample-v2=100');
    for (const name of ['exciting-lemur-vs', 'mesh-lemur-vs'])
      expect(w.vs(name).metadata.annotations['helm-canary.io/status']).toBe('rolled-back');
    expect((await w.helm('status', 'sample-v3')).code).not.toBe(0);
  });

  it('a failed write to the second object restores the first', async () => {
    await twoObjects();
    const second = '/apis/networking.istio.io/v1/namespaces/default/virtualservices/mesh-lemur-vs';
    // The first PATCH of the second object is the state written after the install: hold it, and
    // while it is held make the next one (the first weight write) fail.
    w.kube.injectFault({ method: 'PATCH', path: second, delayMs: 1500 });
    const run = w.runAction({
      ...multiInputs(),
      'verify-url': '',
      'allow-unverified': 'true',
      version: 'v2',
      'values-files': w.sampleValues('v2', 'hello world v2'),
      steps: '50@2s,100@1s',
    });
    for (let i = 0; i < 3000 && !w.kube.inFlight().some((q) => q.path === second); i++)
      await new Promise((res) => setTimeout(res, 10));
    w.kube.injectFault({ method: 'PATCH', path: second, status: 500, message: 'etcd is down' });
    const r = await run;
    expect(r.log).toMatch(
      /VirtualService "mesh-lemur-vs": .*etcd is down.* The objects written before it were restored \(VirtualService "exciting-lemur-vs"\)/,
    );
    expect(['rolled-back', 'failed']).toContain(r.outputs.status);
    // The first object did get the canary weight, and is back on the stable.
    const first = w.kube
      .writes()
      .filter((x) => x.path.endsWith('/virtualservices/exciting-lemur-vs') && /sample-v2/.test(x.body ?? ''));
    expect(first.length).toBeGreaterThan(0);
    expect(w.weights('exciting-lemur-vs')).toBe('foolish-penguin-sample=100');
    expect(w.weights('mesh-lemur-vs')).toBe('foolish-penguin-sample=100');
  });

  it('mismatched stables are an error before any write, naming both objects', async () => {
    await twoObjects([{ service: 'other-sample', weight: 100 }]);
    w.kube.clearRequests();
    const r = await w.runAction({
      ...multiInputs(),
      version: 'v2',
      'values-files': w.sampleValues('v2', 'hello world v2'),
      steps: '100@1s',
    });
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toMatch(
      /VirtualService "exciting-lemur-vs".*foolish-penguin-sample:80 100%.*VirtualService "mesh-lemur-vs".*other-sample:80 100%/,
    );
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(w.kube.writes()).toEqual([]);
  });
});
