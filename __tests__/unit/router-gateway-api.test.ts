/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are loose Kubernetes objects */
// Pure HTTPRoute reading, rule selection and patch building (src/router/gateway-api/).
import { describe, it, expect } from '@jest/globals';
import {
  hostOfRef,
  hostOfService,
  locateRule,
  MAX_RULES,
  PINNED_RULE_NAME,
  readDestinations,
  resolveRule,
  serviceOfHost,
  statusWarnings,
} from '../../src/router/gateway-api/http-route.js';
import {
  buildPinPatch,
  buildUnpinPatch,
  buildWeightPatch,
  pinnedRule,
} from '../../src/router/gateway-api/patch.js';

function route(): any {
  return {
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '7' },
    spec: {
      parentRefs: [{ name: 'public', namespace: 'infra', sectionName: 'http' }],
      hostnames: ['shop.example.com'],
      rules: [
        {
          name: 'admin',
          matches: [{ path: { type: 'PathPrefix', value: '/admin' } }],
          backendRefs: [{ name: 'admin', port: 8080 }],
        },
        {
          name: 'primary',
          matches: [
            { path: { type: 'PathPrefix', value: '/' } },
            { path: { type: 'Exact', value: '/cart' }, headers: [{ name: 'x-user', value: 'a' }] },
          ],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }] } },
          ],
          timeouts: { request: '10s' },
          backendRefs: [
            {
              name: 'shop-v1-web',
              port: 80,
              weight: 100,
              filters: [
                {
                  type: 'RequestHeaderModifier',
                  requestHeaderModifier: { add: [{ name: 'x-b', value: '2' }] },
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

const pin = { header: 'x-canary', value: 'shop-v2', destination: { host: 'shop-v2-web', port: 80 } };

describe('backendRef <-> destination host', () => {
  it('names Services by name (same namespace) or name.namespace, other kinds so no Service name can clash', () => {
    expect(hostOfRef({ name: 'a' }, 'shop')).toBe('a');
    expect(hostOfRef({ name: 'a', namespace: 'shop', kind: 'Service', group: '' }, 'shop')).toBe('a');
    expect(hostOfRef({ name: 'a', namespace: 'pay' }, 'shop')).toBe('a.pay');
    const other = hostOfRef({ name: 'a', kind: 'ServiceImport', group: 'multicluster.x-k8s.io' }, 'shop');
    expect(other).toBe('ServiceImport.multicluster.x-k8s.io/shop/a');
    expect(serviceOfHost('a.pay', 'shop')).toEqual({ name: 'a', namespace: 'pay' });
    expect(serviceOfHost('a', 'shop')).toEqual({ name: 'a', namespace: 'shop' });
    expect(serviceOfHost(other, 'shop')).toEqual({ name: 'a', namespace: 'shop' });
    expect(hostOfService({ name: 'a', namespace: 'shop' }, 'shop')).toBe('a');
    expect(hostOfService({ name: 'a', namespace: 'pay' }, 'shop')).toBe('a.pay');
  });
});

describe('readDestinations', () => {
  const withRefs = (refs: any[]) => {
    const r = route();
    r.spec.rules[1].backendRefs = refs;
    return r;
  };
  it('reads relative weights as percentages summing to 100 (default weight 1)', () => {
    expect(readDestinations(withRefs([{ name: 'a', port: 80 }]), 1)).toEqual([
      { host: 'a', port: 80, weight: 100 },
    ]);
    expect(readDestinations(withRefs([{ name: 'a' }, { name: 'b' }]), 1).map((d) => d.weight)).toEqual([
      50, 50,
    ]);
    expect(
      readDestinations(
        withRefs([
          { name: 'a', weight: 3 },
          { name: 'b', weight: 1 },
        ]),
        1,
      ).map((d) => d.weight),
    ).toEqual([75, 25]);
    const thirds = readDestinations(withRefs([{ name: 'a' }, { name: 'b' }, { name: 'c' }]), 1);
    expect(thirds.reduce((s, d) => s + d.weight, 0)).toBe(100);
    expect(thirds.map((d) => d.weight).sort()).toEqual([33, 33, 34]);
  });
  it('reads all-zero weights as zeros (the gateway answers 500)', () => {
    expect(
      readDestinations(
        withRefs([
          { name: 'a', weight: 0 },
          { name: 'b', weight: 0 },
        ]),
        1,
      ).map((d) => d.weight),
    ).toEqual([0, 0]);
  });
});

describe('resolveRule / locateRule', () => {
  it('selects by route name, else by the stable backend, else the only rule', () => {
    expect(resolveRule(route(), { route: 'primary' })).toEqual({ name: 'primary', index: 1 });
    expect(resolveRule(route(), { stableHostHint: 'shop-v1-web' })).toEqual({ name: 'primary', index: 1 });
    const one = route();
    one.spec.rules = [{ backendRefs: [{ name: 'x', port: 80 }] }];
    expect(resolveRule(one, {})).toEqual({ index: 0 });
    const withRedirect = route();
    withRedirect.spec.rules[0] = { name: 'legacy', filters: [{ type: 'RequestRedirect' }] };
    expect(resolveRule(withRedirect, {})).toEqual({ name: 'primary', index: 1 });
  });
  it('errors name the input and list the rules', () => {
    expect(() => resolveRule(route(), { route: 'nope' })).toThrow(
      /Input 'route': HTTPRoute "web" has no rule named "nope".*"admin" -> admin; "primary" -> shop-v1-web/,
    );
    expect(() => resolveRule(route(), {})).toThrow(/has 2 rules; set input 'route'/);
    const both = route();
    both.spec.rules[0].backendRefs.push({ name: 'shop-v1-web', port: 80 });
    expect(() => resolveRule(both, { stableHostHint: 'shop-v1-web' })).toThrow(/2 rules that send traffic/);
    const redirect = route();
    redirect.spec.rules = [{ filters: [{ type: 'RequestRedirect' }] }];
    expect(() => resolveRule(redirect, {})).toThrow(/no backendRefs/);
  });
  it('never manages the pinned rule, and follows the rule in later reads', () => {
    const r = route();
    r.spec.rules.push({ name: PINNED_RULE_NAME, backendRefs: [{ name: 'shop-v2-web' }] });
    r.spec.rules.splice(0, 1);
    expect(resolveRule(r, {})).toEqual({ name: 'primary', index: 0 });
    expect(() => resolveRule(r, { route: PINNED_RULE_NAME })).toThrow(/no rule named/);
    expect(locateRule(route(), { name: 'primary', index: 0 })).toBe(1);
    expect(() => locateRule(route(), { name: 'gone', index: 0 })).toThrow(/no longer has the rule "gone"/);
    const unnamed = route();
    delete unnamed.spec.rules[1].name;
    expect(locateRule(unnamed, { index: 1 })).toBe(1);
    expect(() => locateRule(route(), { index: 1 })).toThrow(/changed shape/);
  });
});

describe('buildWeightPatch', () => {
  it('tests the version and rule name, and replaces only that rule backendRefs', () => {
    const ops = buildWeightPatch(route(), 1, [
      { host: 'shop-v1-web', port: 80, weight: 90 },
      { host: 'shop-v2-web', port: 80, weight: 10 },
    ]);
    expect(ops.slice(0, 2)).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '7' },
      { op: 'test', path: '/spec/rules/1/name', value: 'primary' },
    ]);
    expect(ops).toHaveLength(3);
    expect(ops[2].op).toBe('replace');
    expect(ops[2].path).toBe('/spec/rules/1/backendRefs');
    const refs = ops[2].value as any[];
    // The existing backend keeps its fields; the new one gets the stable's per-backend filters and port.
    expect(refs[0]).toEqual({ ...route().spec.rules[1].backendRefs[0], weight: 90 });
    expect(refs[1]).toEqual({
      name: 'shop-v2-web',
      port: 80,
      weight: 10,
      filters: route().spec.rules[1].backendRefs[0].filters,
    });
  });
  it('an unnamed rule is guarded by its current backendRefs; another namespace gets namespace', () => {
    const r = route();
    delete r.spec.rules[1].name;
    const ops = buildWeightPatch(r, 1, [{ host: 'other.pay', weight: 100 }]);
    expect(ops[1]).toEqual({
      op: 'test',
      path: '/spec/rules/1/backendRefs',
      value: r.spec.rules[1].backendRefs,
    });
    expect((ops[2].value as any[])[0]).toMatchObject({
      name: 'other',
      namespace: 'pay',
      port: 80,
      weight: 100,
    });
  });
  it('refuses weights that do not sum to 100 and rules without backends', () => {
    expect(() => buildWeightPatch(route(), 1, [{ host: 'a', weight: 50 }])).toThrow(/sum to 100/);
    const r = route();
    r.spec.rules[1].backendRefs = [];
    expect(() => buildWeightPatch(r, 1, [{ host: 'a', weight: 100 }])).toThrow(/no backendRefs/);
    const nov = route();
    delete nov.metadata.resourceVersion;
    expect(() => buildWeightPatch(nov, 1, [{ host: 'a', weight: 100 }])).toThrow(/resourceVersion/);
  });
});

describe('pinned rule', () => {
  it('copies every match with the header added, the filters and timeouts, one backend to the canary', () => {
    const managed = route().spec.rules[1];
    const p = pinnedRule(managed, pin, 'shop');
    expect(p.name).toBe(PINNED_RULE_NAME);
    expect(p.matches).toEqual([
      {
        path: { type: 'PathPrefix', value: '/' },
        headers: [{ type: 'Exact', name: 'x-canary', value: 'shop-v2' }],
      },
      {
        path: { type: 'Exact', value: '/cart' },
        headers: [
          { name: 'x-user', value: 'a' },
          { type: 'Exact', name: 'x-canary', value: 'shop-v2' },
        ],
      },
    ]);
    expect(p.filters).toEqual(managed.filters);
    expect(p.timeouts).toEqual(managed.timeouts);
    expect(p.backendRefs).toEqual([
      { name: 'shop-v2-web', port: 80, weight: 100, filters: managed.backendRefs[0].filters },
    ]);
    // Every match has exactly one more header match than the one it copies: Gateway API precedence
    // sends pinned probes to it and nothing else.
    p.matches!.forEach((m, i) =>
      expect(m.headers!.length).toBe((managed.matches[i].headers ?? []).length + 1),
    );
  });
  it('a rule without matches means path prefix "/"; an existing match on the header is replaced', () => {
    const p = pinnedRule(
      { backendRefs: [{ name: 'a', port: 80 }], matches: [] },
      { ...pin, destination: { host: 'b' } },
      'shop',
    );
    expect(p.matches).toEqual([
      {
        path: { type: 'PathPrefix', value: '/' },
        headers: [{ type: 'Exact', name: 'x-canary', value: 'shop-v2' }],
      },
    ]);
    expect(p.backendRefs).toEqual([{ name: 'b', port: 80, weight: 100 }]);
    const again = pinnedRule(
      { matches: [{ headers: [{ name: 'X-Canary', value: 'old' }] }], backendRefs: [{ name: 'a' }] },
      pin,
      'shop',
    );
    expect(again.matches![0].headers).toEqual([{ type: 'Exact', name: 'x-canary', value: 'shop-v2' }]);
  });
  it('is appended after the other rules, replaces an existing one, and is removed by name', () => {
    const ops = buildPinPatch(route(), 1, pin);
    expect(ops.map((o) => `${o.op} ${o.path}`)).toEqual([
      'test /metadata/resourceVersion',
      'add /spec/rules/-',
    ]);
    const pinned = route();
    pinned.spec.rules.push(pinnedRule(pinned.spec.rules[1], pin, 'shop'));
    expect(buildPinPatch(pinned, 1, pin).map((o) => `${o.op} ${o.path}`)).toEqual([
      'test /metadata/resourceVersion',
      'test /spec/rules/2/name',
      'remove /spec/rules/2',
      'add /spec/rules/-',
    ]);
    expect(buildUnpinPatch(pinned)).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '7' },
      { op: 'test', path: '/spec/rules/2/name', value: PINNED_RULE_NAME },
      { op: 'remove', path: '/spec/rules/2' },
    ]);
    expect(buildUnpinPatch(route())).toBeUndefined();
  });
  it(`refuses to make a route of more than ${MAX_RULES} rules`, () => {
    const full = route();
    while (full.spec.rules.length < MAX_RULES) full.spec.rules.push({ backendRefs: [{ name: 'x' }] });
    expect(() => buildPinPatch(full, 1, pin)).toThrow(/has 16 rules, the most Gateway API allows/);
    // Replacing its own pinned rule in a full route is fine.
    full.spec.rules[MAX_RULES - 1] = { name: PINNED_RULE_NAME, backendRefs: [{ name: 'y' }] };
    expect(buildPinPatch(full, 1, pin)).toHaveLength(4);
  });
});

describe('statusWarnings', () => {
  it('warns for parents that do not accept the route or cannot resolve its refs', () => {
    const r = route();
    r.status = {
      parents: [
        {
          parentRef: { name: 'public', namespace: 'infra' },
          conditions: [
            { type: 'Accepted', status: 'True' },
            { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', message: 'no Service x' },
          ],
        },
        {
          parentRef: { name: 'internal' },
          conditions: [{ type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners' }],
        },
      ],
    };
    const w = statusWarnings(r);
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/parent infra\/public reports ResolvedRefs=False \(BackendNotFound: no Service x\)/);
    expect(w[1]).toMatch(
      /parent internal reports Accepted=False \(NotAllowedByListeners\); that Gateway does not serve/,
    );
    expect(statusWarnings(route())).toEqual([]);
  });
});
