// IHelm: helm 3 and helm 4 behind one interface. Each major gets its own flag names (see the flags
// of https://helm.sh/docs/helm/helm_install/ and, for Helm 4's kstatus `--wait`,
// https://helm.sh/community/hips/hip-0022). Every call runs silently; we log our own redacted line.
import * as core from '@actions/core';
import * as io from '@actions/io';
import { parseAllDocuments } from 'yaml';
import { HELM_SET_FLAGS, isSecretHelmFlag } from '../lib/helm-flags.js';
import { SecretRegistry } from '../lib/secrets.js';
import { redactedCommand, runTool, tail, ToolAbortedError, type RunResult } from './exec-util.js';
import type { KubeCallOptions, KubeOptions } from './kubectl-helper.js';

export interface HelmReleaseInfo {
  name: string;
  namespace: string;
  revision: number;
  status: string;
  /** `<chart name>-<chart version>`, as `helm list` prints it. */
  chart: string;
  appVersion: string;
  updated?: string;
}

export interface InstallOptions {
  release: string;
  chart: string;
  chartVersion?: string;
  namespace: string;
  valuesFiles: string[];
  /** Secret: `key=value` items for `--set`. Never logged. */
  set: string[];
  extraArgs: string[];
  timeoutMs: number;
  dryRun?: boolean;
  labels?: Record<string, string>;
  /** Aborting stops helm's process group; the call then rejects with a ToolAbortedError. */
  signal?: AbortSignal;
}

export interface IHelm {
  readonly path: string;
  readonly version: string;
  readonly major: 3 | 4;
  // Cancellable only when given a signal (there is no default one): restore work after a
  // cancellation (uninstalling the canary) passes none.
  install(o: InstallOptions): Promise<{ manifest: string }>;
  template(o: InstallOptions): Promise<string>;
  uninstall(release: string, namespace: string, timeoutMs?: number, c?: KubeCallOptions): Promise<void>;
  status(release: string, namespace: string, c?: KubeCallOptions): Promise<HelmReleaseInfo | undefined>;
  list(namespace: string, filter?: string, c?: KubeCallOptions): Promise<HelmReleaseInfo[]>;
  getManifest(release: string, namespace: string, c?: KubeCallOptions): Promise<string>;
}

export interface HelmFlags {
  /** install/upgrade: wait for resources to be ready. */
  wait: string[];
  /** install/upgrade: undo (uninstall) on failure. */
  rollbackOnFailure: string[];
  /** uninstall: wait until the resources are gone. */
  uninstallWait: string[];
  /** list: include releases in every status (helm 4 does by default and has no `--all`). */
  listAll: string[];
}

/** The flag names of each major. Pure. */
export function helmFlags(major: 3 | 4): HelmFlags {
  if (major === 3) {
    return {
      wait: ['--wait'],
      rollbackOnFailure: ['--atomic'],
      uninstallWait: ['--wait'],
      listAll: ['--all'],
    };
  }
  // helm 4: a bare `--wait` means `--wait=watcher` (kstatus); without it helm 4 does not wait.
  // `--atomic` still exists as a deprecated alias; `-a/--all` on `list` is gone (lists all).
  return {
    wait: ['--wait=watcher'],
    rollbackOnFailure: ['--rollback-on-failure'],
    uninstallWait: ['--wait=watcher'],
    listAll: [],
  };
}

/**
 * The argv display rule: replaces with `***` every value given to --set/--set-string/--set-file/
 * --set-json/--set-literal (`--set v` and `--set=v`), the values of credential flags, and every
 * bare `key=value` argument that follows such a flag (until the next flag), secret or not. Pure.
 */
