// Imports run one way: main -> rollout -> router / metrics -> verify / report -> kube -> lib. A module may
// import its own layer and the layers below it; siblings (router, verify, report) do not import
// each other, and lib imports nothing of the project but lib.
import { describe, it, expect } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';

const SRC = path.resolve('src');

/** The project layers each layer may import (its own included). */
const ALLOWED: Record<string, string[]> = {
  lib: ['lib'],
  kube: ['kube', 'lib'],
  router: ['router', 'kube', 'lib'],
  verify: ['verify', 'kube', 'lib'],
  report: ['report', 'kube', 'lib'],
  // Metrics judge with verify's decision code; the step verifier gets them injected by main.
  metrics: ['metrics', 'verify', 'kube', 'lib'],
  rollout: ['rollout', 'router', 'metrics', 'verify', 'report', 'kube', 'lib'],
  inputs: ['inputs', 'lib'],
  main: ['main', 'inputs', 'rollout', 'router', 'metrics', 'verify', 'report', 'kube', 'lib'],
};

function layerOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  if (rel.length === 1) return /^input-helper\.ts$/.test(rel[0]) ? 'inputs' : 'main';
  return rel[0];
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g))
    out.push(m[1]);
  for (const m of text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) out.push(m[1]);
  return out;
}

describe('architecture', () => {
  const files = sources(SRC);

  it('knows the layer of every source folder', () => {
    for (const f of files) expect(Object.keys(ALLOWED)).toContain(layerOf(f));
  });

  it('every relative import goes to the same layer or one below it', () => {
    const wrong: string[] = [];
    for (const f of files) {
      const from = layerOf(f);
      for (const spec of relativeImports(f)) {
        const target = path.resolve(path.dirname(f), spec).replace(/\.js$/, '.ts');
        if (!fs.existsSync(target)) wrong.push(`${path.relative(SRC, f)}: '${spec}' does not exist`);
        const to = layerOf(target);
        if (!ALLOWED[from].includes(to))
          wrong.push(`${path.relative(SRC, f)} (${from}) imports ${spec} (${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the rollout loop and the router interface know no traffic API', () => {
    const apiWords = /istio|virtualservice|httproute|gateway\.networking/i;
    const generic = [...sources(path.join(SRC, 'rollout')), path.join(SRC, 'router', 'router.ts')];
    for (const f of generic) {
      const imports = relativeImports(f).filter((s) => apiWords.test(s) || /\/istio\//.test(s));
      expect({ file: path.relative(SRC, f), imports }).toEqual({ file: path.relative(SRC, f), imports: [] });
      const code = fs
        .readFileSync(f, 'utf8')
        .replace(/\/\/.*$/gm, '')
        .replace(/\/\*[\s\S]*?\*\//g, '');
      expect({ file: path.relative(SRC, f), mentions: apiWords.test(code) }).toEqual({
        file: path.relative(SRC, f),
        mentions: false,
      });
    }
  });
});
