import { describe, it, expect } from '@jest/globals';
import { runRollout, type RolloutDeps } from '../../src/rollout/rollout.js';
import type { VerifyRequest } from '../../src/verify/verifier.js';
import type {
  Destination,
  Inspection,
  RouteSnapshot,
  ServiceRef,
  TrafficRouter,
} from '../../src/router/router.js';
import type { Settings } from '../../src/lib/types.js';
import { Keys } from '../../src/rollout/state.js';

const svcManifest = (name: string, port = 80) => `---
# Source: sample/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  ports:
    - port: ${port}
      targetPort: http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
`;

function settings(over: Partial<Settings> = {}): Settings {
  return {
    command: 'rollout',
    chart: './chart',
    release: 'sample',
    version: 'v2',
    canaryRelease: 'sample-v2',
    namespace: 'default',
    valuesFiles: [],
    set: [],
    helmArgs: [],
    virtualService: 'vs',
    steps: [
      { weight: 10, bakeMs: 10 },
      { weight: 50, bakeMs: 10 },
      { weight: 100, bakeMs: 10 },
    ],
    intervalMs: 10,
    verify: { headers: {}, statuses: [[200, 399]], rps: 5, timeoutMs: 5000, successRate: 0.99 },
    onFailure: 'rollback',
    promotion: 'auto',
    cleanup: true,
    helmTimeoutMs: 60000,
    timeoutMs: 600000,
    dryRun: false,
    comment: false,
    ...over,
  } as Settings;
}

class FakeRouter implements TrafficRouter {
  readonly kind = 'VirtualService';
  readonly name = 'vs';
  readonly namespace = 'default';
  writes: Destination[][] = [];
  annotations: Record<string, string> = {};
  constructor(public destinations: Destination[]) {}
  /** What inspect() reports: a rollout never writes anything before reading it. */
  inspection: Inspection = { owners: [], warnings: [] };
  otherRoutes: string[] = [];
  pinned?: string;
  async inspect(): Promise<Inspection> {
    return this.inspection;
  }
  async getRoutes(): Promise<RouteSnapshot> {
    return { route: '#0', destinations: this.destinations, version: '1', state: { ...this.annotations } };
  }
  async setRoutes(d: Destination[]): Promise<RouteSnapshot> {
    this.writes.push(d);
    this.destinations = d;
    return this.getRoutes();
  }
  async setState(a: Record<string, string | null>): Promise<void> {
    for (const [k, v] of Object.entries(a)) {
      if (v === null) delete this.annotations[k];
      else this.annotations[k] = v;
    }
  }
  async setPinnedRoute(p: { value: string }): Promise<void> {
    this.pinned = p.value;
  }
  async removePinnedRoute(): Promise<boolean> {
    const had = this.pinned !== undefined;
    this.pinned = undefined;
    return had;
  }
  async references(): Promise<string[]> {
    return this.otherRoutes;
  }
  serviceOf(host: string): ServiceRef {
    const [name, namespace = 'default'] = host.split('.');
    return { name, namespace };
  }
  hostOf(svc: ServiceRef): string {
    return svc.namespace === 'default' ? svc.name : `${svc.name}.${svc.namespace}.svc.cluster.local`;
  }
}

