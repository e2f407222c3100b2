// The gateway stand-in's Istio metrics: the label sets, the sidecar rule, the histogram and the
// exposition format, through the gateway's real HTTP path against the kube API stand-in.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { KubeApiServer } from '../../standins/kube-api/index.js';
import { GatewayServer } from '../../standins/gateway/index.js';
import {
  escapeLabel,
  hasSidecar,
  ISTIO_DURATION_BUCKETS_MS,
  IstioMetrics,
  requestLabels,
} from '../../standins/gateway/metrics.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
function get(url: string, host?: string): Promise<{ status: number; body: string; type?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
    });
    req.on('error', reject);
  });
}

/** Parses exposition text into samples: name, labels, value. */
function parseExposition(
  text: string,
): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function app(
  name: string,
  namespace: string,
  extra: { templateLabels?: Record<string, string>; annotations?: Record<string, string> } = {},
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
          metadata: {
            labels: { app: name, version: 'v7', ...extra.templateLabels },
            annotations: extra.annotations,
          },
          spec: { containers: [{ name: 'echo', image: 'hashicorp/http-echo', args: [`-text=${name}`] }] },
        },
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name, namespace },
      spec: { hosts: [`${name}.example.com`], http: [{ route: [{ destination: { host: name } }] }] },
    },
  ];
}

describe('gateway stand-in /metrics (Istio standard metrics)', () => {
  let kube: KubeApiServer;
  let gw: GatewayServer;
  let rolls = 0;

  beforeAll(async () => {
    kube = await KubeApiServer.start({ deploymentReadyDelayMs: 10 });
    kube.putObject({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'mesh', labels: { 'istio-injection': 'enabled' } },
    });
    kube.putObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } });
    for (const o of app('shop', 'mesh', { annotations: { 'standin.helm-canary/error-rate': '0.5' } }))
      kube.putObject(o);
    for (const o of app('legacy', 'plain')) kube.putObject(o);
    for (const o of app('optout', 'mesh', { templateLabels: { 'sidecar.istio.io/inject': 'false' } }))
      kube.putObject(o);
    // Deterministic: every second draw is below 0.5, so exactly half the shop's answers are 500s.
    gw = await GatewayServer.start({ kubeApiUrl: kube.url, random: () => (rolls++ % 2 === 0 ? 0.1 : 0.9) });
    for (let i = 0; i < 100; i++) {
      await gw.refresh();
      if (gw.cluster.deployments.every((d: any) => (d.status?.availableReplicas ?? 0) >= 1)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  afterAll(async () => {
    await gw.stop();
    await kube.stop();
  });

  it('counts every routed request per reporter, workload and response code; a workload without a sidecar has only the gateway series', async () => {
    for (let i = 0; i < 10; i++) await get(gw.url, 'shop.example.com');
    for (let i = 0; i < 4; i++) await get(gw.url, 'legacy.example.com');
    for (let i = 0; i < 3; i++) await get(gw.url, 'optout.example.com');
    await get(gw.url, 'nobody.example.com'); // no route: 404 NR

    const res = await get(gw.metricsUrl);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(res.body);
    const total = (f: Record<string, string>) =>
      samples
        .filter((s) => s.name === 'istio_requests_total')
        .filter((s) => Object.entries(f).every(([k, v]) => s.labels[k] === v))
        .reduce((n, s) => n + s.value, 0);

    const shop = { destination_workload: 'shop', destination_workload_namespace: 'mesh' };
    for (const reporter of ['source', 'destination']) {
      expect(total({ ...shop, reporter })).toBe(10);
      expect(total({ ...shop, reporter, response_code: '500' })).toBe(5);
      expect(total({ ...shop, reporter, response_code: '200' })).toBe(5);
    }
    expect(total({ destination_workload: 'legacy', reporter: 'source' })).toBe(4);
    expect(total({ destination_workload: 'legacy', reporter: 'destination' })).toBe(0);
    expect(total({ destination_workload: 'optout', reporter: 'source' })).toBe(3);
    expect(total({ destination_workload: 'optout', reporter: 'destination' })).toBe(0);
    expect(total({ response_code: '404', response_flags: 'NR', destination_service: 'unknown' })).toBe(1);

    const one = samples.find(
      (s) =>
        s.name === 'istio_requests_total' &&
        s.labels.reporter === 'destination' &&
        s.labels.destination_workload === 'shop',
    )!;
    expect(one.labels).toMatchObject({
      source_workload: 'istio-ingressgateway',
      destination_service: 'shop.mesh.svc.cluster.local',
      destination_service_name: 'shop',
      destination_app: 'shop',
      destination_version: 'v7',
      request_protocol: 'http',
      response_flags: '-',
      connection_security_policy: 'mutual_tls',
    });
  });

  it('has a histogram with Istio default bucket bounds, cumulative, +Inf = count', async () => {
    const samples = parseExposition((await get(gw.metricsUrl)).body);
    const series = (name: string) =>
      samples.filter(
        (s) =>
          s.name === name && s.labels.reporter === 'source' && s.labels.destination_workload === 'legacy',
      );
    const buckets = series('istio_request_duration_milliseconds_bucket');
    expect(buckets.map((b) => b.labels.le)).toEqual([...ISTIO_DURATION_BUCKETS_MS.map(String), '+Inf']);
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(buckets.at(-1)!.value).toBe(4);
    expect(series('istio_request_duration_milliseconds_count')[0].value).toBe(4);
    expect(series('istio_request_duration_milliseconds_sum')[0].value).toBeGreaterThan(0);
  });

  it('a later request is added to the same series', async () => {
    const before = gw.metrics.total({ destination_workload: 'legacy', reporter: 'source' });
    await get(gw.url, 'legacy.example.com');
    expect(gw.metrics.total({ destination_workload: 'legacy', reporter: 'source' })).toBe(before + 1);
    expect((await get(gw.metricsUrl.replace('/metrics', '/nothing'))).status).toBe(404);
  });
});

