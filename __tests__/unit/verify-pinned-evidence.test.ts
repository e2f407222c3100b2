// Issue 9 verification: pinned probes beside the users' path, settle, the inconclusive extension
// up to max-bake, the baseline of the current stable, and what a failed probe says about the setup.
import { afterAll, beforeAll, describe, it, expect } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  baselineCount,
  observationOf,
  verifyBaseline,
  verifyStep,
  type StepRule,
} from '../../src/verify/step-verifier.js';
import type { StepEvaluation, StepState } from '../../src/verify/analysis.js';
import { describeSetupProblem, problemOf, problemOfCode } from '../../src/verify/diagnose.js';
import type { ProbeResult } from '../../src/verify/prober.js';
import type { VerifySettings } from '../../src/lib/types.js';
import { prng } from '../../src/verify/simulation.js';

// A gateway stand-in: /w/<share>/<canary mode>[/<stable mode>]. A request with `x-canary: app-v2`
// goes to the canary (the pinned route); any other to the canary with probability share% (seeded).
// Modes: healthy (200), broken (500). `x-version` tells the versions apart. `log` records who answered.
let server: http.Server;
let base: string;
const rnd = prng(4242);
const log: Array<{ pinned: boolean; canary: boolean; at: number }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const [, , share, mode, stableMode] = (req.url ?? '').split('/');
    const pinned = req.headers['x-canary'] === 'app-v2';
    const canary = pinned || rnd() < Number(share) / 100;
    log.push({ pinned, canary, at: Date.now() });
    const m = canary ? mode : (stableMode ?? 'healthy');
    res.writeHead(m === 'broken' ? 500 : 200, { 'x-version': canary ? 'canary' : 'stable' });
    res.end(canary ? 'v2' : 'v1');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const header = { kind: 'header' as const, name: 'x-version', value: 'canary' };
const pin = { header: 'x-canary', value: 'app-v2' };

function verify(over: Partial<VerifySettings>): VerifySettings {
  return { headers: {}, statuses: [[200, 299]], rps: 40, timeoutMs: 2000, successRate: 0.99, ...over };
}

describe('pinned and users’ probes in one step', () => {
  it('marks every observation with its source; a pinned one is the canary’s by construction', () => {
    const pinnedOne = { good: true, latencyMs: 3, version: 'stable' as const, pinned: true };
    expect(observationOf(pinnedOne)).toEqual({ good: true, latencyMs: 3, version: 'pinned' });
    // With canary-match the marker still says who answered: a pin that reached the stable.
    expect(observationOf(pinnedOne, true)).toEqual({
      good: true,
      latencyMs: 3,
      version: 'pinned',
      marker: 'stable',
    });
    expect(observationOf({ good: false, latencyMs: 3, version: 'unknown', pinned: false }, true)).toEqual({
      good: false,
      latencyMs: 3,
      version: 'unknown',
    });
  });

  it('a healthy canary at 10% passes with half the probes pinned: the split is the users’ alone', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/10/healthy`, canaryMatch: header }),
      weight: 10,
      bakeMs: 2500,
      maxBakeMs: 10000,
      pin: { ...pin, mode: 'alternate' },
    });
    expect(r.verdict).toBe('passed');
    expect(r.reason).toMatch(/^canary 100\.0% \(\d+\/\d+, \d+ pinned\): evidence for 99\.5% over 94%/);
    expect(r.evidence!.canary.pinned).toBeGreaterThan(r.evidence!.canary.attributed);
    // The users' share of canary responses is near 10%, far from the ~55% pinned probes would make it.
    expect(r.observedCanaryShare).toBeLessThan(0.3);
    expect(r.observedCanaryShare).toBeGreaterThanOrEqual(r.expectedShareRange![0]);
    expect(r.observedCanaryShare).toBeLessThanOrEqual(r.expectedShareRange![1]);
    // Canary figures hold the pinned responses too: more than the users' 10% alone.
    expect(r.canary!.requests).toBeGreaterThan(r.total.requests / 2 - 2);
    expect(r.stable!.requests + r.canary!.requests).toBe(r.total.requests);
  });

  it('a canary failing every request is caught by the pinned probes in a few responses, even at 1%', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/1/broken`, canaryMatch: header }),
      weight: 1,
      bakeMs: 60000,
      pin: { ...pin, mode: 'alternate' },
    });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(
      /^canary success rate 0\.0% \(0\/\d\) \(pinned probes\) is conclusively below 99% \(after/,
    );
    expect(r.total.requests).toBeLessThan(20);
  });

  it('without canary-match users’ responses are never the stable’s; pinned ones give the canary’s figures', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/10/healthy` }),
      weight: 10,
      bakeMs: 1000,
      maxBakeMs: 10000,
      pin: { ...pin, mode: 'alternate' },
    });
    expect(r.verdict).toBe('passed');
    expect(r.stable).toBeUndefined();
    expect(r.canary!.requests).toBeGreaterThan(0);
    expect(r.canary!.requests).toBeLessThan(r.total.requests);
    expect(r.observedCanaryShare).toBeUndefined();
  });

  it('the pre-traffic check pins every probe and reports no split', async () => {
    log.length = 0;
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/0/healthy`, canaryMatch: header }),
      weight: 100,
      bakeMs: 800,
      maxBakeMs: 10000,
      pin: { ...pin, mode: 'all' },
      runCommand: false,
    });
    expect(r.verdict).toBe('passed');
    expect(log.length).toBeGreaterThan(5);
    expect(log.every((q) => q.pinned && q.canary)).toBe(true);
    expect(r.canary!.requests).toBe(r.total.requests);
    expect(r.observedCanaryShare).toBeUndefined();
  });
});

