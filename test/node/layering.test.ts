// The composable-model code imports only downward (issue 16; issue 17 extends this to all of
// src/): src/graph/ never imports src/nn/, src/train/ or src/models/; src/nn/ never imports
// src/train/ or src/models/. Type-only imports count too.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import of a file, as a path under src/. */
function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/^(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)].map((m) => relative(root, resolve(dirname(file), m[1])));
}

const rules: Array<[string, string[]]> = [
  ['graph', ['nn/', 'train/', 'models/']],
  ['nn', ['train/', 'models/']],
];

describe('imports point down', () => {
  for (const [folder, banned] of rules) {
    it(`src/${folder}/ imports nothing from ${banned.map((b) => `src/${b}`).join(', ')}`, () => {
      const bad = files(join(root, folder)).flatMap((f) => imports(f).filter((i) => banned.some((b) => i.startsWith(b))).map((i) => `${relative(root, f)} → ${i}`));
      expect(bad).toEqual([]);
    });
  }
  it('the rule sees imports (a known downward import is found)', () => {
    expect(imports(join(root, 'nn/module.ts'))).toContain('graph/graph.js');
  });
});
