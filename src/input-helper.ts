// Reads and validates every action input once -> Settings. No cluster access.
//
// parseInputs() is the pure core (only file-existence checks touch the disk): it collects every
// problem and throws ONE InputError listing them, one per line, so a user can fix all at once.
// getInputs() reads the inputs from the runner, registers secrets with core.setSecret, emits the
// warnings with core.warning, and calls parseInputs().
//
// Error lines look like:
//   Input 'steps': "10,5,100" is not strictly ascending (5 after 10); use comma-separated ...
// Values of the secret inputs `set`, `kubeconfig` and `github-token` are never echoed, nor are the
// values of --set-style flags in `helm-args` or of `verify-headers`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import { parse as parseYaml } from 'yaml';
import type { CanaryMatch, Command, Settings, Step, StatusRanges } from './lib/types.js';
import { DURATION_FORM, parseDuration } from './lib/duration.js';
import { splitLines } from './lib/lines.js';
import { canaryReleaseName, isValidReleaseName, MAX_RELEASE_NAME, slugVersion } from './lib/release-name.js';
import { parseStatusRanges, STATUS_FORM } from './lib/statuses.js';
import { parseSteps, STEPS_FORM } from './lib/steps.js';

/** One or more invalid inputs. `problems` has one entry per problem; message joins them by '\n'. */
export class InputError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'InputError';
    this.problems = problems;
  }
}

/** Every input of action.yml with the default the code applies when the input is empty. */
export const INPUT_DEFAULTS: Readonly<Record<string, string>> = {
  command: 'rollout',
  chart: '',
  'chart-version': '',
  release: '',
  version: '',
  namespace: 'default',
  'values-files': '',
  set: '',
  'helm-args': '',
  'virtual-service': '',
  route: '',
  service: '',
  steps: '10,25,50,100',
  interval: '1m',
  'verify-url': '',
  'verify-host': '',
  'verify-headers': '',
  'verify-status': '200-399',
  'verify-body': '',
  'verify-rps': '5',
  'verify-timeout': '5s',
  'success-rate': '99',
  'max-latency': '',
  'verify-command': '',
  'canary-match': '',
  'on-failure': 'rollback',
  promotion: 'auto',
  cleanup: 'true',
  'helm-timeout': '5m',
  timeout: '30m',
  kubeconfig: '',
  context: '',
  'dry-run': 'false',
  // action.yml defaults this to ${{ github.token }}; without a runner there is no token.
  'github-token': '',
  comment: 'true',
  'pr-number': '',
};

export const INPUT_NAMES: readonly string[] = Object.keys(INPUT_DEFAULTS);

/** Inputs whose values must never appear in logs or error messages. */
export const SECRET_INPUTS: readonly string[] = ['set', 'kubeconfig', 'github-token'];

/** Newline-separated inputs (read with core.getMultilineInput). */
const MULTILINE_INPUTS = ['values-files', 'set', 'helm-args', 'verify-headers'];

export const COMMANDS: readonly Command[] = ['rollout', 'promote', 'rollback', 'status'];
export const SUPPORTED_COMMANDS: readonly Command[] = ['rollout'];

/** Inputs each command needs. */
export const REQUIRED_INPUTS: Readonly<Record<Command, readonly string[]>> = {
  rollout: ['chart', 'release', 'virtual-service'],
  promote: ['release', 'virtual-service'],
  rollback: ['release', 'virtual-service'],
  status: ['release', 'virtual-service'],
};

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
/** Flags whose values may be secret and are never echoed. */
const SECRET_HELM_FLAGS = /^--set(?:-string|-json|-literal)?$/;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Control characters other than tab.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

