// Benchmark: how fast a broken canary is detected and all traffic is back on stable, end to end
// (dist/index.js + the real helm/kubectl + the stand-ins). Prints figures, asserts nothing.
//
// For each scenario it runs the action N times against a canary whose every request fails, at
// weight 10% and 5 rps (the action's defaults), and measures from the moment the VirtualService
// gives the canary traffic to the moment it is back at 100% stable (sampled in-process every 5 ms).
//
// Run: npm run bench:rollback [-- --runs 5]   (HELM_CANARY_TOOLS=helm3 for the Helm 3 pair)
import path from 'node:path';
import { World, CHARTS, TOOLS } from '../standins/world.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;

interface Scenario {
  name: string;
  inputs: Record<string, string>;
  annotations: Record<string, string>;
}

const scenarios: Scenario[] = [
  {
    name: 'canary-match (per-version figures)',
    inputs: { 'canary-match': 'header:x-version=v2' },
    annotations: { 'standin.helm-canary/response-headers': 'x-version=v2' },
  },
  { name: 'aggregate only (no canary-match)', inputs: {}, annotations: {} },
];

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `min ${s[0]} ms, median ${s[Math.floor(s.length / 2)]} ms, mean ${Math.round(mean)} ms, max ${s[s.length - 1]} ms`;
}

async function once(sc: Scenario): Promise<number | undefined> {
  const w = await World.start();
  try {
    await w.tutorial();
    const stopWatch = w.watchRollback(/sample-v2=[1-9]/, 'foolish-penguin-sample=100');
    const r = await w.runAction({
      chart: path.join(CHARTS, 'sample'),
      release: 'sample',
      version: 'v2',
      'virtual-service': 'exciting-lemur-vs',
      'verify-url': `${w.gateway.url}/`,
      'verify-host': '127.0.0.1.xip.io',
      steps: '10@120s,100@10s',
      // The step-level rollback is measured: without a pre-traffic check the canary gets its 10%.
      precheck: '0s',
      'values-files': w.sampleValues('v2', 'hello world v2', sc.annotations, ['-status-code=500']),
      ...sc.inputs,
    });
    const { ms } = stopWatch();
    if (r.outputs.status !== 'rolled-back') console.log(`  unexpected status ${r.outputs.status}`);
    return ms;
  } finally {
    await w.stop();
  }
}

async function main(): Promise<void> {
  console.log(
    `time to rollback, ${TOOLS}, ${RUNS} runs per scenario, canary failing every request at 10%, 5 rps, bake 120 s`,
  );
  for (const sc of scenarios) {
    const xs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const ms = await once(sc);
      if (ms !== undefined) xs.push(ms);
    }
    console.log(`${sc.name}: ${xs.length ? stats(xs) : 'no measurement'} (${xs.join(', ')})`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
