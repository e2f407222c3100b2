// The demo rollout (`npm run demo`): the tutorial's manual canary, done by helm-canary.
// Everything runs locally: a Kubernetes API stand-in that the real helm and kubectl talk to, an
// Istio ingress gateway stand-in that routes by the stored VirtualService weights, and the bundled
// action (dist/index.js) run exactly as a GitHub runner runs it.
// `npm run demo -- --tools=helm3` uses helm 3.17 + kubectl 1.31 instead of helm 4.1 + kubectl 1.35.
import path from 'node:path';

const toolsArg = process.argv.slice(2).find((a) => a.startsWith('--tools='));
if (toolsArg) {
  const pair = toolsArg.slice('--tools='.length);
  if (pair !== 'helm4' && pair !== 'helm3') {
    console.error(`--tools must be helm4 or helm3, not "${pair}"`);
    process.exit(2);
  }
  process.env.HELM_CANARY_TOOLS = pair; // read by standins/world.ts when it loads
}
const { World, CHARTS, TOOLS } = await import('../standins/world.js');
type World = Awaited<ReturnType<typeof World.start>>;

const HOST = '127.0.0.1.xip.io';
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s: string) => console.log(`\n${bold('▶ ' + s)}`);

async function sample(w: World, n: number): Promise<string> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await w.request(HOST);
    const key = `${r.status} ${r.body.trim()}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, v]) => `${v}× "${k}"`).join(', ');
}

async function main(): Promise<void> {
  const w = await World.start();
  try {
    say(
      `Local cluster stand-in at ${w.kube.url}, gateway at ${w.gateway.url} (helm/kubectl: .tools/${TOOLS})`,
    );
    say('Tutorial step 1: kubectl label namespace default istio-injection=enabled (sidecars for the mesh)');
    await w.must(w.kubectl('label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite'));
    say(
      'Tutorial steps 2-3: helm install foolish-penguin ./sample (hello world v1), helm install exciting-lemur ./sample-gateway (Gateway + VirtualService, 100% to v1)',
    );
    await w.tutorial('hello world v1');
    console.log(`  20 requests through the gateway: ${await sample(w, 20)}`);

    say('Roll out v2 with helm-canary: 10% → 50% → 100%, probing the gateway at 20 rps during each step');
    const inputs = {
      chart: path.join(CHARTS, 'sample'),
      release: 'sample',
      'virtual-service': 'exciting-lemur-vs',
      'verify-url': `${w.gateway.url}/`,
      'verify-host': HOST,
      'verify-rps': '20',
      'canary-match': 'body:v[0-9]+',
      // Short waits for the demo (defaults: precheck 30s, settle 2s, drain 10s).
      precheck: '5s',
      settle: '1s',
      drain: '2s',
    };
    const v2 = await w.runAction(
      {
        ...inputs,
        version: 'v2',
        steps: '10@5s,50@5s,100@5s',
        'canary-match': 'body:v2',
        'values-files': w.sampleValues('v2', 'hello world v2'),
      },
      { stream: process.stdout },
    );
    console.log(
      `\n  status=${v2.outputs.status} weight=${v2.outputs.weight} in ${(v2.ms / 1000).toFixed(1)} s`,
    );
    console.log(`  VirtualService route now: ${w.weights()}`);
    console.log(`  20 requests through the gateway: ${await sample(w, 20)}`);

    say(
      'Roll out a broken v3 (every request answers 500): the pre-traffic check must catch it before any user gets it',
    );
    const started = Date.now();
    const stopWatch = w.watchRollback(/sample-v3=[1-9]/, 'sample-v2=100');
    const v3 = await w.runAction(
      {
        ...inputs,
        version: 'v3',
        steps: '10@60s,50@60s,100@60s',
        'verify-rps': '5',
        'canary-match': 'body:v3',
        'values-files': w.sampleValues('v3', 'hello world v3', {}, ['-status-code=500']),
      },
      { stream: process.stdout },
    );
    const { ms } = stopWatch();
    console.log(`\n  status=${v3.outputs.status} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(
      ms === undefined
        ? `  v3 never got user traffic: the pinned probes of the pre-traffic check failed it`
        : `  time from the canary getting 10% to 100% back on stable: ${ms} ms (bake was 60 s)`,
    );
    console.log(`  VirtualService route now: ${w.weights()}`);
    console.log(`  20 requests through the gateway: ${await sample(w, 20)}`);

    say('Job summary the action wrote for the v2 rollout (GitHub renders it, Mermaid chart included):');
    console.log(v2.summary);
    if (v2.outputs.status !== 'promoted' || v3.outputs.status !== 'rolled-back') {
      throw new Error(`unexpected outcome: v2 ${v2.outputs.status}, v3 ${v3.outputs.status}`);
    }
    say('Demo done: v2 promoted, broken v3 rolled back.');
  } finally {
    await w.stop();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
