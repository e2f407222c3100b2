import { afterAll, beforeAll, describe, it, expect } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { describeProgress, verifyStep, type StepProgress } from '../../src/verify/step-verifier.js';
import type { VerifySettings } from '../../src/lib/types.js';
import { prng } from '../../src/verify/simulation.js';

// A gateway stand-in: /w/<canary share percent>/<mode> routes each request to "canary" with that
// probability (seeded), marks canary responses with `x-version: canary`; mode "broken" makes every
// canary response a 500, "healthy" answers 200 everywhere, "slow" delays canary responses 80 ms.
let server: http.Server;
let base: string;
const rnd = prng(12345);

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const [, , share, mode] = (req.url ?? '').split('/');
    const canary = rnd() < Number(share) / 100;
    const send = () => {
      if (canary) {
        res.writeHead(mode === 'broken' ? 500 : 200, { 'x-version': 'canary' });
        res.end(mode === 'broken' ? 'boom' : 'ok v2');
      } else {
        res.writeHead(200, { 'x-version': 'stable' });
        res.end('ok v1');
      }
    };
    if (mode === 'slow' && canary) setTimeout(send, 80);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const header = { kind: 'header' as const, name: 'X-Version', value: 'canary' };

function verify(over: Partial<VerifySettings>): VerifySettings {
  return { headers: {}, statuses: [[200, 299]], rps: 10, timeoutMs: 2000, successRate: 0.99, ...over };
}

