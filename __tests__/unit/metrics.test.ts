// Metrics analysis, pure parts and the helpers with fakes: the metrics inputs, the built-in
// queries, reading Prometheus answers, the verdict, the Prometheus helper (fake transport and
// fake kubectl) and the preflight validation.
import { describe, expect, it } from '@jest/globals';
import { parseInputs, InputError } from '../../src/input-helper.js';
import { judgeMetrics, type MetricsFigures } from '../../src/metrics/metrics-analysis.js';
import {
  allQueries,
  collectMetrics,
  deploymentNames,
  metricsPreflight,
  thresholdsFor,
} from '../../src/metrics/metrics-helper.js';
import {
  createPrometheus,
  HARMLESS_TIME_S,
  serviceProxyPrefix,
  type RawAnswer,
} from '../../src/metrics/prometheus-helper.js';
import {
  asCount,
  parseQueryData,
  promDuration,
  renderQuery,
  singleValue,
  unknownPlaceholders,
  versionQueries,
} from '../../src/metrics/queries.js';
import { undecodableBody } from '../../src/kube/kubectl-helper.js';
import { PROMETHEUS_MISSING, prometheusBinary, prometheusConfig } from '../../standins/prometheus.js';
import type { MetricsSettings } from '../../src/lib/types.js';

const base = (): Record<string, string> => ({
  chart: 'repo/app',
  release: 'my-app',
  'virtual-service': 'my-app',
});
const env = { sha: '0123456789abcdef', cwd: process.cwd() };
function problems(raw: Record<string, string>): string[] {
  try {
    parseInputs(raw, env);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as InstanceType<typeof InputError>).problems;
  }
  throw new Error('no input error');
}

describe('metrics inputs', () => {
  it('metrics alone count as verification; the settings carry url, metrics, interval and the token', () => {
    const s = parseInputs(
      {
        ...base(),
        'prometheus-url': 'https://user:pw-SECRET@prom.example.com',
        'prometheus-token': 'tok-SECRET',
        metrics:
          '- request-success-rate\n- name: request-duration\n- name: q\n  query: sum(x{ns="{{ namespace }}"}[{{ interval }}])\n  max: 5',
        'metrics-interval': '1m',
        'success-rate': '95',
      },
      env,
    );
    expect(s.metrics).toEqual({
      url: 'https://user:pw-SECRET@prom.example.com',
      intervalMs: 60_000,
      token: 'tok-SECRET',
      metrics: [
        { kind: 'builtin', name: 'request-success-rate' },
        { kind: 'builtin', name: 'request-duration' },
        { kind: 'custom', name: 'q', query: 'sum(x{ns="{{ namespace }}"}[{{ interval }}])', max: 5 },
      ],
    });
    expect(s.secrets.redact('tok-SECRET pw-SECRET')).not.toMatch(/SECRET/);
    // success-rate is the built-in's threshold: no "has no effect without verify-url" warning for it
    expect((s.warnings ?? []).join('\n')).not.toMatch(/success-rate/);
  });

  it('metrics without prometheus-url, and no verification at all, are input errors naming the input', () => {
    expect(problems({ ...base(), metrics: '- request-success-rate' })).toEqual(
      [
        "Input 'prometheus-url': is empty but 'metrics' is set: the metrics need a Prometheus to query; " +
          expect.any(String),
      ].map(() => expect.stringMatching(/^Input 'prometheus-url': is empty but 'metrics' is set/)),
    );
    expect(problems(base())[0]).toMatch(/'verify-command' or 'metrics' \(with 'prometheus-url'\)/);
  });

  it('rejects bad metric entries with clear reasons', () => {
    const bad = (metrics: string) =>
      problems({ ...base(), 'prometheus-url': 'http://prom:9090', metrics }).join('\n');
    expect(bad('not: [a list')).toMatch(/Input 'metrics': is not valid YAML/);
    expect(bad('request-success-rate')).toMatch(/is not a non-empty YAML list/);
    expect(bad('- request-rate')).toMatch(/entry 1 \("request-rate"\) is not a built-in/);
    expect(bad('- name: q\n  query: up')).toMatch(/entry 1 \("q"\) needs min or max/);
    expect(bad('- name: q\n  query: up{x="{{ pod }}"}\n  max: 1')).toMatch(
      /unknown placeholders \{\{ pod \}\}/,
    );
    expect(bad('- name: q\n  query: up\n  min: 2\n  max: 1')).toMatch(/min above max/);
    expect(bad('- name: q\n  query: up\n  max: "a"')).toMatch(/max that is not a number/);
    expect(bad('- name: q\n  qurey: up\n  max: 1')).toMatch(/unknown keys "qurey"/);
    expect(bad('- request-duration\n- request-duration')).toMatch(
      /entry 2 \("request-duration"\) is given twice/,
    );
  });

  it('checks prometheus-url and metrics-interval', () => {
    const p = (extra: Record<string, string>) =>
      problems({
        ...base(),
        metrics: '- request-success-rate',
        'prometheus-url': 'http://p:9090',
        ...extra,
      }).join('\n');
    expect(p({ 'prometheus-url': 'k8s://monitoring' })).toMatch(
      /Input 'prometheus-url': "k8s:\/\/monitoring" is not k8s:\/\/NAMESPACE\/SERVICE:PORT/,
    );
    expect(p({ 'prometheus-url': 'ftp://x' })).toMatch(/Input 'prometheus-url': "ftp:\/\/x"/);
    expect(p({ 'metrics-interval': '500ms' })).toMatch(
      /Input 'metrics-interval': "500ms" is shorter than 1s/,
    );
    const k8s = parseInputs(
      { ...base(), metrics: '- request-success-rate', 'prometheus-url': 'k8s://monitoring/prometheus:9090/' },
      env,
    );
    expect(k8s.metrics?.url).toBe('k8s://monitoring/prometheus:9090');
    expect(k8s.metrics?.intervalMs).toBe(30_000);
  });
});

