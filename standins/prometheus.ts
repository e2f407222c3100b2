// A real Prometheus server for tests (Debian's `prometheus` package, 2.42 on bookworm; `.ci/run`
// installs it): started on a free 127.0.0.1 port with a generated config that scrapes the given
// targets every second, ready when /-/ready answers 200, stopped with its temporary directory.
// Not a stand-in: the action's queries meet the real PromQL engine.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The one line a suite that needs Prometheus fails with when the binary is missing. */
export const PROMETHEUS_MISSING =
  "prometheus is not installed: run 'apt-get install -y --no-install-recommends prometheus' (Debian's package; .ci/run does it) or set PROMETHEUS_BIN";

export interface PrometheusOptions {
  /** Scrape targets as URLs, e.g. the gateway stand-in's metricsUrl. */
  targets: string[];
  /** Scrape interval in seconds (default 1). */
  scrapeIntervalS?: number;
  /** How long to wait for /-/ready (default 30 s). */
  readyTimeoutMs?: number;
}

/** `PROMETHEUS_BIN`, else `prometheus` on PATH; throws PROMETHEUS_MISSING when there is none. */
export function prometheusBinary(): string {
  const explicit = process.env.PROMETHEUS_BIN;
  if (explicit) {
    if (fs.existsSync(explicit)) return explicit;
    throw new Error(`${PROMETHEUS_MISSING} (PROMETHEUS_BIN=${explicit} does not exist)`);
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir || '.', 'prometheus');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  throw new Error(PROMETHEUS_MISSING);
}

/** The generated config: one job per target (job "gateway" for the first), 1 s scrapes. */
export function prometheusConfig(targets: string[], intervalS = 1): string {
  const jobs = targets.map((t, i) => {
    const u = new URL(t);
    return [
      `  - job_name: ${JSON.stringify(i === 0 ? 'gateway' : `target-${i}`)}`,
      `    scheme: ${u.protocol.replace(':', '')}`,
      `    metrics_path: ${JSON.stringify(u.pathname || '/metrics')}`,
      `    static_configs:`,
      `      - targets: [${JSON.stringify(u.host)}]`,
    ].join('\n');
  });
  return [
    'global:',
    `  scrape_interval: ${intervalS}s`,
    `  scrape_timeout: ${intervalS}s`,
    `  evaluation_interval: ${intervalS}s`,
    'scrape_configs:',
    ...jobs,
    '',
  ].join('\n');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export class PrometheusServer {
  private exited = false;
  private log = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {
    child.stderr?.on('data', (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-8000);
    });
    child.stdout?.resume();
    child.once('exit', () => (this.exited = true));
  }

  /** e.g. http://127.0.0.1:41234 */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The last lines Prometheus wrote (for failure messages). */
  get output(): string {
    return this.log;
  }

  static async start(o: PrometheusOptions): Promise<PrometheusServer> {
    const bin = prometheusBinary();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'helm-canary-prometheus-'));
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(config, prometheusConfig(o.targets, o.scrapeIntervalS ?? 1));
    // A port can be taken between freePort() and the bind: try a few.
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const child = spawn(
        bin,
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${path.join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const p = new PrometheusServer(child, port, dir);
      const ready = await p.waitReady(o.readyTimeoutMs ?? 30_000);
      if (ready) return p;
      await p.stop(false);
      if (attempt >= 2 || !/address already in use/.test(p.output)) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw new Error(
          `prometheus did not become ready: ${p.output.trim().split('\n').slice(-5).join('\n')}`,
        );
      }
    }
  }

  private async waitReady(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && !this.exited) {
      if ((await status(`${this.url}/-/ready`)) === 200) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** Stops the server (TERM, then KILL after 5 s) and removes its directory. */
  async stop(removeDir = true): Promise<void> {
    if (!this.exited) {
      const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    if (removeDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** An instant query's JSON answer (tests). */
  async query(promql: string): Promise<{ status: string; data?: { resultType: string; result: unknown[] } }> {
    return new Promise((resolve, reject) => {
      const u = new URL('/api/v1/query', this.url);
      u.searchParams.set('query', promql);
      http
        .get(u, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => {
            try {
              resolve(JSON.parse(body));
            } catch (e) {
              reject(e);
            }
          });
        })
        .on('error', reject);
    });
  }
}