describe('verifyStep', () => {
  it('fails a canary that fails every request at 10% share long before the bake ends (canary-match)', async () => {
    const t0 = Date.now();
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/10/broken`, canaryMatch: header }),
      weight: 10,
      bakeMs: 60000,
    });
    const took = Date.now() - t0;
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(
      /^canary success rate 0\.0% \(0\/\d+\) is conclusively below 99% \(after .* of the 60 s bake\)$/,
    );
    expect(r.stoppedEarly).toBe(true);
    expect(took).toBeLessThan(20000);
    expect(r.canary?.bad).toBeGreaterThanOrEqual(3);
    expect(r.stable?.bad).toBe(0);
    expect(r.total.requests).toBe(r.canary!.requests + r.stable!.requests);
    expect(r.samples.length).toBeGreaterThanOrEqual(1);
  });

  it('fails the same canary from the aggregate error rate without canary-match', async () => {
    const t0 = Date.now();
    const r = await verifyStep({ verify: verify({ url: `${base}/w/10/broken` }), weight: 10, bakeMs: 60000 });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(/^success rate of all responses .* is conclusively below 99%/);
    expect(Date.now() - t0).toBeLessThan(30000);
    expect(r.canary).toBeUndefined();
    expect(r.observedCanaryShare).toBeUndefined();
  });

  it('passes a healthy service after a 3 s bake, reporting progress and the split', async () => {
    const progress: StepProgress[] = [];
    const t0 = Date.now();
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/25/healthy`, canaryMatch: header, rps: 20 }),
      weight: 25,
      bakeMs: 3000,
      progressEveryMs: 1000,
      onProgress: (p) => progress.push(p),
    });
    const took = Date.now() - t0;
    expect(r.verdict).toBe('passed');
    expect(r.stoppedEarly).toBe(false);
    expect(took).toBeGreaterThanOrEqual(2900);
    expect(took).toBeLessThan(15000);
    expect(r.total.requests).toBeGreaterThanOrEqual(30);
    expect(r.total.bad).toBe(0);
    expect(r.total.p95Ms).toBeDefined();
    expect(r.reason).toMatch(/^success rate canary 100\.0% .* meets 99%; canary share .* for weight 25%$/);
    expect(r.observedCanaryShare).toBeGreaterThan(0.05);
    expect(r.expectedShareRange![0]).toBeLessThan(0.25);
    expect(r.expectedShareRange![1]).toBeGreaterThan(0.25);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0]).toMatchObject({ weight: 25, bakeMs: 3000 });
    expect(progress[0].canary).toBeDefined();
    expect(r.samples.at(-1)).toMatchObject({ weight: 25, canarySuccess: 1 });
    expect(new Date(r.endedAt).getTime()).toBeGreaterThanOrEqual(new Date(r.startedAt).getTime());
  });

  it('fails a gateway that ignores the weights (no canary responses at weight 50)', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/0/healthy`, canaryMatch: header, rps: 50 }),
      weight: 50,
      bakeMs: 30000,
    });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(
      /^observed canary share 0\.0% \(0\/\d+\) is outside the expected .* for weight 50%/,
    );
    expect(r.observedCanaryShare).toBe(0);
    expect(r.stoppedEarly).toBe(true);
  });

  it('fails on p95 latency of the canary', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/50/slow`, canaryMatch: header, rps: 50, maxLatencyMs: 40 }),
      weight: 50,
      bakeMs: 30000,
    });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(/^canary p95 latency is conclusively above 40 ms/);
  });

  it('can be cancelled while probing', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/10/healthy` }),
      weight: 10,
      bakeMs: 60000,
      signal: ac.signal,
    });
    expect(r.verdict).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('fails with a reason when the URL cannot be probed', async () => {
    const r = await verifyStep({ verify: verify({ url: 'ftp://nope/' }), weight: 10, bakeMs: 1000 });
    expect(r).toMatchObject({ verdict: 'failed', reason: expect.stringMatching(/^cannot probe: /) });
  });

  it('without a URL just waits the bake time (abortable)', async () => {
    const t0 = Date.now();
    const r = await verifyStep({ verify: verify({}), weight: 10, bakeMs: 200 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(r).toMatchObject({ verdict: 'passed', total: { requests: 0 } });
    expect(r.reason).toMatch(/no HTTP verification was configured/);

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t1 = Date.now();
    const c = await verifyStep({ verify: verify({}), weight: 10, bakeMs: 60000, signal: ac.signal });
    expect(c.verdict).toBe('cancelled');
    expect(Date.now() - t1).toBeLessThan(5000);
  });

  it('runs the verify-command after the bake with the facts in its environment', async () => {
    const facts = { canaryRelease: 'web-v2', stableRelease: 'web-v1', namespace: 'shop' };
    const ok = await verifyStep({
      verify: verify({
        command:
          'test "$CANARY_WEIGHT" = 25 && test "$CANARY_RELEASE" = web-v2 && test "$STABLE_RELEASE" = web-v1 && test "$NAMESPACE" = shop',
      }),
      weight: 25,
      bakeMs: 10,
      facts,
    });
    expect(ok.verdict).toBe('passed');
    expect(ok.reason).toMatch(/verify-command succeeded$/);
    expect(ok.command?.exitCode).toBe(0);

    const bad = await verifyStep({
      verify: verify({ url: `${base}/w/10/healthy`, command: 'echo "smoke test failed: cart" >&2; exit 3' }),
      weight: 10,
      bakeMs: 500,
      facts,
    });
    expect(bad.verdict).toBe('failed');
    expect(bad.reason).toBe('verify-command exited with code 3: smoke test failed: cart');
    expect(bad.total.requests).toBeGreaterThan(0);
  });

  it('a cancel during the verify-command stops it and makes the step cancelled', async () => {
    const marker = path.join(os.tmpdir(), `helm-canary-step-cancel-${process.pid}`);
    fs.rmSync(marker, { force: true });
    const ac = new AbortController();
    const pending = verifyStep({
      verify: verify({ command: `touch ${marker}; sleep 300; echo never` }),
      weight: 10,
      bakeMs: 10,
      signal: ac.signal,
    });
    while (!fs.existsSync(marker)) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    const r = await pending;
    fs.rmSync(marker, { force: true });
    expect(r.verdict).toBe('cancelled');
    expect(r.reason).toBe('verify-command was stopped: the run was cancelled');
    expect(r.command).toMatchObject({ cancelled: true, timedOut: false });
    expect(r.command?.outputTail).not.toContain('never');
  }, 30_000);

  it('does not run the verify-command when probing failed', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/100/broken`, canaryMatch: header, command: 'exit 0' }),
      weight: 100,
      bakeMs: 30000,
    });
    expect(r.verdict).toBe('failed');
    expect(r.command).toBeUndefined();
  });
});

describe('describeProgress', () => {
  it('renders one line with figures only', () => {
    expect(
      describeProgress({
        elapsedMs: 12000,
        bakeMs: 60000,
        weight: 10,
        total: { requests: 60, good: 60, bad: 0, p50Ms: 10, p95Ms: 23.4 },
        canary: { requests: 6, good: 6, bad: 0 },
        stable: { requests: 54, good: 54, bad: 0 },
        observedCanaryShare: 0.1,
        expectedShareRange: [0, 0.302],
      }),
    ).toBe(
      '12 s of 60 s at weight 10%: canary 6/6 good (100.0%), stable 54/54 good (100.0%), ' +
        'canary share 10.0% (expected 0.0%–30.2%), p95 23 ms',
    );
    expect(
      describeProgress({ elapsedMs: 500, bakeMs: 3000, weight: 50, total: { requests: 0, good: 0, bad: 0 } }),
    ).toBe('0.5 s of 3 s at weight 50%: all no responses');
  });
});