function world(opts: {
  destinations?: Destination[];
  stableService?: boolean;
  installFails?: boolean;
  verify?: (r: VerifyRequest) => Awaited<ReturnType<RolloutDeps['verify']>>;
  s?: Partial<Settings>;
}) {
  const router = new FakeRouter(opts.destinations ?? [{ host: 'foolish-penguin-sample', weight: 100 }]);
  const calls: string[] = [];
  const warnings: string[] = [];
  const deps: RolloutDeps = {
    settings: settings(opts.s),
    helm: {
      path: '/bin/helm',
      version: 'v4.1.4',
      major: 4,
      install: async (o) => {
        calls.push(`install ${o.release}`);
        if (opts.installFails) throw new Error('context deadline exceeded');
        return { manifest: svcManifest(`${o.release}-sample`) };
      },
      template: async (o) => svcManifest(`${o.release}-sample`),
      uninstall: async (r) => {
        calls.push(`uninstall ${r}`);
      },
      status: async (r) =>
        r === 'foolish-penguin'
          ? {
              name: r,
              namespace: 'default',
              revision: 1,
              status: 'deployed',
              chart: 'sample-0.1.0',
              appVersion: '1.0',
            }
          : undefined,
      list: async () => [],
      getManifest: async () => '',
    },
    kubectl: {
      path: '/bin/kubectl',
      version: 'v1.35.2',
      get: (async (resource: string, name: string) => {
        // The rollout loop reads routing objects only through its TrafficRouter.
        if (resource.startsWith('virtualservices')) throw new Error(`rollout read ${resource} directly`);
        if (resource === 'services' && opts.stableService !== false)
          return { metadata: { name, annotations: { 'meta.helm.sh/release-name': 'foolish-penguin' } } };
        return undefined;
      }) as RolloutDeps['kubectl']['get'],
      list: async () => [],
      patchJson: async () => ({}),
      annotate: async () => undefined,
      namespaceLabels: async () => ({ 'istio-injection': 'enabled' }),
      create: async () => {
        throw new Error('rollout created an object directly');
      },
      replace: async () => {
        throw new Error('rollout replaced an object directly');
      },
      delete: async () => false,
    },
    createRouter: () => router,
    verify: async (r) =>
      opts.verify?.(r) ?? { verdict: 'passed', reason: 'ok', total: { requests: 10, good: 10, bad: 0 } },
    log: {
      info: () => undefined,
      warning: (w) => warnings.push(w),
      startGroup: () => undefined,
      endGroup: () => undefined,
    },
    signal: new AbortController().signal,
  };
  return { deps, router, calls, warnings };
}

describe('runRollout', () => {
  it('steps the weights, promotes and uninstalls the old stable', async () => {
    const w = world({});
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.router.writes.map((d) => d.map((x) => `${x.host}=${x.weight}`).join(','))).toEqual([
      'foolish-penguin-sample=90,sample-v2-sample=10',
      'foolish-penguin-sample=50,sample-v2-sample=50',
      'foolish-penguin-sample=0,sample-v2-sample=100',
      'sample-v2-sample=100',
    ]);
    expect(w.calls).toEqual(['install sample-v2', 'uninstall foolish-penguin']);
    expect(w.router.annotations[Keys.stable]).toBe('sample-v2');
    expect(w.router.annotations[Keys.status]).toBe('promoted');
    expect(r.report.steps.map((s) => s.verdict)).toEqual(['passed', 'passed', 'passed']);
  });

  it('puts 100% back on stable and uninstalls the canary when a step fails', async () => {
    const w = world({
      verify: (r) =>
        r.weight === 50
          ? {
              verdict: 'failed',
              reason: 'canary success rate 0.0% (0/6) is below 99%',
              total: { requests: 6, good: 0, bad: 6 },
            }
          : { verdict: 'passed', reason: 'ok', total: { requests: 5, good: 5, bad: 0 } },
    });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('rolled-back');
    expect(r.reason).toContain('canary success rate 0.0%');
    expect(w.router.destinations).toEqual([{ host: 'foolish-penguin-sample', weight: 100 }]);
    expect(w.calls).toEqual(['install sample-v2', 'uninstall sample-v2']);
    expect(w.router.annotations[Keys.status]).toBe('rolled-back');
    expect(r.weight).toBe(0);
    // The report shows the whole plan: the step not reached is skipped.
    expect(r.report.steps.map((s) => `${s.weight}:${s.verdict}`)).toEqual([
      '10:passed',
      '50:failed',
      '100:skipped',
    ]);
  });

  it('pauses instead when on-failure is pause', async () => {
    const w = world({
      s: { onFailure: 'pause' },
      verify: () => ({
        verdict: 'failed',
        reason: 'p95 900 ms > 200 ms',
        total: { requests: 6, good: 6, bad: 0 },
      }),
    });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('paused');
    expect(r.weight).toBe(10);
    expect(w.calls).toEqual(['install sample-v2']);
    expect(w.router.annotations[Keys.status]).toBe('paused');
  });

  it('leaves traffic untouched when helm install fails', async () => {
    const w = world({ installFails: true });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('failed');
    expect(w.router.writes).toEqual([]);
    expect(w.calls).toEqual(['install sample-v2', 'uninstall sample-v2']);
    expect(r.reason).toContain('Traffic was not changed');
  });

  it('routes everything to the new release on a first deployment', async () => {
    const w = world({ destinations: [] });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.router.writes).toEqual([[{ host: 'sample-v2-sample', weight: 100 }]]);
  });

  it('rolls back when cancelled mid-step, even with on-failure pause', async () => {
    const ac = new AbortController();
    const w = world({
      s: { onFailure: 'pause' },
      verify: (r) => {
        ac.abort(new Error('The run was cancelled (SIGINT).'));
        return {
          verdict: 'cancelled',
          reason: 'The run was cancelled (SIGINT).',
          total: { requests: r.weight, good: 1, bad: 0 },
        };
      },
    });
    w.deps.signal = ac.signal;
    const r = await runRollout(w.deps);
    expect(r.status).toBe('rolled-back');
    expect(w.router.destinations).toEqual([{ host: 'foolish-penguin-sample', weight: 100 }]);
  });

  it('does nothing when the version is already stable', async () => {
    const w = world({});
    w.router.annotations[Keys.stableHost] = 'foolish-penguin-sample';
    w.deps.settings.canaryRelease = 'foolish-penguin';
    const r = await runRollout(w.deps);
    expect(r.status).toBe('unchanged');
    expect(w.calls).toEqual([]);
  });

  it('changes nothing in dry-run', async () => {
    const w = world({ s: { dryRun: true } });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('unchanged');
    expect(w.router.writes).toEqual([]);
    expect(w.calls).toEqual([]);
    expect(r.report.steps.map((s) => s.verdict)).toEqual(['skipped', 'skipped', 'skipped']);
  });

  it('refuses to guess the stable destination of a split route', async () => {
    const w = world({
      destinations: [
        { host: 'a', weight: 60 },
        { host: 'b', weight: 40 },
      ],
    });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/splits traffic.*Nothing in the cluster was changed/);
    expect(w.calls).toEqual([]);
  });
});

