#!/usr/bin/env node
// The project's one test command (`npm test`). Runs every jest suite with the Helm 4 tool pair,
// then the suites that drive real binaries (stand-ins, e2e) again with the Helm 3 pair, and ends
// with one plain line "N passed, N failed" summed over both runs.
//   npm test                    both pairs
//   npm test -- --tools=helm3   one pair only (all suites)
//   npm test -- <jest args>     e.g. a path filter
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

let only;
const passthrough = [];
for (const a of process.argv.slice(2)) {
  const m = /^--tools=(helm3|helm4)$/.exec(a);
  if (m) only = m[1];
  else passthrough.push(a);
}

// The binaries come from devDependencies; make sure they are extracted.
const ext = spawnSync(process.execPath, ['scripts/install-binaries.mjs'], { stdio: 'inherit' });
if (ext.status !== 0) process.exit(ext.status ?? 1);

const runs = only
  ? [{ tools: only, filter: [] }]
  : [
      { tools: 'helm4', filter: [] },
      { tools: 'helm3', filter: ['__tests__/standins', '__tests__/e2e'] },
    ];

fs.mkdirSync('.test-results', { recursive: true });
let passed = 0;
let failed = 0;
for (const r of runs) {
  const out = path.join('.test-results', `${r.tools}.json`);
  fs.rmSync(out, { force: true });
  console.log(`\n=== jest with ${r.tools} (helm + kubectl from .tools/${r.tools}) ===`);
  const res = spawnSync(
    process.execPath,
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
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim(),
      },
    },
  );
  if (!fs.existsSync(out)) {
    console.log(`jest (${r.tools}) wrote no results (exit ${res.status})`);
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
    console.log(`jest (${r.tools}) ran no test`);
    failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
