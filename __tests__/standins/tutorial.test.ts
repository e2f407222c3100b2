// The tutorial's manual canary, done by hand with the REAL helm and kubectl against the stand-ins:
// the kube API stores what helm writes, the gateway routes by the weights it finds there.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { World, CHARTS, TOOLS } from '../../standins/world.js';

let w: World;
beforeAll(async () => {
  w = await World.start();
});
afterAll(async () => {
  await w.stop();
});

const HOST = '127.0.0.1.xip.io';

async function count(n: number): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await w.request(HOST);
    const k = `${r.status} ${r.body.trim()}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

describe(`the tutorial flow by hand (${TOOLS})`, () => {
  it('foolish-penguin + exciting-lemur, then peeking-rabbit and a 50/50 split through the gateway', async () => {
    await w.tutorial('hello world v1');
    expect(await count(20)).toEqual(new Map([['200 hello world v1', 20]]));
    expect(
      JSON.parse(await w.must(w.kubectl('get', 'vs', '-o', 'json'))).items.map(
        (x: { metadata: { name: string } }) => x.metadata.name,
      ),
    ).toEqual(['exciting-lemur-vs']);

    // The second version as a second release beside the first.
    await w.must(
      w.helm(
        'install',
        'peeking-rabbit',
        path.join(CHARTS, 'sample'),
        '-f',
        w.sampleValues('pr', 'hello world v2'),
        '--wait',
        '--timeout',
        '60s',
      ),
    );
    // The gateway chart upgraded to split 50/50.
    const gw = path.join(w.dir, 'split.yaml');
    fs.writeFileSync(
      gw,
      JSON.stringify({
        routes: [
          { service: 'foolish-penguin-sample', weight: 50 },
          { service: 'peeking-rabbit-sample', weight: 50 },
        ],
      }),
    );
    await w.must(
      w.helm(
        'upgrade',
        'exciting-lemur',
        path.join(CHARTS, 'sample-gateway'),
        '-f',
        gw,
        '--wait',
        '--timeout',
        '60s',
      ),
    );
    expect(w.weights()).toBe('foolish-penguin-sample=50,peeking-rabbit-sample=50');
    await new Promise((r) => setTimeout(r, 300)); // the gateway picks weights up within ~200 ms

    const n = 200;
    const c = await count(n);
    const v1 = c.get('200 hello world v1') ?? 0;
    const v2 = c.get('200 hello world v2') ?? 0;
    expect(v1 + v2).toBe(n);
    // Binomial tolerance: 4 standard deviations of Bin(200, 0.5) is ±28.3.
    const tol = 4 * Math.sqrt(n * 0.5 * 0.5);
    expect(Math.abs(v2 - n / 2)).toBeLessThanOrEqual(tol);
    console.log(`[measure] ${TOOLS}: 200 requests at 50/50 → v1 ${v1}, v2 ${v2}`);

    // Helm sees both releases; the history of the gateway chart has the upgrade.
    const list = JSON.parse(await w.must(w.helm('list', '-o', 'json'))) as Array<{ name: string }>;
    expect(list.map((r) => r.name).sort()).toEqual(['exciting-lemur', 'foolish-penguin', 'peeking-rabbit']);
    const history = JSON.parse(await w.must(w.helm('history', 'exciting-lemur', '-o', 'json'))) as unknown[];
    expect(history).toHaveLength(2);
  });
});