describe('metrics (pure)', () => {
  const dep = (labels: Record<string, string> = {}, annotations?: Record<string, string>) => ({
    metadata: { name: 'w', namespace: 'n' },
    spec: { template: { metadata: { labels: { app: 'w', ...labels }, annotations } } },
  });

  it('decides the sidecar like the injector: pod label/annotation first, then the namespace label', () => {
    expect(hasSidecar(dep(), { 'istio-injection': 'enabled' })).toBe(true);
    expect(hasSidecar(dep(), { 'istio-injection': 'disabled' })).toBe(false);
    expect(hasSidecar(dep(), { 'istio.io/rev': 'canary' })).toBe(true);
    expect(hasSidecar(dep(), {})).toBe(false);
    expect(hasSidecar(dep({ 'sidecar.istio.io/inject': 'false' }), { 'istio-injection': 'enabled' })).toBe(
      false,
    );
    expect(hasSidecar(dep({ 'sidecar.istio.io/inject': 'true' }), {})).toBe(true);
    expect(hasSidecar(dep({}, { 'sidecar.istio.io/inject': 'true' }), {})).toBe(true);
  });

  it('a request to a Service without a ready pod is UH with workload "unknown", gateway series only', () => {
    const m = new IstioMetrics();
    m.record({
      namespace: 'n',
      service: 's',
      code: 503,
      durationMs: 1,
      flags: 'UH',
      namespaceLabels: { 'istio-injection': 'enabled' },
    });
    expect(m.total({ reporter: 'source', destination_workload: 'unknown', response_flags: 'UH' })).toBe(1);
    expect(m.total({ reporter: 'destination' })).toBe(0);
    expect(
      requestLabels({ namespace: 'n', service: 's', code: 503, durationMs: 1 }, 'source').destination_service,
    ).toBe('s.n.svc.cluster.local');
  });

  it('buckets a duration into the first bound at or above it', () => {
    const m = new IstioMetrics();
    m.record({ namespace: 'n', service: 's', deployment: dep(), code: 200, durationMs: 250 });
    m.record({ namespace: 'n', service: 's', deployment: dep(), code: 200, durationMs: 251 });
    const lines = m.render().split('\n');
    const at = (le: string) =>
      Number(
        lines
          .find((l) => l.includes(`le="${le}"`))!
          .split(' ')
          .at(-1),
      );
    expect([at('100'), at('250'), at('500'), at('+Inf')]).toEqual([0, 1, 2, 2]);
  });

  it('escapes label values', () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });
});
