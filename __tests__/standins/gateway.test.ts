import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayServer } from '../../standins/gateway/index.js';

// ---------------------------------------------------------------------------------------------
// A tiny fake Kubernetes API: serves the list endpoints from mutable in-memory JSON.

/* eslint-disable @typescript-eslint/no-explicit-any */
interface FakeState {
  virtualservices: any[];
  httproutes: any[] | null; // null = the API group is not installed (404)
  services: any[];
  deployments: any[];
}

class FakeKube {
  state: FakeState = { virtualservices: [], httproutes: [], services: [], deployments: [] };
  hits = 0;
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeKube> {
    const ref: { self?: FakeKube } = {};
    const server = http.createServer((req, res) => {
      const self = ref.self!;
      self.hits++;
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const lists: Record<string, [string, any[] | null]> = {
        '/apis/networking.istio.io/v1/virtualservices': ['VirtualServiceList', self.state.virtualservices],
        '/apis/gateway.networking.k8s.io/v1/httproutes': ['HTTPRouteList', self.state.httproutes],
        '/api/v1/services': ['ServiceList', self.state.services],
        '/apis/apps/v1/deployments': ['DeploymentList', self.state.deployments],
      };
      const hit = lists[path];
      if (!hit || hit[1] === null) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: hit[0], apiVersion: 'v1', metadata: {}, items: hit[1] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    ref.self = new FakeKube(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return ref.self;
  }

  stop(): Promise<void> {
    const p = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    return p;
  }
}

// Object builders ------------------------------------------------------------------------------

function deployment(
  name: string,
  opts: {
    namespace?: string;
    labels?: Record<string, string>;
    args?: string[];
    ready?: number;
    annotations?: Record<string, string>;
    templateAnnotations?: Record<string, string>;
  } = {},
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: opts.namespace ?? 'default', annotations: opts.annotations },
    spec: {
      selector: { matchLabels: opts.labels ?? { app: name } },
      template: {
        metadata: { labels: opts.labels ?? { app: name }, annotations: opts.templateAnnotations },
        spec: {
          containers: [
            { name: 'echo', image: 'hashicorp/http-echo:1.0', args: opts.args ?? [`-text=${name}`] },
          ],
        },
      },
    },
    status: { replicas: 1, readyReplicas: opts.ready ?? 1, availableReplicas: opts.ready ?? 1 },
  };
}

function service(name: string, selector: Record<string, string> = { app: name }, namespace = 'default') {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector, ports: [{ port: 80, targetPort: 5678 }] },
  };
}

function virtualService(name: string, hosts: string[], http: any[], namespace = 'default', extra: any = {}) {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { hosts, gateways: ['istio-system/public'], http, ...extra },
  };
}

const route = (...dests: Array<[string, number?]>) =>
  dests.map(([host, weight]) => ({
    destination: { host, port: { number: 80 } },
    ...(weight === undefined ? {} : { weight }),
  }));

// A keep-alive HTTP client that can set the Host header --------------------------------------

interface Resp {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  reused: boolean;
}

let agent: http.Agent;

