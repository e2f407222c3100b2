// IKubectl: the few kubectl calls helm-canary needs, behind a small interface (faked in tests).
// Every call is an argument array run silently; the logged line never holds kubeconfig content.
import * as core from '@actions/core';
import * as io from '@actions/io';
import { SecretRegistry } from '../lib/secrets.js';
import { redactedCommand, runTool, tail, ToolAbortedError, type RunResult } from './exec-util.js';

export interface KubeOptions {
  kubeconfigPath?: string;
  context?: string;
  namespace: string;
  env?: Record<string, string>;
  /** Secrets removed from logged command lines and from tool output in error messages. */
  secrets?: SecretRegistry;
}

/** 409 Conflict, or 422 (Invalid) answering a guarded JSON patch whose `test` op failed. */
export class KubeConflictError extends Error {
  /** 'Conflict' = 409 (retry as is); 'Invalid' = 422 on a guarded patch (a `test` op failed). */
  constructor(
    message: string,
    readonly reason: 'Conflict' | 'Invalid' = 'Conflict',
  ) {
    super(message);
    this.name = 'KubeConflictError';
  }
}

export class KubeNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeNotFoundError';
  }
}

/** 409 AlreadyExists answering a create. */
export class KubeAlreadyExistsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeAlreadyExistsError';
  }
}

/**
 * Per-call options of every IKubectl call. There is no default signal: a call is cancellable
 * only when its caller passes one, so restore writes after a cancellation simply pass none.
 */
export interface KubeCallOptions {
  /** Aborting stops kubectl's process group; the call then rejects with a ToolAbortedError. */
  signal?: AbortSignal;
}

export interface KubeDeleteOptions extends KubeCallOptions {
  /**
   * Precondition: delete only while the object's resourceVersion is still this one; otherwise
   * KubeConflictError. Needs `resource` as `plural.version.group` (e.g.
   * `leases.v1.coordination.k8s.io`), or a plural of the core group (`configmaps`); namespaced
   * objects only. Sent by `kubectl delete --raw <path> -f -` (kubectl has no precondition flag).
   */
  resourceVersion?: string;
}

export type JsonPatchOp = { op: 'test' | 'replace' | 'add' | 'remove'; path: string; value?: unknown };

/** One metadata.managedFields entry (as read with --show-managed-fields). */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  [k: string]: unknown;
}

/** The metadata fields helm-canary reads; everything else passes through untouched. */
export interface KubeMetadata {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  managedFields?: ManagedFieldsEntry[];
  [k: string]: unknown;
}