describe('settle', () => {
  it('probes while settling but judges only the responses after it', async () => {
    log.length = 0;
    // Broken for users (stable) while settling would fail at once if those responses were judged:
    // here the stable is broken throughout, so the step must fail — but only after the settle.
    const t0 = Date.now();
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/0/healthy/broken` }),
      weight: 10,
      bakeMs: 60000,
      settleMs: 700,
    });
    expect(r.verdict).toBe('failed');
    expect(r.settlingResponses).toBeGreaterThan(10);
    // Probes were sent from the start, before the settle was over...
    expect(log[0].at - t0).toBeLessThan(500);
    // ...and the judged figures hold none of the settling responses.
    expect(r.total.requests).toBe(log.length - r.settlingResponses!);
  });
});

describe('max-bake: inconclusive evidence at the end of the bake', () => {
  /** A rule that is inconclusive at the end until `after` responses, then decides `verdict`. */
  const ruleUntil =
    (after: number, verdict: 'passed' | 'failed' | 'never'): StepRule =>
    (st: StepState, _s, _w, phase): StepEvaluation => {
      if (phase === 'running') return { verdict: 'continue' };
      if (verdict === 'never' || st.total.requests < after)
        return { verdict: 'extend', reason: `${st.total.requests} responses` };
      return { verdict, reason: `decided on ${st.total.requests} responses` };
    };

  it('a conclusive verdict at the end of the bake is not extended', async () => {
    const lines: string[] = [];
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/0/healthy`, rps: 20 }),
      weight: 10,
      bakeMs: 400,
      maxBakeMs: 5000,
      rule: ruleUntil(0, 'passed'),
      onExtend: (l) => lines.push(l),
    });
    expect(r.verdict).toBe('passed');
    expect(lines).toEqual([]);
    expect(r.extendedMs).toBeUndefined();
  });

  it('keeps probing past the bake while inconclusive; fails when still inconclusive at max-bake', async () => {
    const lines: string[] = [];
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/0/healthy`, rps: 20 }),
      weight: 10,
      bakeMs: 300,
      maxBakeMs: 900,
      rule: ruleUntil(0, 'never'),
      onExtend: (l) => lines.push(l),
    });
    expect(lines).toEqual([expect.stringMatching(/inconclusive at the end of the 0\.3 s bake; probing on/)]);
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(/^the evidence was still inconclusive after .* \(max-bake 0\.9 s\)/);
    expect(r.extendedMs).toBeGreaterThan(400);
    // it went on probing: more responses than the bake alone gives at 20 rps (~7)
    expect(r.total.requests).toBeGreaterThan(10);
  });

  it('passes once the evidence decides past the bake, saying how long past', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/0/healthy`, rps: 20 }),
      weight: 10,
      bakeMs: 300,
      maxBakeMs: 1200,
      rule: ruleUntil(12, 'passed'),
    });
    expect(r.verdict).toBe('passed');
    expect(r.reason).toMatch(/^decided on \d+ responses \(decided .* past the 0\.3 s bake\)$/);
    expect(r.extendedMs).toBeGreaterThan(0);
  });

  it('without max-bake beyond the bake an inconclusive verdict fails at once', async () => {
    const r = await verifyStep({
      verify: verify({ url: `${base}/w/0/healthy`, rps: 20 }),
      weight: 10,
      bakeMs: 300,
      rule: ruleUntil(0, 'never'),
    });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(/still inconclusive/);
  });
});

