import { afterAll, afterEach, beforeAll, describe, it, expect, jest } from '@jest/globals';
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
// `hits` counts the requests it received.
let server: http.Server;
let base: string;
let hits = 0;
const rnd = prng(12345);

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
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

afterEach(() => {
  jest.useRealTimers();
});

/**
 * Fake clock for the step: its bake timer, progress timer, the prober's ticks and clock
 * (performance.now) and Date all follow jest's clock, moved only by the test. The HTTP exchange
 * with the local server stays real I/O (process.nextTick and setImmediate are not faked).
 */
function fakeClock(): void {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const ms = (r: { startedAt: string; endedAt: string }) => Date.parse(r.endedAt) - Date.parse(r.startedAt);

const header = { kind: 'header' as const, name: 'X-Version', value: 'canary' };

function verify(over: Partial<VerifySettings>): VerifySettings {
  return { headers: {}, statuses: [[200, 299]], rps: 10, timeoutMs: 2000, successRate: 0.99, ...over };
}

describe('verifyStep', () => {
  it('fails a canary that fails every request at 10% share long before the bake ends (canary-match)', async () => {
    const before = hits;
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/10/broken`, canaryMatch: header }),
      weight: 10,
      bakeMs: 60000,
    });
    await pause(50); // requests already on the wire reach the server
    const sent = hits - before;
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(
      /^canary success rate 0\.0% \(0\/\d+\) is conclusively below 99% \(after .* of the 60 s bake\)$/,
    );
    expect(r.stoppedEarly).toBe(true);
    // Stopped early: fewer requests than the 60 s bake at 10 rps sends (600), and none after the
    // verdict (the prober is stopped, not just ignored).
    expect(sent).toBeLessThan(600);
    await pause(300); // at 10 rps a prober still running would send ~3 more
    expect(hits - before).toBe(sent);
    expect(r.canary?.bad).toBeGreaterThanOrEqual(2); // the fast guard: 2 failures in a row at 99%
    expect(r.stable?.bad).toBe(0);
    expect(r.total.requests).toBe(r.canary!.requests + r.stable!.requests);
    expect(r.samples.length).toBeGreaterThanOrEqual(1);
  });

  it('fails the same canary from the aggregate error rate without canary-match', async () => {
    const before = hits;
    const r = await verifyStep({ verify: verify({ url: `${base}/w/10/broken` }), weight: 10, bakeMs: 60000 });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(
      /^success rate of the users' path .* without a version\) is conclusively below 99%/,
    );
    // Stopped early, before the 60 s bake (600 requests at 10 rps) was over.
    expect(r.reason).toMatch(/\(after .* of the 60 s bake\)$/);
    expect(r.stoppedEarly).toBe(true);
    expect(hits - before).toBeLessThan(600);
    expect(r.canary).toBeUndefined();
    expect(r.observedCanaryShare).toBeUndefined();
  });

  it('passes a healthy canary after a 3 s bake, not before, reporting progress, the split and the evidence', async () => {
    fakeClock();
    const progress: StepProgress[] = [];
    const before = hits;
    let settled = false;
    const run = verifyStep({
      // A request timeout beyond the bake: however slow the machine, no fake timeout fires.
      verify: verify({ url: `${base}/w/50/healthy`, canaryMatch: header, rps: 100, timeoutMs: 60000 }),
      weight: 50,
      bakeMs: 3000,
      progressEveryMs: 1000,
      onProgress: (p) => progress.push(p),
    }).finally(() => (settled = true));
    await jest.advanceTimersByTimeAsync(2999);
    expect(settled).toBe(false); // still baking 1 ms before the end of the bake
    await jest.advanceTimersByTimeAsync(1);
    const r = await run; // the requests in flight drain over real I/O; the fake clock stands at 3 s
    expect(r.verdict).toBe('passed');
    expect(r.stoppedEarly).toBe(false);
    expect(ms(r)).toBe(3000);
    // The whole bake was probed: one request every 10 ms from 0 to 2990 ms, each one answered.
    expect(hits - before).toBe(300);
    expect(r.total.requests).toBe(300);
    expect(progress.slice(0, 2).map((p) => p.elapsedMs)).toEqual([1000, 2000]);
    expect(r.total.bad).toBe(0);
    expect(r.total.p95Ms).toBeDefined();
    // No pinned probes here: the canary's evidence is its ~150 attributed responses of the users'
    // 300 (the sequential test passes 99.5% over 94% from 81 failure-free responses on).
    expect(r.reason).toMatch(
      /^canary 100\.0% \(\d+\/\d+, 0 pinned\): evidence for 99\.5% over 94% \(sequential test\); users' path 100\.0% \(300\/300\), stable 100\.0% .* meet 99%; canary share .* for weight 50%$/,
    );
    expect(r.evidence?.canary).toMatchObject({ pinned: 0, failures: 0, decision: 'pass' });
    expect(r.observedCanaryShare).toBeGreaterThan(0.05);
    expect(r.expectedShareRange![0]).toBeLessThan(0.5);
    expect(r.expectedShareRange![1]).toBeGreaterThan(0.5);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0]).toMatchObject({ weight: 50, bakeMs: 3000 });
    expect(progress[0].canary).toBeDefined();
    expect(r.samples.at(-1)).toMatchObject({ weight: 50, canarySuccess: 1 });
    expect(jest.getTimerCount()).toBe(0); // bake, progress, prober and request timers all cleared
  });

  it('fails a gateway that ignores the weights (no canary responses at weight 50)', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/0/healthy`, canaryMatch: header, rps: 50 }),
      weight: 50,
      bakeMs: 30000,
    });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(
      /^the gateway does not apply the weights: canary share 0\.0% \(0\/\d+ attributed unpinned responses\) is outside the expected .* for weight 50%/,
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

  it('can be cancelled while probing: the abort, not the bake, ends it', async () => {
    fakeClock();
    const ac = new AbortController();
    const events: string[] = [];
    const run = verifyStep({
      verify: verify({ url: `${base}/w/10/healthy`, timeoutMs: 60000 }),
      weight: 10,
      bakeMs: 60000,
      signal: ac.signal,
    }).finally(() => events.push('settled'));
    await jest.advanceTimersByTimeAsync(1500);
    expect(events).toEqual([]); // probing, 58.5 s of bake to go
    events.push('abort');
    ac.abort();
    // The fake clock does not move from here: the bake timer cannot fire, only the abort can end it.
    const r = await run;
    expect(events).toEqual(['abort', 'settled']);
    expect(r).toMatchObject({
      verdict: 'cancelled',
      reason: 'verification was cancelled after 1.5 s',
      stoppedEarly: true,
    });
    expect(ms(r)).toBe(1500);
    expect(jest.getTimerCount()).toBe(0); // nothing left running: no more probes, no bake timer
  });

  it('a step with no bake time sends no probe and says it was not verified', async () => {
    const before = hits;
    const r = await verifyStep({ verify: verify({ url: `${base}/w/100/broken` }), weight: 100, bakeMs: 0 });
    expect(r).toMatchObject({ verdict: 'passed', total: { requests: 0 } });
    expect(r.reason).toBe('no bake time at this weight (0 s): not verified here');
    expect(hits).toBe(before);
  });

  it('fails with a reason when the URL cannot be probed', async () => {
    const r = await verifyStep({ verify: verify({ url: 'ftp://nope/' }), weight: 10, bakeMs: 1000 });
    expect(r).toMatchObject({ verdict: 'failed', reason: expect.stringMatching(/^cannot probe: /) });
  });

  it('without a URL just waits the bake time (abortable)', async () => {
    fakeClock();
    let settled = false;
    const run = verifyStep({ verify: verify({}), weight: 10, bakeMs: 200 }).finally(() => (settled = true));
    await jest.advanceTimersByTimeAsync(199);
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    const r = await run;
    expect(r).toMatchObject({ verdict: 'passed', total: { requests: 0 }, stoppedEarly: false });
    expect(r.reason).toMatch(/no HTTP verification was configured/);
    expect(ms(r)).toBe(200);

    const ac = new AbortController();
    const events: string[] = [];
    const cancelled = verifyStep({
      verify: verify({}),
      weight: 10,
      bakeMs: 60000,
      signal: ac.signal,
    }).finally(() => events.push('settled'));
    await jest.advanceTimersByTimeAsync(1500);
    expect(events).toEqual([]);
    events.push('abort');
    ac.abort();
    const c = await cancelled; // with the fake clock standing at 1.5 s of the 60 s bake
    expect(events).toEqual(['abort', 'settled']);
    expect(c).toMatchObject({
      verdict: 'cancelled',
      reason: 'verification was cancelled after 1.5 s',
      stoppedEarly: true,
    });
    expect(jest.getTimerCount()).toBe(0);
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
      verify: verify({
        url: `${base}/w/100/healthy`,
        canaryMatch: header,
        rps: 100,
        command: 'echo "smoke test failed: cart" >&2; exit 3',
      }),
      weight: 100,
      bakeMs: 1200,
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
