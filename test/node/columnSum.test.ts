// column_sum.wgsl (bias gradients) per adapter (issue 19, item 7): both variants — 8 threads per
// column (GPU default) and 1 (software default: the 8 row slices in registers, no barrier) — vs
// the float64 reference at odd shapes: 1 row, 1 column, every tail of 1–7 rows after the groups
// of 8, columns not multiples of 32, row strides > cols and offsets. Tolerance: 1e-5 of Σ|terms|.
// Each comparison has a wrong-reference twin that must be rejected; the two variants give the
// SAME BITS (one summation order: checkpoints and fixtures recorded with either stay exact), and
// each gives the same bits on a second run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, Tensor, type Gpu } from '../../src/index.js';
import { columnSumDispatch, columnSumSlices } from '../../src/kernels/columnSum.js';
import { columnSumRef } from '../../src/reference/columnSum.js';
import { assertClose, CheckFailure, rng, uniform } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => {
  gpu.tuning.reductionWidth = 'auto';
  gpu?.destroy();
});

/** [rows, cols, ld, offset] */
const SHAPES: Array<[number, number, number, number]> = [
  [1, 1, 1, 0],
  [1, 33, 40, 5],
  [2, 7, 7, 0],
  [3, 64, 64, 1],
  [5, 31, 33, 0],
  [8, 32, 32, 0],
  [12, 40, 41, 2],
  [15, 3, 3, 0],
  [19, 97, 100, 3],
  [129, 256, 256, 0],
  [262, 65, 70, 7],
];

describe('column_sum: both variants vs float64', () => {
  it('1 thread per column on a software adapter, 8 on a GPU; a forced reductionWidth < 8 gives 1', () => {
    expect(gpu.software).toBe(true); // CI runs on SwiftShader
    const at = (reductionWidth: 'auto' | number, software: boolean) =>
      columnSumSlices({ tuning: { ...gpu.tuning, reductionWidth }, software });
    expect([at('auto', true), at('auto', false), at(256, true), at(8, true), at(4, false), at(1, false)]).toEqual([
      1, 8, 8, 8, 1, 1,
    ]);
  });

  const results = new Map<string, Float32Array>();
  for (const slices of [8, 1]) {
    it(`${slices} thread(s) per column: ${SHAPES.length} shapes, deterministic`, async () => {
      for (const [rows, cols, ld, offset] of SHAPES) {
        const x = uniform(rng(rows * 31 + cols), offset + (rows - 1) * ld + cols, -2, 2);
        const xt = Tensor.from(gpu, x, [x.length]);
        const y = Tensor.zeros(gpu, [2 * (cols + 3)]);
        const d = (at: number) =>
          columnSumDispatch(gpu, {
            rows,
            cols,
            x: { buffer: xt.buffer, offset, ld },
            y: { buffer: y.buffer, offset: at },
            slices,
          });
        gpu.run([d(3), d(cols + 6)]);
        const all = await y.read();
        const got = all.subarray(3, 3 + cols);
        const want = columnSumRef(x, rows, cols, ld, offset);
        const scale = columnSumRef(Float64Array.from(x, Math.abs), rows, cols, ld, offset);
        const what = `columnSum ${rows}×${cols} ld ${ld} offset ${offset} slices ${slices}`;
        assertClose(what, got, want, { rtol: 1e-5, scale });
        const wrong = Float64Array.from(want, (v, i) => (i === cols - 1 ? v + 1e-3 * (scale[i] + 1) : v));
        expect(() => assertClose(what, got, wrong, { rtol: 1e-5, scale })).toThrow(CheckFailure);
        expect([...all.subarray(cols + 6, 2 * cols + 6)]).toEqual([...got]); // same bits
        expect([all[0], all[1], all[2]]).toEqual([0, 0, 0]); // nothing written before the offset
        const key = `${rows} ${cols} ${ld} ${offset}`;
        const other = results.get(key);
        if (other) expect([...got], `${what}: same bits as the other variant`).toEqual([...other]);
        else results.set(key, got.slice());
        xt.destroy();
        y.destroy();
      }
    });
  }

  it('rejects a thread count it is not built for', () => {
    const xt = Tensor.zeros(gpu, [8]);
    const y = Tensor.zeros(gpu, [4]);
    const args = { rows: 2, cols: 4, x: { buffer: xt.buffer, ld: 4 }, y: { buffer: y.buffer } };
    expect(() => columnSumDispatch(gpu, { ...args, slices: 4 })).toThrow(ArgumentError);
    expect(() => columnSumDispatch(gpu, { ...args, slices: 16 })).toThrow(/slices must be 1 or 8, got 16/);
    xt.destroy();
    y.destroy();
  });
});
