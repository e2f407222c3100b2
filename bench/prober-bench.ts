// Benchmark of the step verification: prints figures, asserts nothing.
//
// 1. Operating characteristics of the sequential rule (seeded simulation, no I/O): requests and
//    seconds at 5 rps to detect a canary failing every request at weight 10, with and without
//    canary-match; false-fail rates of healthy versions.
// 2. The real Prober against a local HTTP server: achieved rate, sockets opened, client-side
//    latency overhead, CPU per request.
//
// Run: npm run bench:prober

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Prober, type ProbeResult } from '../src/verify/prober.js';
import type { VerifySettings } from '../src/lib/types.js';
import { prng, quantile as q, simulateStep } from '../src/verify/simulation.js';

const base: VerifySettings = {
  url: 'http://gw',
  headers: {},
  statuses: [[200, 299]],
  rps: 5,
  timeoutMs: 2000,
  successRate: 0.99,
};
const withMatch: VerifySettings = {
  ...base,
  canaryMatch: { kind: 'header', name: 'x-version', value: 'canary' },
};

function characteristics(): void {
  console.log('== sequential rule, threshold 99%, 5 rps, weight 10 (5000 seeded runs each) ==');
  for (const [label, settings] of [
    ['with canary-match   ', withMatch],
    ['without canary-match', base],
  ] as const) {
    const rnd = prng(42);
    const at: number[] = [];
    for (let k = 0; k < 5000; k++)
      at.push(simulateStep(rnd, { settings, weight: 10, canaryErr: 1, stableErr: 0, n: 1500 }).at);
    const mean = at.reduce((a, b) => a + b, 0) / at.length;
    const f = (x: number) => `${x} req (${(x / 5).toFixed(1)} s)`;
    console.log(
      `dead canary, ${label}: mean ${mean.toFixed(1)} req (${(mean / 5).toFixed(1)} s), median ${f(q(at, 0.5))}, ` +
        `p90 ${f(q(at, 0.9))}, p99 ${f(q(at, 0.99))}`,
    );
  }
  for (const [label, settings] of [
    ['with canary-match   ', withMatch],
    ['without canary-match', base],
  ] as const) {
    for (const err of [0.001, 0.005, 0.01]) {
      const rnd = prng(7);
      let failed = 0;
      let early = 0;
      const runs = 2000;
      for (let k = 0; k < runs; k++) {
        const r = simulateStep(rnd, {
          settings: settings,
          weight: 10,
          canaryErr: err,
          stableErr: err,
          n: 1500,
        });
        if (r.failed) failed++;
        if (r.early) early++;
      }
      console.log(
        `healthy ${(100 - err * 100).toFixed(1)}%, ${label}, 1500 req: false fail ${((100 * failed) / runs).toFixed(2)}% ` +
          `(early ${((100 * early) / runs).toFixed(2)}%)`,
      );
    }
  }
}

async function proberThroughput(): Promise<void> {
  console.log('== Prober against a local server (127.0.0.1) ==');
  let connections = 0;
  const server = http.createServer((_req, res) => res.end('ok'));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  for (const rps of [5, 50, 500, 2000]) {
    const seconds = rps <= 5 ? 4 : 3;
    const results: ProbeResult[] = [];
    connections = 0;
    const prober = new Prober({ ...base, url, rps }, (r) => results.push(r));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    prober.start();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    await prober.stop();
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const lat = results.map((r) => r.latencyMs).sort((a, b) => a - b);
    console.log(
      `rps ${String(rps).padStart(4)}: ${results.length} responses in ${wall.toFixed(2)} s ` +
        `(${(results.length / wall).toFixed(1)}/s), skipped ${prober.skipped}, sockets ${connections}, ` +
        `p50 ${q(lat, 0.5).toFixed(2)} ms, p95 ${q(lat, 0.95).toFixed(2)} ms, ` +
        `cpu ${((cpu.user + cpu.system) / results.length) | 0} µs/request (client+server, one process)`,
    );
  }
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

characteristics();
await proberThroughput();
