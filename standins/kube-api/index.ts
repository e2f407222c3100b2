/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
// Kubernetes API server stand-in that real helm 3/4 and kubectl accept (plain HTTP on 127.0.0.1).
// See docs/standins.md for what the real helm and kubectl need from an API server.
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { Controller } from './controller.js';
import { celProgram, crdSchema, type CrdVersionSchema } from './crd-schema.js';
import { applySchemaDefaults, celCauses, prune, schemaCauses } from './crd-structural.js';
import { applyDefaults } from './defaults.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from './patch.js';
import { decodeKubeProtobuf, ProtobufError } from './protobuf.js';
import {
  authorize,
  Authenticator,
  forbiddenMessage,
  rulesFor,
  rulesReviewStatus,
  verbOf,
  type RbacObjects,
  type RequestAttributes,
  type UserInfo,
} from './rbac.js';
import { startTls } from './tls.js';
import { gvString, Registry, splitApiVersion, type ResourceDef } from './resources.js';
import { parseFieldSelector, parseLabelSelector, SelectorError, type Matcher } from './selectors.js';
import {
  conflictMessage,
  managedFieldsAfterUpdate,
  serverSideApply,
  type ManagedFieldsEntry,
} from './ssa.js';
import { Store, storeKey, type StoredEvent } from './store.js';
import { forwardRequest, parseServiceProxyPath, resolveServiceLocation } from './service-proxy.js';
import { clone, deepEqual, isObj, nowTimestamp, type Obj } from './util.js';
import { decodeCheck, istioVirtualServiceDenial, validateMeta, type FieldCause } from './validation.js';

export { NEVER_READY } from './controller.js';

export interface KubeApiOptions {
  port?: number; // default 0 = random, always 127.0.0.1, plain HTTP
  kubeconfigPath?: string; // default: a temp file; written on start
  requireWeightSum100?: boolean; // old-Istio validation rule, default false
  deploymentReadyDelayMs?: number; // default ~300
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: string;
  contentType?: string;
  status: number;
  at: number;
  fieldManager?: string;
  /** The authenticated user (RBAC). */
  user?: string;
  /** Request body (UTF-8; protobuf bodies as a decoded JSON string), for writes only, cut at 64 KiB. */
  body?: string;
}

export interface Fault {
  method?: string;
  path: string | RegExp;
  status?: number;
  delayMs?: number;
  count?: number;
  message?: string;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Obj,
  ) {
    super(message);
  }
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function statusBody(code: number, reason: string, message: string, details?: Obj): Obj {
  const s: Obj = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (!reason) delete s.reason;
  if (details) s.details = details;
  return s;
}

const qualified = (def: ResourceDef): string => (def.group ? `${def.resource}.${def.group}` : def.resource);
const detailsOf = (def: ResourceDef, name: string, kind = def.resource): Obj => ({
  name,
  ...(def.group ? { group: def.group } : {}),
  kind,
});

const notFound = (def: ResourceDef, name: string) =>
  new ApiError(404, 'NotFound', `${qualified(def)} "${name}" not found`, detailsOf(def, name));
const alreadyExists = (def: ResourceDef, name: string) =>
  new ApiError(409, 'AlreadyExists', `${qualified(def)} "${name}" already exists`, detailsOf(def, name));
const conflict = (def: ResourceDef, name: string) =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(def)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    detailsOf(def, name),
  );
function invalid(def: ResourceDef, name: string, causes: FieldCause[]): ApiError {
  const what = causes.map((c) => `${c.field}: ${c.message}`);
  const text = what.length === 1 ? what[0] : `[${what.join(', ')}]`;
  return new ApiError(
    422,
    'Invalid',
    `${def.kind}${def.group ? `.${def.group}` : ''} "${name}" is invalid: ${text}`,
    {
      ...detailsOf(def, name, def.kind),
      causes: causes.map((c) => ({
        reason: c.reason ?? 'FieldValueInvalid',
        message: c.message,
        field: c.field,
      })),
    },
  );
}
const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);

const NAMESPACES_DEF_KEY = '/namespaces';
/** The token of the kubeconfig the stand-in writes: a cluster admin (group system:masters). */
const ADMIN_TOKEN = 'standin';
const ADMIN: UserInfo = { name: 'standin-admin', groups: ['system:masters', 'system:authenticated'] };
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

interface Target {
  def: ResourceDef;
  group: string;
  version: string;
  namespace?: string;
  name?: string;
  sub?: string;
}

type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

interface WriteOptions {
  manager: string;
  dryRun: boolean;
  subresource?: string;
  managedFields?: ManagedFieldsEntry[]; // set by server-side apply
  /** The request's `fieldValidation` (the apiserver's default is Warn). */
  fieldValidation?: FieldValidation;
  /** How the object arrived: unknown fields are a decoding error for create/update, a patch error for patches. */
  op?: 'create' | 'update' | 'patch' | 'apply';
  /** `Warning` headers for the response. */
  warnings?: string[];
}

export class KubeApiServer {
  readonly requests: LoggedRequest[] = [];
  /** Requests that arrived and are not answered yet (e.g. held by a delay fault). */
  private pending = new Set<LoggedRequest>();
  private faults: (Fault & { remaining: number })[] = [];
  private registry = new Registry();
  private store = new Store();
  private controller: Controller;
  private server!: http.Server;
  private watches = new Set<ServerResponse>();
  private requireWeightSum100: boolean;
  private readyDelay: number;
  private auth = new Authenticator();
  /** Who sent each request being handled (for the self reviews). */
  private users = new WeakMap<IncomingMessage, UserInfo>();
  private tlsServer?: https.Server;
  url = '';
  /** The HTTPS listener (started by userKubeconfig), same API. */
  tlsUrl = '';
  kubeconfigPath = '';

