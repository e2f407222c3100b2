import {
  evaluateStep,
  evidenceFigures,
  StepState,
  type Observation,
  type StepPhase,
} from '../../src/verify/analysis.js';
import { describe, it, expect } from '@jest/globals';
import {
  chartPoints,
  commentMarker,
  escapeMarkdown,
  formatDuration,
  outcomeSentence,
  renderChart,
  renderOneLine,
  renderSummary,
} from '../../src/report/summary.js';
import type { RunReport, StepReport } from '../../src/report/model.js';
import { SecretRegistry } from '../../src/lib/secrets.js';
import { kubeconfigSecrets, setItemSecrets } from '../../src/inputs/secrets.js';

const T0 = Date.parse('2025-03-01T10:00:00Z');
const iso = (s: number): string => new Date(T0 + s * 1000).toISOString();

function step(
  index: number,
  weight: number,
  from: number,
  to: number,
  extra: Partial<StepReport> = {},
): StepReport {
  return {
    index,
    weight,
    bakeMs: (to - from) * 1000,
    startedAt: iso(from),
    endedAt: iso(to),
    total: { requests: 1200, good: 1198, bad: 2, p50Ms: 40, p95Ms: 131 },
    stable: { requests: 1080, good: 1079, bad: 1, p95Ms: 120 },
    canary: { requests: 120, good: 119, bad: 1, p95Ms: 135 },
    observedCanaryShare: 0.098,
    expectedShareRange: [0.051, 0.154],
    verdict: 'passed',
    ...extra,
  };
}

function promotedReport(): RunReport {
  const steps = [
    step(0, 10, 0, 150),
    step(1, 25, 150, 300, { observedCanaryShare: 0.262, expectedShareRange: [0.2, 0.31] }),
    step(2, 50, 300, 450, { observedCanaryShare: 0.49, expectedShareRange: [0.43, 0.57] }),
    step(3, 100, 450, 480, { stable: undefined, observedCanaryShare: 1, expectedShareRange: undefined }),
  ];
  // Samples every 5 s: 96 points, to exercise downsampling.
  for (const s of steps) {
    const from = (Date.parse(s.startedAt) - T0) / 1000;
    const to = (Date.parse(s.endedAt!) - T0) / 1000;
    s.samples = [];
    for (let t = from; t < to; t += 5)
      s.samples.push({ t, weight: s.weight, canarySuccess: t === 200 ? 0.9 : 0.995 });
  }
  return {
    command: 'rollout',
    namespace: 'prod',
    release: 'shop',
    routing: { kind: 'VirtualService', name: 'shop' },
    route: 'http-main',
    stable: {
      release: 'shop-v1-4-0',
      chart: 'shop',
      chartVersion: '1.4.0',
      appVersion: '1.4.0',
      service: 'shop-v1-4-0',
    },
    canary: {
      release: 'shop-v1-5-0',
      chart: 'shop',
      chartVersion: '1.5.0',
      appVersion: '1.5.0',
      service: 'shop-v1-5-0',
    },
    outcome: 'promoted',
    reason: 'All 4 steps passed; shop-v1-5-0 now takes 100% of the traffic.',
    startedAt: iso(0),
    endedAt: iso(492),
    steps,
    warnings: [
      'VirtualService prod/shop is also managed by Argo CD (app "shop"): it may revert the weights.\nRemedy: add the weights to ignoreDifferences.',
    ],
    runUrl: 'https://github.com/acme/shop/actions/runs/42',
    dryRun: false,
    helmVersion: 'v4.1.4',
    kubectlVersion: 'v1.35.2',
  };
}

function rolledBackReport(): RunReport {
  const r = promotedReport();
  r.outcome = 'rolled-back';
  r.reason = 'canary success rate 91.0% is below the required 99.0%';
  r.steps = r.steps.slice(0, 2).map((s) => ({ ...s, samples: undefined }));
  r.steps[1] = {
    ...r.steps[1],
    verdict: 'failed',
    reason: 'success 91.0% < 99%',
    endedAt: new Date(Date.parse(r.steps[1].startedAt) + 45_000).toISOString(),
    canary: { requests: 300, good: 273, bad: 27, p95Ms: 410 },
  };
  r.endedAt = new Date(Date.parse(r.steps[1].startedAt) + 60_000).toISOString();
  r.warnings = [];
  return r;
}

