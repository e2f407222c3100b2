// The metrics signal in the step's verdict (withMetrics), with a fake probe verifier and a fake
// Prometheus: either signal failing fails the step, a pass needs both; order of events only.
import { describe, expect, it } from '@jest/globals';
import { withMetrics } from '../../src/metrics/metrics-verifier.js';
import type { IPrometheus } from '../../src/metrics/prometheus-helper.js';
import type { VerifyFn, VerifyRequest } from '../../src/verify/verifier.js';

const total = { requests: 0, good: 0, bad: 0 };
function request(o: Partial<VerifyRequest> = {}): VerifyRequest {
  return {
    step: 0,
    weight: 10,
    bakeMs: 40,
    maxBakeMs: 120,
    signal: new AbortController().signal,
    canaryRelease: 'app-v2',
    progress: () => undefined,
    ...o,
  };
}
/** Probes that pass at the end of the bake (or are cancelled when aborted first). */
const probes: VerifyFn = (r) =>
  new Promise((resolve) => {
    const t = setTimeout(() => resolve({ verdict: 'passed', reason: 'probes passed', total }), r.bakeMs);
    r.signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve({ verdict: 'cancelled', reason: 'stopped', total });
    });
  });
/** Prometheus answering `requests` / `errors` counts for every query of the canary. */
function prom(figures: () => { requests?: number; errors: number }): IPrometheus & { asked: number } {
  const p = {
    where: 'fake',
    asked: 0,
    validate: async () => undefined,
    query: async (q: string) => {
      p.asked++;
      const f = figures();
      const v = q.includes('5..') ? f.errors : q.startsWith('histogram') ? 10 : f.requests;
      return { resultType: 'vector', samples: v === undefined ? [] : [{ metric: {}, value: v }] };
    },
  };
  return p;
}
const settings = (p: IPrometheus, intervalMs = 10) => ({
  prom: p,
  metrics: {
    url: 'x',
    intervalMs,
    metrics: [{ kind: 'builtin' as const, name: 'request-success-rate' as const }],
  },
  thresholds: { successRate: 0.99 },
  targets: () => ({ namespace: 'n', canary: 'app-v2' }),
});

describe('withMetrics', () => {
  it('a conclusive metrics failure stops the probes and fails the step with the figures', async () => {
    let probesStopped = false;
    const inner: VerifyFn = (r) => {
      r.signal.addEventListener('abort', () => (probesStopped = true));
      return probes({ ...r, bakeMs: 10_000 });
    };
    const v = await withMetrics(
      inner,
      settings(prom(() => ({ requests: 20, errors: 6 }))),
    )(request({ bakeMs: 10_000, maxBakeMs: 30_000 }));
    expect(v.verdict).toBe('failed');
    expect(v.reason).toMatch(/^metrics: the canary's success rate is 70(\.0)?% \(6 errors of 20 requests\)/);
    expect(probesStopped).toBe(true);
    expect(v.metrics).toMatchObject({
      verdict: 'failed',
      canary: { requests: 20, errors: 6, p95Ms: 10 },
      custom: [],
    });
    expect(v.metrics?.canary?.query).toMatch(/istio_requests_total\{reporter="destination"/);
  });

  it('a probe failure is the verdict, whatever the metrics say', async () => {
    const inner: VerifyFn = async () => ({ verdict: 'failed', reason: 'probes: canary 500', total });
    const v = await withMetrics(inner, settings(prom(() => ({ requests: 500, errors: 0 }))))(request());
    expect(v).toMatchObject({ verdict: 'failed', reason: 'probes: canary 500' });
  });

  it('passes only when both pass: healthy figures after the bake end', async () => {
    const lines: string[] = [];
    const v = await withMetrics(
      probes,
      settings(prom(() => ({ requests: 500, errors: 0 }))),
    )(request({ progress: (l) => lines.push(l) }));
    expect(v.verdict).toBe('passed');
    expect(v.reason).toMatch(/^probes passed; metrics passed: canary 500 requests, 0 errors, p95 10 ms/);
    expect(lines.at(-1)).toMatch(/^metrics \(bake-end\)/);
  });

  it('no data: extended past the bake, then failed at max-bake naming it', async () => {
    const p = prom(() => ({ requests: undefined, errors: 0 }));
    const lines: string[] = [];
    const v = await withMetrics(probes, settings(p))(request({ progress: (l) => lines.push(l) }));
    expect(v.verdict).toBe('failed');
    expect(v.reason).toMatch(
      /no data for the canary's requests in Prometheus .*not enough evidence at max-bake/,
    );
    expect(lines.some((l) => l.startsWith('metrics (bake-end)') && /no data/.test(l))).toBe(true);
  });

  it('a query error (after the helper retried) fails the step with the query', async () => {
    const p: IPrometheus = {
      where: 'fake',
      validate: async () => undefined,
      query: async (q) => {
        throw new Error(`Prometheus (fake): query ${q} failed: HTTP 503`);
      },
    };
    const v = await withMetrics(probes, settings(p))(request());
    expect(v.verdict).toBe('failed');
    expect(v.reason).toMatch(
      /^metrics: Prometheus \(fake\): query .*istio_requests_total.* failed: HTTP 503/,
    );
  });

  it('the baseline and the pre-traffic check are the probes alone', async () => {
    const p = prom(() => ({ requests: 1, errors: 1 }));
    const v = await withMetrics(probes, settings(p))(request({ phase: 'precheck' }));
    expect(v.verdict).toBe('passed');
    expect(p.asked).toBe(0);
  });
});
