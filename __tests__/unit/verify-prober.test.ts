import { afterAll, beforeAll, describe, it, expect, jest } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { classifyVersion, pinnedAt, Prober, type ProbeResult } from '../../src/verify/prober.js';
import type { VerifySettings } from '../../src/lib/types.js';

// A local server whose behaviour is chosen by the request path.
let server: http.Server;
let base: string;
let connections = 0;
const seen: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];
let counter = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path.startsWith('/status/')) {
      res.writeHead(Number(path.slice(8)), { 'content-type': 'text/plain' });
      res.end('status page');
    } else if (path === '/body') {
      const n = counter++;
      res.end(n % 2 === 0 ? 'ok: ready' : 'degraded');
    } else if (path === '/versions') {
      const n = counter++;
      res.writeHead(200, { 'X-Served-By': n % 2 === 0 ? 'canary' : 'stable' });
      res.end(n % 2 === 0 ? 'version=v2' : 'version=v1');
    } else if (path === '/hang') {
      // never answers
    } else if (path === '/slow') {
      setTimeout(() => res.end('late'), Number(url.searchParams.get('ms') ?? 300));
    } else if (path === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x'.repeat(200 * 1024));
      res.end('MARKER');
    } else {
      res.end('ok');
    }
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function settings(over: Partial<VerifySettings>): VerifySettings {
  return {
    url: `${base}/`,
    headers: {},
    statuses: [[200, 299]],
    rps: 50,
    timeoutMs: 2000,
    successRate: 0.99,
    ...over,
  };
}

/** Run a prober until `count` results arrived (generous overall limit), then stop it. */
async function collect(
  s: VerifySettings,
  count: number,
  opts = {},
): Promise<{ results: ProbeResult[]; prober: Prober }> {
  const results: ProbeResult[] = [];
  let done!: () => void;
  const enough = new Promise<void>((resolve) => (done = resolve));
  const prober = new Prober(
    s,
    (r) => {
      results.push(r);
      if (results.length >= count) done();
    },
    opts,
  );
  prober.start();
  const limit = setTimeout(done, 30000);
  await enough;
  clearTimeout(limit);
  await prober.stop({ abort: true });
  return { results: results.slice(0, count), prober };
}

describe('helpers', () => {
  it('classifyVersion matches header names case-insensitively and body regexes statelessly', () => {
    const m = { kind: 'header' as const, name: 'X-Version', value: 'canary' };
    expect(classifyVersion(m, { 'x-version': 'canary' }, '')).toBe('canary');
    expect(classifyVersion(m, { 'x-version': 'a, canary' }, '')).toBe('canary');
    expect(classifyVersion(m, { 'x-version': 'stable' }, '')).toBe('stable');
    expect(classifyVersion(m, {}, '')).toBe('stable');
    const g = { kind: 'body' as const, pattern: /v2/g };
    expect(classifyVersion(g, {}, 'v2')).toBe('canary');
    expect(classifyVersion(g, {}, 'v2')).toBe('canary'); // no lastIndex carry-over
    expect(classifyVersion(undefined, { 'x-version': 'canary' }, 'v2')).toBe('unknown');
  });
});

