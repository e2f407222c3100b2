// An HTTPS listener for the stand-in: kubectl and helm (client-go) send a kubeconfig's token only
// to https servers, so RBAC-bound users need one. The certificate is self-signed, made by the
// openssl CLI once per process (clients use insecure-skip-tls-verify).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let pair: { key: Buffer; cert: Buffer } | undefined;

function selfSigned(): { key: Buffer; cert: Buffer } {
  if (pair) return pair;
  const dir = mkdtempSync(join(tmpdir(), 'kube-api-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=kube-api-standin',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    pair = { key: readFileSync(key), cert: readFileSync(cert) };
    return pair;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startTls(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<https.Server> {
  const server = https.createServer(selfSigned(), handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}
