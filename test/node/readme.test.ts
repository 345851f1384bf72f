// README.md as a user reads it: every ```ts block is a whole program that typechecks against the
// package's types (tools/readme-code.mjs writes each block to its own module in a temp dir, with
// 'seqgpu' mapped to src/index.ts, and runs tsc over them and examples/*.mjs with checkJs); the
// quick start is examples/quickstart.mjs, word for word, in at most 10 lines after its import;
// Install and Quick start come first, and the Examples table lists exactly the files in examples/.
// test/node/examples.test.ts runs the examples.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeBlocks, tsBlocks, typecheckReadme } from '../../tools/readme-code.mjs';

const root = resolve('.');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The text of a `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README has no "## ${title}" section`).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 4);
  return readme.slice(start, end < 0 ? undefined : end);
}

describe('README.md', () => {
  it('every ```ts block and every example typechecks against the package (tsc --noEmit)', () => {
    const t0 = performance.now();
    const r = typecheckReadme({ root });
    expect(r.blocks).toBeGreaterThanOrEqual(8);
    expect(r.files.filter((f) => f.endsWith('.mjs')).length).toBeGreaterThanOrEqual(4);
    expect(r.diagnostics, r.output).toEqual([]);
    expect(r.ok, r.output).toBe(true);
    console.log(
      `readme: ${r.blocks} \`\`\`ts blocks + ${r.files.length - r.blocks} examples ` +
        `typechecked in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }, 120_000);

  it('a block that does not declare what it uses fails the typecheck, at its README line', () => {
    // The checker itself: an undefined variable in a block is reported at README.md:<line>:<col>.
    const bad = typecheckReadme({ root, readme: 'test/node/readme.test.ts', examples: [] });
    expect(bad.blocks).toBe(1);
    expect(bad.ok).toBe(false);
    const line =
      readFileSync(join(root, 'test/node/readme.test.ts'), 'utf8')
        .split('\n')
        .findIndex((l) => l.startsWith('await model.trainStep(batches')) + 1;
    expect(bad.diagnostics.join('\n')).toMatch(
      new RegExp(`^test/node/readme\\.test\\.ts:${line}:\\d+: error TS\\d+: Cannot find name 'model'`, 'm'),
    );
  }, 120_000);

  it('the quick start is examples/quickstart.mjs, word for word, in ≤ 10 lines after its import', () => {
    const [block] = tsBlocks(section('Quick start'));
    expect(block, 'no ```ts block in Quick start').toBeDefined();
    const file = readFileSync(join(root, 'examples/quickstart.mjs'), 'utf8');
    const body = file.slice(file.indexOf('import ')).trimEnd();
    expect(block.code.trimEnd()).toBe(body);
    const lines = block.code.split('\n').filter((l) => l.trim() !== '');
    expect(lines[0]).toMatch(/^import \{[^}]+\} from 'seqgpu';$/);
    expect(lines.length - 1).toBeLessThanOrEqual(10);
  });

  it('Install and Quick start come right after the intro; Install says what to install where', () => {
    const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    const at = (h: string) => headings.indexOf(h);
    expect(at('Install')).toBeGreaterThanOrEqual(0);
    expect(at('Quick start')).toBe(at('Install') + 1);
    expect(at('Examples')).toBe(at('Quick start') + 1);
    expect(at('Install')).toBeLessThanOrEqual(1); // room for one section (the main job) before it
    const install = section('Install');
    for (const s of [
      'npm i seqgpu',
      'npm i seqgpu webgpu',
      'navigator.gpu',
      'GpuError',
      'ES modules only',
      'types',
      '229.2 KiB',
      '68.1 KiB gzip',
      '93.0 KiB',
      '539.7 KiB',
      '159.8 KiB gzip',
      '212 KiB',
      '41 KiB gzip',
    ]) {
      expect(install, s).toContain(s);
    }
  });

  it('the Examples table lists exactly the files in examples/, and every examples/ link exists', () => {
    const files = readdirSync(join(root, 'examples'))
      .filter((f) => /\.(mjs|html|py)$/.test(f))
      .sort();
    const listed = [...section('Examples').matchAll(/\]\(examples\/([^)]+)\)/g)].map((m) => m[1]);
    expect([...new Set(listed)].sort()).toEqual(files);
    for (const [, link] of readme.matchAll(/\]\((examples\/[^)#]*)\)/g))
      expect(existsSync(join(root, link)), link).toBe(true);
  });

  it('fences are balanced and code blocks say their language', () => {
    const blocks = codeBlocks(readme);
    expect(blocks.length).toBeGreaterThan(10);
    // The layout tree is the one block without a language.
    expect(blocks.filter((b) => b.lang === '').map((b) => b.code.split('\n')[0])).toEqual([
      expect.stringMatching(/^shaders\//),
    ]);
  });
});

/* A deliberately broken block, read by the second test above:
```ts
await model.trainStep(batches[0]);
```
*/
