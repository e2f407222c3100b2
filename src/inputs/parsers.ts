// Small reusable parsers for action inputs. Each turns an input's (trimmed, non-empty) text into a
// typed value, or reports what is wrong through the shared collector and returns undefined. Pure
// apart from file-existence checks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../lib/duration.js';
import { isSecretHelmFlag } from '../lib/helm-flags.js';
import { splitLines } from '../lib/lines.js';

/** The shared collector: `Input 'name': "value" problem; form`. value undefined = not echoed. */
export type Bad = (name: string, value: string | undefined, problem: string, form: string) => void;

/** Every problem and warning of one parse, in the order found. */
export class Problems {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  readonly #failed = new Set<string>();

  readonly bad: Bad = (name, value, problem, form) => {
    this.#failed.add(name);
    this.errors.push(`Input '${name}': ${value === undefined ? '' : `${quote(value)} `}${problem}; ${form}`);
  };

  warn(message: string): void {
    this.warnings.push(message);
  }

  /** Whether a problem was reported for this input. */
  failed(name: string): boolean {
    return this.#failed.has(name);
  }
}

/** Quote a value for an error message (JSON escapes; long values shortened). */
function quote(value: string): string {
  const v = value.length > 200 ? `${value.slice(0, 200)}...` : value;
  return JSON.stringify(v);
}

/** What a parser knows about the input it parses. */
export interface InputContext {
  readonly name: string;
  /** The allowed form, the end of every error line unless a parser names another. */
  readonly form: string;
  /** Directory relative paths are resolved against. */
  readonly cwd: string;
  /** Reports a problem with this input. The value is never echoed for a secret input. */
  bad(value: string | undefined, problem: string, form?: string): void;
  warn(message: string): void;
}

export type Parser<T> = (value: string, c: InputContext) => T | undefined;

/** The context of one input: its problems go to `problems`, never echoing a secret input's value. */
export function contextFor(
  input: { readonly name: string; readonly form: string; readonly secret: boolean },
  problems: Problems,
  cwd: string,
): InputContext {
  return {
    name: input.name,
    form: input.form,
    cwd,
    bad: (value, problem, form = input.form) =>
      problems.bad(input.name, input.secret ? undefined : value, problem, form),
    warn: (message) => problems.warn(message),
  };
}

export const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Control characters other than tab.
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Any text (verify-command). */
export const text: Parser<string> = (v) => v;

/** Text on one line without control characters. */
export const singleLine: Parser<string> = (v, c) => {
  if (!CONTROL.test(v)) return v;
  c.bad(v, 'must be a single line without control characters');
  return undefined;
};

/** One word: no whitespace or control characters. */
export function word(problem = 'contains whitespace'): Parser<string> {
  return (v, c) => {
    if (!/\s/.test(v) && !CONTROL.test(v)) return v;
    c.bad(v, problem);
    return undefined;
  };
}

/** Wraps a lib parser that throws Error(problem), e.g. parseSteps, parseStatusRanges. */
export function fromLib<T>(parse: (text: string) => T): Parser<T> {
  return (v, c) => {
    try {
      return parse(v);
    } catch (e) {
      c.bad(v, (e as Error).message);
      return undefined;
    }
  };
}

const anyDuration = fromLib(parseDuration);

/** Milliseconds of a duration ("30s", "1m30s"); `positive` rejects 0. */
export function duration({ positive }: { positive: boolean }): Parser<number> {
  return (v, c) => {
    const ms = anyDuration(v, c);
    if (ms === undefined || !positive || ms > 0) return ms;
    c.bad(v, 'must be above zero');
    return undefined;
  };
}

export const boolean: Parser<boolean> = (v, c) => {
  if (/^true$/i.test(v)) return true;
  if (/^false$/i.test(v)) return false;
  c.bad(v, 'is not a boolean');
  return undefined;
};