/** Parse the mermaid block and check it is well-formed; returns the axis labels and line arrays. */
function parseMermaid(md: string): { labels: string[]; lines: number[][]; title: string } {
  const start = md.indexOf('```mermaid\n');
  expect(start).toBeGreaterThanOrEqual(0);
  const end = md.indexOf('\n```', start + 10);
  expect(end).toBeGreaterThan(start);
  const body = md.slice(start + '```mermaid\n'.length, end).split('\n');
  const chartAt = body.findIndex((l) => l.trim() === 'xychart-beta');
  expect(chartAt).toBeGreaterThanOrEqual(0);
  // Only a %%{init}%% directive may precede the diagram type.
  body.slice(0, chartAt).forEach((l) => expect(l).toMatch(/^%%\{init: \{.*\}\}%%$/));
  const stmts = body.slice(chartAt + 1).map((l) => l.trim());
  const title = stmts.find((l) => l.startsWith('title '));
  expect(title).toMatch(/^title "[^"]+"$/);
  const x = stmts.find((l) => l.startsWith('x-axis '));
  const xm = /^x-axis "[^"]*" \[(.*)\]$/.exec(x ?? '');
  expect(xm).not.toBeNull();
  const labels = xm![1].split(', ').map((s) => {
    expect(s).toMatch(/^"[^"\n]+"$/);
    return s.slice(1, -1);
  });
  expect(new Set(labels).size).toBe(labels.length); // mermaid drops duplicate categories
  expect(stmts.find((l) => l.startsWith('y-axis '))).toBe('y-axis "percent" 0 --> 100');
  const lines = stmts
    .filter((l) => l.startsWith('line '))
    .map((l) => {
      const m = /^line "[^"]+" \[(.*)\]$/.exec(l);
      expect(m).not.toBeNull();
      return m![1].split(', ').map((v) => {
        expect(v).toMatch(/^\d+(\.\d+)?$/); // mermaid's number token: no exponent, no NaN
        return Number(v);
      });
    });
  for (const l of lines) {
    expect(l).toHaveLength(labels.length);
    l.forEach((v) => expect(v >= 0 && v <= 100).toBe(true));
  }
  // Every other statement is a known keyword (nothing leaked into the block).
  stmts.filter((l) => l).forEach((l) => expect(l).toMatch(/^(title|x-axis|y-axis|line) /));
  return { labels, lines, title: title! };
}

/** The table rows (after the header and separator). */
function tableRows(md: string): string[][] {
  const lines = md.split('\n');
  const head = lines.findIndex((l) => l.startsWith('| # |'));
  expect(head).toBeGreaterThanOrEqual(0);
  const cols = splitRow(lines[head]).length;
  const rows: string[][] = [];
  for (let i = head + 2; i < lines.length && lines[i].startsWith('|'); i++) {
    // figures keep their spaces and dashes unbreakable (NBSP, word joiners): compared as plain text here
    const cells = splitRow(lines[i].replace(/\u00a0/g, ' ').replace(/\u2060/g, ''));
    expect(cells).toHaveLength(cols); // no cell broke the table
    rows.push(cells);
  }
  return rows;
}

