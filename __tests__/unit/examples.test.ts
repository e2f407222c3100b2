/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are loose Kubernetes objects */
// The tutorial's charts in examples/charts/ are the ones the e2e suites and the demo run (the
// fixtures), file for file, and render with the real helm into what the examples rely on.
import { describe, it, expect } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { chartsDir, repoRoot, run, toolsDir } from '../standins/tools.js';

const EXAMPLES = path.join(repoRoot, 'examples', 'charts');

function files(dir: string, rel = ''): string[] {
  return fs
    .readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]))
    .sort();
}

async function template(chart: string, release: string, args: string[] = []): Promise<any[]> {
  const r = await run(path.join(toolsDir(), 'helm'), [
    'template',
    release,
    path.join(EXAMPLES, chart),
    ...args,
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .filter(Boolean);
}

describe('examples/charts', () => {
  it.each(['sample', 'sample-gateway'])('%s is the chart the e2e suites and the demo use', (chart) => {
    const mine = files(path.join(EXAMPLES, chart));
    expect(mine).toEqual(files(path.join(chartsDir, chart)));
    for (const f of mine)
      expect([f, fs.readFileSync(path.join(EXAMPLES, chart, f), 'utf8')]).toEqual([
        f,
        fs.readFileSync(path.join(chartsDir, chart, f), 'utf8'),
      ]);
  });

  it('sample renders http-echo with the -text it is given, behind a Service on the port "http"', async () => {
    const docs = await template('sample', 'sample-v2', ['--set', 'args[0]=-text=hello world v2']);
    const deploy = docs.find((d) => d.kind === 'Deployment');
    const c = deploy.spec.template.spec.containers[0];
    expect(c.image).toMatch(/^hashicorp\/http-echo:/);
    expect(c.args).toEqual(['-text=hello world v2']);
    const svc = docs.find((d) => d.kind === 'Service');
    expect(svc.metadata.name).toContain('sample-v2');
    expect(svc.spec.ports).toEqual([{ port: 80, targetPort: 'http', protocol: 'TCP', name: 'http' }]);
  });

  it('sample-gateway renders the Gateway and the VirtualService the e2e workflow rolls out on', async () => {
    const docs = await template('sample-gateway', 'exciting-lemur', ['--set', 'host=shop.example.test']);
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'Gateway/exciting-lemur-gateway',
      'VirtualService/exciting-lemur-vs',
    ]);
    const gw = docs.find((d) => d.kind === 'Gateway');
    expect(gw.spec.selector).toEqual({ istio: 'ingressgateway' });
    const vs = docs.find((d) => d.kind === 'VirtualService');
    expect(vs.spec.hosts).toEqual(['shop.example.test']);
    expect(vs.spec.http[0].route).toEqual([
      { destination: { host: 'foolish-penguin-sample', port: { number: 80 } }, weight: 100 },
    ]);
  });

  it('the e2e workflow uses these names', () => {
    const wf = fs.readFileSync(path.join(repoRoot, 'examples', 'workflows', 'e2e-kind.yml'), 'utf8');
    for (const s of [
      'examples/charts/sample',
      'examples/charts/sample-gateway',
      'exciting-lemur-vs',
      'foolish-penguin',
    ])
      expect(wf).toContain(s);
  });
});