  private constructor(private opts: KubeApiOptions) {
    this.requireWeightSum100 = !!opts.requireWeightSum100;
    this.readyDelay = opts.deploymentReadyDelayMs ?? 300;
    this.controller = new Controller(this.store, this.registry, () => this.readyDelay);
    this.auth.addToken(ADMIN_TOKEN, ADMIN.name, ADMIN.groups);
    // What a fresh cluster has: the system namespaces, the kubernetes Service, the default ServiceAccount.
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.seed('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    }
    this.seed('services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'kubernetes',
        namespace: 'default',
        labels: { component: 'apiserver', provider: 'kubernetes' },
      },
      spec: {
        clusterIP: '10.96.0.1',
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
      },
    });
    this.seed('serviceaccounts', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'default', namespace: 'default' },
    });
  }

  /** Stores a built-in core object with uid, creationTimestamp and defaults. */
  private seed(resource: string, obj: Obj): void {
    obj.metadata = { ...obj.metadata, uid: randomUUID(), creationTimestamp: nowTimestamp() };
    const def = this.defFor('', resource);
    applyDefaults(def, obj, undefined);
    this.store.put(def, obj);
  }

  static async start(opts: KubeApiOptions = {}): Promise<KubeApiServer> {
    const s = new KubeApiServer(opts);
    await s.listen();
    return s;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        this.sendError(
          res,
          new ApiError(500, 'InternalError', `stand-in error: ${(err as Error)?.stack ?? String(err)}`),
        );
      else res.end();
    });
  }

  private async listen(): Promise<void> {
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    const port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${port}`;
    this.kubeconfigPath =
      this.opts.kubeconfigPath ?? join(mkdtempSync(join(tmpdir(), 'kube-api-standin-')), 'kubeconfig');
    this.writeKubeconfig(this.kubeconfigPath, ADMIN_TOKEN);
  }

  async stop(): Promise<void> {
    this.controller.stop();
    for (const w of this.watches) w.end();
    this.watches.clear();
    if (this.tlsServer) {
      const tls = this.tlsServer;
      await new Promise<void>((resolve) => {
        tls.close(() => resolve());
        tls.closeAllConnections();
      });
    }
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** A bearer token that authenticates as `user`; RBAC objects in the store decide what it may do. */
  addToken(token: string, user: string, groups: string[] = []): void {
    this.auth.addToken(token, user, groups);
  }

  /**
   * Writes a kubeconfig for `token` (context "standin") and returns its path. It points at the
   * HTTPS listener: kubectl and helm send user credentials only to https servers.
   */
  async userKubeconfig(path: string, token: string, namespace = 'default'): Promise<string> {
    if (!this.tlsUrl) {
      this.tlsServer = await startTls((req, res) => this.onRequest(req, res));
      this.tlsUrl = `https://127.0.0.1:${(this.tlsServer.address() as AddressInfo).port}`;
    }
    return this.writeKubeconfig(path, token, namespace, this.tlsUrl);
  }

  private writeKubeconfig(path: string, token: string, namespace = 'default', server = this.url): string {
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'standin', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'standin', user: { token } }],
      contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'standin', namespace } }],
      'current-context': 'standin',
      preferences: {},
    };
    writeFileSync(path, YAML.stringify(kubeconfig), { mode: 0o600 });
    chmodSync(path, 0o600);
    return path;
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Requests being handled right now (arrived, no response yet), oldest first. */
  inFlight(): LoggedRequest[] {
    return [...this.pending];
  }

  /** Requests that may change something (self reviews are POSTs that store nothing). */
  writes(): LoggedRequest[] {
    return this.requests.filter(
      (r) =>
        ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method) &&
        !r.path.startsWith('/apis/authorization.k8s.io/'),
    );
  }

  injectFault(f: Fault): void {
    this.faults.push({ ...f, remaining: f.count ?? 1 });
  }

  setRequireWeightSum100(v: boolean): void {
    this.requireWeightSum100 = v;
  }

  setDeploymentReadyDelayMs(ms: number): void {
    this.readyDelay = ms;
  }

  private defFor(group: string, resource: string): ResourceDef {
    return this.registry.defs.find((d) => d.group === group && d.resource === resource)!;
  }

  private defForKind(apiVersion: string, kind: string): ResourceDef {
    const { group, version } = splitApiVersion(apiVersion);
    const def = this.registry.findByKind(group, kind);
    if (!def || !def.versions.includes(version))
      throw new Error(`the stand-in does not serve ${kind} in ${apiVersion}`);
    return def;
  }

  getObject(apiVersion: string, kind: string, namespace: string | undefined, name: string): any | undefined {
    const def = this.defForKind(apiVersion, kind);
    const o = this.store.get(def, namespace, name);
    return o ? this.present(def, splitApiVersion(apiVersion).version, o) : undefined;
  }

  listObjects(apiVersion: string, kind: string, namespace?: string): any[] {
    const def = this.defForKind(apiVersion, kind);
    return this.store
      .list(def, namespace)
      .map((o) => this.present(def, splitApiVersion(apiVersion).version, o));
  }

  /** Create-or-replace directly in storage (test setup). Skips validation and field tracking. */
  putObject(objIn: any): any {
    const def = this.defForKind(objIn.apiVersion, objIn.kind);
    const obj: Obj = clone(objIn);
    obj.metadata ??= {};
    if (def.namespaced) obj.metadata.namespace ??= 'default';
    else delete obj.metadata.namespace;
    const old = this.store.get(def, obj.metadata.namespace, obj.metadata.name);
    obj.metadata.uid ??= old?.metadata.uid ?? randomUUID();
    obj.metadata.creationTimestamp ??= old?.metadata.creationTimestamp ?? nowTimestamp();
    if (obj.spec !== undefined || !def.builtin)
      obj.metadata.generation = old
        ? (old.metadata.generation ?? 1) + (this.specChanged(old, obj) ? 1 : 0)
        : 1;
    obj.apiVersion = gvString(def.group, def.versions[0]);
    applyDefaults(def, obj, old);
    const stored = this.store.put(def, obj);
    this.afterWrite(def, stored);
    return this.present(def, splitApiVersion(objIn.apiVersion).version, stored);
  }

  // ------------------------------------------------------------------ HTTP plumbing

  private present(def: ResourceDef, version: string, obj: Obj): Obj {
    const o = clone(obj);
    o.apiVersion = gvString(def.group, version);
    o.kind = def.kind;
    return o;
  }

  private send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-cache, private',
      ...(warnings.length ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) } : {}),
    });
    res.end(text);
  }

  private sendError(res: ServerResponse, err: ApiError): void {
    this.send(res, err.code, statusBody(err.code, err.reason, err.message, err.details));
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const u = new URL(req.url ?? '/', 'http://x');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentType = req.headers['content-type'];
    const fieldManager = u.searchParams.get('fieldManager') ?? undefined;
    const entry: LoggedRequest = {
      method,
      path: u.pathname,
      query: u.search.replace(/^\?/, ''),
      status: 0,
      at,
    };
    if (contentType) entry.contentType = contentType;
    if (fieldManager) entry.fieldManager = fieldManager;
    let logged = false;
    const log = (status: number) => {
      if (logged) return;
      logged = true;
      this.pending.delete(entry);
      entry.status = status;
      this.requests.push(entry);
    };
    this.pending.add(entry);
    const origWriteHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
    (res as unknown as { writeHead: (...a: unknown[]) => ServerResponse }).writeHead = (...a: unknown[]) => {
      log(Number(a[0]));
      return origWriteHead(...a);
    };
    res.on('close', () => log(res.statusCode));

    const body = await this.readBody(req);
    if (body.length && method !== 'GET') {
      let text: string;
      if (String(contentType ?? '').startsWith('application/vnd.kubernetes.protobuf')) {
        try {
          text = JSON.stringify(decodeKubeProtobuf(body));
        } catch {
          text = `<protobuf ${body.length} bytes>`;
        }
      } else text = body.toString('utf8');
      entry.body = text.length > 65536 ? text.slice(0, 65536) : text;
    }

    const fault = this.faults.find(
      (f) =>
        (!f.method || f.method.toUpperCase() === method) &&
        (typeof f.path === 'string' ? f.path === u.pathname : f.path.test(u.pathname)),
    );
    if (fault) {
      fault.remaining--;
      if (fault.remaining <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      if (fault.delayMs) {
        // the delay ends early when the client hangs up (e.g. a cancelled kubectl)
        await new Promise<void>((r) => {
          const t = setTimeout(r, fault.delayMs);
          t.unref();
          res.once('close', () => {
            clearTimeout(t);
            r();
          });
        });
        if (res.destroyed) return;
      }
      if (fault.status) {
        const reason = REASONS[fault.status] ?? 'Unknown';
        this.send(
          res,
          fault.status,
          statusBody(fault.status, reason, fault.message ?? `injected fault: ${reason}`),
        );
        return;
      }
    }

    // Requests without credentials act as the admin, so plain HTTP in tests keeps working.
    const user = this.auth.authenticate(req.headers.authorization, ADMIN);
    if (!user) {
      this.sendError(res, new ApiError(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    this.users.set(req, user);
    entry.user = user.name;
    const attrs = this.attributes(method, u);
    if (!authorize(this.rbacObjects(), user, attrs)) {
      const details = attrs.resourceRequest
        ? {
            ...(attrs.name ? { name: attrs.name } : {}),
            ...(attrs.group ? { group: attrs.group } : {}),
            kind: attrs.resource,
          }
        : undefined;
      this.sendError(res, new ApiError(403, 'Forbidden', forbiddenMessage(user, attrs), details));
      return;
    }

    try {
      await this.route(req, res, method, u, body);
    } catch (err) {
      if (err instanceof ApiError) this.sendError(res, err);
      else if (err instanceof SelectorError) this.sendError(res, badRequest(err.message));
      else throw err;
    }
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    u: URL,
    body: Buffer,
  ): Promise<void> {
    const p = u.pathname.replace(/\/+$/, '') || '/';
    const segs = p.split('/').filter(Boolean);
    if (method === 'GET') {
      if (p === '/version')
        return this.send(res, 200, {
          major: '1',
          minor: '33',
          gitVersion: 'v1.33.0',
          gitCommit: 'standin',
          gitTreeState: 'clean',
          buildDate: '2025-01-01T00:00:00Z',
          goVersion: 'go1.24.0',
          compiler: 'gc',
          platform: 'linux/amd64',
        });
      if (p === '/healthz' || p === '/readyz' || p === '/livez') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return void res.end('ok');
      }
      if (p === '/api')
        return this.send(res, 200, this.registry.apiVersions(this.url.replace('http://', '')));
      if (p === '/apis') return this.send(res, 200, this.registry.apiGroupList());
      if (p === '/api/v1') return this.send(res, 200, this.registry.resourceList('', 'v1'));
      if (segs[0] === 'apis' && segs.length === 2) {
        const g = this.registry.apiGroup(segs[1]);
        return g
          ? this.send(res, 200, g)
          : this.sendError(
              res,
              new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
            );
      }
      if (segs[0] === 'apis' && segs.length === 3) {
        const l = this.registry.resourceList(segs[1], segs[2]);
        return l
          ? this.send(res, 200, l)
          : this.sendError(
              res,
              new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
            );
      }
      if (p === '/openapi/v2') {
        // An empty OpenAPI v2 document; the clients use the v3 documents below.
        res.writeHead(200, {
          'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
          'Content-Length': 0,
        });
        return void res.end();
      }
      if (p === '/openapi/v3') return this.send(res, 200, this.registry.openapiV3Root());
      if (segs[0] === 'openapi' && segs[1] === 'v3') {
        const rest = segs.slice(2);
        const doc =
          rest[0] === 'api' && rest[1] === 'v1'
            ? this.registry.openapiV3Doc('', 'v1')
            : rest[0] === 'apis' && rest.length === 3
              ? this.registry.openapiV3Doc(rest[1], rest[2])
              : undefined;
        return doc
          ? this.send(res, 200, doc)
          : this.sendError(
              res,
              new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
            );
      }
    }
    const proxy = parseServiceProxyPath(segs);
    if (proxy) {
      const lookup = (r: 'services' | 'endpoints', ns: string, n: string) =>
        this.store.get(this.defFor('', r), ns, n);
      const loc = resolveServiceLocation(proxy.namespace, proxy.id, lookup);
      if ('error' in loc) throw new ApiError(loc.error.code, loc.error.reason, loc.error.message);
      const fail = (e: { code: number; reason: string; message: string }) =>
        this.sendError(res, new ApiError(e.code, e.reason, e.message));
      return forwardRequest(req, res, loc.url, proxy.rest, u.search, body, fail);
    }
    const target = this.parseTarget(segs);
    if (!target) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const q = u.searchParams;
    const manager = q.get('fieldManager') || String(req.headers['user-agent'] ?? 'unknown').split('/')[0];
    const dryRun = q.getAll('dryRun').includes('All');
    const fv = q.get('fieldValidation');
    if (fv && fv !== 'Strict' && fv !== 'Warn' && fv !== 'Ignore')
      throw badRequest(`fieldValidation parameter unsupported: ${fv}`);
    const fieldValidation = (fv || 'Warn') as FieldValidation;
    const warnings: string[] = [];
    const w = (op: WriteOptions['op']): WriteOptions => ({ manager, dryRun, fieldValidation, op, warnings });
    const { def, namespace, name, sub } = target;
    if (sub && !def.subresources.includes(sub))
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (def.namespaced && !namespace && method !== 'GET')
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');

    if (def.group === 'authorization.k8s.io') {
      if (method !== 'POST' || name)
        throw new ApiError(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
      return this.send(res, 201, this.selfReview(req, target, this.decodeBody(req, body)));
    }
    switch (method) {
      case 'GET':
        if (!name) {
          if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(req, res, target, q);
          return this.send(res, 200, this.list(target, q));
        }
        return this.send(res, 200, this.getOne(target));
      case 'POST':
        if (name)
          throw new ApiError(
            405,
            'MethodNotAllowed',
            'the server does not allow this method on the requested resource',
          );
        return this.send(res, 201, this.create(target, this.decodeBody(req, body), w('create')), warnings);
      case 'PUT':
        if (!name)
          throw new ApiError(
            405,
            'MethodNotAllowed',
            'the server does not allow this method on the requested resource',
          );
        return this.send(
          res,
          200,
          this.update(target, this.decodeBody(req, body), { ...w('update'), subresource: sub }),
          warnings,
        );
      case 'PATCH': {
        if (!name)
          throw new ApiError(
            405,
            'MethodNotAllowed',
            'the server does not allow this method on the requested resource',
          );
        const [code, obj] = this.patch(
          target,
          String(req.headers['content-type'] ?? ''),
          body,
          { ...w('patch'), subresource: sub },
          q,
        );
        return this.send(res, code, obj, warnings);
      }
      case 'DELETE': {
        let opts: Obj = {};
        if (body.length) opts = this.decodeBody(req, body);
        const propagation =
          q.get('propagationPolicy') ??
          opts.propagationPolicy ??
          (opts.orphanDependents ? 'Orphan' : 'Background');
        if (!name) return this.send(res, 200, this.deleteCollection(target, q, propagation, dryRun));
        return this.send(res, 200, this.deleteOne(target, opts, propagation, dryRun));
      }
      default:
        throw new ApiError(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
    }
  }

  /** The request as the authorizer sees it. */
  private attributes(method: string, u: URL): RequestAttributes {
    const segs = u.pathname.split('/').filter(Boolean);
    const t = this.parseTarget(segs);
    if (!t)
      return {
        resourceRequest: false,
        verb: method === 'GET' ? 'get' : method.toLowerCase(),
        path: u.pathname,
      };
    const watch = ['true', '1'].includes(u.searchParams.get('watch') ?? '');
    return {
      resourceRequest: true,
      verb: verbOf(method, !!t.name, watch),
      group: t.group,
      resource: t.def.resource,
      subresource: t.sub,
      // as in the apiserver, a request for a Namespace object is a request in that namespace
      namespace: t.def.group === '' && t.def.resource === 'namespaces' ? t.name : t.namespace,
      name: t.name,
    };
  }

  private rbacObjects(): RbacObjects {
    const rbac = (r: string) => this.defFor('rbac.authorization.k8s.io', r);
    return {
      roleBindings: (ns) => this.store.list(rbac('rolebindings'), ns),
      role: (ns, name) => this.store.get(rbac('roles'), ns, name),
      clusterRoleBindings: () => this.store.list(rbac('clusterrolebindings')),
      clusterRole: (name) => this.store.get(rbac('clusterroles'), undefined, name),
    };
  }

  /** SelfSubjectAccessReview / SelfSubjectRulesReview: answered from the same rules, stored nowhere. */
  private selfReview(req: IncomingMessage, t: Target, review: Obj): Obj {
    const user = this.users.get(req) ?? ADMIN;
    const spec = isObj(review.spec) ? review.spec : {};
    let status: Obj;
    if (t.def.resource === 'selfsubjectrulesreviews') {
      const ns = String(spec.namespace ?? '');
      if (!ns)
        throw badRequest(
          'SelfSubjectRulesReview.authorization.k8s.io "" is invalid: spec.namespace: Required value',
        );
      status = user.groups.includes('system:masters')
        ? rulesReviewStatus([
            { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
            { verbs: ['*'], nonResourceURLs: ['*'] },
          ])
        : rulesReviewStatus(rulesFor(this.rbacObjects(), user, ns));
    } else {
      const ra = spec.resourceAttributes;
      const na = spec.nonResourceAttributes;
      const attrs: RequestAttributes = isObj(ra)
        ? {
            resourceRequest: true,
            verb: String(ra.verb ?? ''),
            group: String(ra.group ?? ''),
            resource: String(ra.resource ?? ''),
            subresource: ra.subresource ? String(ra.subresource) : undefined,
            namespace: ra.namespace ? String(ra.namespace) : undefined,
            name: ra.name ? String(ra.name) : undefined,
          }
        : isObj(na)
          ? { resourceRequest: false, verb: String(na.verb ?? ''), path: String(na.path ?? '') }
          : (() => {
              throw badRequest(
                'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified',
              );
            })();
      const allowed = authorize(this.rbacObjects(), user, attrs);
      status = allowed ? { allowed, reason: 'RBAC: allowed' } : { allowed };
    }
    return {
      kind: t.def.kind,
      apiVersion: gvString(t.group, t.version),
      metadata: { creationTimestamp: null },
      spec,
      status,
    };
  }

  private parseTarget(segs: string[]): Target | undefined {
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs[1] === 'v1') {
      group = '';
      version = 'v1';
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 4) {
      group = segs[1];
      version = segs[2];
      rest = segs.slice(3);
    } else return undefined;
    if (!rest.length) return undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const def = this.registry.find(group, version, rest[2]);
      if (def?.namespaced) return { def, group, version, namespace: rest[1], name: rest[3], sub: rest[4] };
    }
    const def = this.registry.find(group, version, rest[0]);
    if (!def) return undefined;
    return { def, group, version, name: rest[1], sub: rest[2] };
  }

  private decodeBody(req: IncomingMessage, body: Buffer): Obj {
    const ct = String(req.headers['content-type'] ?? 'application/json')
      .split(';')[0]
      .trim();
    if (ct === 'application/vnd.kubernetes.protobuf') {
      try {
        return decodeKubeProtobuf(body);
      } catch (e) {
        if (e instanceof ProtobufError) throw new ApiError(415, 'UnsupportedMediaType', e.message);
        throw badRequest(`unable to decode protobuf body: ${(e as Error).message}`);
      }
    }
    try {
      const v =
        ct === 'application/yaml' ? YAML.parse(body.toString('utf8')) : JSON.parse(body.toString('utf8'));
      if (!isObj(v)) throw new Error('the body is not an object');
      return v;
    } catch (e) {
      throw badRequest(`the body of the request was in an unknown format: ${(e as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ read

  private getOne(t: Target): Obj {
    const o = this.store.get(t.def, t.namespace, t.name!);
    if (!o) throw notFound(t.def, t.name!);
    if (t.sub === 'scale') return this.scaleOf(o);
    return this.present(t.def, t.version, o);
  }

  private matchers(q: URLSearchParams): Matcher {
    const l = parseLabelSelector(q.get('labelSelector'));
    const f = parseFieldSelector(q.get('fieldSelector'));
    return (o) => l(o) && f(o);
  }

  private list(t: Target, q: URLSearchParams): Obj {
    const m = this.matchers(q);
    return {
      kind: `${t.def.kind}List`,
      apiVersion: gvString(t.group, t.version),
      metadata: { resourceVersion: this.store.currentRv() },
      items: this.store
        .list(t.def, t.namespace)
        .filter(m)
        .map((o) => this.present(t.def, t.version, o)),
    };
  }

  private watch(req: IncomingMessage, res: ServerResponse, t: Target, q: URLSearchParams): void {
    const m = this.matchers(q);
    const sendInitial = q.get('sendInitialEvents');
    const rvParam = q.get('resourceVersion') ?? '';
    if (sendInitial !== null) {
      if (q.get('resourceVersionMatch') !== 'NotOlderThan')
        throw new ApiError(
          422,
          'Invalid',
          'Invalid value: "": sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan',
          {
            causes: [
              {
                reason: 'FieldValueForbidden',
                field: 'resourceVersionMatch',
                message: 'sendInitialEvents requires resourceVersionMatch=NotOlderThan',
              },
            ],
          },
        );
      if (sendInitial === 'true' && q.get('allowWatchBookmarks') !== 'true')
        throw new ApiError(
          422,
          'Invalid',
          'Invalid value: "": sendInitialEvents requires setting allowWatchBookmarks to true',
          {
            causes: [
              {
                reason: 'FieldValueForbidden',
                field: 'allowWatchBookmarks',
                message: 'sendInitialEvents requires allowWatchBookmarks=true',
              },
            ],
          },
        );
    }
    let replay: StoredEvent[] | undefined = [];
    if (sendInitial === null && rvParam && rvParam !== '0') {
      replay = this.store.since(Number(rvParam));
      if (replay === undefined)
        throw new ApiError(
          410,
          'Expired',
          `too old resource version: ${rvParam} (${this.store.currentRv()})`,
        );
    }
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
    this.watches.add(res);
    const key = storeKey(t.def);
    const inScope = (o: Obj) => !t.def.namespaced || !t.namespace || o.metadata?.namespace === t.namespace;
    const write = (type: string, obj: Obj) =>
      res.write(
        `${JSON.stringify({ type, object: type === 'BOOKMARK' ? obj : this.present(t.def, t.version, obj) })}\n`,
      );
    if (sendInitial === 'true' || (sendInitial === null && (!rvParam || rvParam === '0'))) {
      for (const o of this.store.list(t.def, t.namespace)) if (m(o)) write('ADDED', o);
      if (sendInitial === 'true') {
        write('BOOKMARK', {
          kind: t.def.kind,
          apiVersion: gvString(t.group, t.version),
          metadata: {
            resourceVersion: this.store.currentRv(),
            annotations: { 'k8s.io/initial-events-end': 'true' },
          },
        });
      }
    } else {
      for (const e of replay ?? [])
        if (storeKey(e.def) === key && inScope(e.obj) && m(e.obj)) write(e.type, e.obj);
    }
    // objects currently inside the selectors: leaving them is a DELETED event, entering an ADDED
    const seen = new Set<string>(
      this.store
        .list(t.def, t.namespace)
        .filter(m)
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    );
    const unsubscribe = this.store.subscribe((e) => {
      if (storeKey(e.def) !== key || !inScope(e.obj)) return;
      const id = `${e.obj.metadata.namespace}/${e.obj.metadata.name}`;
      const matches = m(e.obj);
      if (e.type === 'DELETED') {
        if (matches || seen.has(id)) write('DELETED', e.obj);
        seen.delete(id);
      } else if (matches) {
        write(seen.has(id) ? e.type : 'ADDED', e.obj);
        seen.add(id);
      } else if (seen.has(id)) {
        write('DELETED', e.obj);
        seen.delete(id);
      }
    });
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    const timer = setTimeout(() => res.end(), (timeout > 0 ? timeout : 1800) * 1000);
    const done = () => {
      unsubscribe();
      clearTimeout(timer);
      this.watches.delete(res);
    };
    res.on('close', done);
    req.on('close', done);
  }

  private scaleOf(o: Obj): Obj {
    const ml: Record<string, string> = o.spec?.selector?.matchLabels ?? {};
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: o.spec?.replicas ?? 0 },
      status: {
        replicas: o.status?.replicas ?? 0,
        selector: Object.entries(ml)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      },
    };
  }

  // ------------------------------------------------------------------ write

  private namespaceExists(ns: string): boolean {
    return !!this.store.get(this.defFor('', 'namespaces'), undefined, ns);
  }

  private specChanged(a: Obj, b: Obj): boolean {
    const strip = (o: Obj) => {
      const c = clone(o);
      delete c.metadata;
      delete c.status;
      delete c.apiVersion;
      delete c.kind;
      return c;
    };
    return !deepEqual(strip(a), strip(b));
  }

  /**
   * The common write path: metadata bookkeeping, status-subresource semantics, defaults,
   * validation, field ownership, then storage (unless dry-run).
   */
  private commit(t: Target, old: Obj | undefined, candidate: Obj, w: WriteOptions): Obj {
    const { def } = t;
    const bad = decodeCheck(def, t.version, candidate);
    if (bad) throw new ApiError(bad.code, bad.reason, bad.message);
    const obj = clone(candidate);
    obj.metadata = isObj(obj.metadata) ? obj.metadata : {};
    obj.apiVersion = gvString(def.group, def.versions[0]);
    obj.kind = def.kind;
    if (def.namespaced) obj.metadata.namespace = t.namespace;
    else delete obj.metadata.namespace;
    const crd = crdSchema(def.group, def.kind, t.version);
    if (crd) this.pruneAndDefault(t, obj, crd.schema, w);
    const hasStatusSub = def.subresources.includes('status');
    if (old) {
      obj.metadata.name = old.metadata.name;
      obj.metadata.uid = old.metadata.uid;
      obj.metadata.creationTimestamp = old.metadata.creationTimestamp;
      if (w.subresource === 'status') {
        const status = obj.status;
        for (const k of Object.keys(obj)) if (k !== 'status' && k !== 'metadata') delete obj[k];
        Object.assign(obj, clone(old), { status });
        obj.metadata = { ...clone(old.metadata) };
      } else if (hasStatusSub) {
        if (old.status === undefined) delete obj.status;
        else obj.status = clone(old.status);
      }
      if (old.metadata.generation !== undefined || obj.spec !== undefined || !def.builtin)
        obj.metadata.generation =
          (old.metadata.generation ?? 1) + (w.subresource !== 'status' && this.specChanged(old, obj) ? 1 : 0);
      if (old.metadata.labels && w.subresource === 'status') obj.metadata.labels = old.metadata.labels;
    } else {
      obj.metadata.uid = randomUUID();
      obj.metadata.creationTimestamp = nowTimestamp();
      if (obj.spec !== undefined || !def.builtin) obj.metadata.generation = 1;
      else delete obj.metadata.generation;
      if (hasStatusSub) delete obj.status;
    }
    delete obj.metadata.resourceVersion;
    delete obj.metadata.selfLink;
    applyDefaults(def, obj, old);

    const causes = validateMeta(def, obj);
    if (crd) causes.push(...this.schemaCauses(obj, crd));
    if (causes.length) throw invalid(def, obj.metadata.name ?? '', causes);
    if (
      def.group === 'networking.istio.io' &&
      def.resource === 'virtualservices' &&
      w.subresource !== 'status'
    ) {
      const denial = istioVirtualServiceDenial(obj, this.requireWeightSum100);
      if (denial) throw new ApiError(400, 'BadRequest', denial);
    }

    const apiVersion = gvString(def.group, t.version);
    if (w.managedFields) obj.metadata.managedFields = w.managedFields;
    else {
      const userSet = candidate.metadata?.managedFields;
      const oldMf = old?.metadata?.managedFields;
      if (userSet !== undefined && old && !deepEqual(userSet, oldMf)) obj.metadata.managedFields = userSet;
      else
        obj.metadata.managedFields = managedFieldsAfterUpdate(old && this.present(def, t.version, old), obj, {
          manager: w.manager,
          apiVersion,
          builtin: def.builtin,
          subresource: w.subresource,
        });
    }
    if (!obj.metadata.managedFields?.length) delete obj.metadata.managedFields;

    if (w.dryRun) {
      obj.metadata.resourceVersion = old?.metadata.resourceVersion ?? '';
      return this.present(def, t.version, obj);
    }
    const stored = this.store.put(def, obj);
    this.afterWrite(def, stored);
    return this.present(def, t.version, stored);
  }

  /**
   * The decoder's part for a custom resource with a schema: unknown fields dropped (Warn: with a
   * warning; Strict: rejected), then the schema's defaults. Server-side apply checked its applied
   * configuration before (apply() below), so the merged result has nothing unknown left.
   */
  private pruneAndDefault(t: Target, obj: Obj, schema: Obj, w: WriteOptions): void {
    const unknown = prune(obj, schema);
    if (unknown.length && w.op !== 'apply') {
      const list = unknown.map((f) => `unknown field ${JSON.stringify(f)}`);
      if (w.fieldValidation === 'Strict') {
        const detail = `strict decoding error: ${list.join(', ')}`;
        if (w.op === 'patch') throw badRequest(detail);
        throw badRequest(
          `${t.def.kind} in version ${JSON.stringify(t.version)} cannot be handled as a ${t.def.kind}: ${detail}`,
        );
      }
      if (w.fieldValidation !== 'Ignore') w.warnings?.push(...list);
    }
    applySchemaDefaults(obj, schema);
  }

  /** The CRD's structural schema (Ajv), then its CEL rules when the structure is valid. */
  private schemaCauses(obj: Obj, crd: CrdVersionSchema): FieldCause[] {
    // metadata is ObjectMeta, checked by validateMeta; the schema covers the rest
    const target = { ...obj, metadata: {} };
    if (!crd.validate(target)) return schemaCauses(crd.validate.errors ?? [], target);
    return celCauses(obj, crd.schema, celProgram);
  }

  private afterWrite(def: ResourceDef, stored: Obj): void {
    if (def.group === 'apiextensions.k8s.io' && def.resource === 'customresourcedefinitions')
      this.registry.registerCrd(stored);
  }

  private checkKind(t: Target, obj: Obj): void {
    if (obj.kind !== undefined && obj.kind !== t.def.kind)
      throw badRequest(
        `the kind of the provided object (${obj.kind}) does not match the kind of the request (${t.def.kind})`,
      );
  }

  private create(t: Target, obj: Obj, w: WriteOptions): Obj {
    this.checkKind(t, obj);
    obj.metadata = isObj(obj.metadata) ? obj.metadata : {};
    if (t.def.namespaced) {
      if (obj.metadata.namespace && obj.metadata.namespace !== t.namespace)
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      if (!this.namespaceExists(t.namespace!)) throw notFound(this.defFor('', 'namespaces'), t.namespace!);
    }
    if (!obj.metadata.name && obj.metadata.generateName) {
      let suffix = '';
      for (let i = 0; i < 5; i++)
        suffix += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
      obj.metadata.name = `${obj.metadata.generateName}${suffix}`;
    }
    if (!obj.metadata.name)
      throw invalid(t.def, '', [
        {
          field: 'metadata.name',
          reason: 'FieldValueRequired',
          message: 'Required value: name or generateName is required',
        },
      ]);
    if (this.store.get(t.def, t.namespace, obj.metadata.name)) throw alreadyExists(t.def, obj.metadata.name);
    delete obj.metadata.managedFields;
    return this.commit(t, undefined, obj, w);
  }

  private update(t: Target, obj: Obj, w: WriteOptions): Obj {
    this.checkKind(t, obj);
    obj.metadata = isObj(obj.metadata) ? obj.metadata : {};
    if (obj.metadata.name && obj.metadata.name !== t.name)
      throw badRequest(
        `the name of the object (${obj.metadata.name}) does not match the name on the URL (${t.name})`,
      );
    if (t.def.namespaced && obj.metadata.namespace && obj.metadata.namespace !== t.namespace)
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    const old = this.store.get(t.def, t.namespace, t.name!);
    if (!old) throw notFound(t.def, t.name!);
    if (t.sub === 'scale') return this.writeScale(t, old, obj, w);
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(t.def, t.name!);
    if (obj.metadata.uid && obj.metadata.uid !== old.metadata.uid) throw conflict(t.def, t.name!);
    return this.commit(t, old, obj, w);
  }

  private writeScale(t: Target, old: Obj, scale: Obj, w: WriteOptions): Obj {
    const replicas = scale.spec?.replicas;
    if (typeof replicas !== 'number' || replicas < 0)
      throw invalid(t.def, t.name!, [
        {
          field: 'spec.replicas',
          message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
        },
      ]);
    const next = clone(old);
    next.spec = { ...(next.spec ?? {}), replicas };
    const stored = this.commit({ ...t, sub: undefined }, old, next, { ...w, subresource: 'scale' });
    return this.scaleOf(stored);
  }

  private patch(
    t: Target,
    contentType: string,
    body: Buffer,
    w: WriteOptions,
    q: URLSearchParams,
  ): [number, Obj] {
    const ct = contentType.split(';')[0].trim();
    const old = this.store.get(t.def, t.namespace, t.name!);
    if (ct === 'application/apply-patch+yaml') return this.apply(t, old, body, w, q);
    if (!old) throw notFound(t.def, t.name!);
    let patchDoc: unknown;
    try {
      patchDoc = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    const current = t.sub === 'scale' ? this.scaleOf(old) : this.present(t.def, t.version, old);
    let patched: Obj;
    try {
      if (ct === 'application/json-patch+json') patched = applyJsonPatch(current, patchDoc);
      else if (ct === 'application/merge-patch+json') {
        if (!isObj(patchDoc)) throw new PatchError('merge patch must be an object', 400);
        patched = applyMergePatch(current, patchDoc);
      } else if (ct === 'application/strategic-merge-patch+json') {
        if (!t.def.builtin)
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
          );
        if (!isObj(patchDoc)) throw new PatchError('strategic merge patch must be an object', 400);
        patched = applyStrategicMergePatch(current, patchDoc, true);
      } else
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        );
    } catch (e) {
      if (e instanceof PatchError) {
        if (e.code === 422)
          throw new ApiError(
            422,
            'Invalid',
            'the server rejected our request due to an error in our request',
            {},
          );
        throw badRequest(e.message);
      }
      throw e;
    }
    if (t.sub === 'scale') return [200, this.writeScale(t, old, patched, w)];
    if (!isObj(patched.metadata)) patched.metadata = {};
    if (patched.metadata.resourceVersion && patched.metadata.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(t.def, t.name!);
    if (patched.metadata.name && patched.metadata.name !== t.name)
      throw badRequest(
        `the name of the object (${patched.metadata.name}) does not match the name on the URL (${t.name})`,
      );
    return [200, this.commit(t, old, patched, w)];
  }

  private apply(
    t: Target,
    old: Obj | undefined,
    body: Buffer,
    w: WriteOptions,
    q: URLSearchParams,
  ): [number, Obj] {
    if (!q.get('fieldManager'))
      throw badRequest('PATCH, application/apply-patch+yaml requires fieldManager to be set');
    let applied: unknown;
    try {
      applied = YAML.parse(body.toString('utf8'));
    } catch (e) {
      throw badRequest(`error decoding YAML: ${(e as Error).message}`);
    }
    if (!isObj(applied)) throw badRequest('the applied configuration must be an object');
    if (!applied.apiVersion || !applied.kind)
      throw badRequest('apiVersion and kind must be set in the applied configuration');
    this.checkKind(t, applied);
    const bad = decodeCheck(t.def, t.version, applied);
    if (bad) throw new ApiError(bad.code, bad.reason, bad.message);
    applied.metadata = isObj(applied.metadata) ? applied.metadata : {};
    if (applied.metadata.name && applied.metadata.name !== t.name)
      throw badRequest(
        `the name of the object (${applied.metadata.name}) does not match the name on the URL (${t.name})`,
      );
    if (t.def.namespaced && applied.metadata.namespace && applied.metadata.namespace !== t.namespace)
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    if (applied.metadata.managedFields !== undefined) throw badRequest('metadata.managedFields must be nil');
    if (
      old &&
      applied.metadata.resourceVersion &&
      applied.metadata.resourceVersion !== old.metadata.resourceVersion
    )
      throw conflict(t.def, t.name!);
    if (!old && t.def.namespaced && !this.namespaceExists(t.namespace!))
      throw notFound(this.defFor('', 'namespaces'), t.namespace!);
    applied.metadata.name = t.name;
    const crd = crdSchema(t.def.group, t.def.kind, t.version);
    if (crd) {
      const unknown = prune(clone(applied), crd.schema);
      if (unknown.length)
        throw new ApiError(
          500,
          '',
          `failed to create typed patch object (${t.namespace ? `${t.namespace}/` : ''}${t.name}; ${gvString(t.def.group, t.version)}, Kind=${t.def.kind}): ${
            unknown.length === 1
              ? `.${unknown[0]}: field not declared in schema`
              : `errors:\n${unknown.map((f) => `  .${f}: field not declared in schema`).join('\n')}`
          }`,
        );
    }
    const force = q.get('force') === 'true';
    const result = serverSideApply(old ? this.present(t.def, t.version, old) : undefined, applied, {
      manager: w.manager,
      apiVersion: gvString(t.def.group, t.version),
      builtin: t.def.builtin,
      force,
    });
    if (!result.ok) {
      throw new ApiError(409, 'Conflict', conflictMessage(result.conflicts), {
        causes: result.conflicts.map((c) => ({
          type: 'FieldManagerConflict',
          message: `conflict with "${c.manager}" using ${c.apiVersion}`,
          field: conflictMessage([c]).replace(/^.*: /, ''),
        })),
      });
    }
    const mf = result.obj.metadata.managedFields as ManagedFieldsEntry[];
    const stored = this.commit(t, old, result.obj, { ...w, managedFields: mf, op: 'apply' });
    return [old ? 200 : 201, stored];
  }

  private deleteOne(t: Target, opts: Obj, propagation: string, dryRun: boolean): Obj {
    const old = this.store.get(t.def, t.namespace, t.name!);
    if (!old) throw notFound(t.def, t.name!);
    const pre = opts.preconditions ?? {};
    if (
      (pre.uid && pre.uid !== old.metadata.uid) ||
      (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
    )
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(t.def)} "${t.name}": the Precondition for the delete was not met`,
        detailsOf(t.def, t.name!),
      );
    if (dryRun) return this.present(t.def, t.version, old);
    const gone = this.removeCascading(t.def, old, propagation);
    return this.present(t.def, t.version, gone ?? old);
  }

  private deleteCollection(t: Target, q: URLSearchParams, propagation: string, dryRun: boolean): Obj {
    const m = this.matchers(q);
    const items = this.store.list(t.def, t.namespace).filter(m);
    if (!dryRun) for (const o of items) this.removeCascading(t.def, o, propagation);
    return {
      kind: `${t.def.kind}List`,
      apiVersion: gvString(t.group, t.version),
      metadata: { resourceVersion: this.store.currentRv() },
      items: items.map((o) => this.present(t.def, t.version, o)),
    };
  }

  private removeCascading(def: ResourceDef, obj: Obj, propagation: string): Obj | undefined {
    const gone = this.store.remove(def, obj.metadata.namespace, obj.metadata.name);
    if (!gone) return undefined;
    if (storeKey(def) === NAMESPACES_DEF_KEY) {
      for (const [d, o] of [...this.store.all(this.registry.defs)])
        if (d.namespaced && o.metadata.namespace === obj.metadata.name)
          this.store.remove(d, o.metadata.namespace, o.metadata.name);
    }
    if (propagation !== 'Orphan') {
      const dependents = [...this.store.all(this.registry.defs)].filter(([, o]) =>
        (o.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === obj.metadata.uid),
      );
      for (const [d, o] of dependents) this.removeCascading(d, o, propagation);
    } else {
      for (const [d, o] of [...this.store.all(this.registry.defs)]) {
        const refs: Obj[] = o.metadata.ownerReferences ?? [];
        if (refs.some((r) => r.uid === obj.metadata.uid)) {
          const c = clone(o);
          c.metadata.ownerReferences = refs.filter((r) => r.uid !== obj.metadata.uid);
          if (!c.metadata.ownerReferences.length) delete c.metadata.ownerReferences;
          this.store.put(d, c);
        }
      }
    }
    return gone;
  }
}
