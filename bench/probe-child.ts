// Child process of bench/probe-bench.ts: `server` prints its URL and answers "ok" with keep-alive;
// `prober URL SECONDS [RPS]` runs the real Prober and prints {responses, rps, cpuUs, cpuPct} as JSON.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Prober } from '../src/verify/prober.js';

const [mode, url, secondsArg, rpsArg] = process.argv.slice(2);
if (mode === 'server') {
  const server = http.createServer((_req, res) => res.end('ok'));
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () =>
    console.log(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`),
  );
} else {
  const seconds = Number(secondsArg);
  const rps = Number(rpsArg ?? 20000);
  let responses = 0;
  const prober = new Prober(
    { url, headers: {}, statuses: [[200, 299]], rps, timeoutMs: 5000 },
    () => responses++,
    rpsArg ? {} : { maxInFlight: 64 },
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  prober.start();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await prober.stop();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = cpu.user + cpu.system;
  console.log(
    JSON.stringify({
      responses,
      rps: responses / wall,
      cpuUs: cpuUs / responses,
      cpuPct: cpuUs / 1e4 / wall,
    }),
  );
}