describe('Prober against a local server', () => {
  it('classifies by status ranges', async () => {
    const ok = await collect(settings({ url: `${base}/status/204` }), 3);
    expect(ok.results.every((r) => r.good && r.status === 204 && r.version === 'unknown')).toBe(true);
    const bad = await collect(settings({ url: `${base}/status/503` }), 3);
    expect(bad.results.every((r) => !r.good && r.status === 503 && r.error === undefined)).toBe(true);
    const accepted = await collect(settings({ url: `${base}/status/503`, statuses: [[500, 599]] }), 2);
    expect(accepted.results.every((r) => r.good)).toBe(true);
  });

  it('requires the body regex when one is set', async () => {
    counter = 0;
    const { results } = await collect(settings({ url: `${base}/body`, body: /ready/ }), 10);
    const good = results.filter((r) => r.good).length;
    expect(good).toBeGreaterThanOrEqual(3);
    expect(good).toBeLessThanOrEqual(7);
    expect(results.every((r) => r.status === 200)).toBe(true);
  });

  it('tells canary from stable by header and by body', async () => {
    counter = 0;
    const byHeader = await collect(
      settings({
        url: `${base}/versions`,
        canaryMatch: { kind: 'header', name: 'x-SERVED-by', value: 'canary' },
      }),
      10,
    );
    const hc = byHeader.results.filter((r) => r.version === 'canary').length;
    expect(hc).toBeGreaterThanOrEqual(3);
    expect(byHeader.results.filter((r) => r.version === 'stable').length).toBe(10 - hc);
    counter = 0;
    const byBody = await collect(
      settings({ url: `${base}/versions`, canaryMatch: { kind: 'body', pattern: /version=v2/ } }),
      10,
    );
    const bc = byBody.results.filter((r) => r.version === 'canary').length;
    expect(bc).toBeGreaterThanOrEqual(3);
    expect(bc).toBeLessThanOrEqual(7);
  });

  it('counts a timeout as bad with latency = timeout and no version', async () => {
    const { results } = await collect(
      settings({
        url: `${base}/hang`,
        timeoutMs: 150,
        rps: 20,
        canaryMatch: { kind: 'header', name: 'x', value: 'y' },
      }),
      2,
    );
    for (const r of results) {
      expect(r).toMatchObject({
        good: false,
        latencyMs: 150,
        version: 'unknown',
        error: 'timeout after 150 ms',
      });
      expect(r.status).toBeUndefined();
    }
  });

  it('counts connection errors as bad', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { results } = await collect(settings({ url: `http://127.0.0.1:${port}/` }), 2);
    expect(results[0]).toMatchObject({ good: false, version: 'unknown' });
    expect(results[0].error).toMatch(/ECONNREFUSED/);
  });

  it('sends the Host override and the extra headers', async () => {
    seen.length = 0;
    await collect(
      settings({
        url: `${base}/`,
        host: 'app.example.com',
        headers: { Host: 'ignored', Authorization: 'Bearer t0ken' },
      }),
      2,
    );
    expect(seen[0].headers.host).toBe('app.example.com');
    expect(seen[0].headers.authorization).toBe('Bearer t0ken');
  });

  it('reuses keep-alive connections', async () => {
    const before = connections;
    const { results } = await collect(settings({ url: `${base}/`, rps: 20 }), 20);
    expect(results.every((r) => r.good)).toBe(true);
    // 20 requests at 20 rps to a fast server: one or two sockets, certainly not one per request.
    expect(connections - before).toBeLessThanOrEqual(4);
  });

  it('caps the kept body at 64 KiB but reads the rest (connection stays reusable)', async () => {
    const before = connections;
    const { results } = await collect(settings({ url: `${base}/big`, body: /MARKER/, rps: 10 }), 4);
    expect(results.every((r) => r.status === 200 && !r.good && r.error === undefined)).toBe(true);
    expect(connections - before).toBeLessThanOrEqual(3);
    const small = await collect(settings({ url: `${base}/big`, body: /MARKER/ }), 1, {
      maxBodyBytes: 1024 * 1024,
    });
    expect(small.results[0].good).toBe(true);
  });

  it('is open-loop with a bounded number of requests in flight', async () => {
    // Fake clock for the prober's ticks, its clock and the request timeouts; the HTTP exchange
    // stays real I/O (nextTick and setImmediate are not faked).
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const results: ProbeResult[] = [];
      const prober = new Prober(
        settings({ url: `${base}/hang`, rps: 100, timeoutMs: 10000 }),
        (r) => results.push(r),
        {
          maxInFlight: 5,
        },
      );
      prober.start();
      await jest.advanceTimersByTimeAsync(400);
      expect(prober.inFlightCount).toBe(5);
      expect(prober.sent).toBe(5);
      expect(prober.skipped).toBe(41 - 5); // ticks at 0, 10, ..., 400 ms; 5 were sent
      // An abort destroys the hanging requests: stop() resolves while the fake clock stands at
      // 0.4 s, so it did not wait for their 10 s timeouts (those cannot fire before 10 s).
      await prober.stop({ abort: true });
      expect(prober.inFlightCount).toBe(0);
      expect(jest.getTimerCount()).toBe(0); // no tick pending, the timeout timers cleared
      expect(results).toHaveLength(0); // aborted requests are not reported
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps the rate while earlier requests are still in flight', async () => {
    const results: ProbeResult[] = [];
    const prober = new Prober(settings({ url: `${base}/slow?ms=400`, rps: 20 }), (r) => results.push(r));
    prober.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // ~10 sent in 0.5 s although each takes 0.4 s (closed loop would have sent ~2)
    expect(prober.sent).toBeGreaterThanOrEqual(5);
    await prober.stop(); // waits for the ones in flight and reports them
    expect(results).toHaveLength(prober.sent);
    expect(results.every((r) => r.good && r.latencyMs >= 350)).toBe(true);
  });

  it('keeps running when the callback throws', async () => {
    let calls = 0;
    const prober = new Prober(settings({ url: `${base}/`, rps: 50 }), () => {
      calls++;
      throw new Error('boom');
    });
    prober.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await prober.stop();
    expect(calls).toBeGreaterThan(1);
    expect((prober.callbackError as Error).message).toBe('boom');
  });

  it('pins probes with the canary header: every one, or every other one starting with a pinned one', async () => {
    const pin = { header: 'x-canary', value: 'app-v2' };
    seen.length = 0;
    const all = await collect(settings({ url: `${base}/` }), 4, { pin: { ...pin, mode: 'all' } });
    expect(all.results.every((r) => r.pinned)).toBe(true);
    expect(seen.slice(0, 4).map((q) => q.headers['x-canary'])).toEqual([
      'app-v2',
      'app-v2',
      'app-v2',
      'app-v2',
    ]);
    seen.length = 0;
    const alt = await collect(settings({ url: `${base}/` }), 6, { pin: { ...pin, mode: 'alternate' } });
    const pinnedSent = seen.slice(0, 6).map((q) => q.headers['x-canary'] === 'app-v2');
    expect(pinnedSent).toEqual([true, false, true, false, true, false]);
    expect(alt.results.filter((r) => r.pinned)).toHaveLength(3);
    const none = await collect(settings({ url: `${base}/` }), 2);
    expect(none.results.map((r) => r.pinned)).toEqual([false, false]);
  });

  it('probes several hosts in turn, pinned and users’ probes each', async () => {
    seen.length = 0;
    const pin = { header: 'x-canary', value: 'app-v2', mode: 'alternate' as const };
    await collect(settings({ url: `${base}/`, host: 'a.example', hosts: ['a.example', 'b.example'] }), 8, {
      pin,
    });
    const sent = seen
      .slice(0, 8)
      .map((q) => `${q.headers['x-canary'] ? 'pinned' : 'users'}@${q.headers.host}`);
    expect(sent).toEqual([
      'pinned@a.example',
      'users@a.example',
      'pinned@b.example',
      'users@b.example',
      'pinned@a.example',
      'users@a.example',
      'pinned@b.example',
      'users@b.example',
    ]);
  });

  it('spreads a share of pinned probes evenly, starting with a pinned one', () => {
    const pattern = (share: number, n: number) => Array.from({ length: n }, (_, i) => pinnedAt(i, share));
    expect(pattern(0.5, 6)).toEqual([true, false, true, false, true, false]);
    const nine = pattern(0.9, 100);
    expect(nine.filter(Boolean)).toHaveLength(90);
    expect(nine[0]).toBe(true);
    // never two unpinned probes in a row at 90%
    expect(nine.some((p, i) => !p && nine[i + 1] === false)).toBe(false);
    expect(pattern(1, 5).every(Boolean)).toBe(true);
  });

  it('says why a response is bad: status, body, transport error (with its code) or timeout', async () => {
    const status = await collect(settings({ url: `${base}/status/503` }), 1);
    expect(status.results[0]).toMatchObject({ good: false, failure: 'status', status: 503 });
    const body = await collect(settings({ url: `${base}/status/200`, body: /^ready$/ }), 1);
    expect(body.results[0]).toMatchObject({ good: false, failure: 'body' });
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await collect(settings({ url: `http://127.0.0.1:${port}/` }), 1);
    expect(refused.results[0]).toMatchObject({ good: false, failure: 'error', code: 'ECONNREFUSED' });
    const hang = await collect(settings({ url: `${base}/hang`, timeoutMs: 100 }), 1);
    expect(hang.results[0]).toMatchObject({ good: false, failure: 'timeout' });
    const good = await collect(settings({ url: `${base}/` }), 1);
    expect(good.results[0].failure).toBeUndefined();
  });

  it('verify-ca: trusts the given CA for https instead of the default roots', async () => {
    const tls = path.resolve('__tests__/fixtures/tls');
    const srv = https.createServer(
      {
        key: fs.readFileSync(path.join(tls, 'server-key.pem')),
        cert: fs.readFileSync(path.join(tls, 'server.pem')),
      },
      (_q, res) => res.end('ok'),
    );
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
    try {
      const untrusted = await collect(settings({ url }), 1);
      expect(untrusted.results[0]).toMatchObject({ good: false, failure: 'error' });
      expect(untrusted.results[0].code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
      const ca = fs.readFileSync(path.join(tls, 'ca.pem'), 'utf8');
      const trusted = await collect(settings({ url, ca }), 2);
      expect(trusted.results.map((r) => r.good)).toEqual([true, true]);
      // The certificate names gateway.test too: verify-host sets SNI and the name checked.
      const named = await collect(settings({ url, ca, host: 'gateway.test' }), 1);
      expect(named.results[0].good).toBe(true);
      const wrong = await collect(settings({ url, ca, host: 'other.test' }), 1);
      expect(wrong.results[0].code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      srv.closeAllConnections();
      await new Promise((resolve) => srv.close(resolve));
    }
  });

  it('rejects unusable settings', () => {
    expect(() => new Prober(settings({ url: undefined }), () => {})).toThrow(/url/);
    expect(() => new Prober(settings({ url: 'ftp://x/' }), () => {})).toThrow(/http or https/);
    expect(() => new Prober(settings({ rps: 0 }), () => {})).toThrow(/rps/);
  });
});