export function redactArgs(args: string[]): string[] {
  const out: string[] = [];
  let redactNext = false;
  let afterSet = false;
  for (const a of args) {
    if (redactNext) {
      out.push('***');
      redactNext = false;
      continue;
    }
    if (a.startsWith('-')) {
      const eq = a.indexOf('=');
      const flag = eq >= 0 ? a.slice(0, eq) : a;
      const sensitive = isSecretHelmFlag(flag);
      afterSet = HELM_SET_FLAGS.has(flag);
      if (sensitive && eq >= 0) out.push(`${flag}=***`);
      else {
        out.push(a);
        if (sensitive) redactNext = true;
      }
      continue;
    }
    if (afterSet && a.includes('=')) {
      out.push('***');
      continue;
    }
    out.push(a);
  }
  return out;
}

/** Go duration for --timeout, rounded up to whole seconds. */
export function goDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

export interface ManifestService {
  name: string;
  namespace?: string;
  ports: number[];
  labels: Record<string, string>;
}

/** Services (kind: Service) in a rendered multi-document manifest. Pure. */
interface ManifestObject {
  kind?: string;
  apiVersion?: string;
  items?: unknown[];
  metadata?: { name?: string; namespace?: string; labels?: Record<string, unknown> };
  spec?: { ports?: Array<{ port?: unknown }> };
}

export function servicesInManifest(manifest: string): ManifestService[] {
  const out: ManifestService[] = [];
  const visit = (x: unknown): void => {
    if (!x || typeof x !== 'object' || Array.isArray(x)) return;
    const obj = x as ManifestObject;
    if (obj.kind === 'List' && Array.isArray(obj.items)) {
      obj.items.forEach(visit);
      return;
    }
    if (obj.kind !== 'Service' || !obj.metadata?.name) return;
    if (typeof obj.apiVersion === 'string' && obj.apiVersion !== 'v1') return;
    const ports: number[] = Array.isArray(obj.spec?.ports)
      ? obj.spec.ports.map((p) => Number(p?.port)).filter((n) => Number.isInteger(n) && n > 0)
      : [];
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) labels[k] = String(v);
    const s: ManifestService = { name: String(obj.metadata.name), ports, labels };
    if (obj.metadata.namespace) s.namespace = String(obj.metadata.namespace);
    out.push(s);
  };
  for (const doc of parseAllDocuments(manifest)) {
    if (!('errors' in doc) || doc.errors.length > 0) continue;
    visit(doc.toJS());
  }
  return out;
}

/** "v3.17.3+ge4da497" → 3. */
export function parseHelmMajor(versionShort: string): 3 | 4 {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(versionShort);
  if (!m) throw new Error(`cannot read the helm version from "${versionShort.trim()}"`);
  const major = Number(m[1]);
  if (major < 3) throw new Error(`helm ${m[0]} is not supported: helm-canary needs helm 3 or 4`);
  if (major > 4) core.warning(`helm ${m[0]} is newer than helm-canary knows; using helm 4 flags`);
  return major === 3 ? 3 : 4;
}

const RELEASE_NOT_FOUND_RE = /release: not found|release not loaded/i;

/** A release as `helm status -o json` prints it, or a `helm list -o json` row (both majors). */
interface HelmReleaseJson {
  name?: string;
  namespace?: string;
  version?: number;
  revision?: string | number;
  status?: string;
  chart?:
    string | { metadata?: { name?: string; version?: string; appVersion?: string; app_version?: string } };
  app_version?: string;
  appVersion?: string;
  updated?: string;
  info?: { status?: string; last_deployed?: string; lastDeployed?: string };
}

