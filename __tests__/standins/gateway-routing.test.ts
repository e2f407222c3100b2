import { describe, expect, it } from '@jest/globals';
import {
  type ClusterSnapshot,
  type RequestInfo,
  decideRoute,
  echoBehaviour,
  emptySnapshot,
  hostMatchScore,
  pickUpstream,
  pickWeighted,
  resolveServiceHost,
  stripPort,
} from '../../standins/gateway/routing.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
function req(host: string, path = '/', headers: Record<string, string> = {}, method = 'GET'): RequestInfo {
  const u = new URL(path, 'http://x');
  return { host, path: u.pathname, query: u.searchParams, headers, method };
}

function snap(partial: Partial<ClusterSnapshot>): ClusterSnapshot {
  return { ...emptySnapshot(), ...partial };
}

describe('gateway routing (pure)', () => {
  it('strips ports and trailing dots from Host headers', () => {
    expect(stripPort('App.Example.com:8080')).toBe('app.example.com');
    expect(stripPort('app.example.com.')).toBe('app.example.com');
    expect(stripPort('[::1]:80')).toBe('[::1]');
    expect(stripPort(undefined)).toBe('');
  });

  it('scores host patterns: exact > longer wildcard > shorter wildcard > "*"', () => {
    const h = 'a.b.example.com';
    expect(hostMatchScore('a.b.example.com', h)).toBeGreaterThan(hostMatchScore('*.b.example.com', h));
    expect(hostMatchScore('*.b.example.com', h)).toBeGreaterThan(hostMatchScore('*.example.com', h));
    expect(hostMatchScore('*.example.com', h)).toBeGreaterThan(hostMatchScore('*', h));
    expect(hostMatchScore('*.example.com', 'example.com')).toBe(-1);
    expect(hostMatchScore('reviews', 'reviews.prod.svc.cluster.local', 'prod')).toBeGreaterThan(0);
    expect(hostMatchScore('reviews', 'reviews.dev.svc.cluster.local', 'prod')).toBe(-1);
  });

  it('resolves destination hosts to services', () => {
    expect(resolveServiceHost('web', 'shop')).toEqual({ namespace: 'shop', service: 'web' });
    expect(resolveServiceHost('web.prod', 'shop')).toEqual({ namespace: 'prod', service: 'web' });
    expect(resolveServiceHost('web.prod.svc.cluster.local', 'shop')).toEqual({
      namespace: 'prod',
      service: 'web',
    });
  });

  it('weighted pick honours weights and skips zero weights', () => {
    const items = [
      { id: 'a', weight: 0 },
      { id: 'b', weight: 30 },
      { id: 'c', weight: 70 },
    ];
    expect(pickWeighted(items, () => 0)?.id).toBe('b');
    expect(pickWeighted(items, () => 0.299)?.id).toBe('b');
    expect(pickWeighted(items, () => 0.3)?.id).toBe('c');
    expect(pickWeighted(items, () => 0.999999)?.id).toBe('c');
    expect(pickWeighted([{ weight: 0 }], () => 0.5)).toBeNull();
  });

  it('a single destination without weight gets 100%; several without weight get 0', () => {
    const vs = (route: any[]) =>
      snap({
        virtualServices: [
          { metadata: { name: 'v', namespace: 'n' }, spec: { hosts: ['h'], http: [{ route }] } },
        ],
      });
    const one = decideRoute(vs([{ destination: { host: 'a' } }]), req('h'));
    expect(one).toMatchObject({
      kind: 'backends',
      backends: [{ namespace: 'n', service: 'a', weight: 100 }],
    });
    const two = decideRoute(
      vs([{ destination: { host: 'a' } }, { destination: { host: 'b' }, weight: 100 }]),
      req('h'),
    );
    expect(two).toMatchObject({ kind: 'backends', backends: [{ weight: 0 }, { weight: 100 }] });
  });

  it('directResponse and header presence / withoutHeaders matches', () => {
    const s = snap({
      virtualServices: [
        {
          metadata: { name: 'v', namespace: 'n' },
          spec: {
            hosts: ['h'],
            http: [
              {
                match: [{ headers: { 'x-debug': {} } }],
                directResponse: { status: 299, body: { string: 'dbg' } },
              },
              { match: [{ withoutHeaders: { 'x-user': {} } }], directResponse: { status: 401 } },
              { route: [{ destination: { host: 'a' } }] },
            ],
          },
        },
      ],
    });
    expect(decideRoute(s, req('h', '/', { 'x-debug': '' }))).toMatchObject({
      kind: 'direct',
      status: 299,
      body: 'dbg',
    });
    expect(decideRoute(s, req('h'))).toMatchObject({ kind: 'direct', status: 401 });
    expect(decideRoute(s, req('h', '/', { 'x-user': 'bob' }))).toMatchObject({ kind: 'backends' });
  });

  it('HTTPRoute precedence: Exact path beats a longer prefix; header count breaks ties', () => {
    const s = snap({
      httpRoutes: [
        {
          metadata: { name: 'r', namespace: 'n' },
          spec: {
            rules: [
              {
                matches: [{ path: { type: 'PathPrefix', value: '/api/v1' } }],
                backendRefs: [{ name: 'prefix' }],
              },
              { matches: [{ path: { type: 'Exact', value: '/api/v1' } }], backendRefs: [{ name: 'exact' }] },
              {
                matches: [
                  { path: { type: 'PathPrefix', value: '/api/v1' }, headers: [{ name: 'x', value: '1' }] },
                ],
                backendRefs: [{ name: 'header' }],
              },
            ],
          },
        },
      ],
    });
    const svc = (p: string, h: Record<string, string> = {}) => {
      const d = decideRoute(s, req('any.host', p, h));
      return d.kind === 'backends' ? d.backends[0].service : d.kind;
    };
    expect(svc('/api/v1')).toBe('exact');
    expect(svc('/api/v1/x')).toBe('prefix');
    expect(svc('/api/v1/x', { x: '1' })).toBe('header');
    expect(svc('/api/v10')).toBe('not-found');
  });

  it('a subset restricts the Deployments to the DestinationRule subset labels', () => {
    const dep = (name: string, version: string) => ({
      metadata: { name, namespace: 'n' },
      spec: {
        template: {
          metadata: { labels: { app: 'web', version } },
          spec: { containers: [{ args: [`-text=${name}`] }] },
        },
      },
      status: { readyReplicas: 1 },
    });
    const s = snap({
      services: [{ metadata: { name: 'web', namespace: 'n' }, spec: { selector: { app: 'web' } } }],
      deployments: [dep('web-v1', 'v1'), dep('web-v2', 'v2')],
      destinationRules: [
        {
          metadata: { name: 'web', namespace: 'n' },
          spec: { host: 'web', subsets: [{ name: 'canary', labels: { version: 'v2' } }] },
        },
      ],
      virtualServices: [
        {
          metadata: { name: 'v', namespace: 'n' },
          spec: { hosts: ['h'], http: [{ route: [{ destination: { host: 'web', subset: 'canary' } }] }] },
        },
      ],
    });
    const d = decideRoute(s, req('h'));
    if (d.kind !== 'backends') throw new Error(d.kind);
    for (const r of [0, 0.3, 0.6, 0.99]) {
      const u = pickUpstream(s, d.backends[0], () => r);
      expect(u.kind === 'deployment' && u.deployment.metadata?.name).toBe('web-v2');
    }
  });

  it('reads http-echo flags in every Go flag form, and the knobs', () => {
    const d = (args: string[], annotations: Record<string, string> = {}) => ({
      metadata: { annotations },
      spec: { template: { spec: { containers: [{ args }] } } },
    });
    expect(echoBehaviour(d(['-text=a b'])).body).toBe('a b\n');
    expect(echoBehaviour(d(['--text=x', '--status-code=503'])).status).toBe(503);
    expect(echoBehaviour(d(['-text', 'y', '-status-code', '201']))).toMatchObject({
      body: 'y\n',
      status: 201,
    });
    const k = echoBehaviour(
      d(['-text=z'], {
        'standin.helm-canary/error-rate': '1.5',
        'standin.helm-canary/latency-ms': 'abc',
        'standin.helm-canary/response-headers': 'a=1,bad header=2,b=x=y',
      }),
    );
    expect(k).toMatchObject({
      errorRate: 1,
      latencyMs: 0,
      headers: [
        ['a', '1'],
        ['b', 'x=y'],
      ],
    });
  });
});