const FORMS = {
  command: 'use "rollout" ("promote", "rollback" and "status" come in a later release)',
  chart:
    'use a chart directory (with Chart.yaml), a packaged .tgz, repo/chart (after helm repo add), an oci:// reference or an https:// URL of a .tgz',
  release: `use lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${MAX_RELEASE_NAME - 2} characters (the new release is "<release>-<version slug>", at most ${MAX_RELEASE_NAME}), e.g. "my-app"`,
  version:
    'use the version being rolled out, e.g. "v1.2.3" or a commit SHA (default: the tag name on a tag push, else the short commit SHA)',
  namespace:
    'use a Kubernetes namespace name: lowercase letters, digits and \'-\', at most 63 characters, e.g. "prod"',
  'virtual-service':
    "use the name of an Istio VirtualService: lowercase letters, digits, '-' and '.', e.g. \"my-app\"",
  route: 'use the name of an http route of the VirtualService, on one line',
  service:
    'use the name of a Service the chart renders: lowercase letters, digits and \'-\', starting with a letter, at most 63 characters, e.g. "my-app-web"',
  'values-files': 'use one values file path (relative to the workspace) or http(s) URL per line',
  set: 'use one key=value per line, e.g. "image.tag=v1.2.3"',
  'helm-args':
    'use one helm install flag per line, as "--flag", "--flag=value" or "--flag value", e.g. "--create-namespace"',
  'verify-url': 'use an http:// or https:// URL, e.g. "https://my-app.example.com/healthz"',
  'verify-host': 'use a host name with optional port, e.g. "my-app.example.com" or "my-app.example.com:8443"',
  'verify-headers': 'use one "Name: value" header per line, e.g. "Authorization: Bearer ..."',
  'verify-status': STATUS_FORM,
  'verify-body':
    'use a JavaScript regular expression (no slashes or flags), e.g. "\\"status\\":\\s*\\"ok\\""',
  'verify-rps': 'use a number of requests per second above 0 and at most 100, e.g. "5" or "0.5"',
  'success-rate': 'use a percentage above 0 and at most 100, e.g. "99" or "99.5"',
  'max-latency':
    'use a positive p95 latency in milliseconds, e.g. "300" or "300ms" (or a duration like "1.5s")',
  'canary-match':
    'use "header:NAME=VALUE" (e.g. "header:x-version=v2") or "body:REGEX" (e.g. "body:version.*v2")',
  'on-failure': 'use "rollback" or "pause"',
  promotion: 'use "auto" ("manual" comes in a later release)',
  boolean: 'use true or false',
  'pr-number': 'use a positive whole number, e.g. "42"',
  context: 'use the name of a context in the kubeconfig, on one line without spaces',
  kubeconfig:
    'use the kubeconfig file content (YAML with clusters, users and contexts), or that content base64-encoded, e.g. ${{ secrets.KUBECONFIG }}',
  'github-token': 'use a token without spaces, e.g. ${{ github.token }}',
  'verify-command': 'use a bash command',
  'chart-version': 'use a chart version or constraint on one line, e.g. "1.4.2" or "^1.4"',
} as const;

/** Quote a value for an error message (JSON escapes; long values shortened). */
function q(value: string): string {
  const v = value.length > 200 ? `${value.slice(0, 200)}...` : value;
  return JSON.stringify(v);
}

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

/**
 * Validates raw input strings (as read from the runner; missing or blank means "use the default")
 * and builds Settings. Throws one InputError listing every problem.
 */