describe('queries (pure)', () => {
  it('the built-ins select one workload and reporter, as exact counts over the window', () => {
    const q = versionQueries({
      workload: 'app-v2',
      namespace: 'shop',
      window: '30s',
      reporter: 'destination',
      maxLatencyMs: 300,
    });
    const sel =
      '{reporter="destination",destination_workload_namespace="shop",destination_workload="app-v2"}';
    expect(q.requests).toBe(
      `(sum(istio_requests_total${sel}) - (sum(istio_requests_total${sel} offset 30s) or on() vector(0)))`,
    );
    expect(q.errors).toContain('response_code=~"5.."');
    expect(q.errors).toMatch(/or on\(\) vector\(0\)$/);
    expect(q.p95).toMatch(/^histogram_quantile\(0\.95, sum by \(le\)/);
    // 300 ms is no Istio bucket bound: the next one above, 500
    expect(q.fastBoundMs).toBe(500);
    expect(q.fast).toContain('le="500"');
    expect(
      versionQueries({ workload: 'a', namespace: 'n', window: '1s', reporter: 'source' }).fast,
    ).toBeUndefined();
    expect(
      versionQueries({ workload: 'a"b', namespace: 'n', window: '1s', reporter: 'source' }).requests,
    ).toContain('destination_workload="a\\"b"');
  });

  it('renders placeholders and finds unknown ones', () => {
    expect(
      renderQuery('{{namespace}}/{{ canary }}/{{ stable }}[{{ interval }}]', {
        namespace: 'n',
        canary: 'c',
        stable: 's',
        interval: '30s',
      }),
    ).toBe('n/c/s[30s]');
    expect(unknownPlaceholders('{{ canary }} {{ pod }}')).toEqual(['pod']);
    expect(promDuration(30_000)).toBe('30s');
    expect(promDuration(200)).toBe('1s');
  });

  it('reads vectors and scalars; empty, NaN and Inf are no data; several series are an error', () => {
    expect(
      singleValue(parseQueryData({ resultType: 'vector', result: [{ metric: {}, value: [1, '42'] }] })),
    ).toBe(42);
    expect(singleValue(parseQueryData({ resultType: 'scalar', result: [1, '7'] }))).toBe(7);
    expect(singleValue(parseQueryData({ resultType: 'vector', result: [] }))).toBeUndefined();
    expect(
      singleValue(parseQueryData({ resultType: 'vector', result: [{ metric: {}, value: [1, 'NaN'] }] })),
    ).toBeUndefined();
    expect(singleValue(parseQueryData({ resultType: 'scalar', result: [1, '+Inf'] }))).toBeUndefined();
    expect(() =>
      singleValue(
        parseQueryData({ resultType: 'vector', result: [{ value: [1, '1'] }, { value: [1, '2'] }] }),
      ),
    ).toThrow(/2 series; aggregate/);
    expect(() => parseQueryData({ resultType: 'matrix', result: [] })).toThrow(/matrix, not one value/);
    expect(asCount(9.6)).toBe(10);
    expect(asCount(-3)).toBe(0);
    expect(asCount(undefined)).toBeUndefined();
  });
});

describe('judgeMetrics (pure)', () => {
  const fig = (
    canary?: Partial<MetricsFigures['canary']>,
    extra: Partial<MetricsFigures> = {},
  ): MetricsFigures => ({
    canary: canary ? { queries: ['Q'], ...canary } : undefined,
    custom: [],
    ...extra,
  });
  const sr = { successRate: 0.99 };

  it('a 30%-failing canary fails while running, on its counts', () => {
    const v = judgeMetrics(fig({ requests: 20, errors: 6 }), sr, 'running');
    expect(v.verdict).toBe('failed');
    expect(v.reason).toMatch(/canary's success rate is 70(\.0)?% \(6 errors of 20 requests\), below 99/);
  });

  it('a healthy canary: continue while running, passes with enough evidence, extends without', () => {
    expect(judgeMetrics(fig({ requests: 400, errors: 0 }), sr, 'running').verdict).toBe('continue');
    expect(judgeMetrics(fig({ requests: 400, errors: 0 }), sr, 'bake-end').verdict).toBe('passed');
    const few = judgeMetrics(fig({ requests: 10, errors: 0 }), sr, 'bake-end');
    expect(few.verdict).toBe('extend');
    expect(few.reason).toMatch(/10 requests are not enough evidence/);
    expect(judgeMetrics(fig({ requests: 10, errors: 0 }), sr, 'max-bake').verdict).toBe('failed');
  });

  it('no data is never a pass: inconclusive at the bake end, a failure naming it at max-bake', () => {
    expect(judgeMetrics(fig({}), sr, 'running').verdict).toBe('continue');
    expect(judgeMetrics(fig({}), sr, 'bake-end')).toMatchObject({
      verdict: 'extend',
      reason: expect.stringMatching(/no data for the canary/),
    });
    const end = judgeMetrics(fig({}), sr, 'max-bake');
    expect(end.verdict).toBe('failed');
    expect(end.reason).toMatch(/no data for the canary's requests in Prometheus \(query Q\)/);
    const custom = fig(undefined, { custom: [{ name: 'q', query: 'up', max: 1 }] });
    expect(judgeMetrics(custom, {}, 'bake-end').verdict).toBe('extend');
    expect(judgeMetrics(custom, {}, 'max-bake').reason).toMatch(
      /not enough evidence at max-bake: no data for metric "q"/,
    );
  });

  it('the stable fails only when conclusively below; custom bounds; latency from the slow count', () => {
    const stableBad = judgeMetrics(
      fig({ requests: 400, errors: 0 }, { stable: { queries: [], requests: 100, errors: 30 } }),
      sr,
      'running',
    );
    expect(stableBad.reason).toMatch(/stable's success rate/);
    expect(
      judgeMetrics(
        fig({ requests: 400, errors: 0 }, { stable: { queries: [], requests: 100, errors: 1 } }),
        sr,
        'bake-end',
      ).verdict,
    ).toBe('passed');
    const over = judgeMetrics(
      fig(undefined, { custom: [{ name: 'q', query: 'up', max: 1, value: 3 }] }),
      {},
      'running',
    );
    expect(over.reason).toBe('metrics: "q" is 3, above its max 1 (query up)');
    expect(
      judgeMetrics(fig(undefined, { custom: [{ name: 'q', query: 'up', min: 5, value: 3 }] }), {}, 'running')
        .reason,
    ).toMatch(/below its min 5/);
    expect(
      judgeMetrics(fig(undefined, { custom: [{ name: 'q', query: 'up', max: 5, value: 3 }] }), {}, 'bake-end')
        .verdict,
    ).toBe('passed');
    const slow = judgeMetrics(
      fig({ requests: 40, errors: 0, slow: 30, p95Ms: 812 }),
      { maxLatencyMs: 300 },
      'running',
    );
    expect(slow.reason).toMatch(/canary's p95 latency is 812 ms \(30 of 40 requests slower than 300 ms\)/);
    expect(
      judgeMetrics(fig({ requests: 40, errors: 0, slow: 1, p95Ms: 200 }), { maxLatencyMs: 300 }, 'bake-end')
        .verdict,
    ).toBe('passed');
  });
});

describe('Prometheus helper (fake transport / fake kubectl)', () => {
  const ok = (value: string): RawAnswer => ({
    status: 200,
    body: JSON.stringify({
      status: 'success',
      data: { resultType: 'vector', result: [{ metric: {}, value: [1, value] }] },
    }),
  });

  it('queries /api/v1/query with the PromQL and time; retries 5xx and unreachable with backoff, not 4xx', async () => {
    const paths: string[] = [];
    const sleeps: number[] = [];
    const answers: RawAnswer[] = [
      { status: 503, body: 'busy' },
      { status: 0, body: '', error: 'ECONNREFUSED' },
      ok('5'),
    ];
    const prom = createPrometheus({
      url: 'http://p',
      transport: async (p) => (paths.push(p), answers.shift()!),
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect((await prom.query('sum(up)', 123)).samples[0].value).toBe(5);
    expect(paths).toHaveLength(3);
    expect(new URLSearchParams(paths[0].split('?')[1]).get('query')).toBe('sum(up)');
    expect(paths[0]).toMatch(/^\/api\/v1\/query\?.*time=123/);
    expect(sleeps).toEqual([500, 1000]);

    let calls = 0;
    const bad = createPrometheus({
      url: 'http://p',
      transport: async () => (
        calls++,
        {
          status: 400,
          body: JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error' }),
        }
      ),
      sleep: async () => undefined,
    });
    await expect(bad.validate('sum(')).rejects.toThrow(
      'Prometheus (http://p): query sum( failed: bad_data: parse error (HTTP 400)',
    );
    expect(calls).toBe(1);

    const down = createPrometheus({
      url: 'http://p',
      transport: async () => ({ status: 0, body: '', error: 'ECONNREFUSED' }),
      sleep: async () => undefined,
    });
    await expect(down.query('up')).rejects.toThrow(/query up failed: unreachable: ECONNREFUSED/);
  });

  it('validate() asks at a harmless time', async () => {
    let path = '';
    await createPrometheus({ url: 'http://p', transport: async (p) => ((path = p), ok('1')) }).validate('up');
    expect(new URLSearchParams(path.split('?')[1]).get('time')).toBe(String(HARMLESS_TIME_S));
  });

  it('k8s:// goes through kubectl get --raw of the service proxy; the reason gives the status', async () => {
    expect(serviceProxyPrefix('k8s://monitoring/prometheus:9090')).toBe(
      '/api/v1/namespaces/monitoring/services/prometheus:9090/proxy',
    );
    expect(serviceProxyPrefix('k8s://monitoring/prometheus')).toBe(
      '/api/v1/namespaces/monitoring/services/prometheus/proxy',
    );
    expect(serviceProxyPrefix('http://x')).toBeUndefined();
    const raws: string[] = [];
    let n = 0;
    const kubectl = {
      getRaw: async (p: string) => {
        raws.push(p);
        return n++ === 0
          ? {
              ok: false,
              body: '',
              error:
                'Error from server (ServiceUnavailable): no endpoints available for service "prometheus"',
            }
          : { ok: true, body: ok('2').body };
      },
    };
    const prom = createPrometheus({
      url: 'k8s://monitoring/prometheus:9090',
      kubectl,
      sleep: async () => undefined,
    });
    expect((await prom.query('up')).samples[0].value).toBe(2);
    expect(raws[0]).toMatch(
      /^\/api\/v1\/namespaces\/monitoring\/services\/prometheus:9090\/proxy\/api\/v1\/query\?query=up$/,
    );
    expect(raws).toHaveLength(2);
  });

  it('basic auth from the URL and a bearer token never appear in where', () => {
    expect(createPrometheus({ url: 'https://u:pw@p.example.com/' }).where).toBe('https://p.example.com/');
  });
});

describe('metrics helper (fake Prometheus)', () => {
  const m: MetricsSettings = {
    url: 'http://p',
    intervalMs: 30_000,
    metrics: [
      { kind: 'builtin', name: 'request-success-rate' },
      { kind: 'custom', name: 'q', query: 'sum(x{w="{{ canary }}"})', max: 1 },
    ],
  };

  it('falls back to the gateway series when the workload has no sidecar series', async () => {
    const asked: string[] = [];
    const prom = {
      where: 'fake',
      validate: async () => undefined,
      query: async (q: string) => {
        asked.push(q);
        const v = q.includes('reporter="destination"')
          ? undefined
          : q.includes('5..')
            ? 3
            : q.startsWith('histogram')
              ? 12
              : 50;
        return { resultType: 'vector', samples: v === undefined ? [] : [{ metric: {}, value: v }] };
      },
    };
    const f = await collectMetrics(
      prom,
      m,
      { namespace: 'shop', canary: 'app-v2', stable: 'app-v1' },
      { windowMs: 30_000 },
    );
    expect(f.canary).toMatchObject({ reporter: 'source', requests: 50, errors: 3, p95Ms: 12 });
    expect(f.custom).toEqual([{ name: 'q', query: 'sum(x{w="app-v2"})', value: 50, max: 1 }]);
    expect(asked.filter((q) => q.includes('reporter="destination"'))).toHaveLength(2); // requests of canary, stable
    expect(thresholdsFor(m, 0.99, 300)).toEqual({ successRate: 0.99, maxLatencyMs: undefined });
  });

  it('preflight validates every query for the rendered canary Deployment and names the bad one', async () => {
    const manifest =
      'kind: Service\nmetadata: {name: app-v2-svc}\n---\nkind: Deployment\nmetadata: {name: app-v2-sample}\n';
    expect(deploymentNames(manifest)).toEqual(['app-v2-sample']);
    const validated: string[] = [];
    const logs: string[] = [];
    const prom = {
      where: 'fake',
      query: async () => ({ resultType: 'vector', samples: [] }),
      validate: async (q: string) => {
        validated.push(q);
        if (q.startsWith('sum(x')) throw new Error(`query ${q} failed: bad_data`);
      },
    };
    const check = metricsPreflight(prom, m, { namespace: 'shop', log: (l) => logs.push(l) });
    await expect(
      check({ canaryRelease: 'app-v2', manifest, signal: new AbortController().signal }),
    ).rejects.toThrow(
      'The metrics cannot be queried, so nothing was installed: query sum(x{w="app-v2-sample"}) failed: bad_data',
    );
    expect(validated).toEqual(allQueries(m, { namespace: 'shop', canary: 'app-v2-sample' }));
    expect(validated.length).toBe(4);
  });
});

describe('the Prometheus harness', () => {
  it('without the binary: one line saying how to install it', () => {
    const saved = { path: process.env.PATH, bin: process.env.PROMETHEUS_BIN };
    try {
      process.env.PATH = '/nonexistent';
      delete process.env.PROMETHEUS_BIN;
      expect(() => prometheusBinary()).toThrow(PROMETHEUS_MISSING);
      expect(PROMETHEUS_MISSING).not.toContain('\n');
      expect(PROMETHEUS_MISSING).toMatch(/apt-get install -y --no-install-recommends prometheus/);
    } finally {
      process.env.PATH = saved.path;
      if (saved.bin !== undefined) process.env.PROMETHEUS_BIN = saved.bin;
    }
  });

  it('scrapes every target every second', () => {
    const c = prometheusConfig(['http://127.0.0.1:1234/metrics']);
    expect(c).toMatch(/scrape_interval: 1s/);
    expect(c).toMatch(/targets: \["127\.0\.0\.1:1234"\]/);
    expect(c).toMatch(/metrics_path: "\/metrics"/);
  });
});

describe('undecodableBody (kubectl -v=6 on an error answer that is not a Status)', () => {
  const body =
    '{"status":"error","errorType":"bad_data","error":"invalid parameter \\"query\\": parse error"}';
  it('reads kubectl 1.35 (structured, quoted) and 1.31 (plain) logs', () => {
    const v135 = `I1201 request.go:1500] "Body was not decodable (unable to check for Status)" err=${JSON.stringify(`Object 'Kind' is missing in '${body}'`)}\nError from server (BadRequest): x`;
    const v131 = `I1201 request.go:1550] body was not decodable (unable to check for Status): Object 'Kind' is missing in '${body}'\nError from server (BadRequest): x`;
    expect(undecodableBody(v135)).toBe(body);
    expect(undecodableBody(v131)).toBe(body);
    expect(undecodableBody('Error from server (NotFound): services "x" not found')).toBeUndefined();
  });
});
