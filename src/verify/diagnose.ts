// Pure: what a failed probe says about the verification setup. Node's error codes (never the
// message text) tell DNS from a refused connection, a TLS problem, a timeout; the responses tell a
// wrong status or body. Used by the baseline check before anything is installed: when the current
// stable cannot be probed, the setup is broken, not the canary.
import type { ProbeResult } from './prober.js';

export type ProblemKind =
  | 'dns'
  | 'refused'
  | 'unreachable'
  | 'reset'
  | 'timeout'
  | 'tls-ca'
  | 'tls-name'
  | 'tls'
  | 'network'
  | 'status'
  | 'body';

const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'ENODATA']);
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const RESET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'HPE_INVALID_CONSTANT']);
const TIMEOUT = new Set([
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
]);
/** The certificate chain does not end at a CA Node trusts: what verify-ca is for. */
const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const WRONG_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);

/** The kind of problem of one bad probe; undefined for a good one. */
export function problemOf(r: Pick<ProbeResult, 'good' | 'failure' | 'code'>): ProblemKind | undefined {
  if (r.good) return undefined;
  if (r.failure === 'status') return 'status';
  if (r.failure === 'body') return 'body';
  if (r.failure === 'timeout') return 'timeout';
  return problemOfCode(r.code);
}

/** Node's error code of a transport error -> its kind. */
export function problemOfCode(code: string | undefined): ProblemKind {
  if (!code) return 'network';
  if (DNS.has(code)) return 'dns';
  if (code === 'ECONNREFUSED') return 'refused';
  if (UNREACHABLE.has(code)) return 'unreachable';
  if (RESET.has(code)) return 'reset';
  if (TIMEOUT.has(code)) return 'timeout';
  if (UNKNOWN_CA.has(code)) return 'tls-ca';
  if (WRONG_NAME.has(code)) return 'tls-name';
  if (/^(CERT_|ERR_TLS_|ERR_SSL_|EPROTO$|ERR_OSSL_)/.test(code)) return 'tls';
  return 'network';
}

export interface SetupFacts {
  url: string;
  /** verify-host, when set. */
  host?: string;
  timeoutMs: number;
  /** verify-ca is set. */
  ca: boolean;
}

/**
 * One sentence on why the probes of the current stable failed, with the remedy, e.g.
 * `verify-url http://127.0.0.1:1/ refused the connection (ECONNREFUSED, 3 of 3 probes): check its
 * host and port (the gateway's address)`. Names the most frequent problem among the bad probes.
 */
export function describeSetupProblem(results: ProbeResult[], facts: SetupFacts): string {
  const bad = results.filter((r) => !r.good);
  if (bad.length === 0) return 'the probes of the current stable did not meet the criteria';
  const byKind = new Map<ProblemKind, ProbeResult[]>();
  for (const r of bad) {
    const k = problemOf(r) ?? 'network';
    byKind.set(k, [...(byKind.get(k) ?? []), r]);
  }
  const [kind, of] = [...byKind.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  const n = `${of.length} of ${results.length} probes`;
  const codes = [...new Set(of.map((r) => r.code).filter((c): c is string => !!c))].join(', ');
  const code = codes ? `${codes}, ` : '';
  const u = new URL(facts.url);
  const target = `verify-url ${facts.url}`;
  const name = facts.host ?? u.host;
  switch (kind) {
    case 'dns':
      return `the host of ${target} does not resolve (${code}${n}): check the host name in verify-url`;
    case 'refused':
      return `${target} refused the connection (${code}${n}): check its host and port (the gateway's address)`;
    case 'unreachable':
      return `${target} is unreachable from the runner (${code}${n}): check the address and that the runner's network reaches the gateway`;
    case 'reset':
      return `${target} closed the connection without an answer (${code}${n}): check the scheme (http/https) and port`;
    case 'timeout':
      return `${target} did not answer within verify-timeout (${facts.timeoutMs / 1000} s; ${code}${n}): check that the runner reaches the gateway, or raise verify-timeout`;
    case 'tls-ca':
      return (
        `the TLS certificate of ${name} is not signed by a CA the runner trusts (${code}${n}): ` +
        (facts.ca
          ? `it does not chain to the CA given in verify-ca; check that bundle`
          : `give the CA that signed it with verify-ca (PEM content or a file)`)
      );
    case 'tls-name':
      return `the TLS certificate presented for ${name} is not valid for that name (${code}${n}): use the name it is for in verify-url, or set verify-host to it`;
    case 'tls':
      return `TLS with ${name} failed (${code}${n}): check the certificate (expired, not yet valid, revoked) and that verify-url's scheme is right`;
    case 'status': {
      const statuses = [...new Set(of.map((r) => r.status))].sort().join(', ');
      const hint = of.every((r) => r.status === 404)
        ? `check the path of verify-url and verify-host (the gateway routes by the Host header${facts.host ? `, here ${facts.host}` : ''})`
        : of.every((r) => (r.status ?? 0) >= 500)
          ? 'the current stable itself is failing, so a canary cannot be judged against it'
          : 'check verify-url, verify-host and verify-status';
      return `the current stable answers HTTP ${statuses} (${n}), which verify-status does not accept: ${hint}`;
    }
    case 'body':
      return `the current stable's responses do not match verify-body (${n}): check the expression against what verify-url returns`;
    default:
      return `probing ${target} failed (${code}${n}${of[0].error ? `: ${of[0].error}` : ''})`;
  }
}
