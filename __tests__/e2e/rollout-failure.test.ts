// E2E: the ways a rollout fails, and how fast traffic goes back to stable.
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

const base = () => ({
  chart: path.join(CHARTS, 'sample'),
  release: 'sample',
  version: 'v2',
  'virtual-service': 'exciting-lemur-vs',
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  // The canary's evidence (81 failure-free responses at 99%) must arrive within short bakes.
  'verify-rps': '100',
  // Short waits (defaults 30s / 2s / 10s).
  precheck: '1s',
  settle: '500ms',
  drain: '1s',
});
const STABLE_ONLY = 'foolish-penguin-sample=100';

describe(`rollout that fails (${TOOLS})`, () => {
  it('canary answering 500 at 10% → rolled back within seconds, canary uninstalled', async () => {
    const values = w.sampleValues(
      'v2',
      'hello world v2',
      { 'standin.helm-canary/response-headers': 'x-version=v2' },
      ['-status-code=500'],
    );
    const stopWatch = w.watchRollback(/sample-v2=[1-9]/, STABLE_ONLY);
    const r = await w.runAction({
      ...base(),
      'values-files': values,
      steps: '10@60s,50@60s,100@60s',
      'canary-match': 'header:x-version=v2',
      // The step-level rollback is what this test measures: without the pre-traffic check (issue 9)
      // the canary gets its 10% (the pinned probes of the step still catch it).
      precheck: '0s',
    });
    const t = stopWatch();
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.outputs.weight).toBe('0');
    expect(r.log).toMatch(
      /::error::helm-canary rolled back: default\/sample, foolish-penguin -> sample-v2, 0\/3 steps passed, last weight 10%.*: canary success rate 0\.0% .*\. All traffic is back on foolish-penguin/,
    );
    expect(w.weights()).toBe(STABLE_ONLY);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(w.vs().metadata.annotations['helm-canary.io/status']).toBe('rolled-back');
    expect(r.summary).toMatch(/Rolled back/);
    // Measured: from the moment the canary got 10% to 100% back on stable.
    expect(t.ms).toBeDefined();
    console.log(
      `[measure] ${TOOLS}: time to rollback (canary 10% → 100% stable), 5 rps, all canary requests 500: ${t.ms} ms`,
    );
    // The step was stopped early, before its 60 s bake was over: the report says so, and it holds
    // fewer probe responses than the 300 the whole bake sends at 5 rps; the later steps never ran.
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));
    expect(report.steps[0]).toMatchObject({ weight: 10, bakeMs: 60000, verdict: 'failed' });
    expect(report.steps[0].reason).toMatch(/^canary success rate 0\.0% .*\(after .* of the 60 s bake\)$/);
    expect(report.steps[0].total.requests).toBeLessThan(300);
    expect(report.steps.slice(1).map((s: { verdict: string }) => s.verdict)).toEqual(['skipped', 'skipped']);
  });

  it('canary 300 ms slower with max-latency 200 → rolled back', async () => {
    const values = w.sampleValues('v2', 'hello world v2', {
      'standin.helm-canary/response-headers': 'x-version=v2',
      'standin.helm-canary/latency-ms': '300',
    });
    const r = await w.runAction({
      ...base(),
      'values-files': values,
      steps: '50@60s,100@10s',
      'max-latency': '200',
      'canary-match': 'header:x-version=v2',
      precheck: '0s', // the step's latency rule is tested (the pre-traffic check would catch it first)
    });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.log).toMatch(/::error::helm-canary rolled back: .*last weight 50%.*(p95|latency|slower)/i);
    expect(w.weights()).toBe(STABLE_ONLY);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));
    expect(report.steps[0].canary.p95Ms).toBeGreaterThanOrEqual(300);
    expect(report.steps[0].stable.p95Ms).toBeLessThan(200);
  });

  it('on-failure: pause leaves the weights and the canary for inspection', async () => {
    const values = w.sampleValues('v2', 'hello world v2', { 'standin.helm-canary/error-rate': '1' });
    const r = await w.runAction({
      ...base(),
      'values-files': values,
      steps: '20@30s,100@5s',
      'canary-match': 'body:v2',
      'on-failure': 'pause',
      precheck: '0s', // a pause needs user weight (the pre-traffic check would roll back)
    });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('paused');
    expect(r.outputs.weight).toBe('20');
    expect(w.weights()).toBe('foolish-penguin-sample=80,sample-v2=20');
    expect((await w.helm('status', 'sample-v2')).code).toBe(0);
    expect(w.vs().metadata.annotations['helm-canary.io/status']).toBe('paused');
    expect(w.pinnedRoute()).toBeUndefined(); // a paused rollout leaves no pinned route
    // A newer version supersedes the paused one: it is rolled back first (saying so), then v3 rolls out.
    const r2 = await w.runAction({ ...base(), version: 'v3', steps: '100@1s' });
    expect(r2.code).toBe(0);
    expect(r2.log).toMatch(
      /Rolling back the unfinished rollout of sample-v2 \(at 20%\) first: it is superseded by sample-v3/,
    );
    expect(r2.outputs.status).toBe('promoted');
    expect(w.weights()).toBe('sample-v3=100');
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });

  it('helm install failing (never-ready Deployment) → traffic untouched, failed, release cleaned', async () => {
    const values = w.sampleValues('v2', 'hello world v2', { 'standin.helm-canary/never-ready': 'true' });
    w.kube.clearRequests();
    const r = await w.runAction({
      ...base(),
      'values-files': values,
      'helm-timeout': '4s',
      steps: '10@1s,100@1s',
    });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toMatch(
      /::error::helm-canary failed: .*helm install of sample-v2 failed: .*Traffic was not changed/s,
    );
    expect(w.weights()).toBe(STABLE_ONLY);
    const vsWrites = w.kube.writes().filter((q) => /virtualservices/.test(q.path));
    expect(vsWrites).toEqual([]);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(w.kube.getObject('apps/v1', 'Deployment', 'default', 'sample-v2')).toBeUndefined();
  });

  it('the run timeout aborts a bake and puts 100% back on stable', async () => {
    // (the timeout must now cover the pre-traffic check and the settle times too: issue 9)
    const r = await w.runAction({
      ...base(),
      steps: '10@2s,50@9s,100@0s',
      timeout: '14s',
      settle: '0s',
    });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.log).toMatch(/::error::.*exceeded its timeout of 14s/);
    expect(w.weights()).toBe(STABLE_ONLY);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });

  it('cancellation (SIGINT from the runner) puts 100% back on stable at once', async () => {
    let proc: ChildProcess | undefined;
    const run = w.runAction({ ...base(), steps: '10@60s,100@60s' }, { onSpawn: (p) => (proc = p) });
    await until(() => /sample-v2=10/.test(w.weights()), 60000);
    const t0 = Date.now();
    proc!.kill('SIGINT');
    const r = await run;
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.log).toMatch(/Received SIGINT/);
    expect(w.weights()).toBe(STABLE_ONLY);
    expect(w.pinnedRoute()).toBeUndefined();
    console.log(
      `[measure] ${TOOLS}: SIGINT → action finished (traffic restored, canary uninstalled): ${Date.now() - t0} ms`,
    );
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });
});

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