describe('gateway routing: subsets of one shared Service, and mesh-internal calls', () => {
  const dep = (release: string, text: string) => ({
    metadata: { name: release, namespace: 'default' },
    spec: {
      template: {
        metadata: { labels: { app: 'web', 'app.kubernetes.io/instance': release } },
        spec: { containers: [{ args: [`-text=${text}`] }] },
      },
    },
    status: { readyReplicas: 1 },
  });
  const world = (subsets: any[]) =>
    snap({
      services: [{ metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' } } }],
      deployments: [dep('web-v1', 'v1'), dep('web-v2', 'v2')],
      destinationRules: [{ metadata: { name: 'web', namespace: 'default' }, spec: { host: 'web', subsets } }],
      virtualServices: [
        {
          metadata: { name: 'vs', namespace: 'default' },
          spec: {
            hosts: ['shop.example.com'],
            http: [{ route: [{ destination: { host: 'web', subset: 'web-v2' } }] }],
          },
        },
      ],
    });
  const v2 = { name: 'web-v2', labels: { 'app.kubernetes.io/instance': 'web-v2' } };

  it('a subset selects pods by the Service selector AND its labels; an unknown subset has none', () => {
    const s = world([v2]);
    const d = decideRoute(s, req('shop.example.com'));
    if (d.kind !== 'backends') throw new Error(d.kind);
    for (const r of [0, 0.5, 0.99]) {
      const u = pickUpstream(s, d.backends[0], () => r);
      expect(u.kind === 'deployment' && u.deployment.metadata?.name).toBe('web-v2');
    }
    const gone = world([]);
    const d2 = decideRoute(gone, req('shop.example.com'));
    if (d2.kind !== 'backends') throw new Error(d2.kind);
    expect(pickUpstream(gone, d2.backends[0], () => 0).kind).toBe('no-ready');
  });

  it('"<svc>.<ns>.svc.cluster.local" with no route for it reaches every pod of the Service', () => {
    const s = world([v2]);
    for (const host of ['web.default.svc.cluster.local', 'web.default.svc']) {
      const d = decideRoute(s, req(host));
      expect(d).toMatchObject({
        kind: 'backends',
        backends: [{ namespace: 'default', service: 'web', weight: 100 }],
      });
      if (d.kind !== 'backends') throw new Error(d.kind);
      expect(d.backends[0].subsetLabels).toBeUndefined();
      const names = [0, 0.99].map((r) => {
        const u = pickUpstream(s, d.backends[0], () => r);
        return u.kind === 'deployment' ? u.deployment.metadata?.name : u.kind;
      });
      expect(new Set(names)).toEqual(new Set(['web-v1', 'web-v2']));
    }
    // No such Service, or not a cluster name: nothing answers.
    expect(decideRoute(s, req('api.default.svc.cluster.local')).kind).toBe('not-found');
    expect(decideRoute(s, req('web.example.com')).kind).toBe('not-found');
  });
});
