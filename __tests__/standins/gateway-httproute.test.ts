/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects */
// The gateway stand-in's HTTPRoute routing: pure rules of standins/gateway/routing.ts (Gateway API
// precedence, hostnames, parentRefs, weights, filters), then the running stand-in fed by the
// Kubernetes API stand-in with the REAL helm and kubectl.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { join } from 'node:path';
import { KubeApiServer } from '../../standins/kube-api/index.js';
import { GatewayServer } from '../../standins/gateway/index.js';
import {
  type ClusterSnapshot,
  type RequestInfo,
  attachedHostnames,
  decideRoute,
  emptySnapshot,
  filteredHeaders,
} from '../../standins/gateway/routing.js';
import { chartsDir, run, toolsPair } from './tools.js';

function req(host: string, path = '/', headers: Record<string, string> = {}, method = 'GET'): RequestInfo {
  const u = new URL(path, 'http://x');
  return { host, path: u.pathname, query: u.searchParams, headers, method };
}

const snap = (partial: Partial<ClusterSnapshot>): ClusterSnapshot => ({ ...emptySnapshot(), ...partial });

function httpRoute(name: string, rules: any[], extra: Record<string, any> = {}): any {
  return {
    metadata: { name, namespace: 'n', creationTimestamp: extra.created ?? '2026-01-01T00:00:00Z' },
    spec: { parentRefs: [{ name: 'gw' }], ...(extra.hostnames ? { hostnames: extra.hostnames } : {}), rules },
  };
}

const rule = (svc: string, matches?: any[], more: Record<string, any> = {}) => ({
  ...(matches ? { matches } : {}),
  backendRefs: [{ name: svc, port: 80 }],
  ...more,
});

const chosen = (s: ClusterSnapshot, r: RequestInfo): string => {
  const d = decideRoute(s, r);
  return d.kind === 'backends' ? d.backends.map((b) => b.service).join('+') : d.kind;
};

