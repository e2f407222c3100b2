// Section 3: overhead per step. A weight change (guarded patch + read-back) through the real router
// classes (src/router/factory.ts) and the real kubectl helper against the stand-in, with 1, 5 and 20
// VirtualServices in one rollout; then a whole zero-bake rollout minus `helm install --wait`.
import fs from 'node:fs';
import path from 'node:path';
import { createKubectl } from '../src/kube/kubectl-helper.js';
import { createRouter } from '../src/router/factory.js';
import { CHARTS, TOOLS, TOOLS_DIR, type World } from '../standins/world.js';
import type { Section } from './section.js';
import { median, mmm, pct, table } from './stats-helper.js';
import { baseInputs, HOST, withWorld } from './world-helper.js';

function vsManifest(name: string): string {
  return JSON.stringify({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: 'default' },
    spec: {
      hosts: [`${name}.example`],
      http: [{ name: 'primary', route: [{ destination: { host: 'foolish-penguin-sample' }, weight: 100 }] }],
    },
  });
}

async function timeRouter(w: World, names: string[], changes: number): Promise<number[]> {
  const kubectl = await createKubectl({
    kubeconfigPath: w.env.KUBECONFIG,
    namespace: 'default',
    env: w.env as Record<string, string>,
  });
  const router = createRouter({
    kubectl,
    namespace: 'default',
    virtualService: names[0],
    virtualServices: names.length > 1 ? names : undefined,
    helmMajor: TOOLS === 'helm3' ? 3 : 4,
  });
  let snap = await router.getRoutes();
  const ms: number[] = [];
  for (let i = 0; i < changes; i++) {
    const canary = i % 2 === 0 ? 10 : 0;
    const dests = [
      { host: 'foolish-penguin-sample', weight: 100 - canary },
      { host: 'sample-v2', weight: canary },
    ];
    const t0 = performance.now();
    snap = await router.setRoutes(dests, { version: snap.version });
    ms.push(performance.now() - t0);
  }
  await router.setRoutes([{ host: 'foolish-penguin-sample', weight: 100 }]);
  return ms;
}

export const overhead: Section = {
  id: 'overhead',
  title: '3. Overhead per step, and how it grows',
  async run(ctx) {
    // Fewer changes for more objects: 20 objects take seconds per change with a process per call.
    const changesFor = (n: number) => (ctx.quick ? 4 : n === 1 ? 20 : n === 5 ? 10 : 5);
    const rows: Array<Array<string | number>> = [];
    let one = NaN;
    process.env.PATH = `${TOOLS_DIR}:${process.env.PATH}`;
    for (const n of [1, 5, 20]) {
      const ms = await withWorld(async (w) => {
        await w.must(
          applyJson(
            w,
            JSON.stringify({
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { name: 'sample-v2', namespace: 'default' },
              spec: { ports: [{ port: 80 }], selector: { app: 'none' } },
            }),
          ),
        );
        const names = ['exciting-lemur-vs'];
        for (let i = 1; i < n; i++) {
          names.push(`bench-vs-${i}`);
          await w.must(applyJson(w, vsManifest(`bench-vs-${i}`)));
        }
        return timeRouter(w, names, changesFor(n));
      });
      if (n === 1) one = median(ms);
      rows.push([
        n,
        changesFor(n),
        `${median(ms).toFixed(0)} ms`,
        `${pct(ms, 0.95).toFixed(0)} ms`,
        `${(median(ms) / n).toFixed(0)} ms`,
      ]);
    }
    // The cause of most of it: one kubectl process per call.
    const spawnMs = await withWorld(async (w) => {
      const xs: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        await w.must(w.kubectl('get', 'virtualservice', 'exciting-lemur-vs', '-o', 'json'));
        xs.push(performance.now() - t0);
      }
      return xs;
    });
    // Whole rollout, zero bake, no verification, no settle/drain waits: the action's own work.
    const rollout: number[] = [];
    const install: number[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      await withWorld(async (w) => {
        const values = w.sampleValues('v2', 'hello world v2');
        const t0 = Date.now();
        const chart = path.join(CHARTS, 'sample');
        await w.must(
          w.helm(...['install', 'bench-install', chart, '-f', values, '--wait', '--timeout', '60s']),
        );
        install.push(Date.now() - t0);
        await w.must(w.helm('uninstall', 'bench-install', '--wait'));
        const r = await w.runAction({
          ...baseInputs(w),
          'verify-url': '',
          'verify-host': '',
          'allow-unverified': 'true',
          'values-files': values,
          steps: '10@0s,50@0s,100@0s',
          settle: '0s',
          drain: '0s',
        });
        if (r.outputs.status !== 'promoted')
          ctx.log(
            `  zero-bake rollout: status ${r.outputs.status ?? 'exit ' + r.code}\n${r.stderr.slice(-500)}`,
          );
        else rollout.push(r.ms);
      });
    }
    const over = rollout.map((ms, i) => ms - (install[i] ?? median(install)));
    return [
      `Weight change = \`setRoutes()\` of the router \`createRouter()\` builds (IstioRouter; MultiRouter for several ` +
        `VirtualServices), real kubectl (${TOOLS}) against the kube-API stand-in: guarded JSON patch + read-back of every ` +
        `object, changes 10% ↔ 0%, host \`${HOST}\` plus extra VirtualServices on their own hosts.`,
      '',
      table(['VirtualServices', 'changes', 'median', 'p95', 'median per object'], rows),
      '',
      `Goal ≤ 300 ms median per step for one object: **${one <= 300 ? 'met' : 'MISSED'}** (${one.toFixed(0)} ms). ` +
        `Growth: see "median per object" (flat or falling = linear or better). One bare ` +
        `\`kubectl get virtualservice -o json\` against the same stand-in takes ${mmm(spawnMs)} ms (10 runs): every ` +
        `kubectl call is a new process, and a change is several calls per object, one object after the other.`,
      '',
      `Whole rollout \`steps: 10@0s,50@0s,100@0s\`, no verification (\`allow-unverified: true\`), \`settle: 0s\`, \`drain: 0s\`, ` +
        `${rollout.length} runs: action wall time ${mmm(rollout)} ms; \`helm install --wait\` of the same chart and values ` +
        `alone ${mmm(install)} ms; difference (the action's own work: start-up, input checks, lock, 3 weight changes, ` +
        `promotion, report) ${mmm(over)} ms.`,
    ].join('\n');
  },
};

function applyJson(w: World, json: string) {
  // World.kubectl passes no stdin: the manifest goes through a file.
  const file = path.join(w.dir, `m-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, json);
  return w.kubectl('apply', '-f', file);
}
