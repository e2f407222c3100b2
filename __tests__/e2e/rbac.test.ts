// E2E: the action with a kubeconfig whose user is bound ONLY to examples/rbac.yaml's Role
// (applied with real kubectl): rollout, status, promote, rollback all work; a Role missing one
// verb stops the run in the preflight, naming it, before anything is written.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { CHARTS, ROOT, TOOLS, World } from '../../standins/world.js';

const VS = 'exciting-lemur-vs';
const SA_USER = 'system:serviceaccount:default:helm-canary';
const RBAC = fs.readFileSync(path.join(ROOT, 'examples', 'rbac.yaml'), 'utf8');

let w: World;
let kubeconfig: string;
beforeEach(async () => {
  w = await World.start();
  await w.tutorial();
  w.kube.addToken('sa-token', SA_USER, ['system:serviceaccounts', 'system:serviceaccounts:default']);
  kubeconfig = await w.kube.userKubeconfig(path.join(w.dir, 'sa.kubeconfig'), 'sa-token');
});
afterEach(async () => {
  await w.stop();
});

/** Applies the example with real kubectl as the admin, after `edit` of its Role. */
async function applyRbac(
  edit: (role: { rules: { resources: string[]; verbs: string[] }[] }) => void = () => {},
) {
  const docs = YAML.parseAllDocuments(RBAC).map((d) => d.toJSON());
  edit(docs.find((d) => d.kind === 'Role'));
  const file = path.join(w.dir, 'rbac.yaml');
  fs.writeFileSync(file, docs.map((d) => YAML.stringify(d)).join('---\n'));
  await w.must(w.kubectl('apply', '-f', file));
}

// short waits, and enough probes for the canary's evidence within 1 s bakes
const common = () => ({
  settle: '500ms',
  drain: '1s',
  'verify-rps': '100',
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  release: 'sample',
  'virtual-service': VS,
});
const rollout = (version: string) => ({
  ...common(),
  chart: path.join(CHARTS, 'sample'),
  version,
  steps: '10@1s,50@1s,100@1s',
  promotion: 'manual',
  precheck: '1s',
  'values-files': w.sampleValues(version, `hello world ${version}`),
});
/** The action as the ServiceAccount: its kubeconfig instead of the admin's. */
const run = (inputs: Record<string, string>) => w.runAction(inputs, { env: { KUBECONFIG: kubeconfig } });
/** 403s other than the cluster-wide ServiceEntry list (tried first, then this namespace's). */
const forbidden = () =>
  w.kube.requests.filter((r) => r.status === 403 && r.path !== '/apis/networking.istio.io/v1/serviceentries');

describe(`least-privilege RBAC (${TOOLS})`, () => {
  it('rollout → status → promote, then rollout → rollback, bound only to examples/rbac.yaml', async () => {
    await applyRbac();
    w.kube.clearRequests();
    const r = await run(rollout('v2'));
    expect({ code: r.code, status: r.outputs.status }).toEqual({ code: 0, status: 'paused' });
    expect(r.log).toMatch(/Cluster permissions: the \d+ this run needs are granted/);
    expect(w.weights(VS)).toBe('foolish-penguin-sample=50,sample-v2=50');

    const s = await run({ ...common(), command: 'status' });
    expect(s.outputs).toMatchObject({ status: 'paused', weight: '50' });
    const p = await run({ ...common(), command: 'promote', steps: '100@1s' });
    expect({ code: p.code, status: p.outputs.status }).toEqual({ code: 0, status: 'promoted' });
    expect(w.weights(VS)).toBe('sample-v2=100');

    const r3 = await run(rollout('v3'));
    expect(r3.outputs.status).toBe('paused');
    const b = await run({ ...common(), command: 'rollback' });
    expect({ code: b.code, status: b.outputs.status }).toEqual({ code: 0, status: 'rolled-back' });
    expect(w.weights(VS)).toBe('sample-v2=100');
    expect((await w.helm('status', 'sample-v3')).code).not.toBe(0);
    expect(forbidden()).toEqual([]);
    // the runs really were RBAC-bound: every write of the weights came from the ServiceAccount
    const vsWrites = w.kube.writes().filter((q) => q.path.includes('/virtualservices/'));
    expect(vsWrites.length).toBeGreaterThan(5);
    expect([...new Set(vsWrites.map((q) => q.user))]).toEqual([SA_USER]);
  });

  it('a Role without patch on VirtualServices: the preflight names it and nothing is written', async () => {
    await applyRbac((role) => {
      const rule = role.rules.find((x) => x.resources.includes('virtualservices'))!;
      rule.verbs = rule.verbs.filter((v) => v !== 'patch');
    });
    const before = JSON.stringify(w.vs(VS).spec);
    w.kube.clearRequests();
    const r = await run(rollout('v2'));
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toContain(
      `The kubeconfig's user cannot: patch virtualservices.networking.istio.io (namespace "default"); grant them with a Role like examples/rbac.yaml`,
    );
    expect(r.summary).toContain('cannot: patch virtualservices.networking.istio.io');
    expect(w.kube.writes()).toEqual([]);
    expect(JSON.stringify(w.vs(VS).spec)).toBe(before);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    // status needs no patch: it still works with that Role
    expect((await run({ ...common(), command: 'status' })).outputs.status).toBe('none');
  });
});