/** One of `known` (any case). */
export function choice<T extends string>(known: readonly T[], problem: string): Parser<T> {
  return (v, c) => {
    const lower = v.toLowerCase() as T;
    if (known.includes(lower)) return lower;
    c.bad(v, problem);
    return undefined;
  };
}

/** A Kubernetes object name matching `pattern`, at most `max` characters. */
export function kubeName(pattern: RegExp, max: number, problem: string, tooLong = problem): Parser<string> {
  return (v, c) => {
    if (pattern.test(v) && v.length <= max) return v;
    c.bad(v, v.length > max ? tooLong : problem);
    return undefined;
  };
}

/** A decimal number (no sign, no exponent) above `above` and at most `atMost`. */
export function numberIn(above: number, atMost: number): Parser<number> {
  return (v, c) => {
    if (!/^\d+(?:\.\d+)?$|^\.\d+$/.test(v)) {
      c.bad(v, 'is not a number');
      return undefined;
    }
    const n = Number(v);
    if (n > above && n <= atMost) return n;
    c.bad(v, `is not above ${above} and at most ${atMost}`);
    return undefined;
  };
}

/** A JavaScript regular expression; `shown` is what an error quotes (the whole input). */
export function regex(source: string, c: InputContext, shown = source): RegExp | undefined {
  try {
    return new RegExp(source);
  } catch (e) {
    c.bad(shown, `is not a valid regular expression (${(e as Error).message})`);
    return undefined;
  }
}

/** host[:port], host a DNS name or a bracketed IPv6 address. */
export const hostPort: Parser<string> = (v, c) => {
  if (isHostPort(v)) return v;
  c.bad(v, 'is not a host name with optional port');
  return undefined;
};

