// A REAL Prometheus (Debian's package) scraping the gateway stand-in's Istio metrics; the action's
// Prometheus helper and built-in queries against it, directly and through the kube API stand-in's
// services/proxy with the REAL kubectl. Without the binary this suite fails with one line.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { World } from '../../standins/world.js';
import { createKubectl, type IKubectl } from '../../src/kube/kubectl-helper.js';
import { collectMetrics, validateMetrics } from '../../src/metrics/metrics-helper.js';
import { judgeMetrics } from '../../src/metrics/metrics-analysis.js';
import { createPrometheus, type IPrometheus } from '../../src/metrics/prometheus-helper.js';
import type { MetricsSettings } from '../../src/lib/types.js';
import { toolsDir } from './tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
function get(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { host } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function app(
  name: string,
  namespace: string,
  podLabels: Record<string, string>,
  annotations: Record<string, string>,
) {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { selector: { app: name }, ports: [{ port: 80 }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name, ...podLabels }, annotations },
          spec: { containers: [{ name: 'echo', image: 'hashicorp/http-echo', args: [`-text=${name}`] }] },
        },
      },
    },
  ];
}

const SETTINGS: MetricsSettings = {
  url: 'unused',
  intervalMs: 60_000,
  metrics: [
    { kind: 'builtin', name: 'request-success-rate' },
    { kind: 'builtin', name: 'request-duration' },
    {
      kind: 'custom',
      name: 'canary-requests',
      query:
        'sum(istio_requests_total{reporter="source",destination_workload="{{ canary }}",destination_workload_namespace="{{ namespace }}"}) - (sum(istio_requests_total{reporter="source",destination_workload="{{ canary }}",destination_workload_namespace="{{ namespace }}"} offset {{ interval }}) or on() vector(0))',
      min: 1,
    },
  ],
};