describe('HTTPRoute precedence across routes (pure)', () => {
  const p = (value: string, type = 'PathPrefix') => ({ path: { type, value } });
  it('exact path > longer prefix > method > more headers > more query params', () => {
    const s = snap({
      httpRoutes: [
        httpRoute('a', [rule('root', [p('/')]), rule('prefix', [p('/api')])]),
        httpRoute('b', [
          rule('exact', [p('/api', 'Exact')]),
          rule('method', [{ ...p('/api'), method: 'POST' }]),
          rule('header', [{ ...p('/api'), headers: [{ name: 'x-a', value: '1' }] }]),
          rule('two-headers', [
            {
              ...p('/api'),
              headers: [
                { name: 'x-a', value: '1' },
                { name: 'x-b', value: '1' },
              ],
            },
          ]),
          rule('query', [
            {
              ...p('/api'),
              headers: [{ name: 'x-a', value: '1' }],
              queryParams: [{ name: 'q', value: '1' }],
            },
          ]),
        ]),
      ],
    });
    expect(chosen(s, req('h', '/'))).toBe('root');
    expect(chosen(s, req('h', '/api'))).toBe('exact');
    expect(chosen(s, req('h', '/api/x'))).toBe('prefix');
    // Method beats header matches: a POST with the header takes the method rule.
    expect(chosen(s, req('h', '/api/x', { 'x-a': '1' }, 'POST'))).toBe('method');
    expect(chosen(s, req('h', '/api/x', { 'x-a': '1' }))).toBe('header');
    expect(chosen(s, req('h', '/api/x', { 'x-a': '1', 'x-b': '1' }))).toBe('two-headers');
    expect(chosen(s, req('h', '/api/x?q=1', { 'x-a': '1' }))).toBe('query');
  });

  it('ties: the oldest route, then namespace/name alphabetical, then rule order', () => {
    const older = httpRoute('zeta', [rule('old', [p('/')])], { created: '2025-01-01T00:00:00Z' });
    const newer = httpRoute('alpha', [rule('new', [p('/')])], { created: '2026-01-01T00:00:00Z' });
    expect(chosen(snap({ httpRoutes: [newer, older] }), req('h'))).toBe('old');
    const sameAge = [httpRoute('zeta', [rule('z', [p('/')])]), httpRoute('alpha', [rule('a', [p('/')])])];
    expect(chosen(snap({ httpRoutes: sameAge }), req('h'))).toBe('a');
    const order = httpRoute('r', [rule('first', [p('/')]), rule('second', [p('/')])]);
    expect(chosen(snap({ httpRoutes: [order] }), req('h'))).toBe('first');
  });

  it('a rule without matches is path prefix "/"; a copy with one more header match takes only marked requests', () => {
    const managed = rule('stable');
    const pinned = {
      name: 'helm-canary-pinned',
      matches: [
        {
          path: { type: 'PathPrefix', value: '/' },
          headers: [{ type: 'Exact', name: 'x-canary', value: 'v2' }],
        },
      ],
      backendRefs: [{ name: 'canary', port: 80 }],
    };
    const s = snap({ httpRoutes: [httpRoute('r', [managed, pinned])] });
    expect(chosen(s, req('h', '/any'))).toBe('stable');
    expect(chosen(s, req('h', '/any', { 'x-canary': 'v2' }))).toBe('canary');
    expect(chosen(s, req('h', '/any', { 'x-canary': 'other' }))).toBe('stable');
    const d = decideRoute(s, req('h', '/', { 'x-canary': 'v2' }));
    expect(d).toMatchObject({ kind: 'backends', route: 'helm-canary-pinned' });
    expect(decideRoute(s, req('h'))).toMatchObject({ route: '#0' });
  });

  it('hostnames: exact beats wildcard across routes; no match is 404', () => {
    const s = snap({
      httpRoutes: [
        httpRoute('wild', [rule('wild', [p('/api')])], { hostnames: ['*.example.com'] }),
        httpRoute('exact', [rule('exact', [p('/')])], { hostnames: ['shop.example.com'] }),
      ],
    });
    // The more specific hostname wins even over a longer path of the wildcard route.
    expect(chosen(s, req('shop.example.com', '/api/x'))).toBe('exact');
    expect(chosen(s, req('other.example.com', '/api/x'))).toBe('wild');
    expect(chosen(s, req('example.org', '/api/x'))).toBe('not-found');
  });

  it('parentRefs: only routes attached to a listener that allows them, once Gateways exist', () => {
    const gateway = (listeners: any[], namespace = 'n') => ({
      metadata: { name: 'gw', namespace },
      spec: { listeners },
    });
    const route = httpRoute('r', [rule('svc')]);
    expect(attachedHostnames(route, [])).toEqual([undefined]);
    expect(attachedHostnames(route, [gateway([{ name: 'http', protocol: 'HTTP', port: 80 }])])).toEqual([
      undefined,
    ]);
    expect(
      attachedHostnames(route, [gateway([{ name: 'http', protocol: 'HTTP', port: 80 }], 'infra')]),
    ).toBeNull();
    const shared = gateway(
      [
        {
          name: 'http',
          protocol: 'HTTP',
          port: 80,
          hostname: '*.example.com',
          allowedRoutes: { namespaces: { from: 'All' } },
        },
      ],
      'infra',
    );
    const cross = {
      ...route,
      spec: { ...route.spec, parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }] },
    };
    expect(attachedHostnames(cross, [shared])).toEqual(['*.example.com']);
    const wrongSection = {
      ...cross,
      spec: { ...cross.spec, parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'https' }] },
    };
    expect(attachedHostnames(wrongSection, [shared])).toBeNull();
    const unattached = { ...route, spec: { ...route.spec, parentRefs: [] } };
    expect(
      chosen(snap({ httpRoutes: [unattached], gateways: [gateway([{ name: 'http', port: 80 }])] }), req('h')),
    ).toBe('not-found');
    // The listener's hostname limits the route too.
    expect(chosen(snap({ httpRoutes: [cross], gateways: [shared] }), req('a.example.com'))).toBe('svc');
    expect(chosen(snap({ httpRoutes: [cross], gateways: [shared] }), req('a.example.org'))).toBe('not-found');
  });

  it('weights are relative: 0 gets nothing, all 0 is 500; other kinds are invalid backends', () => {
    const s = (refs: any[]) => snap({ httpRoutes: [httpRoute('r', [{ backendRefs: refs }])] });
    const d = decideRoute(s([{ name: 'a', weight: 3 }, { name: 'b' }, { name: 'c', weight: 0 }]), req('h'));
    expect(d.kind === 'backends' && d.backends.map((b) => b.weight)).toEqual([3, 1, 0]);
    expect(decideRoute(s([{ name: 'a', weight: 0 }]), req('h'))).toMatchObject({
      kind: 'no-backends',
      status: 500,
    });
    expect(decideRoute(snap({ httpRoutes: [httpRoute('r', [{}])] }), req('h'))).toMatchObject({
      status: 500,
    });
    const other = decideRoute(
      s([{ name: 'x', kind: 'ServiceImport', group: 'multicluster.x-k8s.io' }]),
      req('h'),
    );
    expect(other.kind === 'backends' && other.backends[0].invalid).toMatch(/not supported/);
  });

  it('RequestHeaderModifier shows as x-standin-request-*; ResponseHeaderModifier changes the answer', () => {
    const filters = [
      {
        type: 'RequestHeaderModifier',
        requestHeaderModifier: {
          set: [{ name: 'X-Set', value: 's' }],
          add: [{ name: 'x-add', value: 'b' }],
          remove: ['x-gone'],
        },
      },
      {
        type: 'ResponseHeaderModifier',
        responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'gw' }], remove: ['x-drop'] },
      },
      { type: 'URLRewrite', urlRewrite: { hostname: 'ignored' } },
    ];
    const out = filteredHeaders(filters, { 'x-add': 'a', 'x-gone': '1', 'x-keep': 'k' }, [
      ['x-drop', '1'],
      ['x-standin-backend', 'n/a'],
    ]);
    expect(out).toEqual([
      ['x-standin-backend', 'n/a'],
      ['x-standin-request-x-add', 'a,b'],
      ['x-standin-request-x-set', 's'],
      ['x-standin-request-x-gone', ''],
      ['x-served-by', 'gw'],
    ]);
    expect(filteredHeaders(undefined, {}, [['a', 'b']])).toEqual([['a', 'b']]);
  });
});

