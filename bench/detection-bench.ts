// Section 2: detection power and false failures of the evidence rule. The simulation runs the real
// decision code (src/verify/simulation.ts drives src/verify/analysis.ts); three grid points are
// then confirmed by the bundled action on the stand-ins.
import type { VerifySettings } from '../src/lib/types.js';
import { designFor } from '../src/verify/analysis.js';
import { prng, simulateEvidenceStep } from '../src/verify/simulation.js';
import type { Section } from './section.js';
import { table } from './stats-helper.js';
import { baseInputs, watchedRun, withWorld } from './world-helper.js';

const settings = (rps: number): VerifySettings => ({
  url: 'http://gw',
  headers: {},
  statuses: [[200, 399]],
  rps,
  timeoutMs: 5000,
  successRate: 0.99,
});

/** Share of seeded simulated steps failed. */
function failedShare(
  runs: number,
  seed: number,
  rps: number,
  weight: number,
  truth: number,
  bakeS: number,
): number {
  const rnd = prng(seed);
  let failed = 0;
  for (let i = 0; i < runs; i++)
    if (
      simulateEvidenceStep(rnd, { settings: settings(rps), weight, bakeS, canarySuccess: truth }).verdict ===
      'failed'
    )
      failed++;
  return failed / runs;
}

const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
// Stand-in confirmation: short bakes at the highest rate keep the runs short.
const CONFIRM = { rps: 100, weight: 10, bakeS: 8 };
const POINTS = [
  { truth: 0.94, errorRate: '0.06' },
  { truth: 0.995, errorRate: '0.005' },
  { truth: 1, errorRate: '' },
];

export const detection: Section = {
  id: 'detection',
  title: '2. Detection power and false failures (evidence rule)',
  async run(ctx) {
    const d = designFor(0.99);
    const runs = ctx.quick ? 100 : 300;
    const bakeS = 60;
    const weights = [1, 5, 10, 25, 50];
    const rates = [1, 5, 20, 100];
    const truths = [0.94, 0.97, 0.99, 0.995, 0.999];
    const rows: Array<Array<string | number>> = [];
    let minDetect = 1;
    let maxFalse = 0;
    for (const rps of rates)
      for (const weight of weights) {
        const cells = truths.map((t, k) =>
          failedShare(runs, rps * 10_000 + weight * 10 + k, rps, weight, t, bakeS),
        );
        minDetect = Math.min(minDetect, cells[0]);
        maxFalse = Math.max(maxFalse, cells[3], cells[4]);
        rows.push([rps, `${weight}%`, ...cells.map(pc)]);
      }
    const confirmRows: Array<Array<string | number>> = [];
    await withWorld(async (w) => {
      for (const p of POINTS) {
        let failed = 0;
        for (let i = 0; i < ctx.runs; i++) {
          const ann: Record<string, string> = p.errorRate
            ? { 'standin.helm-canary/error-rate': p.errorRate }
            : {};
          const r = await watchedRun(w, {
            ...baseInputs(w),
            'values-files': w.sampleValues(`c${i}`, 'hello world v2', ann),
            'verify-rps': String(CONFIRM.rps),
            steps: `${CONFIRM.weight}@${CONFIRM.bakeS}s,100@0s`,
            precheck: '0s',
            drain: '1s',
          });
          if (r.run.outputs.status === 'rolled-back') failed++;
          ctx.log(
            `  stand-in point ${pc(p.truth)} run ${i + 1}: ${r.run.outputs.status ?? 'exit ' + r.run.code}`,
          );
          // A promoted run leaves the canary as the new stable: start the next run from the tutorial.
          if (r.run.outputs.status !== 'rolled-back') await resetTutorial(w);
        }
        const sim = failedShare(
          2000,
          77 + p.truth * 1000,
          CONFIRM.rps,
          CONFIRM.weight,
          p.truth,
          CONFIRM.bakeS,
        );
        confirmRows.push([pc(p.truth), `${failed}/${ctx.runs}`, pc(sim)]);
      }
    });
    return [
      `Simulation: the real decision code, ${runs} seeded runs per cell, one step at the given weight, ` +
        `bake ${bakeS} s (the default \`interval: 1m\`), max-bake 3× bake, \`success-rate: 99\` ` +
        `(H0 success ${pc(1 - d.e0)}, H1 ${pc(1 - d.e1)}), pinned share from \`pinnedShare()\`, no canary-match, ` +
        `stable at 99.9%. Cells: share of steps failed for the canary's true success rate.`,
      '',
      table(
        [
          'verify-rps',
          'weight',
          'true 94% (detect)',
          '97%',
          '99% (threshold)',
          '99.5% (false fail)',
          '99.9% (false fail)',
        ],
        rows,
      ),
      '',
      `Over the grid: detection at 94% ≥ **${pc(minDetect)}** (goal ≥ 95%), false failures at ≥ 99.5% ≤ **${pc(maxFalse)}** ` +
        `(goal ≤ 1%). ${minDetect >= 0.95 && maxFalse <= 0.01 ? 'Both goals met.' : 'A goal is missed: see the cells.'}`,
      '',
      `Confirmed on the stand-ins (bundled action, \`verify-rps: ${CONFIRM.rps}\`, \`steps: ${CONFIRM.weight}@${CONFIRM.bakeS}s,100@0s\`, ` +
        `\`precheck: 0s\`; the canary fails at random with the gateway's \`error-rate\` knob), beside the simulation of the same point:`,
      '',
      table(['canary true success', 'stand-in runs failed', 'simulation failed (2000 runs)'], confirmRows),
    ].join('\n');
  },
};

/** After a promotion the canary is the stable: put the tutorial's routes and releases back. */
async function resetTutorial(w: import('../standins/world.js').World): Promise<void> {
  const rels = (await w.must(w.helm('list', '-q'))).split('\n').filter(Boolean);
  for (const r of rels) await w.must(w.helm('uninstall', r, '--wait'));
  await w.tutorial();
}