/** A Kubernetes object to write: apiVersion, kind and metadata.name at least. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  [k: string]: unknown;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the agreed interface returns untyped objects */
export interface IKubectl {
  readonly path: string;
  /** e.g. v1.35.2 */
  readonly version: string;
  /** undefined when the object does not exist. */
  get<T = any>(
    resource: string,
    name: string,
    namespace?: string,
    o?: KubeCallOptions,
  ): Promise<T | undefined>;
  list<T = any>(
    resource: string,
    namespace?: string,
    labelSelector?: string,
    o?: KubeCallOptions,
  ): Promise<T[]>;
  /** Every object of `resource` in every namespace (`kubectl get -A`); needs cluster-wide list RBAC. */
  listAll<T = any>(resource: string, o?: KubeCallOptions): Promise<T[]>;
  /** Returns the patched object; throws KubeConflictError on 409, or on 422 when ops hold a `test`. */
  patchJson(
    resource: string,
    name: string,
    ops: JsonPatchOp[],
    namespace?: string,
    o?: KubeCallOptions,
  ): Promise<any>;
  /** null removes the annotation; existing values are overwritten. */
  annotate(
    resource: string,
    name: string,
    annotations: Record<string, string | null>,
    namespace?: string,
    o?: KubeCallOptions,
  ): Promise<void>;
  namespaceLabels(namespace: string, o?: KubeCallOptions): Promise<Record<string, string> | undefined>;
  /**
   * `kubectl create -f -` (POST) with our field manager; the namespace is the object's, else the
   * default one. Returns the created object; KubeAlreadyExistsError when the name is taken.
   */
  create<T = any>(obj: KubeObject, o?: KubeCallOptions): Promise<T>;
  /**
   * `kubectl replace -f -` (PUT) with our field manager. With `metadata.resourceVersion` the write
   * is guarded: a stale one → KubeConflictError. Missing object → KubeNotFoundError.
   */
  replace<T = any>(obj: KubeObject, o?: KubeCallOptions): Promise<T>;
  /** true when it deleted the object, false when there was none (404 is no error). */
  delete(resource: string, name: string, namespace?: string, o?: KubeDeleteOptions): Promise<boolean>;
  /**
   * `kubectl get --raw PATH` (e.g. a services/proxy path): the body when kubectl succeeds, else
   * kubectl's error output (redacted). Never throws for an answer of the server.
   */
  getRaw(path: string, o?: KubeCallOptions): Promise<{ ok: boolean; body: string; error?: string }>;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * Field manager for our writes. kubectl 1.31 and 1.35 both accept `--field-manager` on `patch`
 * and `annotate` (the flag exists since kubectl 1.19/1.20), so managedFields and Helm 4's
 * conflict message name "helm-canary" instead of the anonymous "kubectl-patch".
 */
export const FIELD_MANAGER = 'helm-canary';

/** kubectl's way of saying "the object changed under you". */
const CONFLICT_RE =
  /\(Conflict\)|the object has been modified|please apply your changes to the latest version/i;
/** 422: `Error from server (Invalid)`, `The request is invalid`, `The VirtualService "x" is invalid`. */
const INVALID_RE =
  /\(Invalid\)|the request is invalid|is invalid:|is invalid$|testing value .* failed|test failed|unprocessable/im;
const NO_RESOURCE_TYPE_RE = /doesn't have a resource type|the server could not find the requested resource/i;
const ALREADY_EXISTS_RE = /\(AlreadyExists\)|already exists/i;

/**
 * The API path of a named object for `kubectl delete --raw` (a delete with preconditions).
 * `resource` is `plural.version.group` or a core plural. Pure.
 */
export function objectApiPath(resource: string, name: string, namespace?: string): string {
  const dot = resource.indexOf('.');
  let prefix: string;
  let plural: string;
  if (dot < 0) {
    plural = resource;
    prefix = '/api/v1';
  } else {
    plural = resource.slice(0, dot);
    const rest = resource.slice(dot + 1);
    const m = /^(v\d+(?:(?:alpha|beta)\d+)?)\.(.+)$/.exec(rest);
    if (!m)
      throw new Error(
        `a guarded delete needs the resource as plural.version.group (e.g. leases.v1.coordination.k8s.io), not "${resource}"`,
      );
    prefix = `/apis/${m[2]}/${m[1]}`;
  }
  const seg = (s: string): string => encodeURIComponent(s);
  const ns = namespace !== undefined ? `/namespaces/${seg(namespace)}` : '';
  return `${prefix}${ns}/${seg(plural)}/${seg(name)}`;
}

export function kubeGlobalArgs(o: Pick<KubeOptions, 'kubeconfigPath' | 'context'>): string[] {
  const a: string[] = [];
  if (o.kubeconfigPath) a.push('--kubeconfig', o.kubeconfigPath);
  if (o.context) a.push('--context', o.context);
  return a;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- implements the interface above */
class Kubectl implements IKubectl {
  private readonly secrets: SecretRegistry;
  constructor(
    readonly path: string,
    readonly version: string,
    private readonly o: KubeOptions,
  ) {
    this.secrets = o.secrets ?? new SecretRegistry();
  }

  private async run(
    args: string[],
    log: 'info' | 'debug',
    o: KubeCallOptions & { input?: string } = {},
  ): Promise<RunResult> {
    const full = [...args, ...kubeGlobalArgs(this.o)];
    core[log](`[command]${redactedCommand(this.path, full, this.secrets)}`);
    const r = await runTool(this.path, full, { env: this.o.env, input: o.input, signal: o.signal });
    if (r.aborted) throw new ToolAbortedError(`kubectl ${args.slice(0, 3).join(' ')} was cancelled`);
    return r;
  }

  /** An error message quoting tool output: secrets removed. */
  private message(text: string): string {
    return this.secrets.redact(text);
  }

  private fail(what: string, r: RunResult): Error {
    const msg = this.message(
      `kubectl ${what} failed (exit ${r.exitCode}): ${tail(r.stderr) || tail(r.stdout) || 'no output'}`,
    );
    if (NO_RESOURCE_TYPE_RE.test(r.stderr)) return new KubeNotFoundError(msg);
    if (CONFLICT_RE.test(r.stderr)) return new KubeConflictError(msg);
    if (/\(NotFound\)/.test(r.stderr)) return new KubeNotFoundError(msg);
    return new Error(msg);
  }

  async get<T = any>(
    resource: string,
    name: string,
    namespace?: string,
    o?: KubeCallOptions,
  ): Promise<T | undefined> {
    const ns = namespace ?? this.o.namespace;
    // managedFields are hidden by default since kubectl 1.21; ownership findings need them
    const r = await this.run(
      ['get', resource, name, '-n', ns, '-o', 'json', '--ignore-not-found', '--show-managed-fields'],
      'debug',
      o,
    );
    if (r.exitCode !== 0) {
      if (/\(NotFound\)/.test(r.stderr) && !NO_RESOURCE_TYPE_RE.test(r.stderr)) return undefined;
      throw this.fail(`get ${resource} ${name} -n ${ns}`, r);
    }
    if (r.stdout.trim() === '') return undefined; // --ignore-not-found prints nothing
    return parseJson(r.stdout, `kubectl get ${resource} ${name}`) as T;
  }

  async list<T = any>(
    resource: string,
    namespace?: string,
    labelSelector?: string,
    o?: KubeCallOptions,
  ): Promise<T[]> {
    const ns = namespace ?? this.o.namespace;
    const args = ['get', resource, '-n', ns, '-o', 'json'];
    if (labelSelector) args.push('-l', labelSelector);
    const r = await this.run(args, 'debug', o);
    if (r.exitCode !== 0) throw this.fail(`get ${resource} -n ${ns}`, r);
    if (r.stdout.trim() === '') return [];
    const out = parseJson(r.stdout, `kubectl get ${resource}`) as { items?: T[] };
    return out.items ?? [];
  }

  async listAll<T = any>(resource: string, o?: KubeCallOptions): Promise<T[]> {
    const r = await this.run(['get', resource, '--all-namespaces', '-o', 'json'], 'debug', o);
    if (r.exitCode !== 0) throw this.fail(`get ${resource} --all-namespaces`, r);
    if (r.stdout.trim() === '') return [];
    const out = parseJson(r.stdout, `kubectl get ${resource} --all-namespaces`) as { items?: T[] };
    return out.items ?? [];
  }

  async patchJson(
    resource: string,
    name: string,
    ops: JsonPatchOp[],
    namespace?: string,
    o?: KubeCallOptions,
  ): Promise<any> {
    const ns = namespace ?? this.o.namespace;
    const args = [
      'patch',
      resource,
      name,
      '-n',
      ns,
      '--type=json',
      `--field-manager=${FIELD_MANAGER}`,
      '-p',
      JSON.stringify(ops),
      '-o',
      'json',
    ];
    const r = await this.run(args, 'info', o);
    if (r.exitCode !== 0) {
      const what = `patch ${resource} ${name} -n ${ns}`;
      const guarded = ops.some((op) => op.op === 'test');
      if (guarded && !CONFLICT_RE.test(r.stderr) && INVALID_RE.test(r.stderr)) {
        throw new KubeConflictError(
          this.message(
            `kubectl ${what}: a guarded test failed (the object changed concurrently, or the patch is invalid): ${tail(r.stderr)}`,
          ),
          'Invalid',
        );
      }
      if (/\(NotFound\)/.test(r.stderr)) {
        throw new KubeNotFoundError(this.message(`kubectl ${what} failed: ${tail(r.stderr)}`));
      }
      throw this.fail(what, r);
    }
    return parseJson(r.stdout, `kubectl patch ${resource} ${name}`);
  }

  async annotate(
    resource: string,
    name: string,
    annotations: Record<string, string | null>,
    namespace?: string,
    o?: KubeCallOptions,
  ): Promise<void> {
    const ns = namespace ?? this.o.namespace;
    const pairs = Object.entries(annotations).map(([k, v]) => (v === null ? `${k}-` : `${k}=${v}`));
    if (pairs.length === 0) return;
    const args = [
      'annotate',
      resource,
      name,
      ...pairs,
      '-n',
      ns,
      '--overwrite',
      `--field-manager=${FIELD_MANAGER}`,
    ];
    const r = await this.run(args, 'info', o);
    if (r.exitCode !== 0) throw this.fail(`annotate ${resource} ${name} -n ${ns}`, r);
  }

  async namespaceLabels(namespace: string, o?: KubeCallOptions): Promise<Record<string, string> | undefined> {
    const ns = await this.get<{ metadata?: { labels?: Record<string, string> } }>(
      'namespace',
      namespace,
      namespace,
      o,
    );
    if (!ns) return undefined;
    return ns.metadata?.labels ?? {};
  }

  async create<T = any>(obj: KubeObject, o?: KubeCallOptions): Promise<T> {
    return this.writeObject<T>('create', obj, o);
  }

  async replace<T = any>(obj: KubeObject, o?: KubeCallOptions): Promise<T> {
    return this.writeObject<T>('replace', obj, o);
  }

  /** `kubectl create|replace -f -`: the object as JSON on stdin (never in the argv or the log). */
  private async writeObject<T>(verb: 'create' | 'replace', obj: KubeObject, o?: KubeCallOptions): Promise<T> {
    // the object's own namespace wins (kubectl refuses a different -n); cluster-scoped kinds ignore -n
    const ns = obj.metadata?.namespace ?? this.o.namespace;
    const args = [verb, '-f', '-', '-n', ns, `--field-manager=${FIELD_MANAGER}`, '-o', 'json'];
    const r = await this.run(args, 'info', { ...o, input: JSON.stringify(obj) });
    const what = `${verb} ${obj.kind} ${obj.metadata?.name ?? ''} -n ${ns}`;
    if (r.exitCode !== 0) {
      if (verb === 'create' && ALREADY_EXISTS_RE.test(r.stderr) && !CONFLICT_RE.test(r.stderr))
        throw new KubeAlreadyExistsError(`kubectl ${what} failed: ${tail(r.stderr)}`);
      throw this.fail(what, r);
    }
    return parseJsonObjects(r.stdout, `kubectl ${verb} ${obj.kind}`) as T;
  }

  async getRaw(path: string, o?: KubeCallOptions): Promise<{ ok: boolean; body: string; error?: string }> {
    // -v=6 logs requests and statuses (no headers, so no credentials): on an error answer that is
    // not a Kubernetes Status (e.g. Prometheus's JSON through the service proxy) it is the only
    // place kubectl shows the body.
    const r = await this.run(['get', '--raw', path, '-v=6'], 'debug', o);
    if (r.exitCode === 0) return { ok: true, body: r.stdout };
    const lines = r.stderr.split(/\r?\n/);
    const error =
      lines
        .filter((l) => /^(Error from server|error:|Unable to connect|The connection to the server)/.test(l))
        .pop() ?? tail(r.stderr, 3);
    return {
      ok: false,
      body: undecodableBody(r.stderr) ?? '',
      error: this.message(error || `exit ${r.exitCode}`),
    };
  }

  async delete(
    resource: string,
    name: string,
    namespace?: string,
    o: KubeDeleteOptions = {},
  ): Promise<boolean> {
    const ns = namespace ?? this.o.namespace;
    let r: RunResult;
    if (o.resourceVersion !== undefined) {
      // kubectl has no precondition flag; `delete --raw` sends DeleteOptions as the body
      const body = {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        preconditions: { resourceVersion: o.resourceVersion },
      };
      r = await this.run(['delete', '--raw', objectApiPath(resource, name, ns), '-f', '-'], 'info', {
        ...o,
        input: JSON.stringify(body),
      });
    } else {
      r = await this.run(['delete', resource, name, '-n', ns], 'info', o);
    }
    if (r.exitCode === 0) return true;
    if (/\(NotFound\)/.test(r.stderr) && !NO_RESOURCE_TYPE_RE.test(r.stderr)) return false;
    throw this.fail(`delete ${resource} ${name} -n ${ns}`, r);
  }
}

/* eslint-enable @typescript-eslint/no-explicit-any */

/** The body kubectl -v=6 quotes when an error answer is not a Status ("Body was not decodable"). */
export function undecodableBody(stderr: string): string | undefined {
  // kubectl 1.35 logs it structured (err="…" quoted), 1.31 as plain text at the end of the line.
  const quoted = /"Body was not decodable[^"]*" err=("(?:[^"\\]|\\.)*")/.exec(stderr);
  if (quoted) {
    try {
      return /is missing in '([\s\S]*)'$/.exec(JSON.parse(quoted[1]) as string)?.[1];
    } catch {
      return undefined;
    }
  }
  return /body was not decodable[^\n]*?is missing in '(.*)'\s*$/im.exec(stderr)?.[1];
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: expected JSON output, got: ${text.slice(0, 200)}`);
  }
}

/**
 * `kubectl create -f - -o json` of a List prints one JSON document per item, one after the other:
 * a single document is returned as is, several as a List of them.
 */
function parseJsonObjects(text: string, what: string): unknown {
  const docs: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) docs.push(parseJson(text.slice(start, i + 1), what));
  }
  if (docs.length === 1) return docs[0];
  if (docs.length > 1) return { apiVersion: 'v1', kind: 'List', items: docs };
  return parseJson(text, what);
}

/** Finds kubectl on PATH and reads its client version. */
export async function createKubectl(o: KubeOptions): Promise<IKubectl> {
  const path = await io.which('kubectl', false);
  if (!path)
    throw new Error('kubectl not found on PATH: install it (e.g. azure/setup-kubectl) before helm-canary');
  const secrets = o.secrets ?? new SecretRegistry();
  core.debug(`[command]${redactedCommand(path, ['version', '--client', '-o', 'json'], secrets)}`);
  const r = await runTool(path, ['version', '--client', '-o', 'json'], { env: o.env });
  if (r.exitCode !== 0) throw new Error(`kubectl version --client failed: ${tail(secrets.redact(r.stderr))}`);
  let version = 'unknown';
  try {
    version =
      (JSON.parse(r.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion ??
      version;
  } catch {
    const m = /v\d+\.\d+\.\d+\S*/.exec(r.stdout);
    if (m) version = m[0];
  }
  return new Kubectl(path, version, o);
}
