// Markdown rendering of a RunReport for the job summary and the pull-request comment, and a
// one-line form for the log (secrets are redacted by the Reporter, with the SecretRegistry). Pure:
// no I/O (the clock is read only for a running report's elapsed time, and `opts.now` overrides it).

import { escapeInline } from '../lib/markdown.js';
import type {
  Outcome,
  RunReport,
  StepEvidenceFigures,
  StepReport,
  StreamFigures,
  Verdict,
  VersionFigures,
} from './model.js';

export interface RenderOptions {
  /** Start with the hidden comment marker (for the pull-request comment). */
  forComment?: boolean;
  /** Marker to start the comment with; default commentMarker(namespace, release). */
  marker?: string;
  /** "Now" for the elapsed time of a report that has not ended; default the current time. */
  now?: Date | string;
}

const OUTCOME: Record<Outcome, { emoji: string; title: string; word: string }> = {
  promoted: { emoji: '✅', title: 'Canary promoted', word: 'Promoted' },
  paused: { emoji: '⏸️', title: 'Rollout paused', word: 'Paused' },
  'rolled-back': { emoji: '⏪', title: 'Canary rolled back', word: 'Rolled back' },
  failed: { emoji: '❌', title: 'Rollout failed', word: 'Failed' },
  unchanged: { emoji: '➖', title: 'No change', word: 'Unchanged' },
  running: { emoji: '🔄', title: 'Rollout in progress', word: 'In progress' },
  progressing: { emoji: '🔄', title: 'Rollout in progress', word: 'Progressing' },
  none: { emoji: '➖', title: 'No rollout recorded', word: 'None' },
};

const VERDICT: Record<Verdict, string> = {
  passed: '✅ passed',
  failed: '❌ failed',
  running: '⏳ running',
  skipped: '⏭️ skipped',
};

const DASH = '—';
// Mermaid draws every band label; more than ~12 "m:ss" labels overlap at GitHub's width.
const MAX_CHART_POINTS = 12;
/** No line break inside a figure: non-breaking spaces, a word joiner around dashes. */
const NBSP = '\u00a0';
const keep = (text: string): string => text.replace(/ /g, NBSP).replace(/–/g, '\u2060–\u2060');

// ---------------------------------------------------------------------------------------------
// Marker

const MARKER_PREFIX = '<!-- helm-canary:';

/** Hidden marker the pull-request comment starts with; one comment per namespace/release. */
export function commentMarker(namespace: string, release: string): string {
  // `--` would end the HTML comment early; namespaces and release names never contain it.
  const clean = (s: string): string => oneLine(s).replace(/-{2,}/g, '-').replace(/>/g, '');
  return `${MARKER_PREFIX}${clean(namespace)}/${clean(release)} -->`;
}

/** True when `body` starts with a helm-canary marker (any namespace/release). */
export function startsWithMarker(body: string): boolean {
  return body.trimStart().startsWith(MARKER_PREFIX);
}

// ---------------------------------------------------------------------------------------------
// Escaping

/** Collapse CR/LF (and other line separators) into single spaces. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ').trim();
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Escape user-provided text for inline Markdown (also safe inside a table cell): newlines become
 * spaces, and characters that start emphasis, links, code, HTML, strike-through or cell breaks are
 * backslash-escaped.
 */
export function escapeMarkdown(text: string, max = 1000): string {
  return escapeInline(clip(oneLine(String(text)), max));
}

