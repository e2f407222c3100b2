// Every action input, one entry each, in action.yml's order: name, default, how the runner passes
// it, whether it is secret, the allowed form (the end of its error lines) and its parser. After the
// table: crossRules(), the rules that involve several inputs. Pure apart from file-existence checks
// and reading a verify-ca file.
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CanaryMatch, Command, Step } from '../lib/types.js';
import type { MetricSpec } from '../lib/types.js';
import { DURATION_FORM, parseDuration } from '../lib/duration.js';
import { splitLines } from '../lib/lines.js';
import { canaryReleaseName, isValidReleaseName, MAX_RELEASE_NAME, slugVersion } from '../lib/release-name.js';
import { parseStatusRanges, STATUS_FORM } from '../lib/statuses.js';
import { parseStepPlan, STEPS_FORM, withBake } from '../lib/steps.js';
import {
  boolean,
  choice,
  contextFor,
  CONTROL,
  DNS_1035,
  DNS_LABEL,
  DNS_SUBDOMAIN,
  duration,
  fromLib,
  helmArgs,
  hostPort,
  HTTP_TOKEN,
  httpUrl,
  kubeconfig,
  kubeName,
  numberIn,
  regex,
  singleLine,
  statOrUndefined,
  text,
  word,
  type InputContext,
  type Parser,
  type Problems,
} from './parsers.js';
import {
  headerSecrets,
  helmArgSecrets,
  kubeconfigSecrets,
  setItemSecrets,
  urlCredentials,
} from './secrets.js';

export interface InputSpec<N extends string = string, T = unknown, D extends string = string> {
  readonly name: N;
  /** Applied when the input is empty: the default action.yml states ('' = none). */
  readonly default: D;
  /** action.yml's default where it is an expression the runner resolves (github-token). */
  readonly actionDefault?: string;
  /** Newline-separated; read with core.getMultilineInput. */
  readonly multiline: boolean;
  /** Never echoed; the whole value is registered as a secret (its parts through `secrets`). */
  readonly secret: boolean;
  readonly form: string;
  readonly parse: Parser<T>;
  /** Secret parts of the value (of any input), registered before parsing, even when it is invalid. */
  readonly secrets?: (value: string) => string[];
}

function input<const N extends string, T, const D extends string = ''>(spec: {
  name: N;
  default?: D;
  actionDefault?: string;
  multiline?: boolean;
  secret?: boolean;
  form: string;
  parse: Parser<T>;
  secrets?: (value: string) => string[];
}): InputSpec<N, T, D> {
  return { default: '' as D, multiline: false, secret: false, ...spec };
}

export const COMMANDS: readonly Command[] = ['rollout', 'promote', 'rollback', 'status'];

const BOOLEAN_FORM = 'use true or false';
const eachLine = (secrets: (line: string) => string[]) => (v: string) => splitLines(v).flatMap(secrets);