function get(
  url: string,
  host: string,
  opts: { path?: string; headers?: Record<string, string>; method?: string } = {},
) {
  return new Promise<Resp>((resolve, reject) => {
    const u = new URL(opts.path ?? '/', url);
    const req = http.request(
      u,
      { agent, method: opts.method ?? 'GET', headers: { host, ...(opts.headers ?? {}) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers, reused: req.reusedSocket }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function tally(n: number, fn: () => Promise<Resp>, key: (r: Resp) => string = (r) => r.body.trim()) {
  const out: Record<string, number> = {};
  // Batches of 20 concurrent requests: fast, and exercises concurrency.
  for (let i = 0; i < n; i += 20) {
    const rs = await Promise.all(Array.from({ length: Math.min(20, n - i) }, fn));
    for (const r of rs) out[key(r)] = (out[key(r)] ?? 0) + 1;
  }
  return out;
}

/** |observed - n p| <= 4 sigma of a binomial(n, p). */
function expectBinomial(observed: number, n: number, p: number) {
  const sigma = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(observed - n * p)).toBeLessThanOrEqual(4 * sigma + 1e-9);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------

describe('gateway stand-in', () => {
  let kube: FakeKube;
  let gw: GatewayServer;

  beforeAll(async () => {
    agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    kube = await FakeKube.start();
  });
  afterAll(async () => {
    agent.destroy();
    await kube.stop();
  });

  beforeEach(async () => {
    kube.state = {
      services: [service('stable'), service('canary'), service('other', { app: 'other' }, 'team-b')],
      deployments: [
        deployment('stable', { args: ['-listen=:5678', '-text=v1'] }),
        deployment('canary', { args: ['-text', 'v2'] }),
        deployment('other', { namespace: 'team-b', args: ['-text=other'] }),
      ],
      virtualservices: [
        virtualService('app', ['app.example.com'], [{ route: route(['stable', 100], ['canary', 0]) }]),
      ],
      httproutes: [],
    };
    gw = await GatewayServer.start({ kubeApiUrl: kube.url, pollMs: 50 });
  });
  afterEach(async () => {
    await gw.stop();
  });

  it('listens on 127.0.0.1 with a random port and routes by the Host header (port stripped)', async () => {
    expect(gw.url).toBe(`http://127.0.0.1:${gw.port}`);
    expect(gw.port).toBeGreaterThan(0);
    const r = await get(gw.url, 'app.example.com:8080');
    expect(r.status).toBe(200);
    expect(r.body).toBe('v1\n'); // http-echo adds a trailing newline
    expect(r.headers['x-standin-backend']).toBe('default/stable');
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(gw.stats.routed['default/stable']).toBe(1);
  });

  it('404 for an unknown host, and for a host with no matching http route', async () => {
    expect((await get(gw.url, 'nope.example.com')).status).toBe(404);
    kube.state.virtualservices.push(
      virtualService(
        'only-api',
        ['api.example.com'],
        [{ match: [{ uri: { prefix: '/api' } }], route: route(['stable']) }],
      ),
    );
    await gw.refresh();
    expect((await get(gw.url, 'api.example.com', { path: '/api/x' })).status).toBe(200);
    expect((await get(gw.url, 'api.example.com', { path: '/other' })).status).toBe(404);
    expect(gw.stats.notFound).toBe(2);
  });

  it('matches wildcard hosts; exact beats wildcard, longer wildcard beats "*"', async () => {
    kube.state.virtualservices.push(
      virtualService('wild', ['*.example.com'], [{ route: route(['canary']) }]),
      virtualService('catch-all', ['*'], [{ route: route(['other.team-b']) }]),
    );
    await gw.refresh();
    expect((await get(gw.url, 'app.example.com')).body).toBe('v1\n');
    expect((await get(gw.url, 'x.example.com')).body).toBe('v2\n');
    expect((await get(gw.url, 'a.b.example.com')).body).toBe('v2\n');
    expect((await get(gw.url, 'example.com')).body).toBe('other\n');
    expect((await get(gw.url, 'elsewhere.test')).headers['x-standin-backend']).toBe('team-b/other');
  });

  it('ignores a VirtualService bound only to the mesh', async () => {
    kube.state.virtualservices.push(
      virtualService('internal', ['internal.example.com'], [{ route: route(['stable']) }], 'default', {
        gateways: ['mesh'],
      }),
    );
    await gw.refresh();
    expect((await get(gw.url, 'internal.example.com')).status).toBe(404);
  });

  it('resolves destination hosts: short name, svc.ns, svc.ns.svc.cluster.local', async () => {
    kube.state.virtualservices.push(
      virtualService('short', ['short.test'], [{ route: route(['other']) }], 'team-b'),
      virtualService('two', ['two.test'], [{ route: route(['other.team-b']) }]),
      virtualService('fqdn', ['fqdn.test'], [{ route: route(['other.team-b.svc.cluster.local']) }]),
      virtualService('missing', ['missing.test'], [{ route: route(['nosuch']) }]),
    );
    await gw.refresh();
    for (const h of ['short.test', 'two.test', 'fqdn.test']) {
      const r = await get(gw.url, h);
      expect([h, r.status, r.body, r.headers['x-standin-backend']]).toEqual([
        h,
        200,
        'other\n',
        'team-b/other',
      ]);
    }
    const missing = await get(gw.url, 'missing.test');
    expect(missing.status).toBe(503);
  });

  it('routes by the first http entry whose match list matches (headers, uri, method, queryParams)', async () => {
    kube.state.virtualservices = [
      virtualService(
        'app',
        ['app.example.com'],
        [
          {
            name: 'canary-header',
            match: [
              { headers: { 'x-canary': { exact: 'always' } } },
              { queryParams: { canary: { exact: '1' } } },
            ],
            route: route(['canary']),
          },
          { match: [{ headers: { 'user-agent': { regex: '.*Firefox.*' } } }], route: route(['canary']) },
          {
            match: [{ uri: { exact: '/exact' }, method: { exact: 'POST' } }],
            route: route(['other.team-b']),
          },
          { match: [{ uri: { regex: '/v[0-9]+/items' } }], route: route(['other.team-b']) },
          { route: route(['stable']) },
        ],
      ),
    ];
    await gw.refresh();
    const body = async (opts: Parameters<typeof get>[2]) =>
      (await get(gw.url, 'app.example.com', opts)).body.trim();
    expect(await body({ headers: { 'X-Canary': 'always' } })).toBe('v2');
    expect(await body({ headers: { 'x-canary': 'never' } })).toBe('v1');
    expect(await body({ path: '/?canary=1' })).toBe('v2');
    expect(await body({ path: '/?canary=2' })).toBe('v1');
    expect(await body({ headers: { 'user-agent': 'Mozilla/5.0 Firefox/120' } })).toBe('v2');
    expect(await body({ path: '/exact', method: 'POST' })).toBe('other');
    expect(await body({ path: '/exact', method: 'GET' })).toBe('v1');
    expect(await body({ path: '/v12/items' })).toBe('other');
    expect(await body({ path: '/v12/items/extra' })).toBe('v1'); // regex is a full match
  });

  it('counts requests per matched http route and Service (a named route by name, else #index)', async () => {
    kube.state.virtualservices = [
      virtualService(
        'app',
        ['app.example.com'],
        [
          {
            name: 'helm-canary-pinned',
            match: [{ headers: { 'x-canary': { exact: 'app-v2' } } }],
            route: route(['canary']),
          },
          { route: route(['stable', 50], ['canary', 50]) },
        ],
      ),
    ];
    await gw.refresh();
    const before = { ...gw.stats.byRoute };
    const n = (k: string) => (gw.stats.byRoute[k] ?? 0) - (before[k] ?? 0);
    for (let i = 0; i < 3; i++) await get(gw.url, 'app.example.com', { headers: { 'x-canary': 'app-v2' } });
    for (let i = 0; i < 40; i++) await get(gw.url, 'app.example.com');
    expect(n('helm-canary-pinned default/canary')).toBe(3);
    expect(n('helm-canary-pinned default/stable')).toBe(0);
    expect(n('#1 default/canary') + n('#1 default/stable')).toBe(40);
    expect(n('#1 default/canary')).toBeGreaterThan(0);
  });

  it('splits traffic by weight (400 requests, within 4 sigma of a binomial)', async () => {
    kube.state.virtualservices = [
      virtualService('app', ['app.example.com'], [{ route: route(['stable', 75], ['canary', 25]) }]),
    ];
    await gw.refresh();
    const n = 400;
    const counts = await tally(n, () => get(gw.url, 'app.example.com'));
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(n);
    expectBinomial(counts.v2 ?? 0, n, 0.25);
    expect(gw.stats.routed['default/canary']).toBe(counts.v2);
    expect(gw.stats.deployments['default/canary']).toBe(counts.v2);
  });

  it('uses the injected random source for the weighted choice', async () => {
    await gw.stop();
    let x = 0;
    const seq = [0.1, 0.8, 0.5, 0.74, 0.76];
    gw = await GatewayServer.start({ kubeApiUrl: kube.url, random: () => seq[x++ % seq.length] });
    kube.state.virtualservices = [
      virtualService('app', ['app.example.com'], [{ route: route(['stable', 75], ['canary', 25]) }]),
    ];
    await gw.refresh();
    const bodies: string[] = [];
    for (let i = 0; i < 5; i++) bodies.push((await get(gw.url, 'app.example.com')).body.trim());
    expect(bodies).toEqual(['v1', 'v2', 'v1', 'v1', 'v2']);
  });

  it('picks up a weight change by polling within ~300 ms', async () => {
    expect((await get(gw.url, 'app.example.com')).body).toBe('v1\n');
    const t0 = Date.now();
    kube.state.virtualservices = [
      virtualService('app', ['app.example.com'], [{ route: route(['stable', 0], ['canary', 100]) }]),
    ];
    let body = '';
    while (Date.now() - t0 < 1000) {
      body = (await get(gw.url, 'app.example.com')).body;
      if (body === 'v2\n') break;
      await sleep(5);
    }
    const elapsed = Date.now() - t0;
    expect(body).toBe('v2\n');
    expect(elapsed).toBeLessThan(300);
  });

  it('picks up a change within ~200 ms with the default 100 ms poll', async () => {
    await gw.stop();
    gw = await GatewayServer.start({ kubeApiUrl: kube.url });
    expect((await get(gw.url, 'app.example.com')).body).toBe('v1\n');
    const t0 = Date.now();
    kube.state.virtualservices[0].spec.http[0].route = route(['canary']);
    let body = '';
    while (Date.now() - t0 < 1000 && body !== 'v2\n') {
      body = (await get(gw.url, 'app.example.com')).body;
      if (body !== 'v2\n') await sleep(5);
    }
    expect(body).toBe('v2\n');
    expect(Date.now() - t0).toBeLessThan(300);
  });

  it('503 "no healthy upstream" when no Deployment behind the Service is ready', async () => {
    kube.state.deployments[0].status = { replicas: 1, readyReplicas: 0, availableReplicas: 0 };
    await gw.refresh();
    const r = await get(gw.url, 'app.example.com');
    expect(r.status).toBe(503);
    expect(r.body).toBe('no healthy upstream');
    expect(r.headers['x-standin-backend']).toBe('default/stable');
    // availableReplicas alone counts as ready.
    kube.state.deployments[0].status = { replicas: 1, availableReplicas: 1 };
    await gw.refresh();
    expect((await get(gw.url, 'app.example.com')).status).toBe(200);
    // A Deployment whose pod labels do not match the selector does not serve the Service.
    kube.state.deployments[0].spec.template.metadata.labels = { app: 'something-else' };
    await gw.refresh();
    expect((await get(gw.url, 'app.example.com')).status).toBe(503);
  });

  it('answers with -status-code and the -text of the first container', async () => {
    kube.state.deployments[0] = deployment('stable', { args: ['-text=teapot here', '-status-code=418'] });
    await gw.refresh();
    const r = await get(gw.url, 'app.example.com');
    expect(r.status).toBe(418);
    expect(r.body).toBe('teapot here\n');
  });

  it('error-rate annotation: about that fraction of requests get 500 "injected error"', async () => {
    kube.state.deployments[0] = deployment('stable', {
      args: ['-text=v1'],
      annotations: { 'standin.helm-canary/error-rate': '0.3' },
    });
    await gw.refresh();
    const n = 400;
    const counts = await tally(
      n,
      () => get(gw.url, 'app.example.com'),
      (r) => `${r.status} ${r.body}`,
    );
    expect(Object.keys(counts).sort()).toEqual(['200 v1\n', '500 injected error']);
    expectBinomial(counts['500 injected error'], n, 0.3);
    expect(gw.stats.injectedErrors).toBe(counts['500 injected error']);
  });

  it('latency-ms and response-headers annotations (pod template annotations work too)', async () => {
    kube.state.deployments[0] = deployment('stable', {
      args: ['-text=v1'],
      templateAnnotations: {
        'standin.helm-canary/latency-ms': '300',
        'standin.helm-canary/response-headers': 'x-version=v2, foo=bar',
      },
    });
    await gw.refresh();
    const t0 = Date.now();
    const r = await get(gw.url, 'app.example.com');
    const elapsed = Date.now() - t0;
    expect(r.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1000);
    expect(r.headers['x-version']).toBe('v2');
    expect(r.headers['foo']).toBe('bar');
    expect(r.headers['x-standin-backend']).toBe('default/stable');
  });

  it('survives clients that time out and close during the added latency', async () => {
    kube.state.deployments[0] = deployment('stable', {
      annotations: { 'standin.helm-canary/latency-ms': '200' },
    });
    await gw.refresh();
    const aborted = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<string>((resolve) => {
            const req = http.get(`${gw.url}/`, { headers: { host: 'app.example.com' }, timeout: 30 });
            req.on('timeout', () => req.destroy(new Error('client timeout')));
            req.on('error', (e) => resolve(e.message));
            req.on('response', () => resolve('answered'));
          }),
      ),
    );
    expect(aborted.every((m) => m === 'client timeout')).toBe(true);
    await sleep(250); // the pending answers would have fired by now
    const r = await get(gw.url, 'app.example.com');
    expect(r.status).toBe(200);
  });

  it('keeps connections alive across requests', async () => {
    const a = await get(gw.url, 'app.example.com');
    const b = await get(gw.url, 'app.example.com');
    expect(a.headers.connection).toBe('keep-alive');
    expect(b.reused).toBe(true);
  });

  it('routes HTTPRoutes by hostnames, path matches and backendRef weights', async () => {
    kube.state.httproutes = [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          parentRefs: [{ name: 'gw' }],
          hostnames: ['web.example.com'],
          rules: [
            {
              matches: [{ path: { type: 'PathPrefix', value: '/admin' } }],
              backendRefs: [{ name: 'other', namespace: 'team-b', port: 80 }],
            },
            {
              matches: [{ headers: [{ name: 'x-canary', value: 'yes' }] }],
              backendRefs: [{ name: 'canary', port: 80 }],
            },
            {
              backendRefs: [
                { name: 'stable', port: 80, weight: 1 },
                { name: 'canary', port: 80, weight: 3 },
              ],
            },
          ],
        },
      },
    ];
    await gw.refresh();
    expect((await get(gw.url, 'web.example.com', { path: '/admin/users' })).body).toBe('other\n');
    // PathPrefix is element-wise: /administrator is not under /admin.
    expect((await get(gw.url, 'web.example.com', { path: '/administrator' })).body).not.toBe('other\n');
    expect((await get(gw.url, 'web.example.com', { headers: { 'x-canary': 'yes' } })).body).toBe('v2\n');
    const n = 400;
    const counts = await tally(n, () => get(gw.url, 'web.example.com'));
    expectBinomial(counts.v2 ?? 0, n, 0.75);
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(n);
  });

  it('tolerates a missing API group (404) and an unreachable API (keeps the last state)', async () => {
    kube.state.httproutes = null;
    await gw.refresh();
    expect((await get(gw.url, 'app.example.com')).body).toBe('v1\n');
    const before = gw.stats.pollErrors;
    const other = await GatewayServer.start({ kubeApiUrl: 'http://127.0.0.1:1', pollMs: 20 });
    try {
      expect((await get(other.url, 'app.example.com')).status).toBe(404);
      expect(other.stats.pollErrors).toBeGreaterThan(0);
    } finally {
      await other.stop();
    }
    expect(gw.stats.pollErrors).toBe(before);
  });
});