describe('baseline of the current stable', () => {
  it('probes five seconds’ worth at verify-rps, at most 20', () => {
    expect([baselineCount(5), baselineCount(10), baselineCount(1), baselineCount(0.1)]).toEqual([
      20, 20, 5, 1,
    ]);
  });

  it('passes a healthy stable with the users’ path only (no pinned probe)', async () => {
    log.length = 0;
    const r = await verifyBaseline({ verify: verify({ url: `${base}/w/0/healthy`, rps: 50 }) });
    expect(r.verdict).toBe('passed');
    expect(r.total.requests).toBe(20);
    expect(log.some((q) => q.pinned)).toBe(false);
  });

  it('names a refused connection, without waiting for the whole burst', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await verifyBaseline({ verify: verify({ url: `http://127.0.0.1:${port}/`, rps: 5 }) });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(
      /refused the connection \(ECONNREFUSED, 3 of 3 probes\): check its host and port/,
    );
  });

  it('a stable answering 500 fails it: the stable itself is failing', async () => {
    const r = await verifyBaseline({ verify: verify({ url: `${base}/w/0/healthy/broken`, rps: 50 }) });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(/answers HTTP 500 .* the current stable itself is failing/);
  });

  it('canary-match matching the stable’s responses cannot tell the versions apart', async () => {
    const r = await verifyBaseline({
      verify: verify({ url: `${base}/w/0/healthy`, rps: 50, canaryMatch: { kind: 'body', pattern: /v/ } }),
    });
    expect(r.verdict).toBe('failed');
    expect(r.reason).toMatch(/canary-match \(body:v\) matches 20 of 20 responses of the current stable/);
  });

  it('with nothing live (first deployment) any HTTP answer will do', async () => {
    const r = await verifyBaseline({
      verify: verify({ url: `${base}/w/0/healthy/broken`, rps: 50 }),
      reachabilityOnly: true,
    });
    expect(r.verdict).toBe('passed');
    expect(r.reason).toMatch(/verify-url answers \(HTTP 500\); nothing is live/);
  });
});

describe('what a failed probe says about the setup', () => {
  it('classifies Node error codes', () => {
    expect(
      [
        'ENOTFOUND',
        'EAI_AGAIN',
        'ECONNREFUSED',
        'EHOSTUNREACH',
        'ECONNRESET',
        'ETIMEDOUT',
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'SELF_SIGNED_CERT_IN_CHAIN',
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        'ERR_TLS_CERT_ALTNAME_INVALID',
        'CERT_HAS_EXPIRED',
        'ERR_SSL_WRONG_VERSION_NUMBER',
        'EWHATEVER',
        undefined,
      ].map(problemOfCode),
    ).toEqual([
      'dns',
      'dns',
      'refused',
      'unreachable',
      'reset',
      'timeout',
      'tls-ca',
      'tls-ca',
      'tls-ca',
      'tls-name',
      'tls',
      'tls',
      'network',
      'network',
    ]);
    expect(problemOf({ good: false, failure: 'timeout' })).toBe('timeout');
    expect(problemOf({ good: false, failure: 'status' })).toBe('status');
    expect(problemOf({ good: true })).toBeUndefined();
  });

  const probe = (over: Partial<ProbeResult>): ProbeResult => ({
    at: 0,
    good: false,
    latencyMs: 1,
    version: 'unknown',
    pinned: false,
    ...over,
  });
  const facts = { url: 'https://shop.example.com/healthz', timeoutMs: 5000, ca: false };

  it('names the most frequent problem with its remedy', () => {
    expect(describeSetupProblem([probe({ failure: 'error', code: 'ENOTFOUND' })], facts)).toMatch(
      /host of verify-url https:\/\/shop\.example\.com\/healthz does not resolve \(ENOTFOUND, 1 of 1 probes\)/,
    );
    const tls = [probe({ failure: 'error', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })];
    expect(describeSetupProblem(tls, facts)).toMatch(
      /certificate of shop\.example\.com is not signed by a CA the runner trusts .*: give the CA that signed it with verify-ca/,
    );
    expect(describeSetupProblem(tls, { ...facts, ca: true })).toMatch(
      /does not chain to the CA given in verify-ca/,
    );
    expect(
      describeSetupProblem([probe({ failure: 'error', code: 'ERR_TLS_CERT_ALTNAME_INVALID' })], {
        ...facts,
        host: 'shop.internal',
      }),
    ).toMatch(/presented for shop\.internal is not valid for that name/);
    expect(
      describeSetupProblem([probe({ failure: 'timeout' }), probe({ failure: 'timeout' })], facts),
    ).toMatch(/did not answer within verify-timeout \(5 s; 2 of 2 probes\)/);
    const mixed = [
      probe({ failure: 'status', status: 404 }),
      probe({ failure: 'status', status: 404 }),
      probe({ good: true, status: 200 }),
    ];
    expect(describeSetupProblem(mixed, { ...facts, host: 'shop.example.com' })).toMatch(
      /answers HTTP 404 \(2 of 3 probes\).*check the path of verify-url and verify-host \(the gateway routes by the Host header, here shop\.example\.com\)/,
    );
    expect(describeSetupProblem([probe({ failure: 'body', status: 200 })], facts)).toMatch(
      /do not match verify-body/,
    );
  });
});
