/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are loose Kubernetes objects */
import { describe, it, expect } from '@jest/globals';
import { buildWeightPatch, readDestinations } from '../../src/router/istio/patch.js';
import { validateDestinations } from '../../src/router/router.js';
import { resolveRoute, sameHost } from '../../src/router/istio/virtual-service.js';

function vs(): any {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1234', annotations: { a: 'b' } },
    spec: {
      hosts: ['shop.example.com'],
      gateways: ['istio-system/gw'],
      http: [
        {
          name: 'admin',
          match: [{ uri: { prefix: '/admin' } }],
          route: [{ destination: { host: 'admin-svc', port: { number: 8080 } } }],
        },
        {
          name: 'primary',
          retries: { attempts: 3 },
          route: [
            {
              destination: { host: 'shop-v1-web', port: { number: 80 } },
              weight: 100,
              headers: { response: { set: { 'x-version': 'v1' } } },
            },
          ],
        },
      ],
    },
  };
}

describe('validateDestinations', () => {
  it.each([
    [[], /at least one/],
    [
      [
        { host: 'a', weight: 50 },
        { host: 'b', weight: 40 },
      ],
      /sum to 100, got 90/,
    ],
    [[{ host: 'a', weight: 101 }], /0 to 100/],
    [
      [
        { host: 'a', weight: -10 },
        { host: 'b', weight: 110 },
      ],
      /0 to 100/,
    ],
    [
      [
        { host: 'a', weight: 50.5 },
        { host: 'b', weight: 49.5 },
      ],
      /integer/,
    ],
    [[{ host: '', weight: 100 }], /host/],
    [
      [
        { host: 'a', weight: 50 },
        { host: 'a', weight: 50 },
      ],
      /twice/,
    ],
    [[{ host: 'a', weight: 100, port: 0 }], /port/],
  ])('rejects %j', (d, re) => {
    expect(() => validateDestinations(d as any)).toThrow(re);
  });
  it('accepts the same host with different subsets, and zero weights', () => {
    expect(() =>
      validateDestinations([
        { host: 'a', subset: 'v1', weight: 0 },
        { host: 'a', subset: 'v2', weight: 100 },
      ]),
    ).not.toThrow();
  });
});

describe('readDestinations', () => {
  it('reads host, port, subset, weight; a lone unweighted destination is 100', () => {
    const v = vs();
    expect(readDestinations(v, 0)).toEqual([{ host: 'admin-svc', port: 8080, weight: 100 }]);
    expect(readDestinations(v, 1)).toEqual([{ host: 'shop-v1-web', port: 80, weight: 100 }]);
    v.spec.http[1].route.push({ destination: { host: 'x', subset: 's' } });
    expect(readDestinations(v, 1)[1]).toEqual({ host: 'x', subset: 's', weight: 0 });
  });
  it('rejects a missing route index', () => {
    expect(() => readDestinations(vs(), 5)).toThrow(/no http route #5/);
  });
});

describe('buildWeightPatch', () => {
  const want = [
    { host: 'shop-v1-web', port: 80, weight: 90 },
    { host: 'shop-v2-web', port: 80, weight: 10 },
  ];

  it('guards with resourceVersion and route name, replaces only that route list', () => {
    const v = vs();
    const ops = buildWeightPatch(v, 1, want);
    expect(ops).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '1234' },
      { op: 'test', path: '/spec/http/1/name', value: 'primary' },
      {
        op: 'replace',
        path: '/spec/http/1/route',
        value: [
          {
            destination: { host: 'shop-v1-web', port: { number: 80 } },
            weight: 90,
            headers: { response: { set: { 'x-version': 'v1' } } },
          },
          { destination: { host: 'shop-v2-web', port: { number: 80 } }, weight: 10 },
        ],
      },
    ]);
    // no op touches anything but the managed route (other routes, retries, hosts, annotations)
    expect(ops.filter((o) => o.op !== 'test').map((o) => o.path)).toEqual(['/spec/http/1/route']);
    // the input object is not mutated
    expect(v).toEqual(vs());
  });

  it('tests the current route list when the route has no name', () => {
    const v = vs();
    delete v.spec.http[1].name;
    const ops = buildWeightPatch(v, 1, want);
    expect(ops[1]).toEqual({ op: 'test', path: '/spec/http/1/route', value: vs().spec.http[1].route });
    expect(ops).toHaveLength(3);
  });

  it('keeps other fields of an existing destination, matched by host + subset', () => {
    const v = vs();
    v.spec.http[1].route = [
      { destination: { host: 'shop', subset: 'v1' }, weight: 100, headers: { request: { add: { a: '1' } } } },
    ];
    const ops = buildWeightPatch(v, 1, [
      { host: 'shop', subset: 'v1', weight: 75 },
      { host: 'shop', subset: 'v2', weight: 25 },
    ]);
    expect(ops[2].value).toEqual([
      { destination: { host: 'shop', subset: 'v1' }, weight: 75, headers: { request: { add: { a: '1' } } } },
      { destination: { host: 'shop', subset: 'v2' }, weight: 25 },
    ]);
  });

  it('keeps the existing port when none is given, overrides it when given', () => {
    const ops = buildWeightPatch(vs(), 1, [{ host: 'shop-v1-web', weight: 100 }]);
    expect((ops[2].value as any)[0].destination.port).toEqual({ number: 80 });
    const ops2 = buildWeightPatch(vs(), 1, [{ host: 'shop-v1-web', port: 8080, weight: 100 }]);
    expect((ops2[2].value as any)[0].destination.port).toEqual({ number: 8080 });
  });

  it('drops destinations not listed (weight 0 must be listed explicitly to stay)', () => {
    const v = vs();
    v.spec.http[1].route.push({ destination: { host: 'old' }, weight: 0 });
    const ops = buildWeightPatch(v, 1, [{ host: 'shop-v1-web', weight: 100 }]);
    expect((ops[2].value as any[]).map((r) => r.destination.host)).toEqual(['shop-v1-web']);
  });

  it('rejects bad sums, a missing resourceVersion and routes without destinations', () => {
    expect(() => buildWeightPatch(vs(), 1, [{ host: 'a', weight: 10 }])).toThrow(/sum to 100/);
    const v = vs();
    delete v.metadata.resourceVersion;
    expect(() => buildWeightPatch(v, 1, want)).toThrow(/resourceVersion/);
    const r = vs();
    r.spec.http[1] = { name: 'primary', redirect: { uri: '/x' } };
    expect(() => buildWeightPatch(r, 1, want)).toThrow(/no destinations/);
  });
});

