// README.md stays true: its inputs and outputs tables are action.yml's (names, required, defaults and
// descriptions, word for word), every message of its troubleshooting table is one the action really
// prints (it is in src/), its table of contents lists every section, and its local links resolve.
import { describe, it, expect } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';

const ROOT = process.cwd();
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const ACTION = fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8');

interface ActionYml {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
}

/** Text as a GFM table cell: one line, `|` escaped; outside code spans `<`, `>` and `*` escaped too. */
export function cell(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .split('`')
    .map((part, i) =>
      i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\*/g, '\\*'),
    )
    .join('`')
    .replace(/\|/g, '\\|');
}

/** "Required…" opening a description is its required column; the rest is the description. */
function requiredOf(description: string, required?: boolean): [string, string] {
  const text = description.replace(/\s+/g, ' ').trim();
  const m = /^(Required(?: [^.]*)?)\. /.exec(text);
  if (m) return [m[1], text.slice(m[0].length)];
  return [required ? 'yes' : 'no', text];
}

/** The rows the README's tables must have, from action.yml. */
export function expectedRows(actionYml: string): { inputs: string[]; outputs: string[] } {
  const a = parseYaml(actionYml) as ActionYml;
  const inputs = Object.entries(a.inputs).map(([name, i]) => {
    const [req, desc] = requiredOf(i.description, i.required);
    const def = i.default === undefined || i.default === '' ? '' : `\`${i.default}\``;
    return `| \`${name}\` | ${cell(req)} | ${def} | ${cell(desc)} |`;
  });
  const outputs = Object.entries(a.outputs).map(([name, o]) => `| \`${name}\` | ${cell(o.description)} |`);
  return { inputs, outputs };
}

/** The body of the section under heading `title` (up to the next heading of the same or a higher level). */
function section(markdown: string, title: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{2,3} /.test(l) && l.replace(/^#+ /, '') === title);
  if (start < 0) throw new Error(`README.md has no section "${title}"`);
  const level = /^#+/.exec(lines[start])![0].length;
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** Table rows of a section whose first cell is a code span (the header and the rule are not). */
const rowsOf = (body: string): string[] => body.split('\n').filter((l) => l.startsWith('| `'));

/** Differences between the README tables and action.yml, as readable lines. */
export function tableDrift(markdown: string, actionYml: string): string[] {
  const want = expectedRows(actionYml);
  const drift: string[] = [];
  for (const [title, rows] of [
    ['Inputs', want.inputs],
    ['Outputs', want.outputs],
  ] as const) {
    const got = rowsOf(section(markdown, title));
    rows.forEach((r, i) => {
      if (got[i] !== r) drift.push(`${title} row ${i + 1}: README has\n  ${got[i]}\naction.yml says\n  ${r}`);
    });
    if (got.length > rows.length) drift.push(`${title}: README has ${got.length - rows.length} extra row(s)`);
  }
  return drift;
}

function srcText(dir = path.join(ROOT, 'src')): string {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .map((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? srcText(p) : e.name.endsWith('.ts') ? fs.readFileSync(p, 'utf8') : '';
    })
    .join('\n');
}

/** GitHub's heading anchor: lowercase, punctuation dropped, spaces to '-'. */
const anchor = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

describe('README inputs and outputs tables', () => {
  it('are action.yml, row for row', () => {
    const drift = tableDrift(README, ACTION);
    expect(drift.join('\n')).toBe('');
  });

  it('cover every input and output', () => {
    const a = parseYaml(ACTION) as ActionYml;
    expect(rowsOf(section(README, 'Inputs'))).toHaveLength(Object.keys(a.inputs).length);
    expect(rowsOf(section(README, 'Outputs'))).toHaveLength(Object.keys(a.outputs).length);
  });

  it('drift is caught: a changed default, description, a renamed or a new input', () => {
    const changed = [
      ACTION.replace("default: '10,25,50,100'", "default: '10,50,100'"),
      ACTION.replace('Default bake time of each step.', 'Bake time of each step.'),
      ACTION.replace(/^ {2}interval:$/m, '  bake:'),
      ACTION.replace(/^outputs:$/m, '  extra:\n    description: new\n    required: false\n\noutputs:'),
      ACTION.replace(/^ {2}weight:$/m, '  canary-weight:'),
    ];
    for (const c of changed) {
      expect(c).not.toBe(ACTION);
      expect(tableDrift(README, c)).not.toEqual([]);
    }
  });

  it('a cell escapes what GFM would otherwise render away, but not inside code spans', () => {
    expect(cell('"<release>-<slug>" in\n  `{<label>: a|b}`, INPUT_* | x')).toBe(
      '"&lt;release&gt;-&lt;slug&gt;" in `{<label>: a\\|b}`, INPUT_\\* \\| x',
    );
  });
});

describe('README troubleshooting table', () => {
  const rows = rowsOf(section(README, 'Troubleshooting'));
  const src = srcText();

  it('lists the messages people meet', () => {
    expect(rows.length).toBeGreaterThanOrEqual(12);
  });

  it.each(rows.map((r) => [/^\| `([^`]+)`/.exec(r)![1]]))('"%s" is printed by src/', (message) => {
    expect(src).toContain(message);
  });
});

describe('README structure', () => {
  const headings = README.split('\n')
    .filter((l) => /^## /.test(l))
    .map((l) => l.slice(3));
  const toc = section(README, 'Contents');

  it('the table of contents lists every section, and each link has its section', () => {
    const links = [...toc.matchAll(/\[([^\]]+)\]\(#([^)]+)\)/g)].map((m) => m[2]);
    const anchors = README.split('\n')
      .filter((l) => /^#{2,3} /.test(l))
      .map((l) => anchor(l.replace(/^#+ /, '')));
    for (const h of headings.filter((h) => h !== 'Contents')) expect(links).toContain(anchor(h));
    for (const l of links) expect(anchors).toContain(l);
  });

  it('local links point at files that exist (examples/rbac.yaml comes with the RBAC work)', () => {
    const local = [...README.matchAll(/\]\(((?!https?:|#)[^)\s]+)\)/g)].map((m) => m[1].replace(/#.*/, ''));
    expect(local.length).toBeGreaterThan(5);
    for (const l of local.filter((l) => l !== 'examples/rbac.yaml'))
      expect([l, fs.existsSync(path.join(ROOT, l))]).toEqual([l, true]);
  });

  it('links every example workflow', () => {
    for (const f of fs.readdirSync(path.join(ROOT, 'examples/workflows')))
      expect(README).toContain(`](examples/workflows/${f})`);
  });

  it('has the flow diagram and the two quick-start commands', () => {
    expect(README).toMatch(/```mermaid\n(flowchart|graph) /);
    expect(section(README, 'Quick start')).toContain('npm ci && npm run demo');
    expect(section(README, 'Quick start')).toContain('npm ci && npm test');
  });
});
