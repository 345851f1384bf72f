// The tree shows the architecture, bottom up (README "Layout"):
//   util → gpu → io, data → kernels → reference → graph → nn → train → models → the entries
//   (src/index.ts, src/index.browser.ts, src/index.node.ts).
// A file may import its own folder or a folder below it, never one above; and no file imports
// itself back through others (no cycle, type-only imports included).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../../src');
const ORDER = ['util', 'gpu', 'io', 'data', 'kernels', 'reference', 'graph', 'nn', 'train', 'models', ''];
/** io and data are side by side: neither imports the other. */
const level = (folder: string) =>
  ({ util: 0, gpu: 1, io: 2, data: 2, kernels: 3, reference: 4, graph: 5, nn: 6, train: 7, models: 8, '': 9 })[
    folder
  ] ?? -1;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative imports and re-exports of a file, as paths under src/ ending in .ts. */
function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)]
    .map((m) => m[1])
    .filter((s) => !s.includes('?raw'))
    .map((s) => relative(root, resolve(dirname(file), s)).replace(/\.js$/, '.ts'));
}

const folderOf = (rel: string) => (rel.includes('/') ? rel.split('/')[0] : '');
const all = files(root).map((f) => relative(root, f));
const graph = new Map(all.map((f) => [f, imports(join(root, f))]));

describe('src/ imports point down and form no cycle', () => {
  it('every folder is in the order', () => {
    expect([...new Set(all.map(folderOf))].filter((f) => !ORDER.includes(f))).toEqual([]);
  });

  it('no import points up the order (io and data do not import each other)', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      for (const d of deps) {
        const a = folderOf(f),
          b = folderOf(d);
        if (a !== b && level(b) >= level(a)) bad.push(`${f} → ${d}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('no cycle between files', () => {
    // Tarjan's strongly connected components over the import graph.
    let index = 0;
    const idx = new Map<string, number>(),
      low = new Map<string, number>(),
      stack: string[] = [],
      on = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
      idx.set(v, index);
      low.set(v, index);
      index++;
      stack.push(v);
      on.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!graph.has(w)) continue;
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
      if (low.get(v) === idx.get(v)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          on.delete(w);
          comp.push(w);
        } while (w !== v);
        if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
      }
    };
    for (const v of graph.keys()) if (!idx.has(v)) visit(v);
    expect(cycles).toEqual([]);
  });

  it('the scan sees imports (known edges are found)', () => {
    expect(graph.get('nn/module.ts')).toContain('graph/graph.ts');
    expect(graph.get('index.ts')!.length).toBeGreaterThan(30);
  });
});
