// Section 4: the probe engine (src/verify/prober.ts) vs a shell loop of curl, each on one core
// (taskset) against the same local keep-alive server on the other core, in the same run.
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Section } from './section.js';
import { table } from './stats-helper.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a child and resolves with its last stdout line parsed as JSON. */
function child(cmd: string, args: string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${out.slice(-300)}`));
      resolve(JSON.parse(last) as Record<string, number>);
    });
  });
}

export const probe: Section = {
  id: 'probe',
  title: '4. Probe engine vs curl (one core)',
  async run(ctx) {
    if (!have('curl'))
      return 'curl is not installed (Debian: `sudo apt-get install -y curl`): section skipped.';
    const pin = have('taskset') ? (core: number) => ['taskset', '-c', String(core)] : () => [];
    const server = spawn(
      ...(pinned(pin(1), process.execPath, [path.join(HERE, 'probe-child.js'), 'server']) as [
        string,
        string[],
      ]),
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const url = await new Promise<string>((resolve) =>
      server.stdout.once('data', (d) => resolve(String(d).trim())),
    );
    try {
      const seconds = ctx.quick ? 3 : 8;
      const [pc, pa] = pinned(pin(0), process.execPath, [
        path.join(HERE, 'probe-child.js'),
        'prober',
        url,
        String(seconds),
      ]);
      const engine = await child(pc, pa);
      const [mc, ma] = pinned(pin(0), process.execPath, [
        path.join(HERE, 'probe-child.js'),
        'prober',
        url,
        '5',
        '100',
      ]);
      const at100 = await child(mc, ma);
      const n = ctx.quick ? 100 : 400;
      const [cc, ca] = pinned(pin(0), 'bash', [
        '-c',
        `s=$(date +%s%N); for i in $(seq ${n}); do curl -s -o /dev/null "$0" || exit 1; done; e=$(date +%s%N); echo "{\\"requests\\":${n},\\"ms\\":$(( (e-s)/1000000 ))}"`,
        url,
      ]);
      const curl = await child(cc, ca);
      const curlRps = (curl.requests * 1000) / curl.ms;
      const ratio = engine.rps / curlRps;
      ctx.log(`  prober ${engine.rps.toFixed(0)}/s, curl loop ${curlRps.toFixed(0)}/s`);
      return [
        `Server: a Node keep-alive HTTP server answering \`ok\` on core 1. Clients on core 0 (\`taskset -c 0\`), one after ` +
          `the other. Prober: the real \`Prober\` open loop asked for 20000 rps (max 64 in flight) for ${seconds} s; ` +
          `curl: \`for i in $(seq ${n}); do curl -s -o /dev/null URL; done\` (${have('curl') ? 'system curl' : ''}).`,
        '',
        table(
          ['client', 'requests', 'requests/s', 'CPU per request'],
          [
            ['Prober (max rate)', engine.responses, engine.rps.toFixed(0), `${engine.cpuUs.toFixed(0)} µs`],
            [
              'Prober at `verify-rps: 100` (input maximum)',
              at100.responses,
              at100.rps.toFixed(1),
              `${at100.cpuUs.toFixed(0)} µs (${at100.cpuPct.toFixed(1)}% of a core)`,
            ],
            ['bash loop of curl', curl.requests, curlRps.toFixed(0), '(a process per request)'],
          ],
        ),
        '',
        `Ratio Prober / curl loop: **${ratio.toFixed(1)}×** (goal ≥ 10×: ${ratio >= 10 ? 'met' : 'MISSED'}).`,
      ].join('\n');
    } finally {
      server.kill();
    }
  },
};

function pinned(prefix: string[], cmd: string, args: string[]): [string, string[]] {
  return prefix.length ? [prefix[0], [...prefix.slice(1), cmd, ...args]] : [cmd, args];
}
