/* eslint-disable @typescript-eslint/no-explicit-any -- stored Kubernetes objects */
// E2E: dist/index.js with `http-route` (Gateway API) against the stand-ins, real helm + kubectl.
// The world: stable `foolish-penguin` (sample chart) behind the chart `exciting-lemur`
// (sample-httproute: a Gateway and the HTTPRoute `exciting-lemur-route` whose rule "app" has
// matches, filters and timeouts, beside a "legacy" redirect rule).
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { World, CHARTS, TOOLS, PINNED_ROUTE } from '../../standins/world.js';

const ROUTE = 'exciting-lemur-route';
const STABLE_ONLY = 'foolish-penguin-sample=100';
let w: World;
/** The HTTPRoute as the chart created it. */
let original: any;

beforeEach(async () => {
  w = await World.start();
  const values = w.sampleValues('foolish-penguin', 'hello world v1');
  await w.must(
    w.helm(
      'install',
      'foolish-penguin',
      path.join(CHARTS, 'sample'),
      '-f',
      values,
      '--wait',
      '--timeout',
      '60s',
    ),
  );
  await w.must(
    w.helm('install', 'exciting-lemur', path.join(CHARTS, 'sample-httproute'), '--wait', '--timeout', '60s'),
  );
  await w.gateway.refresh();
  original = structuredClone(route());
});
afterEach(async () => {
  await w.stop();
});

function route(): any {
  return w.kube.getObject('gateway.networking.k8s.io/v1', 'HTTPRoute', 'default', ROUTE);
}
const rules = (): any[] => route()?.spec?.rules ?? [];
const managed = (): any => rules().find((r) => r.name === 'app');
const pinned = (): any => rules().find((r) => r.name === PINNED_ROUTE);
/** "service=weight,…" of the managed rule. */
const weights = (): string =>
  (managed()?.backendRefs ?? []).map((b: any) => `${b.name}=${b.weight ?? 1}`).join(',');
const ann = (): Record<string, string> => route()?.metadata?.annotations ?? {};
/** The spec with the managed rule's backendRefs left out: what helm-canary must never change. */
function withoutBackends(spec: any): any {
  const s = structuredClone(spec);
  for (const r of s.rules) if (r.name === 'app') delete r.backendRefs;
  return s;
}