describe('runRollout and its TrafficRouter', () => {
  it('passes the router inspection warnings and owner findings on to the report', async () => {
    const w = world({});
    w.router.inspection = {
      warnings: ['no sidecar here'],
      owners: [
        {
          manager: 'argocd',
          who: 'Argo CD Application "a"',
          detail: 'managed by Argo CD.',
          consequence: 'reverts weights.',
          remedy: 'ignore differences.',
          severity: 'warning',
        },
      ],
    };
    const r = await runRollout(w.deps);
    expect(r.report.warnings).toEqual([
      'no sidecar here',
      'managed by Argo CD. reverts weights. Remedy: ignore differences.',
    ]);
  });

  it('keeps the old stable when another route still references it', async () => {
    const w = world({});
    w.router.otherRoutes = ['"admin"'];
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.calls).not.toContain('uninstall foolish-penguin');
    expect(w.warnings.join('\n')).toMatch(/route\(s\) "admin" of VirtualService "vs" still send traffic/);
  });

  it('keeps the old stable when its release renders the routing object itself', async () => {
    const w = world({});
    w.router.inspection = { owners: [], warnings: [], ownerRelease: 'foolish-penguin' };
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.calls).not.toContain('uninstall foolish-penguin');
    expect(w.warnings.join('\n')).toMatch(/also owns VirtualService "vs"/);
  });

  it('finds the recorded stable through the router state, in another host form', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample.default', weight: 60 },
        { host: 'other-sample', weight: 40 },
      ],
    });
    w.router.annotations[Keys.stableHost] = 'foolish-penguin-sample';
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.router.writes[0].map((d) => `${d.host}=${d.weight}`)).toEqual([
      'foolish-penguin-sample.default=90',
      'sample-v2-sample=10',
    ]);
  });
});