/** Split a GFM table row on unescaped pipes. */
function splitRow(line: string): string[] {
  return line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

describe('formatDuration', () => {
  it('formats like 2m30s', () => {
    expect(formatDuration(150_000)).toBe('2m30s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(30_000)).toBe('30s');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(5_430_000)).toBe('1h30m30s');
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(0)).toBe('0ms');
  });
});

describe('renderSummary', () => {
  const md = renderSummary(promotedReport());

  it('has a title with the outcome and the outcome sentence', () => {
    expect(md.split('\n')[0]).toBe('### ✅ Canary promoted: `shop` in `prod`');
    expect(md).toContain('\n**Promoted**: All 4 steps passed; shop-v1-5-0 now takes 100% of the traffic.\n');
    expect(md).not.toContain('<!-- helm-canary');
  });

  it('shows stable -> canary with chart, app version and Service', () => {
    expect(md).toContain(
      '**Stable:** `shop-v1-4-0` (chart `shop` 1.4.0, app 1.4.0, Service `shop-v1-4-0`) → ' +
        '**Canary:** `shop-v1-5-0` (chart `shop` 1.5.0, app 1.5.0, Service `shop-v1-5-0`)',
    );
    expect(md).toContain('**VirtualService:** `shop`, route `http-main`');
  });

  it('renders warnings as a quoted block, keeping their lines', () => {
    expect(md).toContain(
      '> ⚠️ VirtualService prod/shop is also managed by Argo CD (app "shop"): it may revert the weights.\\\n' +
        '> Remedy: add the weights to ignoreDifferences.\n',
    );
  });

  it('has one table row per step with the right figures', () => {
    const rows = tableRows(md);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual([
      '1',
      '10%',
      '2m30s',
      '1,200 (2 bad)',
      '99.9%',
      '99.1%',
      '120 / 135 ms',
      '9.8% (exp. 5.1–15.4%)',
      '✅ passed',
    ]);
    expect(rows[1].slice(0, 2)).toEqual(['2', '25%']);
    expect(rows[1][7]).toBe('26.2% (exp. 20.0–31.0%)');
    // Step 4 has no stable figures and no expected range.
    expect(rows[3]).toEqual([
      '4',
      '100%',
      '30s',
      '1,200 (2 bad)',
      '—',
      '99.1%',
      '— / 135 ms',
      '100.0%',
      '✅ passed',
    ]);
  });

  it('shows total time, run link and tool versions', () => {
    expect(md).toContain('**Total time:** 8m12s');
    expect(md).toContain('[Workflow run](https://github.com/acme/shop/actions/runs/42)');
    expect(md).toContain('helm v4.1.4 · kubectl v1.35.2');
    expect(md).not.toContain('Dry run');
  });

  it('contains a well-formed, downsampled mermaid xychart', () => {
    const { labels, lines } = parseMermaid(md);
    expect(md.indexOf('```mermaid')).toBeGreaterThan(md.indexOf('| # |'));
    expect(lines).toHaveLength(2);
    expect(labels.length).toBe(12); // more overlap at GitHub's width
    expect(labels.length).toBeGreaterThan(10);
    expect(labels[labels.length - 1]).toBe('7:55');
    const [weight, success] = lines;
    expect(weight[0]).toBe(10);
    expect(weight[weight.length - 1]).toBe(100);
    expect([...weight].sort((a, b) => a - b)).toEqual(weight); // weights only go up here
    expect(Math.min(...success)).toBe(90); // the dip at t=200s survives downsampling
  });

  it('falls back to one chart point per step when there are no samples', () => {
    const r = promotedReport();
    r.steps.forEach((s) => delete s.samples);
    const { labels, lines } = parseMermaid(renderSummary(r));
    expect(labels).toEqual(['2:30', '5:00', '7:30', '8:00']);
    expect(lines[0]).toEqual([10, 25, 50, 100]);
    expect(lines[1]).toEqual([99.2, 99.2, 99.2, 99.2]);
  });

  it('drops the success line when nothing is known, keeping the chart valid', () => {
    const r = promotedReport();
    r.steps = r.steps.map((s) => ({
      ...s,
      samples: [{ t: (Date.parse(s.startedAt) - Date.parse(r.startedAt)) / 1000, weight: s.weight }],
    }));
    const { lines } = parseMermaid(renderChart(r)!);
    expect(lines).toEqual([[10, 25, 50, 100]]);
  });

  it('merges samples that would share an x-axis label', () => {
    const r = promotedReport();
    r.steps = [
      {
        ...r.steps[0],
        samples: [0.1, 0.4, 0.6, 1.2].map((t) => ({ t, weight: 10, canarySuccess: t > 1 ? 0.5 : 1 })),
      },
    ];
    expect(chartPoints(r).map((p) => p.t)).toEqual([0.4, 1.2]);
    parseMermaid(renderSummary(r));
  });

  it('starts the comment with the marker', () => {
    const c = renderSummary(promotedReport(), { forComment: true });
    expect(c.startsWith('<!-- helm-canary:prod/shop -->\n')).toBe(true);
    expect(commentMarker('prod', 'shop')).toBe('<!-- helm-canary:prod/shop -->');
    expect(commentMarker('a--b', 'x-->y')).toBe('<!-- helm-canary:a-b/x-y -->');
  });

  it('shows the failed step in the outcome sentence and the table', () => {
    const r = rolledBackReport();
    const out = renderSummary(r);
    expect(out.split('\n')[0]).toBe('### ⏪ Canary rolled back: `shop` in `prod`');
    expect(out).toContain(
      '\n**Rolled back** at step 2 (25%): canary success rate 91.0% is below the required 99.0%.\n',
    );
    const rows = tableRows(out);
    expect(rows).toHaveLength(2);
    expect(rows[1][2]).toBe('45s of 2m30s');
    expect(rows[1][5]).toBe('91.0%');
    expect(rows[1][6]).toBe('120 / 410 ms');
    expect(rows[1][8]).toBe('❌ failed: success 91.0% < 99%');
    expect(out).toContain('**Total time:** 3m30s');
    expect(out).not.toContain('> ⚠️');
    parseMermaid(out);
  });

  it('shows "(all)" figures when there are no per-version figures', () => {
    const r = rolledBackReport();
    r.steps = r.steps.map((s) => ({
      ...s,
      stable: undefined,
      canary: undefined,
      observedCanaryShare: undefined,
      expectedShareRange: undefined,
    }));
    const rows = tableRows(renderSummary(r));
    expect(rows[0].slice(4, 8)).toEqual(['—', '99.8% (all)', '131 ms (all)', '—']);
  });

  it('never rounds a non-perfect success rate up to 100%', () => {
    const r = rolledBackReport();
    r.steps[0].canary = { requests: 10_000, good: 9_999, bad: 1 };
    expect(tableRows(renderSummary(r))[0][5]).toBe('99.9%');
  });

  it('shows a dry-run notice and a running state', () => {
    const r = rolledBackReport();
    r.dryRun = true;
    r.outcome = 'running';
    r.reason = 'waiting for step 2 to bake';
    delete r.endedAt;
    r.steps[1] = { ...r.steps[1], verdict: 'running', reason: undefined, endedAt: undefined };
    const now = new Date(Date.parse(r.startedAt) + 200_000);
    const out = renderSummary(r, { now });
    expect(out.split('\n')[0]).toBe('### 🔄 Rollout in progress: `shop` in `prod` (dry run)');
    expect(out).toContain('> ℹ️ **Dry run:**');
    expect(out).toContain('**In progress** at step 2 (25%): waiting for step 2 to bake.');
    expect(out).toContain('**Elapsed:** 3m20s (still running)');
    expect(tableRows(out)[1][2]).toBe('50s of 2m30s');
    expect(tableRows(out)[1][8]).toBe('⏳ running');
  });

  it('handles a report without steps or a stable release', () => {
    const r = promotedReport();
    r.steps = [];
    r.stable = {};
    r.outcome = 'failed';
    r.reason = 'helm install failed';
    delete r.runUrl;
    const out = renderSummary(r);
    expect(out).toContain('**Stable:** none → **Canary:** `shop-v1-5-0`');
    expect(out).not.toContain('| # |');
    expect(out).not.toContain('```mermaid');
    expect(out).not.toContain('Workflow run');
  });
});

describe('escaping', () => {
  it('keeps the table intact and text inert whatever the names and reasons contain', () => {
    const r = rolledBackReport();
    r.reason = 'bad | pipe\nnew line <img src=x onerror=alert(1)> **bold** [link](http://x) `code`';
    r.steps[1].reason = 'a | b\r\nc';
    r.stable.release = 'evil|name';
    r.canary.chart = 'ch`art';
    r.canary.appVersion = '2.0<script>';
    r.route = 'r\n# heading';
    r.warnings = ['# not a heading\n- not a list\n> not nested\n1. not ordered | pipe'];
    r.runUrl = 'javascript:alert(1)';
    const out = renderSummary(r);
    // The outcome sentence stays one line, with every active character escaped.
    const sentence = out.split('\n').find((l) => l.startsWith('**Rolled back**'))!;
    expect(sentence).toBe(
      '**Rolled back** at step 2 (25%): bad \\| pipe new line \\<img src=x onerror=alert(1)> \\*\\*bold\\*\\* ' +
        '\\[link\\](http://x) \\`code\\`.',
    );
    expect(out).not.toMatch(/(?<!\\)<(img|script)/);
    expect(out).toContain('**Stable:** evil\\|name');
    expect(out).toContain('chart ch\\`art');
    expect(out).toContain('app 2.0\\<script>');
    expect(out).toContain('route `r # heading`');
    expect(out).toContain(
      '> ⚠️ \\# not a heading\\\n> \\- not a list\\\n> \\> not nested\\\n> 1\\. not ordered \\| pipe\n',
    );
    expect(tableRows(out)[1][8]).toBe('❌ failed: a \\| b c');
    expect(out).not.toContain('javascript:');
    // No line outside the code fence starts a heading except the title.
    expect(out.split('\n').filter((l) => l.startsWith('#'))).toHaveLength(1);
  });

  it('escapeMarkdown collapses newlines and escapes pipes', () => {
    expect(escapeMarkdown('a|b\nc\r\nd')).toBe('a\\|b c d');
  });
});

describe('renderOneLine', () => {
  it('is a single plain line', () => {
    expect(renderOneLine(promotedReport())).toBe(
      'helm-canary promoted: prod/shop, shop-v1-4-0 -> shop-v1-5-0, 4/4 steps passed, last weight 100%, 8m12s: ' +
        'All 4 steps passed; shop-v1-5-0 now takes 100% of the traffic',
    );
    const r = rolledBackReport();
    r.reason = 'first\nsecond';
    const line = renderOneLine(r);
    expect(line).not.toMatch(/\n/);
    expect(line).toContain(
      'helm-canary rolled back: prod/shop, shop-v1-4-0 -> shop-v1-5-0, 1/2 steps passed',
    );
    expect(line.endsWith(': first second')).toBe(true);
  });
});

describe('redaction of rendered reports', () => {
  const token = 'ghp_s3cr3tT0kenValue_x*y|z';
  const kubeconfig =
    'apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: LS0tLS1CRUdJTg==\n';

  it('never lets a secret through, in any rendered form', () => {
    const r = rolledBackReport();
    r.reason = `helm failed with --set db.password=${token}`;
    r.steps[1].reason = `token ${token}`;
    r.warnings = [`kubeconfig server https://10.0.0.1:6443 and ${token}`];
    r.runUrl = `https://example.com/?t=${encodeURIComponent(token)}`;
    // What input parsing registers for these inputs (set, kubeconfig, github-token).
    const secrets = new SecretRegistry();
    secrets.addAll(setItemSecrets(`db.password=${token},replicas=3`));
    secrets.add(kubeconfig);
    secrets.addAll(kubeconfigSecrets(kubeconfig));
    secrets.add('gho_abcdef123456');
    for (const text of [
      renderSummary(r),
      renderSummary(r, { forComment: true }),
      renderOneLine(r),
      JSON.stringify(r),
    ]) {
      expect(text).toContain('s3cr3t'); // the report holds the secret before redaction
      const out = secrets.redact(text);
      expect(out).not.toContain(token);
      expect(out).not.toContain(escapeMarkdown(token));
      expect(out).not.toContain(JSON.stringify(token).slice(1, -1));
      expect(out).not.toContain(encodeURIComponent(token));
      expect(out).not.toContain('s3cr3t');
      expect(out).not.toContain('10.0.0.1:6443');
      expect(out).toContain('***');
    }
  });

  it('outcomeSentence is exported for reuse', () => {
    expect(outcomeSentence({ ...promotedReport(), reason: '' })).toBe('**Promoted**.');
  });
});

describe('skipped steps (not reached after a failure)', () => {
  it('are listed, but neither charted nor counted as the last weight', async () => {
    const { renderSummary, renderOneLine, chartPoints } = await import('../../src/report/summary.js');
    const r = {
      command: 'rollout',
      namespace: 'shop',
      routing: { kind: 'VirtualService', name: 'web' },
      release: 'web',
      stable: { release: 'web-v1' },
      canary: { release: 'web-v2' },
      outcome: 'rolled-back' as const,
      reason: 'canary success rate 0.0% (0/5) is conclusively below 99%. All traffic is back on web-v1.',
      startedAt: '2026-01-01T00:00:00.000Z',
      endedAt: '2026-01-01T00:00:20.000Z',
      warnings: [],
      dryRun: false,
      steps: [
        {
          index: 0,
          weight: 10,
          bakeMs: 60000,
          startedAt: '2026-01-01T00:00:05.000Z',
          endedAt: '2026-01-01T00:00:15.000Z',
          total: { requests: 50, good: 45, bad: 5 },
          verdict: 'failed' as const,
        },
        {
          index: 1,
          weight: 100,
          bakeMs: 60000,
          startedAt: '2026-01-01T00:00:20.000Z',
          total: { requests: 0, good: 0, bad: 0 },
          verdict: 'skipped' as const,
        },
      ],
    };
    const md = renderSummary(r);
    expect(md).toMatch(/\| 2 \| 100% \|.*⏭️ skipped/);
    // charted up to the failure, then the return to 0% of the rollback
    expect(chartPoints(r).map((p) => p.weight)).toEqual([10, 0]);
    expect(renderOneLine(r)).toMatch(/0\/2 steps passed, last weight 10%/);
  });
});

describe('issue 9: the pre-traffic check, the baseline, unverified runs', () => {
  const precheck = (verdict: 'passed' | 'failed', reason?: string): StepReport => ({
    kind: 'precheck',
    index: -1,
    weight: 0,
    bakeMs: 30_000,
    startedAt: iso(0),
    endedAt: iso(verdict === 'failed' ? 4 : 30),
    total: {
      requests: 20,
      good: verdict === 'failed' ? 0 : 20,
      bad: verdict === 'failed' ? 20 : 0,
      p95Ms: 9,
    },
    canary: {
      requests: 20,
      good: verdict === 'failed' ? 0 : 20,
      bad: verdict === 'failed' ? 20 : 0,
      p95Ms: 9,
    },
    verdict,
    reason,
  });

  it('shows the pre-traffic check as step 0 before the plan, with the baseline above the table', () => {
    const r = promotedReport();
    r.steps.unshift(precheck('passed'));
    r.baseline = {
      verdict: 'passed',
      reason: 'the current stable answered 20/20 probes as the criteria ask',
      total: { requests: 20, good: 20, bad: 0 },
    };
    const out = renderSummary(r);
    const rows = tableRows(out);
    expect(rows.map((c) => `${c[0]} ${c[1]}`)).toEqual([
      '0 pinned (0% users)',
      '1 10%',
      '2 25%',
      '3 50%',
      '4 100%',
    ]);
    expect(rows[0].slice(2, 9)).toEqual(['30s', '20', '—', '100%', '— / 9 ms', '—', '✅ passed']);
    expect(out).toContain(
      '**Baseline** (current stable, before the install): ✅ the current stable answered 20/20 probes',
    );
    // the one-line form counts the plan's steps only
    expect(renderOneLine(r)).toContain('4/4 steps passed, last weight 100%');
  });

  it('a failed pre-traffic check is the deciding step: named so, never "step 0"', () => {
    const r = rolledBackReport();
    r.steps = [
      precheck(
        'failed',
        'canary success rate 0.0% (0/3) is conclusively below 99% (after 1 s of the 30 s bake)',
      ),
      ...r.steps.map((s) => ({
        ...s,
        verdict: 'skipped' as const,
        reason: undefined,
        total: { requests: 0, good: 0, bad: 0 },
      })),
    ];
    r.reason = 'The pre-traffic check failed: canary success rate 0.0%.';
    const out = renderSummary(r);
    expect(out).toContain('**Rolled back** at the pre-traffic check: The pre-traffic check failed');
    expect(tableRows(out)[0][8]).toMatch(/^❌ failed: canary success rate 0\.0%/);
    expect(renderOneLine(r)).toContain('pre-traffic check failed, 0/2 steps run');
  });

  it('says "not verified" when nothing verified the run', () => {
    const r = promotedReport();
    r.unverified = true;
    expect(renderSummary(r)).toContain(
      '> ⚠️ **Not verified:** neither `verify-url` nor `verify-command` was set',
    );
    expect(renderOneLine(r)).toContain('not verified');
    expect(renderSummary(promotedReport())).not.toContain('Not verified');
  });

  it('shows per step the evidence of each version: responses / failures, decision, test and confidence', () => {
    const settings = {
      url: 'http://gw',
      headers: {},
      statuses: [[200, 299]] as Array<[number, number]>,
      rps: 10,
      timeoutMs: 1000,
      successRate: 0.99,
      canaryMatch: { kind: 'header' as const, name: 'x-version', value: 'canary' },
    };
    const judged = (rows: Array<[Observation['version'], boolean, number]>, phase: StepPhase) => {
      const st = new StepState();
      for (const [version, good, n] of rows)
        for (let i = 0; i < n; i++) st.add({ version, good, latencyMs: 5 });
      return evidenceFigures(evaluateStep(st, settings, 10, phase).evidence!, 0.99);
    };
    const r = promotedReport();
    r.steps.unshift({ ...precheck('passed'), evidence: judged([['pinned', true, 90]], 'bake-end') });
    r.steps[1].evidence = judged(
      [
        ['pinned', true, 85],
        ['canary', true, 10],
        ['stable', true, 90],
        ['unknown', true, 3],
      ],
      'bake-end',
    );
    const out = renderSummary(r);
    const lines = out.split('\n');
    const head = lines.findIndex((l) =>
      l.startsWith("| # | Canary | Canary responses | Stable | Users' path |"),
    );
    expect(head).toBeGreaterThan(0);
    expect(lines[head - 2]).toMatch(/^<details><summary>Evidence per version/);
    const rows = lines.slice(head + 2, head + 4).map(splitRow);
    // 90 failure-free pinned responses: LLR 90 x ln(0.94/0.995) = -5.1, wrong with probability <= e^-5.1
    expect(rows[0]).toEqual(['0', '90 / 0 · passed (sequential, 99.4%)', '90 pinned', '—', '—']);
    expect(rows[1][1]).toMatch(/^95 \/ 0 · passed \(sequential, 99\.\d%\)$/);
    expect(rows[1][2]).toBe("85 pinned + 10 users'");
    expect(rows[1][3]).toBe('90 / 0 · no problem seen');
    expect(rows[1][4]).toBe('103 / 0 · no problem seen · 3 without a version');
  });

  it('says how much evidence an inconclusive canary still needs, and the confidence of a failure', () => {
    const settings = {
      url: 'http://gw',
      headers: {},
      statuses: [[200, 299]] as Array<[number, number]>,
      rps: 1,
      timeoutMs: 1,
      successRate: 0.99,
    };
    const st = new StepState();
    for (let i = 0; i < 30; i++) st.add({ version: 'pinned', good: true, latencyMs: 5 });
    const r = promotedReport();
    r.steps[0].evidence = evidenceFigures(evaluateStep(st, settings, 10, 'max-bake').evidence!, 0.99);
    const failing = new StepState();
    for (let i = 0; i < 4; i++) failing.add({ version: 'pinned', good: false, latencyMs: 5 });
    r.steps[1].evidence = evidenceFigures(evaluateStep(failing, settings, 25, 'running').evidence!, 0.99);
    const out = renderSummary(r);
    expect(out).toContain('| 1 | 30 / 0 · **failed** (insufficient) | 30 pinned; needs ~156 |');
    expect(out).toMatch(/\| 2 \| \d \/ \d · \*\*failed\*\* \(guard, > 99\.9%\) \|/);
  });
});