export function parseInputs(raw: Record<string, string | undefined>, env: InputEnv): Settings {
  const errors: string[] = [];
  const warnings: string[] = [];
  const cwd = env.cwd ?? process.cwd();

  const given = (name: string): boolean => (raw[name] ?? '').trim() !== '';
  const get = (name: string): string => {
    const v = (raw[name] ?? '').trim();
    return v === '' ? (INPUT_DEFAULTS[name] ?? '') : v;
  };
  const opt = (name: string): string | undefined => get(name) || undefined;
  /** `Input 'name': "value" problem; allowed form`. Pass value undefined to not echo anything. */
  const bad = (name: string, value: string | undefined, problem: string, form: string): void => {
    errors.push(`Input '${name}': ${value === undefined ? '' : `${q(value)} `}${problem}; ${form}`);
  };
  const singleLine = (name: string, value: string, form: string): boolean => {
    if (CONTROL.test(value)) {
      bad(name, value, 'must be a single line without control characters', form);
      return false;
    }
    return true;
  };

  // --- command -------------------------------------------------------------------------------
  let command: Command = 'rollout';
  {
    const v = get('command').toLowerCase();
    if (!(COMMANDS as readonly string[]).includes(v)) {
      bad('command', get('command'), 'is not a command', FORMS.command);
    } else {
      command = v as Command;
      if (!SUPPORTED_COMMANDS.includes(command)) {
        bad('command', v, 'is not available in this release', FORMS.command);
      }
    }
  }
  for (const name of REQUIRED_INPUTS[command]) {
    if (!given(name)) {
      const form = (FORMS as Record<string, string>)[name] ?? '';
      errors.push(`Input '${name}': is required for command "${command}" but empty; ${form}`);
    }
  }

  // --- durations -----------------------------------------------------------------------------
  const duration = (name: string, { positive }: { positive: boolean }): number | undefined => {
    const v = get(name);
    if (v === '') return undefined;
    try {
      const ms = parseDuration(v);
      if (positive && ms <= 0) {
        bad(name, v, 'must be above zero', DURATION_FORM);
        return undefined;
      }
      return ms;
    } catch (e) {
      bad(name, v, (e as Error).message, DURATION_FORM);
      return undefined;
    }
  };
  const intervalMs = duration('interval', { positive: false });
  const verifyTimeoutMs = duration('verify-timeout', { positive: true });
  const helmTimeoutMs = duration('helm-timeout', { positive: true });
  const timeoutMs = duration('timeout', { positive: true });

  // --- steps ---------------------------------------------------------------------------------
  let steps: Step[] = [];
  {
    const v = get('steps');
    try {
      steps = parseSteps(v, intervalMs ?? 60_000);
    } catch (e) {
      bad('steps', v, (e as Error).message, STEPS_FORM);
    }
  }
  if (steps.length > 0 && timeoutMs !== undefined) {
    const totalBake = steps.reduce((s, x) => s + x.bakeMs, 0);
    if (totalBake >= timeoutMs) {
      bad(
        'timeout',
        get('timeout'),
        `is not longer than the total bake time of the steps (${totalBake / 1000}s)`,
        `${DURATION_FORM}; raise it or shorten 'steps'/'interval'`,
      );
    }
  }
  if (helmTimeoutMs !== undefined && timeoutMs !== undefined && helmTimeoutMs >= timeoutMs) {
    warnings.push(
      `Input 'helm-timeout' (${get('helm-timeout')}) is not shorter than 'timeout' (${get('timeout')}).`,
    );
  }

  // --- release, version, canary release name -------------------------------------------------
  const release = get('release');
  let releaseOk = false;
  if (release !== '') {
    if (!isValidReleaseName(release) || release.length > MAX_RELEASE_NAME - 2) {
      const problem =
        release.length > MAX_RELEASE_NAME - 2
          ? `is ${release.length} characters, leaving no room for "-<version>" within ${MAX_RELEASE_NAME}`
          : /[A-Z]/.test(release) && isValidReleaseName(release.toLowerCase())
            ? 'has uppercase letters'
            : 'is not a valid Helm release name';
      bad('release', release, problem, FORMS.release);
    } else {
      releaseOk = true;
    }
  }

  let version = '';
  {
    const explicit = get('version');
    const tag =
      env.refType === 'tag' && env.refName
        ? env.refName
        : env.ref?.startsWith('refs/tags/')
          ? env.ref.slice('refs/tags/'.length)
          : undefined;
    if (explicit !== '') {
      version = explicit;
    } else if (tag) {
      version = tag;
    } else if (env.sha) {
      version = env.sha.slice(0, 7);
      if (env.eventName === 'pull_request' || env.eventName === 'pull_request_target') {
        warnings.push(
          `Input 'version' is empty, so the version is the short GITHUB_SHA "${version}", which on ${env.eventName} events is not the pull request's head commit; set 'version' (e.g. \${{ github.event.pull_request.head.sha }}) to name the release after the code it deploys.`,
        );
      }
    } else {
      errors.push(
        "Input 'version': is empty and neither a tag (GITHUB_REF_TYPE/GITHUB_REF) nor a commit (GITHUB_SHA) is known; set 'version', e.g. \"v1.2.3\"",
      );
    }
    if (version !== '') {
      if (/\s/.test(version) || CONTROL.test(version)) {
        bad('version', version, 'contains whitespace', FORMS.version);
        version = '';
      } else if (slugVersion(version) === '') {
        bad('version', version, 'has no letters or digits to build the release name from', FORMS.version);
        version = '';
      }
    }
  }
  let canaryRelease = '';
  if (releaseOk && version !== '') {
    canaryRelease = canaryReleaseName(release, version);
    const full = slugVersion(version);
    if (!canaryRelease.endsWith(`-${full}`)) {
      warnings.push(
        `The release name "${canaryRelease}" holds only part of version "${version}" (Helm release names are at most ${MAX_RELEASE_NAME} characters); versions that differ only after that would get the same name. A shorter 'release' avoids this.`,
      );
    }
  }

  // --- names ---------------------------------------------------------------------------------
  const namespace = get('namespace');
  if (!(DNS_LABEL.test(namespace) && namespace.length <= 63)) {
    bad(
      'namespace',
      namespace,
      namespace.length > 63 ? 'is longer than 63 characters' : 'is not a valid namespace name',
      FORMS.namespace,
    );
  }
  const virtualService = get('virtual-service');
  if (virtualService !== '' && !(DNS_SUBDOMAIN.test(virtualService) && virtualService.length <= 253)) {
    bad(
      'virtual-service',
      virtualService,
      'is not a valid Kubernetes resource name',
      FORMS['virtual-service'],
    );
  }
  const route = opt('route');
  if (route !== undefined) singleLine('route', route, FORMS.route);
  const service = opt('service');
  if (service !== undefined && !(DNS_1035.test(service) && service.length <= 63)) {
    bad('service', service, 'is not a valid Service name', FORMS.service);
  }
  const context = opt('context');
  if (context !== undefined && (/\s/.test(context) || CONTROL.test(context))) {
    bad('context', context, 'contains whitespace', FORMS.context);
  }

  // --- chart ---------------------------------------------------------------------------------
  const chart = opt('chart');
  let chartIsLocal = false;
  if (chart !== undefined && singleLine('chart', chart, FORMS.chart)) {
    const p = path.resolve(cwd, chart);
    const st = statOrUndefined(p);
    if (/^oci:\/\/[^/\s]+\/\S+$/.test(chart) || /^https?:\/\/\S+$/.test(chart)) {
      // remote reference: helm resolves it
    } else if (st?.isDirectory()) {
      chartIsLocal = true;
      if (!fs.existsSync(path.join(p, 'Chart.yaml'))) {
        bad('chart', chart, 'is a directory without Chart.yaml', FORMS.chart);
      }
    } else if (st?.isFile()) {
      chartIsLocal = true;
      if (!/\.tgz$|\.tar\.gz$/.test(chart))
        bad('chart', chart, 'is a file but not a packaged chart (.tgz)', FORMS.chart);
    } else if (/^oci:/.test(chart)) {
      bad('chart', chart, 'is not a complete oci:// reference', FORMS.chart);
    } else if (/^(\.{1,2}\/|\/)/.test(chart) || /\.tgz$|\.tar\.gz$/.test(chart)) {
      bad('chart', chart, `does not exist (looked in ${cwd})`, FORMS.chart);
    } else if (/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(chart)) {
      // repo/chart - unless the "repo" part is a local directory: then it is a mistyped path.
      if (statOrUndefined(path.resolve(cwd, chart.split('/')[0]))?.isDirectory()) {
        bad(
          'chart',
          chart,
          `does not exist although directory "${chart.split('/')[0]}" does (looked in ${cwd})`,
          FORMS.chart,
        );
      }
    } else {
      bad(
        'chart',
        chart,
        `is neither an existing chart (looked in ${cwd}) nor a repo/chart or oci:// reference`,
        FORMS.chart,
      );
    }
  }
  const chartVersion = opt('chart-version');
  if (
    chartVersion !== undefined &&
    singleLine('chart-version', chartVersion, FORMS['chart-version']) &&
    chartIsLocal
  ) {
    warnings.push(`Input 'chart-version' (${chartVersion}) is ignored for a local chart ("${chart}").`);
  }

  // --- values-files --------------------------------------------------------------------------
  const valuesFiles = splitLines(get('values-files'));
  for (const f of valuesFiles) {
    if (/^https?:\/\//.test(f)) continue;
    const st = statOrUndefined(path.resolve(cwd, f));
    if (!st) bad('values-files', f, `does not exist (looked in ${cwd})`, FORMS['values-files']);
    else if (!st.isFile()) bad('values-files', f, 'is not a file', FORMS['values-files']);
  }

  // --- set (secret) --------------------------------------------------------------------------
  const set = splitLines(get('set'));
  set.forEach((line, i) => {
    const eq = line.indexOf('=');
    if (eq < 0) bad('set', undefined, `line ${i + 1} has no '=' (line not shown: secret input)`, FORMS.set);
    else if (line.slice(0, eq).trim() === '')
      bad('set', undefined, `line ${i + 1} has an empty key (line not shown: secret input)`, FORMS.set);
    else if (/\s/.test(line.slice(0, eq).trim()))
      bad(
        'set',
        undefined,
        `line ${i + 1} has whitespace in its key (line not shown: secret input)`,
        FORMS.set,
      );
  });

  // --- helm-args -----------------------------------------------------------------------------
  const helmArgs = parseHelmArgs(get('helm-args'), bad);

  // --- verify --------------------------------------------------------------------------------
  const verifyUrl = opt('verify-url');
  if (verifyUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(verifyUrl);
    } catch {
      bad('verify-url', verifyUrl, 'is not a URL', FORMS['verify-url']);
    }
    if (u && u.protocol !== 'http:' && u.protocol !== 'https:') {
      bad(
        'verify-url',
        verifyUrl,
        `has scheme "${u.protocol.replace(/:$/, '')}", not http or https`,
        FORMS['verify-url'],
      );
    }
  }
  const verifyHost = opt('verify-host');
  if (verifyHost !== undefined && !isHostPort(verifyHost)) {
    bad('verify-host', verifyHost, 'is not a host name with optional port', FORMS['verify-host']);
  }
  const headers: Record<string, string> = {};
  splitLines(get('verify-headers')).forEach((line, i) => {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    const value = colon < 0 ? '' : line.slice(colon + 1).trim();
    if (colon < 0) {
      bad(
        'verify-headers',
        undefined,
        `line ${i + 1} has no ':' (line not shown: it may hold a credential)`,
        FORMS['verify-headers'],
      );
    } else if (!HTTP_TOKEN.test(name)) {
      bad('verify-headers', name, `(line ${i + 1}) is not a valid header name`, FORMS['verify-headers']);
    } else if (CONTROL.test(value)) {
      bad(
        'verify-headers',
        name,
        `(line ${i + 1}) has control characters in its value`,
        FORMS['verify-headers'],
      );
    } else if (name.toLowerCase() === 'host') {
      bad(
        'verify-headers',
        name,
        `(line ${i + 1}) is set by the 'verify-host' input`,
        "use 'verify-host' for the Host header",
      );
    } else if (Object.keys(headers).some((k) => k.toLowerCase() === name.toLowerCase())) {
      bad('verify-headers', name, `(line ${i + 1}) is given more than once`, FORMS['verify-headers']);
    } else {
      headers[name] = value;
    }
  });
  let statuses: StatusRanges = [[200, 399]];
  {
    const v = get('verify-status');
    try {
      statuses = parseStatusRanges(v);
    } catch (e) {
      bad('verify-status', v, (e as Error).message, STATUS_FORM);
    }
  }
  const bodyText = opt('verify-body');
  const body =
    bodyText === undefined ? undefined : regex('verify-body', bodyText, bodyText, FORMS['verify-body'], bad);
  const rps = number(
    'verify-rps',
    get('verify-rps'),
    (n) => n > 0 && n <= 100,
    'is not above 0 and at most 100',
    FORMS['verify-rps'],
    bad,
  );
  const successPct = number(
    'success-rate',
    get('success-rate').replace(/\s*%$/, ''),
    (n) => n > 0 && n <= 100,
    'is not above 0 and at most 100',
    FORMS['success-rate'],
    bad,
  );
  if (successPct !== undefined && successPct <= 1) {
    warnings.push(
      `Input 'success-rate' is a percentage: ${successPct} means ${successPct}%, not ${successPct * 100}%.`,
    );
  }
  let maxLatencyMs: number | undefined;
  {
    const v = opt('max-latency');
    if (v !== undefined) {
      if (/^\d+(?:\s*ms)?$/.test(v)) maxLatencyMs = parseInt(v, 10);
      else {
        try {
          maxLatencyMs = /^\d/.test(v) ? parseDuration(v) : undefined;
        } catch {
          maxLatencyMs = undefined;
        }
        if (maxLatencyMs === undefined)
          bad('max-latency', v, 'is not a number of milliseconds', FORMS['max-latency']);
      }
      if (maxLatencyMs !== undefined && maxLatencyMs <= 0) {
        bad('max-latency', v, 'must be above zero', FORMS['max-latency']);
        maxLatencyMs = undefined;
      }
    }
  }
  const verifyCommand = opt('verify-command');
  let canaryMatch: CanaryMatch | undefined;
  {
    const v = opt('canary-match');
    if (v !== undefined) {
      const h = /^header:([^=]*)=(.*)$/i.exec(v);
      const b = /^body:(.*)$/is.exec(v);
      if (h) {
        const name = h[1].trim();
        const value = h[2].trim();
        if (!HTTP_TOKEN.test(name))
          bad('canary-match', v, `has "${name}" which is not a valid header name`, FORMS['canary-match']);
        else if (value === '') bad('canary-match', v, 'has an empty header value', FORMS['canary-match']);
        else canaryMatch = { kind: 'header', name, value };
      } else if (b) {
        if (b[1] === '') bad('canary-match', v, 'has an empty regular expression', FORMS['canary-match']);
        else {
          const pattern = regex('canary-match', b[1], v, FORMS['canary-match'], bad);
          if (pattern) canaryMatch = { kind: 'body', pattern };
        }
      } else {
        bad('canary-match', v, 'is neither header:NAME=VALUE nor body:REGEX', FORMS['canary-match']);
      }
    }
  }
  if (verifyUrl === undefined) {
    const unused = [
      'verify-host',
      'verify-headers',
      'verify-status',
      'verify-body',
      'verify-rps',
      'verify-timeout',
      'success-rate',
      'max-latency',
      'canary-match',
    ].filter((n) => given(n) && get(n) !== INPUT_DEFAULTS[n]);
    if (unused.length > 0) {
      warnings.push(`Inputs ${unused.map((n) => `'${n}'`).join(', ')} have no effect without 'verify-url'.`);
    }
    if (verifyCommand === undefined && command === 'rollout') {
      warnings.push(
        "Neither 'verify-url' nor 'verify-command' is set: each step only waits its bake time, nothing is verified.",
      );
    }
  }

  // --- enums and booleans --------------------------------------------------------------------
  const onFailure = get('on-failure').toLowerCase();
  if (onFailure !== 'rollback' && onFailure !== 'pause')
    bad('on-failure', get('on-failure'), 'is not a failure action', FORMS['on-failure']);
  const promotion = get('promotion').toLowerCase();
  if (promotion === 'manual')
    bad('promotion', promotion, 'is not available in this release', FORMS.promotion);
  else if (promotion !== 'auto')
    bad('promotion', get('promotion'), 'is not a promotion mode', FORMS.promotion);
  const bool = (name: string): boolean => {
    const v = get(name);
    if (/^true$/i.test(v)) return true;
    if (/^false$/i.test(v)) return false;
    bad(name, v, 'is not a boolean', FORMS.boolean);
    return INPUT_DEFAULTS[name] === 'true';
  };
  const cleanup = bool('cleanup');
  const dryRun = bool('dry-run');
  const comment = bool('comment');

  let prNumber: number | undefined;
  {
    const v = opt('pr-number');
    if (v !== undefined) {
      const digits = v.replace(/^#/, '');
      if (/^\d+$/.test(digits) && Number(digits) > 0 && Number.isSafeInteger(Number(digits)))
        prNumber = Number(digits);
      else bad('pr-number', v, 'is not a positive whole number', FORMS['pr-number']);
    }
  }

  // --- secrets: kubeconfig, github-token -----------------------------------------------------
  let kubeconfig: string | undefined;
  {
    const v = opt('kubeconfig');
    if (v !== undefined) {
      const parsed = parseKubeconfig(v);
      if (!parsed) {
        const looksLikePath = !/[\s:]/.test(v) && v.includes('/') && fs.existsSync(path.resolve(cwd, v));
        bad(
          'kubeconfig',
          undefined,
          looksLikePath
            ? 'is a file path, not the kubeconfig content (value not shown: secret input); to use a file, leave kubeconfig empty and set the KUBECONFIG environment variable'
            : 'is neither kubeconfig YAML nor base64 of it (value not shown: secret input)',
          FORMS.kubeconfig,
        );
      } else {
        kubeconfig = parsed.text;
        if (context !== undefined && !parsed.contexts.includes(context)) {
          bad(
            'context',
            context,
            `is not a context of the given kubeconfig (it has ${parsed.contexts.length} contexts${parsed.contexts.length ? `: ${parsed.contexts.join(', ')}` : ''})`,
            FORMS.context,
          );
        }
      }
    }
  }
  const githubToken = opt('github-token');
  if (githubToken !== undefined && /\s/.test(githubToken)) {
    bad(
      'github-token',
      undefined,
      'contains whitespace (value not shown: secret input)',
      FORMS['github-token'],
    );
  }
  if (comment && githubToken === undefined && command === 'rollout') {
    warnings.push(
      "Input 'comment' is true but 'github-token' is empty: no pull-request comment will be posted.",
    );
  }

  if (errors.length > 0) throw new InputError(errors);

  return {
    command,
    chart,
    chartVersion,
    release,
    version,
    canaryRelease,
    namespace,
    valuesFiles,
    set,
    helmArgs,
    virtualService,
    route,
    service,
    steps,
    intervalMs: intervalMs ?? 60_000,
    verify: {
      url: verifyUrl,
      host: verifyHost,
      headers,
      statuses,
      body,
      rps: rps ?? 5,
      timeoutMs: verifyTimeoutMs ?? 5000,
      successRate: (successPct ?? 99) / 100,
      maxLatencyMs,
      command: verifyCommand,
      canaryMatch,
    },
    onFailure: onFailure as 'rollback' | 'pause',
    promotion: 'auto',
    cleanup,
    helmTimeoutMs: helmTimeoutMs ?? 300_000,
    timeoutMs: timeoutMs ?? 1_800_000,
    kubeconfig,
    context,
    dryRun,
    githubToken,
    comment,
    prNumber,
    warnings,
  };
}

type Bad = (name: string, value: string | undefined, problem: string, form: string) => void;

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function number(
  name: string,
  v: string,
  ok: (n: number) => boolean,
  problem: string,
  form: string,
  bad: Bad,
): number | undefined {
  if (!/^\d+(?:\.\d+)?$|^\.\d+$/.test(v)) {
    bad(name, v, 'is not a number', form);
    return undefined;
  }
  const n = Number(v);
  if (!ok(n)) {
    bad(name, v, problem, form);
    return undefined;
  }
  return n;
}

function regex(name: string, source: string, shown: string, form: string, bad: Bad): RegExp | undefined {
  try {
    return new RegExp(source);
  } catch (e) {
    bad(name, shown, `is not a valid regular expression (${(e as Error).message})`, form);
    return undefined;
  }
}

function isHostPort(v: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return false;
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return false;
  const host = m[1];
  if (host.startsWith('[')) return true;
  if (host.length > 253) return false;
  return host.split('.').every((l) => /^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$/.test(l));
}

/**
 * helm-args: one flag per line: "--flag", "--flag=value", "--flag value" (split at the first
 * whitespace, value verbatim, no shell quoting) or a short flag "-f values.yaml". Every line must
 * start with '-'. Returns argv tokens, e.g. ["--create-namespace", "--labels", "team=a"].
 */
function parseHelmArgs(text: string, bad: Bad): string[] {
  const out: string[] = [];
  const form = FORMS['helm-args'];
  splitLines(text).forEach((line, i) => {
    if (!line.startsWith('-') || line === '-' || line === '--') {
      bad(
        'helm-args',
        undefined,
        `line ${i + 1} is not a flag starting with '-' (line not shown: it may be a secret value)`,
        form,
      );
      return;
    }
    const sp = line.search(/\s/);
    const flagPart = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? undefined : line.slice(sp).trim();
    const eq = flagPart.indexOf('=');
    const flag = eq < 0 ? flagPart : flagPart.slice(0, eq);
    const secret = SECRET_HELM_FLAGS.test(flag);
    const shown = secret ? undefined : line;
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
      bad(
        'helm-args',
        shown,
        `${secret ? `line ${i + 1} ` : ''}uses ${flag}, which the action controls: ${reason}`,
        form,
      );
      return;
    }
    if (secret && eq < 0 && value === undefined) {
      bad(
        'helm-args',
        undefined,
        `line ${i + 1} has ${flag} without a value; put the value on the same line`,
        form,
      );
      return;
    }
    out.push(flagPart);
    if (value !== undefined) out.push(value);
  });
  return out;
}

