// The secret parts of input values: what input parsing registers in the SecretRegistry besides the
// whole value of a secret input. Pure; works on the raw text, so secrets are known even when the
// input is invalid.
import { HELM_CREDENTIAL_FLAGS, HELM_SET_FLAGS } from '../lib/helm-flags.js';
import { splitLines } from '../lib/lines.js';
import { parseKubeconfig, splitFlagLine } from './parsers.js';

/**
 * One helm --set item: the item, the value after its first '=', and the value of each pair, because
 * helm splits "a=1,b=x\,y" on unescaped commas ("\," belongs to the value).
 */
export function setItemSecrets(item: string): string[] {
  const out = [item];
  const eq = item.indexOf('=');
  out.push(eq < 0 ? item : item.slice(eq + 1));
  for (const pair of item.split(/(?<!\\),/)) {
    const e = pair.indexOf('=');
    if (e >= 0) out.push(pair.slice(e + 1));
  }
  return out;
}

/** Values of --set-style flags (for --set-file: the paths), credential flags, and URL credentials. */
export function helmArgSecrets(text: string): string[] {
  const out: string[] = [];
  for (const line of splitLines(text)) {
    const { flag, value } = splitFlagLine(line);
    if (value === undefined) continue;
    if (HELM_SET_FLAGS.has(flag)) out.push(...setItemSecrets(value));
    else if (HELM_CREDENTIAL_FLAGS.has(flag)) out.push(value);
    out.push(...urlCredentials(value));
  }
  return out;
}

const USERINFO = /[a-z][a-z0-9+.-]*:\/\/([^\s/?#]+)@/gi;

/** Credentials in URLs ("https://user:password@host/"): the userinfo and the password, also decoded. */
export function urlCredentials(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(USERINFO)) {
    const userinfo = m[1];
    const colon = userinfo.indexOf(':');
    // Without a password, the user part is the credential (https://TOKEN@host).
    const password = colon < 0 ? userinfo : userinfo.slice(colon + 1);
    out.push(userinfo, password, decoded(password));
  }
  return out;
}

function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Every header value, and the credential after a scheme ("Bearer <token>", "Basic <b64>"). */
export function headerSecrets(text: string): string[] {
  const out: string[] = [];
  for (const line of splitLines(text)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const value = line.slice(colon + 1).trim();
    out.push(value);
    const sp = value.indexOf(' ');
    if (sp > 0) out.push(value.slice(sp + 1));
  }
  return out;
}

/**
 * The decoded kubeconfig (and each line of a wrapped base64 input), and every credential inside:
 * tokens, passwords, secrets, `*-data` keys, exec-plugin env values and token-like exec args, and
 * URL credentials anywhere; also the cluster addresses, which no report should reveal either.
 */
export function kubeconfigSecrets(text: string): string[] {
  const parsed = parseKubeconfig(text);
  if (!parsed) return [];
  const out: string[] = [];
  if (parsed.text !== text) out.push(parsed.text, ...splitLines(text));
  credentials(parsed.doc, false, out);
  return out;
}

/** Keys whose string values are registered, at any depth: credentials and cluster addresses. */
const CREDENTIAL_KEY = /token|passw|secret|-data$|^server$|^proxy-url$/i;

function credentials(node: unknown, underCredentialKey: boolean, out: string[]): void {
  if (typeof node === 'string') {
    if (underCredentialKey) out.push(node);
    out.push(...urlCredentials(node));
  } else if (Array.isArray(node)) {
    for (const x of node) credentials(x, underCredentialKey, out);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'exec' && v && typeof v === 'object') out.push(...execSecrets(v as ExecConfig));
      credentials(v, underCredentialKey || CREDENTIAL_KEY.test(k), out);
    }
  }
}

interface ExecConfig {
  args?: unknown;
  env?: unknown;
}

/** An exec credential plugin: every env value (AWS keys, tokens...) and the args that hold tokens. */
function execSecrets(exec: ExecConfig): string[] {
  const out: string[] = [];
  if (Array.isArray(exec.env))
    for (const e of exec.env) if (e && typeof e === 'object' && 'value' in e) out.push(String(e.value));
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  args.forEach((a, i) => {
    const flag = /^--?([\w-]+)(?:=(.*))?$/.exec(a);
    if (flag && CREDENTIAL_ARG.test(flag[1])) {
      if (flag[2] !== undefined) out.push(flag[2]);
      else if (i + 1 < args.length && !args[i + 1].startsWith('-')) out.push(args[i + 1]);
    } else if (TOKEN_LIKE.test(a)) {
      out.push(a);
    }
  });
  return out;
}

/** Flag names of exec args whose value is a credential (--token, --client-secret, --api-key...). */
const CREDENTIAL_ARG = /token|passw|secret|key/i;
/** A long run of token characters with letters and digits and no ':' or '/' (not an ARN or path). */
const TOKEN_LIKE = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9._~+=-]{24,}$/;
