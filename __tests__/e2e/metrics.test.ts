// E2E, issue 11 "metrics analysis": the bundled action with a REAL Prometheus scraping the gateway
// stand-in's Istio metrics, users' traffic from a load generator through the gateway, real helm +
// kubectl. The tutorial's namespace has no sidecar injection: the gateway's series are read.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { World, CHARTS, TOOLS } from '../../standins/world.js';

let w: World;
beforeEach(async () => {
  w = await World.start({ prometheus: true });
});
afterEach(async () => {
  await w.stop();
});

const STABLE_ONLY = 'foolish-penguin-sample=100';
const base = () => ({
  chart: path.join(CHARTS, 'sample'),
  release: 'sample',
  version: 'v2',
  'virtual-service': 'exciting-lemur-vs',
  'prometheus-url': w.prometheus!.url,
  metrics: '- request-success-rate',
  'metrics-interval': '2s',
  drain: '1s',
});
const report = (r: { outputs: Record<string, string> }) =>
  JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));

/** Users: `rps` requests per second through the gateway; stop() returns what they got. */
function users(rps: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const got = { total: 0, byStatus: {} as Record<string, number> };
  const t = setInterval(() => {
    const req = http.get(w.gateway.url, { agent, headers: { host: '127.0.0.1.xip.io' } }, (res) => {
      res.resume();
      got.total++;
      got.byStatus[res.statusCode ?? 0] = (got.byStatus[res.statusCode ?? 0] ?? 0) + 1;
    });
    req.on('error', () => undefined);
  }, 1000 / rps);
  return {
    got,
    stop: () => {
      clearInterval(t);
      agent.destroy();
      return got;
    },
  };
}

describe(`issue 11: metrics analysis (${TOOLS})`, () => {
  it('a bad query is rejected in preflight, with the query and the reason, and nothing is written', async () => {
    await w.tutorial();
    w.kube.clearRequests();
    const r = await w.runAction({
      ...base(),
      metrics:
        '- request-success-rate\n- name: broken\n  query: sum(rate(istio_requests_total[1m]) by\n  max: 1',
    });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toMatch(
      /The metrics cannot be queried, so nothing was installed: .*query sum\(rate\(istio_requests_total\[1m\]\) by failed: bad_data: .*parse error/,
    );
    expect(w.kube.writes()).toEqual([]);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(w.weights()).toBe(STABLE_ONLY);
  });

  it('[measure] a canary failing 30% of requests is rolled back on metrics alone (no verify-url) at 10% weight, 20 rps of users', async () => {
    await w.tutorial();
    const values = w.sampleValues('v2', 'hello world v2', { 'standin.helm-canary/error-rate': '0.3' });
    const load = users(20);
    let firstWeightAt: number | undefined;
    let backAt: number | undefined;
    const poll = setInterval(() => {
      const weights = w.weights();
      if (firstWeightAt === undefined && /sample-v2=10\b/.test(weights)) firstWeightAt = Date.now();
      if (firstWeightAt !== undefined && backAt === undefined && weights === STABLE_ONLY) backAt = Date.now();
    }, 50);
    const r = await w.runAction({ ...base(), 'values-files': values, steps: '10@60s,100@5s' });
    clearInterval(poll);
    const got = load.stop();
    expect(r.code).toBe(1);
    expect(r.outputs).toMatchObject({ status: 'rolled-back', weight: '0' });
    expect(r.log).toMatch(
      /metrics: the canary's success rate is \d+(\.\d+)?% \(\d+ errors of \d+ requests\), below 99/,
    );
    expect(w.weights()).toBe(STABLE_ONLY);
    expect(report(r).unverified).toBeUndefined();
    const step = report(r).steps.find((x: { index: number }) => x.index === 0);
    expect(step.metrics.verdict).toBe('failed');
    expect(step.metrics.canary).toMatchObject({
      reporter: 'source',
      query: expect.stringContaining('destination_workload="sample-v2"'),
    });
    expect(step.metrics.canary.errors).toBeGreaterThan(0);
    expect(r.summary).toMatch(/Metrics per version \(Prometheus\)/);
    expect(r.summary).toMatch(/\| 1 \| canary \| \d+ \| \d+ \| \d+ ms \| gateway \(no sidecar\) \|/);
    expect(got.byStatus['500']).toBeGreaterThan(0);
    expect(firstWeightAt).toBeDefined();
    // Stopped well before the 60 s bake: the metrics decided early.
    expect(backAt).toBeDefined();
    const detectS = (backAt! - firstWeightAt!) / 1000;
    expect(detectS).toBeLessThan(60);
    console.log(
      `[measure] 30%-failing canary at 10% weight, 20 rps: users back on the stable ${detectS.toFixed(1)} s after the 10% weight was set (metrics-interval 2s, scrape 1s)`,
    );
  });

  it('a healthy canary is promoted on metrics (k8s:// through the API service proxy)', async () => {
    await w.tutorial();
    const values = w.sampleValues('v2', 'hello world v2');
    const load = users(20);
    const r = await w.runAction({
      ...base(),
      'values-files': values,
      'prometheus-url': 'k8s://monitoring/prometheus:9090',
      steps: '50@8s,100@3s',
    });
    load.stop();
    expect(r.log).toMatch(
      /Metrics: 3 queries validated against Prometheus \(k8s:\/\/monitoring\/prometheus:9090\); canary workload sample-v2, stable workload foolish-penguin-sample/,
    );
    expect(r.outputs.status).toBe('promoted');
    expect(r.code).toBe(0);
    expect(r.log).toMatch(/metrics passed: canary \d+ requests, 0 errors/);
    expect(w.weights()).toBe('sample-v2=100');
  });

  it('a custom query with max fails the step; a query without data is inconclusive, then fails at max-bake', async () => {
    await w.tutorial();
    const values = w.sampleValues('v2', 'hello world v2');
    const load = users(20);
    const over = await w.runAction({
      ...base(),
      'values-files': values,
      metrics:
        '- name: canary-requests\n  query: sum(istio_requests_total{destination_workload="{{ canary }}",destination_workload_namespace="{{ namespace }}"})\n  max: 3',
      steps: '10@30s,100@3s',
    });
    expect(over.outputs.status).toBe('rolled-back');
    expect(over.log).toMatch(
      /metrics: "canary-requests" is \d+, above its max 3 \(query sum\(istio_requests_total\{destination_workload="sample-v2",destination_workload_namespace="default"\}\)\)/,
    );

    const none = await w.runAction({
      ...base(),
      'values-files': values,
      metrics: '- name: nothing\n  query: sum(no_such_metric{w="{{ canary }}"})\n  min: 1',
      steps: '10@2s,100@2s',
      'max-bake': '4s',
    });
    load.stop();
    expect(none.outputs.status).toBe('rolled-back');
    expect(none.log).toMatch(/metrics \(bake-end\): nothing no data — metrics: no data for metric "nothing"/);
    expect(none.log).toMatch(/metrics: not enough evidence at max-bake: no data for metric "nothing"/);
    expect(w.weights()).toBe(STABLE_ONLY);
  });
});