interface ParsedKubeconfig {
  text: string;
  contexts: string[];
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
  return { text, contexts };
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

/** Kubeconfig keys whose string values are credentials (searched at any depth). */
const KUBECONFIG_SECRET_KEY = /token|password|secret|key-data|certificate-data/i;

function credentialStrings(node: unknown, out: string[], underSecretKey = false): void {
  if (typeof node === 'string') {
    if (underSecretKey) out.push(node);
  } else if (Array.isArray(node)) {
    for (const x of node) credentialStrings(x, out, underSecretKey);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node))
      credentialStrings(v, out, underSecretKey || KUBECONFIG_SECRET_KEY.test(k));
  }
}

/**
 * Values to register with core.setSecret: each `set` line and value, values of --set-style
 * helm-args, the kubeconfig (raw and decoded) plus every credential inside it, and the token.
 * Values shorter than 4 characters, booleans, null and short numbers are not masked: masking "true"
 * or "80" would blank them out of the whole log and protect nothing.
 */
export function secretsOf(raw: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  const add = (s: string | undefined): void => {
    const t = s?.trim();
    if (!t || t.length < 4 || /^(?:true|false|null|~|\d{1,6})$/i.test(t) || out.includes(t)) return;
    out.push(t);
  };
  for (const line of splitLines(raw.set)) {
    add(line);
    const eq = line.indexOf('=');
    add(eq < 0 ? line : line.slice(eq + 1));
  }
  for (const line of splitLines(raw['helm-args'])) {
    const m = /^(--set(?:-string|-json|-literal)?)(?:=|\s+)(.*)$/.exec(line);
    if (m) {
      add(m[2]);
      const eq = m[2].indexOf('=');
      if (eq >= 0) add(m[2].slice(eq + 1));
    }
  }
  const kc = raw.kubeconfig?.trim();
  if (kc) {
    add(kc);
    const parsed = parseKubeconfig(kc);
    if (parsed) {
      if (parsed.text !== kc) {
        add(parsed.text);
        splitLines(kc).forEach(add); // base64 wrapped over several lines
      }
      const creds: string[] = [];
      try {
        credentialStrings(parseYaml(parsed.text), creds);
      } catch {
        // parseKubeconfig already parsed it
      }
      creds.forEach(add);
    }
  }
  add(raw['github-token']);
  // Probe headers that carry credentials (Authorization: Bearer ..., X-Api-Key, Cookie, ...).
  for (const line of splitLines(raw['verify-headers'])) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (/auth|token|key|secret|passw|cookie|session|signature|credential/i.test(name)) {
      add(value);
      const sp = value.indexOf(' ');
      if (sp > 0) add(value.slice(sp + 1)); // the credential after "Bearer "/"Basic "
    }
  }
  return out;
}

/** Reads every input of action.yml, masks secrets, emits warnings, returns validated Settings. */
export async function getInputs(): Promise<Settings> {
  const raw: Record<string, string> = {};
  for (const name of INPUT_NAMES) {
    raw[name] = MULTILINE_INPUTS.includes(name)
      ? core.getMultilineInput(name).join('\n')
      : core.getInput(name);
  }
  for (const s of secretsOf(raw)) core.setSecret(s);
  const e = process.env;
  const settings = parseInputs(raw, {
    refType: e.GITHUB_REF_TYPE,
    refName: e.GITHUB_REF_NAME,
    ref: e.GITHUB_REF,
    sha: e.GITHUB_SHA,
    eventName: e.GITHUB_EVENT_NAME,
  });
  for (const w of settings.warnings ?? []) core.warning(w);
  return settings;
}