/** Inline code for names; falls back to escaped text when a backtick or pipe would break it. */
function code(text: string | undefined, max = 200): string {
  if (text === undefined || text === '') return DASH;
  const t = clip(oneLine(text), max);
  return /[`|\\]/.test(t) ? escapeMarkdown(t, max) : `\`${t}\``;
}

/**
 * Escape a line that becomes its own Markdown line (block quote content). Code spans the text
 * already holds (`helm upgrade …`, written by the router's findings) stay code spans.
 */
function escapeLine(line: string): string {
  const inline = clip(line.trim(), 1000)
    .split(/(`[^`|\r\n]+`)/)
    .map((part, i) => (i % 2 === 1 ? part : escapeInline(part)))
    .join('');
  // A line starting with #, >, -, +, = or "1." would become a heading, quote, list or rule.
  return inline.replace(/^([#>+=-]|\d+[.)])/, (m) =>
    m.length === 1 ? `\\${m}` : m.replace(/([.)])$/, '\\$1'),
  );
}

// ---------------------------------------------------------------------------------------------
// Number formatting

/** 150000 → "2m30s", 3600000 → "1h", 1500 → "1.5s", 250 → "250ms". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return DASH;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000 && ms % 1000 !== 0) return `${(Math.round(ms / 100) / 10).toString()}s`;
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  let out = '';
  if (h) out += `${h}h`;
  if (m) out += `${m}m`;
  if (s || !out) out += `${s}s`;
  return out;
}

/** Success rate in percent; floored to 0.1 so that 99.99% never shows as 100%. */
function successPct(f: VersionFigures | undefined): string {
  if (!f || !(f.requests > 0)) return DASH;
  if (f.good >= f.requests) return '100%';
  const v = Math.floor((f.good / f.requests) * 1000 + 1e-9) / 10;
  return `${v.toFixed(1)}%`;
}

function pct1(fraction: number): string {
  return (Math.round(fraction * 1000) / 10).toFixed(1);
}

function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : DASH;
}

function ms(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? DASH : `${Math.round(v)}`;
}

function timeOf(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

function nowMs(now: Date | string | undefined): number {
  if (now instanceof Date) return now.getTime();
  return timeOf(now) ?? Date.now();
}

// ---------------------------------------------------------------------------------------------
// Steps table

function requestsCell(s: StepReport): string {
  const bad = s.total.bad > 0 ? keep(` (${count(s.total.bad)} bad)`) : '';
  return s.total.requests > 0 ? `${count(s.total.requests)}${bad}` : DASH;
}

function bakeCell(s: StepReport, end: number): string {
  const planned = formatDuration(s.bakeMs);
  const started = timeOf(s.startedAt);
  const ended = timeOf(s.endedAt) ?? (s.verdict === 'running' ? end : undefined);
  if (started !== undefined && ended !== undefined && (s.verdict === 'running' || s.verdict === 'failed')) {
    const actual = Math.max(0, ended - started);
    if (actual < s.bakeMs - 500) return keep(`${formatDuration(actual)} of ${planned}`);
  }
  return planned;
}

function p95Cell(s: StepReport): string {
  if (s.stable || s.canary) {
    const a = ms(s.stable?.p95Ms);
    const b = ms(s.canary?.p95Ms);
    return a === DASH && b === DASH ? DASH : keep(`${a} / ${b} ms`);
  }
  return s.total.p95Ms !== undefined ? keep(`${ms(s.total.p95Ms)} ms (all)`) : DASH;
}

function shareCell(s: StepReport): string {
  if (s.observedCanaryShare === undefined || !Number.isFinite(s.observedCanaryShare)) return DASH;
  const obs = `${pct1(s.observedCanaryShare)}%`;
  const r = s.expectedShareRange;
  return r ? keep(`${obs} (exp. ${pct1(r[0])}–${pct1(r[1])}%)`) : obs;
}

function verdictCell(s: StepReport): string {
  const v = VERDICT[s.verdict] ?? escapeMarkdown(String(s.verdict));
  // A passed step's reason only restates the figures in the row; a failed one's is the news.
  return s.reason && s.verdict !== 'passed' ? `${v}: ${escapeMarkdown(s.reason, 300)}` : v;
}

function stepsTable(steps: StepReport[], end: number): string[] {
  const head =
    '| # | Weight | Bake | Requests | Success stable | Success canary | p95 stable / canary | Canary share (expected) | Verdict |';
  const sep = '|--:|--:|--:|--:|--:|--:|--:|--:|:--|';
  const rows = steps.map((s) => {
    const stable = s.stable ? successPct(s.stable) : DASH;
    let canary: string;
    if (s.canary) canary = successPct(s.canary);
    else canary = s.total.requests > 0 ? keep(`${successPct(s.total)} (all)`) : DASH;
    const precheck = s.kind === 'precheck';
    const cells = [
      // The pre-traffic check is step 0: pinned probes only, no user weight.
      precheck ? '0' : String(s.index + 1),
      precheck ? 'pinned (0% users)' : `${s.weight}%`,
      bakeCell(s, end),
      requestsCell(s),
      stable,
      canary,
      p95Cell(s),
      shareCell(s),
      verdictCell(s),
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [head, sep, ...rows];
}

// ---------------------------------------------------------------------------------------------
// Evidence per version

const DECISION: Record<StreamFigures['decision'], string> = {
  pass: 'passed',
  fail: '**failed**',
  continue: 'still running',
  inconclusive: 'inconclusive',
};

/** e.g. "81 / 0 · passed (sequential, 99.0%)": responses / failures · decision (test, confidence). */
function streamCell(f: StreamFigures | undefined, oneSided = false): string {
  if (!f) return DASH;
  if (f.responses === 0) return oneSided ? DASH : 'no responses';
  // The stable and the users' path need no evidence to pass, only none of a problem.
  const decision = oneSided && f.decision !== 'fail' ? 'no problem seen' : DECISION[f.decision];
  const basis = [f.test, f.confidence !== undefined ? confidencePct(f.confidence) : undefined].filter(
    Boolean,
  );
  return `${count(f.responses)} / ${count(f.failures)} · ${decision}${basis.length ? ` (${basis.join(', ')})` : ''}`;
}

/** Confidence floored to 0.1 so that 99.99% never shows as 100%; "> 99.9%" above that. */
function confidencePct(c: number): string {
  if (c > 0.999) return '> 99.9%';
  return `${(Math.floor(c * 1000 + 1e-9) / 10).toFixed(1)}%`;
}

function compositionCell(e: StepEvidenceFigures): string {
  const c = e.canary;
  const parts = [`${count(c.pinned)} pinned`];
  if (c.attributed > 0) parts.push(`${count(c.attributed)} users'`);
  const needed =
    c.decision === 'inconclusive' || c.test === 'insufficient' ? `; needs ~${count(c.needed)}` : '';
  return `${parts.join(' + ')}${needed}`;
}

/**
 * Per step, what each version's verdict rests on: responses / failures, the decision, the test
 * that made it and its confidence (1 - the bound on the probability that it is wrong).
 */
function evidenceTable(steps: StepReport[]): string[] {
  const rows = steps
    .filter((s) => s.evidence)
    .map((s) => {
      const e = s.evidence!;
      const unattributed =
        e.users.unattributed > 0 ? ` · ${count(e.users.unattributed)} without a version` : '';
      return [
        s.kind === 'precheck' ? '0' : String(s.index + 1),
        streamCell(e.canary),
        compositionCell(e),
        streamCell(e.stable, true),
        `${streamCell(e.users, true)}${unattributed}`,
      ];
    });
  return collapsibleTable(
    'Evidence per version (responses / failures · decision)',
    "| # | Canary | Canary responses | Stable | Users' path |",
    '|--:|:--|:--|:--|:--|',
    rows,
  );
}

/** A table folded under a <details> summary line; nothing without rows. */
function collapsibleTable(title: string, head: string, align: string, rows: string[][]): string[] {
  if (rows.length === 0) return [];
  return [
    `<details><summary>${title}</summary>`,
    '',
    head,
    align,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
    '',
    '</details>',
  ];
}

/** Per step, what Prometheus said of each version: requests, errors, p95 and the query used. */
function metricsTable(steps: StepReport[]): string[] {
  const rows: string[][] = [];
  for (const s of steps.filter((x) => x.metrics)) {
    const m = s.metrics!;
    const n = s.kind === 'precheck' ? '0' : String(s.index + 1);
    for (const [who, v] of [
      ['canary', m.canary],
      ['stable', m.stable],
    ] as const) {
      if (!v) continue;
      rows.push([
        n,
        who,
        v.requests === undefined ? 'no data' : count(v.requests),
        v.requests === undefined ? '—' : count(v.errors ?? 0),
        v.p95Ms === undefined ? '—' : `${Math.round(v.p95Ms)} ms`,
        v.reporter === 'source' ? 'gateway (no sidecar)' : 'sidecar',
        code(v.query, 300),
      ]);
    }
    for (const c of m.custom) {
      const bounds = [c.min !== undefined ? `min ${c.min}` : '', c.max !== undefined ? `max ${c.max}` : '']
        .filter(Boolean)
        .join(', ');
      const value = c.value === undefined ? 'no data' : String(Math.round(c.value * 1000) / 1000);
      rows.push([n, `${escapeMarkdown(c.name, 80)} (${bounds})`, value, '', '', '', code(c.query, 300)]);
    }
  }
  return collapsibleTable(
    'Metrics per version (Prometheus)',
    '| # | Version | Requests | Errors | p95 | Series | Query |',
    '|--:|:--|--:|--:|--:|:--|:--|',
    rows,
  );
}

// ---------------------------------------------------------------------------------------------
// Chart

export interface ChartPoint {
  /** Elapsed seconds since run start. */
  t: number;
  /** Canary weight, percent. */
  weight: number;
  /** Canary success rate, percent, when known. */
  success?: number;
}

function stepSuccess(s: StepReport): number | undefined {
  const f = s.canary ?? s.total;
  return f.requests > 0 ? (f.good / f.requests) * 100 : undefined;
}

/** Points for the chart: the steps' samples, else one point per step; at most `max` points. */
export function chartPoints(r: RunReport, max = MAX_CHART_POINTS): ChartPoint[] {
  const start = timeOf(r.startedAt) ?? 0;
  let pts: ChartPoint[] = [];
  for (const s of r.steps) {
    for (const p of s.samples ?? []) {
      if (!Number.isFinite(p.t) || !Number.isFinite(p.weight)) continue;
      const success =
        p.canarySuccess !== undefined && Number.isFinite(p.canarySuccess) ? p.canarySuccess * 100 : undefined;
      // the pre-traffic check probes the canary through the pinned route: users' weight is 0
      pts.push({ t: p.t, weight: s.kind === 'precheck' ? 0 : p.weight, success });
    }
  }
  if (pts.length === 0) {
    pts = r.steps
      .filter((s) => s.verdict !== 'skipped')
      .map((s) => {
        const at = timeOf(s.endedAt) ?? timeOf(s.startedAt) ?? start;
        return { t: Math.max(0, (at - start) / 1000), weight: s.weight, success: stepSuccess(s) };
      });
  }
  pts.sort((a, b) => a.t - b.t);
  // A rolled-back run ends with all traffic on stable: draw the return to 0%.
  const end = timeOf(r.endedAt);
  const back =
    r.outcome === 'rolled-back' && pts.length && pts[pts.length - 1].weight > 0
      ? { t: Math.max(pts[pts.length - 1].t, end !== undefined ? (end - start) / 1000 : 0), weight: 0 }
      : undefined;

  // Merge points that share an x-axis label (mermaid's band axis drops duplicate categories).
  const merged: ChartPoint[] = [];
  for (const p of pts) {
    const last = merged[merged.length - 1];
    if (last && chartLabel(last.t) === chartLabel(p.t)) merged[merged.length - 1] = combine([last, p]);
    else merged.push({ ...p });
  }
  if (back) {
    const last = merged[merged.length - 1];
    // same label as the last sample: a point of its own one second later (the band axis needs distinct labels)
    merged.push({ t: chartLabel(back.t) === chartLabel(last.t) ? last.t + 1 : back.t, weight: 0 });
  }
  if (merged.length <= max) return merged;
  if (back) return [...downsample(merged.slice(0, -1), max - 1), merged[merged.length - 1]];
  return downsample(merged, max);
}

function downsample(merged: ChartPoint[], max: number): ChartPoint[] {
  // Downsample into `max` buckets; keep the lowest success of a bucket so that dips stay visible.
  const out: ChartPoint[] = [];
  for (let i = 0; i < max; i++) {
    const from = Math.floor((i * merged.length) / max);
    const to = Math.floor(((i + 1) * merged.length) / max);
    if (to > from) out.push(combine(merged.slice(from, to)));
  }
  return out;
}

function combine(ps: ChartPoint[]): ChartPoint {
  const last = ps[ps.length - 1];
  const successes = ps.map((p) => p.success).filter((v): v is number => v !== undefined);
  return { t: last.t, weight: last.weight, success: successes.length ? Math.min(...successes) : undefined };
}

/** Compact elapsed-time label, "m:ss" (or "h:mm:ss"), so ~24 labels fit under the chart. */
function chartLabel(t: number): string {
  const total = Math.max(0, Math.round(t));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function num(v: number): string {
  const c = Math.min(100, Math.max(0, v));
  return String(Math.round(c * 10) / 10);
}

/** A mermaid xychart-beta block (fenced), or undefined when there is nothing to draw. */
export function renderChart(r: RunReport): string | undefined {
  const pts = chartPoints(r);
  if (pts.length === 0) return undefined;
  const labels = pts.map((p) => `"${chartLabel(p.t)}"`);
  const weights = pts.map((p) => num(p.weight));
  const lines = [
    '```mermaid',
    '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#1f6feb, #2da44e"}}}}%%',
    'xychart-beta',
    '  title "Canary weight and success rate"',
    `  x-axis "elapsed (m:ss)" [${labels.join(', ')}]`,
    '  y-axis "percent" 0 --> 100',
    `  line "Canary weight %" [${weights.join(', ')}]`,
  ];
  const known = pts.map((p) => p.success);
  const hasSuccess = known.some((v) => v !== undefined);
  if (hasSuccess) {
    // Carry the last known value forward (and the first one backward) so arrays stay equal length.
    let prev = known.find((v) => v !== undefined) as number;
    const filled = known.map((v) => (v === undefined ? prev : (prev = v)));
    lines.push(`  line "Canary success %" [${filled.map(num).join(', ')}]`);
  }
  lines.push('```');
  lines.push(
    hasSuccess
      ? '<sub>Blue: canary weight %. Green: canary success rate %.</sub>'
      : '<sub>Blue: canary weight %. No success-rate samples.</sub>',
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Summary

function releaseText(label: string, info: RunReport['stable']): string {
  if (!info.release && !info.chart && !info.service) return `**${label}:** none`;
  const parts: string[] = [];
  if (info.chart)
    parts.push(
      `chart ${code(info.chart)}${info.chartVersion ? ` ${escapeMarkdown(info.chartVersion, 100)}` : ''}`,
    );
  else if (info.chartVersion) parts.push(`chart ${escapeMarkdown(info.chartVersion, 100)}`);
  if (info.appVersion) parts.push(`app ${escapeMarkdown(info.appVersion, 100)}`);
  if (info.service) parts.push(`Service ${code(info.service)}`);
  return `**${label}:** ${code(info.release)}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** The step that decided a non-promoted outcome (the failed one, else the last one). */
function decidingStep(r: RunReport): StepReport | undefined {
  if (r.outcome === 'promoted' || r.outcome === 'unchanged') return undefined;
  return (
    r.steps.find((s) => s.verdict === 'failed') ??
    (r.outcome === 'running' ? r.steps[r.steps.length - 1] : undefined)
  );
}

/** "**Rolled back** at step 2 (25%): canary success rate 91.0% is below 99%." — one sentence. */
export function outcomeSentence(r: RunReport): string {
  const o = OUTCOME[r.outcome] ?? { word: escapeMarkdown(String(r.outcome)) };
  const step = decidingStep(r);
  const at = !step
    ? ''
    : step.kind === 'precheck'
      ? ' at the pre-traffic check'
      : ` at step ${step.index + 1} (${step.weight}%)`;
  const reason = escapeMarkdown(r.reason ?? '', 600).replace(/[\s.]+$/, '');
  return `**${o.word}**${at}${reason ? `: ${reason}` : ''}.`;
}

function safeUrl(url: string | undefined): string | undefined {
  if (!url || !/^https?:\/\/[^\s]+$/i.test(url.trim())) return undefined;
  return url
    .trim()
    .replace(/[()<>[\]"'`|]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The routing object(s) and, in subset mode, the registry of the versions. */
function routingLine(r: RunReport): string {
  const objects = r.routing.objects ?? [{ kind: r.routing.kind, name: r.routing.name }];
  const kinds = [...new Set(objects.map((o) => o.kind))];
  const names = objects.map((o) => code(o.name)).join(', ');
  const head =
    kinds.length === 1
      ? `**${kinds[0]}${objects.length > 1 ? 's' : ''}:** ${names}`
      : objects.map((o) => `**${o.kind}:** ${code(o.name)}`).join(', ');
  const versions = r.routing.versions
    ? `; **${r.routing.versions.kind}:** ${code(r.routing.versions.name)}`
    : '';
  return `${head}${r.route ? `, route ${code(r.route)}` : ''}${versions}`;
}

/** The Markdown job summary / pull-request comment for one run. */
export function renderSummary(r: RunReport, opts: RenderOptions = {}): string {
  const end = timeOf(r.endedAt) ?? nowMs(opts.now);
  const o = OUTCOME[r.outcome] ?? { emoji: '❔', title: escapeMarkdown(String(r.outcome)) };
  const app = r.release ?? r.canary.release ?? r.stable.release ?? r.routing.name;
  const out: string[] = [];

  if (opts.forComment) out.push(opts.marker ?? commentMarker(r.namespace, app));
  out.push(`### ${o.emoji} ${o.title}: ${code(app)} in ${code(r.namespace)}${r.dryRun ? ' (dry run)' : ''}`);
  out.push('');
  if (r.dryRun) {
    out.push('> ℹ️ **Dry run:** nothing was installed and no traffic weight was changed.');
    out.push('');
  }
  out.push(outcomeSentence(r));
  out.push('');
  out.push(`${releaseText('Stable', r.stable)} → ${releaseText('Canary', r.canary)}`);
  out.push('');
  out.push(routingLine(r));
  out.push('');

  const warnings = (r.warnings ?? []).filter((w) => w && w.trim());
  if (warnings.length) {
    warnings.forEach((w, i) => {
      if (i > 0) out.push('>');
      // "Remedy:" starts its own line, so a long finding reads as what happens, then what to do.
      const lines = w
        .split(/\r\n|\r|\n/)
        .flatMap((l) => l.split(/\s+(?=Remedy:)/))
        .filter((l) => l.trim());
      // A trailing backslash is a hard line break, so a multi-line warning keeps its lines.
      lines.forEach((l, j) =>
        out.push(`> ${j === 0 ? '⚠️ ' : ''}${escapeLine(l)}${j < lines.length - 1 ? '\\' : ''}`),
      );
    });
    out.push('');
  }

  if (r.unverified) {
    out.push(
      '> ⚠️ **Not verified:** neither `verify-url` nor `verify-command` was set (`allow-unverified: true`); each step only waited its bake time.',
    );
    out.push('');
  }
  if (r.baseline) {
    const b = r.baseline;
    const mark = b.verdict === 'passed' ? '✅' : b.verdict === 'failed' ? '❌' : '⏹️';
    out.push(`**Baseline** (current stable, before the install): ${mark} ${escapeMarkdown(b.reason, 600)}`);
    out.push('');
  }
  if (r.steps.length) {
    out.push(...stepsTable(r.steps, end));
    out.push('');
    const evidence = evidenceTable(r.steps);
    if (evidence.length) out.push(...evidence, '');
    const metrics = metricsTable(r.steps);
    if (metrics.length) out.push(...metrics, '');
  }

  const start = timeOf(r.startedAt);
  const total = start !== undefined ? formatDuration(Math.max(0, end - start)) : DASH;
  out.push(
    r.endedAt || r.outcome !== 'running'
      ? `**Total time:** ${total}`
      : `**Elapsed:** ${total} (still running)`,
  );
  out.push('');

  const chart = r.steps.length ? renderChart(r) : undefined;
  if (chart) {
    out.push(chart);
    out.push('');
  }

  const footer: string[] = [];
  const url = safeUrl(r.runUrl);
  if (url) footer.push(`[Workflow run](${url})`);
  footer.push(`command ${code(r.command)}`);
  if (r.helmVersion) footer.push(`helm ${escapeMarkdown(r.helmVersion, 50)}`);
  if (r.kubectlVersion) footer.push(`kubectl ${escapeMarkdown(r.kubectlVersion, 50)}`);
  out.push(`<sub>${footer.join(' · ')}</sub>`);
  return out.join('\n') + '\n';
}

/** One plain-text line for the log. */
export function renderOneLine(r: RunReport): string {
  const o = OUTCOME[r.outcome]?.word ?? String(r.outcome);
  const app = r.release ?? r.canary.release ?? r.stable.release ?? r.routing.name;
  const planned = r.steps.filter((s) => s.kind !== 'precheck');
  const passed = planned.filter((s) => s.verdict === 'passed').length;
  const last = [...planned].reverse().find((s) => s.verdict !== 'skipped');
  const precheckFailed = r.steps.some((s) => s.kind === 'precheck' && s.verdict === 'failed');
  const start = timeOf(r.startedAt);
  const end = timeOf(r.endedAt);
  const parts = [
    `helm-canary ${o.toLowerCase()}${r.dryRun ? ' (dry run)' : ''}: ${r.namespace}/${app}`,
    `${r.stable.release ?? 'none'} -> ${r.canary.release ?? 'none'}`,
    precheckFailed
      ? `pre-traffic check failed, 0/${planned.length} steps run`
      : `${passed}/${planned.length} steps passed${last ? `, last weight ${last.weight}%` : ''}`,
  ];
  if (r.unverified) parts.push('not verified');
  if (start !== undefined && end !== undefined) parts.push(formatDuration(end - start));
  const reason = r.reason ? `: ${r.reason.replace(/[\s.]+$/, '')}` : '';
  return oneLine(`${parts.join(', ')}${reason}`);
}
