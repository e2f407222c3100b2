// Section 1: time to safety from the users' side. Users' load goes through the gateway stand-in
// while the bundled action rolls out a bad canary with the default pre-traffic check; counted: the
// users' requests the canary answered, and when it answered the last one.
import type { Section } from './section.js';
import { mmm, table } from './stats-helper.js';
import { baseInputs, watchedRun, withWorld, CANARY_BACKEND } from './world-helper.js';

interface Scenario {
  id: string;
  what: string;
  annotations: Record<string, string>;
  args?: string[];
  inputs?: Record<string, string>;
  /** Rates beyond the default 5 (the grid is reduced to keep the whole bench near 15 minutes). */
  alsoAt20?: boolean;
}

const SCENARIOS: Scenario[] = [
  { id: 'a', what: 'fails every request (500)', annotations: {}, args: ['-status-code=500'], alsoAt20: true },
  {
    id: 'a0',
    what: 'fails every request, pre-traffic check off (`precheck: 0s`)',
    annotations: {},
    args: ['-status-code=500'],
    inputs: { precheck: '0s' },
    alsoAt20: true,
  },
  { id: 'b', what: 'fails 20%', annotations: { 'standin.helm-canary/error-rate': '0.2' } },
  {
    id: 'c',
    what: 'fails 6% (94%, 5 points below success-rate 99)',
    annotations: { 'standin.helm-canary/error-rate': '0.06' },
  },
  {
    id: 'd',
    what: '300 ms slower, max-latency 200ms',
    annotations: { 'standin.helm-canary/latency-ms': '300' },
    inputs: { 'max-latency': '200' },
  },
];
export const USER_RPS = 20;
// A bad canary that passed the pre-traffic check would bake here with users' traffic.
export const STEPS = '10@20s,100@1s';

export const safety: Section = {
  id: 'safety',
  title: "1. Time to safety, from the users' side",
  async run(ctx) {
    const rows: Array<Array<string | number>> = [];
    for (const sc of SCENARIOS) {
      for (const rps of ctx.quick || !sc.alsoAt20 ? [5] : [5, 20]) {
        const served: number[] = [];
        const lastS: number[] = [];
        const restoredS: number[] = [];
        const statuses: Record<string, number> = {};
        let maxWeight = 0;
        await withWorld(async (w) => {
          for (let i = 0; i < ctx.runs; i++) {
            const values = w.sampleValues(`v2-${i}`, 'hello world v2', sc.annotations, sc.args ?? []);
            const r = await watchedRun(
              w,
              {
                ...baseInputs(w),
                'values-files': values,
                'verify-rps': String(rps),
                steps: STEPS,
                // After the route is restored: shortens each run, changes none of the figures.
                drain: '1s',
                ...sc.inputs,
              },
              { userRps: USER_RPS },
            );
            const st = r.run.outputs.status ?? `exit ${r.run.code}`;
            statuses[st] = (statuses[st] ?? 0) + 1;
            maxWeight = Math.max(maxWeight, r.maxCanaryWeight);
            const hits = r.load!.servedBy(CANARY_BACKEND, r.installedAt ?? 0);
            served.push(hits.length);
            if (hits.length && r.installedAt) lastS.push((hits[hits.length - 1].at - r.installedAt) / 1000);
            if (r.installedAt && r.restoredAt) restoredS.push((r.restoredAt - r.installedAt) / 1000);
            ctx.log(
              `  (${sc.id}) verify-rps ${rps} run ${i + 1}: ${st}, users' requests on the canary ${hits.length}, ` +
                `max canary weight ${r.maxCanaryWeight}%, install → restored ${r.restoredAt && r.installedAt ? ((r.restoredAt - r.installedAt) / 1000).toFixed(1) + ' s' : '–'}`,
            );
          }
        });
        if (sc.id === 'a' && rps === 5)
          ctx.results.safety = `${mmm(served)} users' requests on the bad canary; install → restored ${mmm(restoredS, 1)} s (measured, (a))`;
        rows.push([
          `(${sc.id}) ${sc.what}`,
          rps,
          Object.entries(statuses)
            .map(([k, n]) => `${n}× ${k}`)
            .join(', '),
          mmm(served),
          lastS.length ? `${mmm(lastS, 1)} s (${lastS.length} of ${ctx.runs} runs)` : 'none served',
          `${maxWeight}%`,
          restoredS.length ? `${mmm(restoredS, 1)} s` : '–',
        ]);
      }
    }
    return [
      `Bundled action (\`dist/index.js\`) with the real helm/kubectl against the stand-ins, a fresh world per ` +
        `scenario and rate, ${ctx.runs} runs each (median (min–max)); (b)–(d) at the default \`verify-rps: 5\` only, to keep the whole bench near 15 minutes. Users: ${USER_RPS} rps through the gateway ` +
        `stand-in, Host \`127.0.0.1.xip.io\`, no canary header; the gateway's \`x-standin-backend\` answer header ` +
        `says which Service answered. Inputs: defaults (pre-traffic check \`precheck: 30s\`, \`success-rate: 99\`, ` +
        `\`settle: 2s\`) except \`steps: ${STEPS}\`, \`verify-rps\` and \`drain: 1s\` (after the restore; shortens the runs). "install" = the moment the ` +
        `VirtualService names the installed canary as progressing; "restored" = the users' route is stable-only ` +
        `and the pinned probe route is gone.`,
      '',
      table(
        [
          'canary',
          'verify-rps',
          'outcome',
          "users' requests served by the bad canary",
          'install → last such request',
          'max canary weight',
          'install → restored',
        ],
        rows,
        ['---', '---:', '---', '---:', '---:', '---:', '---:'],
      ),
    ].join('\n');
  },
};
