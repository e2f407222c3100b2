// Section 6: peak RSS (VmHWM) of the action process during a rollout probing at 100 rps.
import fs from 'node:fs';
import type { Section } from './section.js';
import { baseInputs, watchedRun, withWorld } from './world-helper.js';

function kib(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
}

export const memory: Section = {
  id: 'memory',
  title: '6. Memory',
  async run(ctx) {
    // --long: the issue's 5 minutes (precheck 30 s + 3 × 90 s); default: about a minute.
    const steps = ctx.long ? '10@90s,50@90s,100@90s' : ctx.quick ? '10@5s,100@5s' : '10@15s,50@15s,100@15s';
    const precheck = ctx.long ? '30s' : '10s';
    let hwm = 0;
    let samples = 0;
    let startedAt = 0;
    // Peak so far at 10 s, then at each quarter of the run: growth vs the start-up baseline.
    const series: Array<[number, number]> = [];
    let timer: NodeJS.Timeout | undefined;
    const r = await withWorld((w) =>
      watchedRun(
        w,
        {
          ...baseInputs(w),
          'values-files': w.sampleValues('v2', 'hello world v2'),
          'verify-rps': '100',
          steps,
          precheck,
        },
        {
          userRps: 20,
          onSpawn: (p) => {
            timer = setInterval(() => {
              try {
                const s = fs.readFileSync(`/proc/${p.pid}/status`, 'utf8');
                hwm = Math.max(hwm, kib(s, 'VmHWM'));
                if (samples++ === 0) startedAt = Date.now();
                const t = (Date.now() - startedAt) / 1000;
                if (!series.length || t - series[series.length - 1][0] >= 30) series.push([t, hwm / 1024]);
              } catch {
                // the process has exited
              }
            }, 250);
          },
        },
      ),
    );
    clearInterval(timer);
    const mb = hwm / 1024;
    return [
      `One rollout of a healthy canary, \`verify-rps: 100\`, \`precheck: ${precheck}\`, \`steps: ${steps}\` ` +
        `(${(r.run.ms / 1000).toFixed(0)} s in all, status ${r.run.outputs.status}), users at 20 rps. Peak RSS = the ` +
        `highest \`VmHWM\` of \`/proc/<pid>/status\` of the action's Node process, sampled every 250 ms (${samples} samples; ` +
        `helm/kubectl children not included).`,
      '',
      `Peak RSS so far, by seconds into the run: ${series.map(([t, m]) => `${t.toFixed(0)} s ${m.toFixed(0)} MB`).join(', ')}.`,
      '',
      `Peak RSS: **${mb.toFixed(1)} MB** (goal ≤ 100 MB: ${mb <= 100 ? 'met' : 'MISSED'})${ctx.long ? '' : '. This is the ~1-minute default run; `--long` gives the 5-minute figure.'}`,
    ].join('\n');
  },
};