describe('resolveRoute', () => {
  it('by name', () => {
    expect(resolveRoute(vs(), { route: 'primary' })).toEqual({ index: 1, name: 'primary' });
  });
  it('by name that does not exist: lists the routes', () => {
    expect(() => resolveRoute(vs(), { route: 'main' })).toThrow(
      /no http route named "main". Its routes: "admin" -> admin-svc; "primary" -> shop-v1-web/,
    );
  });
  it('by the stable host hint (short name or FQDN)', () => {
    expect(resolveRoute(vs(), { stableHostHint: 'shop-v1-web' })).toEqual({ index: 1, name: 'primary' });
    expect(resolveRoute(vs(), { stableHostHint: 'shop-v1-web.shop.svc.cluster.local' })).toEqual({
      index: 1,
      name: 'primary',
    });
  });
  it('the only route', () => {
    const v = vs();
    v.spec.http = [{ route: [{ destination: { host: 'x' } }] }];
    expect(resolveRoute(v, {})).toEqual({ index: 0 });
    expect(resolveRoute(v, { stableHostHint: 'gone' })).toEqual({ index: 0 });
  });
  it('several routes and no hint: the one catch-all route (no match) is the default', () => {
    const v = vs();
    expect(resolveRoute(v, {})).toEqual({ index: 1, name: 'primary' });
  });
  it('several routes and no way to choose: lists them, unnamed by index', () => {
    const v = vs();
    delete v.spec.http[0].name;
    delete v.spec.http[0].match;
    expect(() => resolveRoute(v, {})).toThrow(
      /has 2 http routes; set input 'route'.*#0 \(unnamed\) -> admin-svc; "primary" -> shop-v1-web/,
    );
  });
  it('an ambiguous hint is an error', () => {
    const v = vs();
    v.spec.http[0].route[0].destination.host = 'shop-v1-web';
    expect(() => resolveRoute(v, { stableHostHint: 'shop-v1-web' })).toThrow(
      /2 http routes that send traffic/,
    );
  });
  it('no http routes, and a chosen route without destinations', () => {
    expect(() => resolveRoute({ metadata: { name: 'w' }, spec: { tcp: [] } }, {})).toThrow(/no http routes/);
    const v = vs();
    v.spec.http[1] = { name: 'primary', redirect: { uri: '/' } };
    expect(() => resolveRoute(v, { route: 'primary' })).toThrow(/no destinations/);
  });
  it('sameHost', () => {
    expect(sameHost('a', 'a.ns.svc.cluster.local')).toBe(true);
    expect(sameHost('a.ns', 'a')).toBe(true);
    expect(sameHost('ab', 'a')).toBe(false);
  });
});