const base = () => ({
  chart: path.join(CHARTS, 'sample'),
  release: 'sample',
  version: 'v2',
  'http-route': ROUTE,
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  'verify-rps': '100',
  precheck: '1s',
  settle: '500ms',
  drain: '1s',
});
const op = (command: string, extra: Record<string, string> = {}) => ({
  command,
  release: 'sample',
  'http-route': ROUTE,
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  'verify-rps': '100',
  settle: '500ms',
  drain: '1s',
  ...extra,
});
const v2 = (annotations: Record<string, string> = {}, args: string[] = []) =>
  w.sampleValues(
    'v2',
    'hello world v2',
    { 'standin.helm-canary/response-headers': 'x-version=v2', ...annotations },
    args,
  );

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe(`HTTPRoute rollouts (${TOOLS})`, () => {
  it('promotes 10→50→100 through the HTTPRoute; only the managed rule backendRefs changed', async () => {
    // The chart's route serves the stable with its filters.
    const before = await w.request('127.0.0.1.xip.io', '/');
    expect(before.body).toBe('hello world v1\n');
    expect(before.headers['x-served-by']).toBe('httproute');
    const r = await w.runAction({
      ...base(),
      'values-files': v2(),
      steps: '10@3s,50@2s,100@2s',
      'canary-match': 'header:x-version=v2',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.outputs).toMatchObject({ status: 'promoted', 'stable-release': 'sample-v2', weight: '100' });
    expect(weights()).toBe('sample-v2=100');
    // The canary's backendRef keeps the stable's port; everything else is as the chart wrote it.
    // (group and kind are the CRD schema's defaults, filled in by the API server as on a real cluster)
    expect(managed().backendRefs).toEqual([
      { group: '', kind: 'Service', name: 'sample-v2', port: 80, weight: 100 },
    ]);
    expect(withoutBackends(route().spec)).toEqual(withoutBackends(original.spec));
    expect(pinned()).toBeUndefined();
    // Pinned probes went through the pinned rule, users' probes through the chart's rule.
    expect(w.gateway.stats.byRoute[`${PINNED_ROUTE} default/sample-v2`]).toBeGreaterThan(0);
    expect(w.gateway.stats.byRoute['app default/sample-v2']).toBeGreaterThan(0);
    expect((await w.request('127.0.0.1.xip.io', '/')).body).toBe('hello world v2\n');
    expect((await w.helm('status', 'foolish-penguin')).code).not.toBe(0);
    expect(ann()['helm-canary.io/status']).toBe('promoted');
    expect(ann()['helm-canary.io/stable-release']).toBe('sample-v2');
    expect(r.log).toMatch(
      /::warning::HTTPRoute "exciting-lemur-route" belongs to Helm release "exciting-lemur"/,
    );
    expect(r.log).toMatch(TOOLS === 'helm4' ? /field conflict on \.spec\.rules/ : /written client-side/);
    expect(r.log).toMatch(/Pinned route in front of route app: requests with header x-canary: sample-v2/);
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));
    expect(report.routing).toEqual({ kind: 'HTTPRoute', name: ROUTE });
    expect(report.steps.map((s: any) => `${s.weight}:${s.verdict}`)).toEqual([
      '0:passed',
      '10:passed',
      '50:passed',
      '100:passed',
    ]);
    expect(r.summary).toContain('HTTPRoute');
  });

  it('a canary answering 500 is rolled back; the HTTPRoute is exactly the original again', async () => {
    const r = await w.runAction({
      ...base(),
      'values-files': v2({}, ['-status-code=500']),
      steps: '10@30s,100@5s',
      'canary-match': 'header:x-version=v2',
      precheck: '0s', // the step's rollback is tested (the pre-traffic check would catch it first)
    });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.log).toMatch(/::error::helm-canary rolled back: .*last weight 10%.*canary success rate/);
    expect(weights()).toBe(STABLE_ONLY);
    expect(route().spec).toEqual(original.spec);
    expect(pinned()).toBeUndefined();
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(ann()['helm-canary.io/status']).toBe('rolled-back');
  });

  it('a canary slower than max-latency is rolled back by the pre-traffic check, no user weight', async () => {
    const r = await w.runAction({
      ...base(),
      'values-files': v2({ 'standin.helm-canary/latency-ms': '300' }),
      steps: '50@30s,100@5s',
      'max-latency': '200',
      'canary-match': 'header:x-version=v2',
      precheck: '2s',
    });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.log).toMatch(/::error::helm-canary rolled back: .*(p95|latency|slower)/i);
    expect(r.outputs.weight).toBe('0');
    expect(w.gateway.stats.byRoute['app default/sample-v2']).toBeUndefined(); // users never reached it
    expect(route().spec).toEqual(original.spec);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });

  it("someone else's change to the route mid-bake stops the run; nothing is written over it", async () => {
    const run = w.runAction({ ...base(), 'values-files': v2(), steps: '20@60s,100@60s' });
    await until(
      () => /sample-v2=20/.test(weights()) && ann()['helm-canary.io/canary-weight'] === '20',
      60000,
    );
    const index = rules().findIndex((x) => x.name === 'app');
    const theirs = [{ name: 'foolish-penguin-sample', port: 80, weight: 7 }];
    await w.must(
      w.kubectl(
        'patch',
        'httproutes.gateway.networking.k8s.io',
        ROUTE,
        '--type=json',
        '-p',
        JSON.stringify([{ op: 'replace', path: `/spec/rules/${index}/backendRefs`, value: theirs }]),
      ),
    );
    const r = await run;
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toMatch(
      /changed during the step.*field manager "kubectl-patch".*did not write the weights again/,
    );
    // exactly as they left it (with the schema's defaults the API server fills in)
    expect(managed().backendRefs).toEqual(theirs.map((b) => ({ group: '', kind: 'Service', ...b })));
    expect(pinned()).toBeUndefined();
    expect(withoutBackends(route().spec)).toEqual(withoutBackends(original.spec));
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });

  it('manual promotion: status and rollback find the state on the HTTPRoute; then promote', async () => {
    const r = await w.runAction({
      ...base(),
      'values-files': v2(),
      steps: '25@1s,100@1s',
      promotion: 'manual',
    });
    expect(r.code).toBe(0);
    expect(r.outputs).toMatchObject({ status: 'paused', weight: '25' });
    expect(weights()).toBe('foolish-penguin-sample=75,sample-v2=25');
    expect(pinned()).toBeUndefined();
    w.kube.clearRequests();
    const s = await w.runAction(op('status'));
    expect(s.code).toBe(0);
    expect(s.outputs).toMatchObject({ status: 'paused', weight: '25', 'canary-release': 'sample-v2' });
    expect(w.kube.writes()).toEqual([]);
    const back = await w.runAction(op('rollback'));
    expect(back.code).toBe(0);
    expect(back.outputs.status).toBe('rolled-back');
    expect(route().spec).toEqual(original.spec);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);

    const again = await w.runAction({
      ...base(),
      'values-files': v2(),
      steps: '25@1s,100@1s',
      promotion: 'manual',
    });
    expect(again.outputs.status).toBe('paused');
    const p = await w.runAction(op('promote', { steps: '25@1s,100@1s' }));
    expect(p.code).toBe(0);
    expect(p.outputs).toMatchObject({ status: 'promoted', 'stable-release': 'sample-v2' });
    expect(weights()).toBe('sample-v2=100');
    expect(pinned()).toBeUndefined();
    expect(withoutBackends(route().spec)).toEqual(withoutBackends(original.spec));
    expect((await w.helm('status', 'foolish-penguin')).code).not.toBe(0);
  });

  it('both virtual-service and http-route: an input error naming both, nothing written', async () => {
    w.kube.clearRequests();
    const r = await w.runAction({ ...base(), 'virtual-service': 'exciting-lemur-vs' });
    expect(r.code).toBe(1);
    expect(r.log).toMatch(
      /Input 'http-route': .*cannot be combined with 'virtual-service'.*exactly one of 'virtual-service'/,
    );
    expect(w.kube.writes()).toEqual([]);
  });
});