/** Maps one release object (status/install -o json) or list row to HelmReleaseInfo. */
export function toReleaseInfo(r: HelmReleaseJson, fallbackNamespace: string): HelmReleaseInfo {
  if (r && r.info) {
    // full release (helm status / install -o json)
    const md = (typeof r.chart === 'object' ? r.chart.metadata : undefined) ?? {};
    const info: HelmReleaseInfo = {
      name: String(r.name ?? ''),
      namespace: String(r.namespace ?? fallbackNamespace),
      revision: Number(r.version ?? 0),
      status: String(r.info.status ?? 'unknown'),
      chart: md.name ? `${md.name}-${md.version ?? ''}` : '',
      appVersion: String(md.appVersion ?? md.app_version ?? ''),
    };
    const updated = r.info.last_deployed ?? r.info.lastDeployed;
    if (updated) info.updated = String(updated);
    return info;
  }
  // `helm list -o json` row: revision is a string there
  const info: HelmReleaseInfo = {
    name: String(r?.name ?? ''),
    namespace: String(r?.namespace ?? fallbackNamespace),
    revision: Number(r?.revision ?? 0),
    status: String(r?.status ?? 'unknown'),
    chart: String(r?.chart ?? ''),
    appVersion: String(r?.app_version ?? r?.appVersion ?? ''),
  };
  if (r?.updated) info.updated = String(r.updated);
  return info;
}

class Helm implements IHelm {
  private readonly flags: HelmFlags;
  private readonly secrets: SecretRegistry;
  constructor(
    readonly path: string,
    readonly version: string,
    readonly major: 3 | 4,
    private readonly o: KubeOptions,
  ) {
    this.flags = helmFlags(major);
    this.secrets = o.secrets ?? new SecretRegistry();
  }

  private kubeArgs(): string[] {
    const a: string[] = [];
    if (this.o.kubeconfigPath) a.push('--kubeconfig', this.o.kubeconfigPath);
    if (this.o.context) a.push('--kube-context', this.o.context);
    return a;
  }

  private async run(args: string[], log: 'info' | 'debug', c: KubeCallOptions = {}): Promise<RunResult> {
    const full = [...args, ...this.kubeArgs()];
    core[log](`[command]${redactedCommand(this.path, redactArgs(full), this.secrets)}`);
    const r = await runTool(this.path, full, { env: this.o.env, signal: c.signal });
    if (r.aborted) throw new ToolAbortedError(`helm ${args.slice(0, 2).join(' ')} was cancelled`);
    return r;
  }

  /** Chart, version, values, sets, user args: shared by install and template. */
  private chartArgs(o: InstallOptions): string[] {
    const a: string[] = [o.release, o.chart, '-n', o.namespace];
    if (o.chartVersion) a.push('--version', o.chartVersion);
    for (const f of o.valuesFiles) a.push('-f', f);
    for (const s of o.set) a.push('--set', s);
    return a;
  }

  /** An error quoting helm's stderr: secrets removed (also from `what`, e.g. a release name). */
  private error(what: string, r: RunResult): Error {
    const detail = tail(r.stderr) || 'no output on stderr';
    return new Error(this.secrets.redact(`helm ${what} failed (exit ${r.exitCode}): ${detail}`));
  }

  async install(o: InstallOptions): Promise<{ manifest: string }> {
    const args = ['install', ...this.chartArgs(o)];
    if (o.dryRun) {
      args.push('--dry-run=server'); // renders with cluster lookups, persists nothing
    } else {
      args.push(...this.flags.wait, ...this.flags.rollbackOnFailure);
    }
    args.push('--timeout', goDuration(o.timeoutMs));
    const labels = Object.entries(o.labels ?? {});
    if (labels.length > 0) args.push('--labels', labels.map(([k, v]) => `${k}=${v}`).join(','));
    args.push(...o.extraArgs, '-o', 'json');
    const r = await this.run(args, 'info', o);
    if (r.exitCode !== 0) throw this.error(`install ${o.release}`, r);
    // stdout is the release as JSON (it holds the values: never log it)
    const manifest = manifestFromJson(r.stdout);
    if (manifest !== undefined) return { manifest };
    if (o.dryRun)
      throw new Error(`helm install --dry-run ${o.release}: could not read the rendered manifest`);
    return { manifest: await this.getManifest(o.release, o.namespace, o) };
  }

  /** `helm template` (client-side render; no release, no cluster writes). */
  async template(o: InstallOptions): Promise<string> {
    const args = ['template', ...this.chartArgs(o), ...o.extraArgs];
    const r = await this.run(args, 'info', o);
    if (r.exitCode !== 0) throw this.error(`template ${o.release}`, r);
    return r.stdout;
  }

