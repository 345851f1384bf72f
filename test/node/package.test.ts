// The built package (dist/, made by `npm run build`, which `npm test` runs first) is importable
// from plain Node by its name, with its WGSL inlined, and runs a kernel.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('package', () => {
  it('dist/ imports as "seqgpu" from plain Node and multiplies', () => {
    const root = resolve('.');
    expect(existsSync(join(root, 'dist/index.js')), 'dist/index.js is missing: run npm run build').toBe(true);
    expect(existsSync(join(root, 'dist/types/index.d.ts'))).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'seqgpu-pkg-'));
    try {
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(root, join(dir, 'node_modules/seqgpu'));
      writeFileSync(
        join(dir, 'main.mjs'),
        `import { requestGpu, Tensor, matmul } from 'seqgpu';
         const gpu = await requestGpu();
         const a = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
         console.log(JSON.stringify(Array.from(await matmul(gpu, a, a).read())));
         gpu.destroy();`,
      );
      const out = execFileSync(process.execPath, ['main.mjs'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([7, 10, 15, 22]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