function isHostPort(v: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return false;
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return false;
  const host = m[1];
  if (host.startsWith('[')) return true;
  if (host.length > 253) return false;
  return host.split('.').every((l) => /^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** An http:// or https:// URL. */
export const httpUrl: Parser<string> = (v, c) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    c.bad(v, 'is not a URL');
    return undefined;
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') return v;
  c.bad(v, `has scheme "${u.protocol.replace(/:$/, '')}", not http or https`);
  return undefined;
};

export function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

// --- helm-args ---------------------------------------------------------------------------------

/**
 * helm-args flags the action sets itself (or that would make helm and kubectl disagree about the
 * cluster). Long names without dashes; short letters separately.
 */
export const FORBIDDEN_HELM_FLAGS: Readonly<Record<string, string>> = {
  namespace: "use the 'namespace' input",
  wait: 'the action always waits for the release itself',
  atomic: "failures are handled by 'on-failure'",
  'rollback-on-failure': "failures are handled by 'on-failure'",
  'dry-run': "use the 'dry-run' input",
  kubeconfig: "use the 'kubeconfig' input",
  'kube-context': "use the 'context' input",
  timeout: "use the 'helm-timeout' input",
  version: "use the 'chart-version' input",
  'generate-name': "the release name is '<release>-<version slug>'",
  'name-template': "the release name is '<release>-<version slug>'",
  output: 'the action parses helm output itself',
};
const FORBIDDEN_SHORT_FLAGS: Readonly<Record<string, string>> = {
  n: 'namespace',
  o: 'output',
  g: 'generate-name',
};

/** One helm-args line: "--flag", "--flag=value" or "--flag value" (split at the first whitespace). */
export interface FlagLine {
  /** The flag, e.g. "--set". */
  flag: string;
  /** The first argv token: "--flag" or "--flag=value". */
  flagPart: string;
  /** The value in either spelling, if any. */
  value?: string;
  /** The value after whitespace (its own argv token), if any. */
  separate?: string;
}

export function splitFlagLine(line: string): FlagLine {
  const sp = line.search(/\s/);
  const flagPart = sp < 0 ? line : line.slice(0, sp);
  const separate = sp < 0 ? undefined : line.slice(sp).trim();
  const eq = flagPart.indexOf('=');
  const flag = eq < 0 ? flagPart : flagPart.slice(0, eq);
  return { flag, flagPart, value: eq < 0 ? separate : flagPart.slice(eq + 1), separate };
}

/**
 * helm-args: one flag per line: "--flag", "--flag=value", "--flag value" (split at the first
 * whitespace, value verbatim, no shell quoting) or a short flag "-f values.yaml". Every line must
 * start with '-'. Returns argv tokens, e.g. ["--create-namespace", "--labels", "team=a"]. Lines of
 * flags whose values may be secret (--set, --password, ...) are never echoed.
 */
export const helmArgs: Parser<string[]> = (text, c) => {
  const out: string[] = [];
  let ok = true;
  splitLines(text).forEach((line, i) => {
    if (!line.startsWith('-') || line === '-' || line === '--') {
      c.bad(
        undefined,
        `line ${i + 1} is not a flag starting with '-' (line not shown: it may be a secret value)`,
      );
      ok = false;
      return;
    }
    const { flag, flagPart, value, separate } = splitFlagLine(line);
    const secret = isSecretHelmFlag(flag);
    let reason: string | undefined;
    if (flag.startsWith('--')) {
      reason = FORBIDDEN_HELM_FLAGS[flag.slice(2)];
      if (reason === undefined && flag.startsWith('--kube-'))
        reason = "helm and kubectl must reach the same cluster; use the 'kubeconfig' and 'context' inputs";
    } else {
      const long = FORBIDDEN_SHORT_FLAGS[flag.charAt(1)];
      if (long) reason = FORBIDDEN_HELM_FLAGS[long];
    }
    if (reason !== undefined) {
      c.bad(
        secret ? undefined : line,
        `${secret ? `line ${i + 1} ` : ''}uses ${flag}, which the action controls: ${reason}`,
      );
      ok = false;
    } else if (secret && value === undefined) {
      c.bad(undefined, `line ${i + 1} has ${flag} without a value; put the value on the same line`);
      ok = false;
    } else {
      out.push(flagPart);
      if (separate !== undefined) out.push(separate);
    }
  });
  return ok ? out : undefined;
};

// --- kubeconfig --------------------------------------------------------------------------------

export interface ParsedKubeconfig {
  /** The YAML (decoded when the input was base64). */
  text: string;
  contexts: string[];
  /** The parsed document. */
  doc: Record<string, unknown>;
}

function kubeconfigOf(text: string): ParsedKubeconfig | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return undefined;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.clusters) && !Array.isArray(d.contexts) && d.kind !== 'Config') return undefined;
  const contexts = Array.isArray(d.contexts)
    ? d.contexts
        .map((c) => (c && typeof c === 'object' ? String((c as Record<string, unknown>).name ?? '') : ''))
        .filter((n) => n !== '')
    : [];
  return { text, contexts, doc: d };
}

/** Kubeconfig YAML/JSON, or base64 of it. Undefined if neither. Never includes the content in errors. */
export function parseKubeconfig(value: string): ParsedKubeconfig | undefined {
  const direct = kubeconfigOf(value);
  if (direct) return direct;
  const compact = value.replace(/\s+/g, '');
  if (/^[A-Za-z0-9+/=_-]+$/.test(compact)) {
    const decoded = Buffer.from(compact, 'base64').toString('utf8');
    return kubeconfigOf(decoded);
  }
  return undefined;
}

/** The kubeconfig input: its content, never a path to it. */
export const kubeconfig: Parser<ParsedKubeconfig> = (v, c) => {
  const parsed = parseKubeconfig(v);
  if (parsed) return parsed;
  const looksLikePath = !/[\s:]/.test(v) && v.includes('/') && fs.existsSync(path.resolve(c.cwd, v));
  c.bad(
    undefined,
    looksLikePath
      ? 'is a file path, not the kubeconfig content (value not shown: secret input); to use a file, leave kubeconfig empty and set the KUBECONFIG environment variable'
      : 'is neither kubeconfig YAML nor base64 of it (value not shown: secret input)',
  );
  return undefined;
};