  async uninstall(
    release: string,
    namespace: string,
    timeoutMs?: number,
    c?: KubeCallOptions,
  ): Promise<void> {
    const args = ['uninstall', release, '-n', namespace, ...this.flags.uninstallWait];
    if (timeoutMs !== undefined) args.push('--timeout', goDuration(timeoutMs));
    const r = await this.run(args, 'info', c);
    if (r.exitCode === 0) return;
    if (RELEASE_NOT_FOUND_RE.test(r.stderr)) {
      core.info(`helm release ${release} in ${namespace} was already gone`);
      return;
    }
    throw this.error(`uninstall ${release}`, r);
  }

  async status(
    release: string,
    namespace: string,
    c?: KubeCallOptions,
  ): Promise<HelmReleaseInfo | undefined> {
    const r = await this.run(['status', release, '-n', namespace, '-o', 'json'], 'debug', c);
    if (r.exitCode !== 0) {
      if (/release: not found/i.test(r.stderr)) return undefined;
      throw this.error(`status ${release}`, r);
    }
    let obj: HelmReleaseJson;
    try {
      obj = JSON.parse(r.stdout) as HelmReleaseJson;
    } catch {
      throw new Error(`helm status ${release}: output is not JSON`);
    }
    const info = toReleaseInfo(obj, namespace);
    if (!info.chart) {
      // `helm status -o json` carries no chart metadata; `helm list` has "<chart>-<version>".
      const row = (await this.list(namespace, `^${release}$`, c)).find((x) => x.name === release);
      if (row) Object.assign(info, { chart: row.chart, appVersion: row.appVersion });
    }
    return info;
  }

  async list(namespace: string, filter?: string, c?: KubeCallOptions): Promise<HelmReleaseInfo[]> {
    const args = ['list', '-n', namespace, '-o', 'json', ...this.flags.listAll];
    if (filter) args.push('--filter', filter);
    const r = await this.run(args, 'debug', c);
    if (r.exitCode !== 0) throw this.error(`list -n ${namespace}`, r);
    const text = r.stdout.trim();
    if (text === '') return [];
    let rows: unknown;
    try {
      rows = JSON.parse(text);
    } catch {
      throw new Error(`helm list: output is not JSON`);
    }
    return Array.isArray(rows) ? rows.map((x: HelmReleaseJson) => toReleaseInfo(x, namespace)) : [];
  }

  async getManifest(release: string, namespace: string, c?: KubeCallOptions): Promise<string> {
    const r = await this.run(['get', 'manifest', release, '-n', namespace], 'debug', c);
    if (r.exitCode !== 0) throw this.error(`get manifest ${release}`, r);
    return r.stdout;
  }
}

function manifestFromJson(stdout: string): string | undefined {
  const start = stdout.indexOf('{');
  if (start < 0) return undefined;
  try {
    const rel = JSON.parse(stdout.slice(start)) as { manifest?: unknown };
    return typeof rel.manifest === 'string' ? rel.manifest : undefined;
  } catch {
    return undefined;
  }
}

/** Finds helm on PATH and detects its major from `helm version --short`. */
export async function createHelm(o: KubeOptions): Promise<IHelm> {
  const path = await io.which('helm', false);
  if (!path)
    throw new Error('helm not found on PATH: install helm 3 or 4 (e.g. azure/setup-helm) before helm-canary');
  const secrets = o.secrets ?? new SecretRegistry();
  core.debug(`[command]${redactedCommand(path, ['version', '--short'], secrets)}`);
  const r = await runTool(path, ['version', '--short'], { env: o.env });
  if (r.exitCode !== 0) throw new Error(`helm version --short failed: ${tail(secrets.redact(r.stderr))}`);
  const version = r.stdout.trim().split(/\s+/)[0].replace(/\+.*$/, '');
  return new Helm(path, version, parseHelmMajor(version), o);
}
