// E2E: the operations half of the product — manual promotion and the promote / rollback / status
// commands from a workflow_dispatch — and a rollout that stays safe whatever happens around it:
// cancellation, a killed runner (post step), an operator's change mid-bake, a stale record, 5xx.
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { World, CHARTS, TOOLS } from '../../standins/world.js';

let w: World;
beforeEach(async () => {
  w = await World.start();
  await w.tutorial();
});
afterEach(async () => {
  await w.stop();
});

const VS = 'exciting-lemur-vs';
const STABLE_ONLY = 'foolish-penguin-sample=100';
const base = () => ({
  chart: path.join(CHARTS, 'sample'),
  release: 'sample',
  version: 'v2',
  'virtual-service': VS,
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  // The canary's evidence (81 failure-free responses at 99%) must arrive within short bakes.
  'verify-rps': '100',
  // Short waits (defaults 30s / 2s / 10s).
  precheck: '1s',
  settle: '500ms',
  drain: '1s',
});
/** What a workflow_dispatch with a command needs: no chart, no version. */
const op = (command: string, extra: Record<string, string> = {}) => ({
  command,
  release: 'sample',
  'virtual-service': VS,
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  'verify-rps': '100',
  settle: '500ms',
  drain: '1s',
  ...extra,
});
const ann = (): Record<string, string> => w.vs(VS).metadata.annotations ?? {};

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe(`operations (${TOOLS})`, () => {
  it('manual stop → status (no write at all) → promote → promoted and cleaned up', async () => {
    const r = await w.runAction({ ...base(), steps: '10@1s,50@1s,100@1s', promotion: 'manual' });
    expect(r.code).toBe(0);
    expect(r.outputs).toMatchObject({ status: 'paused', weight: '50', 'canary-release': 'sample-v2' });
    expect(w.weights(VS)).toBe('foolish-penguin-sample=50,sample-v2=50');
    expect(ann()['helm-canary.io/status']).toBe('paused');
    expect(r.summary).toMatch(/waits for a manual promotion/);
    expect(w.pinnedRoute(VS)).toBeUndefined(); // a pause leaves no pinned route

    w.kube.clearRequests();
    const s = await w.runAction(op('status'));
    expect(s.code).toBe(0);
    expect(s.outputs).toMatchObject({
      status: 'paused',
      weight: '50',
      'canary-release': 'sample-v2',
      'stable-release': 'foolish-penguin',
    });
    expect(w.kube.writes()).toEqual([]);
    expect(s.summary).toMatch(/Recorded state: paused, canary sample-v2 at 50%/);

    const p = await w.runAction(op('promote', { steps: '10@1s,50@1s,100@1s' }));
    expect(p.code).toBe(0);
    expect(p.outputs).toMatchObject({ status: 'promoted', 'stable-release': 'sample-v2', weight: '100' });
    expect(w.weights(VS)).toBe('sample-v2=100');
    // promote pinned again for its step's probes, and removed it at the promotion
    expect(p.log).toMatch(
      /Pinned route in front of route #0: requests with header x-canary: sample-v2 go to sample-v2/,
    );
    expect(w.pinnedRoute(VS)).toBeUndefined();
    expect((await w.helm('status', 'foolish-penguin')).code).not.toBe(0);
    expect(ann()['helm-canary.io/status']).toBe('promoted');
    const report = JSON.parse(fs.readFileSync(p.outputs['report-json'], 'utf8'));
    expect(report.steps.map((x: { weight: number; verdict: string }) => `${x.weight}:${x.verdict}`)).toEqual([
      '100:passed',
    ]);

    // Nothing left to promote: a clear error, and no write but the lock.
    w.kube.clearRequests();
    const again = await w.runAction(op('promote'));
    expect(again.code).toBe(1);
    expect(again.log).toMatch(
      /nothing to promote: .*already promoted\. To go back to an older version, re-run the rollout/,
    );
    expect(w.kube.writes().filter((q) => !/\/leases/.test(q.path))).toEqual([]);
  });

  it('command: rollback puts 100% on stable and uninstalls the canary (exit 0)', async () => {
    await w.runAction({ ...base(), steps: '25@1s,100@1s', promotion: 'manual' });
    expect(w.weights(VS)).toBe('foolish-penguin-sample=75,sample-v2=25');
    const r = await w.runAction(op('rollback'));
    expect(r.code).toBe(0);
    expect(r.outputs).toMatchObject({ status: 'rolled-back', weight: '0' });
    expect(w.weights(VS)).toBe(STABLE_ONLY);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(ann()['helm-canary.io/status']).toBe('rolled-back');
    // and status now says so, with nothing to roll back any more
    expect((await w.runAction(op('status'))).outputs.status).toBe('rolled-back');
    const none = await w.runAction(op('rollback'));
    expect(none.code).toBe(1);
    expect(none.log).toMatch(
      /nothing to rollback: .* records no unfinished rollout \(its last rollout is rolled-back\)/,
    );
  });

  it('status with nothing recorded is "none" and writes nothing', async () => {
    w.kube.clearRequests();
    const r = await w.runAction(op('status'));
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('none');
    expect(w.kube.writes()).toEqual([]);
  });

  it('SIGTERM during a bake → 100% on stable within 2 s, then record and uninstall', async () => {
    let proc: ChildProcess | undefined;
    const run = w.runAction({ ...base(), steps: '10@60s,100@60s' }, { onSpawn: (p) => (proc = p) });
    await until(() => /sample-v2=10/.test(w.weights(VS)), 60000);
    const t0 = Date.now();
    proc!.kill('SIGTERM');
    await until(() => w.weights(VS) === STABLE_ONLY, 10000);
    const restoredMs = Date.now() - t0;
    const r = await run;
    console.log(
      `[measure] ${TOOLS}: SIGTERM → 100% on stable: ${restoredMs} ms; action finished after ${Date.now() - t0} ms`,
    );
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.code).toBe(1);
    expect(ann()['helm-canary.io/status']).toBe('rolled-back');
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    // The main step ended (cleanly, after restoring): its post step does nothing.
    w.kube.clearRequests();
    const post = await w.runAction({ ...base(), steps: '10@60s,100@60s' }, { postOf: r.state });
    expect(post.code).toBe(0);
    expect(post.stdout).toBe('');
    // (the gateway stand-in keeps listing routes cluster-wide; the action made no request at all)
    expect(w.kube.requests.filter((q) => q.path.includes('/namespaces/'))).toEqual([]);
  });

  it('main step SIGKILLed mid-bake → the post step restores stable and uninstalls the canary', async () => {
    let proc: ChildProcess | undefined;
    const inputs = { ...base(), steps: '10@60s,100@60s' };
    const run = w.runAction(inputs, { onSpawn: (p) => (proc = p) });
    await until(
      () => /sample-v2=10/.test(w.weights(VS)) && ann()['helm-canary.io/canary-weight'] === '10',
      60000,
    );
    proc!.kill('SIGKILL');
    const main = await run;
    expect(w.weights(VS)).toBe('foolish-penguin-sample=90,sample-v2=10'); // nobody restored it yet
    expect(w.pinnedRoute(VS)).toBeDefined();
    const t0 = Date.now();
    const post = await w.runAction(inputs, { postOf: main.state });
    console.log(
      `[measure] ${TOOLS}: post step after SIGKILL → stable restored, action finished: ${Date.now() - t0} ms`,
    );
    expect(post.log).toMatch(/main step did not end/);
    expect(post.outputs.status).toBe('rolled-back');
    expect(w.weights(VS)).toBe(STABLE_ONLY);
    expect(w.pinnedRoute(VS)).toBeUndefined(); // the killed run's pinned route, removed by its post step
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(ann()['helm-canary.io/status']).toBe('rolled-back');
  });

  it("an operator's kubectl patch to 100% stable mid-bake stops the run; the route stays as they left it", async () => {
    const run = w.runAction({ ...base(), steps: '20@60s,100@60s' });
    await until(
      () => /sample-v2=20/.test(w.weights(VS)) && ann()['helm-canary.io/canary-weight'] === '20',
      60000,
    );
    // (the managed route: helm-canary's pinned route sits in front of it while the run probes)
    const vs = w.vs(VS);
    const managed = w.routeIndex(VS);
    const route = vs.spec.http[managed].route.filter(
      (d: { destination: { host: string } }) => d.destination.host !== 'sample-v2',
    );
    route[0].weight = 100;
    await w.must(
      w.kubectl(
        'patch',
        'virtualservice',
        VS,
        '--type=json',
        '-p',
        JSON.stringify([{ op: 'replace', path: `/spec/http/${managed}/route`, value: route }]),
      ),
    );
    const r = await run;
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toMatch(
      /changed during the step.*field manager "kubectl-patch".*did not write the weights again/,
    );
    expect(w.weights(VS)).toBe(STABLE_ONLY);
    expect(w.vs(VS).spec.http[0].route).toEqual(route); // exactly as the operator left it
    expect(w.pinnedRoute(VS)).toBeUndefined(); // the canary got 0%: pinned route and canary removed
    // it gave the canary 0%, so the canary was removed
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });

  it('a stale record (canary gone, 100% stable) is cleared with a note, not a blocker', async () => {
    await w.must(
      w.kubectl(
        'annotate',
        'virtualservice',
        VS,
        'helm-canary.io/status=progressing',
        'helm-canary.io/canary-release=sample-v1',
        'helm-canary.io/canary-host=sample-v1',
        'helm-canary.io/canary-weight=10',
        'helm-canary.io/stable-host=foolish-penguin-sample',
      ),
    );
    const r = await w.runAction({ ...base(), steps: '50@1s,100@1s' });
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    expect(r.log).toMatch(
      /records a rollout of "sample-v1" .*no longer exists and receives no traffic: the stale record is cleared/,
    );
  });

  it('API 503s while rolling back are retried until the route is restored', async () => {
    const values = w.sampleValues(
      'v2',
      'hello world v2',
      { 'standin.helm-canary/response-headers': 'x-version=v2' },
      ['-status-code=500'],
    );
    const run = w.runAction({
      ...base(),
      'values-files': values,
      steps: '10@60s,100@60s',
      'canary-match': 'header:x-version=v2',
      precheck: '0s', // it must reach 10% to test the restore (the pre-traffic check would stop it first)
    });
    await until(() => ann()['helm-canary.io/canary-weight'] === '10', 60000);
    w.kube.injectFault({
      method: 'PATCH',
      path: new RegExp(`/virtualservices/${VS}$`),
      status: 503,
      count: 3,
    });
    const r = await run;
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.log).toMatch(/Restoring the weights failed \(attempt 1\), retrying/);
    expect(w.weights(VS)).toBe(STABLE_ONLY);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });

  it('a second concurrent run is refused within seconds, naming the holder', async () => {
    let proc: ChildProcess | undefined;
    const run = w.runAction({ ...base(), steps: '10@60s,100@60s' }, { onSpawn: (p) => (proc = p) });
    await until(() => /sample-v2=10/.test(w.weights(VS)), 60000);
    const lease = w.kube.getObject('coordination.k8s.io/v1', 'Lease', 'default', `helm-canary-${VS}`);
    expect(lease.spec.holderIdentity).toBe('https://github.example/acme/shop/actions/runs/42');
    const t0 = Date.now();
    const second = await w.runAction({ ...base(), version: 'v3' }, { env: { GITHUB_RUN_ID: '43' } });
    console.log(`[measure] ${TOOLS}: second run refused after ${Date.now() - t0} ms`);
    expect(second.code).toBe(1);
    expect(second.log).toMatch(/actions\/runs\/42/);
    expect(second.log).toMatch(/lock-timeout/);
    expect((await w.helm('status', 'sample-v3')).code).not.toBe(0);
    expect(w.weights(VS)).toBe('foolish-penguin-sample=90,sample-v2=10'); // the first run's, untouched
    // the first run goes on; cancel it cleanly
    const done = await Promise.race([
      run.then(() => 'ended'),
      new Promise((r) => setTimeout(() => r('running'), 200)),
    ]);
    expect(done).toBe('running');
    proc!.kill('SIGTERM');
    expect((await run).outputs.status).toBe('rolled-back');
    // the lock is released at the end of the first run
    expect(
      w.kube.getObject('coordination.k8s.io/v1', 'Lease', 'default', `helm-canary-${VS}`),
    ).toBeUndefined();
  }, 120000);

  it('a lock left by a dead runner (not renewed) is taken over with a warning', async () => {
    // a MicroTime ten minutes old: far beyond its 60 s duration
    const old = new Date(Date.now() - 10 * 60_000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    const manifest = JSON.stringify({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: `helm-canary-${VS}`, namespace: 'default' },
      spec: {
        holderIdentity: 'https://github.example/acme/shop/actions/runs/7',
        leaseDurationSeconds: 60,
        renewTime: old,
        acquireTime: old,
      },
    });
    const file = path.join(w.dir, 'lease.json');
    fs.writeFileSync(file, manifest);
    await w.must(w.kubectl('create', '-f', file));
    const r = await w.runAction({ ...base(), steps: '50@1s,100@1s' });
    expect(r.code).toBe(0);
    expect(r.log).toMatch(
      /Took over the lock on exciting-lemur-vs from https:\/\/github.example\/acme\/shop\/actions\/runs\/7: it was not renewed for \d+ s/,
    );
    // released at the end
    expect(
      w.kube.getObject('coordination.k8s.io/v1', 'Lease', 'default', `helm-canary-${VS}`),
    ).toBeUndefined();
  });

  it('SIGTERM during verify-command kills the command and restores stable at once', async () => {
    let proc: ChildProcess | undefined;
    const marker = 'sleep 67.25';
    const run = w.runAction(
      { ...base(), steps: '10@1s,100@1s', 'verify-command': `echo checking; ${marker}` },
      { onSpawn: (p) => (proc = p) },
    );
    await until(() => commandsRunning(marker) > 0, 60000);
    const t0 = Date.now();
    proc!.kill('SIGTERM');
    await until(() => w.weights(VS) === STABLE_ONLY, 10000);
    const restoredMs = Date.now() - t0;
    const r = await run;
    console.log(
      `[measure] ${TOOLS}: SIGTERM during verify-command → stable: ${restoredMs} ms, finished ${Date.now() - t0} ms`,
    );
    expect(r.outputs.status).toBe('rolled-back');
    expect(commandsRunning(marker)).toBe(0);
  });

  it('SIGTERM during helm install kills helm; traffic untouched, the release removed', async () => {
    let proc: ChildProcess | undefined;
    const values = w.sampleValues('v2', 'hello world v2', { 'standin.helm-canary/never-ready': 'true' });
    const run = w.runAction(
      { ...base(), 'values-files': values, 'helm-timeout': '120s', steps: '10@1s,100@1s' },
      { onSpawn: (p) => (proc = p) },
    );
    // This world's helm install (its values file is in this world's directory): another suite's
    // helm install of the same release may be running at the same time.
    await until(() => commandsRunning('install sample-v2', values) > 0, 60000);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    proc!.kill('SIGTERM');
    const r = await run;
    console.log(`[measure] ${TOOLS}: SIGTERM during helm install → action finished: ${Date.now() - t0} ms`);
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toMatch(/Traffic was not changed/);
    expect(w.weights(VS)).toBe(STABLE_ONLY);
    expect(commandsRunning('install sample-v2', values)).toBe(0);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });
});

/** Live processes whose command line contains every one of `texts` (zombies have an empty cmdline). */
function commandsRunning(...texts: string[]): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc').filter((d: string) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (texts.every((t) => cmd.includes(t)) && !cmd.includes('jest')) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}