// ---- through the running stand-in, objects written by the real helm and kubectl ----------------

const pair = toolsPair();
let kube: KubeApiServer;
let gw: GatewayServer;
const k = (...args: string[]) => run('kubectl', ['--kubeconfig', kube.kubeconfigPath, ...args]);
const h = (...args: string[]) => run('helm', ['--kubeconfig', kube.kubeconfigPath, ...args]);

function get(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const r = http.get(`${gw.url}${path}`, { headers: { host: '127.0.0.1.xip.io', ...headers } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    r.on('error', reject);
  });
}

beforeAll(async () => {
  kube = await KubeApiServer.start({ deploymentReadyDelayMs: 50 });
  gw = await GatewayServer.start({ kubeApiUrl: kube.url });
  for (const [name, text] of [
    ['stable', 'v1'],
    ['canary', 'v2'],
  ]) {
    const r = await h(
      'install',
      name,
      join(chartsDir, 'sample'),
      '--set',
      `args[0]=-text=${text}`,
      '--wait',
      '--timeout',
      '60s',
    );
    expect(r.stderr).toBe('');
  }
  const r = await h(
    'install',
    'edge',
    join(chartsDir, 'sample-httproute'),
    '--set',
    'backends[0].service=stable-sample',
    '--set',
    'backends[0].weight=100',
  );
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  await gw.refresh();
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  await kube?.stop();
});

describe(`gateway stand-in routes HTTPRoutes (${pair})`, () => {
  it('routes by the chart Gateway + HTTPRoute, with its filters', async () => {
    const a = await get('/');
    expect(a.status).toBe(200);
    expect(a.body).toBe('v1\n');
    expect(a.headers['x-standin-request-x-gateway']).toBe('edge');
    expect(a.headers['x-served-by']).toBe('httproute');
    // The redirect rule has no backends (RequestRedirect is not implemented): 500.
    expect((await get('/legacy')).status).toBe(500);
    expect(gw.stats.byRoute['app default/stable-sample']).toBeGreaterThan(0);
  });

  it('follows kubectl patches of the weights and a pinned rule', async () => {
    const patch = [
      { op: 'replace', path: '/spec/rules/1/backendRefs/0/weight', value: 0 },
      {
        op: 'add',
        path: '/spec/rules/1/backendRefs/-',
        value: { name: 'canary-sample', port: 80, weight: 100 },
      },
    ];
    const p = await k(
      'patch',
      'httproutes.gateway.networking.k8s.io',
      'edge-route',
      '--type=json',
      '-p',
      JSON.stringify(patch),
    );
    expect(p.stderr).toBe('');
    await gw.refresh();
    expect((await get('/')).body).toBe('v2\n');
    const zero = [{ op: 'replace', path: '/spec/rules/1/backendRefs/1/weight', value: 0 }];
    await k(
      'patch',
      'httproutes.gateway.networking.k8s.io',
      'edge-route',
      '--type=json',
      '-p',
      JSON.stringify(zero),
    );
    await gw.refresh();
    expect((await get('/')).status).toBe(500);
    const pin = [
      { op: 'replace', path: '/spec/rules/1/backendRefs/0/weight', value: 100 },
      {
        op: 'add',
        path: '/spec/rules/-',
        value: {
          name: 'helm-canary-pinned',
          matches: [
            {
              path: { type: 'PathPrefix', value: '/' },
              headers: [{ type: 'Exact', name: 'x-canary', value: 'v2' }],
            },
          ],
          backendRefs: [{ name: 'canary-sample', port: 80 }],
        },
      },
    ];
    expect(
      (
        await k(
          'patch',
          'httproutes.gateway.networking.k8s.io',
          'edge-route',
          '--type=json',
          '-p',
          JSON.stringify(pin),
        )
      ).code,
    ).toBe(0);
    await gw.refresh();
    expect((await get('/')).body).toBe('v1\n');
    expect((await get('/', { 'x-canary': 'v2' })).body).toBe('v2\n');
    expect(gw.stats.byRoute['helm-canary-pinned default/canary-sample']).toBe(1);
  });
});