describe(`Prometheus ${'(real)'} with the gateway's metrics`, () => {
  let world: World;
  let kubectl: IKubectl;
  const served = { stable: 0, canary: 0, canaryErrors: 0 };

  beforeAll(async () => {
    world = await World.start({ prometheus: true });
    const k = world.kube;
    k.putObject({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } },
    });
    // The stable has a sidecar; the canary opts out: its figures come from the gateway's series.
    for (const o of app('shop-v1', 'shop', {}, {})) k.putObject(o);
    for (const o of app(
      'shop-v2',
      'shop',
      { 'sidecar.istio.io/inject': 'false' },
      { 'standin.helm-canary/error-rate': '0.3' },
    ))
      k.putObject(o);
    k.putObject({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'shop', namespace: 'shop' },
      spec: {
        hosts: ['shop.example.com'],
        http: [
          {
            match: [{ headers: { 'x-canary': { exact: 'yes' } } }],
            route: [{ destination: { host: 'shop-v2' } }],
          },
          { route: [{ destination: { host: 'shop-v1' } }] },
        ],
      },
    });
    process.env.PATH = `${toolsDir()}:${process.env.PATH}`; // createKubectl uses io.which
    kubectl = await createKubectl({ kubeconfigPath: world.kube.kubeconfigPath, namespace: 'default' });
    for (let i = 0; i < 100; i++) {
      await world.gateway.refresh();
      if (world.gateway.cluster.deployments.filter((d: any) => d.status?.availableReplicas >= 1).length >= 2)
        break;
      await sleep(50);
    }
    for (let i = 0; i < 60; i++) {
      if ((await get(world.gateway.url, 'shop.example.com')) === 200) served.stable++;
      const code = await new Promise<number>((resolve, reject) => {
        const req = http.get(
          world.gateway.url,
          { headers: { host: 'shop.example.com', 'x-canary': 'yes' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
      });
      served.canary++;
      if (code === 500) served.canaryErrors++;
    }
    const total = world.gateway.metrics.total({ reporter: 'source' });
    await waitFor(async () => (await promValue('sum(istio_requests_total{reporter="source"})')) === total);
    // Two more scrapes of the final values so the window's last samples are flat.
    await sleep(2500);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  async function promValue(q: string): Promise<number> {
    const r = await world.prometheus!.query(q);
    const v = (r.data?.result?.[0] as any)?.value?.[1];
    return v === undefined ? NaN : Number(v);
  }
  async function waitFor(ok: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (await ok()) return;
      await sleep(100);
    }
    throw new Error(`Prometheus did not scrape the gateway: ${world.prometheus!.output.slice(-500)}`);
  }

  const check = async (prom: IPrometheus) => {
    const f = await collectMetrics(
      prom,
      SETTINGS,
      { namespace: 'shop', canary: 'shop-v2', stable: 'shop-v1' },
      {
        windowMs: 60_000,
        maxLatencyMs: 250,
      },
    );
    const near = (got: number | undefined, want: number) => expect(got).toBe(want);
    expect(f.canary!.reporter).toBe('source');
    expect(f.stable!.reporter).toBe('destination');
    near(f.canary!.requests, served.canary);
    near(f.canary!.errors, served.canaryErrors);
    near(f.stable!.requests, served.stable);
    expect(f.stable!.errors).toBe(0);
    expect(f.canary!.slow).toBe(0);
    expect(f.canary!.p95Ms).toBeGreaterThan(0);
    expect(f.canary!.p95Ms).toBeLessThanOrEqual(250);
    expect(f.custom[0].value).toBe(served.canary);
    // 30% errors: conclusively below 99%, already while running.
    const v = judgeMetrics(f, { successRate: 0.99, maxLatencyMs: 250 }, 'running');
    expect(v.verdict).toBe('failed');
    expect(v.reason).toMatch(/canary's success rate/);
    return f;
  };

  it('the served counts are in Prometheus, the canary (no sidecar) only in the gateway series', async () => {
    expect(served.canaryErrors).toBeGreaterThan(5);
    expect(
      await promValue('sum(istio_requests_total{reporter="source",destination_workload="shop-v2"})'),
    ).toBe(served.canary);
    expect(
      await promValue('sum(istio_requests_total{reporter="destination",destination_workload="shop-v2"})'),
    ).toBeNaN();
    expect(
      await promValue('sum(istio_requests_total{reporter="destination",destination_workload="shop-v1"})'),
    ).toBe(served.stable);
  });

  it('direct http://: the built-in queries give exactly the counts the gateway served, first requests of new series included', async () => {
    await check(createPrometheus({ url: world.prometheus!.url }));
  });

  it('k8s://monitoring/prometheus:9090 through the API service proxy with real kubectl: the same figures', async () => {
    const prom = createPrometheus({ url: 'k8s://monitoring/prometheus:9090', kubectl });
    expect(prom.where).toBe('k8s://monitoring/prometheus:9090');
    await check(prom);
    // the named port and the scheme:name:port form work too
    for (const url of ['k8s://monitoring/prometheus:http-web'])
      expect((await createPrometheus({ url, kubectl }).query('vector(1)')).samples[0].value).toBe(1);
    const raw = await kubectl.getRaw(
      '/api/v1/namespaces/monitoring/services/http:prometheus:9090/proxy/api/v1/query?query=vector(2)',
    );
    expect(JSON.parse(raw.body).data.result[0].value[1]).toBe('2');
  });

  it('a bad query is rejected with Prometheus reason and the query, directly and through the proxy, without retries', async () => {
    const bad: MetricsSettings = {
      ...SETTINGS,
      metrics: [{ kind: 'custom', name: 'x', query: 'sum(rate(foo[5m]) by', max: 1 }],
    };
    for (const prom of [
      createPrometheus({
        url: world.prometheus!.url,
        sleep: async () => {
          throw new Error('retried');
        },
      }),
      createPrometheus({
        url: 'k8s://monitoring/prometheus:9090',
        kubectl,
        sleep: async () => {
          throw new Error('retried');
        },
      }),
    ]) {
      const err = await validateMetrics(prom, bad, { namespace: 'shop', canary: 'shop-v2' }).catch(
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/sum\(rate\(foo\[5m\]\) by/);
      expect((err as Error).message).toMatch(/parse error|bad_data/);
    }
  });

  it('a Service without endpoints is the apiserver 503; retried, then an error naming the query', async () => {
    world.kube.putObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'empty', namespace: 'monitoring' },
      spec: { ports: [{ port: 9090 }] },
    });
    world.kube.putObject({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'empty', namespace: 'monitoring' },
      subsets: [],
    });
    let sleeps = 0;
    const prom = createPrometheus({
      url: 'k8s://monitoring/empty:9090',
      kubectl,
      sleep: async () => void sleeps++,
    });
    const err = (await prom.query('vector(1)').catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/no endpoints available for service "empty"/);
    expect(err.message).toMatch(/vector\(1\)/);
    expect(sleeps).toBe(2);
    const missing = (await createPrometheus({
      url: 'k8s://monitoring/nothere:9090',
      kubectl,
      sleep: async () => undefined,
    })
      .query('vector(1)')
      .catch((e: Error) => e)) as Error;
    expect(missing.message).toMatch(/services "nothere" not found/);
  });

  it('an endpoint nobody listens on: 503 "error trying to reach service"', async () => {
    world.kube.putObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dead', namespace: 'monitoring' },
      spec: { ports: [{ port: 9090 }] },
    });
    world.kube.putObject({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'dead', namespace: 'monitoring' },
      subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 1 }] }],
    });
    const r = await kubectl.getRaw(
      '/api/v1/namespaces/monitoring/services/dead:9090/proxy/api/v1/query?query=vector(1)',
    );
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/ServiceUnavailable|error trying to reach service/);
  });
});
