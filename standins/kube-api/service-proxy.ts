// The `services/proxy` subresource: /api/v1/namespaces/NS/services/ID/proxy/PATH, ID being
// "NAME", "NAME:PORT" or "SCHEME:NAME:PORT". As the apiserver does (pkg/registry/core/service/
// storage ResourceLocation), it resolves the Service's port (a number becomes the name of the
// Service port with that number), then an address of the Service's Endpoints whose port has that
// name, and forwards the request there: so a test Prometheus on 127.0.0.1:<port> is reached
// through an Endpoints object, as in a cluster.
/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';

export type ProxyLookup = (resource: 'services' | 'endpoints', namespace: string, name: string) => any;
export type ProxyError = { code: number; reason: string; message: string };

/** The namespace, service id and the rest of the path when `segs` address services/ID/proxy. */
export function parseServiceProxyPath(
  segs: string[],
): { namespace: string; id: string; rest: string } | undefined {
  const [api, v1, namespaces, namespace, services, id, proxy] = segs;
  if (api !== 'api' || v1 !== 'v1' || namespaces !== 'namespaces' || services !== 'services')
    return undefined;
  if (proxy !== 'proxy' || !namespace || !id) return undefined;
  return { namespace, id: decodeURIComponent(id), rest: segs.slice(7).join('/') };
}

/** "name", "name:port" or "scheme:name:port" (scheme http or https), as utilnet.SplitSchemeNamePort. */
export function splitSchemeNamePort(id: string): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(':');
  let scheme = '';
  let name: string;
  let port = '';
  if (parts.length === 1) name = parts[0];
  else if (parts.length === 2) [name, port] = parts;
  else if (parts.length === 3) [scheme, name, port] = parts;
  else return undefined;
  if (name === '' || !['', 'http', 'https'].includes(scheme)) return undefined;
  return { scheme, name, port };
}

/** Where the apiserver would send a request for service `id` of `namespace`, or its error. */
export function resolveServiceLocation(
  namespace: string,
  id: string,
  lookup: ProxyLookup,
  random: () => number = Math.random,
): { url: URL } | { error: ProxyError } {
  const parsed = splitSchemeNamePort(id);
  if (!parsed)
    return { error: { code: 400, reason: 'BadRequest', message: `invalid service request "${id}"` } };
  const { scheme, name } = parsed;
  let portName = parsed.port;
  const svc = lookup('services', namespace, name);
  if (!svc) return { error: { code: 404, reason: 'NotFound', message: `services "${name}" not found` } };
  if (/^\d+$/.test(portName)) {
    const p = (svc.spec?.ports ?? []).find((x: any) => String(x.port) === portName);
    if (!p)
      return {
        error: {
          code: 503,
          reason: 'ServiceUnavailable',
          message: `no service port ${portName} found for service "${name}"`,
        },
      };
    portName = p.name ?? '';
  }
  const eps = lookup('endpoints', namespace, name);
  if (!eps) return { error: { code: 404, reason: 'NotFound', message: `endpoints "${name}" not found` } };
  const subsets: any[] = eps.subsets ?? [];
  const noEndpoints = (what: string): { error: ProxyError } => ({
    error: {
      code: 503,
      reason: 'ServiceUnavailable',
      message: `no endpoints available for service "${what}"`,
    },
  });
  if (subsets.length === 0) return noEndpoints(name);
  const start = Math.floor(random() * subsets.length);
  for (let i = 0; i < subsets.length; i++) {
    const ss = subsets[(start + i) % subsets.length];
    const addresses: any[] = ss.addresses ?? [];
    if (addresses.length === 0) continue;
    const port = (ss.ports ?? []).find((p: any) => (p.name ?? '') === portName);
    if (!port) continue;
    const addr = addresses[Math.floor(random() * addresses.length)];
    const host = String(addr.ip).includes(':') ? `[${addr.ip}]` : addr.ip;
    return { url: new URL(`${scheme || 'http'}://${host}:${port.port}/`) };
  }
  return noEndpoints(id);
}

// Hop-by-hop headers and the caller's credentials for the apiserver stay here.
const DROP = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'authorization',
  'content-length',
]);

/** Forwards the request to `base` + `rest` + `search` and streams the answer back. */
export function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  base: URL,
  rest: string,
  search: string,
  body: Buffer,
  fail: (e: ProxyError) => void,
): Promise<void> {
  const target = new URL(`/${rest}${search}`, base);
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !DROP.has(k)) headers[k] = v;
  if (body.length) headers['content-length'] = String(body.length);
  const mod = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const up = mod.request(
      target,
      { method: req.method, headers, rejectUnauthorized: false, timeout: 30_000 },
      (upRes) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !DROP.has(k)) out[k] = v;
        res.writeHead(upRes.statusCode ?? 502, out);
        upRes.pipe(res);
        upRes.on('end', () => resolve());
        upRes.on('error', () => {
          res.destroy();
          resolve();
        });
      },
    );
    up.on('timeout', () => up.destroy(new Error('i/o timeout')));
    up.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ECONNREFUSED' ? 'connect: connection refused' : e.message;
      if (!res.headersSent)
        fail({
          code: 503,
          reason: 'ServiceUnavailable',
          message: `error trying to reach service: dial tcp ${target.host}: ${why}`,
        });
      else res.destroy();
      resolve();
    });
    up.end(body.length ? body : undefined);
  });
}
