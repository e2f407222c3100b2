// E2E: dist/index.js against the stand-ins with the real helm + kubectl (HELM_CANARY_TOOLS pair).
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

const sample = path.join(CHARTS, 'sample');
const base = () => ({
  chart: sample,
  release: 'sample',
  'virtual-service': 'exciting-lemur-vs',
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  // The canary's evidence (81 failure-free responses at 99%) must arrive within short bakes.
  'verify-rps': '100',
  // Short waits (defaults 30s / 2s / 10s: the pre-traffic check test below runs with them).
  precheck: '1s',
  settle: '500ms',
  drain: '1s',
});

describe(`rollout that promotes (${TOOLS})`, () => {
  it('tutorial setup: 10→50→100 with verification, promoted, old stable uninstalled, ownership warned', async () => {
    await w.tutorial();
    const values = w.sampleValues('v2', 'hello world v2', {
      'standin.helm-canary/response-headers': 'x-version=v2',
    });
    const r = await w.runAction({
      ...base(),
      version: 'v2',
      'values-files': values,
      steps: '10@4s,50@3s,100@3s',
      'verify-url': `${w.gateway.url}/`,
      'canary-match': 'header:x-version=v2',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    expect(r.outputs['stable-release']).toBe('sample-v2');
    expect(r.outputs['canary-release']).toBe('sample-v2');
    expect(r.outputs.weight).toBe('100');
    expect(w.weights()).toBe('sample-v2=100');
    // The hand-installed stable is found through its Service's Helm annotation and uninstalled.
    expect((await w.helm('status', 'foolish-penguin')).code).not.toBe(0);
    expect(w.kube.getObject('apps/v1', 'Deployment', 'default', 'foolish-penguin-sample')).toBeUndefined();
    // The gateway chart owns the VirtualService: the user is told what that means for its next upgrade.
    expect(r.log).toMatch(
      /::warning::VirtualService "exciting-lemur-vs" belongs to Helm release "exciting-lemur"/,
    );
    expect(r.log).toMatch(TOOLS === 'helm4' ? /will fail with a field conflict/ : /written client-side/);
    expect(r.summary).toContain('exciting-lemur');
    // State for later runs.
    const ann = w.vs().metadata.annotations;
    expect(ann['helm-canary.io/stable-release']).toBe('sample-v2');
    expect(ann['helm-canary.io/status']).toBe('promoted');
    // The report has every step with per-version figures and the observed split.
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));
    expect(report.steps.map((s: { weight: number }) => s.weight)).toEqual([0, 10, 50, 100]);
    expect(report.steps[0]).toMatchObject({ kind: 'precheck', verdict: 'passed' });
    expect(report.steps[0].canary.requests).toBe(report.steps[0].total.requests);
    report.steps.shift();
    for (const s of report.steps) {
      expect(s.verdict).toBe('passed');
      expect(s.canary.requests).toBeGreaterThan(0);
      expect(s.observedCanaryShare).toBeGreaterThanOrEqual(s.expectedShareRange[0]);
      expect(s.observedCanaryShare).toBeLessThanOrEqual(s.expectedShareRange[1]);
    }
    // At 10% users mostly reach the stable (the canary's figures also hold the pinned probes, so
    // the users' split tells it).
    expect(report.steps[0].stable.requests).toBeGreaterThan(0);
    expect(report.steps[0].observedCanaryShare).toBeLessThan(0.5);
    expect(report.steps[0].canary.requests).toBeGreaterThan(report.steps[0].total.requests / 2 - 2);
    // Users now get v2 only.
    expect((await w.request('127.0.0.1.xip.io')).body).toBe('hello world v2\n');
    // Issue 9: the stable was probed before the install, the canary through the pinned route before
    // any user weight (step 0), and the pinned route is gone after the promotion.
    expect(report.baseline.verdict).toBe('passed');
    expect(w.pinnedRoute()).toBeUndefined();

    // The next rollout treats the promoted release as stable (found from the recorded state).
    const v3 = w.sampleValues('v3', 'hello world v3');
    const r3 = await w.runAction({ ...base(), version: 'v3', 'values-files': v3, steps: '50@1s,100@1s' });
    expect(r3.code).toBe(0);
    expect(r3.outputs.status).toBe('promoted');
    expect(r3.log).toContain('Plan: stable sample-v2');
    expect(w.weights()).toBe('sample-v3=100');
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);

    // Rolling out the version that is already stable changes nothing.
    w.kube.clearRequests();
    const again = await w.runAction({ ...base(), version: 'v3', 'values-files': v3, steps: '50@1s,100@1s' });
    expect(again.code).toBe(0);
    expect(again.outputs.status).toBe('unchanged');
    expect(w.kube.writes()).toEqual([]);
  });

  it('kubeconfig and context as inputs (base64): used by helm and kubectl, never shown, file removed', async () => {
    await w.tutorial();
    const TOKEN = 'kube-token-5ecret-e2e-0000';
    const kc = fs
      .readFileSync(w.kube.kubeconfigPath, 'utf8')
      .replace(/token: .*/, `token: ${TOKEN}`)
      .replace(/current-context: .*/, 'current-context: elsewhere');
    const r = await w.runAction(
      {
        ...base(),
        version: 'v2',
        steps: '100@1s',
        kubeconfig: Buffer.from(kc).toString('base64'),
        context: 'standin',
      },
      { env: { KUBECONFIG: path.join(w.dir, 'does-not-exist') } },
    );
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    const shown = r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::'));
    expect(shown.join('\n') + r.summary).not.toContain(TOKEN);
    expect(r.log).toMatch(/--kube-context standin/);
    const used = /--kubeconfig (\S+)/.exec(r.log)?.[1];
    expect(used).toBeDefined();
    expect(fs.existsSync(used!)).toBe(false);
  });

  it('first deployment: nothing live behind the route → install, pre-traffic check, 100% verified', async () => {
    await w.tutorial('unused', [{ service: 'nothing-here', weight: 100 }]);
    await w.must(w.helm('uninstall', 'foolish-penguin', '--wait'));
    const r = await w.runAction({ ...base(), version: '1.0.0', steps: '10@1s,100@2s' });
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    expect(r.log).toContain('treating this as a first deployment');
    expect(w.weights()).toBe('sample-1-0-0=100');
    expect(w.vs().metadata.annotations['helm-canary.io/stable-release']).toBe('sample-1-0-0');
    // Issue 9: verified before and at 100% (the plan's 100% step), not just routed.
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));
    expect(report.baseline.reason).toMatch(
      /verify-url answers \(HTTP 503\); nothing is live behind the route yet/,
    );
    expect(report.steps.map((s: { weight: number; verdict: string }) => `${s.weight}:${s.verdict}`)).toEqual([
      '0:passed',
      '100:passed',
    ]);
    expect(report.steps[1].total.requests).toBeGreaterThan(5);
    expect(w.pinnedRoute()).toBeUndefined();
  });

  it('leaves the other routes and every other field of the managed route exactly as they were', async () => {
    await w.tutorial();
    const beta = {
      name: 'beta-users',
      match: [{ headers: { 'x-beta': { exact: '1' } } }],
      route: [{ destination: { host: 'foolish-penguin-sample', port: { number: 80 } } }],
      retries: { attempts: 3, perTryTimeout: '2s' },
    };
    const main = {
      name: 'main',
      route: [
        {
          destination: { host: 'foolish-penguin-sample', port: { number: 80 } },
          weight: 100,
          headers: { response: { set: { 'x-served-by': 'mesh' } } },
        },
      ],
      retries: { attempts: 2, perTryTimeout: '1s', retryOn: '5xx' },
      timeout: '10s',
      fault: { delay: { percentage: { value: 0 }, fixedDelay: '1s' } },
    };
    const vs = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'shop', namespace: 'default' },
      spec: { hosts: ['shop.example.com'], gateways: ['exciting-lemur-gateway'], http: [beta, main] },
    };
    const file = path.join(w.dir, 'vs.json');
    fs.writeFileSync(file, JSON.stringify(vs));
    await w.must(w.kubectl('apply', '-f', file));
    const r = await w.runAction({
      ...base(),
      'virtual-service': 'shop',
      version: 'v2',
      steps: '25@1s,100@1s',
      'verify-url': `${w.gateway.url}/`,
      'verify-host': 'shop.example.com',
    });
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    const after = w.vs('shop');
    expect(after.spec.http[0]).toEqual(beta);
    const { route, ...rest } = after.spec.http[1];
    const { route: _old, ...restBefore } = main;
    expect(rest).toEqual(restBefore);
    expect(route).toEqual([{ destination: { host: 'sample-v2', port: { number: 80 } }, weight: 100 }]);
    expect(after.spec.hosts).toEqual(vs.spec.hosts);
    expect(after.spec.http).toHaveLength(2); // the pinned route is gone
    // The beta route still sends users to the old stable, so it must not be uninstalled.
    expect(r.log).toMatch(/The old release foolish-penguin was kept: route\(s\) "beta-users"/);
    expect((await w.helm('status', 'foolish-penguin')).code).toBe(0);
  });

  it('a concurrent writer changes the VirtualService mid-rollout: no lost update', async () => {
    await w.tutorial();
    const run = w.runAction({ ...base(), version: 'v2', steps: '10@3s,50@3s,100@1s' });
    await until(
      () =>
        w.weights() === 'foolish-penguin-sample=90,sample-v2=10' &&
        w.vs()?.metadata?.annotations?.['helm-canary.io/canary-weight'] === '10',
      60000,
    );
    // Another writer (a person, a controller) changes the route and labels the object...
    // (the managed route: helm-canary's pinned route sits in front of it while the run probes)
    await w.must(
      w.kubectl(
        'patch',
        'virtualservice',
        'exciting-lemur-vs',
        '--type=json',
        '-p',
        `[{"op":"add","path":"/spec/http/${w.routeIndex()}/timeout","value":"7s"}]`,
      ),
    );
    await w.must(w.kubectl('label', 'virtualservice', 'exciting-lemur-vs', 'team=payments'));
    // ...and the next weight write of the action loses a race once.
    w.kube.injectFault({
      method: 'PATCH',
      path: /virtualservices\/exciting-lemur-vs$/,
      status: 409,
      count: 1,
    });
    const r = await run;
    if (r.code !== 0) console.log(r.stdout);
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    const vs = w.vs();
    expect(vs.spec.http[0].timeout).toBe('7s');
    expect(vs.metadata.labels.team).toBe('payments');
    expect(w.weights()).toBe('sample-v2=100');
    // The lost race was the guarded weight patch of step 2, which was re-derived and retried.
    const conflicts = w.kube.requests.filter(
      (q) => q.method === 'PATCH' && q.status === 409 && /json-patch/.test(q.contentType ?? ''),
    );
    expect(conflicts).toHaveLength(1);
    expect(r.log).toMatch(/changed while setting weights \(attempt 1\/5\); re-reading and retrying/);
  });
});

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