export const INPUTS = [
  input({
    name: 'command',
    default: 'rollout',
    form: 'use "rollout", "promote", "rollback" or "status"',
    parse: choice(COMMANDS, 'is not a command'),
  }),
  input({
    name: 'chart',
    form: 'use a chart directory (with Chart.yaml), a packaged .tgz, repo/chart (after helm repo add), an oci:// reference or an https:// URL of a .tgz',
    parse: (v, c) => (singleLine(v, c) === undefined ? undefined : parseChart(v, c)),
    secrets: urlCredentials,
  }),
  input({
    name: 'chart-version',
    form: 'use a chart version or constraint on one line, e.g. "1.4.2" or "^1.4"',
    parse: singleLine,
  }),
  input({
    name: 'release',
    form: `use lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${MAX_RELEASE_NAME - 2} characters (the new release is "<release>-<version slug>", at most ${MAX_RELEASE_NAME}), e.g. "my-app"`,
    parse: (v, c) => {
      if (isValidReleaseName(v) && v.length <= MAX_RELEASE_NAME - 2) return v;
      c.bad(
        v,
        v.length > MAX_RELEASE_NAME - 2
          ? `is ${v.length} characters, leaving no room for "-<version>" within ${MAX_RELEASE_NAME}`
          : /[A-Z]/.test(v) && isValidReleaseName(v.toLowerCase())
            ? 'has uppercase letters'
            : 'is not a valid Helm release name',
      );
      return undefined;
    },
  }),
  input({
    name: 'version',
    form: 'use the version being rolled out, e.g. "v1.2.3" or a commit SHA (default: the tag name on a tag push, else the short commit SHA)',
    parse: parseVersion,
  }),
  input({
    name: 'namespace',
    default: 'default',
    form: 'use a Kubernetes namespace name: lowercase letters, digits and \'-\', at most 63 characters, e.g. "prod"',
    parse: kubeName(DNS_LABEL, 63, 'is not a valid namespace name', 'is longer than 63 characters'),
  }),
  input({
    name: 'values-files',
    multiline: true,
    form: 'use one values file path (relative to the workspace) or http(s) URL per line',
    parse: (v, c) => {
      const files = splitLines(v);
      let ok = true;
      for (const f of files) {
        if (/^https?:\/\//.test(f)) continue;
        const st = statOrUndefined(path.resolve(c.cwd, f));
        if (!st || !st.isFile()) c.bad(f, st ? 'is not a file' : `does not exist (looked in ${c.cwd})`);
        ok &&= st?.isFile() === true;
      }
      return ok ? files : undefined;
    },
    secrets: eachLine(urlCredentials),
  }),
  input({
    name: 'set',
    multiline: true,
    secret: true,
    form: 'use one key=value per line, e.g. "image.tag=v1.2.3"',
    parse: (v, c) => {
      const lines = splitLines(v);
      const problems = lines.map((line) => {
        const eq = line.indexOf('=');
        const key = line.slice(0, Math.max(eq, 0)).trim();
        if (eq < 0) return "has no '='";
        if (key === '') return 'has an empty key';
        if (/\s/.test(key)) return 'has whitespace in its key';
        return undefined;
      });
      problems.forEach((p, i) => p && c.bad(undefined, `line ${i + 1} ${p} (line not shown: secret input)`));
      return problems.some(Boolean) ? undefined : lines;
    },
    secrets: eachLine(setItemSecrets),
  }),
  input({
    name: 'helm-args',
    multiline: true,
    form: 'use one helm install flag per line, as "--flag", "--flag=value" or "--flag value", e.g. "--create-namespace"',
    parse: helmArgs,
    secrets: helmArgSecrets,
  }),
  input({
    name: 'virtual-service',
    multiline: true,
    form: "use the name of an Istio VirtualService, one per line: lowercase letters, digits, '-' and '.', e.g. \"my-app\"",
    parse: objectNames(kubeName(DNS_SUBDOMAIN, 253, 'is not a valid Kubernetes resource name')),
  }),
  input({
    name: 'http-route',
    form: "use the name of a Gateway API HTTPRoute: lowercase letters, digits, '-' and '.', e.g. \"my-app\"",
    parse: kubeName(DNS_SUBDOMAIN, 253, 'is not a valid Kubernetes resource name'),
  }),
  input({
    name: 'route',
    form: 'use the name of an http route of the VirtualService (or of a rule of the HTTPRoute), on one line',
    parse: singleLine,
  }),
  input({
    name: 'destination-rule',
    form: "use the name of the Istio DestinationRule of the shared Service: lowercase letters, digits, '-' and '.', e.g. \"my-app\"",
    parse: kubeName(DNS_SUBDOMAIN, 253, 'is not a valid Kubernetes resource name'),
  }),
  input({
    name: 'subset-label',
    default: 'app.kubernetes.io/instance',
    form: 'use a Kubernetes label key, e.g. "app.kubernetes.io/instance" or "version"',
    parse: labelKey,
  }),
  input({
    name: 'service',
    form: 'use the name of a Service the chart renders: lowercase letters, digits and \'-\', starting with a letter, at most 63 characters, e.g. "my-app-web"',
    parse: kubeName(DNS_1035, 63, 'is not a valid Service name'),
  }),
  input({ name: 'steps', default: '10,25,50,100', form: STEPS_FORM, parse: fromLib(parseStepPlan) }),
  input({ name: 'interval', default: '1m', form: DURATION_FORM, parse: duration({ positive: false }) }),
  input({
    name: 'verify-url',
    form: 'use an http:// or https:// URL, e.g. "https://my-app.example.com/healthz"',
    parse: httpUrl,
    secrets: urlCredentials,
  }),
  input({
    name: 'verify-host',
    multiline: true,
    form: 'use host names with optional port, one per line, e.g. "my-app.example.com" or "my-app.example.com:8443"',
    parse: objectNames(hostPort),
  }),
  input({
    name: 'verify-headers',
    multiline: true,
    form: 'use one "Name: value" header per line, e.g. "Authorization: Bearer ..."',
    parse: parseHeaders,
    secrets: headerSecrets,
  }),
  input({
    name: 'verify-status',
    default: '200-399',
    form: STATUS_FORM,
    parse: fromLib(parseStatusRanges),
  }),
  input({
    name: 'verify-body',
    form: 'use a JavaScript regular expression (no slashes or flags), e.g. "\\"status\\":\\s*\\"ok\\""',
    parse: regex,
  }),
  input({
    name: 'verify-rps',
    default: '5',
    form: 'use a number of requests per second above 0 and at most 100, e.g. "5" or "0.5"',
    parse: numberIn(0, 100),
  }),
  input({ name: 'verify-timeout', default: '5s', form: DURATION_FORM, parse: duration({ positive: true }) }),
  input({
    name: 'success-rate',
    default: '99',
    form: 'use a percentage above 0 and at most 100, e.g. "99" or "99.5"',
    parse: (v, c) => {
      const pct = numberIn(0, 100)(v.replace(/\s*%$/, ''), c);
      if (pct !== undefined && pct <= 1)
        c.warn(`Input 'success-rate' is a percentage: ${pct} means ${pct}%, not ${pct * 100}%.`);
      return pct;
    },
  }),
  input({
    name: 'max-latency',
    form: 'use a positive p95 latency in milliseconds, e.g. "300" or "300ms" (or a duration like "1.5s")',
    parse: (v, c) => {
      let ms: number | undefined;
      if (/^\d+(?:\s*ms)?$/.test(v)) ms = parseInt(v, 10);
      else {
        try {
          ms = /^\d/.test(v) ? parseDuration(v) : undefined;
        } catch {
          ms = undefined;
        }
        if (ms === undefined) c.bad(v, 'is not a number of milliseconds');
      }
      if (ms === undefined || ms > 0) return ms;
      c.bad(v, 'must be above zero');
      return undefined;
    },
  }),
  input({ name: 'verify-command', form: 'use a bash command', parse: text }),
  input({
    name: 'canary-match',
    form: 'use "header:NAME=VALUE" (e.g. "header:x-version=v2") or "body:REGEX" (e.g. "body:version.*v2")',
    parse: parseCanaryMatch,
  }),
  input({
    name: 'precheck',
    default: '30s',
    form: `${DURATION_FORM}; 0s turns the pre-traffic check off`,
    parse: duration({ positive: false }),
  }),
  input({
    name: 'canary-header',
    default: 'x-canary',
    form: 'use an HTTP header name (letters, digits and -), e.g. "x-canary"',
    parse: parseHeaderName,
  }),
  input({ name: 'settle', default: '2s', form: DURATION_FORM, parse: duration({ positive: false }) }),
  input({ name: 'drain', default: '10s', form: DURATION_FORM, parse: duration({ positive: false }) }),
  input({
    name: 'max-bake',
    form: `${DURATION_FORM} (default: three times each step's bake)`,
    parse: duration({ positive: true }),
  }),
  input({
    name: 'verify-ca',
    form: 'use PEM CA certificates (-----BEGIN CERTIFICATE----- ...) or the path of a file holding them',
    parse: parseCa,
  }),
  input({ name: 'allow-unverified', default: 'false', form: BOOLEAN_FORM, parse: boolean }),
  input({
    name: 'prometheus-url',
    form: 'use an http:// or https:// URL (e.g. "http://prometheus.example.com:9090"), or "k8s://NAMESPACE/SERVICE:PORT" for the in-cluster Prometheus through the Kubernetes API (e.g. "k8s://monitoring/prometheus:9090")',
    parse: parsePrometheusUrl,
    secrets: urlCredentials,
  }),
  input({
    name: 'metrics',
    // YAML: read whole (a multiline input's lines are trimmed, which would lose the indentation).
    form: 'use a YAML list of "request-success-rate", "request-duration" or {name, query, min, max} entries (query: PromQL with {{ namespace }}, {{ canary }}, {{ stable }}, {{ interval }}; at least one of min/max)',
    parse: parseMetrics,
  }),
  input({
    name: 'metrics-interval',
    default: '30s',
    form: `${DURATION_FORM}, at least 1s`,
    parse: (v, c) => {
      const ms = duration({ positive: true })(v, c);
      if (ms !== undefined && ms < 1000)
        c.bad(v, 'is shorter than 1s (Prometheus ranges are whole seconds here)');
      else return ms;
      return undefined;
    },
  }),
  input({
    name: 'prometheus-token',
    secret: true,
    form: 'use a bearer token without spaces, e.g. ${{ secrets.PROMETHEUS_TOKEN }}',
    parse: word('contains whitespace (value not shown: secret input)'),
  }),
  input({
    name: 'on-failure',
    default: 'rollback',
    form: 'use "rollback" or "pause"',
    parse: choice(['rollback', 'pause'] as const, 'is not a failure action'),
  }),
  input({
    name: 'promotion',
    default: 'auto',
    form: 'use "auto" or "manual"',
    parse: choice(['auto', 'manual'] as const, 'is not a promotion mode'),
  }),
  input({ name: 'cleanup', default: 'true', form: BOOLEAN_FORM, parse: boolean }),
  input({ name: 'helm-timeout', default: '5m', form: DURATION_FORM, parse: duration({ positive: true }) }),
  input({ name: 'timeout', default: '30m', form: DURATION_FORM, parse: duration({ positive: true }) }),
  input({ name: 'lock-timeout', default: '0s', form: DURATION_FORM, parse: duration({ positive: false }) }),
  input({
    name: 'kubeconfig',
    secret: true,
    form: 'use the kubeconfig file content (YAML with clusters, users and contexts), or that content base64-encoded, e.g. ${{ secrets.KUBECONFIG }}',
    parse: kubeconfig,
    secrets: kubeconfigSecrets,
  }),
  input({
    name: 'context',
    form: 'use the name of a context in the kubeconfig, on one line without spaces',
    parse: word(),
  }),
  input({ name: 'dry-run', default: 'false', form: BOOLEAN_FORM, parse: boolean }),
  input({
    name: 'github-token',
    // Without a runner there is no token; the runner resolves action.yml's expression.
    actionDefault: '${{ github.token }}',
    secret: true,
    form: 'use a token without spaces, e.g. ${{ github.token }}',
    parse: word('contains whitespace (value not shown: secret input)'),
  }),
  input({ name: 'comment', default: 'true', form: BOOLEAN_FORM, parse: boolean }),
  input({
    name: 'pr-number',
    form: 'use a positive whole number, e.g. "42"',
    parse: (v, c) => {
      const digits = v.replace(/^#/, '');
      if (/^\d+$/.test(digits) && Number(digits) > 0 && Number.isSafeInteger(Number(digits)))
        return Number(digits);
      c.bad(v, 'is not a positive whole number');
      return undefined;
    },
  }),
] as const;

export type InputTable = typeof INPUTS;
export type InputName = InputTable[number]['name'];

/**
 * Parsed values by input name. An input with a default always has a value (its default when the
 * given text is invalid: Problems.failed() tells); one without is undefined when empty or invalid.
 */
export type InputValues = {
  [S in InputTable[number] as S['name']]: S extends InputSpec<string, infer T, infer D>
    ? D extends ''
      ? T | undefined
      : T
    : never;
};

export const INPUT_BY_NAME = Object.fromEntries(INPUTS.map((s) => [s.name, s])) as Readonly<
  Record<InputName, InputTable[number]>
>;

// --- parsers used by one input -------------------------------------------------------------------

/** An explicit version, or one derived from the tag or commit: it names the new release. */
function parseVersion(v: string, c: InputContext): string | undefined {
  if (/\s/.test(v) || CONTROL.test(v)) c.bad(v, 'contains whitespace');
  else if (slugVersion(v) === '') c.bad(v, 'has no letters or digits to build the release name from');
  else return v;
  return undefined;
}

export interface ChartRef {
  ref: string;
  /** A chart directory or .tgz on disk (not resolved by helm from a repo or registry). */
  local: boolean;
}

function parseChart(chart: string, c: InputContext): ChartRef | undefined {
  const cwd = c.cwd;
  const p = path.resolve(cwd, chart);
  const st = statOrUndefined(p);
  const fail = (problem: string): undefined => void c.bad(chart, problem);
  if (/^oci:\/\/[^/\s]+\/\S+$/.test(chart) || /^https?:\/\/\S+$/.test(chart))
    return { ref: chart, local: false };
  if (st?.isDirectory()) {
    if (!statOrUndefined(path.join(p, 'Chart.yaml'))) return fail('is a directory without Chart.yaml');
    return { ref: chart, local: true };
  }
  if (st?.isFile()) {
    if (!/\.tgz$|\.tar\.gz$/.test(chart)) return fail('is a file but not a packaged chart (.tgz)');
    return { ref: chart, local: true };
  }
  if (/^oci:/.test(chart)) return fail('is not a complete oci:// reference');
  if (/^(\.{1,2}\/|\/)/.test(chart) || /\.tgz$|\.tar\.gz$/.test(chart))
    return fail(`does not exist (looked in ${cwd})`);
  if (/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(chart)) {
    // repo/chart - unless the "repo" part is a local directory: then it is a mistyped path.
    const dir = chart.split('/')[0];
    if (statOrUndefined(path.resolve(cwd, dir))?.isDirectory())
      return fail(`does not exist although directory "${dir}" does (looked in ${cwd})`);
    return { ref: chart, local: false };
  }
  return fail(`is neither an existing chart (looked in ${cwd}) nor a repo/chart or oci:// reference`);
}

function parseHeaders(v: string, c: InputContext): Record<string, string> | undefined {
  const headers: Record<string, string> = {};
  let failed = false;
  splitLines(v).forEach((line, i) => {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    const value = colon < 0 ? '' : line.slice(colon + 1).trim();
    if (colon < 0) c.bad(undefined, `line ${i + 1} has no ':' (line not shown: it may hold a credential)`);
    else if (!HTTP_TOKEN.test(name)) c.bad(name, `(line ${i + 1}) is not a valid header name`);
    else if (CONTROL.test(value)) c.bad(name, `(line ${i + 1}) has control characters in its value`);
    else if (name.toLowerCase() === 'host')
      c.bad(
        name,
        `(line ${i + 1}) is set by the 'verify-host' input`,
        "use 'verify-host' for the Host header",
      );
    else if (Object.keys(headers).some((k) => k.toLowerCase() === name.toLowerCase()))
      c.bad(name, `(line ${i + 1}) is given more than once`);
    else {
      headers[name] = value;
      return;
    }
    failed = true;
  });
  return failed ? undefined : headers;
}

/** A header name Istio can match on (matched case-insensitively, written lowercase). */
function parseHeaderName(v: string, c: InputContext): string | undefined {
  if (!HTTP_TOKEN.test(v)) c.bad(v, 'is not a valid header name');
  else if (/^(host|:.*|content-length|transfer-encoding|connection)$/i.test(v))
    c.bad(v, 'is a header the gateway or HTTP itself uses');
  else return v.toLowerCase();
  return undefined;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * verify-ca: PEM content, or the path of a file holding it (read here, so a bad bundle is an input
 * error, not a probe failure later). Every certificate must parse; a private key is refused.
 * Returns the certificates only, one PEM block each.
 */
function parseCa(v: string, c: InputContext): string | undefined {
  const inline = v.includes('-----BEGIN');
  let pem = v;
  // PEM content is not echoed (long, and nobody reads it in an error line); a path is.
  const shown = inline ? undefined : v;
  const where = inline ? '' : ` (file ${v})`;
  if (!inline) {
    const st = statOrUndefined(path.resolve(c.cwd, v));
    if (!st || !st.isFile()) {
      c.bad(
        v,
        st
          ? 'is not a file'
          : `is neither PEM content (-----BEGIN CERTIFICATE-----) nor an existing file (looked in ${c.cwd})`,
      );
      return undefined;
    }
    pem = fs.readFileSync(path.resolve(c.cwd, v), 'utf8');
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    c.bad(shown, `holds a private key${where}; verify-ca takes CA certificates only`);
    return undefined;
  }
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) {
    c.bad(shown, `holds no PEM certificate${where}`);
    return undefined;
  }
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch (e) {
      c.bad(shown, `has a certificate (#${i + 1}${where}) that does not parse: ${(e as Error).message}`);
      return undefined;
    }
  }
  return `${blocks.join('\n')}\n`;
}

function parseCanaryMatch(v: string, c: InputContext): CanaryMatch | undefined {
  const h = /^header:([^=]*)=(.*)$/i.exec(v);
  const b = /^body:(.*)$/is.exec(v);
  if (h) {
    const name = h[1].trim();
    const value = h[2].trim();
    if (!HTTP_TOKEN.test(name)) c.bad(v, `has "${name}" which is not a valid header name`);
    else if (value === '') c.bad(v, 'has an empty header value');
    else return { kind: 'header', name, value };
  } else if (b) {
    if (b[1] === '') c.bad(v, 'has an empty regular expression');
    else {
      const pattern = regex(b[1], c, v);
      if (pattern) return { kind: 'body', pattern };
    }
  } else {
    c.bad(v, 'is neither header:NAME=VALUE nor body:REGEX');
  }
  return undefined;
}

const BUILTIN_NAMES = ['request-success-rate', 'request-duration'] as const;
const PLACEHOLDER_NAMES = ['namespace', 'canary', 'stable', 'interval'];

function parsePrometheusUrl(v: string, c: InputContext): string | undefined {
  if (/^k8s:/i.test(v)) {
    if (
      /^k8s:\/\/[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z]([-a-z0-9]*[a-z0-9])?(:([0-9]{1,5}|[a-z][-a-z0-9]*))?\/?$/.test(
        v,
      )
    )
      return v.replace(/\/$/, '');
    c.bad(v, 'is not k8s://NAMESPACE/SERVICE:PORT (a namespace, a Service name and a port number or name)');
    return undefined;
  }
  return httpUrl(v, c);
}

/** The `metrics` YAML list: built-in names, or {name, query, min?, max?}. */
function parseMetrics(v: string, c: InputContext): MetricSpec[] | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(v);
  } catch (e) {
    c.bad(undefined, `is not valid YAML (${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
  if (!Array.isArray(doc) || doc.length === 0) {
    c.bad(undefined, 'is not a non-empty YAML list');
    return undefined;
  }
  const out: MetricSpec[] = [];
  const names = new Set<string>();
  let ok = true;
  doc.forEach((e: unknown, i: number) => {
    const at = `entry ${i + 1}`;
    const bad = (problem: string) => {
      ok = false;
      c.bad(undefined, `${at} ${problem}`);
    };
    const builtin =
      typeof e === 'string'
        ? e
        : isRecord(e) && Object.keys(e).length === 1 && 'name' in e
          ? e.name
          : undefined;
    if (typeof builtin === 'string' && (BUILTIN_NAMES as readonly string[]).includes(builtin)) {
      if (names.has(builtin)) return bad(`("${builtin}") is given twice`);
      names.add(builtin);
      out.push({ kind: 'builtin', name: builtin as (typeof BUILTIN_NAMES)[number] });
      return;
    }
    if (typeof e === 'string')
      return bad(`("${e}") is not a built-in (request-success-rate, request-duration)`);
    if (!isRecord(e)) return bad('is neither a built-in name nor a {name, query} mapping');
    const unknown = Object.keys(e).filter((k) => !['name', 'query', 'min', 'max'].includes(k));
    if (unknown.length) return bad(`has unknown keys ${unknown.map((k) => `"${k}"`).join(', ')}`);
    const { name, query, min, max } = e as Record<string, unknown>;
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
      return bad('needs a name of letters, digits, "_", "." and "-"');
    if (names.has(name)) return bad(`("${name}") is given twice`);
    if (typeof query !== 'string' || query.trim() === '') return bad(`("${name}") needs a query`);
    const unknownVars = [...query.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)]
      .map((m) => m[1])
      .filter((p) => !PLACEHOLDER_NAMES.includes(p));
    if (unknownVars.length)
      return bad(
        `("${name}") uses unknown placeholders ${unknownVars.map((p) => `{{ ${p} }}`).join(', ')} (known: {{ namespace }}, {{ canary }}, {{ stable }}, {{ interval }})`,
      );
    for (const [k, b] of [
      ['min', min],
      ['max', max],
    ] as const)
      if (b !== undefined && (typeof b !== 'number' || !Number.isFinite(b)))
        return bad(`("${name}") has a ${k} that is not a number`);
    if (min === undefined && max === undefined) return bad(`("${name}") needs min or max (or both)`);
    if (typeof min === 'number' && typeof max === 'number' && min > max)
      return bad(`("${name}") has min above max`);
    names.add(name);
    out.push({
      kind: 'custom',
      name,
      query: query.trim(),
      ...(min !== undefined ? { min: min as number } : {}),
      ...(max !== undefined ? { max: max as number } : {}),
    });
  });
  return ok ? out : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Several names, one per line, each checked by `one`; a name given twice is an error. */
function objectNames(one: Parser<string>): Parser<string[]> {
  return (v, c) => {
    const names = splitLines(v);
    const parsed = names.map((n) => one(n, c));
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    if (twice.length > 0) c.bad(twice[0], 'is listed twice');
    return parsed.every((n) => n !== undefined) && twice.length === 0 ? names : undefined;
  };
}

/** A label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters. */
function labelKey(v: string, c: InputContext): string | undefined {
  const slash = v.lastIndexOf('/');
  const prefix = slash >= 0 ? v.slice(0, slash) : undefined;
  const name = v.slice(slash + 1);
  const nameOk = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name) && name.length <= 63;
  const prefixOk = prefix === undefined || (DNS_SUBDOMAIN.test(prefix) && prefix.length <= 253);
  if (nameOk && prefixOk) return v;
  c.bad(v, 'is not a valid label key');
  return undefined;
}

// --- rules that involve several inputs -----------------------------------------------------------

/** Inputs each command needs. */
export const REQUIRED_INPUTS: Readonly<Record<Command, readonly InputName[]>> = {
  rollout: ['chart', 'release', 'virtual-service'],
  promote: ['release', 'virtual-service'],
  rollback: ['release', 'virtual-service'],
  status: ['release', 'virtual-service'],
};

/** Inputs that only matter for probes. */
const PROBE_INPUTS: readonly InputName[] = [
  'verify-host',
  'verify-headers',
  'verify-status',
  'verify-body',
  'verify-rps',
  'verify-timeout',
  'success-rate',
  'max-latency',
  'canary-match',
  'precheck',
  'canary-header',
  'settle',
  'max-bake',
  'verify-ca',
];

export interface InputEnv {
  /** GITHUB_REF_TYPE: "tag" or "branch". */
  refType?: string;
  /** GITHUB_REF_NAME, e.g. "v1.2.3" or "main". */
  refName?: string;
  /** GITHUB_REF, e.g. "refs/tags/v1.2.3"; a refs/tags/ ref counts as a tag push. */
  ref?: string;
  /** GITHUB_SHA. */
  sha?: string;
  /** GITHUB_EVENT_NAME. */
  eventName?: string;
  /** Directory relative paths (values-files, local chart) are resolved against; default process.cwd(). */
  cwd?: string;
}

/** What the cross-input rules derive. */
export interface Derived {
  version: string;
  canaryRelease: string;
  steps: Step[];
}

/** The text an input's parser got: the trimmed raw value, or the default when that is empty. */
export function textOf(name: InputName, raw: Readonly<Record<string, string | undefined>>): string {
  return (raw[name] ?? '').trim() || INPUT_BY_NAME[name].default;
}

/**
 * The rules that involve several inputs. `v` holds every input's value with defaults applied (an
 * invalid input with a default holds its default); `p` tells which inputs had problems.
 */
export function crossRules(
  v: InputValues,
  raw: Readonly<Record<string, string | undefined>>,
  env: InputEnv,
  p: Problems,
): Derived {
  const bad = (name: InputName, value: string | undefined, problem: string, form?: string) =>
    contextFor(INPUT_BY_NAME[name], p, '').bad(value, problem, form);
  const given = (name: InputName): boolean => (raw[name] ?? '').trim() !== '';

  for (const name of REQUIRED_INPUTS[v.command]) {
    // The routing object: a VirtualService or an HTTPRoute, exactly one.
    if (name === 'virtual-service' && given('http-route')) continue;
    if (!given(name))
      bad(
        name,
        undefined,
        `is required for command "${v.command}" but empty` +
          (name === 'virtual-service' ? `; set exactly one of 'virtual-service' / 'http-route'` : ''),
      );
  }
  if (given('virtual-service') && given('http-route'))
    bad(
      'http-route',
      textOf('http-route', raw),
      `cannot be combined with 'virtual-service'`,
      `set exactly one of 'virtual-service' (an Istio VirtualService) / 'http-route' (a Gateway API HTTPRoute)`,
    );

  const probing = v['verify-url'] !== undefined;
  const maxBake = v['max-bake'];
  const steps = withBake(v.steps, v.interval).map((st) => ({
    ...st,
    maxBakeMs: maxBake === undefined ? 3 * st.bakeMs : Math.max(maxBake, st.bakeMs),
  }));
  // With probes, every routing change (the pinned route, then each weight) settles before it is
  // judged, and the pre-traffic check runs before the first weight.
  const changes = steps.length + (v.precheck > 0 ? 1 : 0);
  const overhead = probing ? v.precheck + changes * v.settle : 0;
  const totalBake = steps.reduce((s, x) => s + x.bakeMs, 0) + overhead;
  if (!p.failed('steps') && !p.failed('timeout') && totalBake >= v.timeout)
    bad(
      'timeout',
      textOf('timeout', raw),
      `is not longer than the total bake time of the steps${overhead ? ' with the pre-traffic check and settle times' : ''} (${totalBake / 1000}s)`,
      `${DURATION_FORM}; raise it or shorten 'steps'/'interval'`,
    );
  else if (probing && !p.failed('timeout')) {
    const longest =
      steps.reduce((s, x) => s + x.maxBakeMs, 0) +
      overhead +
      (v.precheck > 0 ? (maxBake === undefined ? 2 * v.precheck : Math.max(0, maxBake - v.precheck)) : 0);
    if (longest >= v.timeout)
      p.warn(
        `Steps whose evidence stays inconclusive are extended up to 'max-bake' (${maxBake === undefined ? "three times each step's bake" : textOf('max-bake', raw)}); all of them together (${longest / 1000}s) would run into 'timeout' (${textOf('timeout', raw)}), which rolls back.`,
      );
  }
  if (maxBake !== undefined) {
    const longer = steps.filter((st) => st.bakeMs > maxBake).map((st) => `${st.weight}%`);
    if (longer.length > 0)
      p.warn(
        `Input 'max-bake' (${textOf('max-bake', raw)}) is shorter than the bake of step(s) ${longer.join(', ')}; those steps are never extended.`,
      );
  }
  if (v['helm-timeout'] >= v.timeout)
    p.warn(
      `Input 'helm-timeout' (${textOf('helm-timeout', raw)}) is not shorter than 'timeout' (${textOf('timeout', raw)}).`,
    );

  // promote, rollback and status act on the recorded release: no version is needed to name one.
  const version = given('version')
    ? (v.version ?? '')
    : v.command === 'rollout'
      ? versionFromEnv(env, p)
      : '';
  const canaryRelease = v.release && version ? canaryName(v.release, version, p) : '';

  if (v.kubeconfig && v.context !== undefined && !v.kubeconfig.contexts.includes(v.context)) {
    const { contexts } = v.kubeconfig;
    bad(
      'context',
      v.context,
      `is not a context of the given kubeconfig (it has ${contexts.length} contexts${contexts.length ? `: ${contexts.join(', ')}` : ''})`,
    );
  }
  if (given('subset-label') && v['destination-rule'] === undefined)
    p.warn("Input 'subset-label' has no effect without 'destination-rule'.");
  if (v['chart-version'] !== undefined && v.chart?.local)
    p.warn(`Input 'chart-version' (${v['chart-version']}) is ignored for a local chart ("${v.chart.ref}").`);

  if (v['verify-url'] === undefined) {
    // success-rate and max-latency are the built-in metrics' thresholds too.
    const metricInputs: InputName[] = given('metrics') ? ['success-rate', 'max-latency'] : [];
    const unused = PROBE_INPUTS.filter(
      (n) => given(n) && textOf(n, raw) !== INPUT_BY_NAME[n].default && !metricInputs.includes(n),
    );
    if (unused.length > 0)
      p.warn(`Inputs ${unused.map((n) => `'${n}'`).join(', ')} have no effect without 'verify-url'.`);
  } else if (v['verify-ca'] !== undefined && !/^https:/i.test(v['verify-url'])) {
    p.warn("Input 'verify-ca' has no effect: 'verify-url' is not an https:// URL.");
  }
  // Nothing may reach users unverified unless that is asked for (allow-unverified: true).
  if (given('metrics') && !given('prometheus-url'))
    bad('prometheus-url', undefined, "is empty but 'metrics' is set: the metrics need a Prometheus to query");
  else if (given('metrics') && !given('verify-url') && (v.command === 'rollout' || v.command === 'promote'))
    p.warn(
      "Input 'verify-url' is empty: there is no pinned pre-traffic check, the canary's first user weight is judged on metrics alone.",
    );
  if (given('prometheus-url') && !given('metrics'))
    p.warn("Input 'prometheus-url' has no effect without 'metrics'.");
  if (given('prometheus-token') && v['prometheus-url']?.startsWith('k8s:'))
    p.warn(
      "Input 'prometheus-token' has no effect with a k8s:// 'prometheus-url' (the kubeconfig authenticates).",
    );
  const verifies = v.command === 'rollout' || v.command === 'promote';
  // Metrics are verification too: they judge every real request to each version.
  if (verifies && !given('verify-url') && !given('verify-command') && !given('metrics')) {
    if (v['allow-unverified'])
      p.warn(
        "allow-unverified is true and neither 'verify-url' nor 'verify-command' is set: nothing is verified; each step only waits its bake time, and the report says so.",
      );
    else
      bad(
        'verify-url',
        undefined,
        "is empty and so is 'verify-command': nothing would verify the new release before users get it",
        `set 'verify-url' (probed through the gateway, e.g. "https://my-app.example.com/healthz"), 'verify-command' or 'metrics' (with 'prometheus-url'), or set 'allow-unverified: true' to roll out without verification`,
      );
  }
  const pinHeader = v['canary-header'];
  const headers = v['verify-headers'] ?? {};
  if (Object.keys(headers).some((k) => k.toLowerCase() === pinHeader))
    bad(
      'canary-header',
      pinHeader,
      "is also set in 'verify-headers': every probe would carry it, so users' path would never be probed",
      'use a header name the probes do not send, e.g. "x-canary"',
    );
  if (v.comment && v['github-token'] === undefined && v.command === 'rollout')
    p.warn("Input 'comment' is true but 'github-token' is empty: no pull-request comment will be posted.");

  return { version, canaryRelease, steps };
}

/** The tag name on a tag push, else the short commit SHA; validated like an explicit version. */
function versionFromEnv(env: InputEnv, p: Problems): string {
  const tag =
    env.refType === 'tag' && env.refName
      ? env.refName
      : env.ref?.startsWith('refs/tags/')
        ? env.ref.slice('refs/tags/'.length)
        : undefined;
  let version = tag;
  if (!version && env.sha) {
    version = env.sha.slice(0, 7);
    if (env.eventName === 'pull_request' || env.eventName === 'pull_request_target')
      p.warn(
        `Input 'version' is empty, so the version is the short GITHUB_SHA "${version}", which on ${env.eventName} events is not the pull request's head commit; set 'version' (e.g. \${{ github.event.pull_request.head.sha }}) to name the release after the code it deploys.`,
      );
  }
  if (!version) {
    p.bad(
      'version',
      undefined,
      'is empty and neither a tag (GITHUB_REF_TYPE/GITHUB_REF) nor a commit (GITHUB_SHA) is known',
      `set 'version', e.g. "v1.2.3"`,
    );
    return '';
  }
  return parseVersion(version, contextFor(INPUT_BY_NAME.version, p, '')) ?? '';
}

function canaryName(release: string, version: string, p: Problems): string {
  const name = canaryReleaseName(release, version);
  if (!name.endsWith(`-${slugVersion(version)}`))
    p.warn(
      `The release name "${name}" holds only part of version "${version}" (Helm release names are at most ${MAX_RELEASE_NAME} characters); versions that differ only after that would get the same name. A shorter 'release' avoids this.`,
    );
  return name;
}
