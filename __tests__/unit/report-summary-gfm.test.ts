// The summary as GitHub shows it: rendered by a GFM parser (marked), the ownership warning keeps
// its code spans (no literal backticks) with "Remedy:" on a line of its own, the chart has at most
// 12 x-axis labels and a rolled-back run's line returns to 0%, table figures do not wrap.
import { describe, expect, it } from '@jest/globals';
import { marked, type Token, type Tokens } from 'marked';
import { renderSummary } from '../../src/report/summary.js';
import type { RunReport, StepReport } from '../../src/report/model.js';
import { findOwners } from '../../src/router/ownership.js';
import { VIRTUAL_SERVICE_PROFILE } from '../../src/router/istio/istio-router.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const iso = (s: number): string => new Date(T0 + s * 1000).toISOString();

/** The warning rollout.ts writes for a Helm 4 owner of the VirtualService (real ownership.ts text). */
function helmOwnerWarning(): string {
  const [f] = findOwners(
    {
      metadata: {
        name: 'exciting-lemur-vs',
        namespace: 'default',
        annotations: {
          'meta.helm.sh/release-name': 'exciting-lemur',
          'meta.helm.sh/release-namespace': 'default',
        },
        labels: { 'app.kubernetes.io/managed-by': 'Helm' },
        managedFields: [{ manager: 'helm', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:http': {} } } }],
      },
    },
    VIRTUAL_SERVICE_PROFILE,
    4,
  );
  return `${f.detail} ${f.consequence} Remedy: ${f.remedy}`;
}

function report(outcome: 'promoted' | 'rolled-back', seconds: number): RunReport {
  const weights = [10, 50, 100];
  const per = seconds / weights.length;
  const steps: StepReport[] = weights.map((weight, index) => ({
    index,
    weight,
    bakeMs: per * 1000,
    startedAt: iso(index * per),
    endedAt: iso((index + 1) * per),
    total: { requests: 600, good: 600, bad: 0, p95Ms: 20 },
    stable: { requests: 540, good: 540, bad: 0, p95Ms: 20 },
    canary: { requests: 60, good: 60, bad: 0, p95Ms: 21 },
    observedCanaryShare: 0.1,
    expectedShareRange: [0, 0.3],
    verdict: 'passed',
    samples: Array.from({ length: Math.floor(per / 2) }, (_, i) => ({
      t: index * per + i * 2,
      weight,
      canarySuccess: 1,
    })),
  }));
  if (outcome === 'rolled-back') {
    steps.splice(2);
    steps[1] = { ...steps[1], verdict: 'failed', reason: 'success 91.0% < 99%' };
  }
  return {
    command: 'rollout',
    namespace: 'default',
    release: 'sample',
    routing: { kind: 'VirtualService', name: 'exciting-lemur-vs' },
    stable: { release: 'foolish-penguin', service: 'foolish-penguin-sample' },
    canary: { release: 'sample-v2', service: 'sample-v2' },
    outcome,
    reason: outcome === 'promoted' ? 'All 3 steps passed.' : 'canary success rate 91.0% is below 99%',
    startedAt: iso(0),
    endedAt: iso(seconds + 3),
    steps,
    warnings: [helmOwnerWarning()],
    dryRun: false,
  };
}

function walk(tokens: Token[], visit: (t: Token) => void): void {
  for (const t of tokens) {
    visit(t);
    const children = (t as { tokens?: Token[] }).tokens;
    if (children) walk(children, visit);
    if (t.type === 'table') {
      const table = t as Tokens.Table;
      for (const cell of [...table.header, ...table.rows.flat()]) walk(cell.tokens, visit);
    }
  }
}

function chart(md: string): { labels: string[]; weights: number[] } {
  const block = marked.lexer(md).find((t) => t.type === 'code' && (t as Tokens.Code).lang === 'mermaid') as
    Tokens.Code | undefined;
  expect(block).toBeDefined();
  const axis = /x-axis "[^"]*" \[(.*)\]/.exec(block!.text)!;
  const weight = /line "Canary weight %" \[(.*)\]/.exec(block!.text)!;
  return {
    labels: axis[1].split(',').map((s) => s.trim().replace(/^"|"$/g, '')),
    weights: weight[1].split(',').map(Number),
  };
}

describe('the summary rendered as GFM', () => {
  for (const seconds of [20, 600, 7200]) {
    it(`chart: at most 12 x-axis labels, all distinct, for a ${seconds} s run`, () => {
      const { labels, weights } = chart(renderSummary(report('promoted', seconds)));
      expect(labels.length).toBeLessThanOrEqual(12);
      expect(labels.length).toBeGreaterThan(2);
      expect(new Set(labels).size).toBe(labels.length);
      expect(weights).toHaveLength(labels.length);
      expect(weights[weights.length - 1]).toBe(100);
    });
  }

  it('chart: a rolled-back run ends at 0% after its last weight', () => {
    const { labels, weights } = chart(renderSummary(report('rolled-back', 600)));
    expect(labels.length).toBeLessThanOrEqual(12);
    expect(weights.slice(-2)).toEqual([50, 0]);
  });

  it("chart: the pre-traffic check's pinned probes are drawn at 0% users' weight", () => {
    const r = report('promoted', 12); // few enough points: no downsampling
    r.steps.unshift({
      ...r.steps[0],
      index: -1,
      kind: 'precheck',
      weight: 100,
      samples: [{ t: 0, weight: 100, canarySuccess: 1 }],
    });
    r.steps.slice(1).forEach((s) => (s.samples = s.samples?.map((p) => ({ ...p, t: p.t + 5 }))));
    expect(chart(renderSummary(r)).weights[0]).toBe(0);
  });

  it('the ownership warning: code spans render as code, no escaped backticks, Remedy: on its own line', () => {
    const md = renderSummary(report('promoted', 60));
    const html = marked.parse(md, { async: false, gfm: true });
    expect(md).not.toContain('\\`');
    expect(html).not.toMatch(/`/); // every backtick became a <code> element
    expect(html).toContain('<code>helm upgrade exciting-lemur -n default --server-side=false</code>');
    const quote = marked.lexer(md).find((t) => t.type === 'blockquote') as Tokens.Blockquote;
    const text: string[] = [];
    walk(quote.tokens, (t) => {
      if (t.type === 'br') text.push('<br>');
      else if (t.type === 'text' && !(t as Tokens.Text).tokens) text.push((t as Tokens.Text).text);
      else if (t.type === 'codespan') text.push(`<code>`);
    });
    const lines = text.join('').split('<br>');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[lines.length - 1]).toMatch(/^\s*Remedy: /);
  });

  it('table figures do not break: no breakable space or dash inside a figure cell', () => {
    const md = renderSummary(report('promoted', 60));
    const table = marked.lexer(md).find((t) => t.type === 'table') as Tokens.Table;
    const share = table.header.findIndex((h) => /Canary share/.test(h.text));
    const p95 = table.header.findIndex((h) => /p95/.test(h.text));
    for (const row of table.rows) {
      for (const i of [share, p95]) {
        const cell = row[i].text;
        expect(cell).not.toMatch(/ /); // NBSP only
        expect(cell).not.toMatch(/[^\u2060]–|–[^\u2060]/); // the range's dash is joined to its figures
      }
    }
    expect(table.rows[0][share].text).toBe('10.0%\u00a0(exp.\u00a00.0\u2060–\u206030.0%)');
  });
});
