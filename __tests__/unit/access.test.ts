// The permission preflight: which verbs each command and traffic API needs, and how the
// SelfSubjectAccessReviews' answers become one error (or a warning when reviews are not allowed).
import { describe, expect, it } from '@jest/globals';
import {
  checkAccess,
  describeNeed,
  missingAccessMessage,
  preflightAccess,
  type AccessNeed,
} from '../../src/kube/access-helper.js';
import type { IKubectl, KubeObject } from '../../src/kube/kubectl-helper.js';
import { accessNeeds } from '../../src/router/access-needs.js';

const base = {
  namespace: 'shop',
  virtualServices: ['web-vs'],
  virtualService: 'web-vs',
  dryRun: false,
  httpRoute: undefined as string | undefined,
  destinationRule: undefined as string | undefined,
};
const names = (n: AccessNeed[]) => n.map((x) => `${describeNeed(x)}${x.name ? `/${x.name}` : ''}`);

describe('accessNeeds', () => {
  it('rollout with a VirtualService: reads, weight patches, the lease, helm records and --wait', () => {
    const n = accessNeeds({ ...base, command: 'rollout' });
    expect(n.every((x) => x.namespace === 'shop')).toBe(true);
    expect(names(n)).toEqual(
      expect.arrayContaining([
        'get virtualservices.networking.istio.io/web-vs',
        'patch virtualservices.networking.istio.io/web-vs',
        'get namespaces/shop',
        'get services',
        'list secrets',
        'create secrets',
        'delete secrets',
        'create leases.coordination.k8s.io',
        'update leases.coordination.k8s.io',
        'watch deployments.apps',
      ]),
    );
    expect(names(n).some((x) => /httproutes|destinationrules/.test(x))).toBe(false);
  });

  it('status reads only; dry-run writes nothing; promote/rollback need no --wait', () => {
    const status = names(accessNeeds({ ...base, command: 'status' }));
    expect(status).toEqual(['get virtualservices.networking.istio.io/web-vs', 'list secrets']);
    const dry = names(accessNeeds({ ...base, command: 'rollout', dryRun: true }));
    expect(dry.some((x) => /^(patch|create|update|delete)/.test(x))).toBe(false);
    const promote = names(accessNeeds({ ...base, command: 'promote' }));
    expect(promote).toContain('patch virtualservices.networking.istio.io/web-vs');
    expect(promote.some((x) => /deployments/.test(x))).toBe(false);
  });

  it('HTTPRoute mode and subset mode, several VirtualServices', () => {
    const h = names(accessNeeds({ ...base, command: 'rollout', httpRoute: 'web' }));
    expect(h).toEqual(
      expect.arrayContaining([
        'get httproutes.gateway.networking.k8s.io/web',
        'patch httproutes.gateway.networking.k8s.io/web',
      ]),
    );
    expect(h.some((x) => /virtualservices/.test(x))).toBe(false);
    const s = names(accessNeeds({ ...base, command: 'rollback', destinationRule: 'web-dr' }));
    expect(s).toEqual(
      expect.arrayContaining(['patch destinationrules.networking.istio.io/web-dr', 'list pods']),
    );
    const many = names(accessNeeds({ ...base, command: 'rollout', virtualServices: ['a', 'b', 'a'] }));
    expect(many.filter((x) => x.startsWith('patch virtualservices'))).toEqual([
      'patch virtualservices.networking.istio.io/a',
      'patch virtualservices.networking.istio.io/b',
    ]);
  });
});

/** A kubectl whose `create` answers SelfSubjectAccessReviews from `allowed` (or fails). */
function fakeKubectl(allowed: (ra: Record<string, string>) => boolean, fail?: Error) {
  const calls: KubeObject[] = [];
  const kubectl = {
    create: async (obj: KubeObject) => {
      calls.push(obj);
      if (fail) throw fail;
      const items = (obj.items as { spec: { resourceAttributes: Record<string, string> } }[]).map((r) => ({
        ...r,
        status: { allowed: allowed(r.spec.resourceAttributes) },
      }));
      return items.length === 1 ? items[0] : { kind: 'List', items };
    },
  } as unknown as IKubectl;
  return { kubectl, calls };
}

describe('checkAccess / preflightAccess', () => {
  const needs = accessNeeds({ ...base, command: 'rollout' });
  const log = () => {
    const lines: string[] = [];
    return {
      lines,
      info: (m: string) => lines.push(`info ${m}`),
      warning: (m: string) => lines.push(`warning ${m}`),
    };
  };

  it('sends every need in one List of SelfSubjectAccessReviews and names each missing verb once', async () => {
    const { kubectl, calls } = fakeKubectl(
      (ra) => !(ra.verb === 'patch' || (ra.verb === 'delete' && ra.resource === 'leases')),
    );
    const r = await checkAccess(kubectl, needs);
    expect(calls).toHaveLength(1);
    expect((calls[0].items as unknown[]).length).toBe(needs.length);
    expect(r.checked && names(r.missing)).toEqual([
      'patch virtualservices.networking.istio.io/web-vs',
      'delete leases.coordination.k8s.io',
    ]);
    const l = log();
    await expect(preflightAccess(kubectl, needs, 'shop', l)).rejects.toThrow(
      `The kubeconfig's user cannot: patch virtualservices.networking.istio.io, delete leases.coordination.k8s.io (namespace "shop"); grant them with a Role like examples/rbac.yaml of helm-canary`,
    );
  });

  it('one need: kubectl prints the review itself, not a List', async () => {
    const { kubectl } = fakeKubectl(() => false);
    const r = await checkAccess(kubectl, needs.slice(0, 1));
    expect(r).toEqual({ checked: true, missing: needs.slice(0, 1) });
  });

  it('all granted: an info line; reviews not allowed: a warning and the run goes on', async () => {
    const ok = log();
    await preflightAccess(fakeKubectl(() => true).kubectl, needs, 'shop', ok);
    expect(ok.lines).toEqual([`info Cluster permissions: the ${needs.length} this run needs are granted.`]);
    const denied = log();
    const err = new Error(
      'selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "x" cannot create resource',
    );
    await preflightAccess(fakeKubectl(() => true, err).kubectl, needs, 'shop', denied);
    expect(denied.lines).toEqual([
      `warning Could not check the cluster permissions before the run (SelfSubjectAccessReview): ${err.message}`,
    ]);
  });

  it('the message lists each verb once even when several objects need it', () => {
    const n: AccessNeed[] = ['a', 'b'].map((name) => ({
      verb: 'patch',
      group: 'g',
      resource: 'r',
      namespace: 'n',
      name,
    }));
    expect(missingAccessMessage(n, 'n')).toMatch(/cannot: patch r\.g \(namespace "n"\)/);
  });
});
