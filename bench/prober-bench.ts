// Benchmark of the step verification: prints figures, asserts nothing.
//
// The operating characteristics of the evidence rule are bench/evidence-bench.ts's.
// The real Prober against a local HTTP server: achieved rate, sockets opened, client-side
//    latency overhead, CPU per request.
//
// Run: npm run bench:prober

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Prober, type ProbeResult } from '../src/verify/prober.js';
import type { VerifySettings } from '../src/lib/types.js';
import { quantile as q } from '../src/verify/simulation.js';

const base: VerifySettings = {
  url: 'http://gw',
  headers: {},
  statuses: [[200, 299]],
  rps: 5,
  timeoutMs: 2000,
  successRate: 0.99,
};
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

await proberThroughput();
